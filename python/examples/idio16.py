#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The ACCES PCI-IDIO-16 isolated digital I/O card in Python: the register
map of devices/idio16/idio16.h, close enough for Linux's gpio-pci-idio-16.

    python3 idio16.py --socket-path=/tmp/idio16.sock [-v]

BAR2 holds 8 byte-wide I/O ports; INTx signals a change of the inputs
while IRQs are enabled. set_inputs() may be called from any thread.
"""
import argparse
import errno
import logging
import signal
import struct
import threading

import uvf

PENDING, COS_LOW, COS_HIGH = 0x04, 0x01, 0x02
FORMAT = "<4sHHBBBB"  # migration: tag, outputs, inputs, IRQs on, status, all filters, filters 0-7


class Idio16(uvf.Device):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()  # inputs may change on any thread
        self.inputs = 0
        self.power_on()
        self.set_pci_ids(0x494F, 0x0DC8, 0x494F, 0x0DC8, 0xFF0000)
        self.set_bar(2, 8, uvf.BAR_IO, read=self.read_ports, write=self.write_ports)
        self.set_irq_count(uvf.INTX_IRQ, 1)
        self.set_migration()
        self.saved = self.loaded = b""

    def power_on(self) -> None:
        self.outputs, self.irq_enabled, self.status = 0, False, 0
        self.filters_all, self.filter_low = False, 0

    def level(self) -> bool:
        return self.irq_enabled and bool(self.status & PENDING)

    def drive_intx(self) -> None:
        if not self.stopped():
            self.set_intx_level(self.level())

    def stopped(self) -> bool:
        return self.migration_state() not in (uvf.STATE_RUNNING, uvf.STATE_PRE_COPY)

    # -- BAR2: one byte access per byte, in ascending order ------------------
    def read_ports(self, offset: int, length: int) -> bytes:
        with self.lock:
            out = bytes(self.read_port(offset + i) for i in range(length))
        self.drive_intx()  # reading port 2 enables IRQs
        return out

    def write_ports(self, offset: int, data: bytes) -> None:
        with self.lock:
            for i, value in enumerate(data):
                self.write_port(offset + i, value)
        self.drive_intx()

    def read_port(self, port: int) -> int:
        if port == 2:
            self.irq_enabled = True
            return 0xFF
        if port == 3:
            self.filters_all = True
            return 0xFF
        return [self.outputs & 0xFF, self.inputs & 0xFF, 0, 0, self.outputs >> 8, self.inputs >> 8,
                self.status, 0xFF if self.filters_all else self.filter_low][port]

    def write_port(self, port: int, value: int) -> None:
        if port == 0:
            self.outputs = (self.outputs & 0xFF00) | value
        elif port == 1:
            self.status = 0  # clear interrupt
        elif port == 2:
            self.irq_enabled = False  # what is latched stays latched
        elif port == 3:
            self.filters_all, self.filter_low = False, 0
        elif port == 4:
            self.outputs = (self.outputs & 0x00FF) | value << 8
        elif port == 7:
            self.filter_low = value

    # -- the wires -------------------------------------------------------------
    def set_inputs(self, value: int) -> None:
        with self.lock:
            changed, self.inputs = self.inputs ^ value, value & 0xFFFF
            if changed and self.irq_enabled:
                self.status |= PENDING | (COS_LOW if changed & 0xFF else 0) | (COS_HIGH if changed >> 8 else 0)
        self.drive_intx()

    # -- callbacks -------------------------------------------------------------
    def on_reset(self, reason: int) -> None:
        with self.lock:
            self.power_on()  # the inputs are wires: they keep their level
        self.set_intx_level(False)

    def on_migration_transition(self, old: int, new: int) -> None:
        if new == uvf.STATE_STOP_COPY:
            with self.lock:
                self.saved = struct.pack(FORMAT, b"ID16", self.outputs, self.inputs, self.irq_enabled,
                                         self.status, self.filters_all, self.filter_low)
        elif new == uvf.STATE_RESUMING:
            self.loaded = b""
        elif old == uvf.STATE_RESUMING:  # all data is in: check, then apply
            data = self.loaded
            if len(data) != 12 or data[:4] != b"ID16" or data[8] > 1 or data[9] & ~7 or data[10] > 1:
                raise OSError(errno.EINVAL, "not an IDIO-16 state")
            with self.lock:
                (_, self.outputs, self.inputs, enabled, self.status, filters, self.filter_low) = struct.unpack(
                    FORMAT, data)
                self.irq_enabled, self.filters_all = bool(enabled), bool(filters)
        elif new == uvf.STATE_RUNNING:
            self.drive_intx()

    def on_migration_save(self, max_len: int) -> bytes:
        chunk, self.saved = self.saved[:max_len], self.saved[max_len:]
        return chunk

    def on_migration_load(self, data: bytes) -> None:
        if len(self.loaded) + len(data) > 12:
            raise OSError(errno.EINVAL, "IDIO-16 state too long")
        self.loaded += data


def main() -> None:
    parser = argparse.ArgumentParser(description="ACCES PCI-IDIO-16 as a vfio-user device")
    parser.add_argument("--socket-path", required=True)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args()
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="idio16.py: %(levelname)s: %(message)s")
    with Idio16() as dev:
        dev.listen(args.socket_path)
        signal.signal(signal.SIGTERM, lambda *_: dev.stop())
        try:
            dev.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

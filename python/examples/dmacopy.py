#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A DMA copy engine in Python: the guest writes a source, a destination
and a length, then a command; the device copies client memory and raises
MSI vector 0 when done.

    python3 dmacopy.py --socket-path=/tmp/dmacopy.sock

BAR0, 4 KiB, 32-bit little-endian registers (placeholder ids 0x1de0:0x00d0):

    0x00 SRC_LO  0x04 SRC_HI  0x08 DST_LO  0x0c DST_HI  0x10 LEN (at most 1 MiB)
    0x14 CMD     1: copy now (before the write completes),
                 2: copy in the background (asynchronous DMA), done when
                    COUNT moves and the interrupt arrives
    0x18 STATUS  0 or the positive errno of the last command
    0x1c COUNT   commands completed
"""
import argparse
import errno
import signal
import struct

import uvf

MAX_LEN = 1 << 20
REGS = 8  # 32-bit registers
SRC, DST, LEN, CMD, STATUS, COUNT = 0, 2, 4, 5, 6, 7


class DmaCopy(uvf.Device):
    def __init__(self) -> None:
        super().__init__()
        self.regs = [0] * REGS
        self.set_pci_ids(0x1DE0, 0x00D0, 0x1DE0, 0x00D0, 0xFF0000)
        self.set_bar(0, 4096, read=self.read, write=self.write)
        self.set_irq_count(uvf.MSI_IRQ, 1)

    def read(self, offset: int, length: int) -> bytes:
        raw = struct.pack("<%dI" % REGS, *self.regs) + bytes(4096 - 4 * REGS)
        return raw[offset:offset + length]

    def write(self, offset: int, data: bytes) -> None:
        raw = bytearray(struct.pack("<%dI" % REGS, *self.regs) + bytes(4096 - 4 * REGS))
        raw[offset:offset + len(data)] = data
        regs = list(struct.unpack_from("<%dI" % REGS, raw))
        command, regs[CMD] = regs[CMD], 0
        self.regs[:CMD] = regs[:CMD]  # STATUS and COUNT are read-only
        if command:
            self.run_command(command)

    def addr(self, index: int) -> int:
        return self.regs[index] | self.regs[index + 1] << 32

    def run_command(self, command: int) -> None:
        src, dst, length = self.addr(SRC), self.addr(DST), self.regs[LEN]
        if command not in (1, 2) or length > MAX_LEN:
            return self.finish(-errno.EINVAL)
        if command == 1:
            try:
                self.dma_write(dst, self.dma_read(src, length))
            except uvf.Error as e:
                return self.finish(-e.errno)
            return self.finish(0)

        def written(result: int, _: object) -> None:
            self.finish(result)

        def fetched(result: int, data: bytes) -> None:
            if result < 0:
                return self.finish(result)
            try:
                self.dma_write_async(dst, data, written)
            except uvf.Error as e:
                self.finish(-e.errno)

        try:
            self.dma_read_async(src, length, fetched)
        except uvf.Error as e:
            self.finish(-e.errno)

    def finish(self, result: int) -> None:
        self.regs[STATUS] = -result
        self.regs[COUNT] += 1
        try:
            self.irq_trigger(uvf.MSI_IRQ, 0)
        except uvf.Error:
            pass  # no eventfd attached: the guest polls COUNT

    def on_reset(self, reason: int) -> None:
        self.regs = [0] * REGS


def main() -> None:
    parser = argparse.ArgumentParser(description="a DMA copy engine as a vfio-user device")
    parser.add_argument("--socket-path", required=True)
    args = parser.parse_args()
    with DmaCopy() as dev:
        dev.listen(args.socket_path)
        signal.signal(signal.SIGTERM, lambda *_: dev.stop())
        try:
            dev.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

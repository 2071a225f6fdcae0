#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""idio16.py with its wires outside: what uvf-idio16's command line offers
for tests (tests/qemu-guests drives the Python card with it).

    python3 idio16_wired.py --socket-path=PATH [--control=FIFO] [-v]

--control=FIFO (created when missing) takes lines "inputs VALUE" and
"input N 0|1" to drive the inputs. stdout gets "outputs=0xHHHH" for each
change of the outputs and "inputs=0xHHHH" for each input change applied.
"""
import argparse
import logging
import os
import select
import signal
import sys
import threading

from idio16 import Idio16


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class WiredIdio16(Idio16):
    def write_ports(self, offset: int, data: bytes) -> None:
        before = self.outputs
        super().write_ports(offset, data)
        if self.outputs != before:
            say("outputs=0x%04x" % self.outputs)

    def on_reset(self, reason: int) -> None:
        before = self.outputs
        super().on_reset(reason)
        if self.outputs != before:
            say("outputs=0x%04x" % self.outputs)

    def command(self, line: str) -> None:
        words = line.split()
        try:
            if len(words) == 2 and words[0] == "inputs":
                value = int(words[1], 0)
            elif len(words) == 3 and words[0] == "input" and words[2] in ("0", "1"):
                bit = 1 << int(words[1], 0)
                value = (self.inputs | bit) if words[2] == "1" else (self.inputs & ~bit)
            else:
                raise ValueError(line)
            if not 0 <= value <= 0xFFFF:
                raise ValueError(line)
        except ValueError:
            logging.warning("control: not understood (want 'inputs VALUE' or 'input N 0|1'): %r", line)
            return
        self.set_inputs(value)
        say("inputs=0x%04x" % value)


def control_loop(dev: WiredIdio16, path: str) -> None:
    if not os.path.exists(path):
        os.mkfifo(path, 0o600)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer of our own: no EOF between writers
    pending = b""
    while True:
        select.select([fd], [], [])
        try:
            pending += os.read(fd, 4096)
        except BlockingIOError:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            dev.command(line.decode(errors="replace").strip())


def main() -> None:
    parser = argparse.ArgumentParser(description="the Python IDIO-16 with a control FIFO")
    parser.add_argument("--socket-path", required=True)
    parser.add_argument("--control")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args()
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="idio16_wired.py: %(levelname)s: %(message)s")
    with WiredIdio16() as dev:
        dev.listen(args.socket_path)
        signal.signal(signal.SIGTERM, lambda *_: dev.stop())
        if args.control:
            threading.Thread(target=control_loop, args=(dev, args.control), daemon=True).start()
        try:
            dev.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

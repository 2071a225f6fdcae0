#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The uvf Python package against C (bench/run.sh runs it):

- a Python device whose BAR read method does nothing (returns 0), read by
  uvf's C client, as a ratio to the C device with a zero-filling read
  callback (uvf-bench-readloop --serve), read by the same client;
- the Python client's REGION_READ loop against that C device, as a ratio
  to the C client's loop against it.

Each repetition alternates the C floor and the Python rows in ROUNDS
short runs (both see the same load) and gives one ratio per row; the table
gives min / median / max of the ratios over the repetitions.

    bench_python.py BUILD_DIR        (PYTHONPATH=BUILD_DIR/python)
"""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import uvf

ROUNDS = 8
PY_SERVER = r"""
import signal, sys
import uvf

class Trivial(uvf.Device):
    def __init__(self):
        super().__init__()
        self.set_pci_ids(0x1DE0, 0x00B1, 0, 0, 0xFF0000)
        self.set_bar(0, 4096, read=self.read, write=self.write)

    def read(self, offset, length):
        return 0

    def write(self, offset, data):
        pass

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
dev = Trivial()
dev.listen(sys.argv[1])
dev.serve_in_thread()
signal.sigwait({signal.SIGTERM})
dev.shutdown()
"""


def wait_for(path, proc):
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("bench_python: the server for %s did not start" % path)
        time.sleep(0.01)


def c_loop(readloop, path, n):
    out = subprocess.run([readloop, path, str(n)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def py_loop(path, n):
    with uvf.Client(path) as c:
        read = c.region_read
        start = time.perf_counter()
        for _ in range(n):
            read(0, 0x10, 4)
        return n / (time.perf_counter() - start)


def row(name, floor, rates, ratios):
    rates.sort()
    print("| %s | %s | %.0f/s (%.1f us) | %.2f / %.2f / %.2f |" % (
        name, floor, statistics.median(rates), 1e6 / statistics.median(rates),
        min(ratios), statistics.median(ratios), max(ratios)))


def main():
    build = sys.argv[1]
    readloop = os.path.join(build, "bench", "uvf-bench-readloop")
    reps = min(max(int(os.environ.get("BENCH_REPS", "5")), 1), 64)
    n = max(int(20000 * float(os.environ.get("BENCH_SCALE", "1"))), 100)
    tmp = tempfile.mkdtemp(prefix="uvf-bench-py-", dir="/tmp")
    c_sock, py_sock = os.path.join(tmp, "c.sock"), os.path.join(tmp, "py.sock")
    servers = [subprocess.Popen([readloop, "--serve", c_sock]),
               subprocess.Popen([sys.executable, "-c", PY_SERVER, py_sock])]
    try:
        wait_for(c_sock, servers[0])
        wait_for(py_sock, servers[1])
        c_loop(readloop, c_sock, n // 10)  # warm up both
        c_loop(readloop, py_sock, n // 10)
        dev_rates, dev_ratios, cli_rates, cli_ratios = [], [], [], []
        # each repetition alternates the floor and the Python path in
        # ROUNDS short runs, so that both see the same load
        chunk = max(n // ROUNDS, 10)
        for _ in range(reps):
            floor_t = dev_t = cli_t = 0.0
            for _ in range(ROUNDS):
                floor_t += chunk / c_loop(readloop, c_sock, chunk)
                dev_t += chunk / c_loop(readloop, py_sock, chunk)
                cli_t += chunk / py_loop(c_sock, chunk)
            ops = chunk * ROUNDS
            dev_rates.append(ops / dev_t)
            dev_ratios.append(floor_t / dev_t)
            cli_rates.append(ops / cli_t)
            cli_ratios.append(floor_t / cli_t)
    finally:
        for s in servers:
            s.send_signal(signal.SIGTERM)
        for s in servers:
            s.wait(timeout=30)
        for f in (c_sock, py_sock):
            if os.path.exists(f):
                os.unlink(f)
        os.rmdir(tmp)
    print()
    print("### The Python package (REGION_READ 4 B round trips, %d per repetition in %d rounds, %d repetitions)"
          % (chunk * ROUNDS, ROUNDS, reps))
    print()
    print("| path | floor | rate (median) | ratio min / median / max |")
    print("| --- | --- | ---: | ---: |")
    row("C client -> Python device (read method returns 0)", "C client -> C device (zero-fill callback)",
        dev_rates, dev_ratios)
    row("Python client -> C device", "C client -> C device", cli_rates, cli_ratios)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""No leaks over 10,000 connect/disconnect cycles: open fds (counted in
/proc/self/fd) come back to where they were, Python's allocations
(tracemalloc) and the process's resident memory stay bounded."""

import gc
import os
import time
import tracemalloc

import uvf

CYCLES = 10000
WARMUP = 500
# Under AddressSanitizer freed memory waits in a quarantine before reuse
# (the Python suite caps it with ASAN_OPTIONS quarantine_size_mb): resident
# memory may grow by that much more.
RSS_BOUND_KIB = 4096
for option in os.environ.get("ASAN_OPTIONS", "").split(":"):
    if option.startswith("quarantine_size_mb="):
        RSS_BOUND_KIB += 1024 * int(option.split("=")[1])


def fds():
    return len(os.listdir("/proc/self/fd"))


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cycle_many(path, body, settle=lambda: None):
    """settle() waits until the other side let go of the last cycle."""
    for _ in range(WARMUP):
        body(path)
    gc.collect()
    settle()
    fds_before, rss_before = fds(), rss_kib()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    for _ in range(CYCLES - WARMUP):
        body(path)
    gc.collect()
    settle()
    traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    return fds() - fds_before, rss_kib() - rss_before, traced_growth


def use_client(path):
    with uvf.Client(path) as c:
        c.device_info()
        c.region_read(0, 0, 4)
        mem = c.dma_alloc(0x10000, 4096)
        mem[0] = 1
        mem.release()
        irqs = c.irq_eventfds(uvf.MSI_IRQ, 1)
        assert len(irqs) == 1


def test_client_cycles_against_a_c_device(uvf_c_device):
    path = uvf_c_device("uvf-scratch").path
    fd_growth, rss_growth, traced_growth = cycle_many(path, use_client)
    assert fd_growth == 0
    assert traced_growth < 64 * 1024, "Python allocations grew by %d bytes" % traced_growth
    assert rss_growth < RSS_BOUND_KIB, "resident memory grew by %d KiB" % rss_growth


class Small(uvf.Device):
    def __init__(self):
        super().__init__()
        self.set_pci_ids(0x1DE0, 0x00F6)
        self.set_bar(0, 16, read=lambda off, n: bytes(n), write=lambda off, data: None)
        self.set_irq_count(uvf.MSI_IRQ, 1)

    def on_dma_map(self, address, size, prot):
        self.mapped = (address, size)

    connects = disconnects = 0

    def on_client(self, connected):
        # called once the library has closed everything of a departing client
        if connected:
            self.connects += 1
        else:
            self.disconnects += 1


def test_cycles_against_a_python_device(uvf_py_device):
    """Both sides in this process: the Python device's fds and memory too."""
    dev = Small()
    path = uvf_py_device(dev)

    def settle():
        # the device closes its end of a connection on its own thread
        for _ in range(10000):
            if dev.disconnects == dev.connects:
                return
            time.sleep(0.001)

    fd_growth, rss_growth, traced_growth = cycle_many(path, use_client, settle)
    assert fd_growth == 0
    assert traced_growth < 64 * 1024, "Python allocations grew by %d bytes" % traced_growth
    assert rss_growth < RSS_BOUND_KIB, "resident memory grew by %d KiB" % rss_growth


def test_devices_created_and_freed():
    """Devices described, listening and freed 10,000 times (sockets removed)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="uvf-leak-", dir="/tmp")
    path = os.path.join(d, "dev.sock")

    def one(_):
        dev = Small()
        dev.listen(path)
        dev.close()

    fd_growth, rss_growth, traced_growth = cycle_many(path, one)
    os.rmdir(d)
    assert fd_growth == 0
    assert traced_growth < 64 * 1024
    assert rss_growth < RSS_BOUND_KIB

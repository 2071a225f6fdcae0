# SPDX-License-Identifier: MIT
"""Python devices (uvf.Device) served to uvf's C client library (through
uvf.Client and the uvf-lspci tool): description calls accepted and
refused, callbacks, callbacks that raise, IRQs from threads, DMA,
serving from a thread and from asyncio, migration."""

import asyncio
import errno
import logging
import select
import struct
import subprocess
import threading

import pytest

import uvf
from uvf.pytest_plugin import find_program


class Regs(uvf.Device):
    """BAR0: 16 32-bit registers by callbacks; BAR2: 8 KiB mappable memory
    with the MSI-X table at 0x1000; ROM; PM, MSI, MSI-X, PCIe, vendor."""

    def __init__(self, **kw):
        super().__init__()
        self.regs = [0] * 16
        self.resets = []
        self.maps = []
        self.unmaps = []
        self.clients = []
        self.irq_states = []
        self.fail = None
        self.set_pci_ids(0x1DE0, 0x00F0, 0x1DE0, 0x00F0, 0xFF0000, 3)
        self.set_bar(0, 64, read=self.read0, write=self.write0)
        self.set_bar(2, 8192, uvf.BAR_MEMORY | uvf.BAR_MMAP)
        self.set_rom(b"\x55\xaa" + b"ROM" * 100)
        self.set_irq_count(uvf.INTX_IRQ, 1)
        self.set_irq_count(uvf.MSI_IRQ, 4)
        self.set_pm()
        self.set_msix(8, 2, 0x1000, 2, 0x1800)
        self.set_pcie(flr=True)
        self.vendor_cap = self.add_vendor_capability(b"PYDEV")

    def read0(self, offset, length):
        if self.fail:
            raise self.fail
        if offset == 0x3C:
            return b"\x01\x02"  # wrong length on purpose
        value = b"".join(struct.pack("<I", r) for r in self.regs)
        return value[offset:offset + length]

    def write0(self, offset, data):
        if self.fail:
            raise self.fail
        raw = bytearray(b"".join(struct.pack("<I", r) for r in self.regs))
        raw[offset:offset + len(data)] = data
        self.regs = list(struct.unpack("<16I", raw))

    def on_reset(self, reason):
        self.resets.append(reason)
        self.regs = [0] * 16

    def on_dma_map(self, address, size, prot):
        if address == 0xBAD000:
            raise OSError(errno.EPERM, "not this one")
        self.maps.append((address, size))

    def on_dma_unmap(self, address, size, prot):
        self.unmaps.append((address, size))

    def on_client(self, connected):
        self.clients.append(connected)

    def on_irq_state(self, index):
        self.irq_states.append(index)


def test_description_refusals():
    d = uvf.Device()
    with pytest.raises(uvf.Error) as e:
        d.set_pci_ids(0, 1)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(uvf.Error):
        d.set_pci_ids(0x10000, 1)
    with pytest.raises(uvf.Error):
        d.set_bar(0, 100, read=lambda o, n: 0)  # not a power of two
    with pytest.raises(uvf.Error):
        d.set_bar(6, 4096, uvf.BAR_MEMORY)
    with pytest.raises(TypeError):
        d.set_bar(0, 4096, read=1)
    with pytest.raises(uvf.Error):
        d.set_irq_count(uvf.MSI_IRQ, 3)
    with pytest.raises(uvf.Error):
        d.set_msix(4, 0, 0, 0, 0x800)  # BAR0 not declared
    with pytest.raises(uvf.Error):
        d.add_ext_capability(0x23, 1, b"1234")  # needs PCIe
    with pytest.raises(ValueError):
        d.add_vendor_capability(b"ab", b"a")
    with pytest.raises(uvf.Error):
        d.set_bar_mmap_areas(0, [(0, 4096)])
    with pytest.raises(uvf.Error):
        d.find_capability(1)  # before listen
    with pytest.raises(uvf.Error):
        d.bar_memory(0)
    with pytest.raises(uvf.Error):
        d.ioeventfd_fd(0)
    with pytest.raises(uvf.Error):
        d.irq_raise(0)
    d.close()
    with pytest.raises(ValueError):
        d.set_pm()


def test_described_device(uvf_py_device, uvf_connect):
    dev = Regs()
    path = uvf_py_device(dev)
    with pytest.raises(uvf.Error) as e:
        dev.set_bar(4, 4096, uvf.BAR_MEMORY)
    assert e.value.errno == errno.EBUSY
    c = uvf_connect(path)
    assert c.config_read(0, 4) == 0x00F01DE0
    assert c.config_read(0x2C, 4) == 0x00F01DE0
    assert c.config_read(0x08, 4) == 0xFF000003
    assert c.region_info(0).size == 64
    assert c.region_info(uvf.ROM_REGION).size == 2048
    assert c.region_read(uvf.ROM_REGION, 0, 5) == b"\x55\xaaROM"
    assert c.irq_info(uvf.MSIX_IRQ).count == 8
    assert dev.find_capability(0x01) >= 0x40  # PM
    assert dev.find_capability(0x05) >= 0x40  # MSI
    assert dev.find_capability(0x11) >= 0x40  # MSI-X
    assert dev.find_capability(0x10) >= 0x40  # PCIe
    off = dev.find_capability(0x09)
    assert off == dev.vendor_cap and dev.config_read(off + 3, 5) == b"PYDEV"
    assert c.config_read(off + 3, 1) == ord("P")
    with pytest.raises(uvf.Error):
        dev.find_capability(0x12)
    assert dev.client_connected() and dev.clients == [True]
    c.close()  # one client at a time: uvf-lspci is next
    out = subprocess.run([find_program("uvf-lspci"), "-vv", path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "1de0:00f0" in out.stdout.lower() or "1de0" in out.stdout.lower()
    assert "MSI-X" in out.stdout and "Express" in out.stdout


def test_bar_callbacks(uvf_py_device, uvf_connect):
    dev = Regs()
    c = uvf_connect(uvf_py_device(dev))
    c.write32(0, 8, 0x12345678)
    assert dev.regs[2] == 0x12345678
    assert c.read32(0, 8) == 0x12345678
    assert c.region_read(0, 9, 2) == b"\x56\x34"
    with pytest.raises(uvf.Error) as e:
        c.region_read(0, 0x3C, 4)  # the callback returns 2 bytes
    assert e.value.errno == errno.EIO
    with pytest.raises(uvf.Error):
        c.region_read(0, 64, 4)  # beyond the BAR: refused by the library
    mem = dev.bar_memory(2)
    mem[0:4] = b"mem!"
    assert c.region_read(2, 0, 4) == b"mem!"
    c.region_map(2)
    view = c.region_view(2, 0, 4096)
    view[8:12] = b"view"
    assert bytes(mem[8:12]) == b"view"
    view.release()
    mem.release()


def test_mapped_bar_with_access_callbacks(uvf_py_device, uvf_connect):
    """BAR_ACCESS_CALLBACKS: the client maps the BAR's memory, and its
    REGION_READ/REGION_WRITE messages still go to the callbacks."""
    seen = []

    class Doorbell(uvf.Device):
        def __init__(self):
            super().__init__()
            self.set_pci_ids(0x1DE0, 0x00F1, 0x1DE0, 0x00F1, 0xFF0000, 0)
            self.set_bar(2, 8192, uvf.BAR_MEMORY | uvf.BAR_MMAP | uvf.BAR_ACCESS_CALLBACKS,
                         read=self.read2, write=self.write2)

        def read2(self, offset, length):
            seen.append(("r", offset, length))
            return b"cb!!"[:length]

        def write2(self, offset, data):
            seen.append(("w", offset, bytes(data)))

    dev = Doorbell()
    c = uvf_connect(uvf_py_device(dev))
    mem = dev.bar_memory(2)
    mem[0:4] = b"mem!"
    assert c.region_read(2, 0, 4) == b"cb!!"
    c.write32(2, 16, 0x01020304)
    assert seen == [("r", 0, 4), ("w", 16, b"\x04\x03\x02\x01")]
    c.region_map(2)
    view = c.region_view(2, 0, 4096)
    assert bytes(view[0:4]) == b"mem!"  # the mapping is the BAR's memory
    view.release()
    mem.release()


def make_int_device():
    class IntDev(uvf.Device):
        def __init__(self):
            super().__init__()
            self.set_pci_ids(0x1DE0, 0x00F1)
            self.set_bar(0, 16, read=self.read, write=None)

        def read(self, off, n):
            if off == 8:
                return -1
            if off == 12:
                return 1 << 40
            return (0x1122334455667788 >> (8 * off)) & ((1 << (8 * n)) - 1)

    return IntDev


def test_read_returning_int(uvf_py_device, uvf_connect):
    dev = make_int_device()()
    c = uvf_connect(uvf_py_device(dev))
    assert c.region_read(0, 0, 8) == (0x1122334455667788).to_bytes(8, "little")
    assert c.region_read(0, 4, 2) == b"\x44\x33"
    with pytest.raises(uvf.Error):
        c.region_read(0, 12, 4)  # the int does not fit in 4 bytes
    with pytest.raises(uvf.Error):
        c.region_read(0, 8, 4)  # negative int
    with pytest.raises(uvf.Error):
        c.region_write(0, 0, b"\0")  # read-only BAR


def test_callbacks_that_raise(uvf_py_device, uvf_connect, caplog):
    dev = Regs()
    c = uvf_connect(uvf_py_device(dev))
    caplog.set_level(logging.ERROR, logger="uvf.device")
    dev.fail = ValueError("broken register")
    with pytest.raises(uvf.Error) as e:
        c.read32(0, 0)
    assert e.value.errno == errno.EIO
    assert "broken register" in caplog.text and "Traceback" in caplog.text and "read0" in caplog.text
    dev.fail = OSError(errno.EACCES, "no")
    with pytest.raises(uvf.Error) as e:
        c.write32(0, 0, 1)
    assert e.value.errno == errno.EACCES
    dev.fail = None
    assert c.read32(0, 0) == 0  # the device goes on
    with pytest.raises(uvf.Error) as e:
        c.dma_alloc(0xBAD000, 4096)
    assert e.value.errno == errno.EPERM
    dev.on_reset = lambda reason: 1 / 0
    with pytest.raises(uvf.Error):
        c.reset()
    assert "ZeroDivisionError" in caplog.text


def test_reset_and_dma_callbacks(uvf_py_device, uvf_connect):
    dev = Regs()
    c = uvf_connect(uvf_py_device(dev))
    c.write32(0, 0, 5)
    c.reset()
    assert dev.resets == [uvf.RESET_CLIENT] and dev.regs[0] == 0
    mem = c.dma_alloc(0x10000, 8192)
    assert dev.maps == [(0x10000, 8192)]
    mem[0:4] = b"abcd"
    assert dev.dma_read(0x10000, 4) == b"abcd"
    dev.dma_write(0x11000, b"from the device")
    assert bytes(mem[0x1000:0x100F]) == b"from the device"
    view = dev.dma_view(0x10000, 4, uvf.DMA_READ | uvf.DMA_WRITE)
    view[0:4] = b"WXYZ"
    assert bytes(mem[0:4]) == b"WXYZ"
    view.release()
    sg = dev.dma_sg(0x10000, 8192)
    assert sum(len(v) for v in sg) == 8192 and bytes(sg[0][0:4]) == b"WXYZ"
    sg = None
    ro = dev.dma_view(0x10000, 4)
    with pytest.raises(TypeError):
        ro[0] = 1
    ro.release()
    with pytest.raises(uvf.Error) as e:
        dev.dma_read(0x90000, 4)
    assert e.value.errno == errno.EFAULT
    with pytest.raises(uvf.Error):
        dev.dma_view(0x90000, 4)
    with pytest.raises(uvf.Error):
        dev.dma_sg(0x10000, 8192, uvf.DMA_READ, 0)
    mem.release()
    c.dma_unregister(0x10000, 8192)
    assert dev.unmaps == [(0x10000, 8192)]


def test_message_dma_and_async(uvf_py_device, uvf_connect):
    dev = Regs()
    c = uvf_connect(uvf_py_device(dev))
    buf = bytearray(4096)
    c.dma_register(0x20000, buf)
    buf[0:3] = b"msg"
    results = []
    done = threading.Event()

    def read_done(result, data):
        results.append((result, data))
        done.set()

    # from a thread of the device's own (over the twin socket): the
    # client answers DMA messages between calls when it processes them
    t = threading.Thread(target=lambda: results.append(dev.dma_read(0x20000, 3)))
    t.start()
    while t.is_alive():
        select.select([c.poll_fd()], [], [], 0.1)
        c.process()
    t.join()
    assert results.pop() == b"msg"
    dev.dma_read_async(0x20000, 3, read_done)
    # the client serves the server's DMA messages while it waits for replies
    deadline = 0
    while not done.is_set() and deadline < 1000:
        c.device_info()
        deadline += 1
    assert results == [(0, b"msg")]
    with pytest.raises(ValueError):
        dev.dma_read_async(0x20000, -1, read_done)


def test_irqs_from_threads(uvf_py_device, uvf_connect):
    dev = Regs()
    c = uvf_connect(uvf_py_device(dev))
    irqs = c.irq_eventfds(uvf.MSI_IRQ)
    assert dev.irq_enabled(uvf.MSI_IRQ, 0) and uvf.MSI_IRQ in dev.irq_states
    per_thread, threads = 500, 4
    errors = []

    def raiser(vector):
        try:
            for _ in range(per_thread):
                dev.irq_trigger(uvf.MSI_IRQ, vector)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=raiser, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for i in range(200):  # the dispatch thread keeps serving meanwhile
        c.write32(0, 0, i)
    for w in workers:
        w.join()
    assert not errors
    # eventfd counters add up every signal
    assert [irq.read() for irq in irqs] == [per_thread] * threads
    with pytest.raises(uvf.Error):
        dev.irq_trigger(uvf.MSI_IRQ, 4)
    with pytest.raises(uvf.Error) as e:
        dev.irq_trigger(uvf.MSIX_IRQ, 0)  # no eventfd attached
    assert e.value.errno == errno.ENOENT
    intx = c.irq_eventfds(uvf.INTX_IRQ)
    dev.set_intx_level(True)
    assert intx[0].wait(10) == 1
    dev.set_intx_level(False)
    assert dev.irq_mode() in (uvf.INTX_IRQ, uvf.MSI_IRQ, uvf.MSIX_IRQ)


def test_ioeventfd(uvf_py_device, uvf_connect):
    hits = []
    d = uvf.Device()
    d.set_pci_ids(0x1DE0, 0x00F2)
    d.set_bar(0, 4096, uvf.BAR_MEMORY)  # not mappable: a mapped store would win
    doorbell = d.add_ioeventfd(0, 0x100, 4, callback=hits.append)
    assert d.ioeventfd_fd(doorbell) >= 0
    with pytest.raises(uvf.Error):
        d.add_ioeventfd(0, 0x2000, 4)
    c = uvf_connect(uvf_py_device(d))
    c.region_map(0)
    c.access_write(0, 0x100, b"\1\0\0\0")
    c.region_write(0, 0x100, b"\2\0\0\0")  # a matching REGION_WRITE signals too
    for _ in range(1000):
        if sum(hits) >= 2:
            break
        c.device_info()
    assert sum(hits) == 2


def test_serve_from_asyncio(uvf_socket_dir):
    dev = Regs()
    path = uvf_socket_dir + "/aio.sock"
    dev.listen(path)

    async def main():
        dev.attach()
        loop = asyncio.get_running_loop()

        def use():
            with uvf.Client(path) as c:
                mem = c.dma_alloc(0x40000, 4096)
                mem[0:2] = b"ok"
                c.write32(0, 4, 99)
                mem.release()
                return c.read32(0, 4)

        assert await loop.run_in_executor(None, use) == 99
        # async DMA awaited in the loop that serves (the client connects
        # in another thread: the loop must be free to answer)
        c = await loop.run_in_executor(None, uvf.Client, path)
        mem = await loop.run_in_executor(None, c.dma_alloc, 0x40000, 4096)
        mem[0:2] = b"ok"
        assert await dev.dma_read_aio(0x40000, 2) == b"ok"
        await dev.dma_write_aio(0x40002, b"!!")
        assert bytes(mem[0:4]) == b"ok!!"
        with pytest.raises(uvf.Error):
            await dev.dma_read_aio(0x90000, 2)
        mem.release()
        await loop.run_in_executor(None, c.close)
        dev.detach()

    asyncio.run(main())
    dev.shutdown()
    assert dev.closed


class Counter(uvf.Device):
    def __init__(self):
        super().__init__()
        self.value = 0
        self.transitions = []
        self.set_pci_ids(0x1DE0, 0x00F3)
        self.set_bar(0, 16, read=lambda off, n: self.value.to_bytes(16, "little")[off:off + n],
                     write=self.write)
        self.set_migration(uvf.MIGRATION_PRE_COPY)
        self.out = b""

    def write(self, off, data):
        self.value = int.from_bytes(data, "little")

    def on_migration_transition(self, old, new):
        self.transitions.append((old, new))
        if new == uvf.STATE_STOP_COPY:
            self.out = b"CNT1" + self.value.to_bytes(8, "little")

    def on_migration_save(self, max_len):
        chunk, self.out = self.out[:max_len], self.out[max_len:]
        return chunk

    def on_migration_load(self, data):
        if data[:4] != b"CNT1":
            raise OSError(errno.EINVAL, "not a counter stream")
        self.value = int.from_bytes(data[4:12], "little")

    def on_migration_pending(self):
        return len(self.out)


def test_migration_callbacks(uvf_py_device, uvf_connect):
    src_dev, dst_dev = Counter(), Counter()
    src = uvf_connect(uvf_py_device(src_dev))
    dst = uvf_connect(uvf_py_device(dst_dev))
    src.write32(0, 0, 4242)
    assert src.migration_features() & uvf.MIGRATION_PRE_COPY
    src.set_migration_state(uvf.STATE_STOP_COPY)
    assert src_dev.migration_state() == uvf.STATE_STOP_COPY
    data = src.migration_data_read(4096)
    assert data[:4] == b"CNT1"
    dst.set_migration_state(uvf.STATE_RESUMING)
    with pytest.raises(uvf.Error) as e:
        dst.migration_data_write(b"JUNKJUNKJUNK")
    assert e.value.errno == errno.EINVAL
    dst.migration_data_write(data)
    dst.set_migration_state(uvf.STATE_RUNNING)
    assert dst.read32(0, 0) == 4242
    assert (uvf.STATE_RUNNING, uvf.STATE_STOP) in src_dev.transitions


def test_gc_frees_a_device_with_bound_callbacks(uvf_socket_dir):
    import gc
    import os
    import weakref

    dev = Regs()
    path = uvf_socket_dir + "/gc.sock"
    dev.listen(path)
    ref = weakref.ref(dev)
    del dev
    gc.collect()
    assert ref() is None
    assert not os.path.exists(path)  # freed: the socket file went with it

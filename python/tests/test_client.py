# SPDX-License-Identifier: MIT
"""The Python client against uvf's C devices: every binding call of
uvf.Client, accepted and refused."""

import asyncio
import errno
import os

import pytest

import uvf

# uvf-scratch registers (devices/scratch/scratch.h)
ID, SCRATCH, GPIO_OUT, IRQ_RAISE, IRQ_COUNT = 0x000, 0x010, 0x050, 0x060, 0x068
DMA_ADDR_LO, DMA_ADDR_HI, DMA_LEN, DMA_CMD, DMA_STATUS, WINDOW = 0x070, 0x074, 0x078, 0x07C, 0x080, 0x800
# uvf-dmatest registers (devices/dmatest/dmatest.h)
DT_LEN, DT_PATTERN, DT_CMD, DT_STATUS, DT_SUM, DT_BAR4_WRITES = 0x18, 0x1C, 0x20, 0x24, 0x34, 0x38


def scratch_dma(c, cmd, iova, length):
    c.write32(0, DMA_ADDR_LO, iova & 0xFFFFFFFF)
    c.write32(0, DMA_ADDR_HI, iova >> 32)
    c.write32(0, DMA_LEN, length)
    c.write32(0, DMA_CMD, cmd)
    return c.read32(0, DMA_STATUS)


def test_connect_refusals(uvf_socket_dir):
    with pytest.raises(uvf.Error) as e:
        uvf.Client(os.path.join(uvf_socket_dir, "absent.sock"))
    assert e.value.errno == errno.ENOENT and isinstance(e.value, OSError)
    assert e.value.filename == "connect"
    plain = os.path.join(uvf_socket_dir, "plain")
    open(plain, "w").close()
    with pytest.raises(uvf.Error) as e:
        uvf.Client(plain)
    assert e.value.errno in (errno.ECONNREFUSED, errno.ENOTSOCK)


def test_bad_options_refused(uvf_c_device):
    path = uvf_c_device("uvf-scratch").path
    for opts in ({"timeout_ms": 0}, {"max_data_xfer_size": 100}, {"max_msg_fds": 65}):
        with pytest.raises(uvf.Error) as e:
            uvf.Client(path, **opts)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        uvf.Client(path, bogus=1)


def test_info(uvf_scratch):
    c = uvf_scratch
    caps = c.server_caps()
    assert caps["max_data_xfer_size"] >= 512 and caps["json"].startswith("{")
    info = c.device_info()
    assert info.num_regions == 9 and info.flags & uvf.DEVICE_RESET
    bar0 = c.region_info(0)
    assert bar0.size == 4096 and bar0.flags & uvf.REGION_READ
    assert c.region_info(1).size == 0
    assert c.region_info(uvf.CONFIG_REGION).size in (256, 4096)
    with pytest.raises(uvf.Error) as e:
        c.region_info(9)
    assert e.value.errno == errno.EINVAL
    assert c.irq_info(uvf.MSI_IRQ).count == 4
    with pytest.raises(uvf.Error):
        c.irq_info(99)


def test_region_read_write(uvf_scratch):
    c = uvf_scratch
    assert c.region_read(0, ID, 4) == b"UVFS"
    c.region_write(0, SCRATCH, bytes(range(64)))
    assert c.region_read(0, SCRATCH, 64) == bytes(range(64))
    buf = bytearray(8)
    c.region_read_into(0, SCRATCH, buf)
    assert bytes(buf) == bytes(range(8))
    assert c.read32(2, 0) == 0x53465655  # the I/O BAR mirrors ID
    for bad in ((0, 0x1000, 4), (0, 0xFFC, 8), (1, 0, 4), (9, 0, 4)):
        with pytest.raises(uvf.Error) as e:
            c.region_read(*bad)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(uvf.Error):
        c.region_write(0, 0x1000, b"1234")
    with pytest.raises(ValueError):
        c.region_read(0, 0, -1)
    with pytest.raises(TypeError):
        c.region_write(0, 0, "text")


def test_config_space(uvf_scratch):
    c = uvf_scratch
    assert c.config_read(0, 2) == 0x1DE0
    assert c.config_read(0, 4) == 0x00011DE0
    assert c.config_read(0, 1) == 0xE0
    cmd = c.config_read(4, 2)
    c.config_write(4, 2, cmd | 0x2)
    assert c.config_read(4, 2) & 0x2
    c.config_write(0x10, 4, 0xFFFFFFFF)  # BAR sizing
    assert c.config_read(0x10, 4) & 0xFFFFF000 == 0xFFFFF000
    with pytest.raises(ValueError):
        c.config_read(0, 3)
    with pytest.raises(ValueError):
        c.config_write(0, 1, 0x100)
    with pytest.raises(uvf.Error):
        c.config_read(0x1000, 4)


def test_mapped_bar(uvf_c_device, uvf_connect):
    c = uvf_connect(uvf_c_device("uvf-dmatest").path)
    with pytest.raises(uvf.Error):
        c.region_view(4, 0, 16)  # not mapped yet
    c.region_map(4)
    view = c.region_view(4, 0, 65536)
    assert len(view) == 65536
    view[0:4] = b"\x01\x02\x03\x04"
    c.write32(0, DT_LEN, 4)
    c.write32(0, DT_CMD, 3)  # SUM over BAR4
    assert c.read32(0, DT_STATUS) == 0
    assert c.read32(0, DT_BAR4_WRITES) == 0  # the stores took the shared memory
    assert c.region_read(4, 0, 4) == b"\x01\x02\x03\x04"
    c.write32(0, DT_PATTERN, 0x5A)
    c.write32(0, DT_LEN, 16)
    c.write32(0, DT_CMD, 4)  # BARFILL: the device writes, the view sees it
    assert bytes(view[0:16]) == b"\x5a" * 16
    with pytest.raises(BufferError):
        c.region_unmap(4)
    with pytest.raises(BufferError):
        c.close()
    view.release()
    c.region_unmap(4)
    with pytest.raises(uvf.Error):
        c.region_view(4, 0, 16)
    with pytest.raises(uvf.Error):
        c.region_map(7)
    assert c.access_read(4, 0, 4) == b"\x5a" * 4  # by message now
    assert isinstance(c.region_io_fds(4), list)


def test_access_and_posted_writes(uvf_scratch):
    c = uvf_scratch
    c.access_write(0, SCRATCH, b"\x11\x22\x33\x44")
    assert c.access_read(0, SCRATCH, 4) == b"\x11\x22\x33\x44"
    c.cork(True)
    for i in range(8):
        c.write_posted(0, SCRATCH + 4 * i, i.to_bytes(4, "little"))
    c.cork(False)
    c.flush()
    assert [c.read32(0, SCRATCH + 4 * i) for i in range(8)] == list(range(8))
    # a posted write's failure is only logged by the server: the stream goes on
    c.write_posted(9, 0, b"\0")
    c.flush()
    assert c.read32(0, SCRATCH) == 0


def test_dma_alloc(uvf_scratch):
    c = uvf_scratch
    mem = c.dma_alloc(0x100000, 8192)
    assert len(mem) == 8192
    mem[0:5] = b"hello"
    assert scratch_dma(c, 1, 0x100000, 5) == 0  # device reads our memory
    assert c.region_read(0, WINDOW, 5) == b"hello"
    c.region_write(0, WINDOW, b"world")
    assert scratch_dma(c, 2, 0x101000, 5) == 0  # device writes our memory
    assert bytes(mem[4096:4101]) == b"world"
    with pytest.raises(uvf.Error) as e:
        c.dma_alloc(0x101000, 4096)
    assert e.value.errno == errno.EEXIST
    with pytest.raises(uvf.Error) as e:
        c.dma_alloc(0x200100, 4096)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(BufferError):
        c.dma_unregister(0x100000, 8192)
    mem.release()
    c.dma_unregister(0x100000, 8192)
    assert scratch_dma(c, 1, 0x100000, 5) == errno.EFAULT
    with pytest.raises(uvf.Error):
        c.dma_unregister(0x100000, 8192)


def test_dma_register_and_map_fd(uvf_scratch):
    c = uvf_scratch
    buf = bytearray(4096)
    buf[0:3] = b"abc"
    c.dma_register(0x300000, buf)  # no fd: DMA_READ/DMA_WRITE messages
    assert scratch_dma(c, 1, 0x300000, 3) == 0
    assert c.region_read(0, WINDOW, 3) == b"abc"
    c.region_write(0, WINDOW, b"xyz")
    assert scratch_dma(c, 2, 0x300010, 3) == 0
    assert bytes(buf[0x10:0x13]) == b"xyz"
    with pytest.raises(BufferError):
        c.dma_register(0x400000, b"read-only bytes")
    fd = os.memfd_create("uvf-test")
    try:
        os.ftruncate(fd, 8192)
        os.pwrite(fd, b"memfd", 4096)
        c.dma_map_fd(0x500000, 4096, uvf.DMA_READ | uvf.DMA_WRITE, fd, 4096)
        with pytest.raises(uvf.Error):
            c.dma_map_fd(0x600000, 4096, uvf.DMA_READ, fd, 100)
    finally:
        os.close(fd)
    assert scratch_dma(c, 1, 0x500000, 5) == 0
    assert c.region_read(0, WINDOW, 5) == b"memfd"
    assert c.poll_fd() >= 0 and c.process() >= 0
    c.dma_unregister_all()
    assert scratch_dma(c, 1, 0x300000, 3) == errno.EFAULT


def test_interrupts(uvf_scratch):
    c = uvf_scratch
    irqs = c.irq_eventfds(uvf.MSI_IRQ)
    assert len(irqs) == 4
    c.write32(0, IRQ_RAISE, 0b0101)
    assert irqs[0].wait(10) == 1 and irqs[2].wait(10) == 1
    assert irqs[1].read() == 0
    c.irq_mask(uvf.MSI_IRQ, 1, 1, True)
    c.write32(0, IRQ_RAISE, 0b0010)
    assert irqs[1].read() == 0  # latched while masked
    c.irq_mask(uvf.MSI_IRQ, 1, 1, False)
    assert irqs[1].wait(10) == 1
    c.irq_trigger(uvf.MSI_IRQ, 3, 1)
    assert irqs[3].wait(10) == 1

    async def waiter():
        task = asyncio.ensure_future(irqs[2].wait_async())
        await asyncio.sleep(0)
        c.write32(0, IRQ_RAISE, 0b0100)
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(waiter()) == 1
    c.irq_disable(uvf.MSI_IRQ)
    c.write32(0, IRQ_RAISE, 0b0001)
    assert c.read32(0, 0x6C) == errno.ENOENT  # IRQ_ERROR: no eventfd any more
    with pytest.raises(uvf.Error):
        c.set_irq_eventfds(uvf.MSI_IRQ, 4, [irqs[0].fd])
    with pytest.raises(uvf.Error):
        c.irq_mask(99, 0, 1, True)
    with pytest.raises(uvf.Error):
        c.irq_trigger(uvf.MSI_IRQ, 0, 5)
    c.set_irq_eventfds(uvf.MSI_IRQ, 0, [-1])


def test_reset_and_raw_call(uvf_scratch):
    c = uvf_scratch
    c.write32(0, SCRATCH, 0xABCD)
    c.reset()
    assert c.read32(0, SCRATCH) == 0
    reply = c.call(4, (16).to_bytes(4, "little") + bytes(12))  # DEVICE_GET_INFO
    assert len(reply) == 16 and int.from_bytes(reply[8:12], "little") == 9
    with pytest.raises(uvf.Error):
        c.call(4, b"")  # too short
    with pytest.raises(uvf.Error):
        c.call(0x7777)
    with pytest.raises(ValueError):
        c.call(0x10000)


def test_migration_between_two_devices(uvf_c_device, uvf_connect):
    src = uvf_connect(uvf_c_device("uvf-scratch").path)
    dst = uvf_connect(uvf_c_device("uvf-scratch").path)
    assert src.migration_features() & uvf.MIGRATION_STOP_COPY
    assert src.migration_state() == uvf.STATE_RUNNING
    src.write32(0, SCRATCH, 0xC0FFEE)
    src.set_migration_state(uvf.STATE_STOP_COPY)
    data = b""
    while True:
        chunk = src.migration_data_read(4096)
        data += chunk
        if len(chunk) < 4096:
            break
    assert data
    with pytest.raises(uvf.Error):
        dst.set_migration_state(uvf.STATE_STOP_COPY + 100)
    with pytest.raises(uvf.Error):
        dst.migration_data_write(data)  # not RESUMING
    dst.set_migration_state(uvf.STATE_RESUMING)
    dst.migration_data_write(data)
    dst.set_migration_state(uvf.STATE_RUNNING)
    assert dst.read32(0, SCRATCH) == 0xC0FFEE
    src.set_migration_state(uvf.STATE_RUNNING)


def test_dma_logging(uvf_scratch):
    c = uvf_scratch
    mem = c.dma_alloc(0x100000, 16384)
    chosen = c.dma_logging_start(4096)
    assert chosen >= 4096
    c.region_write(0, WINDOW, b"dirty")
    assert scratch_dma(c, 2, 0x102000, 5) == 0
    bitmap = c.dma_logging_report(0x100000, 16384, chosen)
    assert int.from_bytes(bitmap, "little") == 0b0100
    with pytest.raises(uvf.Error):
        c.dma_logging_report(0x100000, 16384, 3000)
    c.dma_logging_stop()
    del mem


def test_closed_client(uvf_c_device):
    path = uvf_c_device("uvf-scratch").path
    with uvf.Client(path) as c:
        assert not c.closed
    assert c.closed
    c.close()  # twice is fine
    with pytest.raises(ValueError):
        c.device_info()

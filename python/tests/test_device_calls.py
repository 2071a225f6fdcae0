# SPDX-License-Identifier: MIT
"""The description and serving calls of uvf.Device not covered by
test_device.py, each accepted and refused."""

import errno
import logging
import os
import select
import socket

import pytest

import uvf


def test_capabilities_accepted_and_refused(uvf_py_device, uvf_connect):
    d = uvf.Device()
    d.set_pci_ids(0x1DE0, 0x00F7)
    d.set_bar(0, 4096, uvf.BAR_MEMORY)  # trapped: the doorbell below is an ioeventfd
    d.set_bar(2, 16384, uvf.BAR_MEMORY | uvf.BAR_MMAP | uvf.BAR_64BIT | uvf.BAR_PREFETCH)
    with pytest.raises(uvf.Error):
        d.set_bar(3, 4096, uvf.BAR_MEMORY)  # taken by the 64-bit BAR2
    d.set_bar_mmap_areas(2, [(0, 4096), (8192, 8192)])
    with pytest.raises(uvf.Error):
        d.set_bar_mmap_areas(2, [(100, 4096)])  # not page-aligned
    with pytest.raises(uvf.Error):
        d.set_bar_mmap_areas(2, [])
    d.set_pm(uvf.PM_NO_SOFT_RESET)
    with pytest.raises(uvf.Error):
        d.set_pm(0x80)
    d.set_msi_flags(uvf.MSI_32BIT | uvf.MSI_NO_MASK)
    with pytest.raises(uvf.Error):
        d.set_msi_flags(0x80)
    d.set_irq_count(uvf.MSI_IRQ, 2)
    d.set_pcie(port_type=uvf.PCIE_TYPE_RC_ENDPOINT, max_payload=512)
    with pytest.raises(uvf.Error):
        d.set_pcie(max_payload=100)
    assert d.add_capability(0x0D, b"\0\0\0\0\0\0", b"\0\0\0\0\xff\xff") >= 0x40  # bridge subsystem id
    with pytest.raises(ValueError):
        d.add_capability(0x0D, b"\0\0", b"\0")
    with pytest.raises(uvf.Error):
        d.add_capability(0x100, b"")
    ext = d.add_ext_capability(0x0B, 1, b"VSEC" + bytes(8))
    assert ext >= 0x100
    with pytest.raises(uvf.Error):
        d.add_ext_capability(0, 1, b"1234")
    with pytest.raises(uvf.Error):
        d.add_vendor_capability(bytes(254))
    doorbell = d.add_ioeventfd(0, 0x100, 4, datamatch=7)  # polled by the device itself
    fd = d.ioeventfd_fd(doorbell)
    with pytest.raises(uvf.Error):
        d.add_ioeventfd(7, 0, 4)
    c = uvf_connect(uvf_py_device(d))
    assert d.find_capability(0x0B, extended=True) == ext
    assert c.config_read(ext, 4) & 0xFFFF == 0x0B
    assert d.find_capability(0x05) >= 0x40
    info = c.region_info(2)
    assert info.sparse_areas == ((0, 4096), (8192, 8192))
    c.region_map(0)
    c.access_write(0, 0x100, (7).to_bytes(4, "little"))  # matches: the eventfd counts it
    select.select([fd], [], [], 10)
    assert int.from_bytes(os.read(fd, 8), "little") == 1
    with pytest.raises(uvf.Error):
        d.config_read(0x1000, 4)
    with pytest.raises(uvf.Error):
        d.set_msi_flags(0)  # after listen: EBUSY


def test_listen_refusals_and_listen_fd(uvf_socket_dir, uvf_connect):
    d = uvf.Device()
    d.set_pci_ids(0x1DE0, 0x00F8)
    with pytest.raises(uvf.Error) as e:
        d.listen(os.path.join(uvf_socket_dir, "x.sock"), max_data_xfer_size=100)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(uvf.Error):
        d.listen(os.path.join(uvf_socket_dir, "x.sock"), max_msg_fds=17)
    with pytest.raises(TypeError):
        d.listen(os.path.join(uvf_socket_dir, "x.sock"), bogus=1)
    plain = os.path.join(uvf_socket_dir, "plain")
    open(plain, "w").close()
    with pytest.raises(uvf.Error) as e:
        d.listen(plain)
    assert e.value.errno == errno.EEXIST
    path = os.path.join(uvf_socket_dir, "fd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    d.listen_fd(s.detach(), max_data_xfer_size=4096, poll_us=10)  # the device owns it now
    d.serve_in_thread()
    try:
        c = uvf_connect(path)
        assert c.server_caps()["max_data_xfer_size"] == 4096
        assert c.config_read(2, 2) == 0x00F8
        c.close()
    finally:
        d.shutdown()
    assert d.closed
    with pytest.raises(ValueError):
        d.poll_fd()


def test_log_and_mark_dirty(uvf_py_device, uvf_connect, caplog):
    caplog.set_level(logging.DEBUG, logger="uvf.device")
    d = uvf.Device()
    d.set_pci_ids(0x1DE0, 0x00F9)
    d.set_migration()  # dirty logging comes with migration
    d.log(0, "a line from Python")
    with pytest.raises(uvf.Error):
        d.log(9, "bad level")
    assert "a line from Python" in caplog.text
    c = uvf_connect(uvf_py_device(d))
    mem = c.dma_alloc(0x10000, 8192)
    c.dma_logging_start(4096)
    view = d.dma_view(0x11000, 4, uvf.DMA_WRITE)
    view[0:4] = b"ABCD"
    view.release()
    d.dma_mark_dirty(0x11000, 4)
    with pytest.raises(uvf.Error):
        d.dma_mark_dirty(0x11000, -1)
    assert int.from_bytes(c.dma_logging_report(0x10000, 8192, 4096), "little") == 0b10
    c.dma_logging_stop()
    assert bytes(mem[4096:4100]) == b"ABCD"
    mem.release()


def test_dma_view_waits_for_other_threads(uvf_py_device, uvf_connect):
    """DMA_UNMAP revokes views; one held by another thread is waited for."""
    import threading
    import time

    d = uvf.Device()
    d.set_pci_ids(0x1DE0, 0x00FA)
    c = uvf_connect(uvf_py_device(d))
    mem = c.dma_alloc(0x10000, 4096)
    mem.release()
    held = threading.Event()
    release = threading.Event()
    seen = []

    def holder():
        view = d.dma_view(0x10000, 4096, uvf.DMA_READ | uvf.DMA_WRITE)
        held.set()
        release.wait()
        view[0] = 1  # still mapped: the unmap is waiting for us
        seen.append(bytes(view[0:1]))
        view.release()

    t = threading.Thread(target=holder)
    t.start()
    held.wait()
    unmapper = threading.Thread(target=c.dma_unregister, args=(0x10000, 4096))
    unmapper.start()
    time.sleep(0.1)  # give the unmap time to arrive; no outcome depends on it
    assert unmapper.is_alive()  # waiting for the view
    release.set()
    t.join()
    unmapper.join()
    assert seen == [b"\x01"]
    with pytest.raises(uvf.Error):
        d.dma_view(0x10000, 4)

# SPDX-License-Identifier: MIT
"""The example devices of python/examples: the IDIO-16 card (also checked
by uvf-conform) and the DMA copy engine."""

import errno
import json
import os
import subprocess
import sys

import pytest

import uvf
from uvf.pytest_plugin import find_program

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
sys.path.insert(0, EXAMPLES)

import dmacopy  # noqa: E402
import idio16  # noqa: E402


def test_idio16_is_short():
    with open(os.path.join(EXAMPLES, "idio16.py")) as f:
        assert len(f.readlines()) < 150


def test_idio16_registers_and_interrupt(uvf_py_device, uvf_connect):
    dev = idio16.Idio16()
    c = uvf_connect(uvf_py_device(dev))
    assert c.config_read(0, 4) == 0x0DC8494F
    assert c.region_info(2).size == 8 and c.region_info(0).size == 0
    c.region_write(2, 0, b"\x5a")
    c.region_write(2, 4, b"\xa5")
    assert dev.outputs == 0xA55A and c.region_read(2, 0, 1) == b"\x5a"
    intx = c.irq_eventfds(uvf.INTX_IRQ)
    dev.set_inputs(0x0001)  # IRQs disabled: nothing latched
    assert c.region_read(2, 6, 1) == b"\0" and intx[0].read() == 0
    assert c.region_read(2, 2, 1) == b"\xff"  # enables IRQs
    dev.set_inputs(0x0101)
    assert intx[0].wait(10) == 1
    assert c.region_read(2, 6, 1)[0] == idio16.PENDING | idio16.COS_HIGH
    assert c.region_read(2, 1, 1) == b"\x01" and c.region_read(2, 5, 1) == b"\x01"
    c.region_write(2, 1, b"\0")  # clear
    assert c.region_read(2, 6, 1) == b"\0"
    assert c.region_read(2, 3, 1) == b"\xff" and c.region_read(2, 7, 1) == b"\xff"
    c.region_write(2, 3, b"\0")
    c.region_write(2, 7, b"\x0f")
    assert c.region_read(2, 7, 1) == b"\x0f"
    c.reset()
    assert dev.outputs == 0 and not dev.irq_enabled and dev.inputs == 0x0101


def test_idio16_migrates(uvf_py_device, uvf_connect):
    src_dev, dst_dev = idio16.Idio16(), idio16.Idio16()
    src, dst = uvf_connect(uvf_py_device(src_dev)), uvf_connect(uvf_py_device(dst_dev))
    src.region_write(2, 0, b"\x12")
    src.set_migration_state(uvf.STATE_STOP_COPY)
    data = src.migration_data_read(4096)
    dst.set_migration_state(uvf.STATE_RESUMING)
    dst.migration_data_write(data[:5])
    dst.migration_data_write(data[5:])
    dst.set_migration_state(uvf.STATE_RUNNING)
    assert dst.region_read(2, 0, 1) == b"\x12"
    dst.set_migration_state(uvf.STATE_STOP)
    dst.set_migration_state(uvf.STATE_RESUMING)
    dst.migration_data_write(b"ID16" + bytes(7))
    with pytest.raises(uvf.Error) as e:
        dst.set_migration_state(uvf.STATE_STOP)
    assert e.value.errno == errno.EINVAL


def test_conform_against_python_idio16(uvf_socket_dir):
    """uvf-conform's whole catalogue against idio16.py: no FAIL."""
    sock = os.path.join(uvf_socket_dir, "idio16.sock")
    log = os.path.join(uvf_socket_dir, "idio16.log")
    cmd = "exec %s %s --socket-path=%s 2>>%s" % (sys.executable, os.path.join(EXAMPLES, "idio16.py"), sock, log)
    out = subprocess.run([find_program("uvf-conform"), "--json", "--server-cmd", cmd, sock],
                         capture_output=True, text=True, timeout=500)
    report = json.loads(out.stdout)
    failed = [c for c in report["cases"] if c["verdict"] == "FAIL"]
    passed = [c for c in report["cases"] if c["verdict"] == "PASS"]
    with open(log) as f:
        device_log = f.read()
    assert not failed, "\n".join("%s: %s" % (c["name"], c["why"]) for c in failed) + "\n" + device_log[-3000:]
    assert out.returncode == 0, out.stderr
    assert len(report["cases"]) >= 150 and len(passed) >= 100
    print("conform idio16.py: %d pass, %d fail" % (len(passed), len(failed)))


def dma_program(c, cmd, src, dst, length):
    for reg, value in ((0, src & 0xFFFFFFFF), (1, src >> 32), (2, dst & 0xFFFFFFFF), (3, dst >> 32), (4, length)):
        c.write32(0, 4 * reg, value)
    count = c.read32(0, 0x1C)
    c.write32(0, 0x14, cmd)
    return count


def test_dma_copy_engine(uvf_py_device, uvf_connect):
    dev = dmacopy.DmaCopy()
    c = uvf_connect(uvf_py_device(dev))
    done = c.irq_eventfds(uvf.MSI_IRQ)[0]
    mem = c.dma_alloc(0x100000, 1 << 16)
    mem[0:4096] = os.urandom(4096)
    dma_program(c, 1, 0x100000, 0x108000, 4096)  # synchronous
    assert done.wait(10) == 1 and c.read32(0, 0x18) == 0
    assert bytes(mem[0x8000:0x9000]) == bytes(mem[0:4096])
    dma_program(c, 1, 0x100000, 0x900000, 16)  # unmapped destination
    assert done.wait(10) == 1 and c.read32(0, 0x18) == errno.EFAULT
    dma_program(c, 1, 0x100000, 0x100000, (1 << 20) + 1)  # too long
    assert c.read32(0, 0x18) == errno.EINVAL
    mem.release()


def test_dma_copy_engine_async_by_message(uvf_py_device, uvf_connect):
    """Memory without fd: the device's DMA goes by message, in the
    background, while the client keeps talking to it."""
    dev = dmacopy.DmaCopy()
    c = uvf_connect(uvf_py_device(dev))
    done = c.irq_eventfds(uvf.MSI_IRQ)[0]
    buf = bytearray(8192)
    buf[0:100] = bytes(range(100))
    c.dma_register(0x200000, buf)
    count = dma_program(c, 2, 0x200000, 0x201000, 100)
    for _ in range(10000):  # each call lets the client serve DMA messages
        if c.read32(0, 0x1C) != count:
            break
    assert c.read32(0, 0x18) == 0 and done.wait(10) == 1
    assert bytes(buf[0x1000:0x1064]) == bytes(range(100))


def test_idio16_wired_control_fifo(uvf_socket_dir, uvf_connect):
    """idio16_wired.py, as the guest tests run it: inputs from the control
    FIFO, changes reported on stdout, exit 0 on SIGTERM."""
    import signal
    import time

    sock = os.path.join(uvf_socket_dir, "wired.sock")
    fifo = os.path.join(uvf_socket_dir, "control")
    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "idio16_wired.py"), "--socket-path=" + sock,
                             "--control=" + fifo], stdout=subprocess.PIPE, text=True)
    try:
        while not (os.path.exists(sock) and os.path.exists(fifo)):
            assert proc.poll() is None
            time.sleep(0.01)
        c = uvf_connect(sock)
        with open(fifo, "w") as f:
            f.write("bogus\ninputs 0x0180\n")
        assert proc.stdout.readline() == "inputs=0x0180\n"
        assert c.region_read(2, 1, 1) == b"\x80" and c.region_read(2, 5, 1) == b"\x01"
        c.region_write(2, 4, b"\x07")
        assert proc.stdout.readline() == "outputs=0x0700\n"
        with open(fifo, "w") as f:
            f.write("input 0 1\n")
        assert proc.stdout.readline() == "inputs=0x0181\n"
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not os.path.exists(sock)

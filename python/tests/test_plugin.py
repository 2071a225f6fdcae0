# SPDX-License-Identifier: MIT
"""The pytest plugin (uvf.pytest_plugin): its fixtures start C and Python
devices and hand out connected clients, and a failing test's report
carries the device's log."""

import os

import uvf


def test_fixtures(uvf_scratch, uvf_c_device, uvf_py_device, uvf_connect, uvf_socket_dir):
    assert uvf_scratch.region_read(0, 0, 4) == b"UVFS"
    assert len(uvf_socket_dir) < 60 and os.path.isdir(uvf_socket_dir)
    dev = uvf.Device()
    dev.set_pci_ids(0x1DE0, 0x00F4)
    c = uvf_connect(uvf_py_device(dev))
    assert c.config_read(2, 2) == 0x00F4
    proc = uvf_c_device("uvf-dmatest")
    assert uvf_connect(proc.path).read32(0, 0) == 0x54414D44
    assert proc.process.poll() is None


def test_device_logs_reach_failed_reports(pytester):
    pytester.makepyfile(
        """
        import uvf

        def test_c_device_fails(uvf_c_device, uvf_connect):
            c = uvf_connect(uvf_c_device("uvf-scratch").path)
            c.region_read(0, 0x2000, 4)

        def test_py_device_fails(uvf_py_device, uvf_connect):
            dev = uvf.Device()
            dev.set_pci_ids(0x1DE0, 0x00F5)
            dev.set_bar(0, 16, read=lambda off, n: 1 / 0)
            uvf_connect(uvf_py_device(dev)).region_read(0, 0, 4)

        def test_passes(uvf_scratch):
            uvf_scratch.region_read(0, 0x2000, 4) if False else None
        """
    )
    result = pytester.runpytest_subprocess("-p", "uvf.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2, passed=1)
    out = result.stdout.str()
    assert out.count("uvf device log") == 2
    assert "REGION_READ: offset 0x2000 + 4 beyond BAR0 size 0x1000" in out
    assert "ZeroDivisionError" in out

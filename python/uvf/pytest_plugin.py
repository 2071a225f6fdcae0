# SPDX-License-Identifier: MIT
"""pytest fixtures for vfio-user devices: load with ``-p uvf.pytest_plugin``
or ``pytest_plugins = ["uvf.pytest_plugin"]`` in a conftest.py.

- ``uvf_socket_dir``: a short temporary directory for sockets (UNIX socket
  paths are limited to 107 bytes, pytest's tmp_path often is longer);
- ``uvf_c_device(program, *args)``: start a C device program (found in
  $UVF_BUILD_DIR/devices, else on PATH) on a fresh socket, wait until it
  listens; returns a :class:`DeviceProcess`;
- ``uvf_py_device(device)``: listen a :class:`uvf.Device` on a fresh
  socket and serve it from a thread; returns the socket path;
- ``uvf_connect(path, **opts)``: a :class:`uvf.Client`, closed after
  the test;
- ``uvf_scratch``: a client connected to uvf-scratch.

When a test fails, the log of every device it started (the program's
stderr, or the ``uvf.device`` log lines of Python devices) is added to the
report as a section "uvf device log".
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Callable, Iterator, List

import pytest

from .client import Client
from .device import Device


def find_program(name: str) -> str:
    """A uvf program of the build tree ($UVF_BUILD_DIR), else from PATH."""
    build = os.environ.get("UVF_BUILD_DIR")
    if build:
        for sub in ("devices", "tools", "bench"):
            path = os.path.join(build, sub, name)
            if os.access(path, os.X_OK):
                return path
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError("uvf program %s not found (set UVF_BUILD_DIR or PATH)" % name)
    return found


class DeviceProcess:
    """A device program serving on ``path``; its stderr goes to ``log_path``."""

    def __init__(self, program: str, path: str, log_path: str, args: List[str]) -> None:
        self.program = program
        self.path = path
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.process = subprocess.Popen([find_program(program), "--socket-path=" + path] + list(args),
                                        stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file)
        # the socket file appears before it listens; the client retries
        # refused connects, so waiting for the file is enough
        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            if self.process.poll() is not None:
                raise RuntimeError("%s exited with %d before listening:\n%s"
                                   % (program, self.process.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not create %s:\n%s" % (program, path, self.log()))
            time.sleep(0.01)

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode


class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append("%s %s: %s" % (record.levelname.lower(), record.name, record.getMessage()))


@pytest.hookimpl(hookwrapper=True)  # type: ignore[misc]
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[Any]:
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, "uvf_report_" + report.when, report)


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(getattr(request.node, "uvf_report_" + when, None) is not None
               and getattr(request.node, "uvf_report_" + when).failed for when in ("setup", "call"))


@pytest.fixture
def uvf_socket_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="uvf-py-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def uvf_c_device(request: pytest.FixtureRequest, uvf_socket_dir: str) -> Iterator[Callable[..., DeviceProcess]]:
    started: List[DeviceProcess] = []

    def start(program: str, *args: str) -> DeviceProcess:
        name = "%s-%d" % (program, len(started))
        dev = DeviceProcess(program, os.path.join(uvf_socket_dir, name + ".sock"),
                            os.path.join(uvf_socket_dir, name + ".log"), list(args))
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.stop()
    if _failed(request):
        for dev in started:
            request.node.add_report_section("teardown", "uvf device log", "%s:\n%s" % (dev.program, dev.log()))


@pytest.fixture
def uvf_py_device(request: pytest.FixtureRequest, uvf_socket_dir: str) -> Iterator[Callable[..., str]]:
    devices: List[Device] = []
    collector = _LogCollector()
    logger = logging.getLogger("uvf.device")
    logger.addHandler(collector)

    def serve(device: Device, **listen_opts: Any) -> str:
        path = os.path.join(uvf_socket_dir, "py-%d.sock" % len(devices))
        device.listen(path, **listen_opts)
        device.serve_in_thread()
        devices.append(device)
        return path

    yield serve
    for device in devices:
        device.shutdown()
    logger.removeHandler(collector)
    if _failed(request):
        request.node.add_report_section("teardown", "uvf device log", "\n".join(collector.lines))


@pytest.fixture
def uvf_connect() -> Iterator[Callable[..., Client]]:
    clients: List[Client] = []

    def connect(path: str, **opts: Any) -> Client:
        client = Client(path, **opts)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def uvf_scratch(uvf_c_device: Callable[..., DeviceProcess],
                uvf_connect: Callable[..., Client]) -> Client:
    return uvf_connect(uvf_c_device("uvf-scratch").path)



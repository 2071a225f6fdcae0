# SPDX-License-Identifier: MIT
"""The server side: :class:`Device`, the base class of Python devices."""

from __future__ import annotations

import asyncio
import select
import threading
from typing import Optional

from . import _uvf


class Device(_uvf.Device):
    """A vfio-user PCI device. Subclass it, describe the device in
    ``__init__`` (set_pci_ids, set_bar, set_irq_count, capabilities), then
    :meth:`listen` and serve: :meth:`run` (blocks), :meth:`serve_in_thread` (a
    thread), :meth:`attach` (an asyncio loop) or :meth:`poll_fd` +
    :meth:`dispatch` in a loop of your own.

    The library calls back the ``on_*`` methods below on the serving
    thread. A callback that raises is logged with its traceback and the
    client gets an error reply (the errno of an OSError, else EIO).
    """

    _thread: Optional[threading.Thread] = None
    _loop: Optional[asyncio.AbstractEventLoop] = None

    # -- callbacks (override what the device needs) ------------------------

    def on_reset(self, reason: int) -> None:
        """DEVICE_RESET (RESET_CLIENT), FLR (RESET_FLR) or D3hot->D0 (RESET_PM)."""

    def on_dma_map(self, address: int, size: int, prot: int) -> None:
        """A DMA range was added; raising refuses the DMA_MAP."""

    def on_dma_unmap(self, address: int, size: int, prot: int) -> None:
        """A DMA range is going away: stop using it."""

    def on_irq_state(self, index: int) -> None:
        """The client changed eventfds or masks of an IRQ index."""

    def on_client(self, connected: bool) -> None:
        """A client connected or left."""

    # Migration (after set_migration()): on_migration_transition(from, to),
    # on_migration_save(max_len) -> bytes, on_migration_load(data),
    # on_migration_pending() -> int. Defined by the devices that migrate.

    # -- serving -------------------------------------------------------------

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def serve_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread (run()) until :meth:`shutdown`."""
        if self._thread is not None:
            raise RuntimeError("already serving in a thread")
        self._thread = threading.Thread(target=self.run, name="uvf-device", daemon=True)
        self._thread.start()
        return self._thread

    def serve_forever(self) -> None:
        """Serve from this thread until stop(); KeyboardInterrupt stops it too."""
        fd = self.poll_fd()
        while True:
            select.select([fd], [], [])
            if self.dispatch() == 1:
                return

    def attach(self, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """Serve from an asyncio loop (the running one by default)."""
        if self._loop is not None:
            raise RuntimeError("already attached to a loop")
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.poll_fd(), self.dispatch)

    def detach(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.poll_fd())
            self._loop = None

    def shutdown(self) -> None:
        """Stop serving (thread or loop) and close the device."""
        if self.closed:
            return
        self.detach()
        if self._thread is not None:
            self.stop()
            self._thread.join()
            self._thread = None
        self.close()

    # -- asyncio DMA ---------------------------------------------------------

    async def dma_read_aio(self, addr: int, length: int) -> bytes:
        """dma_read_async() as an awaitable."""
        future = self._dma_future()
        self.dma_read_async(addr, length, self._dma_done(future))
        return await future

    async def dma_write_aio(self, addr: int, data: bytes) -> None:
        """dma_write_async() as an awaitable."""
        future = self._dma_future()
        self.dma_write_async(addr, data, self._dma_done(future))
        await future

    def _dma_future(self) -> "asyncio.Future[bytes]":
        return asyncio.get_running_loop().create_future()

    @staticmethod
    def _dma_done(future: "asyncio.Future[bytes]"):  # type: ignore[no-untyped-def]
        loop = future.get_loop()

        def settle(result: int, data: Optional[bytes]) -> None:
            if future.done():
                return
            if result < 0:
                future.set_exception(_uvf.Error(-result, _uvf.strerror(result), "dma_async"))
            else:
                future.set_result(data if data is not None else b"")

        def done(result: int, data: Optional[bytes]) -> None:
            # done runs on the serving thread, which may not be the loop's
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                settle(result, data)
            else:
                loop.call_soon_threadsafe(settle, result, data)

        return done

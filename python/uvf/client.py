# SPDX-License-Identifier: MIT
"""The client side: :class:`Client` and its interrupts, :class:`Interrupt`."""

from __future__ import annotations

import asyncio
import os
import select
from typing import List, Optional

from . import _uvf


class Interrupt:
    """An eventfd attached to one vector of an IRQ index.

    The server signals it; :meth:`wait` blocks for it, :meth:`wait_async`
    awaits it in an asyncio loop, :meth:`read` polls it. Each returns the
    number of signals since the last read (0: none).
    """

    def __init__(self, index: int, vector: int) -> None:
        self.index = index
        self.vector = vector
        # os.eventfd: Python 3.10 and later on Linux
        self.fd: int = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)  # type: ignore[attr-defined]

    def fileno(self) -> int:
        return self.fd

    def read(self) -> int:
        """Signals since the last read, without blocking."""
        try:
            return int(os.eventfd_read(self.fd))  # type: ignore[attr-defined]
        except BlockingIOError:
            return 0

    def wait(self, timeout: Optional[float] = None) -> int:
        """Wait up to timeout seconds (None: forever); 0 on timeout."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return self.read() if ready else 0

    async def wait_async(self) -> int:
        """Wait in the running asyncio loop for the next signal."""
        loop = asyncio.get_running_loop()
        count = self.read()
        if count:
            return count
        future: asyncio.Future[int] = loop.create_future()

        def readable() -> None:
            n = self.read()
            if n and not future.done():
                future.set_result(n)

        loop.add_reader(self.fd, readable)
        try:
            return await future
        finally:
            loop.remove_reader(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return "<uvf.Interrupt index %d vector %d fd %d>" % (self.index, self.vector, self.fd)


class Client(_uvf.Client):
    """A connection to a vfio-user server at a UNIX socket path.

    Use it as a context manager: leaving the block closes the connection,
    the interrupts it made and every mapping. Memory lent as memoryviews
    (:meth:`region_view`, :meth:`dma_alloc`) must be released first.
    """

    def __init__(self, path: str, **opts: object) -> None:
        super().__init__(path, **opts)  # type: ignore[arg-type]
        self._interrupts: List[Interrupt] = []

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        super().close()
        for irq in self._interrupts:
            irq.close()
        self._interrupts.clear()

    def irq_eventfds(self, index: int, count: Optional[int] = None, start: int = 0) -> List[Interrupt]:
        """Attach fresh eventfds to vectors start.. of IRQ index (count
        defaults to every vector the server reports) and return them."""
        if count is None:
            count = self.irq_info(index).count - start
        irqs = [Interrupt(index, start + i) for i in range(count)]
        try:
            self.set_irq_eventfds(index, start, [irq.fd for irq in irqs])
        except BaseException:
            for irq in irqs:
                irq.close()
            raise
        self._interrupts.extend(irqs)
        return irqs

    def read32(self, region: int, offset: int) -> int:
        """A little-endian 32-bit REGION_READ."""
        return int.from_bytes(self.region_read(region, offset, 4), "little")

    def write32(self, region: int, offset: int, value: int) -> None:
        """A little-endian 32-bit REGION_WRITE."""
        self.region_write(region, offset, value.to_bytes(4, "little"))

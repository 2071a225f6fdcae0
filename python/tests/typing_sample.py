# SPDX-License-Identifier: MIT
"""Typical use of the package, type-checked by typecheck.sh (not run)."""
import asyncio

import uvf


def f(path: str) -> int:
    with uvf.Client(path) as c:
        info = c.region_info(0)
        data: bytes = c.region_read(0, 0, 4)
        c.region_write(0, 0, data)
        return info.size + c.device_info().num_regions

class D(uvf.Device):
    def __init__(self) -> None:
        super().__init__()
        self.set_bar(0, 4096, read=self.r)
    def r(self, off: int, n: int) -> bytes:
        return bytes(n)


async def wait_irq(c: uvf.Client) -> int:
    irq: uvf.Interrupt = c.irq_eventfds(uvf.MSI_IRQ, 1)[0]
    return await irq.wait_async()


async def dma(d: D) -> bytes:
    d.attach(asyncio.get_running_loop())
    return await d.dma_read_aio(0x1000, 16)

# SPDX-License-Identifier: MIT
"""uvf: write and drive vfio-user devices from Python.

A thin layer over libuvf (uvf's C server and client libraries):

- :class:`Client` connects to any vfio-user server (a VMM's view of a device);
- :class:`Device` is subclassed to write a PCI device that any vfio-user
  client (QEMU, uvf's own tools) can use.

Every failing library call raises :class:`Error`, a subclass of OSError
carrying the errno and libuvf's message (``filename`` names the call).
Library log lines go to the ``logging`` loggers ``uvf.client`` and
``uvf.device``.
"""

from ._uvf import (  # noqa: F401
    BAR_64BIT,
    BAR_IO,
    BAR_MEMORY,
    BAR_MMAP,
    BAR_PREFETCH,
    CONFIG_REGION,
    DEVICE_PCI,
    DEVICE_RESET,
    DMA_READ,
    DMA_WRITE,
    ERR_IRQ,
    INTX_IRQ,
    MIGRATION_PRE_COPY,
    MIGRATION_STOP_COPY,
    MSI_32BIT,
    MSI_IRQ,
    MSI_NO_MASK,
    MSIX_IRQ,
    PCIE_TYPE_ENDPOINT,
    PCIE_TYPE_RC_ENDPOINT,
    PM_NO_SOFT_RESET,
    REGION_MMAP,
    REGION_READ,
    REGION_WRITE,
    REQ_IRQ,
    RESET_CLIENT,
    RESET_FLR,
    RESET_PM,
    ROM_REGION,
    STATE_ERROR,
    STATE_PRE_COPY,
    STATE_PRE_COPY_P2P,
    STATE_RESUMING,
    STATE_RUNNING,
    STATE_RUNNING_P2P,
    STATE_STOP,
    STATE_STOP_COPY,
    DeviceInfo,
    Error,
    IrqInfo,
    Memory,
    RegionInfo,
    strerror,
    version,
)
from .client import Client, Interrupt  # noqa: F401
from .device import Device  # noqa: F401

__all__ = [
    "BAR_64BIT",
    "BAR_IO",
    "BAR_MEMORY",
    "BAR_MMAP",
    "BAR_PREFETCH",
    "CONFIG_REGION",
    "DEVICE_PCI",
    "DEVICE_RESET",
    "DMA_READ",
    "DMA_WRITE",
    "ERR_IRQ",
    "INTX_IRQ",
    "MIGRATION_PRE_COPY",
    "MIGRATION_STOP_COPY",
    "MSI_32BIT",
    "MSI_IRQ",
    "MSI_NO_MASK",
    "MSIX_IRQ",
    "PCIE_TYPE_ENDPOINT",
    "PCIE_TYPE_RC_ENDPOINT",
    "PM_NO_SOFT_RESET",
    "REGION_MMAP",
    "REGION_READ",
    "REGION_WRITE",
    "REQ_IRQ",
    "RESET_CLIENT",
    "RESET_FLR",
    "RESET_PM",
    "ROM_REGION",
    "STATE_ERROR",
    "STATE_PRE_COPY",
    "STATE_PRE_COPY_P2P",
    "STATE_RESUMING",
    "STATE_RUNNING",
    "STATE_RUNNING_P2P",
    "STATE_STOP",
    "STATE_STOP_COPY",
    "DeviceInfo",
    "Error",
    "IrqInfo",
    "Memory",
    "RegionInfo",
    "strerror",
    "version",
    "Client",
    "Interrupt",
    "Device",
]

/* SPDX-License-Identifier: MIT */
/*
 * uvf/proto.h - the vfio-user wire format.
 *
 * Every message is a 16-byte header followed by a command-specific payload.
 * All structures are packed and in host (little-endian) byte order. Each
 * payload structure carries a static assertion on its size
 * (UVF_STATIC_ASSERT, in C and in C++) so that a layout mistake fails the
 * build instead of the wire.
 *
 * Payload offsets in the comments count from the end of the header, as in
 * the protocol reference.
 */
#ifndef UVF_PROTO_H
#define UVF_PROTO_H

#include <stdint.h>

#include "uvf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UVF_PACKED __attribute__((packed))

/* ------------------------------------------------------------------ */
/* Header                                                               */
/* ------------------------------------------------------------------ */

struct uvf_msg_header {
	uint16_t msg_id;   /* chosen by the sender of a command, echoed in the reply */
	uint16_t command;  /* enum uvf_command */
	uint32_t msg_size; /* whole message including this header, >= 16 */
	uint32_t flags;    /* UVF_MSG_* below */
	uint32_t error;    /* positive errno in an error reply, else 0 */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_header) == 16, "header is 16 bytes");

#define UVF_MSG_HEADER_SIZE 16u

#define UVF_MSG_TYPE_BITS 0x0fu
#define UVF_MSG_TYPE_COMMAND 0x0u
#define UVF_MSG_TYPE_REPLY 0x1u
#define UVF_MSG_FLAG_NO_REPLY 0x10u
#define UVF_MSG_FLAG_ERROR 0x20u
#define UVF_MSG_FLAGS_KNOWN (UVF_MSG_TYPE_BITS | UVF_MSG_FLAG_NO_REPLY | UVF_MSG_FLAG_ERROR)

enum uvf_command {
	UVF_CMD_VERSION = 1,
	UVF_CMD_DMA_MAP = 2,
	UVF_CMD_DMA_UNMAP = 3,
	UVF_CMD_DEVICE_GET_INFO = 4,
	UVF_CMD_DEVICE_GET_REGION_INFO = 5,
	UVF_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	UVF_CMD_DEVICE_GET_IRQ_INFO = 7,
	UVF_CMD_DEVICE_SET_IRQS = 8,
	UVF_CMD_REGION_READ = 9,
	UVF_CMD_REGION_WRITE = 10,
	UVF_CMD_DMA_READ = 11,
	UVF_CMD_DMA_WRITE = 12,
	UVF_CMD_DEVICE_RESET = 13,
	/* 14 is reserved (the removed DIRTY_PAGES command); never reuse it. */
	UVF_CMD_RESERVED_14 = 14,
	UVF_CMD_REGION_WRITE_MULTI = 15,
	UVF_CMD_DEVICE_FEATURE = 16,
	UVF_CMD_MIGRATION_DATA_READ = 17,
	UVF_CMD_MIGRATION_DATA_WRITE = 18,
	UVF_CMD_MAX = 18,
};

/* Protocol version uvf speaks. */
#define UVF_PROTO_MAJOR 0u
#define UVF_PROTO_MINOR 0u

/* Defaults of the VERSION capabilities when a key is absent (docs/protocol.md 2.3). */
#define UVF_DEFAULT_MAX_MSG_FDS 1u
#define UVF_DEFAULT_MAX_DATA_XFER_SIZE 1048576u
#define UVF_DEFAULT_MAX_DMA_MAPS 65535u
#define UVF_DEFAULT_PGSIZES 4096u

/* ------------------------------------------------------------------ */
/* VERSION (1)                                                          */
/* ------------------------------------------------------------------ */

struct uvf_msg_version {
	uint16_t major;
	uint16_t minor;
	/* followed by optional NUL-terminated JSON, the NUL counted in msg_size */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_version) == 4, "version");

/* ------------------------------------------------------------------ */
/* DMA_MAP (2) / DMA_UNMAP (3)                                          */
/* ------------------------------------------------------------------ */

#define UVF_DMA_MAP_FLAG_READ 0x1u
#define UVF_DMA_MAP_FLAG_WRITE 0x2u
#define UVF_DMA_MAP_FLAG_MMAP 0x4u    /* [ext] access by mmap of the fd */
#define UVF_DMA_MAP_FLAG_FILE_IO 0x8u /* [ext] access by pread/pwrite on the fd */

struct uvf_msg_dma_map {
	uint32_t argsz; /* 32 */
	uint32_t flags;
	uint64_t offset; /* offset of the range in the passed fd, 0 without fd */
	uint64_t address;
	uint64_t size;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_map) == 32, "dma_map");

#define UVF_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP 0x1u /* [legacy] */
#define UVF_DMA_UNMAP_FLAG_ALL 0x2u
#define UVF_DMA_UNMAP_FLAG_VADDR 0x4u /* kernel only, invalid here */

struct uvf_msg_dma_unmap {
	uint32_t argsz; /* request: max reply payload (>= 24); reply: 24 */
	uint32_t flags;
	uint64_t address;
	uint64_t size;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_unmap) == 24, "dma_unmap");

/* [legacy] bitmap header following DMA_UNMAP with GET_DIRTY_BITMAP */
struct uvf_msg_dma_unmap_bitmap {
	uint64_t pgsize;
	uint64_t size; /* bitmap bytes */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_unmap_bitmap) == 16, "dma_unmap_bitmap");

/* ------------------------------------------------------------------ */
/* DEVICE_GET_INFO (4)                                                  */
/* ------------------------------------------------------------------ */

#define UVF_DEVICE_FLAG_RESET 0x1u
#define UVF_DEVICE_FLAG_PCI 0x2u

struct uvf_msg_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_device_info) == 16, "device_info");

/* ------------------------------------------------------------------ */
/* DEVICE_GET_REGION_INFO (5)                                           */
/* ------------------------------------------------------------------ */

#define UVF_REGION_FLAG_READ 0x1u
#define UVF_REGION_FLAG_WRITE 0x2u
#define UVF_REGION_FLAG_MMAP 0x4u
#define UVF_REGION_FLAG_CAPS 0x8u

struct uvf_msg_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset; /* from payload start, >= 32; 0 = no chain */
	uint64_t size;       /* 0 = region not implemented */
	uint64_t offset;     /* mmap offset of the region in its fd */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_info) == 32, "region_info");

#define UVF_REGION_CAP_SPARSE_MMAP 1u
#define UVF_REGION_CAP_TYPE 2u
#define UVF_REGION_CAP_MSIX_MAPPABLE 3u /* kernel only */

struct uvf_msg_region_cap_header {
	uint16_t id;
	uint16_t version;
	uint32_t next; /* from payload start; 0 ends the chain */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_cap_header) == 8, "cap_header");

struct uvf_msg_region_sparse_area {
	uint64_t offset; /* within the region */
	uint64_t size;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_sparse_area) == 16, "sparse_area");

struct uvf_msg_region_cap_sparse_mmap {
	struct uvf_msg_region_cap_header header; /* id 1, version 1 */
	uint32_t nr_areas;
	uint32_t reserved;
	/* followed by nr_areas struct uvf_msg_region_sparse_area */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_cap_sparse_mmap) == 16, "cap_sparse_mmap");

#define UVF_REGION_TYPE_PCI_VENDOR_TYPE 0x80000000u
#define UVF_REGION_TYPE_GFX 1u
#define UVF_REGION_TYPE_CCW 2u
#define UVF_REGION_TYPE_MIGRATION 3u

struct uvf_msg_region_cap_type {
	struct uvf_msg_region_cap_header header; /* id 2, version 1 */
	uint32_t type;
	uint32_t subtype;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_cap_type) == 16, "cap_type");

/* ------------------------------------------------------------------ */
/* DEVICE_GET_REGION_IO_FDS (6)                                         */
/* ------------------------------------------------------------------ */

struct uvf_msg_region_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count; /* request: 0; reply: number of entries */
	/* reply: followed by count entries */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_io_fds) == 16, "region_io_fds");

#define UVF_IO_FD_TYPE_IOEVENTFD 0u
#define UVF_IO_FD_TYPE_IOREGIONFD 1u
#define UVF_IO_FD_TYPE_IOEVENTFD_SHADOW 2u

#define UVF_IOEVENTFD_FLAG_DATAMATCH 0x1u
#define UVF_IOEVENTFD_FLAG_PIO 0x2u
#define UVF_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY 0x8u

/* Spec layout of one entry (40 bytes). */
struct uvf_msg_io_fd_entry {
	uint64_t offset;
	uint64_t size; /* 0 = any access size */
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch; /* ioregionfd: user_data */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_io_fd_entry) == 40, "io_fd_entry");

/* ------------------------------------------------------------------ */
/* DEVICE_GET_IRQ_INFO (7) / DEVICE_SET_IRQS (8)                        */
/* ------------------------------------------------------------------ */

#define UVF_IRQ_INFO_EVENTFD 0x1u
#define UVF_IRQ_INFO_MASKABLE 0x2u
#define UVF_IRQ_INFO_AUTOMASKED 0x4u
#define UVF_IRQ_INFO_NORESIZE 0x8u

struct uvf_msg_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_irq_info) == 16, "irq_info");

#define UVF_IRQ_SET_DATA_NONE 0x01u
#define UVF_IRQ_SET_DATA_BOOL 0x02u
#define UVF_IRQ_SET_DATA_EVENTFD 0x04u
#define UVF_IRQ_SET_DATA_BITS 0x07u
#define UVF_IRQ_SET_ACTION_MASK 0x08u
#define UVF_IRQ_SET_ACTION_UNMASK 0x10u
#define UVF_IRQ_SET_ACTION_TRIGGER 0x20u
#define UVF_IRQ_SET_ACTION_BITS 0x38u

struct uvf_msg_irq_set {
	uint32_t argsz; /* size of this payload including data[] */
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	/* DATA_BOOL: followed by count bytes */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_irq_set) == 20, "irq_set");

/* ------------------------------------------------------------------ */
/* REGION_READ (9) / REGION_WRITE (10)                                  */
/* ------------------------------------------------------------------ */

struct uvf_msg_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	/* READ reply and WRITE request: followed by count bytes */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_region_access) == 16, "region_access");

/* ------------------------------------------------------------------ */
/* DMA_READ (11) / DMA_WRITE (12), server to client                     */
/* ------------------------------------------------------------------ */

struct uvf_msg_dma_access {
	uint64_t address;
	uint64_t count;
	/* DMA_READ reply and DMA_WRITE request: followed by count bytes */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_access) == 16, "dma_access");

/* ------------------------------------------------------------------ */
/* REGION_WRITE_MULTI (15)                                              */
/* ------------------------------------------------------------------ */

#define UVF_WRITE_MULTI_MAX_DATA 8u

struct uvf_msg_write_multi_entry {
	uint64_t offset;
	uint32_t region;
	uint32_t count; /* 1..8 */
	uint8_t data[UVF_WRITE_MULTI_MAX_DATA];
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_write_multi_entry) == 24, "write_multi_entry");

struct uvf_msg_write_multi {
	uint64_t wr_cnt;
	/* request: followed by wr_cnt entries; reply: nothing (wr_cnt = completed) */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_write_multi) == 8, "write_multi");

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE (16), MIG_DATA_READ (17), MIG_DATA_WRITE (18)         */
/* ------------------------------------------------------------------ */

#define UVF_FEATURE_BITS 0xffffu /* the feature index */
#define UVF_FEATURE_GET 0x10000u
#define UVF_FEATURE_SET 0x20000u
#define UVF_FEATURE_PROBE 0x40000u

#define UVF_FEATURE_MIGRATION 1u
#define UVF_FEATURE_MIGRATION_DEVICE_STATE 2u
#define UVF_FEATURE_DMA_LOGGING_START 6u
#define UVF_FEATURE_DMA_LOGGING_STOP 7u
#define UVF_FEATURE_DMA_LOGGING_REPORT 8u

struct uvf_msg_device_feature {
	uint32_t argsz;
	uint32_t flags;
	/* followed by feature data */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_device_feature) == 8, "device_feature");

#define UVF_MIGRATION_STOP_COPY 0x1u
#define UVF_MIGRATION_P2P 0x2u
#define UVF_MIGRATION_PRE_COPY 0x4u

struct uvf_msg_feature_migration {
	uint64_t flags;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_feature_migration) == 8, "feature_migration");

enum uvf_migration_state {
	UVF_MIGRATION_STATE_ERROR = 0,
	UVF_MIGRATION_STATE_STOP = 1,
	UVF_MIGRATION_STATE_RUNNING = 2,
	UVF_MIGRATION_STATE_STOP_COPY = 3,
	UVF_MIGRATION_STATE_RESUMING = 4,
	UVF_MIGRATION_STATE_RUNNING_P2P = 5,
	UVF_MIGRATION_STATE_PRE_COPY = 6,
	UVF_MIGRATION_STATE_PRE_COPY_P2P = 7,
};

struct uvf_msg_feature_migration_state {
	uint32_t device_state;
	uint32_t data_fd; /* unused in vfio-user: 0 or -1 */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_feature_migration_state) == 8, "feature_migration_state");

struct uvf_msg_dma_logging_range {
	uint64_t iova;
	uint64_t length;
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_logging_range) == 16, "dma_logging_range");

struct uvf_msg_dma_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	/* followed by num_ranges struct uvf_msg_dma_logging_range */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_logging_control) == 16, "dma_logging_control");

struct uvf_msg_dma_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	/* reply: followed by the bitmap, u64 words */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_dma_logging_report) == 24, "dma_logging_report");

struct uvf_msg_migration_data {
	uint32_t argsz;
	uint32_t size;
	/* READ reply and WRITE request: followed by size bytes */
} UVF_PACKED;
UVF_STATIC_ASSERT(sizeof(struct uvf_msg_migration_data) == 8, "migration_data");

/* ------------------------------------------------------------------ */
/* PCI region and IRQ indexes                                           */
/* ------------------------------------------------------------------ */

enum uvf_pci_region {
	UVF_PCI_BAR0_REGION = 0,
	UVF_PCI_BAR1_REGION = 1,
	UVF_PCI_BAR2_REGION = 2,
	UVF_PCI_BAR3_REGION = 3,
	UVF_PCI_BAR4_REGION = 4,
	UVF_PCI_BAR5_REGION = 5,
	UVF_PCI_ROM_REGION = 6,
	UVF_PCI_CONFIG_REGION = 7,
	UVF_PCI_VGA_REGION = 8,
	UVF_PCI_NUM_REGIONS = 9,
};

enum uvf_pci_irq {
	UVF_PCI_INTX_IRQ = 0,
	UVF_PCI_MSI_IRQ = 1,
	UVF_PCI_MSIX_IRQ = 2,
	UVF_PCI_ERR_IRQ = 3,
	UVF_PCI_REQ_IRQ = 4,
	UVF_PCI_NUM_IRQS = 5,
};

#define UVF_PCI_CONFIG_SIZE 256u
#define UVF_PCIE_CONFIG_SIZE 4096u

/* ------------------------------------------------------------------ */
/* Deprecated names, removed in the next release                        */
/* ------------------------------------------------------------------ */

/*
 * The names before the naming pass of this release, as aliases of the new
 * ones (CHANGELOG.md has the table; scripts/rename-deprecated.sed renames
 * a program's sources). Define UVF_NO_DEPRECATED to hide them.
 */
#ifndef UVF_NO_DEPRECATED

/* A set of bits of a field ends in _BITS; MASK names IRQ masking only. */
#define UVF_MSG_TYPE_MASK UVF_MSG_TYPE_BITS
#define UVF_IRQ_SET_DATA_MASK UVF_IRQ_SET_DATA_BITS
#define UVF_IRQ_SET_ACTION_MASK_ALL UVF_IRQ_SET_ACTION_BITS
#define UVF_FEATURE_MASK UVF_FEATURE_BITS

/* Migration, spelled in full. */
#define UVF_CMD_MIG_DATA_READ UVF_CMD_MIGRATION_DATA_READ
#define UVF_CMD_MIG_DATA_WRITE UVF_CMD_MIGRATION_DATA_WRITE
#define UVF_FEATURE_MIG_DEVICE_STATE UVF_FEATURE_MIGRATION_DEVICE_STATE
#define uvf_mig_state uvf_migration_state
#define UVF_MIG_STATE_ERROR UVF_MIGRATION_STATE_ERROR
#define UVF_MIG_STATE_STOP UVF_MIGRATION_STATE_STOP
#define UVF_MIG_STATE_RUNNING UVF_MIGRATION_STATE_RUNNING
#define UVF_MIG_STATE_STOP_COPY UVF_MIGRATION_STATE_STOP_COPY
#define UVF_MIG_STATE_RESUMING UVF_MIGRATION_STATE_RESUMING
#define UVF_MIG_STATE_RUNNING_P2P UVF_MIGRATION_STATE_RUNNING_P2P
#define UVF_MIG_STATE_PRE_COPY UVF_MIGRATION_STATE_PRE_COPY
#define UVF_MIG_STATE_PRE_COPY_P2P UVF_MIGRATION_STATE_PRE_COPY_P2P

/* Wire structs take the uvf_msg_ prefix. */
#define uvf_dma_map uvf_msg_dma_map
#define uvf_dma_unmap uvf_msg_dma_unmap
#define uvf_dma_unmap_bitmap uvf_msg_dma_unmap_bitmap
#define uvf_device_info uvf_msg_device_info
#define uvf_region_info uvf_msg_region_info
#define uvf_region_cap_header uvf_msg_region_cap_header
#define uvf_region_sparse_area uvf_msg_region_sparse_area
#define uvf_region_cap_sparse_mmap uvf_msg_region_cap_sparse_mmap
#define uvf_region_cap_type uvf_msg_region_cap_type
#define uvf_region_io_fds uvf_msg_region_io_fds
#define uvf_io_fd_entry uvf_msg_io_fd_entry
#define uvf_irq_info uvf_msg_irq_info
#define uvf_irq_set uvf_msg_irq_set
#define uvf_region_access uvf_msg_region_access
#define uvf_dma_access uvf_msg_dma_access
#define uvf_write_multi_entry uvf_msg_write_multi_entry
#define uvf_write_multi uvf_msg_write_multi
#define uvf_device_feature uvf_msg_device_feature
#define uvf_feature_migration uvf_msg_feature_migration
#define uvf_dma_logging_range uvf_msg_dma_logging_range
#define uvf_dma_logging_control uvf_msg_dma_logging_control
#define uvf_dma_logging_report uvf_msg_dma_logging_report
#define uvf_feature_mig_state uvf_msg_feature_migration_state
#define uvf_mig_data uvf_msg_migration_data

/*
 * struct uvf_version cannot be a macro: it would rename the function
 * uvf_version() too. The old tag stays a struct of its own, with the
 * layout of struct uvf_msg_version (no function takes either).
 */
struct UVF_DEPRECATED uvf_version {
	uint16_t major;
	uint16_t minor;
} UVF_PACKED;

#endif /* UVF_NO_DEPRECATED */

#ifdef __cplusplus
}
#endif

#endif /* UVF_PROTO_H */

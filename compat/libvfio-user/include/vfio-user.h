/* SPDX-License-Identifier: MIT */
/*
 * vfio-user.h - vfio-user wire structures under the names libvfio-user's
 * API gives them (uvf's compat library). Little-endian, packed; the
 * protocol reference is uvf's docs/protocol.md.
 */
#ifndef VFIO_USER_H
#define VFIO_USER_H

#include <inttypes.h>
#include <linux/vfio.h>
#include <linux/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE (1024 * 1024)

enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
	VFIO_USER_MIG_DATA_READ = 17,
	VFIO_USER_MIG_DATA_WRITE = 18,
	VFIO_USER_MAX,
};

enum vfio_user_message_type {
	VFIO_USER_MESSAGE_COMMAND = 0,
	VFIO_USER_MESSAGE_REPLY = 1,
};

#define VFIO_USER_FLAGS_NO_REPLY (0x1)

/* Opens every message (16 bytes). */
struct vfio_user_header {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t msg_size; /* header included */
	struct {
		uint32_t type : 4;
#define VFIO_USER_F_TYPE_COMMAND 0
#define VFIO_USER_F_TYPE_REPLY	 1
		uint32_t no_reply : 1;
		uint32_t error : 1;
		uint32_t resvd : 26;
	} flags;
	uint32_t error_no;
} __attribute__((packed));

struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
	uint8_t data[]; /* JSON capabilities, NUL-terminated */
} __attribute__((packed));

struct vfio_user_device_info {
	uint32_t argsz;
	uint32_t flags; /* VFIO_DEVICE_FLAGS_* */
	uint32_t num_regions;
	uint32_t num_irqs;
} __attribute__((packed));

struct vfio_user_bitmap {
	uint64_t pgsize;
	uint64_t size;
	char data[];
} __attribute__((packed));

struct vfio_user_dma_map {
	uint32_t argsz;
#define VFIO_USER_F_DMA_REGION_READ  (1 << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1 << 1)
	uint32_t flags;
	uint64_t offset; /* in the file sent with the message */
	uint64_t addr;
	uint64_t size;
} __attribute__((packed));

struct vfio_user_dma_unmap {
	uint32_t argsz;
#ifndef VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1 << 0)
#endif
#ifndef VFIO_DMA_UNMAP_FLAG_ALL
#define VFIO_DMA_UNMAP_FLAG_ALL (1 << 1)
#endif
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
} __attribute__((packed));

struct vfio_user_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];
} __attribute__((packed));

struct vfio_user_dma_region_access {
	uint64_t addr;
	uint64_t count;
	uint8_t data[];
} __attribute__((packed));

struct vfio_user_irq_info {
	uint32_t subindex;
} __attribute__((packed));

typedef struct vfio_user_region_io_fds_request {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} __attribute__((packed)) vfio_user_region_io_fds_request_t;

#define VFIO_USER_IO_FD_TYPE_IOEVENTFD	      0
#define VFIO_USER_IO_FD_TYPE_IOREGIONFD	      1
#define VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW 2

typedef struct vfio_user_sub_region_ioeventfd {
	uint64_t gpa_offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t shadow_mem_fd_index;
	uint64_t shadow_offset;
	uint64_t datamatch;
} __attribute__((packed)) vfio_user_sub_region_ioeventfd_t;

typedef struct vfio_user_sub_region_ioregionfd {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t user_data;
} __attribute__((packed)) vfio_user_sub_region_ioregionfd_t;

typedef struct vfio_user_region_io_fds_reply {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} __attribute__((packed)) vfio_user_region_io_fds_reply_t;

struct vfio_user_bitmap_range {
	uint64_t iova;
	uint64_t size;
	struct vfio_user_bitmap bitmap;
} __attribute__((packed));

/* Migration, version 2 (DEVICE_FEATURE and MIG_DATA_READ/WRITE). */
enum vfio_user_device_mig_state {
	VFIO_USER_DEVICE_STATE_ERROR = 0,
	VFIO_USER_DEVICE_STATE_STOP = 1,
	VFIO_USER_DEVICE_STATE_RUNNING = 2,
	VFIO_USER_DEVICE_STATE_STOP_COPY = 3,
	VFIO_USER_DEVICE_STATE_RESUMING = 4,
	VFIO_USER_DEVICE_STATE_RUNNING_P2P = 5,
	VFIO_USER_DEVICE_STATE_PRE_COPY = 6,
	VFIO_USER_DEVICE_STATE_PRE_COPY_P2P = 7,
	VFIO_USER_DEVICE_NUM_STATES = 8,
};

struct vfio_user_device_feature {
	uint32_t argsz;
	uint32_t flags; /* feature number | VFIO_DEVICE_FEATURE_GET/SET/PROBE */
	uint8_t data[];
} __attribute__((packed));

struct vfio_user_device_feature_migration {
	uint64_t flags; /* VFIO_MIGRATION_STOP_COPY, _P2P, _PRE_COPY */
} __attribute__((packed));

struct vfio_user_device_feature_mig_state {
	uint32_t device_state; /* enum vfio_user_device_mig_state */
	uint32_t data_fd;      /* unused by vfio-user */
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_range {
	uint64_t iova;
	uint64_t length;
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
} __attribute__((packed));

struct vfio_user_mig_data {
	uint32_t argsz;
	uint32_t size;
	uint8_t data[];
} __attribute__((packed));

#ifdef __cplusplus
}
#endif

#endif /* VFIO_USER_H */

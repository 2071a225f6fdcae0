/* SPDX-License-Identifier: MIT */
/*
 * libvfio-user.h - libvfio-user's server API, implemented by uvf.
 *
 * A device written for libvfio-user builds and links against this header
 * and libvfio-user.so.0 from uvf unchanged: the names, signatures, struct
 * layouts and constant values are libvfio-user's (its current release,
 * with version 2 migration). Underneath, uvf's server library does the
 * work. What behaves differently, and what this library guarantees
 * beyond libvfio-user (which calls are thread-safe), is listed in uvf's
 * docs/libvfio-user-compat.md.
 *
 * Conventions (libvfio-user's): functions return 0 (or a count) on
 * success, and -1 with errno set on failure; vfu_create_ctx() returns NULL
 * with errno set.
 */
#ifndef LIB_VFIO_USER_H
#define LIB_VFIO_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "pci_caps/dsn.h"
#include "pci_caps/msi.h"
#include "pci_caps/msix.h"
#include "pci_caps/pm.h"
#include "pci_caps/px.h"
#include "pci_defs.h"
#include "vfio-user.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LIB_VFIO_USER_MAJOR 0
#define LIB_VFIO_USER_MINOR 1

/* A client DMA address (IOVA): not a pointer in this process. */
typedef void *vfu_dma_addr_t;

/* A scatter-gather entry; opaque, sized by dma_sg_size(). */
struct dma_sg;
typedef struct dma_sg dma_sg_t;

typedef struct vfu_ctx vfu_ctx_t;

/* Bytes to allocate per dma_sg_t. */
size_t dma_sg_size(void);

/* ------------------------------------------------------------------ */
/* Context life cycle                                                   */
/* ------------------------------------------------------------------ */

/* vfu_attach_ctx() and vfu_run_ctx() do not wait (see each). */
#define LIBVFIO_USER_FLAG_ATTACH_NB (1 << 0)

typedef enum {
	VFU_TRANS_SOCK,
	VFU_TRANS_PIPE, /* libvfio-user's internal testing transport: refused */
	VFU_TRANS_MAX
} vfu_trans_t;

typedef enum {
	VFU_DEV_TYPE_PCI
} vfu_dev_type_t;

/*
 * Create a context for a device served on the UNIX socket `path` (created
 * by vfu_realize_ctx()). flags: LIBVFIO_USER_FLAG_ATTACH_NB or 0. pvt is
 * returned by vfu_get_private(). The device starts with one ERR and one
 * REQ interrupt. NULL with errno: EINVAL (unknown flags, NULL path),
 * ENOTSUP (transport other than VFU_TRANS_SOCK, device type other than
 * PCI), ENOMEM.
 */
vfu_ctx_t *vfu_create_ctx(vfu_trans_t trans, const char *path, int flags, void *pvt, vfu_dev_type_t dev_type);

/*
 * Freeze the description and start listening on the socket. Calling it
 * again does nothing. -1 with errno: EINVAL (a description uvf refuses,
 * logged), EADDRINUSE (a live socket at path), ENOMEM.
 */
int vfu_realize_ctx(vfu_ctx_t *vfu_ctx);

/*
 * Wait for a client and complete its VERSION negotiation. With
 * LIBVFIO_USER_FLAG_ATTACH_NB it does not wait: -1/EAGAIN until a client
 * has negotiated (call again when vfu_get_poll_fd() is readable). -1 with
 * EINVAL before vfu_realize_ctx().
 */
int vfu_attach_ctx(vfu_ctx_t *vfu_ctx);

/* A descriptor to wait on (poll/epoll) for vfu_attach_ctx() and
 * vfu_run_ctx(); with uvf it stays the same for the life of the context. */
int vfu_get_poll_fd(vfu_ctx_t *vfu_ctx);

/*
 * Serve the attached client. Blocking contexts serve until the client
 * leaves; LIBVFIO_USER_FLAG_ATTACH_NB contexts handle what is pending and
 * return. Returns the number of requests handled (0 or more), or -1 with
 * errno: ENOTCONN when the client left (vfu_attach_ctx() accepts the next
 * one), EINVAL before vfu_realize_ctx(), EBUSY while a quiesce the
 * device answered with EBUSY is pending (see vfu_device_quiesce_cb_t).
 */
int vfu_run_ctx(vfu_ctx_t *vfu_ctx);

/* Close the client and the socket, unmap DMA (dma_unregister runs), free
 * everything. The quiesce callback is not called. NULL is accepted. */
void vfu_destroy_ctx(vfu_ctx_t *vfu_ctx);

/* The pvt given to vfu_create_ctx(). */
void *vfu_get_private(vfu_ctx_t *vfu_ctx);

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

/* One message per call, without a trailing newline; level is syslog's. */
typedef void(vfu_log_fn_t)(vfu_ctx_t *vfu_ctx, int level, const char *msg);

/* Log through the context's log function (if level passes its filter). */
void vfu_log(vfu_ctx_t *vfu_ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Install a log function (NULL: none) and the most verbose level passed
 * on (LOG_EMERG..LOG_DEBUG, else -1/EINVAL). uvf's own messages reach it
 * too, mapped to syslog levels. */
int vfu_setup_log(vfu_ctx_t *vfu_ctx, vfu_log_fn_t *log, int level);

/* ------------------------------------------------------------------ */
/* Regions                                                              */
/* ------------------------------------------------------------------ */

/*
 * Region access: copy count bytes at offset of the region into buf (read)
 * or from it (write). Return count, or -1 with errno (sent to the client).
 */
typedef ssize_t(vfu_region_access_cb_t)(vfu_ctx_t *vfu_ctx, char *buf, size_t count, loff_t offset,
					 bool is_write);

#define VFU_REGION_FLAG_READ	  (1 << 0)
#define VFU_REGION_FLAG_WRITE	  (1 << 1)
#define VFU_REGION_FLAG_RW	  (VFU_REGION_FLAG_READ | VFU_REGION_FLAG_WRITE)
#define VFU_REGION_FLAG_MEM	  (1 << 2) /* memory BAR; otherwise I/O */
#define VFU_REGION_FLAG_ALWAYS_CB (1 << 3) /* config space: every access to the callback */
#define VFU_REGION_FLAG_MASK	  (VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM | VFU_REGION_FLAG_ALWAYS_CB)

/*
 * Declare region region_idx (VFU_PCI_DEV_*_REGION_IDX) of `size` bytes,
 * served by region_access. With fd != -1, the region is backed by that
 * file from `offset`; the client may map mmap_areas (offsets in the
 * region; NULL: the whole region) and the library owns fd from then on.
 * The config space region takes no size (PCI decides it) and no fd; its
 * callback handles what the library does not emulate (see
 * docs/libvfio-user-compat.md). -1 with errno EINVAL for bad flags, a bad
 * index, mmap areas without fd or outside the region, or a size uvf
 * refuses; EBUSY after vfu_realize_ctx().
 */
int vfu_setup_region(vfu_ctx_t *vfu_ctx, int region_idx, size_t size, vfu_region_access_cb_t *region_access,
		     int flags, struct iovec *mmap_areas, uint32_t nr_mmap_areas, int fd, uint64_t offset);

/* ------------------------------------------------------------------ */
/* Reset and quiesce                                                    */
/* ------------------------------------------------------------------ */

typedef enum vfu_reset_type {
	VFU_RESET_DEVICE,    /* DEVICE_RESET from the client */
	VFU_RESET_LOST_CONN, /* the client left */
	VFU_RESET_PCI_FLR    /* function level reset through config space */
} vfu_reset_type_t;

/*
 * Quiesce: before DMA_MAP/DMA_UNMAP, a reset or a migration state change
 * the library asks the device to stop using DMA and interrupts. Return 0
 * when done; or -1 with errno EBUSY to finish later with
 * vfu_device_quiesced(): the request is held (vfu_run_ctx() says EBUSY)
 * until then. Any other errno fails the client's request.
 */
typedef int(vfu_device_quiesce_cb_t)(vfu_ctx_t *vfu_ctx);

void vfu_setup_device_quiesce_cb(vfu_ctx_t *vfu_ctx, vfu_device_quiesce_cb_t *quiesce_cb);

/* Finish a quiesce the callback answered with EBUSY (any thread):
 * quiesce_errno 0 lets the held request run at the next vfu_run_ctx(),
 * else it fails with that errno. -1/EINVAL when no quiesce is pending. */
int vfu_device_quiesced(vfu_ctx_t *vfu_ctx, int quiesce_errno);

/* Reset the device; return 0 or -1 with errno. */
typedef int(vfu_reset_cb_t)(vfu_ctx_t *vfu_ctx, vfu_reset_type_t type);

int vfu_setup_device_reset_cb(vfu_ctx_t *vfu_ctx, vfu_reset_cb_t *reset);

/* ------------------------------------------------------------------ */
/* DMA                                                                  */
/* ------------------------------------------------------------------ */

/*
 * A client DMA range: iova always; vaddr (and mapping, page_size, prot)
 * only when the client shared the memory with an fd and it is mapped
 * here.
 */
typedef struct vfu_dma_info {
	struct iovec iova;
	void *vaddr;
	struct iovec mapping;
	size_t page_size;
	uint32_t prot; /* PROT_READ | PROT_WRITE */
} vfu_dma_info_t;

typedef void(vfu_dma_register_cb_t)(vfu_ctx_t *vfu_ctx, vfu_dma_info_t *info);

/* The device must stop using the range before returning. */
typedef void(vfu_dma_unregister_cb_t)(vfu_ctx_t *vfu_ctx, vfu_dma_info_t *info);

/* Enable DMA (needed by vfu_addr_to_sgl()) with optional callbacks;
 * vfu_sgl_get() needs dma_unregister. */
int vfu_setup_device_dma(vfu_ctx_t *vfu_ctx, vfu_dma_register_cb_t *dma_register,
			 vfu_dma_unregister_cb_t *dma_unregister);

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

enum vfu_dev_irq_type {
	VFU_DEV_INTX_IRQ,
	VFU_DEV_MSI_IRQ,
	VFU_DEV_MSIX_IRQ,
	VFU_DEV_ERR_IRQ,
	VFU_DEV_REQ_IRQ,
	VFU_DEV_NUM_IRQS
};

/* Number of vectors of an IRQ type; -1/EINVAL for a bad type or a count
 * uvf refuses (INTx, ERR, REQ: 0 or 1; MSI: 0, 1, 2, 4 .. 32; MSI-X: up
 * to 2048), EBUSY after vfu_realize_ctx(). */
int vfu_setup_device_nr_irqs(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type, uint32_t count);

/* The client masked (mask true) or unmasked vectors [start, start + count). */
typedef void(vfu_dev_irq_state_cb_t)(vfu_ctx_t *vfu_ctx, uint32_t start, uint32_t count, bool mask);

int vfu_setup_irq_state_callback(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type, vfu_dev_irq_state_cb_t *cb);

/*
 * Raise vector subindex in the mode the guest enabled (MSI-X, MSI, else
 * INTx). -1 with errno: EINVAL for a vector out of range or before
 * realize, ENOENT when the client attached no eventfd to it. Thread-safe.
 */
int vfu_irq_trigger(vfu_ctx_t *vfu_ctx, uint32_t subindex);

/* ------------------------------------------------------------------ */
/* Migration (version 2)                                                */
/* ------------------------------------------------------------------ */

typedef enum {
	VFU_MIGR_STATE_STOP,
	VFU_MIGR_STATE_RUNNING,
	VFU_MIGR_STATE_STOP_AND_COPY,
	VFU_MIGR_STATE_PRE_COPY,
	VFU_MIGR_STATE_RESUME
} vfu_migr_state_t;

#define VFU_MIGR_CALLBACKS_VERS 2

typedef struct {
	int version; /* VFU_MIGR_CALLBACKS_VERS */
	/* Enter `state` (each step of a longer path is one call); 0 or -1
	 * with errno. */
	int (*transition)(vfu_ctx_t *vfu_ctx, vfu_migr_state_t state);
	/* PRE_COPY and STOP_AND_COPY: up to count bytes of the device's
	 * state into buf; the count written (0: nothing more now), or -1. */
	ssize_t (*read_data)(vfu_ctx_t *vfu_ctx, void *buf, uint64_t count);
	/* RESUME: take count bytes of state; count, or -1 with errno. */
	ssize_t (*write_data)(vfu_ctx_t *vfu_ctx, void *buf, uint64_t count);
} vfu_migration_callbacks_t;

/* Offer migration (STOP_COPY and PRE_COPY) and dirty page logging. -1
 * with EINVAL for a wrong version or a missing callback, EBUSY after
 * vfu_realize_ctx(). */
int vfu_setup_device_migration_callbacks(vfu_ctx_t *vfu_ctx, const vfu_migration_callbacks_t *callbacks);

/* ------------------------------------------------------------------ */
/* Scatter-gather                                                       */
/* ------------------------------------------------------------------ */

/*
 * Describe [dma_addr, dma_addr + len) as at most max_nr_sgs entries of
 * sgl (one per DMA range it crosses), for prot (PROT_READ/PROT_WRITE).
 * Returns the count; -1 with errno ENOENT when part of it is not mapped,
 * EACCES for a permission the range lacks, EINVAL without
 * vfu_setup_device_dma(); -(x + 1) when x entries are needed.
 */
int vfu_addr_to_sgl(vfu_ctx_t *vfu_ctx, vfu_dma_addr_t dma_addr, size_t len, dma_sg_t *sgl, size_t max_nr_sgs,
		    int prot);

/* Pointers to cnt entries (flags 0) for direct access. -1 with EINVAL
 * without a dma_unregister callback or for flags, EFAULT for a range not
 * mapped in this process (message-based DMA). Thread-safe. */
int vfu_sgl_get(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt, int flags);

/* Mark written entries dirty for migration (vfu_sgl_put() does it). */
void vfu_sgl_mark_dirty(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt);

/* Done with vfu_sgl_get()'s pointers; writable entries are marked dirty. */
void vfu_sgl_put(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt);

/* Copy entry data to/from the client's memory, mapped or not (uvf copies
 * directly where it can, else sends DMA_READ/DMA_WRITE). cnt must be 1
 * (-1/ENOTSUP). -1 with EPERM writing a read-only entry, ENOTCONN
 * without client. Thread-safe. */
int vfu_sgl_read(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt, void *data);
int vfu_sgl_write(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt, void *data);

/* Whether the entry lies in memory mapped in this process. */
bool vfu_sg_is_mappable(vfu_ctx_t *vfu_ctx, dma_sg_t *sg);

/* ------------------------------------------------------------------ */
/* PCI                                                                  */
/* ------------------------------------------------------------------ */

enum {
	VFU_PCI_DEV_BAR0_REGION_IDX,
	VFU_PCI_DEV_BAR1_REGION_IDX,
	VFU_PCI_DEV_BAR2_REGION_IDX,
	VFU_PCI_DEV_BAR3_REGION_IDX,
	VFU_PCI_DEV_BAR4_REGION_IDX,
	VFU_PCI_DEV_BAR5_REGION_IDX,
	VFU_PCI_DEV_ROM_REGION_IDX,
	VFU_PCI_DEV_CFG_REGION_IDX,
	VFU_PCI_DEV_VGA_REGION_IDX,
	VFU_PCI_DEV_NUM_REGIONS,
};

typedef enum {
	VFU_PCI_TYPE_CONVENTIONAL,
	VFU_PCI_TYPE_PCI_X_1,
	VFU_PCI_TYPE_PCI_X_2,
	VFU_PCI_TYPE_EXPRESS
} vfu_pci_type_t;

/*
 * Make the device a PCI function of pci_type with header type hdr_type
 * (PCI_HEADER_TYPE_NORMAL only) and revision id `revision`. Once per
 * context. -1 with EINVAL for a bad type or header, EEXIST when called
 * again. PCI-X types are served as conventional PCI.
 */
int vfu_pci_init(vfu_ctx_t *vfu_ctx, vfu_pci_type_t pci_type, int hdr_type, int revision);

void vfu_pci_set_id(vfu_ctx_t *vfu_ctx, uint16_t vid, uint16_t did, uint16_t ssvid, uint16_t ssid);

void vfu_pci_set_class(vfu_ctx_t *vfu_ctx, uint8_t base, uint8_t sub, uint8_t pi);

/*
 * Config space (256 bytes, 4096 for PCI Express). Before vfu_realize_ctx()
 * the device may fill it (ids, interrupt pin...); what uvf emulates is
 * taken from it at realize. After realize each call refreshes it from
 * the live config space; writes to it then do not reach the client.
 */
vfu_pci_config_space_t *vfu_pci_get_config_space(vfu_ctx_t *vfu_ctx);

#define VFU_CAP_FLAG_EXTENDED (1 << 0)
#define VFU_CAP_FLAG_CALLBACK (1 << 1)
#define VFU_CAP_FLAG_READONLY (1 << 2)

/*
 * Add a capability: data opens with a struct cap_hdr (or struct
 * pcie_ext_cap_hdr with VFU_CAP_FLAG_EXTENDED). PM, MSI, MSI-X and PCI
 * Express are emulated by uvf from their fields; others are copied and
 * the client may write all but their header (unless
 * VFU_CAP_FLAG_READONLY). VFU_CAP_FLAG_CALLBACK sends accesses to the
 * config space region's callback. pos 0 lets the library place it; a
 * non-zero pos must be where uvf places it. Returns the offset, or -1
 * with errno EINVAL (bad flags or data, pos elsewhere), ENOSPC, EBUSY
 * after realize.
 */
ssize_t vfu_pci_add_capability(vfu_ctx_t *vfu_ctx, size_t pos, int flags, void *data);

/* Offset of the first (extended) capability with cap_id, or 0 with errno
 * ENOENT. */
size_t vfu_pci_find_capability(vfu_ctx_t *vfu_ctx, bool extended, int cap_id);

/* Offset of the next one after the capability at pos, or 0 with errno
 * ENOENT (none), EINVAL (pos is not a capability). */
size_t vfu_pci_find_next_capability(vfu_ctx_t *vfu_ctx, bool extended, size_t pos, int cap_id);

/* ------------------------------------------------------------------ */
/* ioeventfds                                                           */
/* ------------------------------------------------------------------ */

/*
 * Have writes of `size` bytes (0: any size) at `gpa_offset` of region
 * region_idx signal eventfd `fd` (the library owns it from now on), with
 * flags VFIO_IOEVENTFD_* (KVM's: only the data match flag is honoured,
 * with datamatch). Shadow ioeventfds (shadow_fd != -1) are refused with
 * ENOTSUP. -1 with EINVAL for a bad region or range, EBUSY after realize.
 */
int vfu_create_ioeventfd(vfu_ctx_t *vfu_ctx, uint32_t region_idx, int fd, size_t gpa_offset, uint32_t size,
			 uint32_t flags, uint64_t datamatch, int shadow_fd, size_t shadow_offset);

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_H */

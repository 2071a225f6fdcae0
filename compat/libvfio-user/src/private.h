/* SPDX-License-Identifier: MIT */
/*
 * private.h - the context behind vfu_ctx_t: what the libvfio-user API
 * describes, kept until vfu_realize_ctx() hands it to uvf, and the
 * bookkeeping that maps uvf's callbacks back onto libvfio-user's.
 */
#ifndef VFU_COMPAT_PRIVATE_H
#define VFU_COMPAT_PRIVATE_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "libvfio-user.h"
#include "uvf/server.h"

/* Exported symbols (the library is built with hidden visibility). */
#define VFU_EXPORT __attribute__((visibility("default")))

/* Set errno and return -1 (or NULL): libvfio-user's error convention. */
static inline int vfu__fail(int err)
{
	errno = err;
	return -1;
}

struct vfu_region {
	size_t size;
	int flags;
	vfu_region_access_cb_t *cb;
	int fd; /* -1 = none; ours once vfu_setup_region() succeeded */
	uint64_t offset;
	uint32_t nr_mmap_areas;
	struct uvf_mmap_area *mmap_areas;
	bool declared; /* handed to uvf (BARs: at vfu_setup_region()) */
	vfu_ctx_t *ctx; /* for uvf's callbacks */
	int index;
};

/* A client DMA range, as vfu_addr_to_sgl() sees it. */
struct vfu_dma_range {
	uint64_t iova, size;
	void *vaddr;
	uint32_t prot; /* PROT_READ | PROT_WRITE */
};

/* The layout of dma_sg_t (opaque to users, sized by dma_sg_size()). */
struct dma_sg {
	uint64_t dma_addr; /* client address of the entry */
	uint64_t length;
	int region;        /* index in the DMA table when the entry was made */
	bool writeable;
	bool mappable;
};

/* A capability the device added, for find/find_next. */
struct vfu_cap {
	uint16_t id;
	bool extended;
	uint16_t offset;
	uint16_t size;
};

#define VFU_MAX_CAPS	 32
#define VFU_MAX_DMA	 65535
#define VFU_CFG_MAX_SIZE 4096

enum vfu_quiesce_state {
	VFU_QUIESCE_NONE,    /* running */
	VFU_QUIESCE_PENDING, /* the callback said EBUSY: waiting for vfu_device_quiesced() */
	VFU_QUIESCE_DONE,    /* quiesced for the request at quiesced_at */
	VFU_QUIESCE_FAILED,  /* failed to, with quiesce_errno, for that request */
};

struct vfu_ctx {
	struct uvf_device *dev;
	char *path;
	int flags;
	void *pvt;
	bool realized;

	/* logging */
	vfu_log_fn_t *log_fn;
	int log_level;

	/* PCI */
	bool pci_inited;
	vfu_pci_type_t pci_type;
	uint8_t revision;
	bool ids_set;
	/* the device's view of config space (vfu_pci_get_config_space()) */
	uint8_t cfg_bytes[VFU_CFG_MAX_SIZE] __attribute__((aligned(8)));
	struct vfu_cap caps[VFU_MAX_CAPS];
	unsigned nr_caps;
	bool generic_cap_added; /* uvf lays its own capabilities out first */
	bool msix_declared;

	struct vfu_region regions[VFU_PCI_DEV_NUM_REGIONS];
	uint32_t irq_count[VFU_DEV_NUM_IRQS];
	vfu_dev_irq_state_cb_t *irq_state_cb[VFU_DEV_NUM_IRQS];

	/* callbacks */
	vfu_reset_cb_t *reset_cb;
	vfu_device_quiesce_cb_t *quiesce_cb;
	vfu_dma_register_cb_t *dma_register;
	vfu_dma_unregister_cb_t *dma_unregister;
	bool dma_enabled;
	vfu_migration_callbacks_t migration;
	bool migration_set;

	/* the client */
	bool attached;    /* past VERSION and not yet reported gone */
	bool arrived;     /* a client negotiated since vfu_attach_ctx() last returned */
	bool in_run;      /* a blocking vfu_run_ctx() is in uvf_device_run() */
	bool client_gone; /* left: vfu_run_ctx() says ENOTCONN once */
	bool held;        /* a request was held for an EBUSY quiesce in this vfu_run_ctx() */

	/* quiesce (dispatch thread; the pending wait also with a device thread) */
	pthread_mutex_t quiesce_lock;
	pthread_cond_t quiesce_cond;
	enum vfu_quiesce_state quiesce;
	int quiesce_errno;
	uint64_t quiesced_at; /* uvf_device_messages_handled() of the request quiesced for */
	bool quiesce_waiter;  /* the thread in uvf waits in vfu__quiesce() for vfu_device_quiesced() */
	bool in_uvf;          /* a thread drives uvf (vfu__enter_uvf) ... */
	pthread_t uvf_thread; /* ... this one */

	/* DMA ranges, sorted by iova; written on the dispatch thread, read by
	 * any thread under dma_lock */
	pthread_rwlock_t dma_lock;
	struct vfu_dma_range *dma;
	unsigned nr_dma, dma_cap;
};

/* ctx.c */
void vfu__logv(vfu_ctx_t *ctx, int level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static inline vfu_pci_config_space_t *vfu__cfg(vfu_ctx_t *ctx)
{
	return (vfu_pci_config_space_t *)(void *)ctx->cfg_bytes;
}
#define vfu__err(ctx, ...) vfu_log((ctx), LOG_ERR, __VA_ARGS__)
#define vfu__debug(ctx, ...) vfu_log((ctx), LOG_DEBUG, __VA_ARGS__)

/* regions.c: declare a BAR to uvf from the region and config space bits */
int vfu__declare_bar(vfu_ctx_t *ctx, int index);
/* realize: what is left (ROM, config space callbacks, IRQs, mmap areas) */
int vfu__realize_regions(vfu_ctx_t *ctx);
void vfu__regions_free(vfu_ctx_t *ctx);

/* pci.c */
int vfu__realize_pci(vfu_ctx_t *ctx);

/* dma.c */
int vfu__dma_map(struct uvf_device *dev, void *data, const struct uvf_dma_range *range);
void vfu__dma_unmap(struct uvf_device *dev, void *data, const struct uvf_dma_range *range);
void vfu__dma_free(vfu_ctx_t *ctx);

/* migration.c: uvf's before_command (holds a command while quiescing) */
int vfu__before_command(struct uvf_device *dev, void *data, uint16_t command, const void *body, size_t len);
/* quiesce before a command that needs it; 0 or -errno */
int vfu__quiesce(vfu_ctx_t *ctx);
/* vfu_run_ctx() returned: the device runs again */
void vfu__unquiesce(vfu_ctx_t *ctx);
/* ctx.c: become the one thread that drives uvf (-EBUSY while a quiesce
 * is pending or another thread does), and stop being it */
int vfu__enter_uvf(vfu_ctx_t *ctx);
void vfu__leave_uvf(vfu_ctx_t *ctx);
int vfu__reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason);
int vfu__realize_migration(vfu_ctx_t *ctx);

#endif /* VFU_COMPAT_PRIVATE_H */

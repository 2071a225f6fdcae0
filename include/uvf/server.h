/* SPDX-License-Identifier: MIT */
/*
 * uvf/server.h - the device-author API.
 *
 * Life cycle of a device:
 *
 *   uvf_device_new()                 create an empty PCI function
 *   uvf_device_set_pci_ids() ...     describe it: ids, BARs, ROM, IRQs,
 *   uvf_device_set_bar()             capabilities, callbacks
 *   uvf_device_listen()              freeze the description, build config
 *                                    space and listen on a UNIX socket
 *   uvf_device_run()                 serve clients until uvf_device_stop()
 *     or uvf_device_poll_fd() +      ... or from your own event loop
 *        uvf_device_dispatch()
 *   uvf_device_free()
 *
 * One client is served at a time; further connections wait in the listen
 * queue. When a client disconnects, its DMA mappings and interrupt eventfds
 * are dropped and the device state is kept; the next client is accepted.
 *
 * Threads. A device is driven by one thread, the dispatch thread (the one
 * calling run/dispatch); every callback runs on it. Description calls
 * (uvf_device_set_*, add_*) are for one thread before uvf_device_listen().
 * Once listening, these may be called from any thread, concurrently with
 * the dispatch thread and with each other:
 *   - uvf_irq_trigger(), uvf_irq_raise(), uvf_irq_set_intx_level(),
 *     uvf_irq_enabled(), uvf_irq_mode(): masks and pending bits are kept
 *     consistent with the client's SET_IRQS and config space writes;
 *   - uvf_dma_read(), uvf_dma_write(), uvf_dma_sg(), uvf_dma_ptr(): the
 *     mapping table is read without a lock; DMA_UNMAP takes a mapping out
 *     of it, then waits until every such call that may still use it has
 *     returned, and only then runs the dma_unmap callback and unmaps the
 *     memory, so a copy never touches memory being unmapped. Pointers
 *     returned by uvf_dma_ptr()/uvf_dma_sg() stay valid until the
 *     dma_unmap callback for their range returns: a device with threads
 *     makes that callback wait until its threads stopped using them.
 *     Message-based DMA from a device thread goes over the twin socket
 *     when the client negotiated one, and is otherwise handed to the
 *     dispatch thread and waited for (it must then be running);
 *   - uvf_dma_read_async()/uvf_dma_write_async() (done runs on the
 *     dispatch thread);
 *   - uvf_device_ioeventfd_fd(), uvf_device_bar_memory(),
 *     uvf_device_log(), uvf_device_stop() (also from a signal handler).
 */
#ifndef UVF_SERVER_H
#define UVF_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvf/common.h"
#include "uvf/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uvf_device;

/* ------------------------------------------------------------------ */
/* Creation and identity                                                */
/* ------------------------------------------------------------------ */

/* Create a device. *out is owned by the caller; free with uvf_device_free().
 * -ENOMEM on allocation failure. */
UVF_API int uvf_device_new(struct uvf_device **out);

/* Stop serving, close the connection and the socket (the socket file is
 * unlinked), drop mappings, free everything; last, the callbacks'
 * free_data, if any, releases their data. NULL is accepted. */
UVF_API void uvf_device_free(struct uvf_device *dev);

/* A pointer for the device author, returned by uvf_device_user_data(). */
UVF_API void uvf_device_set_user_data(struct uvf_device *dev, void *data);
UVF_API void *uvf_device_user_data(struct uvf_device *dev);

/* Replace the logger (fn NULL restores the default). Lines above max_level
 * are not formatted at all. */
UVF_API void uvf_device_set_log(struct uvf_device *dev, uvf_log_fn fn, void *data, enum uvf_log_level max_level);

/* Log a line through the device's logger, for device code. */
UVF_API void uvf_device_log(struct uvf_device *dev, enum uvf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct uvf_pci_ids {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint32_t class_code; /* 24 bits: base class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
};

/* Set the identity shown in config space. vendor_id 0xffff or 0 and
 * class_code above 24 bits are refused (-EINVAL). */
UVF_API int uvf_device_set_pci_ids(struct uvf_device *dev, const struct uvf_pci_ids *ids);

/* ------------------------------------------------------------------ */
/* BARs and ROM                                                         */
/* ------------------------------------------------------------------ */

#define UVF_BAR_IO 0x1u       /* I/O space BAR (otherwise memory) */
#define UVF_BAR_64BIT 0x2u    /* 64-bit memory BAR: uses index and index + 1 */
#define UVF_BAR_PREFETCH 0x4u /* prefetchable memory BAR */
#define UVF_BAR_MEMORY 0x8u   /* backed by zero-filled memory owned by the library */
#define UVF_BAR_MMAP 0x10u    /* with UVF_BAR_MEMORY: that memory is shared (a memfd) and
			       * the client may map it (sparse mmap), see
			       * uvf_device_set_bar_mmap_areas() */
#define UVF_BAR_ACCESS_CALLBACKS 0x20u /* with UVF_BAR_MEMORY: REGION_READ and REGION_WRITE
					* go to the read and write callbacks (read required,
					* write NULL refuses writes), not to the memory, which
					* stays what the client maps and
					* uvf_device_bar_memory() returns */

/*
 * Region access callbacks. offset + len lies inside the BAR (checked by the
 * library); len is 1..max_data_xfer_size. Return 0, or a negative errno which
 * is sent to the client in an error reply. For a UVF_BAR_MEMORY BAR the read
 * callback is not used and the write callback (optional) is called after
 * the memory was updated, so the device can react to a doorbell.
 */
typedef int (*uvf_region_read_fn)(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len);
typedef int (*uvf_region_write_fn)(struct uvf_device *dev, void *data, uint64_t offset, const void *buf,
				   size_t len);

struct uvf_bar_desc {
	uint64_t size;  /* power of two; memory BARs >= 16, I/O BARs 4..256 */
	uint32_t flags; /* UVF_BAR_* */
	uvf_region_read_fn read;   /* required unless UVF_BAR_MEMORY */
	uvf_region_write_fn write; /* required unless UVF_BAR_MEMORY; NULL = read-only */
	void *data;                /* passed to the callbacks */
};

/* Declare BAR index (0..5). A 64-bit BAR takes index and index + 1, so its
 * index is 0..4 and the next one must be free. -EINVAL for a bad
 * description or an index in use, -EBUSY after uvf_device_listen(). */
UVF_API int uvf_device_set_bar(struct uvf_device *dev, unsigned index, const struct uvf_bar_desc *desc);

/* Memory of a UVF_BAR_MEMORY BAR (NULL otherwise); *size receives its size
 * when size is not NULL. Owned by the device; valid until uvf_device_free(). */
UVF_API void *uvf_device_bar_memory(struct uvf_device *dev, unsigned index, size_t *size);

/*
 * Mappable BAR memory. A BAR declared UVF_BAR_MEMORY | UVF_BAR_MMAP (size
 * a multiple of 4096) lives in shared memory that the client maps: its
 * accesses to the mappable areas are plain loads and stores that the
 * device sees in uvf_device_bar_memory() without any message or callback.
 * The device learns of such writes only if it asks: by polling the memory
 * or with an ioeventfd on a doorbell (uvf_device_add_ioeventfd()).
 * REGION_READ/WRITE keep working on the whole BAR (with the write
 * callback, if any). By default the whole BAR is mappable except the
 * pages holding an MSI-X table or PBA (those stay trapped); this call
 * replaces that with `count` areas (1..16, offsets and sizes multiples of
 * 4096, inside the BAR, not overlapping, sorted; pages of the MSI-X table
 * or PBA refused with -EINVAL). -EBUSY after listen. An area that an MSI-X
 * table or PBA declared later falls into is not offered to the client.
 * The memfd is sealed against resizing; a client that cannot receive fds
 * (max_msg_fds 0) is offered no mapping.
 */
struct uvf_mmap_area {
	uint64_t offset; /* from the start of the BAR */
	uint64_t size;
};
UVF_API int uvf_device_set_bar_mmap_areas(struct uvf_device *dev, unsigned index, const struct uvf_mmap_area *areas,
					  unsigned count);

/*
 * Back a mappable BAR (UVF_BAR_MEMORY | UVF_BAR_MMAP, already declared)
 * with the device's own file instead of the library's memfd: the BAR is
 * [offset, offset + size) of fd (offset a multiple of 4096), mapped
 * shared by the library, served to REGION_READ/WRITE from there and
 * offered to the client for mapping (region offset `offset`). The
 * library's memory for the BAR, and its contents, are dropped; a reset
 * leaves the file's contents to the device's reset callback. On
 * success the device owns fd (closed by uvf_device_free()); on failure it
 * stays the caller's. The file is not sealed: the device must keep it
 * at least offset + size long while the device lives. -EINVAL for a BAR
 * that is not mappable memory, a negative fd, an unaligned offset or a
 * file too short; -EBUSY after listen; -errno of fstat/mmap.
 */
UVF_API int uvf_device_set_bar_fd(struct uvf_device *dev, unsigned index, int fd, uint64_t offset);

/*
 * ioeventfds (DEVICE_GET_REGION_IO_FDS). A write of `size` bytes at
 * `offset` of BAR `bar` (and, with UVF_IOEVENTFD_DATAMATCH, of the value
 * `datamatch`) signals an eventfd instead of reaching the BAR: the client
 * library (or a VMM's KVM) writes the eventfd itself, no message is sent.
 * A REGION_WRITE that matches is turned into the same signal, so the device
 * sees one path whatever the client does (like KVM, the written value is
 * not stored; use DATAMATCH when the value matters). Size 0 matches a
 * write of any size (no DATAMATCH then).
 *
 * With fn set, the dispatch thread reads the eventfd and calls
 * fn(dev, data, count), count being the number of signals since the last
 * call. With fn NULL the library does not watch it: a device thread polls
 * uvf_device_ioeventfd_fd() and reads the 8-byte counter itself.
 * Returns an id >= 0, -EINVAL for a bad description (BAR not declared,
 * range outside it, bad size, overlap with another ioeventfd of the same
 * BAR matching the same values, a range in the MSI-X table or PBA declared
 * so far), -EBUSY after listen, -ENOSPC beyond 256 ioeventfds per device,
 * -ENOMEM/-EMFILE. A size-0 ioeventfd turns REGION_WRITEs of 1..8 bytes at
 * its offset into signals; longer ones reach the BAR.
 * DEVICE_GET_REGION_IO_FDS sends at most as many entries (one eventfd
 * each) as the client accepts fds in one message; the ones left out keep
 * working through REGION_WRITE.
 */
#define UVF_IOEVENTFD_DATAMATCH 0x1u

typedef void (*uvf_ioeventfd_fn)(struct uvf_device *dev, void *data, uint64_t count);

#define UVF_IOEVENTFD_DESC_VERSION 2

struct uvf_ioeventfd_desc {
	unsigned version; /* UVF_IOEVENTFD_DESC_VERSION */
	unsigned bar;     /* BAR index 0..5 (memory or I/O) */
	uint64_t offset;  /* in the BAR */
	uint32_t size;    /* 1, 2, 4, 8, or 0 = any */
	uint32_t flags;   /* UVF_IOEVENTFD_DATAMATCH */
	uint64_t datamatch;
	uvf_ioeventfd_fn fn; /* NULL: the device polls the eventfd itself */
	void *data;
	/* version 2 */
	int fd; /* with UVF_IOEVENTFD_DEVICE_FD: the device's own eventfd,
		 * instead of one the library creates. On success the device
		 * owns it (closed by uvf_device_free()); on failure it stays
		 * the caller's */
};

#define UVF_IOEVENTFD_DEVICE_FD 0x2u /* version 2: use desc->fd */

#define UVF_IOEVENTFD_DESC_INIT {UVF_IOEVENTFD_DESC_VERSION, 0, 0, 0, 0, 0, NULL, NULL, -1}

UVF_API int uvf_device_add_ioeventfd(struct uvf_device *dev, const struct uvf_ioeventfd_desc *desc);

/* The eventfd of ioeventfd `id` (owned by the device; do not close), or
 * -ENOENT. Valid from uvf_device_add_ioeventfd() to uvf_device_free(). */
UVF_API int uvf_device_ioeventfd_fd(struct uvf_device *dev, int id);

/* Expansion ROM: the image is copied; the region size is the image size
 * rounded up to a power of two (at least 2 KiB), padded with 0xff. */
UVF_API int uvf_device_set_rom(struct uvf_device *dev, const void *image, size_t size);

/* ------------------------------------------------------------------ */
/* Interrupts                                                           */
/* ------------------------------------------------------------------ */

/*
 * Number of vectors of an IRQ index (enum uvf_pci_irq): INTx 0 or 1 (sets
 * interrupt pin INTA), MSI 0, 1, 2, 4, 8, 16 or 32 (adds an MSI capability,
 * by default with 64-bit addresses and per-vector masking, see
 * uvf_device_set_msi_flags()), MSI-X 0..2048 (vectors only, without a
 * capability: see uvf_device_set_msix() for the capability and its table),
 * ERR and REQ 0 or 1. -EINVAL otherwise, -EBUSY after listen, -EBUSY when
 * adding or removing MSI after uvf_device_add_capability() (library
 * capabilities precede the device's own), and -EBUSY for an MSI-X count
 * other than the one of the MSI-X capability declared.
 */
UVF_API int uvf_device_set_irq_count(struct uvf_device *dev, unsigned index, uint32_t count);

/*
 * Raise vector `vector` of IRQ index `index` by signalling the eventfd the
 * client attached: an edge, or a one-shot for INTx. A vector held back by a
 * mask is latched as pending and delivered when every mask is gone. Masks:
 * the client's (DEVICE_SET_IRQS MASK; INTx is also automasked after each
 * delivery until the client unmasks it), the MSI per-vector mask bits, the
 * MSI-X function mask and, once the client has written the MSI-X table,
 * the table's per-vector mask bits; for INTx the command register's
 * INTx-disable bit. MSI-X and MSI delivery is not gated on the enable bits
 * here (see uvf_irq_raise() for that). INTx also sets the interrupt status
 * bit, until the client unmasks the line after delivery.
 * For INTx under QEMU prefer uvf_irq_set_intx_level(): QEMU unmasks INTx
 * early (on the guest's next BAR access) and a one-shot raised just then
 * can be lost; a level is raised again after that unmask.
 * Returns 0 when delivered or latched, -ENOENT when the client attached no
 * eventfd (and no mask holds the vector), -EINVAL for a bad index or vector.
 */
UVF_API int uvf_irq_trigger(struct uvf_device *dev, unsigned index, uint32_t vector);

/*
 * Raise interrupt `vector` in the mode the guest enabled in config space:
 * MSI-X when its capability is enabled (vector < the MSI-X count), else MSI
 * when enabled (vector < the number of vectors the guest enabled), else
 * INTx (one line shared by every vector: any vector below the device's
 * largest vector count raises it, as uvf_irq_trigger() does). A device with
 * MSI-X vectors but no MSI-X capability counts as MSI-X enabled while the
 * client has an eventfd attached to one of them. Masks and pending bits as
 * for uvf_irq_trigger(). Returns what uvf_irq_trigger() returns, -EINVAL
 * for a vector out of range of the mode, -ENOENT when no mode is usable
 * (no MSI/MSI-X enabled and no INTx).
 */
UVF_API int uvf_irq_raise(struct uvf_device *dev, uint32_t vector);

/* The IRQ index uvf_irq_raise() would use now: UVF_PCI_MSIX_IRQ,
 * UVF_PCI_MSI_IRQ or UVF_PCI_INTX_IRQ, or -ENOENT (-EINVAL before listen). */
UVF_API int uvf_irq_mode(struct uvf_device *dev);

/*
 * Drive the INTx line as a level. Asserting sets the interrupt status bit
 * and signals the client's INTx eventfd unless the line is masked
 * (automask, client mask) or disabled in the command register; whenever
 * the line becomes unmasked or enabled again while still asserted, it is
 * signalled again. Deasserting clears the status bit and anything pending.
 * Asserting an asserted line does nothing. Returns 0 (also without an
 * eventfd: the level is kept), -EINVAL when the device has no INTx or is
 * not listening yet. Use either this or uvf_irq_trigger() for INTx.
 */
UVF_API int uvf_irq_set_intx_level(struct uvf_device *dev, bool asserted);

/* Whether the client has attached an eventfd to (index, vector). */
UVF_API bool uvf_irq_enabled(struct uvf_device *dev, unsigned index, uint32_t vector);

/* ------------------------------------------------------------------ */
/* PCI capabilities                                                     */
/* ------------------------------------------------------------------ */

/*
 * Capabilities the library builds and emulates. They precede the device's
 * own in the chain, in this order: Power Management, MSI, MSI-X, PCI
 * Express; declare them before uvf_device_add_capability() (-EBUSY
 * otherwise). Each returns 0, -EINVAL for a bad argument, -EBUSY after
 * listen. Calling one again replaces its settings.
 */

/* Power Management (version 3): D0 and D3hot, no PME. With
 * UVF_PM_NO_SOFT_RESET the function keeps its state across D3hot -> D0;
 * without it, that transition resets the function like DEVICE_RESET (reset
 * callback with UVF_RESET_PM). */
#define UVF_PM_NO_SOFT_RESET 0x1u
UVF_API int uvf_device_set_pm(struct uvf_device *dev, uint32_t flags);

/* Shape of the MSI capability (default 0: 64-bit, per-vector masking). */
#define UVF_MSI_32BIT	0x1u /* 32-bit message address only */
#define UVF_MSI_NO_MASK 0x2u /* no per-vector mask and pending registers */
UVF_API int uvf_device_set_msi_flags(struct uvf_device *dev, uint32_t flags);

/*
 * MSI-X capability with `count` vectors (1..2048; also sets the MSI-X IRQ
 * count). Its table (16 bytes per vector) lies at table_offset in BAR
 * table_bar and its pending bit array (a bit per vector, in 64-bit words)
 * at pba_offset in BAR pba_bar. Both BARs must already be declared memory
 * BARs; offsets 8-byte aligned; table and PBA inside their BARs and apart.
 * The library serves REGION_READ/WRITE to those two ranges (the device's
 * callbacks, or its UVF_BAR_MEMORY bytes, never see them); the rest of the
 * BARs stay the device's. Table entries start masked; the PBA is read-only.
 */
UVF_API int uvf_device_set_msix(struct uvf_device *dev, uint32_t count, unsigned table_bar, uint32_t table_offset,
				unsigned pba_bar, uint32_t pba_offset);

/* PCI Express capability (version 2) options. */
#define UVF_PCIE_TYPE_ENDPOINT	  0 /* PCI Express endpoint, with a link */
#define UVF_PCIE_TYPE_RC_ENDPOINT 9 /* root complex integrated endpoint, no link */

#define UVF_PCIE_OPTS_VERSION 1

struct uvf_pcie_opts {
	unsigned version;     /* UVF_PCIE_OPTS_VERSION */
	uint8_t port_type;    /* UVF_PCIE_TYPE_* */
	uint16_t max_payload; /* supported max payload: 128, 256, .. 4096 bytes */
	bool flr;             /* offer function level reset (UVF_RESET_FLR) */
	uint8_t link_speed;   /* 1 = 2.5 GT/s, 2 = 5, 3 = 8, 4 = 16, 5 = 32 */
	uint8_t link_width;   /* lanes: 1, 2, 4, 8, 12, 16 or 32 */
};

#define UVF_PCIE_OPTS_INIT {UVF_PCIE_OPTS_VERSION, UVF_PCIE_TYPE_ENDPOINT, 256, false, 1, 1}

/*
 * Add a PCI Express capability (opts NULL = UVF_PCIE_OPTS_INIT). It makes
 * config space 4096 bytes (region 7) with an extended capability chain at
 * 0x100. Device control: error reporting enables, relaxed ordering, max
 * payload (up to the supported size), max read request and no snoop are
 * writable; writing "initiate FLR" resets the function when flr is set.
 * Device status error bits are write-1-to-clear. Link registers report
 * link_speed x link_width.
 */
UVF_API int uvf_device_set_pcie(struct uvf_device *dev, const struct uvf_pcie_opts *opts);

/*
 * Add a capability to the config space chain. `body` holds the bytes after
 * the 2-byte capability header (id, next pointer); `writable` (may be NULL
 * = read-only) is a mask of the same length with the bits the client may
 * change. Returns the config space offset of the capability (>= 0x40), or
 * -ENOSPC when config space is full, -EINVAL for the id of a capability
 * the library builds while that one is declared. Capabilities are laid out
 * in the order they are added, after those the library adds itself.
 */
UVF_API int uvf_device_add_capability(struct uvf_device *dev, uint8_t cap_id, const void *body, size_t len,
				      const void *writable);

/*
 * uvf_device_add_capability() at a config space offset of the device's
 * choice (0 = the next free one, as that call): dword aligned, in
 * 0x40..0xfc, and past every capability declared before it, the library's
 * included (the chain follows the offsets; -EINVAL otherwise). Capabilities
 * declared after it without an offset follow it.
 */
UVF_API int uvf_device_add_capability_at(struct uvf_device *dev, uint16_t offset, uint8_t cap_id, const void *body,
					 size_t len, const void *writable);

/* A vendor-specific capability (id 0x09): `data` (len <= 253 bytes) follows
 * the length byte the library fills in. writable as above, for data. */
UVF_API int uvf_device_add_vendor_capability(struct uvf_device *dev, const void *data, size_t len,
					     const void *writable);

/*
 * Add an extended capability (PCI Express config space, from 0x100): id
 * (1..0xfffe), version (0..15), `body` = the bytes after the 4-byte header,
 * `writable` as above. Needs uvf_device_set_pcie() first (-EINVAL). Returns
 * the offset (>= 0x100, in the order added) or -ENOSPC.
 */
UVF_API int uvf_device_add_ext_capability(struct uvf_device *dev, uint16_t id, uint8_t version, const void *body,
					  size_t len, const void *writable);

/* uvf_device_add_ext_capability() at an offset of the device's choice (0 =
 * the next free one): dword aligned, in 0x100..0xffc, past the extended
 * capabilities declared before it, and 0x100 for the first one (the
 * chain starts there); -EINVAL otherwise. */
UVF_API int uvf_device_add_ext_capability_at(struct uvf_device *dev, uint16_t offset, uint16_t id, uint8_t version,
					     const void *body, size_t len, const void *writable);

/* Config space offset of the first capability with cap_id (or, with
 * extended, of the extended capability with that id): -ENOENT when
 * absent. Before uvf_device_listen() it answers from what was declared so
 * far (offsets do not move as more capabilities are declared); -EINVAL
 * for a conventional cap_id above 0xff. */
UVF_API int uvf_device_find_capability(struct uvf_device *dev, uint16_t cap_id, bool extended);

/*
 * Config space the device serves itself: a client access to bytes in
 * [start, end) of config space goes to fn (reads fill buf; writes hand
 * the bytes over and leave the emulated image alone) instead of the
 * library's emulation; an access straddling the range is split, the
 * parts outside still emulated. Return 0 or a negative errno (sent to the
 * client). Ranges are for when the library's emulation does not fit (a
 * capability with side effects, device-specific registers after the
 * capabilities); [0, 4096) hands over all of config space, BAR sizing
 * and the command register included. Up to 16 ranges, apart from each
 * other: -EINVAL for an empty range, end above 4096, an overlap or fn
 * NULL, -ENOSPC beyond 16, -EBUSY after listen. Runs on the dispatch
 * thread; uvf_device_config_read() gives the emulated bytes.
 */
typedef int (*uvf_config_access_fn)(struct uvf_device *dev, void *data, uint32_t offset, void *buf, size_t len,
				    bool is_write);
UVF_API int uvf_device_set_config_access(struct uvf_device *dev, uint32_t start, uint32_t end,
					 uvf_config_access_fn fn, void *data);

/* Read bytes of the emulated config space (for device code). */
UVF_API int uvf_device_config_read(struct uvf_device *dev, uint32_t offset, void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Callbacks                                                            */
/* ------------------------------------------------------------------ */

enum uvf_reset_reason {
	UVF_RESET_CLIENT = 1, /* DEVICE_RESET from the client */
	UVF_RESET_FLR = 2,    /* function level reset through PCI Express device control */
	UVF_RESET_PM = 3,     /* D3hot -> D0 without No_Soft_Reset */
};

/* Lent to the dma_map/dma_unmap callbacks (owned by the library, valid
 * during the call); later versions only add fields at the end. */
struct uvf_dma_range {
	uint64_t address; /* client DMA address (IOVA) */
	uint64_t size;
	uint32_t prot;    /* UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE */
	void *vaddr;      /* mapped in this process, or NULL for message-based DMA */
};

#define UVF_DEVICE_CALLBACKS_VERSION 2

struct uvf_device_callbacks {
	unsigned version; /* UVF_DEVICE_CALLBACKS_VERSION */
	/* Device reset requested by the client (DEVICE_RESET), or by the
	 * guest (FLR, power state). Config space, library-owned BAR memory,
	 * the MSI-X table, pending interrupts and the INTx level are reset by
	 * the library first. A disconnect is not a reset: device state is kept
	 * (see `client`). Return 0 or -errno (for FLR and PM only logged). */
	int (*reset)(struct uvf_device *dev, void *data, enum uvf_reset_reason reason);
	/* A DMA range was added; returning -errno refuses the DMA_MAP. */
	int (*dma_map)(struct uvf_device *dev, void *data, const struct uvf_dma_range *range);
	/* A DMA range is about to be removed: stop using it before returning. */
	void (*dma_unmap)(struct uvf_device *dev, void *data, const struct uvf_dma_range *range);
	/* The client attached or detached eventfds, or masked/unmasked
	 * vectors, of an IRQ index (informational). */
	void (*irq_state)(struct uvf_device *dev, void *data, unsigned index);
	/* A client connected (after VERSION) or disconnected. */
	void (*client)(struct uvf_device *dev, void *data, bool connected);
	/* Optional: release `data`. Called once by uvf_device_free(), after
	 * every other callback, so device state can live in `data`. Not
	 * called for data replaced by a later uvf_device_set_callbacks(). */
	void (*free_data)(void *data);
	/* version 2 */
	/* A DEVICE_SET_IRQS of vectors [start, start + count) of an IRQ
	 * index succeeded; flags are the request's (UVF_IRQ_SET_DATA_* |
	 * UVF_IRQ_SET_ACTION_*). Called after irq_state. */
	void (*irq_set)(struct uvf_device *dev, void *data, unsigned index, uint32_t start, uint32_t count,
			uint32_t flags);
	/* Optional: called before each client command runs (after
	 * VERSION), with its command number (UVF_CMD_*) and payload.
	 * Return 0 to run it now, or -EAGAIN to hold it, and every command
	 * after it, until uvf_device_resume(): for a device that must finish
	 * work of its own first (I/O in flight before a DMA_UNMAP). It is
	 * called again for the held command when that runs. Other values are
	 * taken as 0. */
	int (*before_command)(struct uvf_device *dev, void *data, uint16_t command, const void *body, size_t len);
};

#define UVF_DEVICE_CALLBACKS_INIT {UVF_DEVICE_CALLBACKS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}

/* Install callbacks (copied); data is passed to each. Versions 1 (without
 * irq_set) and 2 are accepted. */
UVF_API int uvf_device_set_callbacks(struct uvf_device *dev, const struct uvf_device_callbacks *cb, void *data);

/* ------------------------------------------------------------------ */
/* Serving                                                              */
/* ------------------------------------------------------------------ */

#define UVF_SERVE_OPTS_VERSION 2

struct uvf_serve_opts {
	unsigned version;            /* UVF_SERVE_OPTS_VERSION (1 is still accepted) */
	mode_t socket_mode;          /* permissions of the socket file, default 0600 */
	uint32_t max_data_xfer_size; /* advertised; default 1 MiB */
	uint32_t max_msg_fds;        /* advertised; default 8, at most 16 */
	uint32_t max_dma_maps;       /* advertised; default 65535 (the protocol default) */
	int dma_timeout_ms;          /* wait for a DMA_READ/WRITE reply; default 5000 */
	/* version 2 */
	uint32_t poll_us;            /* adaptive polling: uvf_device_run() busy-polls the
				      * connection this long (microseconds) after each
				      * message before sleeping; 0 = off, at most 1000000 */
	bool no_twin_socket;         /* refuse a client's twin-socket offer */
	/* Access control (see docs/security.md). socket_mode and socket_group
	 * apply to uvf_device_listen() only (a socket handed to
	 * uvf_device_listen_fd() is the caller's business). */
	gid_t socket_group;          /* (gid_t)-1 = leave as created; else the socket file
				      * gets this group (before it accepts anyone), typically
				      * with socket_mode 0660; the process must be allowed to
				      * chown to it (-EPERM otherwise) */
	uint32_t peer_check;         /* UVF_PEER_* checks of the connecting process
				      * (SO_PEERCRED); 0 = none. A peer passing none of the
				      * checks set is logged (pid, uid, gid) and closed; the
				      * server keeps listening */
	uid_t peer_uid;              /* for UVF_PEER_UID */
	gid_t peer_gid;              /* for UVF_PEER_GID */
	int handshake_timeout_ms;    /* a client that has not completed VERSION this long
				      * after connecting is dropped (and logged); default
				      * 10000, -1 = never, 0 = the default */
};

/* Peer checks: a client is accepted when it passes at least one of those set. */
#define UVF_PEER_SAME_UID 0x1u /* the peer runs as the server's effective uid */
#define UVF_PEER_UID	  0x2u /* the peer's uid is peer_uid */
#define UVF_PEER_GID	  0x4u /* the peer's (primary) gid is peer_gid */

#define UVF_SERVE_OPTS_INIT                                                                                        \
	{UVF_SERVE_OPTS_VERSION, 0600, 1048576, 8, 65535, 5000, 0, false, (gid_t)-1, 0, 0, 0, 10000}

/*
 * Freeze the description, build config space and listen on a UNIX socket
 * at path (opts may be NULL for defaults). The socket is bound at path
 * itself (the name /proc/net/unix, ss and lsof report) with socket_mode and
 * socket_group applied before it listens. An existing stale socket file is
 * replaced; a live socket (-EADDRINUSE) or a non-socket file (-EEXIST) is
 * not. Starts on one path are serialised by a lock file "path.lock" beside
 * it, removed again before returning (-EBUSY if another process holds it
 * for 2 s, -EEXIST if it is not a regular file). Until it listens, a moment
 * after the file appears, connections are refused (uvf_client_connect()
 * retries). The socket file is removed by uvf_device_free().
 * -EINVAL for bad opts: unknown version, max_data_xfer_size outside
 * 512..64 MiB, max_msg_fds above 16, max_dma_maps 0 or above 65535,
 * poll_us above 1000000, unknown peer_check bits, handshake_timeout_ms
 * below -1. -EPERM when socket_group cannot be applied.
 */
UVF_API int uvf_device_listen(struct uvf_device *dev, const char *path, const struct uvf_serve_opts *opts);

/* Same with an already listening socket fd (e.g. --fd=N). On success the
 * device owns fd and closes it in uvf_device_free(); on failure it stays
 * the caller's. */
UVF_API int uvf_device_listen_fd(struct uvf_device *dev, int fd, const struct uvf_serve_opts *opts);

/* A file descriptor that becomes readable when uvf_device_dispatch() has
 * work to do. Owned by the device. */
UVF_API int uvf_device_poll_fd(struct uvf_device *dev);

/*
 * Do all pending work without blocking: accept a client, process every
 * complete message, watch IRQ unmask eventfds. A misbehaving or departing
 * client is dropped (and logged) and 0 is still returned: only a failure of
 * the device itself (listening socket gone) returns a negative errno.
 * Returns 1 once uvf_device_stop() was called.
 */
UVF_API int uvf_device_dispatch(struct uvf_device *dev);

/* Block serving clients until uvf_device_stop(); returns 0, or a negative
 * errno on a fatal error. */
UVF_API int uvf_device_run(struct uvf_device *dev);

/*
 * Like uvf_device_dispatch(), but runs at most one client message: the
 * first one queued behind a command that was held (see before_command),
 * else the next one from the socket. Bytes of further messages already
 * read stay buffered; while some are, uvf_device_poll_fd() stays readable
 * (so a poll() on it wakes again) and the next call runs the next one.
 * Whether a message ran is told by uvf_device_messages_handled().
 * Returns as uvf_device_dispatch().
 */
UVF_API int uvf_device_dispatch_one(struct uvf_device *dev);

/* Flags of uvf_device_run_flags(). */
#define UVF_RUN_SIGNAL_RETURNS 0x1u /* a signal handler that ran ends the run with -EINTR */

/*
 * uvf_device_run() with flags. With UVF_RUN_SIGNAL_RETURNS, a signal
 * caught by a handler on the dispatch thread while the loop waits (for
 * any handler, SA_RESTART or not: the loop's waits are never restarted)
 * makes it return -EINTR; the client stays connected, a message received
 * in part stays buffered, and the next run or dispatch goes on. Without
 * it the loop goes on waiting, as uvf_device_run() does. -EINVAL for
 * unknown flags.
 */
UVF_API int uvf_device_run_flags(struct uvf_device *dev, unsigned flags);

/* Ask run/dispatch to return. Async-signal-safe and thread-safe. */
UVF_API void uvf_device_stop(struct uvf_device *dev);

/* How many client messages (commands, posted writes and stray replies)
 * the dispatch thread has run since the device was created; for the
 * dispatch thread (e.g. to tell whether a uvf_device_dispatch() call did
 * any work). */
UVF_API uint64_t uvf_device_messages_handled(struct uvf_device *dev);

/* Let the command held by before_command (see struct
 * uvf_device_callbacks) run, with those queued after it, at the next
 * dispatch round. Thread-safe; nothing happens when none is held. */
UVF_API void uvf_device_resume(struct uvf_device *dev);

/* Whether a client is connected and past VERSION. */
UVF_API bool uvf_device_client_connected(struct uvf_device *dev);

/* ------------------------------------------------------------------ */
/* DMA into client memory                                               */
/* ------------------------------------------------------------------ */

/*
 * Copy len bytes between buf and client DMA address addr. Ranges mapped
 * with an fd are copied directly; ranges the client registered without fd
 * are transferred with DMA_READ/DMA_WRITE messages (split at the client's
 * max_data_xfer_size; the call then waits for the client's replies while
 * keeping client commands queued). The range may span several mappings.
 * -EFAULT when part of the range is not mapped, -EACCES when the mapping
 * lacks the needed permission, -ENOTCONN without client, -ETIMEDOUT or the
 * client's errno for a failed message, -ENOMEM when the first DMA of a
 * thread finds no memory for the thread's bookkeeping.
 */
UVF_API int uvf_dma_read(struct uvf_device *dev, uint64_t addr, void *buf, size_t len);
UVF_API int uvf_dma_write(struct uvf_device *dev, uint64_t addr, const void *buf, size_t len);

/*
 * Asynchronous DMA: start copying len bytes between buf and client DMA
 * address addr, and return at once. The library moves the data while it
 * keeps serving the client, and calls done(dev, data, result) exactly once,
 * later, from uvf_device_run/dispatch, with 0 or the errors listed for
 * uvf_dma_read (plus -ENOTCONN if the client leaves, -ECANCELED if the
 * device is freed). buf must stay valid until then. Use this when the DMA
 * may go by message and the client may be waiting for the device (e.g. a
 * guest polling a status register): a synchronous transfer would then wait
 * for a client that waits for us. Transfers progress in the order started.
 * Returns 0 when started (done will be called), or a negative errno (done
 * will not be called).
 */
typedef void (*uvf_dma_done_fn)(struct uvf_device *dev, void *data, int result);
UVF_API int uvf_dma_read_async(struct uvf_device *dev, uint64_t addr, void *buf, size_t len, uvf_dma_done_fn done,
			       void *data);
UVF_API int uvf_dma_write_async(struct uvf_device *dev, uint64_t addr, const void *buf, size_t len,
				uvf_dma_done_fn done, void *data);

/*
 * How many bytes of message-based asynchronous DMA a device may keep in
 * flight on the client's connection, counting each transfer as its length
 * or 4 KiB, whichever is more, reads and writes together. Within it the
 * library never waits to send to a client that is itself blocked sending
 * to us (which would stop both). Derived from the socket's send buffer at
 * VERSION (the library asks for several MiB; the kernel may grant less);
 * 0 before the first client. Any thread.
 */
UVF_API size_t uvf_dma_inflight_max(struct uvf_device *dev);

/*
 * Direct pointer to [addr, addr + len) when it lies in one fd-backed mapping
 * with the permissions in prot (UVF_DMA_MAP_FLAG_*); NULL otherwise. Valid
 * until that range is unmapped (see the dma_unmap callback).
 */
UVF_API void *uvf_dma_ptr(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot);

/*
 * Scatter-gather: translate [addr, addr + len) into at most max_iov
 * pointers into fd-backed mappings, following adjacent mappings, each with
 * the permissions in prot. Returns the number of iovecs filled, -EFAULT
 * when part of the range is unmapped or message-based, -EACCES for a
 * missing permission, -ENOSPC when more than max_iov are needed, -ENOMEM
 * as for uvf_dma_read(). Lifetime
 * as for uvf_dma_ptr().
 */
struct iovec;
UVF_API int uvf_dma_sg(struct uvf_device *dev, uint64_t addr, size_t len, uint32_t prot, struct iovec *iov,
		       int max_iov);

/* ------------------------------------------------------------------ */
/* Live migration (docs/protocol.md 4.15-4.17, 6)                            */
/* ------------------------------------------------------------------ */

/*
 * A device that can migrate installs migration callbacks before listen.
 * The library then offers the MIGRATION feature (STOP_COPY, plus PRE_COPY
 * with UVF_MIGRATION_PRE_COPY in flags), runs the v2 state machine (every
 * multi-step path walked one direct arc at a time, illegal requests
 * refused with -EINVAL and no state change), frames MIG_DATA_READ/WRITE
 * (chunks bounded by the client's max_data_xfer_size) and answers DMA
 * logging (features 6, 7, 8) from bitmaps it keeps per mapping.
 *
 * Callbacks run on the dispatch thread:
 * - transition(from, to) for each direct arc (docs/protocol.md 6.2): quiesce
 *   on RUNNING/PRE_COPY -> STOP/STOP_COPY (stop DMA and interrupts, let
 *   I/O in flight finish or record it in the state), resume on
 *   STOP -> RUNNING, prepare on STOP -> RESUMING, validate and apply on
 *   RESUMING -> STOP (all data is in; an error there rejects the data).
 *   0 or -errno; on -errno the library stays at `from` when the device
 *   says it is still consistent there (return -EAGAIN for that) and goes
 *   to ERROR otherwise; the client's SET gets the error either way.
 * - save(buf, len): in PRE_COPY and STOP_COPY, copy up to len bytes of
 *   the device's stream into buf; return the count (less than len, 0
 *   included, ends the data available now: in PRE_COPY "nothing more for
 *   now", in STOP_COPY the end of the stream), or -errno.
 * - load(buf, len): in RESUMING, consume the next len bytes of the stream
 *   (any chunking); 0 or -errno (the write fails, the state stays).
 * While the device is stopped (STOP, STOP_COPY, RESUMING) region accesses
 * are still delivered (docs/protocol.md 6.1: config and BAR accesses are
 * answered), but the device must not do DMA or raise interrupts: the
 * library latches interrupts raised then as pending (delivered when it
 * runs again) and uvf_dma_* fail with -EBUSY. Which commands are legal in
 * which state is documented in docs/migration.md.
 */
struct uvf_migration_callbacks {
	unsigned version; /* UVF_MIGRATION_CALLBACKS_VERSION */
	int (*transition)(struct uvf_device *dev, void *data, enum uvf_migration_state from, enum uvf_migration_state to);
	ssize_t (*save)(struct uvf_device *dev, void *data, void *buf, size_t len);
	int (*load)(struct uvf_device *dev, void *data, const void *buf, size_t len);
	/* Optional: bytes the device still has to save in this phase
	 * (progress reporting); NULL = unknown. */
	uint64_t (*pending)(struct uvf_device *dev, void *data);
};

#define UVF_MIGRATION_CALLBACKS_VERSION 1

#define UVF_MIGRATION_CALLBACKS_INIT {UVF_MIGRATION_CALLBACKS_VERSION, NULL, NULL, NULL, NULL}

/* flags: UVF_MIGRATION_PRE_COPY (proto.h) to offer PRE_COPY. -EINVAL for a
 * missing callback or unknown flag, -EBUSY after listen. */
UVF_API int uvf_device_set_migration(struct uvf_device *dev, const struct uvf_migration_callbacks *cb, void *data,
				     uint32_t flags);

/* The current migration state (UVF_MIGRATION_STATE_RUNNING without migration). */
UVF_API enum uvf_migration_state uvf_device_migration_state(struct uvf_device *dev);

/*
 * DMA dirty logging. While the client has logging on, every write through
 * uvf_dma_write()/uvf_dma_write_async() to fd-backed memory marks its pages
 * dirty. Device code that writes client memory directly (through
 * uvf_dma_ptr()/uvf_dma_sg() pointers) reports it with this call (any
 * thread; cheap when logging is off). Message-based DMA is not logged (the
 * client sees those writes itself, docs/protocol.md 8.3).
 */
UVF_API void uvf_dma_mark_dirty(struct uvf_device *dev, uint64_t addr, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* UVF_SERVER_H */

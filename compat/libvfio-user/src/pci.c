/* SPDX-License-Identifier: MIT */
/*
 * pci.c - PCI identity, config space and capabilities of the libvfio-user
 * API on uvf.
 *
 * uvf builds and emulates config space itself. The standard header is
 * taken from the device's config space buffer at realize; PM, MSI-X and
 * PCI Express capabilities become uvf's emulated ones (declared at once,
 * so their offsets are final), vendor-specific and DSN capabilities are
 * copied in, and what libvfio-user sends to the config space callback
 * goes there through uvf_device_set_config_access().
 */
#include <errno.h>
#include <string.h>

#include "private.h"

/* uvf's sizes of the capabilities it builds. */
#define CAP_PM_SIZE   8u
#define CAP_MSI_SIZE  24u /* 64-bit, per-vector masking */
#define CAP_MSIX_SIZE 12u
#define CAP_EXP_SIZE  0x3cu

static size_t config_size(const vfu_ctx_t *ctx)
{
	return ctx->pci_type == VFU_PCI_TYPE_EXPRESS || ctx->pci_type == VFU_PCI_TYPE_PCI_X_2 ? PCI_CFG_SPACE_EXP_SIZE
											       : PCI_CFG_SPACE_SIZE;
}

VFU_EXPORT int vfu_pci_init(vfu_ctx_t *ctx, vfu_pci_type_t pci_type, int hdr_type, int revision)
{
	(void)revision; /* libvfio-user ignores it too: hdr.rid is the revision */
	if (!ctx || (unsigned)pci_type > VFU_PCI_TYPE_EXPRESS) {
		vfu__err(ctx, "invalid PCI type %d", (int)pci_type);
		return vfu__fail(EINVAL);
	}
	if (hdr_type != PCI_HEADER_TYPE_NORMAL) {
		vfu__err(ctx, "invalid PCI header type %d", hdr_type);
		return vfu__fail(EINVAL);
	}
	if (ctx->pci_inited) {
		vfu__err(ctx, "PCI config space already set up");
		return vfu__fail(EEXIST);
	}
	ctx->pci_inited = true;
	ctx->pci_type = pci_type;
	return 0;
}

VFU_EXPORT void vfu_pci_set_id(vfu_ctx_t *ctx, uint16_t vid, uint16_t did, uint16_t ssvid, uint16_t ssid)
{
	if (!ctx)
		return;
	vfu__cfg(ctx)->hdr.id.vid = vid;
	vfu__cfg(ctx)->hdr.id.did = did;
	vfu__cfg(ctx)->hdr.ss.vid = ssvid;
	vfu__cfg(ctx)->hdr.ss.sid = ssid;
	ctx->ids_set = true;
}

VFU_EXPORT void vfu_pci_set_class(vfu_ctx_t *ctx, uint8_t base, uint8_t sub, uint8_t pi)
{
	if (!ctx)
		return;
	vfu__cfg(ctx)->hdr.cc.bcc = base;
	vfu__cfg(ctx)->hdr.cc.scc = sub;
	vfu__cfg(ctx)->hdr.cc.pi = pi;
}

/* Bytes the device's own config space tail starts at: after the header
 * and every capability. */
static uint32_t device_area_start(const vfu_ctx_t *ctx, bool extended)
{
	uint32_t end = extended ? PCI_CFG_SPACE_SIZE : PCI_STD_HEADER_SIZEOF;
	for (unsigned i = 0; i < ctx->nr_caps; i++)
		if (ctx->caps[i].extended == extended && ctx->caps[i].offset + ctx->caps[i].size > end)
			end = ctx->caps[i].offset + ctx->caps[i].size;
	if (!extended) {
		/* uvf's MSI capability is there without vfu_pci_add_capability() */
		int msi = uvf_device_find_capability(ctx->dev, PCI_CAP_ID_MSI, false);
		if (msi > 0 && (uint32_t)msi + CAP_MSI_SIZE > end)
			end = (uint32_t)msi + CAP_MSI_SIZE;
	}
	return (end + 3) & ~3u;
}

VFU_EXPORT vfu_pci_config_space_t *vfu_pci_get_config_space(vfu_ctx_t *ctx)
{
	if (!ctx)
		return NULL;
	if (ctx->realized) {
		/* the live emulated part; the device's own tail stays as it is */
		uint32_t tail = device_area_start(ctx, false);
		uvf_device_config_read(ctx->dev, 0, ctx->cfg_bytes, tail);
		if (config_size(ctx) > PCI_CFG_SPACE_SIZE && uvf_device_find_capability(ctx->dev, PCI_CAP_ID_EXP, false) > 0) {
			uint32_t ext_tail = device_area_start(ctx, true);
			uvf_device_config_read(ctx->dev, PCI_CFG_SPACE_SIZE, ctx->cfg_bytes + PCI_CFG_SPACE_SIZE,
					       ext_tail - PCI_CFG_SPACE_SIZE);
		}
	}
	return vfu__cfg(ctx);
}

/* ------------------------------------------------------------------ */
/* Capabilities                                                         */
/* ------------------------------------------------------------------ */

static int cfg_callback(struct uvf_device *dev, void *data, uint32_t offset, void *buf, size_t len, bool is_write)
{
	vfu_ctx_t *ctx = data;
	struct vfu_region *r = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];
	(void)dev;

	if (!r->cb) {
		/* libvfio-user: a copy of the buffer for reads, writes refused */
		if (is_write) {
			vfu__err(ctx, "config space write at %#x: no config space callback", offset);
			return -EINVAL;
		}
		memcpy(buf, ctx->cfg_bytes + offset, len);
		return 0;
	}
	errno = 0;
	ssize_t ret = r->cb(ctx, buf, len, (loff_t)offset, is_write);
	if (ret < 0)
		return errno ? -errno : -EINVAL;
	if ((size_t)ret != len) {
		vfu__err(ctx, "config space %s at %#x: callback did %zd of %zu bytes", is_write ? "write" : "read",
			 offset, ret, len);
		return -EINVAL;
	}
	return 0;
}

static int add_library_cap(vfu_ctx_t *ctx, uint8_t id, const void *data)
{
	switch (id) {
	case PCI_CAP_ID_PM: {
		const struct pmcap *pm = data;
		return uvf_device_set_pm(ctx->dev, pm->pmcs.nsfrst ? UVF_PM_NO_SOFT_RESET : 0);
	}
	case PCI_CAP_ID_MSIX: {
		const struct msixcap *m = data;
		int ret = uvf_device_set_msix(ctx->dev, m->mxc.ts + 1u, m->mtab.tbir, (uint32_t)m->mtab.to << 3,
					      m->mpba.pbir, (uint32_t)m->mpba.pbao << 3);
		if (ret == 0) {
			ctx->msix_declared = true;
			ctx->irq_count[VFU_DEV_MSIX_IRQ] = m->mxc.ts + 1u;
		}
		return ret;
	}
	case PCI_CAP_ID_EXP: {
		const struct pxcap *px = data;
		struct uvf_pcie_opts opts = UVF_PCIE_OPTS_INIT;
		opts.port_type = px->pxcaps.dpt == UVF_PCIE_TYPE_RC_ENDPOINT ? UVF_PCIE_TYPE_RC_ENDPOINT
									       : UVF_PCIE_TYPE_ENDPOINT;
		opts.flr = px->pxdcap.flrc;
		opts.max_payload = (uint16_t)(128u << (px->pxdcap.mps > 5 ? 5 : px->pxdcap.mps));
		return uvf_device_set_pcie(ctx->dev, &opts);
	}
	default:
		return -ENOTSUP;
	}
}

static const char *cap_name(uint16_t id, bool extended)
{
	if (extended)
		return id == PCI_EXT_CAP_ID_DSN ? "Device Serial Number" : "Vendor-Specific";
	switch (id) {
	case PCI_CAP_ID_PM:
		return "Power Management";
	case PCI_CAP_ID_MSIX:
		return "MSI-X";
	case PCI_CAP_ID_EXP:
		return "PCI Express";
	default:
		return "Vendor-Specific";
	}
}

VFU_EXPORT ssize_t vfu_pci_add_capability(vfu_ctx_t *ctx, size_t pos, int flags, void *data)
{
	uint8_t writable[PCI_CFG_SPACE_EXP_SIZE];
	bool extended = flags & VFU_CAP_FLAG_EXTENDED;
	uint16_t id;
	size_t size, hdr;
	int off;

	if (!ctx || !data || (flags & ~(VFU_CAP_FLAG_EXTENDED | VFU_CAP_FLAG_CALLBACK | VFU_CAP_FLAG_READONLY)))
		return vfu__fail(EINVAL);
	if (ctx->realized)
		return vfu__fail(EBUSY);
	if ((flags & VFU_CAP_FLAG_CALLBACK) && !ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].cb) {
		vfu__err(ctx, "capability callback without a config space callback");
		return vfu__fail(EINVAL);
	}
	if (ctx->nr_caps == VFU_MAX_CAPS)
		return vfu__fail(ENOSPC);
	if (extended) {
		if (config_size(ctx) != PCI_CFG_SPACE_EXP_SIZE) {
			vfu__err(ctx, "extended capability on a conventional PCI function");
			return vfu__fail(EINVAL);
		}
		const struct pcie_ext_cap_hdr *h = data;
		id = (uint16_t)h->id;
		hdr = sizeof(*h);
		if (id == PCI_EXT_CAP_ID_DSN)
			size = PCI_EXT_CAP_DSN_SIZEOF;
		else if (id == PCI_EXT_CAP_ID_VNDR)
			size = ((const struct pcie_ext_cap_vsc_hdr *)data)->len;
		else {
			vfu__err(ctx, "unsupported extended capability %#x", id);
			return vfu__fail(ENOTSUP);
		}
		if (size < hdr || size > PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE)
			return vfu__fail(EINVAL);
	} else {
		const struct cap_hdr *h = data;
		id = h->id;
		hdr = sizeof(*h);
		switch (id) {
		case PCI_CAP_ID_PM:
			size = PCI_PM_SIZEOF;
			break;
		case PCI_CAP_ID_EXP:
			size = VFIO_USER_PCI_CAP_EXP_SIZEOF;
			break;
		case PCI_CAP_ID_MSIX:
			size = PCI_CAP_MSIX_SIZEOF;
			break;
		case PCI_CAP_ID_VNDR:
			size = ((const struct vsc *)data)->size;
			if (size < sizeof(struct vsc))
				return vfu__fail(EINVAL);
			break;
		default:
			vfu__err(ctx, "unsupported capability %#x", id);
			return vfu__fail(ENOTSUP);
		}
		if (size > PCI_CFG_SPACE_SIZE - PCI_STD_HEADER_SIZEOF)
			return vfu__fail(EINVAL);
	}

	int ret;
	bool library = !extended && id != PCI_CAP_ID_VNDR;
	if (library) {
		/* uvf lays its own capabilities out before the device's */
		if (ctx->generic_cap_added) {
			vfu__err(ctx, "%s capability after a vendor-specific one: add it first",
				 cap_name(id, extended));
			return vfu__fail(EBUSY);
		}
		ret = add_library_cap(ctx, (uint8_t)id, data);
		off = ret < 0 ? ret : uvf_device_find_capability(ctx->dev, id, false);
	} else {
		/* the client may write all but the header, unless read-only */
		memset(writable, (flags & VFU_CAP_FLAG_READONLY) ? 0 : 0xff, size - hdr);
		if (!extended && id == PCI_CAP_ID_VNDR)
			writable[0] = 0; /* the length byte */
		const uint8_t *body = (const uint8_t *)data + hdr;
		/* at pos when the device gives one (uvf checks it: aligned,
		 * after the capabilities before it) */
		if (pos > UINT16_MAX)
			return vfu__fail(EINVAL);
		off = extended ? uvf_device_add_ext_capability_at(
					 ctx->dev, (uint16_t)pos, id,
					 (uint8_t)((const struct pcie_ext_cap_hdr *)data)->version, body, size - hdr, writable)
			       : uvf_device_add_capability_at(ctx->dev, (uint16_t)pos, (uint8_t)id, body, size - hdr,
							      writable);
		if (off >= 0)
			ctx->generic_cap_added = !extended || ctx->generic_cap_added;
	}
	if (off < 0) {
		vfu__err(ctx, "cannot add %s capability: %s", cap_name(id, extended), strerror(-off));
		return vfu__fail(off == -ENOSPC ? ENOSPC : (off == -ENOTSUP ? ENOTSUP : (off == -EBUSY ? EBUSY : EINVAL)));
	}
	if (pos && (size_t)off != pos) {
		/* uvf lays its own capabilities out: only their offset can be
		 * asked for. The capability stays (uvf cannot take it back). */
		vfu__err(ctx, "%s capability asked at %#zx, uvf places it at %#x", cap_name(id, extended), pos, off);
		return vfu__fail(EINVAL);
	}
	if (flags & VFU_CAP_FLAG_CALLBACK) {
		ret = uvf_device_set_config_access(ctx->dev, (uint32_t)off, (uint32_t)(off + size), cfg_callback, ctx);
		if (ret < 0)
			return vfu__fail(-ret);
	}
	/* the device reads its capability in config space, as it gave it */
	memcpy(ctx->cfg_bytes + off, data, size);
	ctx->caps[ctx->nr_caps++] = (struct vfu_cap){
		.id = id, .extended = extended, .offset = (uint16_t)off, .size = (uint16_t)size};
	vfu__debug(ctx, "added PCI cap \"%s\" size=%#zx offset=%#x", cap_name(id, extended), size, off);
	return off;
}

VFU_EXPORT size_t vfu_pci_find_next_capability(vfu_ctx_t *ctx, bool extended, size_t pos, int cap_id)
{
	uint8_t b[4];

	if (!ctx || pos >= config_size(ctx)) {
		errno = EINVAL;
		return 0;
	}
	if (!ctx->realized) {
		/* before realize: the capabilities added so far, in address order */
		size_t best = 0;
		bool pos_ok = pos == 0;
		for (unsigned i = 0; i < ctx->nr_caps; i++) {
			const struct vfu_cap *c = &ctx->caps[i];
			if (c->extended != extended)
				continue;
			if (c->offset == pos)
				pos_ok = true;
			if (c->offset > pos && c->id == cap_id && (!best || c->offset < best))
				best = c->offset;
		}
		if (!pos_ok) {
			errno = EINVAL;
			return 0;
		}
		if (!best)
			errno = ENOENT;
		return best;
	}
	/* walk the live chain */
	if (extended) {
		uint32_t at = pos ? (uint32_t)pos : PCI_CFG_SPACE_SIZE, hops = 0;
		if (config_size(ctx) != PCI_CFG_SPACE_EXP_SIZE || uvf_device_config_read(ctx->dev, at, b, 4) < 0) {
			errno = pos ? EINVAL : ENOENT;
			return 0;
		}
		uint32_t h = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		if (!pos && (h & 0xffff) == (uint32_t)cap_id && h)
			return at;
		for (at = h >> 20; at >= PCI_CFG_SPACE_SIZE && hops++ < 1024; at = h >> 20) {
			if (uvf_device_config_read(ctx->dev, at, b, 4) < 0)
				break;
			h = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
			if ((h & 0xffff) == (uint32_t)cap_id)
				return at;
		}
		errno = ENOENT;
		return 0;
	}
	uint32_t at, hops = 0;
	if (pos == 0) {
		uvf_device_config_read(ctx->dev, PCI_CAPABILITY_LIST, b, 1);
	} else if (uvf_device_config_read(ctx->dev, (uint32_t)pos + 1, b, 1) < 0) {
		errno = EINVAL;
		return 0;
	}
	for (at = b[0]; at >= PCI_STD_HEADER_SIZEOF && hops++ < 64; at = b[1]) {
		if (uvf_device_config_read(ctx->dev, at, b, 2) < 0)
			break;
		if (b[0] == cap_id)
			return at;
	}
	errno = ENOENT;
	return 0;
}

VFU_EXPORT size_t vfu_pci_find_capability(vfu_ctx_t *ctx, bool extended, int cap_id)
{
	return vfu_pci_find_next_capability(ctx, extended, 0, cap_id);
}

/* ------------------------------------------------------------------ */
/* Realize                                                              */
/* ------------------------------------------------------------------ */

int vfu__realize_pci(vfu_ctx_t *ctx)
{
	const vfu_pci_hdr_t *h = &vfu__cfg(ctx)->hdr;
	struct uvf_pci_ids ids = {
		.vendor_id = h->id.vid,
		.device_id = h->id.did,
		.subsystem_vendor_id = h->ss.vid,
		.subsystem_id = h->ss.sid,
		.class_code = (uint32_t)h->cc.bcc << 16 | (uint32_t)h->cc.scc << 8 | h->cc.pi,
		.revision = h->rid,
	};
	int ret = uvf_device_set_pci_ids(ctx->dev, &ids);
	if (ret < 0) {
		vfu__err(ctx, "PCI ids %04x:%04x refused (set them with vfu_pci_set_id())", ids.vendor_id,
			 ids.device_id);
		return ret;
	}
	/* what libvfio-user hands to the config space callback: all of it
	 * (ALWAYS_CB), or what follows the header and the capabilities */
	struct vfu_region *cfg = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];
	if (cfg->cb && (cfg->flags & VFU_REGION_FLAG_ALWAYS_CB))
		return uvf_device_set_config_access(ctx->dev, 0, (uint32_t)config_size(ctx), cfg_callback, ctx);
	uint32_t tail = device_area_start(ctx, false);
	if (tail < PCI_CFG_SPACE_SIZE) {
		ret = uvf_device_set_config_access(ctx->dev, tail, PCI_CFG_SPACE_SIZE, cfg_callback, ctx);
		if (ret < 0)
			return ret;
	}
	if (config_size(ctx) == PCI_CFG_SPACE_EXP_SIZE && uvf_device_find_capability(ctx->dev, PCI_CAP_ID_EXP, false) > 0) {
		tail = device_area_start(ctx, true);
		/* uvf's chain opens at 0x100 even without extended capabilities */
		if (tail < PCI_CFG_SPACE_SIZE + 4)
			tail = PCI_CFG_SPACE_SIZE + 4;
		if (tail < PCI_CFG_SPACE_EXP_SIZE)
			ret = uvf_device_set_config_access(ctx->dev, tail, PCI_CFG_SPACE_EXP_SIZE, cfg_callback, ctx);
	}
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * The layouts and values of the libvfio-user compatible headers: a program
 * built against libvfio-user must find the same sizes, offsets and
 * constants here. Checked at compile time; the test also runs so that a
 * value read at run time (dma_sg_size()) is covered.
 */
#include <stddef.h>
#include <stdint.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "libvfio-user.h"

/* pci_defs.h */
_Static_assert(sizeof(vfu_pci_hdr_ss_t) == 4, "SS");
_Static_assert(sizeof(vfu_pci_hdr_bist_t) == 1, "BIST");
_Static_assert(sizeof(vfu_bar_t) == 4, "BAR");
_Static_assert(sizeof(vfu_pci_hdr_htype_t) == 1, "HTYPE");
_Static_assert(sizeof(vfu_pci_hdr_cc_t) == 3, "CC");
_Static_assert(sizeof(vfu_pci_hdr_sts_t) == 2, "STS");
_Static_assert(sizeof(vfu_pci_hdr_cmd_t) == 2, "CMD");
_Static_assert(sizeof(vfu_pci_hdr_id_t) == 4, "ID");
_Static_assert(sizeof(vfu_pci_hdr_intr_t) == 2, "INTR");
_Static_assert(sizeof(vfu_pci_hdr_t) == PCI_STD_HEADER_SIZEOF, "PCI header");
_Static_assert(sizeof(vfu_pci_config_space_t) == PCI_CFG_SPACE_SIZE, "config space");
_Static_assert(offsetof(vfu_pci_hdr_t, cmd) == PCI_COMMAND, "cmd");
_Static_assert(offsetof(vfu_pci_hdr_t, sts) == PCI_STATUS, "sts");
_Static_assert(offsetof(vfu_pci_hdr_t, rid) == PCI_REVISION_ID, "rid");
_Static_assert(offsetof(vfu_pci_hdr_t, cc) == PCI_CLASS_PROG, "cc");
_Static_assert(offsetof(vfu_pci_hdr_t, htype) == PCI_HEADER_TYPE, "htype");
_Static_assert(offsetof(vfu_pci_hdr_t, bars) == PCI_BASE_ADDRESS_0, "bars");
_Static_assert(offsetof(vfu_pci_hdr_t, ss) == PCI_SUBSYSTEM_VENDOR_ID, "ss");
_Static_assert(offsetof(vfu_pci_hdr_t, erom) == PCI_ROM_ADDRESS, "erom");
_Static_assert(offsetof(vfu_pci_hdr_t, cap) == PCI_CAPABILITY_LIST, "cap");
_Static_assert(offsetof(vfu_pci_hdr_t, intr) == PCI_INTERRUPT_LINE, "intr");
_Static_assert(offsetof(vfu_pci_hdr_t, mgnt) == PCI_MIN_GNT, "mgnt");
_Static_assert(offsetof(vfu_pci_config_space_t, extended) == PCI_CFG_SPACE_SIZE, "extended");

/* pci_caps */
_Static_assert(sizeof(struct cap_hdr) == 2, "cap_hdr");
_Static_assert(offsetof(struct cap_hdr, next) == PCI_CAP_LIST_NEXT, "cap next");
_Static_assert(sizeof(struct vsc) == 3, "vsc");
_Static_assert(sizeof(struct pcie_ext_cap_hdr) == 4, "ext hdr");
_Static_assert(sizeof(struct pcie_ext_cap_vsc_hdr) == 8, "ext vsc");
_Static_assert(sizeof(struct pc) == 2 && sizeof(struct pmcs) == 2, "pm regs");
_Static_assert(sizeof(struct pmcap) == PCI_PM_SIZEOF, "pmcap");
_Static_assert(offsetof(struct pmcap, pmcs) == PCI_PM_CTRL, "pmcs");
_Static_assert(sizeof(struct mc) == 2 && sizeof(struct ma) == 4, "msi regs");
_Static_assert(sizeof(struct msicap) == 0x18, "msicap");
_Static_assert(offsetof(struct msicap, mua) == PCI_MSI_ADDRESS_HI, "mua");
_Static_assert(offsetof(struct msicap, mmask) == PCI_MSI_MASK_64, "mmask");
_Static_assert(sizeof(struct mxc) == 2 && sizeof(struct mtab) == 4 && sizeof(struct mpba) == 4, "msix regs");
_Static_assert(sizeof(struct msixcap) == PCI_CAP_MSIX_SIZEOF, "msixcap");
_Static_assert(offsetof(struct msixcap, mtab) == PCI_MSIX_TABLE, "mtab");
_Static_assert(offsetof(struct msixcap, mpba) == PCI_MSIX_PBA, "mpba");
_Static_assert(sizeof(struct pxcap) == VFIO_USER_PCI_CAP_EXP_SIZEOF, "pxcap");
_Static_assert(offsetof(struct pxcap, pxdcap) == PCI_EXP_DEVCAP, "pxdcap");
_Static_assert(offsetof(struct pxcap, pxdc) == PCI_EXP_DEVCTL, "pxdc");
_Static_assert(offsetof(struct pxcap, pxlcap) == PCI_EXP_LNKCAP, "pxlcap");
_Static_assert(offsetof(struct pxcap, pxdcap2) == PCI_EXP_DEVCAP2, "pxdcap2");
_Static_assert(offsetof(struct pxcap, pxdc2) == PCI_EXP_DEVCTL2, "pxdc2");
_Static_assert(offsetof(struct pxcap, pxlc2) == PCI_EXP_LNKCTL2, "pxlc2");
_Static_assert(sizeof(struct dsncap) == PCI_EXT_CAP_DSN_SIZEOF, "dsncap");

/* vfio-user.h */
_Static_assert(sizeof(struct vfio_user_header) == 16, "header");
_Static_assert(offsetof(struct vfio_user_header, error_no) == 12, "error_no");
_Static_assert(sizeof(struct vfio_user_version) == 4, "version");
_Static_assert(sizeof(struct vfio_user_device_info) == 16, "device info");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "dma map");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "dma unmap");
_Static_assert(sizeof(struct vfio_user_region_access) == 16, "region access");
_Static_assert(sizeof(struct vfio_user_dma_region_access) == 16, "dma access");
_Static_assert(sizeof(struct vfio_user_bitmap) == 16, "bitmap");
_Static_assert(sizeof(struct vfio_user_bitmap_range) == 32, "bitmap range");
_Static_assert(sizeof(struct vfio_user_sub_region_ioeventfd) == 48, "ioeventfd");
_Static_assert(sizeof(struct vfio_user_sub_region_ioregionfd) == 40, "ioregionfd");
_Static_assert(sizeof(struct vfio_user_region_io_fds_request) == 16, "io fds");
_Static_assert(sizeof(struct vfio_user_device_feature) == 8, "feature");
_Static_assert(sizeof(struct vfio_user_device_feature_mig_state) == 8, "mig state");
_Static_assert(sizeof(struct vfio_user_device_feature_dma_logging_control) == 16, "logging control");
_Static_assert(sizeof(struct vfio_user_device_feature_dma_logging_report) == 24, "logging report");
_Static_assert(sizeof(struct vfio_user_mig_data) == 8, "mig data");
_Static_assert(VFIO_USER_MIG_DATA_WRITE == 18 && VFIO_USER_DEVICE_FEATURE == 16 &&
		       VFIO_USER_REGION_WRITE_MULTI == 15 && VFIO_USER_MAX == 19,
	       "commands");
_Static_assert(VFIO_USER_DEVICE_STATE_PRE_COPY == 6 && VFIO_USER_DEVICE_STATE_RESUMING == 4, "mig states");

/* libvfio-user.h */
_Static_assert(sizeof(vfu_dma_info_t) == 56 && offsetof(vfu_dma_info_t, vaddr) == 16 &&
		       offsetof(vfu_dma_info_t, mapping) == 24 && offsetof(vfu_dma_info_t, page_size) == 40 &&
		       offsetof(vfu_dma_info_t, prot) == 48,
	       "vfu_dma_info_t");
_Static_assert(sizeof(vfu_migration_callbacks_t) == 32 && offsetof(vfu_migration_callbacks_t, transition) == 8 &&
		       offsetof(vfu_migration_callbacks_t, write_data) == 24,
	       "vfu_migration_callbacks_t");
_Static_assert(LIBVFIO_USER_FLAG_ATTACH_NB == 1 && VFU_TRANS_SOCK == 0 && VFU_TRANS_MAX == 2, "transport");
_Static_assert(VFU_REGION_FLAG_READ == 1 && VFU_REGION_FLAG_WRITE == 2 && VFU_REGION_FLAG_MEM == 4 &&
		       VFU_REGION_FLAG_ALWAYS_CB == 8 && VFU_REGION_FLAG_MASK == 15,
	       "region flags");
_Static_assert(VFU_RESET_DEVICE == 0 && VFU_RESET_LOST_CONN == 1 && VFU_RESET_PCI_FLR == 2, "reset types");
_Static_assert(VFU_DEV_INTX_IRQ == 0 && VFU_DEV_MSIX_IRQ == 2 && VFU_DEV_REQ_IRQ == 4 && VFU_DEV_NUM_IRQS == 5,
	       "irq types");
_Static_assert(VFU_MIGR_STATE_STOP == 0 && VFU_MIGR_STATE_RUNNING == 1 && VFU_MIGR_STATE_STOP_AND_COPY == 2 &&
		       VFU_MIGR_STATE_PRE_COPY == 3 && VFU_MIGR_STATE_RESUME == 4 && VFU_MIGR_CALLBACKS_VERS == 2,
	       "migration");
_Static_assert(VFU_PCI_DEV_CFG_REGION_IDX == 7 && VFU_PCI_DEV_VGA_REGION_IDX == 8 && VFU_PCI_DEV_NUM_REGIONS == 9,
	       "regions");
_Static_assert(VFU_PCI_TYPE_CONVENTIONAL == 0 && VFU_PCI_TYPE_EXPRESS == 3, "pci types");
_Static_assert(VFU_CAP_FLAG_EXTENDED == 1 && VFU_CAP_FLAG_CALLBACK == 2 && VFU_CAP_FLAG_READONLY == 4, "cap flags");

static void dma_sg_size_fits_an_entry(void **state)
{
	(void)state;
	/* opaque; room for an address, a length, a region and flags */
	assert_true(dma_sg_size() >= 24);
	assert_true(dma_sg_size() % sizeof(void *) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dma_sg_size_fits_an_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

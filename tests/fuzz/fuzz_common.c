/* SPDX-License-Identifier: MIT */
/* Helpers shared by the fuzz targets (see fuzz_common.h). */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)(fuzz_u8(in) | fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t lo = fuzz_u16(in);
	return lo | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t lo = fuzz_u32(in);
	return lo | (uint64_t)fuzz_u32(in) << 32;
}

const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t max, size_t *len)
{
	const uint8_t *p = in->p;
	*len = max < in->left ? max : in->left;
	in->p += *len;
	in->left -= *len;
	return p;
}

int fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

void fuzz_check_fds(int before, const char *target)
{
	int after = fuzz_count_fds();
	if (after != before) {
		fprintf(stderr, "%s: %d fds open before the input, %d after: an fd leaked\n", target, before, after);
		abort();
	}
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("uvf-fuzz", MFD_CLOEXEC);
	if (fd >= 0 && size && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int fuzz_make_fd(unsigned kind, int *peer)
{
	int pair[2];

	*peer = -1;
	switch (kind % FUZZ_FD_KINDS) {
	case 0:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	case 1:
		return memfd_of(4096);
	case 2:
		return memfd_of(65536);
	case 3:
		return memfd_of(0); /* any access through a mapping of it faults */
	case 4:
		/* a socket, e.g. offered as the twin socket */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
			return -1;
		*peer = pair[1];
		return pair[0];
	case 5:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case 6:
		if (pipe2(pair, O_CLOEXEC | O_NONBLOCK) < 0)
			return -1;
		*peer = pair[1];
		return pair[0];
	default:
		return memfd_of(1u << 20);
	}
}

void fuzz_log_sink(void *data, enum uvf_log_level level, const char *line)
{
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("UVF_FUZZ_LOG") != NULL;
	if (verbose) /* to see what an input does */
		fprintf(stderr, "uvf[%s]: %s\n", uvf_log_level_name(level), line);
	/* touch the line so a bad format shows up under ASan */
	volatile size_t n = strlen(line);
	(void)n;
	(void)data;
}

/* ------------------------------------------------------------------ */
/* The device                                                           */
/* ------------------------------------------------------------------ */

struct regs {
	struct fuzz_device_state *state;
	uint8_t bytes[FUZZ_BAR0_SIZE];
	size_t size;
};

static struct regs bar0_regs, io_regs;

static void dma_done(struct uvf_device *dev, void *data, int result)
{
	struct fuzz_device_state *s = data;
	(void)dev;
	(void)result;
	s->async_pending--;
}

/* BAR 0 command register (0x0c): what a device does with the client's
 * values, DMA and interrupts with address 0x00 and length/vector 0x08. */
static void bar0_command(struct uvf_device *dev, struct fuzz_device_state *s, uint32_t cmd)
{
	uint64_t addr;
	uint32_t len;
	struct iovec iov[4];

	memcpy(&addr, bar0_regs.bytes, 8);
	memcpy(&len, bar0_regs.bytes + 8, 4);
	size_t n = len % (sizeof(s->buf) + 1);
	switch (cmd & 0xff) {
	case 1:
		uvf_dma_read(dev, addr, s->buf, n);
		break;
	case 2:
		uvf_dma_write(dev, addr, s->buf, n);
		break;
	case 3:
		if (s->async_pending < 4 && uvf_dma_read_async(dev, addr, s->buf, n, dma_done, s) == 0)
			s->async_pending++;
		break;
	case 4:
		if (s->async_pending < 4 && uvf_dma_write_async(dev, addr, s->buf, n, dma_done, s) == 0)
			s->async_pending++;
		break;
	case 5: {
		uint8_t *p = uvf_dma_ptr(dev, addr, n, UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE);
		if (p && n) {
			p[0] ^= 1; /* the whole range must be mapped memory */
			p[n - 1] ^= 1;
		}
		break;
	}
	case 6: {
		int k = uvf_dma_sg(dev, addr, n, UVF_DMA_MAP_FLAG_READ, iov, 4);
		for (int i = 0; i < k; i++)
			if (iov[i].iov_len)
				s->scratch[0] += ((volatile uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1];
		break;
	}
	case 7:
		uvf_irq_raise(dev, len);
		break;
	case 8:
		uvf_irq_trigger(dev, (unsigned)(addr & 0xff), len);
		break;
	case 9:
		uvf_irq_set_intx_level(dev, len & 1);
		break;
	case 10:
		uvf_irq_enabled(dev, (unsigned)(addr & 0xff), len);
		uvf_irq_mode(dev);
		break;
	case 11: /* how migration transitions fail (mig_transition) */
		s->scratch[15] = len;
		break;
	case 12: /* a write to client memory behind the library's back */
		uvf_dma_mark_dirty(dev, addr, n);
		break;
	default:
		break;
	}
}

static int regs_read(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	struct regs *r = data;
	(void)dev;
	if (offset > r->size || len > r->size - offset)
		abort(); /* the library promised to check */
	memcpy(buf, r->bytes + offset, len);
	return 0;
}

static int regs_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct regs *r = data;
	if (offset > r->size || len > r->size - offset)
		abort();
	memcpy(r->bytes + offset, buf, len);
	if (r == &bar0_regs && offset <= 0x0c && offset + len > 0x0c) {
		uint32_t cmd;
		memcpy(&cmd, r->bytes + 0x0c, 4);
		bar0_command(dev, r->state, cmd);
	}
	return 0;
}

static int mem_write(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	size_t size;
	uint8_t *mem = uvf_device_bar_memory(dev, (unsigned)(uintptr_t)data, &size);
	if (!mem || offset > size || len > size - offset)
		abort(); /* the memory holds what was written, inside the BAR */
	(void)buf;
	return 0;
}

static int cb_reset(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	(void)dev;
	(void)data;
	(void)reason;
	memset(bar0_regs.bytes, 0, sizeof(bar0_regs.bytes));
	return 0;
}

static int cb_dma_map(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	(void)dev;
	(void)data;
	/* a mapping with memory must be usable over its whole length */
	if (range->vaddr && range->size && (range->prot & UVF_DMA_MAP_FLAG_READ)) {
		volatile uint8_t *p = range->vaddr;
		(void)p[0];
		(void)p[range->size - 1];
	}
	return range->address == 0xdead0000u ? -EPERM : 0;
}

static void ioeventfd_fired(struct uvf_device *dev, void *data, uint64_t count)
{
	(void)dev;
	(void)data;
	(void)count;
}

/* Migration: a state stream of FUZZ_MIG_STREAM bytes per saving phase; a
 * transition into RESUMING fails softly (-EAGAIN) and one out of it hard
 * (-EIO, device to ERROR) when the register file says so, and a load whose
 * first byte is 0xff is refused, so every failure path is reachable. */
#define FUZZ_MIG_STREAM 300u

static int mig_transition(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			  enum uvf_migration_state to)
{
	struct fuzz_device_state *state = data;
	(void)dev;
	state->mig_saved = 0;
	if (to == UVF_MIGRATION_STATE_RESUMING && state->scratch[15] == 1)
		return -EAGAIN;
	if (from == UVF_MIGRATION_STATE_RESUMING && state->scratch[15] == 2)
		return -EIO;
	return 0;
}

static ssize_t mig_save(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	struct fuzz_device_state *state = data;
	(void)dev;
	size_t left = FUZZ_MIG_STREAM - state->mig_saved;
	size_t n = len < left ? len : left;
	memset(buf, 0x6d, n);
	state->mig_saved += n;
	return (ssize_t)n;
}

static int mig_load(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	(void)dev;
	(void)data;
	return len && *(const uint8_t *)buf == 0xff ? -EINVAL : 0;
}

struct uvf_device *fuzz_device_new(struct fuzz_device_state *state)
{
	static const struct uvf_migration_callbacks mig = {
		.version = UVF_MIGRATION_CALLBACKS_VERSION,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
	};
	static const uint8_t vendor[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t vendor_w[8] = {0, 0, 0xff, 0xff, 0x0f, 0, 0, 0};
	static const uint8_t ext[12] = {0xaa, 0xbb, 0xcc, 0xdd};
	static const uint8_t ext_w[12] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t rom[3000] = {0x55, 0xaa};
	struct uvf_pci_ids ids = {0x4f55, 0x0f00, 0x4f55, 0x0001, 0x058000, 1};
	struct uvf_pcie_opts pcie = UVF_PCIE_OPTS_INIT;
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	struct uvf_device *dev;

	memset(state, 0, sizeof(*state));
	memset(&bar0_regs, 0, sizeof(bar0_regs));
	memset(&io_regs, 0, sizeof(io_regs));
	bar0_regs.state = io_regs.state = state;
	bar0_regs.size = FUZZ_BAR0_SIZE;
	io_regs.size = FUZZ_IO_BAR_SIZE;
	if (uvf_device_new(&dev) < 0)
		abort();
	uvf_device_set_log(dev, fuzz_log_sink, NULL, UVF_LOG_DEBUG);

	struct uvf_bar_desc b0 = {FUZZ_BAR0_SIZE, 0, regs_read, regs_write, &bar0_regs};
	struct uvf_bar_desc b1 = {FUZZ_BAR1_SIZE, UVF_BAR_MEMORY, NULL, mem_write, (void *)(uintptr_t)1};
	struct uvf_bar_desc b2 = {FUZZ_BAR2_SIZE, UVF_BAR_MEMORY | UVF_BAR_MMAP | UVF_BAR_64BIT, NULL, NULL, NULL};
	struct uvf_bar_desc b4 = {FUZZ_IO_BAR_SIZE, UVF_BAR_IO, regs_read, regs_write, &io_regs};
	struct uvf_ioeventfd_desc ev1 = {UVF_IOEVENTFD_DESC_VERSION, 1, 0x40, 4, 0, 0, ioeventfd_fired, NULL};
	struct uvf_ioeventfd_desc ev2 = {UVF_IOEVENTFD_DESC_VERSION, 4, 0x10, 2, UVF_IOEVENTFD_DATAMATCH, 0x5a5a,
					 NULL, NULL};
	struct uvf_ioeventfd_desc ev3 = {UVF_IOEVENTFD_DESC_VERSION, 1, 0x80, 0, 0, 0, ioeventfd_fired, NULL};
	pcie.flr = true;
	cb.reset = cb_reset;
	cb.dma_map = cb_dma_map;
	if (uvf_device_set_pci_ids(dev, &ids) < 0 || uvf_device_set_bar(dev, 0, &b0) < 0 ||
	    uvf_device_set_bar(dev, 1, &b1) < 0 || uvf_device_set_bar(dev, 2, &b2) < 0 ||
	    uvf_device_set_bar(dev, 4, &b4) < 0 || uvf_device_set_rom(dev, rom, sizeof(rom)) < 0 ||
	    uvf_device_set_irq_count(dev, UVF_PCI_INTX_IRQ, 1) < 0 ||
	    uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 4) < 0 ||
	    uvf_device_set_irq_count(dev, UVF_PCI_ERR_IRQ, 1) < 0 ||
	    uvf_device_set_irq_count(dev, UVF_PCI_REQ_IRQ, 1) < 0 || uvf_device_set_pm(dev, 0) < 0 ||
	    uvf_device_set_msix(dev, FUZZ_MSIX_VECTORS, 2, FUZZ_MSIX_TABLE, 2, FUZZ_MSIX_PBA) < 0 ||
	    uvf_device_set_pcie(dev, &pcie) < 0 || uvf_device_add_vendor_capability(dev, vendor, 8, vendor_w) < 0 ||
	    uvf_device_add_ext_capability(dev, 0x000b, 1, ext, sizeof(ext), ext_w) < 0 ||
	    uvf_device_add_ioeventfd(dev, &ev1) < 0 || uvf_device_add_ioeventfd(dev, &ev2) < 0 ||
	    uvf_device_add_ioeventfd(dev, &ev3) < 0 || uvf_device_set_callbacks(dev, &cb, state) < 0 ||
	    uvf_device_set_migration(dev, &mig, state, UVF_MIGRATION_PRE_COPY) < 0) {
		fprintf(stderr, "fuzz: cannot describe the device\n");
		abort();
	}
	return dev;
}

/* ------------------------------------------------------------------ */
/* Sockets                                                              */
/* ------------------------------------------------------------------ */

static struct sockaddr_un listen_addr;
static socklen_t listen_addr_len;

int fuzz_listen_fd(void)
{
	static int fd = -1;
	if (fd >= 0)
		return fd;
	listen_addr.sun_family = AF_UNIX;
	/* abstract name: nothing to clean up on disk */
	int n = snprintf(listen_addr.sun_path + 1, sizeof(listen_addr.sun_path) - 1, "uvf-fuzz-%d", (int)getpid());
	listen_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&listen_addr, listen_addr_len) < 0 || listen(fd, 8) < 0) {
		perror("fuzz: listening socket");
		abort();
	}
	return fd;
}

int fuzz_connect(void)
{
	fuzz_listen_fd();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&listen_addr, listen_addr_len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the DMA table: DMA_MAP/DMA_UNMAP rules, lookups at the
 * protocol's limit of 65,535 mappings, uvf_dma_ptr() and uvf_dma_sg()
 * across adjacent mappings, and the map/unmap callbacks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/server_internal.h"

#define PAGE 4096u
#define RW   (UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE)

struct cb_state {
	int maps, unmaps;
	int refuse; /* errno returned by dma_map, 0 = accept */
	struct uvf_dma_range last_unmap;
	bool ptr_seen_in_unmap;	     /* uvf_dma_ptr found the range during dma_unmap */
	uint8_t first_byte_in_unmap; /* the memory was still readable */
};

static struct uvf_device *g_dev;
static struct cb_state g_cb;

static void quiet(void *data, enum uvf_log_level level, const char *line)
{
	(void)data;
	(void)level;
	(void)line;
}

static int on_map(struct uvf_device *dev, void *data, const struct uvf_dma_range *r)
{
	(void)dev;
	(void)r;
	struct cb_state *s = data;
	if (s->refuse)
		return -s->refuse;
	s->maps++;
	return 0;
}

static void on_unmap(struct uvf_device *dev, void *data, const struct uvf_dma_range *r)
{
	struct cb_state *s = data;
	s->unmaps++;
	s->last_unmap = *r;
	s->ptr_seen_in_unmap = uvf_dma_ptr(dev, r->address, 1, 0) != NULL;
	if (r->vaddr)
		s->first_byte_in_unmap = *(volatile uint8_t *)r->vaddr;
}

static int setup(void **state)
{
	(void)state;
	memset(&g_cb, 0, sizeof(g_cb));
	assert_int_equal(uvf_device_new(&g_dev), 0);
	uvf_device_set_log(g_dev, quiet, NULL, UVF_LOG_DEBUG);
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	cb.dma_map = on_map;
	cb.dma_unmap = on_unmap;
	assert_int_equal(uvf_device_set_callbacks(g_dev, &cb, &g_cb), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	uvf_device_free(g_dev);
	g_dev = NULL;
	return 0;
}

static int map(uint64_t addr, uint64_t size, uint32_t prot, int fd, uint64_t offset)
{
	struct uvf_msg_dma_map req = {
		.argsz = sizeof(req), .flags = prot, .offset = offset, .address = addr, .size = size};
	return uvf__dma_map(g_dev, &req, fd);
}

static int unmap(uint64_t addr, uint64_t size)
{
	struct uvf_msg_dma_unmap req = {.argsz = sizeof(req), .address = addr, .size = size};
	return uvf__dma_unmap(g_dev, &req);
}

/* A memfd of `pages` pages, byte i of page p = (p * 7 + i) & 0xff. */
static int make_memfd(unsigned pages)
{
	int fd = memfd_create("uvf-test-dma", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)pages * PAGE), 0);
	uint8_t *p = mmap(NULL, (size_t)pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	for (size_t i = 0; i < (size_t)pages * PAGE; i++)
		p[i] = (uint8_t)((i / PAGE) * 7 + i % PAGE);
	munmap(p, (size_t)pages * PAGE);
	return fd;
}

/* The table takes the fd on success: hand it a duplicate. */
static int map_fd(uint64_t addr, uint64_t size, uint32_t prot, int fd, uint64_t offset)
{
	int dup_fd = dup(fd);
	assert_true(dup_fd >= 0);
	int ret = map(addr, size, prot, dup_fd, offset);
	if (ret < 0)
		close(dup_fd);
	return ret;
}

static uint64_t lcg(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return *seed >> 33;
}

/* ------------------------------------------------------------------ */

static void test_65535_mappings_are_found_and_unmapped_in_random_order(void **state)
{
	(void)state;
	const uint32_t n = 65535;
	/* every other page, so gaps sit between the mappings */
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(map((uint64_t)i * 2 * PAGE, PAGE, RW, -1, 0), 0);
	assert_int_equal(g_dev->dma.count, n);
	assert_int_equal(map((uint64_t)n * 2 * PAGE, PAGE, RW, -1, 0), -ENOSPC); /* the advertised maximum */

	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = (uint64_t)i * 2 * PAGE;
		const struct uvf_dma_mapping *m = uvf__dma_table_find(&g_dev->dma, a);
		assert_non_null(m);
		assert_int_equal(m->address, a);
		assert_true(uvf__dma_table_find(&g_dev->dma, a + PAGE - 1) == m);
		assert_null(uvf__dma_table_find(&g_dev->dma, a + PAGE)); /* the gap */
	}

	uint32_t *order = malloc(n * sizeof(*order));
	assert_non_null(order);
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	uint64_t seed = 42;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(lcg(&seed) % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint64_t a = (uint64_t)order[k] * 2 * PAGE;
		assert_int_equal(unmap(a, PAGE), 0);
		assert_null(uvf__dma_table_find(&g_dev->dma, a));
		/* a neighbour still mapped is still found */
		if (k + 1 < n)
			assert_non_null(uvf__dma_table_find(&g_dev->dma, (uint64_t)order[k + 1] * 2 * PAGE));
	}
	free(order);
	assert_int_equal(g_dev->dma.count, 0);
	assert_null(g_dev->dma.list);
	assert_int_equal(g_cb.maps, (int)n);
	assert_int_equal(g_cb.unmaps, (int)n);
}

static void test_identical_duplicate_is_accepted_and_overlaps_are_refused(void **state)
{
	(void)state;
	assert_int_equal(map(0x10000, 0x4000, RW, -1, 0), 0);
	assert_int_equal(map(0x10000, 0x4000, RW, -1, 0), 0); /* identical: no change */
	assert_int_equal(g_dev->dma.count, 1);
	assert_int_equal(g_cb.maps, 1);
	assert_int_equal(map(0x10000, 0x4000, UVF_DMA_MAP_FLAG_READ, -1, 0), -EEXIST); /* other prot */
	assert_int_equal(map(0x13000, 0x2000, RW, -1, 0), -EEXIST);		       /* tail overlap */
	assert_int_equal(map(0xf000, 0x2000, RW, -1, 0), -EEXIST);		       /* head overlap */
	assert_int_equal(map(0x8000, 0x20000, RW, -1, 0), -EEXIST);		       /* covers it */
	assert_int_equal(map(0x11000, 0x1000, RW, -1, 0), -EEXIST);		       /* inside it */
	assert_int_equal(map(0x14000, 0x1000, RW, -1, 0), 0);			       /* adjacent above */
	assert_int_equal(map(0xf000, 0x1000, RW, -1, 0), 0);			       /* adjacent below */
	assert_int_equal(g_dev->dma.count, 3);

	/* same range from another file: not a duplicate */
	int fd = make_memfd(4);
	assert_int_equal(map_fd(0x10000, 0x4000, RW, fd, 0), -EEXIST);
	/* fd-backed identical duplicate (same file) is accepted */
	assert_int_equal(map_fd(0x40000, 0x4000, RW, fd, 0), 0);
	assert_int_equal(map_fd(0x40000, 0x4000, RW, fd, 0), 0);
	assert_int_equal(g_dev->dma.count, 4);
	close(fd);
}

static void test_range_unmap_removes_every_mapping_inside_and_refuses_cuts(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(map(0x100000 + i * 0x2000, 0x1000, RW, -1, 0), 0);
	/* cuts the first mapping at its head: nothing removed */
	assert_int_equal(unmap(0x100800, 0x8000), -EINVAL);
	/* cuts the last mapping at its tail */
	assert_int_equal(unmap(0x100000, 0x6800), -EINVAL);
	assert_int_equal(g_dev->dma.count, 4);
	assert_int_equal(g_cb.unmaps, 0);
	/* nothing there */
	assert_int_equal(unmap(0x200000, 0x1000), -ENOENT);
	/* the middle two, with the gaps around them */
	assert_int_equal(unmap(0x101000, 0x4000), 0);
	assert_int_equal(g_dev->dma.count, 2);
	assert_int_equal(g_cb.unmaps, 2);
	assert_non_null(uvf__dma_table_find(&g_dev->dma, 0x100000));
	assert_null(uvf__dma_table_find(&g_dev->dma, 0x102000));
	assert_null(uvf__dma_table_find(&g_dev->dma, 0x104000));
	assert_non_null(uvf__dma_table_find(&g_dev->dma, 0x106000));

	/* a range ending exactly at 2^64 */
	assert_int_equal(map(UINT64_MAX - 0xfff - 0x1000, 0x1000, RW, -1, 0), 0);
	assert_int_equal(map(UINT64_MAX - 0xfff, 0x1000, RW, -1, 0), 0);
	assert_non_null(uvf__dma_table_find(&g_dev->dma, UINT64_MAX));
	assert_int_equal(unmap(0x8000000000000000ull, 0x8000000000000000ull), 0);
	assert_null(uvf__dma_table_find(&g_dev->dma, UINT64_MAX));
	assert_int_equal(g_dev->dma.count, 2);
}

static void test_unmap_all_empties_the_table_and_tells_the_device(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(map(i * 0x10000, 0x1000, RW, -1, 0), 0);
	struct uvf_msg_dma_unmap all = {.argsz = sizeof(all), .flags = UVF_DMA_UNMAP_FLAG_ALL};
	assert_int_equal(uvf__dma_unmap(g_dev, &all), 0);
	assert_int_equal(g_dev->dma.count, 0);
	assert_int_equal(g_cb.unmaps, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_null(uvf__dma_table_find(&g_dev->dma, i * 0x10000));
	/* usable again */
	assert_int_equal(map(0, 0x1000, RW, -1, 0), 0);
}

static void test_fd_mapping_beyond_the_file_size_is_refused(void **state)
{
	(void)state;
	int fd = make_memfd(2);
	assert_int_equal(map_fd(0x1000, 3 * PAGE, RW, fd, 0), -EINVAL);
	assert_int_equal(map_fd(0x1000, PAGE, RW, fd, 2 * PAGE), -EINVAL);
	assert_int_equal(map_fd(0x1000, PAGE, RW, fd, PAGE), 0); /* the last page */
	assert_int_equal(g_dev->dma.count, 1);
	close(fd);
}

static void test_refused_map_is_not_added(void **state)
{
	(void)state;
	g_cb.refuse = EPERM;
	assert_int_equal(map(0x1000, PAGE, RW, -1, 0), -EPERM);
	assert_null(uvf__dma_table_find(&g_dev->dma, 0x1000));
	g_cb.refuse = 0;
	assert_int_equal(map(0x1000, PAGE, RW, -1, 0), 0);
}

static void test_dma_ptr_stays_inside_one_mapping_with_its_permissions(void **state)
{
	(void)state;
	int fd = make_memfd(4);
	assert_int_equal(map_fd(0x10000, 2 * PAGE, RW, fd, 0), 0);
	assert_int_equal(map_fd(0x12000, PAGE, UVF_DMA_MAP_FLAG_READ, fd, 2 * PAGE), 0);
	assert_int_equal(map(0x13000, PAGE, RW, -1, 0), 0);

	uint8_t *p = uvf_dma_ptr(g_dev, 0x10001, 16, RW);
	assert_non_null(p);
	assert_int_equal(p[0], 1);
	assert_non_null(uvf_dma_ptr(g_dev, 0x10000, 2 * PAGE, RW));	     /* all of it */
	assert_null(uvf_dma_ptr(g_dev, 0x10000, 2 * PAGE + 1, RW));	     /* one byte more */
	assert_null(uvf_dma_ptr(g_dev, 0x12000, 4, UVF_DMA_MAP_FLAG_WRITE)); /* read-only */
	assert_non_null(uvf_dma_ptr(g_dev, 0x12000, 4, UVF_DMA_MAP_FLAG_READ));
	assert_null(uvf_dma_ptr(g_dev, 0x13000, 4, 0)); /* by message: no pointer */
	assert_null(uvf_dma_ptr(g_dev, 0x20000, 4, 0)); /* unmapped */
	assert_null(uvf_dma_ptr(g_dev, 0x10000, 0, 0));
	close(fd);
}

static void test_sg_follows_adjacent_mappings(void **state)
{
	(void)state;
	enum { N = 64 };
	int fd = make_memfd(N);
	/* page p of the file at DMA address 0x100000 + p * PAGE, each its own
	 * mapping */
	for (unsigned p = 0; p < N; p++)
		assert_int_equal(map_fd(0x100000 + p * PAGE, PAGE, RW, fd, (uint64_t)p * PAGE), 0);

	struct iovec iov[N];
	/* from the middle of page 3 to the middle of page 60 */
	uint64_t start = 0x100000 + 3 * PAGE + 100;
	size_t len = 57 * PAGE;
	int n = uvf_dma_sg(g_dev, start, len, RW, iov, N);
	assert_true(n >= 1 && n <= 58);
	size_t total = 0, at = 3 * PAGE + 100;
	for (int i = 0; i < n; i++) {
		const uint8_t *b = iov[i].iov_base;
		for (size_t k = 0; k < iov[i].iov_len; k++, at++)
			assert_int_equal(b[k], (uint8_t)((at / PAGE) * 7 + at % PAGE));
		total += iov[i].iov_len;
	}
	assert_int_equal(total, len);

	/* the pieces are where uvf_dma_ptr says */
	assert_ptr_equal(iov[0].iov_base, uvf_dma_ptr(g_dev, start, 1, RW));

	/* a write through the iovecs reaches the file */
	memset(iov[0].iov_base, 0xab, 1);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 3 * PAGE + 100), 1);
	assert_int_equal(b, 0xab);

	/* too few iovecs */
	assert_int_equal(uvf_dma_sg(g_dev, start, len, RW, iov, 0), -ENOSPC);
	if (n > 1)
		assert_int_equal(uvf_dma_sg(g_dev, start, len, RW, iov, n - 1), -ENOSPC);
	/* empty */
	assert_int_equal(uvf_dma_sg(g_dev, start, 0, RW, iov, N), 0);
	/* one byte past the last mapping */
	assert_int_equal(uvf_dma_sg(g_dev, 0x100000, (size_t)N * PAGE + 1, RW, iov, N), -EFAULT);
	/* a hole */
	assert_int_equal(unmap(0x100000 + 10 * PAGE, PAGE), 0);
	assert_int_equal(uvf_dma_sg(g_dev, 0x100000, 20 * PAGE, RW, iov, N), -EFAULT);
	assert_int_equal(uvf_dma_sg(g_dev, 0x100000, 10 * PAGE, RW, iov, N) > 0, 1); /* up to the hole */
	/* permissions */
	assert_int_equal(unmap(0x100000 + 11 * PAGE, PAGE), 0);
	assert_int_equal(map_fd(0x100000 + 11 * PAGE, PAGE, UVF_DMA_MAP_FLAG_READ, fd, 11 * PAGE), 0);
	assert_int_equal(uvf_dma_sg(g_dev, 0x100000 + 11 * PAGE, 2 * PAGE, RW, iov, N), -EACCES);
	assert_true(uvf_dma_sg(g_dev, 0x100000 + 11 * PAGE, 2 * PAGE, UVF_DMA_MAP_FLAG_READ, iov, N) > 0);
	/* message-based */
	assert_int_equal(map(0x200000, PAGE, RW, -1, 0), 0);
	assert_int_equal(uvf_dma_sg(g_dev, 0x200000, 4, 0, iov, N), -EFAULT);
	/* bad arguments */
	assert_int_equal(uvf_dma_sg(g_dev, 0x100000, 4, RW, NULL, 1), -EINVAL);
	assert_int_equal(uvf_dma_sg(NULL, 0x100000, 4, RW, iov, 1), -EINVAL);
	assert_int_equal(uvf_dma_sg(g_dev, UINT64_MAX, 2, 0, iov, N), -EFAULT); /* wraps */
	close(fd);
}

static void test_unmap_callback_runs_after_removal_while_memory_stays(void **state)
{
	(void)state;
	int fd = make_memfd(2);
	assert_int_equal(map_fd(0x10000, PAGE, RW, fd, PAGE), 0);
	assert_int_equal(unmap(0x10000, PAGE), 0);
	assert_int_equal(g_cb.unmaps, 1);
	assert_int_equal(g_cb.last_unmap.address, 0x10000);
	assert_int_equal(g_cb.last_unmap.size, PAGE);
	assert_int_equal(g_cb.last_unmap.prot, RW);
	assert_false(g_cb.ptr_seen_in_unmap);	       /* no new lookup finds it */
	assert_int_equal(g_cb.first_byte_in_unmap, 7); /* page 1, byte 0 */
	close(fd);
}

static void test_lookup_never_returns_a_removed_mapping(void **state)
{
	(void)state;
	assert_int_equal(map(0x10000, PAGE, RW, -1, 0), 0);
	const struct uvf_dma_mapping *m = uvf__dma_table_find(&g_dev->dma, 0x10010);
	assert_non_null(m);
	assert_true(uvf__dma_table_find(&g_dev->dma, 0x10020) == m); /* the same again */
	assert_int_equal(unmap(0x10000, PAGE), 0);
	assert_null(uvf__dma_table_find(&g_dev->dma, 0x10010));
	/* mapped again, read-only this time: the new one is found */
	assert_int_equal(map(0x10000, PAGE, UVF_DMA_MAP_FLAG_READ, -1, 0), 0);
	m = uvf__dma_table_find(&g_dev->dma, 0x10010);
	assert_non_null(m);
	assert_int_equal(m->prot, UVF_DMA_MAP_FLAG_READ);

	/* Lookups remember the last hit per thread, keyed by device and a
	 * generation that no removal and no other device ever repeats: a
	 * device created where a freed one was cannot match an old entry. */
	uint64_t old_gen = g_dev->dma.gen;
	assert_true(old_gen != 0);
	uvf_device_free(g_dev);
	assert_int_equal(uvf_device_new(&g_dev), 0);
	uvf_device_set_log(g_dev, quiet, NULL, UVF_LOG_DEBUG);
	assert_null(uvf__dma_table_find(&g_dev->dma, 0x10000));
	assert_int_equal(map(0x10000, PAGE, RW, -1, 0), 0);
	assert_true(g_dev->dma.gen != 0 && g_dev->dma.gen != old_gen);
	assert_non_null(uvf__dma_table_find(&g_dev->dma, 0x10000));
}

static void test_mapping_keeps_no_fd_open(void **state)
{
	(void)state;
	int fd = make_memfd(1);
	int probe = dup(fd);
	assert_true(probe >= 0);
	close(probe);
	/* the table closes the fd it was given once the memory is mapped */
	int given = dup(fd);
	assert_int_equal(map(0x10000, PAGE, RW, given, 0), 0);
	int again = dup(fd);
	assert_int_equal(again, given); /* the lowest free number: it was closed */
	close(again);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_65535_mappings_are_found_and_unmapped_in_random_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_identical_duplicate_is_accepted_and_overlaps_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_range_unmap_removes_every_mapping_inside_and_refuses_cuts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unmap_all_empties_the_table_and_tells_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_mapping_beyond_the_file_size_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_map_is_not_added, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_ptr_stays_inside_one_mapping_with_its_permissions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sg_follows_adjacent_mappings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_callback_runs_after_removal_while_memory_stays, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lookup_never_returns_a_removed_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_keeps_no_fd_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

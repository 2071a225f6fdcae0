/* SPDX-License-Identifier: MIT */
/*
 * Read-side sections and grace periods (dma_readers.h).
 *
 * Why one wait suffices: the grace-period counter only grows (64 bits, no
 * wrap). A reader stores the counter it saw, then reads the table. The
 * waiting thread has unpublished what it removes, then makes every
 * running thread of the process pass a full barrier (membarrier), then
 * increments the counter to `target` and waits for each record to show 0
 * or a value >= target. A reader whose store came before that barrier is
 * seen by the scan and waited for; one whose store came after it reads
 * the table after the barrier too, so it cannot see what was removed.
 * A reader that saw `target` itself read the counter after the removal.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "server/dma_readers.h"

bool uvf__dma_readers_fence = true;

/* Starts at 1: a reader's 0 means "outside". */
uint64_t uvf__dma_gp_ctr = 1;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_ok;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uvf_dma_reader *registry;
/* one grace period at a time (several devices, several dispatch threads) */
static pthread_mutex_t gp_lock = PTHREAD_MUTEX_INITIALIZER;

_Thread_local struct uvf_dma_reader *uvf__dma_self __attribute__((tls_model("initial-exec")));

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static long membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0, 0);
}

static void reader_exit(void *arg)
{
	struct uvf_dma_reader *r = arg;

	pthread_mutex_lock(&registry_lock);
	r->last_table = NULL;
	r->last_m = NULL;
	r->last_vaddr = NULL;
	r->in_use = false;
	pthread_mutex_unlock(&registry_lock);
	uvf__dma_self = NULL;
}

static void init_once(void)
{
	long cmds = membarrier(MEMBARRIER_CMD_QUERY);

	exit_key_ok = pthread_key_create(&exit_key, reader_exit) == 0;
	/* Without expedited membarrier (old kernel, seccomp), readers fence. */
	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		uvf__dma_readers_fence = false;
}

struct uvf_dma_reader *uvf__dma_reader_register(void)
{
	struct uvf_dma_reader *r;

	pthread_once(&once, init_once);
	if (!exit_key_ok)
		return NULL; /* could not learn of thread exits: a record would dangle */
	pthread_mutex_lock(&registry_lock);
	for (r = registry; r && r->in_use; r = r->next)
		;
	if (!r) {
		r = aligned_alloc(64, sizeof(*r));
		if (r) {
			*r = (struct uvf_dma_reader){.next = registry};
			registry = r;
		}
	}
	if (r)
		r->in_use = true;
	pthread_mutex_unlock(&registry_lock);
	if (!r)
		return NULL;
	if (pthread_setspecific(exit_key, r) != 0) {
		pthread_mutex_lock(&registry_lock);
		r->in_use = false;
		pthread_mutex_unlock(&registry_lock);
		return NULL;
	}
	uvf__dma_self = r;
	return r;
}

static void wait_for(const struct uvf_dma_reader *r, uint64_t target)
{
	for (unsigned spins = 0;; spins++) {
		uint64_t c = __atomic_load_n(&r->ctr, __ATOMIC_ACQUIRE);
		if (c == 0 || c >= target)
			return;
		if (spins < 64) {
			cpu_relax();
		} else if (spins < 128) {
			sched_yield();
		} else {
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		}
	}
}

static void init_fences(void)
{
	exit_key_ok = pthread_key_create(&exit_key, reader_exit) == 0;
}

void uvf__dma_readers_use_fences(void)
{
	pthread_once(&once, init_fences);
}

void uvf__dma_synchronize(void)
{
	pthread_once(&once, init_once);
	pthread_mutex_lock(&gp_lock);
	if (uvf__dma_readers_fence || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
		uvf__dma_full_barrier(); /* readers fence themselves then */
	uint64_t target = __atomic_add_fetch(&uvf__dma_gp_ctr, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&registry_lock);
	for (const struct uvf_dma_reader *r = registry; r; r = r->next)
		wait_for(r, target);
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_unlock(&gp_lock);
}

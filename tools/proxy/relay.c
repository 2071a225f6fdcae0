/* SPDX-License-Identifier: MIT */
/*
 * After a restart the client still holds the old server's ioeventfds
 * (handed to KVM, or signalled by the client library), and nothing reads
 * them any more. A relay thread reads each of them and signals the
 * restarted server's ioeventfd for the same doorbell: the doorbells go on
 * working, one hop longer, until the client fetches ioeventfds again.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proxy/proxy.h"
#include "proxy/state.h"

static void *relay_main(void *arg)
{
	struct proxy_state *st = arg;

	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(st->relay_epoll, ev, 16, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		for (int i = 0; i < n; i++) {
			struct proxy_io_fd *f = ev[i].data.ptr;
			uint64_t count;

			if (!f) /* the stop eventfd */
				return NULL;
			if (read(f->fd, &count, sizeof(count)) != sizeof(count))
				continue;
			pthread_mutex_lock(&st->relay_lock);
			if (f->relay_to >= 0 && write(f->relay_to, &count, sizeof(count)) != sizeof(count))
				proxy_log("ioeventfd relay: %s", strerror(errno));
			pthread_mutex_unlock(&st->relay_lock);
		}
	}
}

void proxy_relay_stop(struct proxy_state *st)
{
	uint64_t one = 1;

	if (st->relay_running) {
		if (write(st->relay_stop, &one, sizeof(one)) != sizeof(one))
			proxy_log("ioeventfd relay: cannot stop it: %s", strerror(errno));
		pthread_join(st->relay_thread, NULL);
		st->relay_running = false;
	}
	if (st->relay_epoll >= 0)
		close(st->relay_epoll);
	if (st->relay_stop >= 0)
		close(st->relay_stop);
	st->relay_epoll = st->relay_stop = -1;
}

int proxy_relay_update(struct proxy_state *st)
{
	struct epoll_event ev = {.events = EPOLLIN};
	size_t relays = 0;
	int rc;

	proxy_relay_stop(st);
	st->relay_epoll = epoll_create1(EPOLL_CLOEXEC);
	st->relay_stop = eventfd(0, EFD_CLOEXEC);
	if (st->relay_epoll < 0 || st->relay_stop < 0)
		goto fail;
	ev.data.ptr = NULL;
	if (epoll_ctl(st->relay_epoll, EPOLL_CTL_ADD, st->relay_stop, &ev) < 0)
		goto fail;
	for (unsigned r = 0; r < UVF_PCI_NUM_REGIONS; r++) {
		for (size_t i = 0; i < st->io[r].nfds; i++) {
			struct proxy_io_fd *f = &st->io[r].fds[i];

			if (f->relay_to < 0)
				continue;
			ev.data.ptr = f;
			if (epoll_ctl(st->relay_epoll, EPOLL_CTL_ADD, f->fd, &ev) < 0)
				goto fail;
			relays++;
		}
	}
	if (relays == 0) {
		proxy_relay_stop(st);
		return 0;
	}
	rc = pthread_create(&st->relay_thread, NULL, relay_main, st);
	if (rc) {
		errno = rc;
		goto fail;
	}
	st->relay_running = true;
	proxy_log("relaying %zu ioeventfds of the client to the restarted server", relays);
	return 0;
fail:
	rc = -errno;
	proxy_log("ioeventfd relay: %s", strerror(errno));
	proxy_relay_stop(st);
	return rc;
}

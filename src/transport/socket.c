/* SPDX-License-Identifier: MIT */
/* Listening, accepting and connecting AF_UNIX stream sockets. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "transport/transport.h"
#include "util.h"

/* A blocking connect only waits when the listener's backlog is full. */
#define CONNECT_TIMEOUT_SEC 5

/* A listener is bound at its path a moment before it listens; a connect in
 * between is refused. Retry a refusal this long before reporting it. */
#define CONNECT_REFUSED_RETRY_MS 1000

/* The lock that serialises servers starting on one path (see lock_path):
 * held for microseconds, so a holder this slow is stuck or hostile. */
#define LOCK_SUFFIX  ".lock"
#define LOCK_WAIT_MS 2000
/* It holds nothing; readable by all so that anyone allowed to start a server
 * in the folder can take a leftover of a crash (it is removed after use). */
#define LOCK_FILE_MODE 0644

/* umask() is process-wide: serialise our own callers so that two listens in
 * different threads cannot restore each other's masks in the wrong order. */
static pthread_mutex_t umask_lock = PTHREAD_MUTEX_INITIALIZER;

static int fill_address(const char *path, struct sockaddr_un *addr, const char *what, struct uvf_why *why)
{
	size_t len = strlen(path);

	if (len == 0)
		return uvf__why(why, -EINVAL, "%s: empty socket path", what);
	if (len >= sizeof(addr->sun_path))
		return uvf__why(why, -ENAMETOOLONG, "%s: socket path is %zu bytes, at most %zu fit", what, len,
				sizeof(addr->sun_path) - 1);
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, path, len + 1);
	return 0;
}

static int connect_retry(int fd, const struct sockaddr_un *addr)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
			return 0;
		if (errno == EISCONN)
			return 0; /* an interrupted attempt completed meanwhile */
		if (errno != EINTR)
			return -errno;
	}
}

/* Is someone accepting on the socket file at addr? 1 yes, 0 stale, <0 error. */
static int socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	err = connect_retry(fd, addr);
	close(fd);
	if (err == 0 || err == -EAGAIN)
		return 1; /* EAGAIN: backlog full, so a listener exists */
	if (err == -ECONNREFUSED)
		return 0;
	return err;
}

/* Make path free for bind: absent, or a stale socket that we remove. */
static int clear_path(const struct sockaddr_un *addr, struct uvf_why *why)
{
	const char *path = addr->sun_path;
	struct stat st;
	int live;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return uvf__why(why, -errno, "listen: %s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return uvf__why(why, -EEXIST, "listen: %s exists and is not a socket", path);
	live = socket_is_live(addr);
	if (live > 0)
		return uvf__why(why, -EADDRINUSE, "listen: %s: another process is listening on it", path);
	if (live < 0)
		return uvf__why(why, live, "listen: %s: cannot probe the existing socket: %s", path, strerror(-live));
	if (unlink(path) < 0 && errno != ENOENT)
		return uvf__why(why, -errno, "listen: %s: cannot remove the stale socket: %s", path, strerror(errno));
	return 0;
}

/* bind() creates the file with 0777 & ~umask: setting the umask to ~mode
 * gives exactly mode with no moment of wider access. (fchmod() on the socket
 * before bind() would not do: it changes the socket's own inode, not the
 * file that bind() creates.) */
static int bind_with_mode(int fd, const struct sockaddr_un *addr, mode_t mode)
{
	mode_t old;
	int err = 0;

	pthread_mutex_lock(&umask_lock);
	old = umask((mode_t)(~mode & 0777));
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		err = -errno;
	umask(old);
	pthread_mutex_unlock(&umask_lock);
	if (err)
		return err;
	/* umask can only have narrowed mode (a foreign umask() call racing
	 * ours); chmod sets it exactly. */
	if (chmod(addr->sun_path, mode) < 0) {
		err = -errno;
		unlink(addr->sun_path);
	}
	return err;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Servers starting on one path take turns: each holds an exclusive flock on
 * the regular file "PATH.lock" from the stale-socket check to listen(), so
 * none can take another's freshly bound, not yet listening socket for a
 * stale one and remove it. The holder removes the lock file before it lets
 * go; a waiter that then gets the lock on the removed file notices (the name
 * leads to another inode, or nowhere) and starts over on the current one.
 */
struct path_lock {
	int fd;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + sizeof(LOCK_SUFFIX)];
};

/* Open the lock file, creating it if absent; -EAGAIN when another starter
 * created or removed it between our two opens. O_NOFOLLOW: never a file that
 * a symlink points at; O_NONBLOCK: a FIFO there must not hang us; read-only
 * and without O_CREAT when it exists, so that a readable leftover of another
 * user can be taken (O_CREAT on another user's file in a sticky folder fails
 * under fs.protected_regular). */
static int open_lock_file(const char *name)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
	int fd = open(name, flags);

	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;
	fd = open(name, flags | O_CREAT | O_EXCL, LOCK_FILE_MODE);
	if (fd >= 0)
		return fd;
	return errno == EEXIST ? -EAGAIN : -errno;
}

/* Take the lock of path: 0, -EBUSY after LOCK_WAIT_MS, or the errno of the
 * lock file (-ENOENT: no such folder, -EACCES, -EEXIST: not a regular file). */
static int lock_path(const char *path, struct path_lock *lock, struct uvf_why *why)
{
	const int64_t deadline = uvf__now_ms() + LOCK_WAIT_MS;
	int pause = 1;

	lock->fd = -1;
	snprintf(lock->name, sizeof(lock->name), "%s" LOCK_SUFFIX, path);
	for (int attempt = 0;; attempt++) {
		struct stat held, named;
		int fd, err;

		if (attempt > 0 && uvf__now_ms() >= deadline)
			return uvf__why(why, -EBUSY, "listen: %s: another process has held the lock file %s for %d ms",
					path, lock->name, LOCK_WAIT_MS);
		fd = open_lock_file(lock->name);
		if (fd == -EAGAIN)
			continue;
		if (fd < 0)
			return uvf__why(why, fd, "listen: cannot open the lock file %s: %s", lock->name, strerror(-fd));
		if (fstat(fd, &held) < 0) {
			err = -errno;
			close(fd);
			return uvf__why(why, err, "listen: %s: %s", lock->name, strerror(-err));
		}
		if (!S_ISREG(held.st_mode)) {
			close(fd);
			return uvf__why(why, -EEXIST, "listen: %s exists and is not a regular file", lock->name);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (lstat(lock->name, &named) == 0 && named.st_dev == held.st_dev &&
			    named.st_ino == held.st_ino) {
				lock->fd = fd;
				return 0;
			}
			close(fd); /* the previous holder removed it: take the new one */
			continue;
		}
		err = -errno;
		close(fd);
		if (err != -EWOULDBLOCK && err != -EINTR)
			return uvf__why(why, err, "listen: cannot lock %s: %s", lock->name, strerror(-err));
		sleep_ms(pause);
		pause = pause < 16 ? pause * 2 : pause;
	}
}

/* Remove the lock file while we still hold it, then let go. */
static void unlock_path(struct path_lock *lock)
{
	unlink(lock->name);
	close(lock->fd);
	lock->fd = -1;
}

/* Bind at path (mode, then group, set before listen: nobody can connect
 * before both are in place) and listen. Called under the path lock, with
 * path free. */
static int bind_and_listen(const struct sockaddr_un *addr, mode_t mode, gid_t group, int *out_fd, struct uvf_why *why)
{
	const char *path = addr->sun_path;
	int fd, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uvf__why(why, -errno, "listen: socket: %s", strerror(errno));
	err = bind_with_mode(fd, addr, mode & 0777);
	if (err) {
		close(fd);
		return uvf__why(why, err, "listen: bind %s: %s", path, strerror(-err));
	}
	if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0) {
		err = -errno;
		unlink(path);
		close(fd);
		return uvf__why(why, err, "listen: cannot give %s group %u: %s", path, (unsigned)group, strerror(-err));
	}
	/* From bind() to here a client that finds the file gets ECONNREFUSED;
	 * uvf__sock_connect() retries that for a moment. */
	if (listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		unlink(path);
		close(fd);
		return uvf__why(why, err, "listen: %s: %s", path, strerror(-err));
	}
	*out_fd = fd;
	return 0;
}

int uvf__sock_listen(const char *path, mode_t mode, int *out_fd, struct uvf_why *why)
{
	return uvf__sock_listen_group(path, mode, (gid_t)-1, out_fd, why);
}

/*
 * The socket is bound at path itself, not at a temporary name renamed into
 * place: the kernel keeps the name given to bind() (/proc/net/unix, ss -xl,
 * lsof show it), and it must be the path that operators and tools look for.
 */
int uvf__sock_listen_group(const char *path, mode_t mode, gid_t group, int *out_fd, struct uvf_why *why)
{
	struct sockaddr_un addr;
	struct path_lock lock;
	int err;

	*out_fd = -1;
	err = fill_address(path, &addr, "listen", why);
	if (err)
		return err;
	err = lock_path(path, &lock, why);
	if (err)
		return err;
	err = clear_path(&addr, why);
	if (!err)
		err = bind_and_listen(&addr, mode, group, out_fd, why);
	unlock_path(&lock);
	return err;
}

int uvf__sock_file_id(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int uvf__sock_unlink_own(const char *path, dev_t dev, ino_t ino)
{
	struct path_lock lock;
	struct stat st;
	int err = lock_path(path, &lock, NULL);

	if (err)
		return err;
	if (lstat(path, &st) < 0)
		err = -errno;
	else if (!S_ISSOCK(st.st_mode) || st.st_dev != dev || st.st_ino != ino)
		err = -ESTALE;
	else if (unlink(path) < 0)
		err = -errno;
	unlock_path(&lock);
	return err;
}

int uvf__sock_send_buffer(int fd)
{
	int size = 0;
	socklen_t len = sizeof(size);

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0)
		return -errno;
	return size;
}

/*
 * A server keeps DMA messages in flight to a client that may itself be
 * blocked sending to us (a DMA_READ reply while we send a DMA_WRITE): the
 * dispatch thread must never wait for room in the socket then, or neither
 * side reads again. What a device may keep in flight is derived from the
 * buffer granted here (uvf_dma_inflight_max). SO_SNDBUF is capped by
 * net.core.wmem_max; a server with CAP_NET_ADMIN (QEMU's devices often run
 * as root) may go past the cap with SO_SNDBUFFORCE, for a bounded size that
 * only holds memory while messages wait in it. Failures leave the default
 * buffer, which the budget then follows.
 */
void uvf__sock_grow_send_buffer(int fd)
{
	int want = (int)UVF_TRANSPORT_SEND_BUFFER;
	int got;

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	got = uvf__sock_send_buffer(fd);
	if (got >= 0 && got / 2 < want)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));
}

int uvf__sock_accept(int listen_fd, int *out_fd)
{
	int fd;

	*out_fd = -1;
	do {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	uvf__sock_grow_send_buffer(fd);
	*out_fd = fd;
	return 0;
}

int uvf__sock_block_receive(int fd, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	int flags = fcntl(fd, F_GETFL);

	if (timeout_ms <= 0)
		return -EINVAL;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 || flags < 0 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int uvf__sock_peer_cred(int fd, pid_t *pid, uid_t *uid, gid_t *gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EPROTO;
	*pid = cred.pid;
	*uid = cred.uid;
	*gid = cred.gid;
	return 0;
}

/* Linux reports ECONNREFUSED for a path that exists but is not a socket. */
static int refine_connect_error(const char *path, int err)
{
	struct stat st;

	if (err == -ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	return err;
}

/* An AF_UNIX connect either completes at once or, with a full backlog,
 * waits for room: connect blocking (bounded by SO_SNDTIMEO), then switch
 * to non-blocking. */
static int connect_blocking(int fd, const struct sockaddr_un *addr)
{
	struct timeval tmo = {.tv_sec = CONNECT_TIMEOUT_SEC};
	struct timeval none = {0};
	int err, flags;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)) < 0)
		return -errno;
	err = connect_retry(fd, addr);
	if (err)
		return err == -EAGAIN || err == -EINPROGRESS ? -ETIMEDOUT : err;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none)) < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int uvf__sock_connect(const char *path, int *out_fd, struct uvf_why *why)
{
	struct sockaddr_un addr;
	int64_t deadline = 0;
	int fd, err, pause = 1;

	*out_fd = -1;
	err = fill_address(path, &addr, "connect", why);
	if (err)
		return err;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return uvf__why(why, -errno, "connect: socket: %s", strerror(errno));
		err = connect_blocking(fd, &addr);
		if (!err)
			break;
		close(fd);
		err = refine_connect_error(path, err);
		if (err != -ECONNREFUSED)
			return uvf__why(why, err, "connect: %s: %s", path, strerror(-err));
		/* a server between bind() and listen(), or a stale socket */
		if (deadline == 0)
			deadline = uvf__now_ms() + CONNECT_REFUSED_RETRY_MS;
		else if (uvf__now_ms() >= deadline)
			return uvf__why(why, err, "connect: %s: %s (for %d ms)", path, strerror(-err),
					CONNECT_REFUSED_RETRY_MS);
		sleep_ms(pause);
		pause = pause < 32 ? pause * 2 : pause;
	}
	*out_fd = fd;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Listening, accepting and connecting AF_UNIX stream sockets. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport/transport.h"

/* A blocking connect only waits when the listener's backlog is full. */
#define CONNECT_TIMEOUT_SEC 5

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
 * gives exactly mode with no moment of wider access. */
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

int uvf__sock_listen(const char *path, mode_t mode, int *out_fd, struct uvf_why *why)
{
	return uvf__sock_listen_group(path, mode, (gid_t)-1, out_fd, why);
}

int uvf__sock_listen_group(const char *path, mode_t mode, gid_t group, int *out_fd, struct uvf_why *why)
{
	struct sockaddr_un addr;
	int fd, err;

	*out_fd = -1;
	err = fill_address(path, &addr, "listen", why);
	if (err)
		return err;
	err = clear_path(&addr, why);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uvf__why(why, -errno, "listen: socket: %s", strerror(errno));

	/* bind() creates the file before listen() makes it answer: a client
	 * that sees the file in between is refused. So bind a temporary name
	 * beside it and rename it into place once it listens (when the longer
	 * name fits in sun_path; otherwise bind the path itself). */
	struct sockaddr_un tmp = addr;
	bool staged = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld~", path, (long)getpid()) <
		      (int)sizeof(tmp.sun_path);
	const struct sockaddr_un *bound = staged ? &tmp : &addr;
	if (staged)
		unlink(tmp.sun_path); /* a leftover of a crashed process with our pid */
	err = bind_with_mode(fd, bound, mode & 0777);
	if (err) {
		close(fd);
		return uvf__why(why, err, "listen: bind %s: %s", bound->sun_path, strerror(-err));
	}
	/* The group is set before listen(): until then nobody can connect,
	 * whatever the file's group was for a moment. */
	if (group != (gid_t)-1 && chown(bound->sun_path, (uid_t)-1, group) < 0) {
		err = -errno;
		unlink(bound->sun_path);
		close(fd);
		return uvf__why(why, err, "listen: cannot give %s group %u: %s", path, (unsigned)group,
				strerror(-err));
	}
	if (listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		unlink(bound->sun_path);
		close(fd);
		return uvf__why(why, err, "listen: %s: %s", path, strerror(-err));
	}
	/* never replace what appeared at path since clear_path() */
	if (staged && renameat2(AT_FDCWD, tmp.sun_path, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		err = -errno;
		unlink(tmp.sun_path);
		close(fd);
		return uvf__why(why, err, "listen: rename to %s: %s", path,
				strerror(-err));
	}
	*out_fd = fd;
	return 0;
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
	*out_fd = fd;
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
	int fd, err;

	*out_fd = -1;
	err = fill_address(path, &addr, "connect", why);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uvf__why(why, -errno, "connect: socket: %s", strerror(errno));
	err = connect_blocking(fd, &addr);
	if (err) {
		close(fd);
		err = refine_connect_error(path, err);
		return uvf__why(why, err, "connect: %s: %s", path, strerror(-err));
	}
	*out_fd = fd;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The server under test: optionally started (and restarted) by the tool,
 * the check that it still serves a fresh client after each case, and the
 * facts learned from one valid session.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conform.h"

static pid_t g_pid = -1;

static void on_signal(int sig)
{
	/* do not leave the server we started behind */
	if (g_pid > 0)
		kill(-g_pid, SIGTERM);
	_exit(128 + sig);
}

void server_cleanup_on_signals(void)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
}

/* Describes how the started process ended; true when it was a crash. */
static bool describe_exit(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status)) {
		snprintf(buf, size, "server killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
		return true;
	}
	int code = WEXITSTATUS(status);
	/* a shell in between reports a signal as 128 + n */
	if (code > 128 && code < 128 + 65) {
		snprintf(buf, size, "server exited with status %d (signal %d, %s)", code, code - 128,
			 strsignal(code - 128));
		return true;
	}
	snprintf(buf, size, "server exited with status %d", code);
	return code != 0;
}

int server_start(const struct conform_opts *o)
{
	struct stat st;

	if (!o->server_cmd)
		return 0;
	/* a stale socket from the previous run must not be mistaken for ours */
	if (lstat(o->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(o->socket_path);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		/* the server's own output must not mix with our results */
		dup2(2, 1);
		execl("/bin/sh", "sh", "-c", o->server_cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	g_pid = pid;
	/* Wait for the socket file only: some servers abort when a client
	 * connects and leaves without VERSION, so never probe. */
	int64_t deadline = conform_now_ms() + 10000;
	while (conform_now_ms() < deadline) {
		int status;
		if (stat(o->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			char buf[128];
			describe_exit(status, buf, sizeof(buf));
			fprintf(stderr, "uvf-conform: the server command ended before listening: %s\n", buf);
			g_pid = -1;
			return -ECHILD;
		}
		usleep(5000);
	}
	fprintf(stderr, "uvf-conform: the server command did not create %s within 10 s\n", o->socket_path);
	server_stop();
	return -ETIMEDOUT;
}

/* Waits up to timeout_ms for the started server to end; true if it did. */
static bool reap(int timeout_ms, int *status)
{
	int64_t deadline = conform_now_ms() + timeout_ms;
	for (;;) {
		if (waitpid(g_pid, status, WNOHANG) == g_pid) {
			g_pid = -1;
			return true;
		}
		if (conform_now_ms() >= deadline)
			return false;
		usleep(2000);
	}
}

void server_stop(void)
{
	int status;
	if (g_pid <= 0)
		return;
	kill(-g_pid, SIGTERM);
	if (!reap(3000, &status)) {
		kill(-g_pid, SIGKILL);
		reap(3000, &status);
	}
	g_pid = -1;
}

/* A fresh valid client: VERSION, then DEVICE_GET_INFO. */
static int fresh_client(const struct conform_opts *o, char *why, size_t size)
{
	struct conn c;
	int ret = conn_connect(&c, o->socket_path, o->timeout_ms);
	if (ret < 0) {
		snprintf(why, size, "cannot connect: %s", strerror(-ret));
		return ret == -ECONNREFUSED || ret == -ENOENT ? -ECONNREFUSED : ret;
	}
	ret = conn_handshake(&c, o->timeout_ms, NULL);
	if (ret < 0) {
		snprintf(why, size, "VERSION of a fresh client failed: %s", conn_error_text(ret));
		conn_close(&c);
		return -ETIMEDOUT;
	}
	struct uvf_msg_device_info in = {.argsz = sizeof(in)};
	struct msg m;
	uint16_t id = conn_id(&c);
	ret = conn_send(&c, id, UVF_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0);
	if (ret >= 0)
		ret = conn_recv(&c, &m, o->timeout_ms);
	if (ret == 1) {
		bool ok = m.hdr.msg_id == id && !(m.hdr.flags & UVF_MSG_FLAG_ERROR) && m.len >= sizeof(in);
		msg_free(&m);
		ret = ok ? 0 : -EPROTO;
	} else if (ret == 0) {
		ret = -ETIMEDOUT;
	}
	conn_close(&c);
	if (ret < 0) {
		snprintf(why, size, "DEVICE_GET_INFO of a fresh client failed: %s", conn_error_text(ret));
		return -ETIMEDOUT;
	}
	return 0;
}

enum outcome server_recovered(const struct conform_opts *o, char *why, size_t size)
{
	int status;
	char buf[200];

	if (o->one_shot && g_pid > 0) {
		/* the session ended when the case closed its connection */
		int wait = o->timeout_ms > 2000 ? o->timeout_ms : 2000;
		if (!reap(wait, &status)) {
			snprintf(why, size, "one-shot server still running %d ms after its client left", wait);
			server_stop();
			return OUT_HANG;
		}
		if (describe_exit(status, buf, sizeof(buf))) {
			snprintf(why, size, "%s", buf);
			return OUT_CRASH;
		}
		return OUT_NONE;
	}
	int ret = fresh_client(o, buf, sizeof(buf));
	if (ret == 0)
		return OUT_NONE;
	if (g_pid > 0) {
		if (reap(100, &status)) {
			char how[128];
			describe_exit(status, how, sizeof(how));
			snprintf(why, size, "%s (%s)", how, buf);
			server_start(o);
			return OUT_CRASH;
		}
		snprintf(why, size, "%s; restarted it", buf);
		server_stop();
		server_start(o);
		return OUT_HANG;
	}
	if (ret == -ECONNREFUSED) {
		snprintf(why, size, "server gone: %s", buf);
		return OUT_CRASH;
	}
	snprintf(why, size, "%s", buf);
	return OUT_HANG;
}

static void parse_caps(struct server_facts *f, const char *text)
{
	json_object *root = json_tokener_parse(text), *caps, *v;

	if (!root)
		return;
	if (json_object_object_get_ex(root, "capabilities", &caps) && json_object_is_type(caps, json_type_object)) {
		if (json_object_object_get_ex(caps, "max_msg_fds", &v) && json_object_is_type(v, json_type_int))
			f->max_msg_fds = (uint32_t)json_object_get_int64(v);
		if (json_object_object_get_ex(caps, "max_data_xfer_size", &v) && json_object_is_type(v, json_type_int))
			f->max_data_xfer_size = (uint32_t)json_object_get_int64(v);
		if (json_object_object_get_ex(caps, "max_dma_maps", &v) && json_object_is_type(v, json_type_int))
			f->max_dma_maps = (uint32_t)json_object_get_int64(v);
		if (json_object_object_get_ex(caps, "pgsizes", &v) && json_object_is_type(v, json_type_int))
			f->pgsizes = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(caps, "write_multiple", &v) && json_object_is_type(v, json_type_boolean))
			f->write_multiple = json_object_get_boolean(v);
	}
	json_object_put(root);
}

int learn_facts(const struct conform_opts *o, struct server_facts *f, char *why, size_t size)
{
	struct ctx x = {.opts = o, .facts = f};
	struct msg m;
	struct result r = {0};

	memset(f, 0, sizeof(*f));
	f->max_msg_fds = UVF_DEFAULT_MAX_MSG_FDS;
	f->max_data_xfer_size = UVF_DEFAULT_MAX_DATA_XFER_SIZE;
	f->max_dma_maps = UVF_DEFAULT_MAX_DMA_MAPS;
	f->pgsizes = UVF_DEFAULT_PGSIZES;
	int ret = conn_connect(&x.conn, o->socket_path, o->timeout_ms > 3000 ? o->timeout_ms : 3000);
	if (ret < 0) {
		snprintf(why, size, "cannot connect to %s: %s", o->socket_path, strerror(-ret));
		return ret;
	}
	ret = conn_handshake(&x.conn, o->timeout_ms, &m);
	if (ret < 0) {
		snprintf(why, size, "VERSION failed: %s", conn_error_text(ret));
		conn_close(&x.conn);
		return ret;
	}
	struct uvf_msg_version v;
	memcpy(&v, m.payload, sizeof(v));
	f->major = v.major;
	f->minor = v.minor;
	size_t jl = m.len - sizeof(v);
	if (jl >= sizeof(f->version_json))
		jl = sizeof(f->version_json) - 1;
	memcpy(f->version_json, m.payload + sizeof(v), jl);
	f->version_json[jl] = 0;
	parse_caps(f, f->version_json);
	/* the text is printed: no control bytes from the server */
	for (size_t i = 0; i < jl && f->version_json[i]; i++)
		if ((unsigned char)f->version_json[i] < 0x20 || (unsigned char)f->version_json[i] == 0x7f)
			f->version_json[i] = '?';
	msg_free(&m);

	struct uvf_msg_device_info in = {.argsz = sizeof(in)};
	if (xact(&x, &r, UVF_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0, &m) != OUT_OK || m.len < sizeof(in)) {
		snprintf(why, size, "DEVICE_GET_INFO failed: %s", r.did);
		msg_free(&m);
		conn_close(&x.conn);
		return -EPROTO;
	}
	memcpy(&f->info, m.payload, sizeof(f->info));
	msg_free(&m);
	for (uint32_t i = 0; i < FACT_REGIONS && i < f->info.num_regions; i++) {
		struct uvf_msg_region_info ri = {.argsz = sizeof(ri), .index = i};
		memset(&r, 0, sizeof(r));
		if (xact(&x, &r, UVF_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0, &m) == OUT_OK &&
		    m.len >= sizeof(ri)) {
			memcpy(&ri, m.payload, sizeof(ri));
			f->region[i].flags = ri.flags;
			f->region[i].size = ri.size;
		}
		msg_free(&m);
	}
	for (uint32_t i = 0; i < FACT_IRQS && i < f->info.num_irqs; i++) {
		struct uvf_msg_irq_info ii = {.argsz = sizeof(ii), .index = i};
		memset(&r, 0, sizeof(r));
		if (xact(&x, &r, UVF_CMD_DEVICE_GET_IRQ_INFO, 0, &ii, sizeof(ii), NULL, 0, &m) == OUT_OK &&
		    m.len >= sizeof(ii)) {
			memcpy(&ii, m.payload, sizeof(ii));
			f->irq[i].flags = ii.flags;
			f->irq[i].count = ii.count;
		}
		msg_free(&m);
	}
	struct uvf_msg_device_feature df = {.argsz = 16, .flags = UVF_FEATURE_MIGRATION | UVF_FEATURE_GET};
	memset(&r, 0, sizeof(r));
	f->migration = xact(&x, &r, UVF_CMD_DEVICE_FEATURE, 0, &df, sizeof(df), NULL, 0, &m) == OUT_OK;
	msg_free(&m);
	conn_close(&x.conn);
	return 0;
}

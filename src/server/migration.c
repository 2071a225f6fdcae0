/* SPDX-License-Identifier: MIT */
/*
 * Live migration, server side (docs/protocol.md 4.15-4.17 and 6): the v2 state
 * machine driven by DEVICE_FEATURE MIG_DEVICE_STATE, the MIG_DATA_READ and
 * MIG_DATA_WRITE framing around the device's save/load callbacks, the DMA
 * logging features (bitmaps in dma.c), and which commands each state
 * admits. docs/migration.md explains the choices.
 *
 * Threads: everything here runs on the dispatch thread. Device threads
 * only read mig.state and mig.quiesced, atomically.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "util.h"

/* START granularity bounds: below 4 KiB nothing is mapped that finely;
 * above 1 GiB a report would say little. */
#define DIRTY_SHIFT_MIN 12u
#define DIRTY_SHIFT_MAX 30u

static const char *state_name(uint32_t s)
{
	static const char *const names[] = {"ERROR",	"STOP",	       "RUNNING",  "STOP_COPY",
					    "RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P"};
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static uint32_t get_state(const struct uvf_device *dev)
{
	return __atomic_load_n(&dev->mig.state, __ATOMIC_ACQUIRE);
}

/* The device must not do DMA or raise interrupts in these states. */
static bool state_quiesced(uint32_t s)
{
	return s == UVF_MIGRATION_STATE_STOP || s == UVF_MIGRATION_STATE_STOP_COPY ||
	       s == UVF_MIGRATION_STATE_RESUMING || s == UVF_MIGRATION_STATE_ERROR;
}

bool uvf__migration_quiesced(const struct uvf_device *dev)
{
	return __atomic_load_n(&dev->mig.quiesced, __ATOMIC_ACQUIRE);
}

static void set_quiesced(struct uvf_device *dev, bool on)
{
	__atomic_store_n(&dev->mig.quiesced, on, __ATOMIC_RELEASE);
}

/* Enter state s: the DMA and interrupt holds follow it. */
static void set_state(struct uvf_device *dev, uint32_t s)
{
	bool q = state_quiesced(s);
	__atomic_store_n(&dev->mig.state, s, __ATOMIC_RELEASE);
	set_quiesced(dev, q);
	uvf__irqs_quiesce(dev, q); /* leaving: latched interrupts go out now */
	if (!q)
		uvf__kick(dev); /* asynchronous transfers held while stopped go on */
}

/* States a client may ask for. */
static bool requestable(const struct uvf_device *dev, uint32_t s)
{
	switch (s) {
	case UVF_MIGRATION_STATE_STOP:
	case UVF_MIGRATION_STATE_RUNNING:
	case UVF_MIGRATION_STATE_STOP_COPY:
	case UVF_MIGRATION_STATE_RESUMING:
		return true;
	case UVF_MIGRATION_STATE_PRE_COPY:
		return dev->mig.flags & UVF_MIGRATION_PRE_COPY;
	default:
		return false; /* ERROR, the P2P states, unknown values */
	}
}

/*
 * The next state on the way from cur to target (cur != target, both
 * requestable, not STOP_COPY -> PRE_COPY): docs/protocol.md 6.2, the shortest
 * chain of direct arcs that passes through no saving-group state.
 */
static uint32_t next_hop(uint32_t cur, uint32_t target)
{
	switch (cur) {
	case UVF_MIGRATION_STATE_STOP:
		return target == UVF_MIGRATION_STATE_PRE_COPY ? UVF_MIGRATION_STATE_RUNNING : target;
	case UVF_MIGRATION_STATE_RUNNING:
		return target == UVF_MIGRATION_STATE_PRE_COPY ? target : UVF_MIGRATION_STATE_STOP;
	case UVF_MIGRATION_STATE_PRE_COPY:
		return target == UVF_MIGRATION_STATE_STOP_COPY ? target : UVF_MIGRATION_STATE_RUNNING;
	default: /* STOP_COPY and RESUMING leave only to STOP */
		return UVF_MIGRATION_STATE_STOP;
	}
}

/*
 * Walk from the current state to target, one transition() per direct arc.
 * On a failed arc: stay where the arc started when the device says it
 * still is consistent there (-EAGAIN), else ERROR.
 */
static int walk(struct uvf_device *dev, uint32_t target, struct uvf_why *why)
{
	uint32_t cur = get_state(dev);

	while (cur != target) {
		uint32_t next = next_hop(cur, target);
		bool saving_before = cur == UVF_MIGRATION_STATE_PRE_COPY || cur == UVF_MIGRATION_STATE_STOP_COPY;
		/* a device that resumes may do DMA from inside the callback */
		if (!state_quiesced(next))
			set_quiesced(dev, false);
		int ret = dev->mig.cb.transition(dev, dev->mig.data, (enum uvf_migration_state)cur,
						 (enum uvf_migration_state)next);
		if (ret < 0) {
			uint32_t landing = ret == -EAGAIN ? cur : UVF_MIGRATION_STATE_ERROR;
			set_state(dev, landing);
			return uvf__why(why, ret,
					"DEVICE_FEATURE: migration arc %s -> %s failed (%s): device now in %s",
					state_name(cur), state_name(next), uvf_strerror(ret), state_name(landing));
		}
		dev_debug(dev, "migration: %s -> %s", state_name(cur), state_name(next));
		if (next == UVF_MIGRATION_STATE_STOP_COPY || (next == UVF_MIGRATION_STATE_PRE_COPY && !saving_before))
			dev->mig.save_ended = false; /* a new outgoing stream, or its final phase */
		set_state(dev, next);
		cur = next;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Device-author API                                                    */
/* ------------------------------------------------------------------ */

int uvf_device_set_migration(struct uvf_device *dev, const struct uvf_migration_callbacks *cb, void *data,
			     uint32_t flags)
{
	if (!dev || !cb || cb->version != UVF_MIGRATION_CALLBACKS_VERSION || !cb->transition || !cb->save ||
	    !cb->load || (flags & ~UVF_MIGRATION_PRE_COPY))
		return -EINVAL;
	if (dev->frozen)
		return -EBUSY;
	dev->mig.cb = *cb;
	dev->mig.data = data;
	dev->mig.flags = flags;
	dev->mig.enabled = true;
	__atomic_store_n(&dev->mig.state, (uint32_t)UVF_MIGRATION_STATE_RUNNING, __ATOMIC_RELEASE);
	return 0;
}

enum uvf_migration_state uvf_device_migration_state(struct uvf_device *dev)
{
	if (!dev || !dev->mig.enabled)
		return UVF_MIGRATION_STATE_RUNNING;
	return (enum uvf_migration_state)get_state(dev);
}

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE                                                       */
/* ------------------------------------------------------------------ */

/* GET/SET operations each feature has (0: not a feature of ours). */
static uint32_t feature_ops(uint32_t index)
{
	switch (index) {
	case UVF_FEATURE_MIGRATION:
	case UVF_FEATURE_DMA_LOGGING_REPORT:
		return UVF_FEATURE_GET;
	case UVF_FEATURE_MIGRATION_DEVICE_STATE:
		return UVF_FEATURE_GET | UVF_FEATURE_SET;
	case UVF_FEATURE_DMA_LOGGING_START:
	case UVF_FEATURE_DMA_LOGGING_STOP:
		return UVF_FEATURE_SET;
	default:
		return 0;
	}
}

/* A GET reply: argsz = 8 + data length, the request's flags, the data. */
static int reply_get(const struct uvf_device_feature_view *v, struct uvf_reply *reply, const void *data,
		     size_t data_len, struct uvf_why *why)
{
	if ((uint64_t)v->feature.argsz < sizeof(struct uvf_msg_device_feature) + data_len)
		return uvf__why(why, -EINVAL, "DEVICE_FEATURE: GET feature %" PRIu32 ": argsz %" PRIu32 " below %zu",
				v->index, v->feature.argsz, sizeof(struct uvf_msg_device_feature) + data_len);
	struct uvf_msg_device_feature head = {.argsz = (uint32_t)(sizeof(head) + data_len), .flags = v->feature.flags};
	uvf__reply_add_small(reply, &head, sizeof(head));
	uvf__reply_add_small(reply, data, data_len);
	return 0;
}

static int set_state_feature(struct uvf_device *dev, const struct uvf_device_feature_view *v, struct uvf_why *why)
{
	struct uvf_msg_feature_migration_state req;
	struct uvf_why decoded = {{0}};

	int ret = uvf__decode_mig_state(v->data, v->data_len, &req, &decoded);
	if (ret < 0)
		return uvf__why(why, ret, "DEVICE_FEATURE: SET %s", decoded.text);
	uint32_t cur = get_state(dev), target = req.device_state;
	if (cur == UVF_MIGRATION_STATE_ERROR)
		return uvf__why(why, -EINVAL,
				"DEVICE_FEATURE: SET MIG_DEVICE_STATE %s: the device is in ERROR, "
				"only DEVICE_RESET leaves it",
				state_name(target));
	if (!requestable(dev, target))
		return uvf__why(why, -EINVAL,
				"DEVICE_FEATURE: SET MIG_DEVICE_STATE: state %" PRIu32 " (%s) cannot be "
				"requested",
				target, state_name(target));
	if (cur == UVF_MIGRATION_STATE_STOP_COPY && target == UVF_MIGRATION_STATE_PRE_COPY)
		return uvf__why(why, -EINVAL,
				"DEVICE_FEATURE: SET MIG_DEVICE_STATE: STOP_COPY -> PRE_COPY is not allowed");
	ret = walk(dev, target, why);
	if (ret == 0 && cur != target)
		dev_info(dev, "migration: %s -> %s", state_name(cur), state_name(target));
	return ret;
}

static int logging_start(struct uvf_device *dev, const struct uvf_device_feature_view *v, struct uvf_reply *reply,
			 uint8_t **alloc_out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE: DMA_LOGGING_START";
	struct uvf_dma_logging_start_view start;

	int ret = uvf__decode_dma_logging_start(v->data, v->data_len, &start, why);
	if (ret < 0)
		return ret;
	struct uvf_msg_dma_logging_control ctl = start.control;
	size_t ranges_len = (size_t)ctl.num_ranges * sizeof(struct uvf_msg_dma_logging_range);
	if (uvf__dma_table_logging(&dev->dma))
		return uvf__why(why, -EBUSY, "%s: logging is already on (STOP first)", what);
	/* The size is a hint (0: ours), brought into the granularities we track. */
	unsigned shift = ctl.page_size ? uvf__log2(ctl.page_size) : DIRTY_SHIFT_MIN;
	if (shift < DIRTY_SHIFT_MIN)
		shift = DIRTY_SHIFT_MIN;
	if (shift > DIRTY_SHIFT_MAX)
		shift = DIRTY_SHIFT_MAX;

	struct uvf_msg_dma_logging_range *ranges = NULL;
	if (ctl.num_ranges) {
		ranges = malloc(ranges_len);
		if (!ranges)
			return -ENOMEM;
		ret = uvf__dma_logging_sort_ranges(&start, ranges, why);
		if (ret < 0) {
			free(ranges);
			return ret;
		}
	}
	/* the reply: the request with the granularity we chose */
	uint8_t *echo = malloc(sizeof(struct uvf_msg_device_feature) + v->data_len);
	if (!echo) {
		free(ranges);
		return -ENOMEM;
	}
	ret = uvf__dma_table_log_start(&dev->dma, shift, ranges, ctl.num_ranges);
	if (ret < 0) {
		free(echo);
		return uvf__why(why, ret, "%s: %s", what, uvf_strerror(ret));
	}
	ctl.page_size = 1ull << shift;
	memcpy(echo, &v->feature, sizeof(v->feature));
	memcpy(echo + sizeof(v->feature), &ctl, sizeof(ctl));
	if (ranges_len)
		memcpy(echo + sizeof(v->feature) + sizeof(ctl), start.ranges, ranges_len);
	uvf__reply_add(reply, echo, sizeof(v->feature) + v->data_len);
	*alloc_out = echo;
	dev_info(dev, "DMA logging on: %" PRIu32 " range(s)%s, page size 0x%llx", ctl.num_ranges,
		 ctl.num_ranges ? "" : " (all)", 1ull << shift);
	return 0;
}

static int logging_report(struct uvf_device *dev, const struct uvf_device_feature_view *v, struct uvf_reply *reply,
			  uint8_t **alloc_out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE: DMA_LOGGING_REPORT";
	struct uvf_dma_logging_report_view rv;

	if (!uvf__dma_table_logging(&dev->dma))
		return uvf__why(why, -EINVAL, "%s: logging is off", what);
	/* the client receives at most its max_data_xfer_size of data */
	int ret = uvf__decode_dma_logging_report(v->data, v->data_len, v->feature.argsz,
						 dev->client_caps.max_data_xfer_size, &rv, why);
	if (ret < 0)
		return ret;
	struct uvf_msg_dma_logging_report r = rv.report;
	uint64_t last = r.iova + (r.length - 1); /* the decoder checked it does not wrap */
	if (!uvf__dma_table_log_covers(&dev->dma, r.iova, last))
		return uvf__why(why, -EINVAL, "%s: range 0x%" PRIx64 "+0x%" PRIx64 " is not inside one logged range",
				what, r.iova, r.length);
	uint64_t need = sizeof(struct uvf_msg_device_feature) + sizeof(r) + rv.bitmap_bytes;
	uint8_t *out = calloc(1, (size_t)need);
	if (!out)
		return -ENOMEM;
	struct uvf_msg_device_feature head = {.argsz = (uint32_t)need, .flags = v->feature.flags};
	memcpy(out, &head, sizeof(head));
	memcpy(out + sizeof(head), &r, sizeof(r));
	/* words of the reply are 8-aligned in a calloc'd buffer + 32 */
	uvf__dma_table_log_report(&dev->dma, r.iova, r.length, rv.page_shift,
				  (uint64_t *)(void *)(out + sizeof(head) + sizeof(r)));
	uvf__reply_add(reply, out, (size_t)need);
	*alloc_out = out;
	return 0;
}

int uvf__handle_device_feature(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			       struct uvf_reply *reply, uint8_t **alloc_out, struct uvf_why *why)
{
	struct uvf_device_feature_view v;
	int ret = uvf__decode_device_feature(body, len, nfds, &v, why);
	if (ret < 0)
		return ret;
	uint32_t supported = feature_ops(v.index);
	if (!supported || !dev->mig.enabled)
		return uvf__why(why, -ENOTSUP, "DEVICE_FEATURE: feature %" PRIu32 " is not supported%s", v.index,
				supported ? " (the device does not migrate)" : "");
	uint32_t ops = v.feature.flags & (UVF_FEATURE_GET | UVF_FEATURE_SET);
	if (ops & ~supported)
		return uvf__why(why, -EINVAL, "DEVICE_FEATURE: feature %" PRIu32 " does not support %s", v.index,
				(ops & ~supported) == UVF_FEATURE_GET ? "GET" : "SET");
	if (v.feature.flags & UVF_FEATURE_PROBE) {
		/* the decoder checked argsz >= len: the echo fits */
		uvf__reply_add(reply, body, len);
		return 0;
	}

	switch (v.index) {
	case UVF_FEATURE_MIGRATION: {
		struct uvf_msg_feature_migration m = {.flags = UVF_MIGRATION_STOP_COPY |
							       (dev->mig.flags & UVF_MIGRATION_PRE_COPY)};
		return reply_get(&v, reply, &m, sizeof(m), why);
	}
	case UVF_FEATURE_MIGRATION_DEVICE_STATE:
		if (ops == UVF_FEATURE_GET) {
			struct uvf_msg_feature_migration_state s = {.device_state = get_state(dev),
								    .data_fd = UINT32_MAX};
			return reply_get(&v, reply, &s, sizeof(s), why);
		}
		ret = set_state_feature(dev, &v, why);
		break;
	case UVF_FEATURE_DMA_LOGGING_START:
		return logging_start(dev, &v, reply, alloc_out, why);
	case UVF_FEATURE_DMA_LOGGING_STOP:
		ret = uvf__decode_dma_logging_stop(v.data, v.data_len, why);
		if (ret < 0)
			return ret;
		if (uvf__dma_table_logging(&dev->dma))
			dev_info(dev, "DMA logging off");
		uvf__dma_table_log_stop(&dev->dma);
		ret = 0;
		break;
	default: /* UVF_FEATURE_DMA_LOGGING_REPORT */
		return logging_report(dev, &v, reply, alloc_out, why);
	}
	if (ret == 0)
		uvf__reply_add(reply, body, len); /* SET: the request echoed */
	return ret;
}

/* ------------------------------------------------------------------ */
/* MIG_DATA_READ / MIG_DATA_WRITE                                       */
/* ------------------------------------------------------------------ */

/* Chunks are bounded by both sides' max_data_xfer_size. */
static uint32_t xfer_limit(const struct uvf_device *dev)
{
	uint32_t ours = dev->opts.max_data_xfer_size, theirs = dev->client_caps.max_data_xfer_size;
	return ours < theirs ? ours : theirs;
}

int uvf__handle_mig_data_read(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			      struct uvf_reply *reply, uint8_t **alloc_out, struct uvf_why *why)
{
	struct uvf_msg_migration_data req;

	if (!dev->mig.enabled)
		return uvf__why(why, -ENOTSUP, "MIG_DATA_READ: the device does not migrate");
	int ret = uvf__decode_mig_data_read(body, len, nfds, xfer_limit(dev), &req, why);
	if (ret < 0)
		return ret;
	uint32_t s = get_state(dev);
	if (s != UVF_MIGRATION_STATE_PRE_COPY && s != UVF_MIGRATION_STATE_STOP_COPY)
		return uvf__why(why, -EINVAL, "MIG_DATA_READ in %s: only in PRE_COPY and STOP_COPY", state_name(s));
	uint8_t *out = malloc(sizeof(req) + req.size);
	if (!out)
		return -ENOMEM;
	ssize_t n = 0;
	if (req.size && !(s == UVF_MIGRATION_STATE_STOP_COPY && dev->mig.save_ended)) {
		n = dev->mig.cb.save(dev, dev->mig.data, out + sizeof(req), req.size);
		if (n < 0 || (size_t)n > req.size) {
			free(out);
			ret = n < 0 ? (int)n : -EIO;
			return uvf__why(why, ret, "MIG_DATA_READ: the device's save failed: %s%s", uvf_strerror(ret),
					n >= 0 ? " (it returned more than asked)" : "");
		}
		if (s == UVF_MIGRATION_STATE_STOP_COPY && (size_t)n < req.size)
			dev->mig.save_ended = true; /* docs/protocol.md 9 #13 */
	}
	struct uvf_msg_migration_data head = {.argsz = (uint32_t)(sizeof(head) + (size_t)n), .size = (uint32_t)n};
	memcpy(out, &head, sizeof(head));
	uvf__reply_add(reply, out, sizeof(head) + (size_t)n);
	*alloc_out = out;
	return 0;
}

int uvf__handle_mig_data_write(struct uvf_device *dev, const uint8_t *body, size_t len, size_t nfds,
			       struct uvf_why *why)
{
	struct uvf_msg_migration_data req;
	const uint8_t *data;

	if (!dev->mig.enabled)
		return uvf__why(why, -ENOTSUP, "MIG_DATA_WRITE: the device does not migrate");
	int ret = uvf__decode_mig_data_write(body, len, nfds, xfer_limit(dev), &req, &data, why);
	if (ret < 0)
		return ret;
	uint32_t s = get_state(dev);
	if (s != UVF_MIGRATION_STATE_RESUMING)
		return uvf__why(why, -EINVAL, "MIG_DATA_WRITE in %s: only in RESUMING", state_name(s));
	if (!req.size)
		return 0;
	ret = dev->mig.cb.load(dev, dev->mig.data, data, req.size);
	if (ret < 0)
		return uvf__why(why, ret, "MIG_DATA_WRITE: the device refused %" PRIu32 " bytes: %s", req.size,
				uvf_strerror(ret));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Command gating, reset, disconnect                                    */
/* ------------------------------------------------------------------ */

void uvf__migration_set_strict(struct uvf_device *dev, bool on)
{
	dev->mig.strict = on;
}

/* libvfio-user's rule: in STOP only REGION_READ, REGION_WRITE,
 * DEVICE_FEATURE and MIG_DATA_READ; in STOP_COPY the same minus every
 * region access. */
static int strict_gate(uint16_t command, uint32_t s, struct uvf_why *why)
{
	bool region = command == UVF_CMD_REGION_READ || command == UVF_CMD_REGION_WRITE;

	if (command == UVF_CMD_DEVICE_FEATURE || command == UVF_CMD_MIGRATION_DATA_READ ||
	    (region && s == UVF_MIGRATION_STATE_STOP))
		return 0;
	return uvf__why(why, -EINVAL, "%s: refused in %s (strict mode)", uvf__cmd_name(command), state_name(s));
}

int uvf__migration_gate(struct uvf_device *dev, uint16_t command, struct uvf_why *why)
{
	uint32_t s;

	if (!dev->mig.enabled)
		return 0;
	s = get_state(dev);
	if (dev->mig.strict && (s == UVF_MIGRATION_STATE_STOP || s == UVF_MIGRATION_STATE_STOP_COPY))
		return strict_gate(command, s, why);
	if (s != UVF_MIGRATION_STATE_ERROR)
		return 0;
	/* A failed device takes no guest writes until reset; queries, DMA and
	 * IRQ (re)wiring, reads and the reset itself stay legal. */
	if (command == UVF_CMD_REGION_WRITE || command == UVF_CMD_REGION_WRITE_MULTI)
		return uvf__why(why, -EINVAL, "%s: the device is in the migration ERROR state (DEVICE_RESET first)",
				uvf__cmd_name(command));
	return 0;
}

void uvf__migration_reset(struct uvf_device *dev)
{
	if (!dev->mig.enabled)
		return;
	uint32_t was = get_state(dev);
	dev->mig.save_ended = false;
	set_state(dev, UVF_MIGRATION_STATE_RUNNING);
	if (was != UVF_MIGRATION_STATE_RUNNING)
		dev_info(dev, "migration: %s -> RUNNING by DEVICE_RESET", state_name(was));
}

void uvf__migration_client_gone(struct uvf_device *dev)
{
	if (!dev->mig.enabled)
		return;
	uvf__dma_table_log_stop(&dev->dma);
	uint32_t s = get_state(dev);
	/* A source left in the middle of saving runs again: the migration is
	 * cancelled. STOP (perhaps a finished migration: the device moved),
	 * RESUMING and ERROR stay for the next client to see and decide. */
	if (s == UVF_MIGRATION_STATE_PRE_COPY || s == UVF_MIGRATION_STATE_STOP_COPY) {
		struct uvf_why why = {{0}};
		if (walk(dev, UVF_MIGRATION_STATE_RUNNING, &why) < 0)
			dev_warn(dev, "%s (after the client left)", why.text);
		else
			dev_info(dev, "migration: client left in %s, device back to RUNNING", state_name(s));
	}
	dev->mig.save_ended = false;
}

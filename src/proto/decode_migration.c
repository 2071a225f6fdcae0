/* SPDX-License-Identifier: MIT */
/* Decoders for DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE requests. */
#include "proto/decode_internal.h"

#define UVF_FEATURE_OPS (UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_PROBE)

int uvf__decode_device_feature(const void *payload, size_t len, size_t nfds, struct uvf_device_feature_view *out,
			       struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE";
	struct uvf_msg_device_feature feature;
	uint32_t ops;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(feature), why)) < 0)
		return ret;
	memcpy(&feature, payload, sizeof(feature));
	ops = feature.flags & UVF_FEATURE_OPS;
	if (feature.flags & ~(UVF_FEATURE_BITS | UVF_FEATURE_OPS))
		return uvf__why(why, -EINVAL, "%s: unknown flags 0x%" PRIx32, what,
				feature.flags & ~(UVF_FEATURE_BITS | UVF_FEATURE_OPS));
	if (ops == 0)
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 " ask for none of GET, SET, PROBE", what,
				feature.flags);
	if (ops == (UVF_FEATURE_GET | UVF_FEATURE_SET))
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 " ask for GET and SET without PROBE", what,
				feature.flags);
	/* SET and PROBE echo the request, so its whole payload must fit the reply. */
	if ((ops & (UVF_FEATURE_SET | UVF_FEATURE_PROBE)) && feature.argsz < len)
		return uvf__why(why, -EINVAL, "%s: feature %" PRIu32 " argsz %" PRIu32 " below payload %zu bytes", what,
				feature.flags & UVF_FEATURE_BITS, feature.argsz, len);
	out->feature = feature;
	out->index = feature.flags & UVF_FEATURE_BITS;
	out->data_len = len - sizeof(feature);
	out->data = out->data_len != 0 ? (const uint8_t *)payload + sizeof(feature) : NULL;
	return 0;
}

static int check_mig_size(const char *name, const struct uvf_msg_migration_data *mig, uint32_t max_xfer,
			  struct uvf_why *why)
{
	if (mig->size > max_xfer)
		return uvf__why(why, -E2BIG, "%s: size %" PRIu32 " above max_data_xfer_size %" PRIu32, name, mig->size,
				max_xfer);
	if ((uint64_t)mig->argsz < (uint64_t)sizeof(*mig) + mig->size)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 " below 8 + size %" PRIu32, name, mig->argsz,
				mig->size);
	return 0;
}

int uvf__decode_mig_data_read(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			      struct uvf_msg_migration_data *out, struct uvf_why *why)
{
	static const char what[] = "MIG_DATA_READ";
	struct uvf_msg_migration_data mig;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 || (ret = uvf__expect_len(what, len, sizeof(mig), why)) < 0)
		return ret;
	memcpy(&mig, payload, sizeof(mig));
	if ((ret = check_mig_size(what, &mig, max_xfer, why)) < 0)
		return ret;
	*out = mig;
	return 0;
}

int uvf__decode_mig_data_write(const void *payload, size_t len, size_t nfds, uint32_t max_xfer,
			       struct uvf_msg_migration_data *out, const uint8_t **data, struct uvf_why *why)
{
	static const char what[] = "MIG_DATA_WRITE";
	struct uvf_msg_migration_data mig;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(mig), why)) < 0)
		return ret;
	memcpy(&mig, payload, sizeof(mig));
	if ((ret = check_mig_size(what, &mig, max_xfer, why)) < 0)
		return ret;
	if (len - sizeof(mig) != mig.size)
		return uvf__why(why, -EINVAL, "%s: payload %zu bytes, expected 8 + size %" PRIu32, what, len, mig.size);
	*out = mig;
	if (data != NULL)
		*data = mig.size != 0 ? (const uint8_t *)payload + sizeof(mig) : NULL;
	return 0;
}

int uvf__decode_mig_data_read_reply(const void *payload, size_t len, size_t nfds, uint32_t asked,
				    struct uvf_msg_migration_data *out, const uint8_t **data, struct uvf_why *why)
{
	static const char what[] = "MIG_DATA_READ reply";
	struct uvf_msg_migration_data res;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(res), why)) < 0)
		return ret;
	memcpy(&res, payload, sizeof(res));
	/* A server may size its reply for the size asked (libvfio-user
	 * does): the size field tells the data length, never the message
	 * length. */
	if (res.size > asked || res.argsz != sizeof(res) + (uint64_t)res.size || len < sizeof(res) + (size_t)res.size ||
	    len > sizeof(res) + (size_t)asked)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 " size %" PRIu32 " in %zu bytes (asked %" PRIu32 ")",
				what, res.argsz, res.size, len, asked);
	*out = res;
	if (data != NULL)
		*data = (const uint8_t *)payload + sizeof(res);
	return 0;
}

int uvf__decode_mig_data_write_reply(const void *payload, size_t len, size_t nfds, struct uvf_why *why)
{
	static const char what[] = "MIG_DATA_WRITE reply";
	int ret;

	(void)payload;
	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 || (ret = uvf__expect_len(what, len, 0, why)) < 0)
		return ret;
	return 0;
}

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE replies and the device state                          */
/* ------------------------------------------------------------------ */

int uvf__decode_feature_reply(const void *payload, size_t len, size_t nfds, uint32_t index,
			      struct uvf_feature_reply_view *out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE reply";
	struct uvf_msg_device_feature got;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(got), why)) < 0)
		return ret;
	memcpy(&got, payload, sizeof(got));
	if ((got.flags & UVF_FEATURE_BITS) != (index & UVF_FEATURE_BITS))
		return uvf__why(why, -EINVAL, "%s: about feature %" PRIu32 ", asked %" PRIu32, what,
				got.flags & UVF_FEATURE_BITS, index & UVF_FEATURE_BITS);
	out->feature = got;
	out->data_len = len - sizeof(got);
	out->data = out->data_len != 0 ? (const uint8_t *)payload + sizeof(got) : NULL;
	return 0;
}

int uvf__decode_feature_get_reply(const void *payload, size_t len, size_t nfds, uint32_t index, size_t data_len,
				  struct uvf_feature_reply_view *out, struct uvf_why *why)
{
	uint64_t argsz = sizeof(struct uvf_msg_device_feature) + (uint64_t)data_len;
	struct uvf_feature_reply_view v;
	int ret;

	if ((ret = uvf__decode_feature_reply(payload, len, nfds, index, &v, why)) < 0)
		return ret;
	if (len != argsz || v.feature.argsz != argsz)
		return uvf__why(why, -EINVAL,
				"DEVICE_FEATURE GET reply: %zu bytes, argsz %" PRIu32 " (expected %" PRIu64 ")", len,
				v.feature.argsz, argsz);
	*out = v;
	return 0;
}

int uvf__decode_feature_echo_reply(const void *payload, size_t len, size_t nfds, uint32_t flags, const void *data,
				   size_t data_len, struct uvf_why *why)
{
	struct uvf_msg_device_feature want = {.argsz = (uint32_t)(sizeof(want) + data_len), .flags = flags};
	struct uvf_feature_reply_view v;
	int ret;

	if ((ret = uvf__decode_feature_reply(payload, len, nfds, flags, &v, why)) < 0)
		return ret;
	if (data_len > UINT32_MAX - sizeof(want) || len != sizeof(want) + data_len ||
	    memcmp(&v.feature, &want, sizeof(want)) != 0 || (data_len && memcmp(v.data, data, data_len) != 0))
		return uvf__why(why, -EINVAL, "DEVICE_FEATURE reply: %zu bytes that do not echo the request", len);
	return 0;
}

int uvf__decode_mig_state(const void *data, size_t len, struct uvf_msg_feature_migration_state *out,
			  struct uvf_why *why)
{
	static const char what[] = "MIG_DEVICE_STATE";
	struct uvf_msg_feature_migration_state st;

	if (len != sizeof(st))
		return uvf__why(why, -EINVAL, "%s: %zu data bytes, expected %zu", what, len, sizeof(st));
	memcpy(&st, data, sizeof(st));
	/* data_fd is the kernel's data channel: not used in vfio-user, so
	 * whatever a peer puts there is left alone. */
	if (st.device_state > UVF_MIGRATION_STATE_PRE_COPY_P2P)
		return uvf__why(why, -EINVAL, "%s: state %" PRIu32 " is not a migration state", what, st.device_state);
	*out = st;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Decoders for DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE requests. */
#include "proto/decode_internal.h"

#define UVF_FEATURE_OPS (UVF_FEATURE_GET | UVF_FEATURE_SET | UVF_FEATURE_PROBE)

int uvf__decode_device_feature(const void *payload, size_t len, size_t nfds, struct uvf_device_feature_view *out,
			       struct uvf_why *why)
{
	static const char what[] = "DEVICE_FEATURE";
	struct uvf_device_feature feature;
	uint32_t ops;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(feature), why)) < 0)
		return ret;
	memcpy(&feature, payload, sizeof(feature));
	ops = feature.flags & UVF_FEATURE_OPS;
	if (feature.flags & ~(UVF_FEATURE_MASK | UVF_FEATURE_OPS))
		return uvf__why(why, -EINVAL, "%s: unknown flags 0x%" PRIx32, what,
				feature.flags & ~(UVF_FEATURE_MASK | UVF_FEATURE_OPS));
	if (ops == 0)
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 " ask for none of GET, SET, PROBE", what,
				feature.flags);
	if (ops == (UVF_FEATURE_GET | UVF_FEATURE_SET))
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 " ask for GET and SET without PROBE", what,
				feature.flags);
	/* SET and PROBE echo the request, so its whole payload must fit the reply. */
	if ((ops & (UVF_FEATURE_SET | UVF_FEATURE_PROBE)) && feature.argsz < len)
		return uvf__why(why, -EINVAL, "%s: feature %" PRIu32 " argsz %" PRIu32 " below payload %zu bytes", what,
				feature.flags & UVF_FEATURE_MASK, feature.argsz, len);
	out->feature = feature;
	out->index = feature.flags & UVF_FEATURE_MASK;
	out->data_len = len - sizeof(feature);
	out->data = out->data_len != 0 ? (const uint8_t *)payload + sizeof(feature) : NULL;
	return 0;
}

static int check_mig_size(const char *name, const struct uvf_mig_data *mig, uint32_t max_xfer, struct uvf_why *why)
{
	if (mig->size > max_xfer)
		return uvf__why(why, -E2BIG, "%s: size %" PRIu32 " above max_data_xfer_size %" PRIu32, name, mig->size,
				max_xfer);
	if ((uint64_t)mig->argsz < (uint64_t)sizeof(*mig) + mig->size)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 " below 8 + size %" PRIu32, name, mig->argsz,
				mig->size);
	return 0;
}

int uvf__decode_mig_data_read(const void *payload, size_t len, size_t nfds, uint32_t max_xfer, struct uvf_mig_data *out,
			      struct uvf_why *why)
{
	static const char what[] = "MIG_DATA_READ";
	struct uvf_mig_data mig;
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
			       struct uvf_mig_data *out, const uint8_t **data, struct uvf_why *why)
{
	static const char what[] = "MIG_DATA_WRITE";
	struct uvf_mig_data mig;
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

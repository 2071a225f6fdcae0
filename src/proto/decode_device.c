/* SPDX-License-Identifier: MIT */
/* Decoders for the set-up commands: VERSION, DEVICE_GET_INFO, the request of
 * DEVICE_GET_REGION_INFO, DEVICE_GET_IRQ_INFO, DEVICE_SET_IRQS, DEVICE_RESET. */
#include "proto/decode_internal.h"

#define UVF_IRQ_INFO_FLAGS_KNOWN                                                                                       \
	(UVF_IRQ_INFO_EVENTFD | UVF_IRQ_INFO_MASKABLE | UVF_IRQ_INFO_AUTOMASKED | UVF_IRQ_INFO_NORESIZE)
/* Vectors an IRQ index may report: MSI-X allows 2048, nothing has more. */
#define UVF_IRQ_COUNT_MAX 2048u

int uvf__decode_version(const void *payload, size_t len, size_t nfds, size_t max_fds, struct uvf_version_view *out,
			struct uvf_why *why)
{
	struct uvf_msg_version version;
	struct uvf_version_view view = {0};
	const char *text, *nul;
	size_t text_len;

	if (nfds > max_fds)
		return uvf__why(why, -EINVAL, "VERSION: %zu file descriptors, at most %zu allowed", nfds, max_fds);
	if (len < sizeof(version))
		return uvf__why(why, -EINVAL, "VERSION: payload %zu bytes, expected at least 4", len);
	memcpy(&version, payload, sizeof(version));
	view.major = version.major;
	view.minor = version.minor;
	if (len == sizeof(version)) {
		*out = view;
		return 0;
	}

	text = (const char *)payload + sizeof(version);
	text_len = len - sizeof(version); /* includes the NUL */
	if (text_len - 1 > UVF_CAPS_JSON_MAX)
		return uvf__why(why, -EINVAL, "VERSION: JSON text of %zu bytes above %u", text_len - 1,
				UVF_CAPS_JSON_MAX);
	if (text[text_len - 1] != '\0')
		return uvf__why(why, -EINVAL, "VERSION: JSON text of %zu bytes not NUL-terminated", text_len);
	nul = memchr(text, '\0', text_len - 1);
	if (nul != NULL)
		return uvf__why(why, -EINVAL, "VERSION: NUL byte inside the JSON text at offset %zu",
				(size_t)(nul - text));
	view.json = text;
	view.json_len = text_len - 1;
	*out = view;
	return 0;
}

int uvf__decode_device_info_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_device_info *out,
				struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_INFO";
	struct uvf_msg_device_info info;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(info), why)) < 0)
		return ret;
	memcpy(&info, payload, sizeof(info));
	if ((ret = uvf__expect_min_argsz(what, info.argsz, sizeof(info), why)) < 0)
		return ret;
	*out = info;
	return 0;
}

int uvf__decode_device_info_reply(const void *payload, size_t len, size_t nfds, uint32_t max_regions, uint32_t max_irqs,
				  struct uvf_msg_device_info *out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_INFO reply";
	struct uvf_msg_device_info info;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(info), why)) < 0)
		return ret;
	memcpy(&info, payload, sizeof(info));
	if ((ret = uvf__expect_min_argsz(what, info.argsz, sizeof(info), why)) < 0)
		return ret;
	if (!(info.flags & UVF_DEVICE_FLAG_PCI))
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 " lack PCI (0x2)", what, info.flags);
	if (info.num_regions < UVF_PCI_NUM_REGIONS || info.num_regions > max_regions)
		return uvf__why(why, -EINVAL, "%s: num_regions %" PRIu32 " outside %u..%" PRIu32, what,
				info.num_regions, UVF_PCI_NUM_REGIONS, max_regions);
	if (info.num_irqs < UVF_PCI_NUM_IRQS || info.num_irqs > max_irqs)
		return uvf__why(why, -EINVAL, "%s: num_irqs %" PRIu32 " outside %u..%" PRIu32, what, info.num_irqs,
				UVF_PCI_NUM_IRQS, max_irqs);
	*out = info;
	return 0;
}

int uvf__decode_region_info_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_region_info *out,
				struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_REGION_INFO";
	struct uvf_msg_region_info info;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(info), why)) < 0)
		return ret;
	memcpy(&info, payload, sizeof(info));
	if ((ret = uvf__expect_min_argsz(what, info.argsz, sizeof(info), why)) < 0)
		return ret;
	*out = info;
	return 0;
}

int uvf__decode_irq_info_req(const void *payload, size_t len, size_t nfds, struct uvf_msg_irq_info *out,
			     struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_IRQ_INFO";
	struct uvf_msg_irq_info info;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_len(what, len, sizeof(info), why)) < 0)
		return ret;
	memcpy(&info, payload, sizeof(info));
	if ((ret = uvf__expect_min_argsz(what, info.argsz, sizeof(info), why)) < 0)
		return ret;
	*out = info;
	return 0;
}

int uvf__decode_irq_info_reply(const void *payload, size_t len, size_t nfds, uint32_t expected_index,
			       struct uvf_msg_irq_info *out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_GET_IRQ_INFO reply";
	struct uvf_msg_irq_info info;
	int ret;

	if ((ret = uvf__expect_no_fds(what, nfds, why)) < 0 ||
	    (ret = uvf__expect_min_len(what, len, sizeof(info), why)) < 0)
		return ret;
	memcpy(&info, payload, sizeof(info));
	if (info.index != expected_index)
		return uvf__why(why, -EINVAL, "%s: index %" PRIu32 ", expected %" PRIu32, what, info.index,
				expected_index);
	if (info.flags & ~UVF_IRQ_INFO_FLAGS_KNOWN)
		return uvf__why(why, -EINVAL, "%s: index %" PRIu32 " unknown flags 0x%" PRIx32, what, info.index,
				info.flags & ~UVF_IRQ_INFO_FLAGS_KNOWN);
	if (info.count > UVF_IRQ_COUNT_MAX)
		return uvf__why(why, -EINVAL, "%s: index %" PRIu32 " count %" PRIu32 " above %u", what, info.index,
				info.count, UVF_IRQ_COUNT_MAX);
	*out = info;
	return 0;
}

static bool one_bit(uint32_t value)
{
	return value != 0 && (value & (value - 1)) == 0;
}

int uvf__decode_irq_set(const void *payload, size_t len, size_t nfds, struct uvf_irq_set_view *out, struct uvf_why *why)
{
	static const char what[] = "DEVICE_SET_IRQS";
	struct uvf_msg_irq_set set;
	uint32_t data, action, extra;
	uint64_t end;
	int ret;

	if ((ret = uvf__expect_min_len(what, len, sizeof(set), why)) < 0)
		return ret;
	memcpy(&set, payload, sizeof(set));
	if (set.argsz != len)
		return uvf__why(why, -EINVAL, "%s: argsz %" PRIu32 " does not match payload %zu bytes", what, set.argsz,
				len);
	data = set.flags & UVF_IRQ_SET_DATA_BITS;
	action = set.flags & UVF_IRQ_SET_ACTION_BITS;
	extra = set.flags & ~(UVF_IRQ_SET_DATA_BITS | UVF_IRQ_SET_ACTION_BITS);
	if (extra != 0 || !one_bit(data) || !one_bit(action))
		return uvf__why(why, -EINVAL, "%s: flags 0x%" PRIx32 " must hold exactly one DATA and one ACTION bit",
				what, set.flags);
	if (set.index >= UVF_PCI_NUM_IRQS)
		return uvf__why(why, -EINVAL, "%s: index %" PRIu32 " not below %u", what, set.index, UVF_PCI_NUM_IRQS);
	end = (uint64_t)set.start + set.count;
	if (end > UINT32_MAX)
		return uvf__why(why, -EINVAL, "%s: start %" PRIu32 " + count %" PRIu32 " wraps", what, set.start,
				set.count);
	if (set.count == 0 && (set.start != 0 || data != UVF_IRQ_SET_DATA_NONE || action != UVF_IRQ_SET_ACTION_TRIGGER))
		return uvf__why(why, -EINVAL,
				"%s: count 0 (start %" PRIu32 ", flags 0x%" PRIx32
				") is only valid as start 0 with DATA_NONE|ACTION_TRIGGER",
				what, set.start, set.flags);

	out->bools = NULL;
	out->deassign = false;
	switch (data) {
	case UVF_IRQ_SET_DATA_NONE:
		if ((ret = uvf__expect_len("DEVICE_SET_IRQS DATA_NONE", len, sizeof(set), why)) < 0 ||
		    (ret = uvf__expect_no_fds("DEVICE_SET_IRQS DATA_NONE", nfds, why)) < 0)
			return ret;
		break;
	case UVF_IRQ_SET_DATA_BOOL:
		if (len - sizeof(set) != set.count)
			return uvf__why(why, -EINVAL, "%s: DATA_BOOL payload %zu bytes, expected 20 + count %" PRIu32,
					what, len, set.count);
		if ((ret = uvf__expect_no_fds("DEVICE_SET_IRQS DATA_BOOL", nfds, why)) < 0)
			return ret;
		out->bools = (const uint8_t *)payload + sizeof(set);
		break;
	default: /* UVF_IRQ_SET_DATA_EVENTFD */
		if ((ret = uvf__expect_len("DEVICE_SET_IRQS DATA_EVENTFD", len, sizeof(set), why)) < 0)
			return ret;
		if (nfds != 0 && nfds != set.count)
			return uvf__why(why, -EINVAL,
					"%s: DATA_EVENTFD with %zu file descriptors, expected 0 or count %" PRIu32,
					what, nfds, set.count);
		out->deassign = nfds == 0;
		break;
	}
	out->set = set;
	out->data_type = data;
	out->action = action;
	return 0;
}

int uvf__decode_device_reset(const void *payload, size_t len, size_t nfds, struct uvf_why *why)
{
	int ret;

	(void)payload;
	if ((ret = uvf__expect_no_fds("DEVICE_RESET", nfds, why)) < 0 ||
	    (ret = uvf__expect_len("DEVICE_RESET", len, 0, why)) < 0)
		return ret;
	return 0;
}

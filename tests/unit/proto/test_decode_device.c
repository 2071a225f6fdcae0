/* SPDX-License-Identifier: MIT */
/* Decoders of VERSION, DEVICE_GET_INFO, DEVICE_GET_REGION_INFO (request),
 * DEVICE_GET_IRQ_INFO, DEVICE_SET_IRQS and DEVICE_RESET. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto_test.h"

static struct uvf_why why;

/* ---------------------------------------------------------------- VERSION */

static int version(const void *src, size_t len, size_t nfds, size_t max_fds, struct uvf_version_view *out)
{
	uint8_t *payload = wire_copy(src, len, len);
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_version(payload, len, nfds, max_fds, out, &why);
	if (ret == 0 && out->json != NULL) {
		/* the view points into the payload, just after major/minor */
		assert_ptr_equal(out->json, payload + 4);
		assert_int_equal(out->json[out->json_len], '\0');
	}
	wire_free(payload);
	return ret;
}

static void test_version_without_json(void **state)
{
	struct uvf_version_view view;
	static const uint8_t payload[] = {0x00, 0x00, 0x02, 0x00};

	assert_int_equal(version(payload, 4, 0, 0, &view), 0);
	assert_int_equal(view.major, 0);
	assert_int_equal(view.minor, 2);
	assert_null(view.json);
	assert_int_equal(view.json_len, 0);
}

static void test_version_refuses_short_payload(void **state)
{
	struct uvf_version_view view;

	assert_refused(version("\0\0\0", 3, 0, 0, &view), -EINVAL, why, "VERSION");
	assert_refused(version("", 0, 0, 0, &view), -EINVAL, why, "VERSION");
}

static void test_version_with_json(void **state)
{
	static const char payload[] = "\x01\x00\x03\x00{\"capabilities\":{}}";
	struct uvf_version_view view;

	assert_int_equal(version(payload, sizeof(payload), 0, 0, &view), 0);
	assert_int_equal(view.major, 1);
	assert_int_equal(view.minor, 3);
	assert_int_equal(view.json_len, strlen("{\"capabilities\":{}}"));
	assert_int_equal(version("\0\0\0\0", 5, 0, 0, &view), 0);
	assert_non_null(view.json);
	assert_int_equal(view.json_len, 0);
}

static void test_version_refuses_unterminated_json(void **state)
{
	static const char payload[] = "\0\0\0\0{}";
	struct uvf_version_view view;

	assert_refused(version(payload, sizeof(payload) - 1, 0, 0, &view), -EINVAL, why, "NUL-terminated");
}

static void test_version_refuses_nul_inside_json(void **state)
{
	static const char payload[] = "\0\0\0\0{}\0{}";
	struct uvf_version_view view;

	assert_refused(version(payload, sizeof(payload), 0, 0, &view), -EINVAL, why, "offset 2");
}

static void test_version_json_length_limit(void **state)
{
	static uint8_t payload[4 + UVF_CAPS_JSON_MAX + 2];
	struct uvf_version_view view;

	memset(payload, ' ', sizeof(payload));
	payload[4 + UVF_CAPS_JSON_MAX] = '\0';
	assert_int_equal(version(payload, 4 + UVF_CAPS_JSON_MAX + 1, 0, 0, &view), 0);
	assert_int_equal(view.json_len, UVF_CAPS_JSON_MAX);
	payload[4 + UVF_CAPS_JSON_MAX] = ' ';
	payload[4 + UVF_CAPS_JSON_MAX + 1] = '\0';
	assert_refused(version(payload, sizeof(payload), 0, 0, &view), -EINVAL, why, "VERSION");
}

static void test_version_fd_count_limit(void **state)
{
	static const char payload[] = "\0\0\0\0{}";
	struct uvf_version_view view;

	assert_int_equal(version(payload, sizeof(payload), 1, 1, &view), 0);
	assert_int_equal(version(payload, sizeof(payload), 0, 1, &view), 0);
	assert_refused(version(payload, sizeof(payload), 1, 0, &view), -EINVAL, why, "VERSION");
	assert_refused(version(payload, sizeof(payload), 2, 1, &view), -EINVAL, why, "VERSION");
}

/* -------------------------------------------------------- DEVICE_GET_INFO */

static int info_req(const struct uvf_msg_device_info *info, size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(info, sizeof(*info), len);
	struct uvf_msg_device_info out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_device_info_req(payload, len, nfds, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, info, sizeof(out));
	wire_free(payload);
	return ret;
}

static void test_device_info_req_length(void **state)
{
	struct uvf_msg_device_info info = {.argsz = 16};

	assert_int_equal(info_req(&info, 16, 0), 0);
	assert_refused(info_req(&info, 15, 0), -EINVAL, why, "DEVICE_GET_INFO");
	assert_refused(info_req(&info, 17, 0), -EINVAL, why, "DEVICE_GET_INFO");
}

static void test_device_info_req_argsz(void **state)
{
	struct uvf_msg_device_info info = {.argsz = 4096};

	assert_int_equal(info_req(&info, 16, 0), 0);
	info.argsz = 15;
	assert_refused(info_req(&info, 16, 0), -EINVAL, why, "argsz 15");
}

static void test_device_info_req_refuses_fds(void **state)
{
	struct uvf_msg_device_info info = {.argsz = 16};

	assert_refused(info_req(&info, 16, 1), -EINVAL, why, "DEVICE_GET_INFO");
}

static int info_reply(const struct uvf_msg_device_info *info, size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(info, sizeof(*info), len);
	struct uvf_msg_device_info out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_device_info_reply(payload, len, nfds, 100, 50, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, info, sizeof(out));
	wire_free(payload);
	return ret;
}

static const struct uvf_msg_device_info good_info = {
	.argsz = 16,
	.flags = UVF_DEVICE_FLAG_PCI | UVF_DEVICE_FLAG_RESET,
	.num_regions = 9,
	.num_irqs = 5,
};

static void test_device_info_reply_length(void **state)
{
	assert_int_equal(info_reply(&good_info, 16, 0), 0);
	assert_int_equal(info_reply(&good_info, 24, 0), 0);
	assert_refused(info_reply(&good_info, 15, 0), -EINVAL, why, "DEVICE_GET_INFO reply");
}

static void test_device_info_reply_argsz(void **state)
{
	struct uvf_msg_device_info info = good_info;

	info.argsz = 15;
	assert_refused(info_reply(&info, 16, 0), -EINVAL, why, "argsz 15");
}

static void test_device_info_reply_needs_pci(void **state)
{
	struct uvf_msg_device_info info = good_info;

	info.flags = UVF_DEVICE_FLAG_PCI;
	assert_int_equal(info_reply(&info, 16, 0), 0);
	info.flags = UVF_DEVICE_FLAG_RESET;
	assert_refused(info_reply(&info, 16, 0), -EINVAL, why, "PCI");
}

static void test_device_info_reply_region_count(void **state)
{
	struct uvf_msg_device_info info = good_info;

	info.num_regions = 100;
	assert_int_equal(info_reply(&info, 16, 0), 0);
	info.num_regions = 8;
	assert_refused(info_reply(&info, 16, 0), -EINVAL, why, "num_regions 8");
	info.num_regions = 101;
	assert_refused(info_reply(&info, 16, 0), -EINVAL, why, "num_regions 101");
}

static void test_device_info_reply_irq_count(void **state)
{
	struct uvf_msg_device_info info = good_info;

	info.num_irqs = 50;
	assert_int_equal(info_reply(&info, 16, 0), 0);
	info.num_irqs = 4;
	assert_refused(info_reply(&info, 16, 0), -EINVAL, why, "num_irqs 4");
	info.num_irqs = 51;
	assert_refused(info_reply(&info, 16, 0), -EINVAL, why, "num_irqs 51");
}

static void test_device_info_reply_refuses_fds(void **state)
{
	assert_refused(info_reply(&good_info, 16, 1), -EINVAL, why, "DEVICE_GET_INFO reply");
}

/* ------------------------------------------ DEVICE_GET_REGION_INFO request */

static int region_req(const struct uvf_msg_region_info *info, size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(info, sizeof(*info), len);
	struct uvf_msg_region_info out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_region_info_req(payload, len, nfds, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, info, sizeof(out));
	wire_free(payload);
	return ret;
}

static void test_region_info_req_length(void **state)
{
	struct uvf_msg_region_info info = {.argsz = 32, .index = 7};

	assert_int_equal(region_req(&info, 32, 0), 0);
	assert_refused(region_req(&info, 31, 0), -EINVAL, why, "DEVICE_GET_REGION_INFO");
	assert_refused(region_req(&info, 33, 0), -EINVAL, why, "DEVICE_GET_REGION_INFO");
}

static void test_region_info_req_argsz(void **state)
{
	struct uvf_msg_region_info info = {.argsz = 1024, .index = 0};

	assert_int_equal(region_req(&info, 32, 0), 0);
	info.argsz = 31;
	assert_refused(region_req(&info, 32, 0), -EINVAL, why, "argsz 31");
}

static void test_region_info_req_refuses_fds(void **state)
{
	struct uvf_msg_region_info info = {.argsz = 32};

	assert_refused(region_req(&info, 32, 1), -EINVAL, why, "DEVICE_GET_REGION_INFO");
}

/* ---------------------------------------------------- DEVICE_GET_IRQ_INFO */

static int irq_req(const struct uvf_msg_irq_info *info, size_t len, size_t nfds)
{
	uint8_t *payload = wire_copy(info, sizeof(*info), len);
	struct uvf_msg_irq_info out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_irq_info_req(payload, len, nfds, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, info, sizeof(out));
	wire_free(payload);
	return ret;
}

static void test_irq_info_req_length(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16, .index = 2};

	assert_int_equal(irq_req(&info, 16, 0), 0);
	assert_refused(irq_req(&info, 15, 0), -EINVAL, why, "DEVICE_GET_IRQ_INFO");
	assert_refused(irq_req(&info, 20, 0), -EINVAL, why, "DEVICE_GET_IRQ_INFO");
}

static void test_irq_info_req_argsz(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 17};

	assert_int_equal(irq_req(&info, 16, 0), 0);
	info.argsz = 0;
	assert_refused(irq_req(&info, 16, 0), -EINVAL, why, "argsz 0");
}

static void test_irq_info_req_refuses_fds(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16};

	assert_refused(irq_req(&info, 16, 2), -EINVAL, why, "DEVICE_GET_IRQ_INFO");
}

static int irq_reply(const struct uvf_msg_irq_info *info, size_t len, size_t nfds, uint32_t expected_index)
{
	uint8_t *payload = wire_copy(info, sizeof(*info), len);
	struct uvf_msg_irq_info out;
	int ret;

	why.text[0] = '\0';
	ret = uvf__decode_irq_info_reply(payload, len, nfds, expected_index, &out, &why);
	if (ret == 0)
		assert_memory_equal(&out, info, sizeof(out));
	wire_free(payload);
	return ret;
}

static void test_irq_info_reply_length(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16, .flags = UVF_IRQ_INFO_EVENTFD, .index = 2, .count = 32};

	assert_int_equal(irq_reply(&info, 16, 0, 2), 0);
	assert_int_equal(irq_reply(&info, 20, 0, 2), 0);
	assert_refused(irq_reply(&info, 15, 0, 2), -EINVAL, why, "DEVICE_GET_IRQ_INFO reply");
}

static void test_irq_info_reply_index_must_echo(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16, .index = 1, .count = 1};

	assert_int_equal(irq_reply(&info, 16, 0, 1), 0);
	assert_refused(irq_reply(&info, 16, 0, 2), -EINVAL, why, "index 1, expected 2");
}

static void test_irq_info_reply_flags(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16, .flags = 0xf, .index = 0, .count = 1};

	assert_int_equal(irq_reply(&info, 16, 0, 0), 0);
	info.flags = 0x10;
	assert_refused(irq_reply(&info, 16, 0, 0), -EINVAL, why, "0x10");
}

static void test_irq_info_reply_count_limit(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16, .index = 2, .count = 2048};

	assert_int_equal(irq_reply(&info, 16, 0, 2), 0);
	info.count = 2049;
	assert_refused(irq_reply(&info, 16, 0, 2), -EINVAL, why, "2049");
}

static void test_irq_info_reply_refuses_fds(void **state)
{
	struct uvf_msg_irq_info info = {.argsz = 16};

	assert_refused(irq_reply(&info, 16, 1, 0), -EINVAL, why, "DEVICE_GET_IRQ_INFO reply");
}

/* -------------------------------------------------------- DEVICE_SET_IRQS */

struct irq_set_msg {
	struct uvf_msg_irq_set set;
	uint8_t data[64];
} __attribute__((packed));

static int irq_set(const struct irq_set_msg *msg, size_t len, size_t nfds, struct uvf_irq_set_view *view)
{
	uint8_t *payload = wire_copy(msg, sizeof(*msg), len);
	struct uvf_irq_set_view local;
	int ret;

	if (view == NULL)
		view = &local;
	why.text[0] = '\0';
	ret = uvf__decode_irq_set(payload, len, nfds, view, &why);
	if (ret == 0) {
		assert_memory_equal(&view->set, &msg->set, sizeof(view->set));
		if (view->bools != NULL) {
			assert_ptr_equal(view->bools, payload + 20);
			view->bools = NULL; /* the copy is freed below */
		}
	}
	wire_free(payload);
	return ret;
}

static struct irq_set_msg set_msg(uint32_t flags, uint32_t index, uint32_t start, uint32_t count, uint32_t argsz)
{
	struct irq_set_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.set.argsz = argsz;
	msg.set.flags = flags;
	msg.set.index = index;
	msg.set.start = start;
	msg.set.count = count;
	return msg;
}

#define NONE_TRIGGER	(UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_TRIGGER)
#define EVENTFD_TRIGGER (UVF_IRQ_SET_DATA_EVENTFD | UVF_IRQ_SET_ACTION_TRIGGER)
#define BOOL_UNMASK	(UVF_IRQ_SET_DATA_BOOL | UVF_IRQ_SET_ACTION_UNMASK)

static void test_irq_set_length(void **state)
{
	struct irq_set_msg msg = set_msg(NONE_TRIGGER, UVF_PCI_MSIX_IRQ, 0, 4, 20);

	assert_int_equal(irq_set(&msg, 20, 0, NULL), 0);
	msg.set.argsz = 19;
	assert_refused(irq_set(&msg, 19, 0, NULL), -EINVAL, why, "DEVICE_SET_IRQS");
}

static void test_irq_set_argsz_must_equal_payload(void **state)
{
	struct irq_set_msg msg = set_msg(NONE_TRIGGER, UVF_PCI_MSIX_IRQ, 0, 4, 21);

	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "argsz 21");
	msg.set.argsz = 20;
	assert_int_equal(irq_set(&msg, 20, 0, NULL), 0);
}

static void test_irq_set_needs_one_data_and_one_action(void **state)
{
	static const uint32_t bad[] = {
		UVF_IRQ_SET_DATA_NONE,
		UVF_IRQ_SET_ACTION_TRIGGER,
		UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_DATA_BOOL | UVF_IRQ_SET_ACTION_TRIGGER,
		UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_MASK | UVF_IRQ_SET_ACTION_UNMASK,
		NONE_TRIGGER | 0x40,
		NONE_TRIGGER | 0x80000000u,
		0,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct irq_set_msg msg = set_msg(bad[i], UVF_PCI_MSI_IRQ, 0, 1, 20);

		assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "exactly one DATA");
	}
	for (i = 0; i < 3; i++) {
		struct irq_set_msg msg =
			set_msg(UVF_IRQ_SET_DATA_NONE | (UVF_IRQ_SET_ACTION_MASK << i), UVF_PCI_MSI_IRQ, 0, 1, 20);

		assert_int_equal(irq_set(&msg, 20, 0, NULL), 0);
	}
}

static void test_irq_set_index_below_five(void **state)
{
	struct irq_set_msg msg = set_msg(NONE_TRIGGER, UVF_PCI_REQ_IRQ, 0, 1, 20);

	assert_int_equal(irq_set(&msg, 20, 0, NULL), 0);
	msg.set.index = UVF_PCI_NUM_IRQS;
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "index 5");
}

static void test_irq_set_start_plus_count_must_not_wrap(void **state)
{
	struct irq_set_msg msg = set_msg(NONE_TRIGGER, UVF_PCI_MSIX_IRQ, UINT32_MAX - 1, 1, 20);

	assert_int_equal(irq_set(&msg, 20, 0, NULL), 0);
	msg.set.start = UINT32_MAX;
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "wraps");
	msg.set.start = 1;
	msg.set.count = UINT32_MAX;
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "wraps");
}

static void test_irq_set_data_none_is_bare_and_fdless(void **state)
{
	struct irq_set_msg msg = set_msg(UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_UNMASK, UVF_PCI_INTX_IRQ, 0, 1, 21);
	struct uvf_irq_set_view view;

	assert_refused(irq_set(&msg, 21, 0, NULL), -EINVAL, why, "DATA_NONE");
	msg.set.argsz = 20;
	assert_refused(irq_set(&msg, 20, 1, NULL), -EINVAL, why, "DATA_NONE");
	assert_int_equal(irq_set(&msg, 20, 0, &view), 0);
	assert_int_equal(view.data_type, UVF_IRQ_SET_DATA_NONE);
	assert_int_equal(view.action, UVF_IRQ_SET_ACTION_UNMASK);
	assert_false(view.deassign);
	assert_null(view.bools);
}

static void test_irq_set_data_bool_carries_count_bytes(void **state)
{
	struct irq_set_msg msg = set_msg(BOOL_UNMASK, UVF_PCI_MSI_IRQ, 2, 3, 23);
	struct uvf_irq_set_view view;

	msg.data[0] = 1;
	msg.data[2] = 1;
	assert_int_equal(irq_set(&msg, 23, 0, &view), 0);
	assert_int_equal(view.data_type, UVF_IRQ_SET_DATA_BOOL);
	msg.set.argsz = 22;
	assert_refused(irq_set(&msg, 22, 0, NULL), -EINVAL, why, "DATA_BOOL");
	msg.set.argsz = 24;
	assert_refused(irq_set(&msg, 24, 0, NULL), -EINVAL, why, "DATA_BOOL");
	msg.set.argsz = 23;
	assert_refused(irq_set(&msg, 23, 1, NULL), -EINVAL, why, "DATA_BOOL");
}

static void test_irq_set_data_bool_points_at_data(void **state)
{
	struct irq_set_msg msg = set_msg(BOOL_UNMASK, UVF_PCI_MSI_IRQ, 0, 2, 22);
	uint8_t *payload;
	struct uvf_irq_set_view view;

	msg.data[0] = 0;
	msg.data[1] = 7;
	payload = wire_copy(&msg, sizeof(msg), 22);
	assert_int_equal(uvf__decode_irq_set(payload, 22, 0, &view, &why), 0);
	assert_non_null(view.bools);
	assert_int_equal(view.bools[0], 0);
	assert_int_equal(view.bools[1], 7);
	wire_free(payload);
}

static void test_irq_set_data_eventfd_fd_count(void **state)
{
	struct irq_set_msg msg = set_msg(EVENTFD_TRIGGER, UVF_PCI_MSIX_IRQ, 0, 3, 20);
	struct uvf_irq_set_view view;

	assert_int_equal(irq_set(&msg, 20, 3, &view), 0);
	assert_false(view.deassign);
	assert_int_equal(view.data_type, UVF_IRQ_SET_DATA_EVENTFD);
	assert_int_equal(view.action, UVF_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(irq_set(&msg, 20, 0, &view), 0);
	assert_true(view.deassign);
	assert_refused(irq_set(&msg, 20, 2, NULL), -EINVAL, why, "DATA_EVENTFD");
	assert_refused(irq_set(&msg, 20, 4, NULL), -EINVAL, why, "DATA_EVENTFD");
	msg.set.argsz = 24;
	assert_refused(irq_set(&msg, 24, 3, NULL), -EINVAL, why, "DATA_EVENTFD");
}

static void test_irq_set_count_zero_only_disables_with_none_trigger(void **state)
{
	struct irq_set_msg msg = set_msg(NONE_TRIGGER, UVF_PCI_MSIX_IRQ, 0, 0, 20);

	assert_int_equal(irq_set(&msg, 20, 0, NULL), 0);
	msg.set.start = 1;
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "count 0");
	msg = set_msg(UVF_IRQ_SET_DATA_NONE | UVF_IRQ_SET_ACTION_MASK, UVF_PCI_MSIX_IRQ, 0, 0, 20);
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "count 0");
	msg = set_msg(EVENTFD_TRIGGER, UVF_PCI_MSIX_IRQ, 0, 0, 20);
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "count 0");
	msg = set_msg(UVF_IRQ_SET_DATA_BOOL | UVF_IRQ_SET_ACTION_TRIGGER, UVF_PCI_MSIX_IRQ, 0, 0, 20);
	assert_refused(irq_set(&msg, 20, 0, NULL), -EINVAL, why, "count 0");
}

/* ----------------------------------------------------------- DEVICE_RESET */

static void test_device_reset_is_empty_and_fdless(void **state)
{
	uint8_t *payload = wire_copy("x", 1, 1);

	assert_int_equal(uvf__decode_device_reset(payload, 0, 0, &why), 0);
	assert_int_equal(uvf__decode_device_reset(NULL, 0, 0, &why), 0);
	assert_refused(uvf__decode_device_reset(payload, 1, 0, &why), -EINVAL, why, "DEVICE_RESET");
	assert_refused(uvf__decode_device_reset(payload, 0, 1, &why), -EINVAL, why, "DEVICE_RESET");
	wire_free(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_without_json),
		cmocka_unit_test(test_version_refuses_short_payload),
		cmocka_unit_test(test_version_with_json),
		cmocka_unit_test(test_version_refuses_unterminated_json),
		cmocka_unit_test(test_version_refuses_nul_inside_json),
		cmocka_unit_test(test_version_json_length_limit),
		cmocka_unit_test(test_version_fd_count_limit),
		cmocka_unit_test(test_device_info_req_length),
		cmocka_unit_test(test_device_info_req_argsz),
		cmocka_unit_test(test_device_info_req_refuses_fds),
		cmocka_unit_test(test_device_info_reply_length),
		cmocka_unit_test(test_device_info_reply_argsz),
		cmocka_unit_test(test_device_info_reply_needs_pci),
		cmocka_unit_test(test_device_info_reply_region_count),
		cmocka_unit_test(test_device_info_reply_irq_count),
		cmocka_unit_test(test_device_info_reply_refuses_fds),
		cmocka_unit_test(test_region_info_req_length),
		cmocka_unit_test(test_region_info_req_argsz),
		cmocka_unit_test(test_region_info_req_refuses_fds),
		cmocka_unit_test(test_irq_info_req_length),
		cmocka_unit_test(test_irq_info_req_argsz),
		cmocka_unit_test(test_irq_info_req_refuses_fds),
		cmocka_unit_test(test_irq_info_reply_length),
		cmocka_unit_test(test_irq_info_reply_index_must_echo),
		cmocka_unit_test(test_irq_info_reply_flags),
		cmocka_unit_test(test_irq_info_reply_count_limit),
		cmocka_unit_test(test_irq_info_reply_refuses_fds),
		cmocka_unit_test(test_irq_set_length),
		cmocka_unit_test(test_irq_set_argsz_must_equal_payload),
		cmocka_unit_test(test_irq_set_needs_one_data_and_one_action),
		cmocka_unit_test(test_irq_set_index_below_five),
		cmocka_unit_test(test_irq_set_start_plus_count_must_not_wrap),
		cmocka_unit_test(test_irq_set_data_none_is_bare_and_fdless),
		cmocka_unit_test(test_irq_set_data_bool_carries_count_bytes),
		cmocka_unit_test(test_irq_set_data_bool_points_at_data),
		cmocka_unit_test(test_irq_set_data_eventfd_fd_count),
		cmocka_unit_test(test_irq_set_count_zero_only_disables_with_none_trigger),
		cmocka_unit_test(test_device_reset_is_empty_and_fdless),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

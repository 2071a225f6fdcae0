/* SPDX-License-Identifier: MIT */
/* The smallest useful uvf device: one register BAR and an MSI vector.
 * Build: cc minimal_device.c $(pkg-config --cflags --libs uvf)
 * Run:   ./a.out /tmp/my.sock   then: uvf-lspci -vv /tmp/my.sock */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <uvf/server.h>

static struct uvf_device *dev;

static int regs_read(struct uvf_device *d, void *data, uint64_t off, void *buf, size_t len)
{
	(void)d, (void)data, (void)off;
	memset(buf, 0x42, len); /* offset + len were checked by the library */
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	uvf_device_stop(dev); /* async-signal-safe */
}

int main(int argc, char **argv)
{
	struct uvf_pci_ids ids = {.vendor_id = 0x1de0, .device_id = 0x00ee, .class_code = 0xff0000};
	struct uvf_bar_desc bar0 = {.size = 4096, .read = regs_read};
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
		return 2;
	}
	if ((ret = uvf_device_new(&dev)) < 0 || (ret = uvf_device_set_pci_ids(dev, &ids)) < 0 ||
	    (ret = uvf_device_set_bar(dev, 0, &bar0)) < 0 ||
	    (ret = uvf_device_set_irq_count(dev, UVF_PCI_MSI_IRQ, 1)) < 0 ||
	    (ret = uvf_device_listen(dev, argv[1], NULL)) < 0) {
		fprintf(stderr, "minimal_device: %s\n", uvf_strerror(ret));
		uvf_device_free(dev);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ret = uvf_device_run(dev); /* until a signal stops it */
	uvf_device_free(dev);      /* also removes the socket file */
	return ret < 0 ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * uvf-dmatest: the dmatest device (register map in dmatest/dmatest.h) as a
 * vfio-user server program: a BAR0 of registers that make the device copy
 * or fill client memory by DMA and raise a completion interrupt, and a
 * 64 KiB BAR4 of shared scratch memory the client may map.
 *
 *   uvf-dmatest --socket-path=PATH [-v]      or      uvf-dmatest --fd=N
 *
 * The device migrates (live migration v2, no option needed): registers,
 * BAR4, counters, the INTx level and a command in flight travel; see
 * dmatest/dmatest.h.
 */
#include <stdio.h>

#include "common/sample_server.h"
#include "dmatest/dmatest.h"

int main(int argc, char **argv)
{
	struct sample_args args;
	struct uvf_dmatest *model;
	int ret;

	ret = sample_parse_args(argc, argv, "uvf-dmatest", "A DMA copy/fill test PCI device", &args);
	if (ret >= 0)
		return ret;
	ret = uvf_dmatest_create(&model);
	if (ret < 0) {
		fprintf(stderr, "uvf-dmatest: cannot set up the device: %s\n", uvf_strerror(ret));
		return 1;
	}
	ret = sample_serve(uvf_dmatest_device(model), &args);
	uvf_dmatest_destroy(model);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * uvf-scratch: the scratch model (scratch/scratch.h) as a program.
 *
 *   uvf-scratch --socket-path=PATH [-v]      or      uvf-scratch --fd=N
 */
#include <stdio.h>

#include "common/sample_server.h"
#include "scratch/scratch.h"

int main(int argc, char **argv)
{
	struct sample_args args;
	struct uvf_scratch *model;
	int ret;

	ret = sample_parse_args(argc, argv, "uvf-scratch", "A scratch register and GPIO bank PCI device", &args);
	if (ret >= 0)
		return ret;
	ret = uvf_scratch_create(&model);
	if (ret < 0) {
		fprintf(stderr, "uvf-scratch: cannot set up the device: %s\n", uvf_strerror(ret));
		return 1;
	}
	ret = sample_serve(uvf_scratch_device(model), &args);
	uvf_scratch_destroy(model);
	return ret;
}

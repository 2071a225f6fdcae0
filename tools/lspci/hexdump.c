/* SPDX-License-Identifier: MIT */
/* Config space hex dump in lspci's -x layout. */
#include "lspci.h"

void lspci_hex_dump(FILE *out, const uint8_t *config, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		/* lspci prints the offset with at least two digits: "00:" ... "f0:", "100:" ... */
		if (!(i & 15))
			fprintf(out, "%02zx:", i);
		fprintf(out, " %02x", config[i]);
		if ((i & 15) == 15 || i + 1 == len)
			fputc('\n', out);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Replay driver: runs files (or every file of folders) through a fuzz
 * target's LLVMFuzzerTestOneInput, without libFuzzer, so the seed corpora
 * and the inputs that once crashed (regressions/) are checked by every
 * normal build, gcc included. A crash or sanitizer report fails the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file of dir in name order; returns how many. */
static int run_dir(const char *dir)
{
	struct dirent **list = NULL;
	int n = scandir(dir, &list, NULL, NULL), count = 0;
	char **names = calloc(n > 0 ? (size_t)n : 1, sizeof(*names));
	if (n < 0 || !names) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		names[i] = list[i]->d_name;
	}
	qsort(names, (size_t)n, sizeof(*names), cmp_names);
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (names[i][0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path) == 0)
			count++;
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	int total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0)
			continue; /* e.g. no regressions recorded yet */
		int n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0;
		if (n < 0)
			return 1;
		printf("%s: %d inputs replayed\n", argv[i], n);
		total += n;
	}
	printf("replayed %d inputs without a crash\n", total);
	return 0;
}

/*
 * Writing a fuzz target's seed input from a unit test (--fuzz-seeds DIR):
 * the bytes up to the last non-zero one, since the targets read trailing
 * zeros as implied.
 */
#ifndef VMON_TESTS_FUZZ_SEED_H
#define VMON_TESTS_FUZZ_SEED_H

#include <stdint.h>
#include <stdio.h>

/* DIR/NAME gets bytes[0 .. size), less trailing zeros but at least min_len. 0 or -1. */
static inline int write_fuzz_seed(const char *dir, const char *name, const uint8_t *bytes,
				  size_t size, size_t min_len)
{
	while (size > min_len && bytes[size - 1] == 0)
		size--;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	size_t written = f ? fwrite(bytes, 1, size, f) : 0;
	int ok = f && fclose(f) == 0 && written == size;
	if (!ok)
		fprintf(stderr, "cannot write %s\n", path);
	return ok ? 0 : -1;
}

#endif

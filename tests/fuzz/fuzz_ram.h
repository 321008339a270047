/*
 * What the device fuzz targets share: a one-time set-up, and the input
 * copied over fake guest RAM (the rest zeroed) for each run.
 */
#ifndef VMON_TESTS_FUZZ_RAM_H
#define VMON_TESTS_FUZZ_RAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Runs setup() the first time (aborting if it fails), then puts the input
 * in *ram, which setup() may allocate: read only after it ran (a saved
 * input replayed alone is the first run). False when the input is shorter
 * than min_size: nothing to do.
 */
static inline bool fuzz_load_ram(int (*setup)(void), uint8_t *const *ram_ptr, size_t ram_size,
				 const uint8_t *data, size_t size, size_t min_size)
{
	static int ready;
	if (!ready)
		ready = setup() == 0 ? 1 : -1;
	if (ready < 0)
		abort();
	if (size < min_size)
		return false;
	uint8_t *ram = *ram_ptr;
	size_t n = size < ram_size ? size : ram_size;
	memcpy(ram, data, n);
	memset(ram + n, 0, ram_size - n);
	return true;
}

#endif

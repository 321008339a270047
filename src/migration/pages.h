/* Guest pages as snapshots and migration move them: zero detection, dirty bitmaps. */
#ifndef VMON_MIGRATION_PAGES_H
#define VMON_MIGRATION_PAGES_H

#include <stdbool.h>
#include <stdint.h>

/* True when the 4 KiB page holds only zeroes. */
bool page_is_zero(const void *page);

/* Bits set among the first nbits of bitmap. */
uint64_t bitmap_count(const uint64_t *bitmap, uint64_t nbits);
/* The first set bit at or after `from`, or nbits when there is none. */
uint64_t bitmap_next_set(const uint64_t *bitmap, uint64_t from, uint64_t nbits);
/* The first clear bit at or after `from`, or nbits. */
uint64_t bitmap_next_clear(const uint64_t *bitmap, uint64_t from, uint64_t nbits);

#endif

#include "migration/pages.h"

#include "vmm/guest_mem.h"

bool page_is_zero(const void *page)
{
	const uint64_t *w = page;
	uint64_t any = 0;
	for (unsigned i = 0; i < GUEST_PAGE_SIZE / sizeof(*w); i++)
		any |= w[i];
	return any == 0;
}

uint64_t bitmap_count(const uint64_t *bitmap, uint64_t nbits)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < nbits / 64; i++)
		n += (uint64_t)__builtin_popcountll(bitmap[i]);
	if (nbits % 64)
		n += (uint64_t)__builtin_popcountll(bitmap[nbits / 64] & ((1ull << (nbits % 64)) - 1));
	return n;
}

/* The first bit at or after `from` equal to `set`. */
static uint64_t next_bit(const uint64_t *bitmap, uint64_t from, uint64_t nbits, bool set)
{
	while (from < nbits) {
		uint64_t word = set ? bitmap[from / 64] : ~bitmap[from / 64];
		word &= ~0ull << (from % 64);
		if (word) {
			uint64_t bit = from / 64 * 64 + (uint64_t)__builtin_ctzll(word);
			return bit < nbits ? bit : nbits;
		}
		from = (from / 64 + 1) * 64;
	}
	return nbits;
}

uint64_t bitmap_next_set(const uint64_t *bitmap, uint64_t from, uint64_t nbits)
{
	return next_bit(bitmap, from, nbits, true);
}

uint64_t bitmap_next_clear(const uint64_t *bitmap, uint64_t from, uint64_t nbits)
{
	return next_bit(bitmap, from, nbits, false);
}

/*
 * libFuzzer target: the state format's reader (state_reader_open) on
 * arbitrary bytes: the input as it is, then with its last four bytes
 * replaced by the right checksum, since random bytes almost never pass the
 * CRC and the section checks behind it would go unfuzzed. For a blob it
 * accepts: every section is read with each kind of get until it overruns,
 * every value checked against the payload decoded here independently, no
 * cursor past its payload (ASan watches the bytes themselves); and the
 * sections, written again through a writer, give back the blob byte for
 * byte, which opens again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "migration/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum get_kind { GET_U8, GET_U16, GET_U32, GET_U64, GET_BOOL, GET_BYTES, NR_GET_KINDS };

/* Bytes one get of this kind takes (GET_BYTES: an odd size, to misalign the rest). */
static const size_t get_size[NR_GET_KINDS] = { 1, 2, 4, 8, 1, 3 };

static void check(bool ok)
{
	if (!ok)
		abort();
}

static uint64_t le_at(const uint8_t *p, size_t bytes)
{
	uint64_t v = 0;
	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* One get; checks its value against the payload at the cursor (0 once overrun). */
static void get_and_check(struct state_section *s, enum get_kind kind)
{
	size_t pos = s->pos, n = get_size[kind];
	bool fits = !s->overrun && n <= s->len - pos;
	uint64_t want = fits ? le_at(s->data + pos, n) : 0;
	uint8_t bytes[3];
	switch (kind) {
	case GET_U8:   check(state_get_u8(s) == want); break;
	case GET_U16:  check(state_get_u16(s) == want); break;
	case GET_U32:  check(state_get_u32(s) == want); break;
	case GET_U64:  check(state_get_u64(s) == want); break;
	case GET_BOOL:
		check(state_get_bool(s) == (want == 1));
		fits = fits && want <= 1;
		break;
	case GET_BYTES:
		state_get_bytes(s, bytes, sizeof(bytes));
		check(le_at(bytes, sizeof(bytes)) == want);
		break;
	case NR_GET_KINDS: abort();
	}
	check(s->overrun == !fits && s->pos <= s->len);
}

/* From the start of the section, gets chosen by `pick` until one overruns. */
static void read_until_overrun(struct state_section s, enum get_kind (*pick)(const struct state_section *))
{
	while (!s.overrun)
		get_and_check(&s, pick(&s));
	check(state_section_finish(&s) != 0);
	check(state_get_u64(&s) == 0);
}

static enum get_kind current_kind;
static enum get_kind same_kind(const struct state_section *s) { (void)s; return current_kind; }

/* The kind from the payload's own next byte: a mix that differs per input. */
static enum get_kind kind_from_payload(const struct state_section *s)
{
	return s->pos < s->len ? (enum get_kind)(s->data[s->pos] % NR_GET_KINDS) : GET_U8;
}

static void read_every_way(const struct state_section *s)
{
	for (current_kind = 0; current_kind < NR_GET_KINDS; current_kind++)
		read_until_overrun(*s, same_kind);
	read_until_overrun(*s, kind_from_payload);

	struct state_section whole = *s;
	uint8_t *copy = malloc(s->len + 1);
	state_get_bytes(&whole, copy, s->len);
	check(state_section_finish(&whole) == 0 && memcmp(copy, s->data, s->len) == 0);
	free(copy);
}

/* The accepted sections through a writer: the same bytes, which open again. */
static void check_reencoding(const struct state_reader *r, const uint8_t *data, size_t size)
{
	struct state_writer w;
	state_writer_init(&w);
	for (uint32_t n = 0; n < r->nr_sections; n++) {
		struct state_section s, found;
		check(state_section_at(r, n, &s) == 0);
		check(state_find(r, s.tag, s.instance, &found) == 0 && found.data == s.data);
		state_begin(&w, s.tag, s.instance);
		state_put_bytes(&w, s.data, s.len);
		state_end(&w);
	}
	uint8_t *blob;
	size_t len;
	check(state_writer_finish(&w, &blob, &len) == 0);
	check(len == size && memcmp(blob, data, size) == 0);
	struct state_reader again;
	check(state_reader_open(&again, blob, len, NULL) == 0 && again.nr_sections == r->nr_sections);
	free(blob);
}

static void open_and_walk(const uint8_t *data, size_t size)
{
	struct state_reader r;
	const char *why = NULL;
	if (state_reader_open(&r, data, size, &why) != 0) {
		check(why != NULL && why[0] != '\0');
		return;
	}
	for (uint32_t n = 0; n < r.nr_sections; n++) {
		struct state_section s;
		check(state_section_at(&r, n, &s) == 0);
		check(s.data >= data && s.len <= size && s.data + s.len <= data + size);
		read_every_way(&s);
	}
	check_reencoding(&r, data, size);
}

/* A copy of the input whose trailer is the CRC-32 of the rest, as the writer makes it. */
static uint8_t *resealed(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size);
	memcpy(copy, data, size);
	size_t end = size - STATE_TRAILER_SIZE;
	uint32_t crc = (uint32_t)crc32(0, copy, (uInt)end);
	for (unsigned i = 0; i < STATE_TRAILER_SIZE; i++)
		copy[end + i] = (uint8_t)(crc >> (8 * i));
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_and_walk(data, size);
	if (size >= STATE_HEADER_SIZE + STATE_TRAILER_SIZE && size <= STATE_MAX_SIZE) {
		uint8_t *copy = resealed(data, size);
		open_and_walk(copy, size);
		free(copy);
	}
	return 0;
}

/*
 * The state format: writer and reader round trips, the bounds-checked
 * section cursors, and a reader that refuses every damaged blob with its
 * own sentence.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "migration/state.h"
#include "tap.h"

#define TAG_TEST STATE_TAG('T', 'E', 'S', 'T')

static const uint8_t some_bytes[5] = { 0xde, 0xad, 0x00, 0xbe, 0xef };
/* What put_every_type writes: u8, u16, u32, u64, two bools, some_bytes. */
#define TEST_PAYLOAD (1 + 2 + 4 + 8 + 2 + sizeof(some_bytes))

/* Every put type once, in one section. */
static void put_every_type(struct state_writer *w, uint32_t instance)
{
	state_begin(w, TAG_TEST, instance);
	state_put_u8(w, 0xa5);
	state_put_u16(w, 0xbeef);
	state_put_u32(w, 0xdeadbeef);
	state_put_u64(w, 0x0123456789abcdefull);
	state_put_bool(w, true);
	state_put_bool(w, false);
	state_put_bytes(w, some_bytes, sizeof(some_bytes));
	state_end(w);
}

/* A blob of three sections: MACH, VCPU 0 and VCPU 1 (every type in the latter). */
static uint8_t *sample_blob(size_t *len)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_MACHINE, 0);
	state_put_u32(&w, 2);
	state_put_u64(&w, 256ull << 20);
	state_end(&w);
	put_every_type(&w, 0);
	state_begin(&w, STATE_TAG_VCPU, 1);
	state_end(&w);
	uint8_t *blob;
	if (state_writer_finish(&w, &blob, len) != 0)
		abort();
	return blob;
}

static bool opens(const uint8_t *blob, size_t len)
{
	struct state_reader r;
	const char *why = NULL;
	return state_reader_open(&r, blob, len, &why) == 0;
}

/* The sentence a refused blob gets (NULL when it is accepted). */
static const char *why_refused(const uint8_t *blob, size_t len)
{
	struct state_reader r;
	const char *why = NULL;
	return state_reader_open(&r, blob, len, &why) == 0 ? NULL : why;
}

static bool mentions(const char *why, const char *words)
{
	return why && strstr(why, words);
}

static void test_round_trip(void)
{
	struct state_writer w;
	state_writer_init(&w);
	put_every_type(&w, 7);
	uint8_t *blob;
	size_t len;
	CHECK(state_writer_finish(&w, &blob, &len) == 0, "a section of every type is written");
	CHECK(len == STATE_HEADER_SIZE + STATE_SECTION_HEADER_SIZE + TEST_PAYLOAD + STATE_TRAILER_SIZE,
	      "the blob is header, section header, payload and trailer");
	CHECK(w.buf == NULL && w.len == 0, "the writer is emptied");

	struct state_reader r;
	const char *why = NULL;
	CHECK(state_reader_open(&r, blob, len, &why) == 0, "the blob opens");
	CHECK(r.nr_sections == 1, "one section");
	struct state_section s;
	CHECK(state_find(&r, TAG_TEST, 7, &s) == 0, "found by tag and instance");
	CHECK(state_get_u8(&s) == 0xa5, "u8 read back");
	CHECK(state_get_u16(&s) == 0xbeef, "u16 read back");
	CHECK(state_get_u32(&s) == 0xdeadbeef, "u32 read back");
	CHECK(state_get_u64(&s) == 0x0123456789abcdefull, "u64 read back");
	CHECK(state_get_bool(&s) == true, "true read back");
	CHECK(state_get_bool(&s) == false, "false read back");
	uint8_t bytes[sizeof(some_bytes)];
	state_get_bytes(&s, bytes, sizeof(bytes));
	CHECK(memcmp(bytes, some_bytes, sizeof(bytes)) == 0, "bytes read back");
	CHECK(state_section_finish(&s) == 0, "the whole payload was read, nothing past it");
	free(blob);
}

static void test_little_endian_layout(void)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_VCPU, 0x01020304);
	state_put_u32(&w, 0x11223344);
	state_end(&w);
	uint8_t *blob;
	size_t len;
	state_writer_finish(&w, &blob, &len);
	static const uint8_t expected[] = {
		'V', 'M', 'O', 'N', 'S', 'T', 'A', 'T', 'E', 0, 0, 0,
		1, 0, 0, 0,                 /* version */
		1, 0, 0, 0,                 /* one section */
		20, 0, 0, 0, 0, 0, 0, 0,    /* sections' length */
		'V', 'C', 'P', 'U',
		4, 3, 2, 1,                 /* instance */
		4, 0, 0, 0, 0, 0, 0, 0,     /* payload length */
		0x44, 0x33, 0x22, 0x11,
	};
	CHECK(len == sizeof(expected) + STATE_TRAILER_SIZE &&
	      memcmp(blob, expected, sizeof(expected)) == 0,
	      "header, section header and payload are little-endian as documented");
	free(blob);
}

static void test_several_sections(void)
{
	size_t len;
	uint8_t *blob = sample_blob(&len);
	struct state_reader r;
	CHECK(state_reader_open(&r, blob, len, NULL) == 0 && r.nr_sections == 3, "three sections");

	struct state_section s;
	CHECK(state_find(&r, STATE_TAG_MACHINE, 0, &s) == 0 && state_get_u32(&s) == 2 &&
	      state_get_u64(&s) == 256ull << 20 && state_section_finish(&s) == 0,
	      "MACH found and read");
	CHECK(state_find(&r, STATE_TAG_VCPU, 1, &s) == 0 && s.len == 0 &&
	      state_section_finish(&s) == 0, "an empty section is found and finished");
	CHECK(state_find(&r, STATE_TAG_VCPU, 2, &s) == -ENOENT, "a missing instance is ENOENT");
	CHECK(state_find(&r, STATE_TAG_UART, 0, &s) == -ENOENT, "a missing tag is ENOENT");

	static const uint32_t order[][2] = {
		{ STATE_TAG_MACHINE, 0 }, { TAG_TEST, 0 }, { STATE_TAG_VCPU, 1 },
	};
	bool walk_ok = true;
	for (uint32_t n = 0; n < 3; n++)
		walk_ok &= state_section_at(&r, n, &s) == 0 && s.tag == order[n][0] &&
			   s.instance == order[n][1] && s.pos == 0 && !s.overrun;
	CHECK(walk_ok, "section_at walks the sections in blob order");
	CHECK(state_section_at(&r, 3, &s) == -ENOENT, "section_at past the last is ENOENT");
	free(blob);
}

static void test_section_finish(void)
{
	size_t len;
	uint8_t *blob = sample_blob(&len);
	struct state_reader r;
	state_reader_open(&r, blob, len, NULL);
	struct state_section s;

	state_find(&r, STATE_TAG_MACHINE, 0, &s);
	state_get_u32(&s);
	CHECK(state_section_finish(&s) == -EINVAL, "a payload not read to its end fails finish");

	state_find(&r, STATE_TAG_MACHINE, 0, &s);
	state_get_u32(&s);
	state_get_u32(&s);
	CHECK(state_get_u64(&s) == 0 && s.overrun, "a get past the end reads 0 and marks the overrun");
	CHECK(state_get_u32(&s) == 0, "after an overrun every get reads 0");
	CHECK(state_section_finish(&s) == -EINVAL, "an overrun fails finish");

	state_find(&r, STATE_TAG_VCPU, 1, &s);
	uint8_t bytes[4] = { 1, 2, 3, 4 };
	state_get_bytes(&s, bytes, sizeof(bytes));
	CHECK(s.overrun && bytes[0] == 0 && bytes[3] == 0, "bytes past the end are zeroed");
	free(blob);
}

static void test_bool_other_than_0_or_1(void)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, TAG_TEST, 0);
	state_put_u8(&w, 2);
	state_end(&w);
	uint8_t *blob;
	size_t len;
	state_writer_finish(&w, &blob, &len);
	struct state_reader r;
	state_reader_open(&r, blob, len, NULL);
	struct state_section s;
	state_find(&r, TAG_TEST, 0, &s);
	CHECK(state_get_bool(&s) == false && s.overrun, "a bool byte of 2 reads false and is corrupt");
	CHECK(state_section_finish(&s) == -EINVAL, "so the section fails finish");
	free(blob);
}

static void test_every_truncation(void)
{
	size_t len;
	uint8_t *blob = sample_blob(&len);
	bool all_refused = true;
	for (size_t n = 0; n < len; n++)
		all_refused &= mentions(why_refused(blob, n), "truncated");
	CHECK(all_refused, "every length shorter than the blob (0..%zu) is refused as truncated", len - 1);
	free(blob);
}

static void test_every_bit_flip(void)
{
	size_t len;
	uint8_t *blob = sample_blob(&len);
	size_t accepted = 0;
	for (size_t bit = 0; bit < len * 8; bit++) {
		blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		accepted += opens(blob, len);
		blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK(accepted == 0, "each of the %zu single-bit flips is refused", len * 8);
	CHECK(opens(blob, len), "the unflipped blob still opens");
	free(blob);
}

/* Rewrites the checksum after a deliberate change, so that another check has to catch it. */
static void reseal(uint8_t *blob, size_t len)
{
	size_t end = len - STATE_TRAILER_SIZE;
	uint32_t crc = (uint32_t)crc32(0, blob, (uInt)end);
	for (unsigned i = 0; i < 4; i++)
		blob[end + i] = (uint8_t)(crc >> (8 * i));
}

static void put_u32_at(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_header_refusals(void)
{
	size_t len;
	uint8_t *blob = sample_blob(&len);
	const char *why;

	blob[0] = 'X';
	CHECK(mentions(why_refused(blob, len), "not a vmon state"), "wrong magic is refused");
	blob[0] = 'V';

	put_u32_at(blob + STATE_MAGIC_SIZE, STATE_VERSION + 2);
	why = why_refused(blob, len);
	CHECK(mentions(why, "newer vmon") && mentions(why, "format version 3") &&
	      mentions(why, "reads version 1"), "a newer version is refused: %s", why);

	put_u32_at(blob + STATE_MAGIC_SIZE, STATE_VERSION - 1);
	why = why_refused(blob, len);
	CHECK(mentions(why, "older, unsupported format") && mentions(why, "format version 0") &&
	      mentions(why, "reads version 1"), "an older version is refused: %s", why);
	put_u32_at(blob + STATE_MAGIC_SIZE, STATE_VERSION);
	CHECK(opens(blob, len), "the blob opens again with its own version");

	uint8_t *longer = malloc(len + 1);
	memcpy(longer, blob, len);
	longer[len] = 0;
	CHECK(mentions(why_refused(longer, len + 1), "trailing bytes"), "a trailing byte is refused");
	free(longer);

	blob[len - 1] ^= 0x80;
	CHECK(mentions(why_refused(blob, len), "checksum"), "a wrong checksum is refused");
	free(blob);
}

/* Section headers that lie, behind a valid checksum. */
static void test_section_refusals(void)
{
	size_t len;
	uint8_t *blob = sample_blob(&len);
	const size_t first_len_field = STATE_HEADER_SIZE + 8;

	blob[first_len_field] += 100;
	reseal(blob, len);
	CHECK(mentions(why_refused(blob, len), "runs past its end"), "a section overrunning the blob is refused");
	blob[first_len_field] -= 100;

	blob[first_len_field] -= 1;
	reseal(blob, len);
	CHECK(why_refused(blob, len) != NULL, "a section one byte short (next header misaligned) is refused");
	blob[first_len_field] += 1;

	/* MACH swallows TEST and one byte of VCPU's header: 15 bytes are left for a header. */
	blob[first_len_field] += STATE_SECTION_HEADER_SIZE + TEST_PAYLOAD + 1;
	reseal(blob, len);
	CHECK(mentions(why_refused(blob, len), "section header runs past"),
	      "a section header cut by the end of the sections is refused");
	blob[first_len_field] -= STATE_SECTION_HEADER_SIZE + TEST_PAYLOAD + 1;

	put_u32_at(blob + STATE_MAGIC_SIZE + 4, 4);
	reseal(blob, len);
	CHECK(mentions(why_refused(blob, len), "section count"), "a section count too high is refused");
	put_u32_at(blob + STATE_MAGIC_SIZE + 4, 2);
	reseal(blob, len);
	CHECK(mentions(why_refused(blob, len), "section count"), "a section count too low is refused");
	put_u32_at(blob + STATE_MAGIC_SIZE + 4, 3);
	reseal(blob, len);
	CHECK(opens(blob, len), "resealed with the right count it opens again");
	free(blob);

	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_VCPU, 0);
	state_end(&w);
	state_begin(&w, STATE_TAG_VCPU, 1);
	state_end(&w);
	state_begin(&w, STATE_TAG_VCPU, 0);
	state_end(&w);
	CHECK(state_writer_finish(&w, &blob, &len) == 0, "the writer does not look for duplicates");
	CHECK(mentions(why_refused(blob, len), "same tag and instance"), "a duplicate section is refused");
	free(blob);
}

static int finish_and_free(struct state_writer *w)
{
	uint8_t *blob;
	size_t len;
	int err = state_writer_finish(w, &blob, &len);
	free(blob);
	return err;
}

static void test_writer_errors(void)
{
	struct state_writer w;
	state_writer_init(&w);
	state_put_u32(&w, 1);
	CHECK(finish_and_free(&w) == -EINVAL, "a put outside a section fails finish");

	state_writer_init(&w);
	state_end(&w);
	CHECK(finish_and_free(&w) == -EINVAL, "an end without a begin fails finish");

	state_writer_init(&w);
	state_begin(&w, TAG_TEST, 0);
	state_put_u8(&w, 1);
	uint8_t *blob = (uint8_t *)1;
	size_t len = 1;
	CHECK(state_writer_finish(&w, &blob, &len) == -EINVAL && blob == NULL && len == 0,
	      "a section left open fails finish, with no blob");
	CHECK(w.buf == NULL, "the failed writer is emptied too");

	state_writer_init(&w);
	state_begin(&w, TAG_TEST, 0);
	state_begin(&w, TAG_TEST, 1);
	state_end(&w);
	CHECK(finish_and_free(&w) == -EINVAL, "a begin inside an open section fails finish");

	state_writer_init(&w);
	state_begin(&w, TAG_TEST, 0);
	state_put_u8(&w, 1);
	state_writer_free(&w);
	CHECK(w.buf == NULL && w.len == 0, "free drops an unfinished blob");

	state_writer_init(&w);
	CHECK(finish_and_free(&w) == 0, "a blob of no sections is fine");
}

static void test_max_size(void)
{
	const size_t payload = STATE_MAX_SIZE - STATE_HEADER_SIZE - STATE_SECTION_HEADER_SIZE -
			       STATE_TRAILER_SIZE;
	uint8_t *big = calloc(1, STATE_MAX_SIZE + 1);
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, TAG_TEST, 0);
	state_put_bytes(&w, big, payload);
	state_end(&w);
	uint8_t *blob;
	size_t len;
	CHECK(state_writer_finish(&w, &blob, &len) == 0 && len == STATE_MAX_SIZE,
	      "a blob of exactly STATE_MAX_SIZE is written");
	CHECK(opens(blob, len), "and read");
	free(blob);

	state_writer_init(&w);
	state_begin(&w, TAG_TEST, 0);
	state_put_bytes(&w, big, payload + 1);
	state_end(&w);
	CHECK(state_writer_finish(&w, &blob, &len) == -EFBIG, "one byte more is refused by the writer");

	memcpy(big, STATE_MAGIC, STATE_MAGIC_SIZE);
	CHECK(mentions(why_refused(big, STATE_MAX_SIZE + 1), "larger than 64 MiB"),
	      "and by the reader, before it reads");
	free(big);
}

static void test_tag_name(void)
{
	char name[5];
	state_tag_name(STATE_TAG_VCPU, name);
	CHECK(strcmp(name, "VCPU") == 0, "VCPU");
	state_tag_name(STATE_TAG_PIT, name);
	CHECK(strcmp(name, "PIT ") == 0, "a space is printable");
	state_tag_name(STATE_TAG(0, 'A', 0x7f, 0xc3), name);
	CHECK(strcmp(name, "?A??") == 0, "NUL, DEL and high bytes print as '?'");
}

int main(void)
{
	test_round_trip();
	test_little_endian_layout();
	test_several_sections();
	test_section_finish();
	test_bool_other_than_0_or_1();
	test_every_truncation();
	test_every_bit_flip();
	test_header_refusals();
	test_section_refusals();
	test_writer_errors();
	test_max_size();
	test_tag_name();
	return tap_finish();
}

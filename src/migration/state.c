#include "migration/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/sys.h"

/* Offsets inside the header and a section header. */
#define HDR_VERSION      STATE_MAGIC_SIZE
#define HDR_NR_SECTIONS  (STATE_MAGIC_SIZE + 4)
#define HDR_SECTIONS_LEN (STATE_MAGIC_SIZE + 8)
#define SEC_INSTANCE     4
#define SEC_LEN          8

#define NO_SECTION SIZE_MAX

/* Explicit little-endian, whatever the host's byte order. */
static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* zlib takes a uInt length: fine, since a blob never exceeds STATE_MAX_SIZE. */
static uint32_t checksum(const uint8_t *data, size_t len)
{
	return (uint32_t)crc32(0, data, (uInt)len);
}

static void writer_fail(struct state_writer *w, int err)
{
	if (!w->error)
		w->error = err;
}

/*
 * Room for n more bytes at the end, or NULL with the error remembered.
 * Refusing to grow past STATE_MAX_SIZE keeps every blob readable.
 */
static uint8_t *writer_grow(struct state_writer *w, size_t n)
{
	if (w->error)
		return NULL;
	if (n > STATE_MAX_SIZE - w->len) {
		writer_fail(w, -EFBIG);
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *buf = realloc(w->buf, cap);
		if (!buf) {
			writer_fail(w, -ENOMEM);
			return NULL;
		}
		w->buf = buf;
		w->cap = cap;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static void writer_put_le(struct state_writer *w, uint64_t v, unsigned bytes)
{
	uint8_t *p = writer_grow(w, bytes);
	if (p)
		put_le(p, v, bytes);
}

static bool writer_in_section(struct state_writer *w)
{
	if (w->section_start == NO_SECTION)
		writer_fail(w, -EINVAL);
	return w->section_start != NO_SECTION;
}

/* The header is filled in by state_writer_finish; until then it is room. */
void state_writer_init(struct state_writer *w)
{
	*w = (struct state_writer){ .section_start = NO_SECTION };
	uint8_t *header = writer_grow(w, STATE_HEADER_SIZE);
	if (header)
		memset(header, 0, STATE_HEADER_SIZE);
}

void state_writer_free(struct state_writer *w)
{
	free(w->buf);
	*w = (struct state_writer){ .section_start = NO_SECTION };
}

void state_begin(struct state_writer *w, uint32_t tag, uint32_t instance)
{
	if (w->section_start != NO_SECTION) {
		writer_fail(w, -EINVAL);
		return;
	}
	size_t start = w->len;
	uint8_t *p = writer_grow(w, STATE_SECTION_HEADER_SIZE);
	if (!p)
		return;
	put_le(p, tag, 4);
	put_le(p + SEC_INSTANCE, instance, 4);
	w->section_start = start;
}

/* The payload length is known only now: it goes into the section's header. */
void state_end(struct state_writer *w)
{
	if (!writer_in_section(w))
		return;
	if (!w->error) {
		size_t payload = w->len - w->section_start - STATE_SECTION_HEADER_SIZE;
		put_le(w->buf + w->section_start + SEC_LEN, payload, 8);
	}
	w->section_start = NO_SECTION;
	w->nr_sections++;
}

void state_put_u8(struct state_writer *w, uint8_t v)
{
	if (writer_in_section(w))
		writer_put_le(w, v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t v)
{
	if (writer_in_section(w))
		writer_put_le(w, v, 2);
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
	if (writer_in_section(w))
		writer_put_le(w, v, 4);
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
	if (writer_in_section(w))
		writer_put_le(w, v, 8);
}

void state_put_bool(struct state_writer *w, bool v)
{
	state_put_u8(w, v ? 1 : 0);
}

void state_put_bytes(struct state_writer *w, const void *data, size_t len)
{
	if (!writer_in_section(w) || len == 0)
		return;
	uint8_t *p = writer_grow(w, len);
	if (p)
		memcpy(p, data, len);
}

int state_writer_finish(struct state_writer *w, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (w->section_start != NO_SECTION)
		writer_fail(w, -EINVAL);
	uint8_t *trailer = writer_grow(w, STATE_TRAILER_SIZE);
	int err = w->error;
	if (err) {
		state_writer_free(w);
		return err;
	}
	size_t end = w->len - STATE_TRAILER_SIZE;
	memcpy(w->buf, STATE_MAGIC, STATE_MAGIC_SIZE);
	put_le(w->buf + HDR_VERSION, STATE_VERSION, 4);
	put_le(w->buf + HDR_NR_SECTIONS, w->nr_sections, 4);
	put_le(w->buf + HDR_SECTIONS_LEN, end - STATE_HEADER_SIZE, 8);
	put_le(trailer, checksum(w->buf, end), 4);
	*out = w->buf;
	*len = w->len;
	w->buf = NULL;
	state_writer_free(w);
	return 0;
}

/* --- reading --- */

static int version_mismatch(uint32_t version, const char **why)
{
	static _Thread_local char msg[160];
	if (version > STATE_VERSION)
		snprintf(msg, sizeof(msg), "the state was written by a newer vmon (format version %u; "
			 "this vmon reads version %u)", (unsigned)version, (unsigned)STATE_VERSION);
	else
		snprintf(msg, sizeof(msg), "the state is in an older, unsupported format (format "
			 "version %u; this vmon reads version %u)", (unsigned)version,
			 (unsigned)STATE_VERSION);
	return fail_why(why, msg, -EINVAL);
}

/* The sections' total length must account for every byte between header and trailer. */
static int check_lengths(const uint8_t *data, size_t len, const char **why)
{
	uint64_t declared = get_le(data + HDR_SECTIONS_LEN, 8);
	uint64_t present = len - STATE_HEADER_SIZE - STATE_TRAILER_SIZE;
	if (declared > present)
		return fail_why(why, "the state is truncated (its header declares more than it holds)",
				-EINVAL);
	if (declared < present)
		return fail_why(why, "the state has trailing bytes after its checksum", -EINVAL);
	return 0;
}

static int check_header(const uint8_t *data, size_t len, const char **why)
{
	if (len > STATE_MAX_SIZE)
		return fail_why(why, "the state is larger than 64 MiB, more than any vmon writes",
				-EINVAL);
	if (len < STATE_HEADER_SIZE + STATE_TRAILER_SIZE)
		return fail_why(why, "the state is truncated (shorter than its header and checksum)",
				-EINVAL);
	if (memcmp(data, STATE_MAGIC, STATE_MAGIC_SIZE) != 0)
		return fail_why(why, "this is not a vmon state (wrong magic bytes)", -EINVAL);
	uint32_t version = (uint32_t)get_le(data + HDR_VERSION, 4);
	if (version != STATE_VERSION)
		return version_mismatch(version, why);
	return check_lengths(data, len, why);
}

static int check_checksum(const uint8_t *data, size_t len, const char **why)
{
	size_t end = len - STATE_TRAILER_SIZE;
	if (checksum(data, end) != get_le(data + end, 4))
		return fail_why(why, "the state is corrupt (its checksum does not match)", -EINVAL);
	return 0;
}

/* The sections lie in [STATE_HEADER_SIZE, sections_end(r)). */
static size_t sections_end(const struct state_reader *r)
{
	return r->len - STATE_TRAILER_SIZE;
}

/* The section whose header is at pos; its header is known to lie inside. */
static struct state_section section_at_offset(const struct state_reader *r, size_t pos)
{
	const uint8_t *h = r->data + pos;
	return (struct state_section){
		.tag = (uint32_t)get_le(h, 4),
		.instance = (uint32_t)get_le(h + SEC_INSTANCE, 4),
		.data = h + STATE_SECTION_HEADER_SIZE,
		.len = (size_t)get_le(h + SEC_LEN, 8),
	};
}

static size_t next_section(const struct state_reader *r, size_t pos)
{
	return pos + STATE_SECTION_HEADER_SIZE + section_at_offset(r, pos).len;
}

/* Every section header and payload inside the sections, as many as the header declares. */
static int check_sections(const struct state_reader *r, const char **why)
{
	size_t pos = STATE_HEADER_SIZE, end = sections_end(r);
	uint64_t count = 0;
	while (pos < end) {
		if (end - pos < STATE_SECTION_HEADER_SIZE)
			return fail_why(why, "the state is corrupt (a section header runs past its end)",
					-EINVAL);
		if (get_le(r->data + pos + SEC_LEN, 8) > end - pos - STATE_SECTION_HEADER_SIZE)
			return fail_why(why, "the state is corrupt (a section runs past its end)",
					-EINVAL);
		pos = next_section(r, pos);
		count++;
	}
	if (count != r->nr_sections)
		return fail_why(why, "the state is corrupt (its section count does not match its sections)",
				-EINVAL);
	return 0;
}

static int compare_keys(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Sorting the (tag, instance) keys finds duplicates in n log n, however many sections. */
static int check_duplicates(const struct state_reader *r, const char **why)
{
	if (r->nr_sections < 2)
		return 0;
	uint64_t *keys = malloc(r->nr_sections * sizeof(*keys));
	if (!keys)
		return fail_why(why, "out of memory while checking the state", -ENOMEM);
	size_t pos = STATE_HEADER_SIZE;
	for (uint32_t i = 0; i < r->nr_sections; i++, pos = next_section(r, pos)) {
		struct state_section s = section_at_offset(r, pos);
		keys[i] = (uint64_t)s.tag << 32 | s.instance;
	}
	qsort(keys, r->nr_sections, sizeof(*keys), compare_keys);
	bool duplicate = false;
	for (uint32_t i = 1; i < r->nr_sections && !duplicate; i++)
		duplicate = keys[i] == keys[i - 1];
	free(keys);
	if (duplicate)
		return fail_why(why, "the state is corrupt (two sections have the same tag and instance)",
				-EINVAL);
	return 0;
}

int state_reader_open(struct state_reader *r, const void *data, size_t len, const char **why)
{
	*r = (struct state_reader){ 0 };
	int err = check_header(data, len, why);
	if (!err)
		err = check_checksum(data, len, why);
	if (err)
		return err;
	struct state_reader checked = {
		.data = data, .len = len,
		.nr_sections = (uint32_t)get_le((const uint8_t *)data + HDR_NR_SECTIONS, 4),
	};
	err = check_sections(&checked, why);
	if (!err)
		err = check_duplicates(&checked, why);
	if (!err)
		*r = checked;
	return err;
}

int state_find(const struct state_reader *r, uint32_t tag, uint32_t instance,
	       struct state_section *out)
{
	size_t pos = STATE_HEADER_SIZE;
	for (uint32_t i = 0; i < r->nr_sections; i++, pos = next_section(r, pos)) {
		struct state_section s = section_at_offset(r, pos);
		if (s.tag == tag && s.instance == instance) {
			*out = s;
			return 0;
		}
	}
	return -ENOENT;
}

int state_section_at(const struct state_reader *r, uint32_t n, struct state_section *out)
{
	if (n >= r->nr_sections)
		return -ENOENT;
	size_t pos = STATE_HEADER_SIZE;
	for (uint32_t i = 0; i < n; i++)
		pos = next_section(r, pos);
	*out = section_at_offset(r, pos);
	return 0;
}

/* The next n payload bytes, or NULL once any get has overrun (then all read 0). */
static const uint8_t *section_take(struct state_section *s, size_t n)
{
	if (s->overrun || n > s->len - s->pos) {
		s->overrun = true;
		return NULL;
	}
	const uint8_t *p = s->data + s->pos;
	s->pos += n;
	return p;
}

static uint64_t section_get_le(struct state_section *s, unsigned bytes)
{
	const uint8_t *p = section_take(s, bytes);
	return p ? get_le(p, bytes) : 0;
}

uint8_t state_get_u8(struct state_section *s)
{
	return (uint8_t)section_get_le(s, 1);
}

uint16_t state_get_u16(struct state_section *s)
{
	return (uint16_t)section_get_le(s, 2);
}

uint32_t state_get_u32(struct state_section *s)
{
	return (uint32_t)section_get_le(s, 4);
}

uint64_t state_get_u64(struct state_section *s)
{
	return section_get_le(s, 8);
}

bool state_get_bool(struct state_section *s)
{
	uint8_t v = state_get_u8(s);
	if (v > 1)
		s->overrun = true;
	return v == 1;
}

void state_get_bytes(struct state_section *s, void *dst, size_t len)
{
	if (len == 0)
		return;
	const uint8_t *p = section_take(s, len);
	if (p)
		memcpy(dst, p, len);
	else
		memset(dst, 0, len);
}

int state_section_finish(const struct state_section *s)
{
	return !s->overrun && s->pos == s->len ? 0 : -EINVAL;
}

/* Non-printable bytes become '?' so that a corrupt tag cannot garble a message. */
void state_tag_name(uint32_t tag, char out[5])
{
	for (unsigned i = 0; i < 4; i++) {
		uint8_t c = (uint8_t)(tag >> (8 * i));
		out[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
	}
	out[4] = '\0';
}

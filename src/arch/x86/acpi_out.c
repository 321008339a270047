#include "arch/x86/acpi_out.h"

#include <string.h>

bool fits(const struct out *o, size_t n)
{
	return o->len <= o->cap && n <= o->cap - o->len;
}

void put_bytes(struct out *o, const void *src, size_t n)
{
	if (n && fits(o, n)) /* n == 0: buf may be NULL when cap is 0 */
		memcpy(o->buf + o->len, src, n);
	o->len += n;
}

void put_le(struct out *o, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(o, b, n);
}


void put_zeros(struct out *o, size_t n)
{
	while (n--)
		put_u8(o, 0);
}

/* Pads with zeros until the guest address of the next byte is aligned. */
void put_align(struct out *o, uint64_t align)
{
	while ((o->gpa + o->len) % align)
		put_u8(o, 0);
}

/* Inserts n bytes at pos, moving what follows up. */
void insert_bytes(struct out *o, size_t pos, const void *src, size_t n)
{
	if (fits(o, n)) {
		memmove(o->buf + pos + n, o->buf + pos, o->len - pos);
		memcpy(o->buf + pos, src, n);
	}
	o->len += n;
}

/* A cursor that overwrites what was already laid out from pos on. */
struct out out_at(const struct out *o, size_t pos)
{
	return (struct out){ .buf = o->buf, .cap = o->cap, .len = pos, .gpa = o->gpa };
}

uint64_t gpa_of(const struct out *o, size_t pos)
{
	return o->gpa + pos;
}

/*
 * Sets the byte at `at` (zero so far) so that bytes [start, end) sum to zero,
 * the rule for every ACPI checksum (§5.2.5.3, §5.2.6).
 */
void put_checksum(struct out *o, size_t start, size_t end, size_t at)
{
	if (end > o->cap)
		return; /* not stored: the build fails with -ENOSPC */
	uint8_t sum = 0;
	for (size_t i = start; i < end; i++)
		sum = (uint8_t)(sum + o->buf[i]);
	o->buf[at] = (uint8_t)-sum;
}

/* ---- System description table header (§5.2.6) ---- */


/* Starts a table, 8-byte aligned so its 64-bit fields are; returns its offset. */
size_t table_begin(struct out *o, const char sig[4], uint8_t revision)
{
	put_align(o, 8);
	size_t start = o->len;
	put_bytes(o, sig, 4);          /* Signature */
	put_u32(o, 0);                 /* Length: set by table_end() */
	put_u8(o, revision);           /* Revision */
	put_u8(o, 0);                  /* Checksum: set by table_end() */
	put_bytes(o, OEM_ID, 6);       /* OEMID */
	put_bytes(o, OEM_TABLE_ID, 8); /* OEM Table ID */
	put_u32(o, OEM_REVISION);      /* OEM Revision */
	put_bytes(o, CREATOR_ID, 4);   /* Creator ID */
	put_u32(o, CREATOR_REVISION);  /* Creator Revision */
	return start;
}

/* Fills in the length and checksum of the table started at `start`. */
void table_end(struct out *o, size_t start)
{
	struct out hdr = out_at(o, start + HDR_LENGTH);
	put_u32(&hdr, (uint32_t)(o->len - start));
	put_checksum(o, start, o->len, start + HDR_CHECKSUM);
}


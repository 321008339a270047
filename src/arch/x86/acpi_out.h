/*
 * Writing ACPI tables: a cursor over a buffer (little-endian, byte by byte,
 * no packed structs) and the common system description table header.
 * Shared by the table writers (acpi.c), the AML encoder (aml.c) and the
 * DSDT (dsdt.c).
 */
#ifndef VMON_ARCH_X86_ACPI_OUT_H
#define VMON_ARCH_X86_ACPI_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* §5.2.6: the identification every table header carries. */
#define OEM_ID           "VMON  "   /* 6 characters */
#define OEM_TABLE_ID     "VMONVMM " /* 8 characters */
#define OEM_REVISION     1
#define CREATOR_ID       "VMON"
#define CREATOR_REVISION 1

#define HDR_LENGTH   4 /* offsets in the header */
#define HDR_CHECKSUM 9

/*
 * A cursor over the caller's buffer. `len` keeps counting past `cap`, so the
 * layout does not depend on whether it fits: a write is stored only if all of
 * it fits, and acpi_build() reports -ENOSPC at the end. Once a write has been
 * dropped, len > cap for good and nothing else is stored.
 */
struct out {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint64_t gpa; /* guest-physical address of buf[0] */
};

bool fits(const struct out *o, size_t n);
void put_bytes(struct out *o, const void *src, size_t n);
void put_le(struct out *o, uint64_t v, size_t n);
void put_zeros(struct out *o, size_t n);
void put_align(struct out *o, uint64_t align);
void insert_bytes(struct out *o, size_t pos, const void *src, size_t n);
struct out out_at(const struct out *o, size_t pos);
uint64_t gpa_of(const struct out *o, size_t pos);
void put_checksum(struct out *o, size_t start, size_t end, size_t at);
size_t table_begin(struct out *o, const char sig[4], uint8_t revision);
void table_end(struct out *o, size_t start);

static inline void put_u8(struct out *o, uint8_t v) { put_le(o, v, 1); }
static inline void put_u16(struct out *o, uint16_t v) { put_le(o, v, 2); }
static inline void put_u32(struct out *o, uint32_t v) { put_le(o, v, 4); }
static inline void put_u64(struct out *o, uint64_t v) { put_le(o, v, 8); }

#endif

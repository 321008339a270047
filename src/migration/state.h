/*
 * vmon's state format: the whole non-memory state of a VM (vCPUs, the
 * in-kernel interrupt controllers and clock, every device, the
 * configuration) as one versioned, checksummed blob. Snapshots store it in
 * a file; live migration sends it last. docs/state-format.md documents the
 * layout byte by byte.
 *
 *   header   magic "VMONSTATE\0\0\0" (12 bytes), u32 format version,
 *            u32 section count, u64 length of the sections that follow
 *   sections each: u32 tag, u32 instance, u64 payload length, payload
 *   trailer  u32 CRC-32 (zlib's) of everything before it
 *
 * All integers are little-endian. A tag is four ASCII characters (see
 * STATE_TAG); `instance` tells apart devices of one kind (a vCPU index, a
 * disk's number). A reader rejects, with a sentence saying which, any blob
 * that is truncated, too long, of another version, fails its checksum, or
 * whose sections overrun it; then every section's payload is read through
 * bounds-checked cursors, so a load function never reads past its section.
 */
#ifndef VMON_MIGRATION_STATE_H
#define VMON_MIGRATION_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_MAGIC         "VMONSTATE\0\0\0"
#define STATE_MAGIC_SIZE    12
#define STATE_VERSION       1
#define STATE_HEADER_SIZE   (STATE_MAGIC_SIZE + 4 + 4 + 8)
#define STATE_SECTION_HEADER_SIZE (4 + 4 + 8)
#define STATE_TRAILER_SIZE  4
/* A blob larger than this is refused before it is read (no VM state comes near). */
#define STATE_MAX_SIZE      (64u << 20)

/* A tag from four characters, first one in the lowest byte: STATE_TAG('V','C','P','U'). */
#define STATE_TAG(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* The sections vmon writes; docs/state-format.md describes each payload. */
#define STATE_TAG_CONFIG    STATE_TAG('C', 'O', 'N', 'F') /* the VM's configuration */
#define STATE_TAG_MACHINE   STATE_TAG('M', 'A', 'C', 'H') /* vCPU count, RAM size */
#define STATE_TAG_CPUID     STATE_TAG('C', 'P', 'U', 'I') /* the CPUID set the vCPUs came from */
#define STATE_TAG_VCPU      STATE_TAG('V', 'C', 'P', 'U') /* instance: vCPU index */
#define STATE_TAG_IRQCHIP   STATE_TAG('I', 'R', 'Q', 'C') /* in-kernel PICs and IOAPIC */
#define STATE_TAG_PIT       STATE_TAG('P', 'I', 'T', ' ') /* in-kernel PIT */
#define STATE_TAG_CLOCK     STATE_TAG('C', 'L', 'C', 'K') /* KVM clock */
#define STATE_TAG_UART      STATE_TAG('U', 'A', 'R', 'T')
#define STATE_TAG_RTC       STATE_TAG('R', 'T', 'C', ' ')
#define STATE_TAG_I8042     STATE_TAG('K', 'B', 'D', 'C')
#define STATE_TAG_ACPI_PM   STATE_TAG('A', 'C', 'P', 'I')
#define STATE_TAG_PCI       STATE_TAG('P', 'C', 'I', 'D') /* instance: the virtio device number */
#define STATE_TAG_MSIX      STATE_TAG('M', 'S', 'I', 'X') /* instance: the virtio device number */
#define STATE_TAG_VIRTIO    STATE_TAG('V', 'I', 'R', 'T') /* instance: virtio device number */
#define STATE_TAG_VIRTIO_PCI  STATE_TAG('V', 'P', 'C', 'I')
#define STATE_TAG_VIRTIO_MMIO STATE_TAG('V', 'M', 'M', 'I')
#define STATE_TAG_VIRTIO_BLK  STATE_TAG('V', 'B', 'L', 'K')
#define STATE_TAG_VIRTIO_NET  STATE_TAG('V', 'N', 'E', 'T')
#define STATE_TAG_VIRTIO_CONSOLE STATE_TAG('V', 'C', 'O', 'N')

/*
 * Builds a blob in a growing buffer. Put functions never fail on their
 * own: an allocation failure, a blob growing past STATE_MAX_SIZE or a put
 * outside a section is remembered and state_writer_finish reports it.
 */
struct state_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t section_start;  /* offset of the open section's header, or SIZE_MAX */
	uint32_t nr_sections;
	int error;             /* first failure, -errno */
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
/* Opens a section; the previous one must be ended. */
void state_begin(struct state_writer *w, uint32_t tag, uint32_t instance);
void state_end(struct state_writer *w);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bool(struct state_writer *w, bool v);
void state_put_bytes(struct state_writer *w, const void *data, size_t len);
/*
 * Fills in the header and appends the checksum: *out (owned by the caller,
 * free()) and *len hold the blob. 0, or the first error (-ENOMEM, -EFBIG
 * past STATE_MAX_SIZE, -EINVAL for a section left open, a put outside one
 * or a begin inside one); either way the writer is emptied, as by
 * state_writer_free.
 */
int state_writer_finish(struct state_writer *w, uint8_t **out, size_t *len);

/* A checked blob (the caller keeps `data` alive while the reader is used). */
struct state_reader {
	const uint8_t *data;
	size_t len;
	uint32_t nr_sections;
};

/*
 * Checks magic, version, lengths, the checksum, every section header, and
 * that no two sections share a tag and instance. 0, or -EINVAL with *why a
 * sentence for the user (e.g. "the state was written by a newer vmon
 * (format version 3; this vmon reads version 1)"); -ENOMEM if the
 * duplicate check finds no memory.
 */
int state_reader_open(struct state_reader *r, const void *data, size_t len, const char **why);

/* One section's payload, read front to back. */
struct state_section {
	uint32_t tag, instance;
	const uint8_t *data;
	size_t len, pos;
	bool overrun;          /* a get asked for more than was left: it and every later get read 0 */
};

/* The section with this tag and instance. 0, or -ENOENT. */
int state_find(const struct state_reader *r, uint32_t tag, uint32_t instance,
	       struct state_section *out);
/* The n-th section in blob order (n < nr_sections), for walking all of them. */
int state_section_at(const struct state_reader *r, uint32_t n, struct state_section *out);

uint8_t state_get_u8(struct state_section *s);
uint16_t state_get_u16(struct state_section *s);
uint32_t state_get_u32(struct state_section *s);
uint64_t state_get_u64(struct state_section *s);
/* A byte other than 0 or 1 counts as an overrun: the section is corrupt. */
bool state_get_bool(struct state_section *s);
/* Copies len bytes out (zeroes them on overrun). */
void state_get_bytes(struct state_section *s, void *dst, size_t len);
/* 0 when every get stayed inside and the whole payload was read; else -EINVAL. */
int state_section_finish(const struct state_section *s);

/* "VCPU", for messages: four printable characters in out[5]. */
void state_tag_name(uint32_t tag, char out[5]);

#endif

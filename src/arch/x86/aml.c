#include "arch/x86/aml.h"

#include <string.h>


/* §20.2.2: a NameSeg is 4 characters; shorter names are padded with '_' as in ASL. */
void aml_nameseg(struct out *o, const char *name)
{
	char seg[4] = { '_', '_', '_', '_' };
	for (size_t i = 0; i < sizeof(seg) && name[i]; i++)
		seg[i] = name[i];
	put_bytes(o, seg, sizeof(seg));
}

/* §20.2.3: the shortest encoding of an integer constant. */
void aml_integer(struct out *o, uint32_t v)
{
	if (v <= 1) {
		put_u8(o, v ? AML_ONE_OP : AML_ZERO_OP);
	} else if (v <= UINT8_MAX) {
		put_u8(o, AML_BYTE_PREFIX);
		put_u8(o, (uint8_t)v);
	} else if (v <= UINT16_MAX) {
		put_u8(o, AML_WORD_PREFIX);
		put_u16(o, (uint16_t)v);
	} else {
		put_u8(o, AML_DWORD_PREFIX);
		put_u32(o, v);
	}
}

/* `Name (name, ...)` (§20.2.5.1 DefName): the data object follows. */
void aml_name(struct out *o, const char *name)
{
	put_u8(o, AML_NAME_OP);
	aml_nameseg(o, name);
}

/*
 * §20.2.4: a PkgLength counts its own bytes and everything after it in the
 * package. Up to 63 it is a single byte. Otherwise bits 7-6 of the lead byte
 * say how many bytes follow (1-3), its bits 3-0 hold the low 4 bits of the
 * length, and each following byte the next 8. Bodies here are a few hundred
 * bytes, far below the 2^28 limit of the 4-byte form.
 */
size_t aml_pkglength_encode(size_t body, uint8_t enc[4])
{
	if (body + 1 <= 0x3f) {
		enc[0] = (uint8_t)(body + 1);
		return 1;
	}
	size_t n = 2;
	while (n < 4 && body + n >= (size_t)1 << (4 + 8 * (n - 1)))
		n++;
	size_t total = body + n;
	enc[0] = (uint8_t)((n - 1) << 6 | (total & 0x0f));
	for (size_t i = 1; i < n; i++)
		enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

/*
 * Objects encoded as `op PkgLength body`: aml_open() writes the opcode and
 * returns where the body starts; aml_close() puts the PkgLength in front of
 * the body once its size is known.
 */
size_t aml_open(struct out *o, uint8_t op)
{
	put_u8(o, op);
	return o->len;
}

void aml_close(struct out *o, size_t body)
{
	uint8_t enc[4];
	size_t n = aml_pkglength_encode(o->len - body, enc);
	insert_bytes(o, body, enc, n);
}

/* §20.2.5.4 DefBuffer := BufferOp PkgLength BufferSize ByteList. */
void aml_close_buffer(struct out *o, size_t body)
{
	uint8_t size[5];
	struct out tmp = { .buf = size, .cap = sizeof(size) };
	aml_integer(&tmp, (uint32_t)(o->len - body));
	insert_bytes(o, body, size, tmp.len);
	aml_close(o, body);
}

/*
 * The ASL EisaId() macro (§19.6): "PNP0501" becomes three 5-bit letters and
 * four hex digits, stored big-endian in a 32-bit integer.
 */
uint32_t eisa_id(const char id[7])
{
	uint32_t v = 0;
	for (int i = 0; i < 3; i++)
		v = v << 5 | ((uint32_t)(id[i] - '@') & 0x1f);
	for (int i = 3; i < 7; i++)
		v = v << 4 | (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	return __builtin_bswap32(v);
}

/* §6.4.2.5 I/O Port Descriptor for a fixed range: IO (Decode16, base, base, 1, len) */
void aml_io(struct out *o, uint16_t base, uint8_t len)
{
	put_u8(o, 0x47);  /* small item, type 0x08, 7 bytes follow */
	put_u8(o, 0x01);  /* Information: decodes 16 address bits */
	put_u16(o, base); /* Range Minimum Base Address */
	put_u16(o, base); /* Range Maximum Base Address */
	put_u8(o, 1);     /* Base Alignment */
	put_u8(o, len);   /* Range Length */
}

/* §6.4.2.1 IRQ Descriptor, short form: IRQNoFlags () {irq}, edge, active high. */
void aml_irq_noflags(struct out *o, unsigned irq)
{
	put_u8(o, 0x22);                   /* small item, type 0x04, 2 bytes follow */
	put_u16(o, (uint16_t)(1u << irq)); /* IRQ mask */
}

/* §6.4.2.9 End Tag, closing a ResourceTemplate. */
void aml_end_tag(struct out *o)
{
	put_u8(o, 0x79); /* small item, type 0x0f, 1 byte follows */
	put_u8(o, 0);    /* Checksum: 0 means "treat as valid" */
}

/* §6.4.3 Large Resource Data Type: tag, then the length of what follows. */
enum {
	LARGE_FIXED_MEMORY32 = 0x86, /* §6.4.3.4 32-Bit Fixed Memory Range */
	LARGE_DWORD_ADDRESS  = 0x87, /* §6.4.3.5.2 DWord Address Space */
	LARGE_WORD_ADDRESS   = 0x88, /* §6.4.3.5.3 Word Address Space */
	LARGE_EXTENDED_IRQ   = 0x89, /* §6.4.3.6 Extended Interrupt */
	LARGE_QWORD_ADDRESS  = 0x8a, /* §6.4.3.5.1 QWord Address Space */
};

void aml_large_item(struct out *o, uint8_t tag, uint16_t len)
{
	put_u8(o, tag);
	put_u16(o, len);
}

/* §6.4.3.4 Memory32Fixed (ReadWrite, base, len) */
void aml_memory32_fixed(struct out *o, uint32_t base, uint32_t len)
{
	aml_large_item(o, LARGE_FIXED_MEMORY32, 9);
	put_u8(o, 0x01);  /* Information: _RW, read-write */
	put_u32(o, base); /* Range Base Address */
	put_u32(o, len);  /* Range Length */
}

/*
 * §6.4.3.6 Interrupt Vector Flags: bit 0 consumer, bit 1 edge (clear: level),
 * bit 2 active low (clear: high), bit 3 shared (clear: exclusive), bit 4
 * wake capable (clear: not).
 */

/*
 * §6.4.3.6 Extended Interrupt Descriptor for one GSI, no ResourceSource:
 * Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }
 */
void aml_interrupt_level_high(struct out *o, uint32_t gsi)
{
	aml_large_item(o, LARGE_EXTENDED_IRQ, 6);
	put_u8(o, EXT_IRQ_CONSUMER); /* Interrupt Vector Flags */
	put_u8(o, 1);                /* Interrupt Table Length */
	put_u32(o, gsi);             /* Interrupt Number */
}

/* §6.4.3.5 Address Space Resource Descriptors: Resource Type */
enum {
	ADDR_SPACE_MEMORY = 0,
	ADDR_SPACE_IO     = 1,
	ADDR_SPACE_BUS    = 2,
};

/*
 * §6.4.3.5.1-3 General Flags: _MAF and _MIF set, _DEC clear (positive
 * decode), bit 0 clear (ignored by ACPI 6.4; ASL's ResourceProducer).
 */

/* §6.4.3.5.5 Type Specific Flags, memory: _MTP AddressRangeMemory, _TTP TypeStatic */
/* I/O: _RNG EntireRange (ISA and non-ISA addresses); _TTP TypeStatic, _TRS DenseTranslation */

/*
 * A window a bridge produces, fixed at [min, min + len): the Word, DWord
 * and QWord forms (§6.4.3.5.1-3) differ only in tag and field width. For
 * _MIF = _MAF = 1 and _LEN > 0, §6.4.3.5 wants _GRA 0 and _MAX equal to
 * _MIN + _LEN - 1. No translation, no ResourceSource.
 */
void aml_addr_space(struct out *o, size_t width, uint8_t type, uint8_t type_flags,
			   uint64_t min, uint64_t len)
{
	uint8_t tag = width == 2 ? LARGE_WORD_ADDRESS :
		      width == 4 ? LARGE_DWORD_ADDRESS : LARGE_QWORD_ADDRESS;
	aml_large_item(o, tag, (uint16_t)(3 + 5 * width));
	put_u8(o, type);                       /* Resource Type */
	put_u8(o, ADDR_MIN_FIXED | ADDR_MAX_FIXED); /* General Flags */
	put_u8(o, type_flags);                 /* Type Specific Flags */
	put_le(o, 0, width);                   /* Address Space Granularity */
	put_le(o, min, width);                 /* Address Range Minimum */
	put_le(o, min + len - 1, width);       /* Address Range Maximum */
	put_le(o, 0, width);                   /* Address Translation Offset */
	put_le(o, len, width);                 /* Address Length */
}

/* WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, ...) */
void aml_word_bus_number(struct out *o, uint16_t first, uint16_t count)
{
	aml_addr_space(o, 2, ADDR_SPACE_BUS, 0, first, count);
}

/* WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...) */
void aml_word_io(struct out *o, uint16_t base, uint32_t len)
{
	aml_addr_space(o, 2, ADDR_SPACE_IO, ADDR_IO_ENTIRE_RANGE, base, len);
}

/* DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, ...) */
void aml_dword_memory(struct out *o, uint8_t caching, uint32_t base, uint32_t len)
{
	aml_addr_space(o, 4, ADDR_SPACE_MEMORY, caching | ADDR_MEM_READ_WRITE, base, len);
}

/* QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, ...) */
void aml_qword_memory(struct out *o, uint8_t caching, uint64_t base, uint64_t len)
{
	aml_addr_space(o, 8, ADDR_SPACE_MEMORY, caching | ADDR_MEM_READ_WRITE, base, len);
}

/* `Device (name) {`: returns where the body starts, for aml_close(). */
size_t aml_device_open(struct out *o, const char *name)
{
	put_u8(o, AML_EXT_OP_PREFIX);
	size_t device = aml_open(o, AML_DEVICE_OP);
	aml_nameseg(o, name);
	return device;
}

/* `Name (name, integer)` */
void aml_name_integer(struct out *o, const char *name, uint32_t v)
{
	aml_name(o, name);
	aml_integer(o, v);
}

/* `Name (name, "string")` (§20.2.3 String := StringPrefix AsciiCharList NullChar) */
void aml_name_string(struct out *o, const char *name, const char *str)
{
	aml_name(o, name);
	put_u8(o, AML_STRING_PREFIX);
	put_bytes(o, str, strlen(str) + 1);
}

/* `Name (_CRS, ResourceTemplate () {`: the descriptors follow, then aml_crs_close(). */
size_t aml_crs_open(struct out *o)
{
	aml_name(o, "_CRS");
	return aml_open(o, AML_BUFFER_OP);
}

void aml_crs_close(struct out *o, size_t crs)
{
	aml_end_tag(o);
	aml_close_buffer(o, crs);
}


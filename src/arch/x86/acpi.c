/*
 * ACPI tables for a vmon x86 guest, written byte by byte in little-endian
 * order (no packed structs, no unaligned accesses). The buffer holds:
 *
 *   RSDP (offset 0) -> XSDT -> FADT -> FACS, DSDT
 *                           -> MADT
 *                           -> MCFG
 *
 * in the order RSDP, FACS, DSDT, FADT, MADT, MCFG, XSDT, so that every table
 * is written after the ones it points to; only the RSDP, which must come
 * first, is filled in last. Section numbers refer to the ACPI 6.4
 * specification unless another one is named.
 */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86/layout.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* §5.2.6: the identification every table header carries. */
#define OEM_ID           "VMON  "   /* 6 characters */
#define OEM_TABLE_ID     "VMONVMM " /* 8 characters */
#define OEM_REVISION     1
#define CREATOR_ID       "VMON"
#define CREATOR_REVISION 1

/*
 * The MADT's 8-bit IDs: LAPIC IDs 0..nr_cpus-1 and the IOAPIC's nr_cpus must
 * stay below 0xff, which means "all processors" (and is the xAPIC broadcast).
 */
#define MAX_CPUS 254

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

static bool fits(const struct out *o, size_t n)
{
	return o->len <= o->cap && n <= o->cap - o->len;
}

static void put_bytes(struct out *o, const void *src, size_t n)
{
	if (n && fits(o, n)) /* n == 0: buf may be NULL when cap is 0 */
		memcpy(o->buf + o->len, src, n);
	o->len += n;
}

static void put_le(struct out *o, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(o, b, n);
}

static void put_u8(struct out *o, uint8_t v) { put_le(o, v, 1); }
static void put_u16(struct out *o, uint16_t v) { put_le(o, v, 2); }
static void put_u32(struct out *o, uint32_t v) { put_le(o, v, 4); }
static void put_u64(struct out *o, uint64_t v) { put_le(o, v, 8); }

static void put_zeros(struct out *o, size_t n)
{
	while (n--)
		put_u8(o, 0);
}

/* Pads with zeros until the guest address of the next byte is aligned. */
static void put_align(struct out *o, uint64_t align)
{
	while ((o->gpa + o->len) % align)
		put_u8(o, 0);
}

/* Inserts n bytes at pos, moving what follows up. */
static void insert_bytes(struct out *o, size_t pos, const void *src, size_t n)
{
	if (fits(o, n)) {
		memmove(o->buf + pos + n, o->buf + pos, o->len - pos);
		memcpy(o->buf + pos, src, n);
	}
	o->len += n;
}

/* A cursor that overwrites what was already laid out from pos on. */
static struct out out_at(const struct out *o, size_t pos)
{
	return (struct out){ .buf = o->buf, .cap = o->cap, .len = pos, .gpa = o->gpa };
}

static uint64_t gpa_of(const struct out *o, size_t pos)
{
	return o->gpa + pos;
}

/*
 * Sets the byte at `at` (zero so far) so that bytes [start, end) sum to zero,
 * the rule for every ACPI checksum (§5.2.5.3, §5.2.6).
 */
static void put_checksum(struct out *o, size_t start, size_t end, size_t at)
{
	if (end > o->cap)
		return; /* not stored: the build fails with -ENOSPC */
	uint8_t sum = 0;
	for (size_t i = start; i < end; i++)
		sum = (uint8_t)(sum + o->buf[i]);
	o->buf[at] = (uint8_t)-sum;
}

/* ---- System description table header (§5.2.6) ---- */

#define HDR_LENGTH   4 /* offsets in the header */
#define HDR_CHECKSUM 9

/* Starts a table, 8-byte aligned so its 64-bit fields are; returns its offset. */
static size_t table_begin(struct out *o, const char sig[4], uint8_t revision)
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
static void table_end(struct out *o, size_t start)
{
	struct out hdr = out_at(o, start + HDR_LENGTH);
	put_u32(&hdr, (uint32_t)(o->len - start));
	put_checksum(o, start, o->len, start + HDR_CHECKSUM);
}

/* ---- AML (§20) ---- */

enum {
	AML_ZERO_OP       = 0x00,
	AML_ONE_OP        = 0x01,
	AML_NAME_OP       = 0x08,
	AML_BYTE_PREFIX   = 0x0a,
	AML_WORD_PREFIX   = 0x0b,
	AML_DWORD_PREFIX  = 0x0c,
	AML_STRING_PREFIX = 0x0d,
	AML_SCOPE_OP      = 0x10,
	AML_BUFFER_OP     = 0x11,
	AML_PACKAGE_OP    = 0x12,
	AML_EXT_OP_PREFIX = 0x5b,
	AML_DEVICE_OP     = 0x82, /* follows AML_EXT_OP_PREFIX */
	AML_ROOT_CHAR     = '\\',
};

/* §20.2.2: a NameSeg is 4 characters; shorter names are padded with '_' as in ASL. */
static void aml_nameseg(struct out *o, const char *name)
{
	char seg[4] = { '_', '_', '_', '_' };
	for (size_t i = 0; i < sizeof(seg) && name[i]; i++)
		seg[i] = name[i];
	put_bytes(o, seg, sizeof(seg));
}

/* §20.2.3: the shortest encoding of an integer constant. */
static void aml_integer(struct out *o, uint32_t v)
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
static void aml_name(struct out *o, const char *name)
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
static size_t aml_pkglength_encode(size_t body, uint8_t enc[4])
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
static size_t aml_open(struct out *o, uint8_t op)
{
	put_u8(o, op);
	return o->len;
}

static void aml_close(struct out *o, size_t body)
{
	uint8_t enc[4];
	size_t n = aml_pkglength_encode(o->len - body, enc);
	insert_bytes(o, body, enc, n);
}

/* §20.2.5.4 DefBuffer := BufferOp PkgLength BufferSize ByteList. */
static void aml_close_buffer(struct out *o, size_t body)
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
static uint32_t eisa_id(const char id[7])
{
	uint32_t v = 0;
	for (int i = 0; i < 3; i++)
		v = v << 5 | ((uint32_t)(id[i] - '@') & 0x1f);
	for (int i = 3; i < 7; i++)
		v = v << 4 | (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	return __builtin_bswap32(v);
}

/* §6.4.2.5 I/O Port Descriptor for a fixed range: IO (Decode16, base, base, 1, len) */
static void aml_io(struct out *o, uint16_t base, uint8_t len)
{
	put_u8(o, 0x47);  /* small item, type 0x08, 7 bytes follow */
	put_u8(o, 0x01);  /* Information: decodes 16 address bits */
	put_u16(o, base); /* Range Minimum Base Address */
	put_u16(o, base); /* Range Maximum Base Address */
	put_u8(o, 1);     /* Base Alignment */
	put_u8(o, len);   /* Range Length */
}

/* §6.4.2.1 IRQ Descriptor, short form: IRQNoFlags () {irq}, edge, active high. */
static void aml_irq_noflags(struct out *o, unsigned irq)
{
	put_u8(o, 0x22);                   /* small item, type 0x04, 2 bytes follow */
	put_u16(o, (uint16_t)(1u << irq)); /* IRQ mask */
}

/* §6.4.2.9 End Tag, closing a ResourceTemplate. */
static void aml_end_tag(struct out *o)
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

static void aml_large_item(struct out *o, uint8_t tag, uint16_t len)
{
	put_u8(o, tag);
	put_u16(o, len);
}

/* §6.4.3.4 Memory32Fixed (ReadWrite, base, len) */
static void aml_memory32_fixed(struct out *o, uint32_t base, uint32_t len)
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
#define EXT_IRQ_CONSUMER (1u << 0)

/*
 * §6.4.3.6 Extended Interrupt Descriptor for one GSI, no ResourceSource:
 * Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }
 */
static void aml_interrupt_level_high(struct out *o, uint32_t gsi)
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
#define ADDR_MAX_FIXED (1u << 3)
#define ADDR_MIN_FIXED (1u << 2)

/* §6.4.3.5.5 Type Specific Flags, memory: _MTP AddressRangeMemory, _TTP TypeStatic */
#define ADDR_MEM_READ_WRITE   (1u << 0) /* _RW */
#define ADDR_MEM_NONCACHEABLE (0u << 1) /* _MEM */
#define ADDR_MEM_CACHEABLE    (1u << 1)
/* I/O: _RNG EntireRange (ISA and non-ISA addresses); _TTP TypeStatic, _TRS DenseTranslation */
#define ADDR_IO_ENTIRE_RANGE  3u

/*
 * A window a bridge produces, fixed at [min, min + len): the Word, DWord
 * and QWord forms (§6.4.3.5.1-3) differ only in tag and field width. For
 * _MIF = _MAF = 1 and _LEN > 0, §6.4.3.5 wants _GRA 0 and _MAX equal to
 * _MIN + _LEN - 1. No translation, no ResourceSource.
 */
static void aml_addr_space(struct out *o, size_t width, uint8_t type, uint8_t type_flags,
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
static void aml_word_bus_number(struct out *o, uint16_t first, uint16_t count)
{
	aml_addr_space(o, 2, ADDR_SPACE_BUS, 0, first, count);
}

/* WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...) */
static void aml_word_io(struct out *o, uint16_t base, uint32_t len)
{
	aml_addr_space(o, 2, ADDR_SPACE_IO, ADDR_IO_ENTIRE_RANGE, base, len);
}

/* DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, ...) */
static void aml_dword_memory(struct out *o, uint8_t caching, uint32_t base, uint32_t len)
{
	aml_addr_space(o, 4, ADDR_SPACE_MEMORY, caching | ADDR_MEM_READ_WRITE, base, len);
}

/* QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, ...) */
static void aml_qword_memory(struct out *o, uint8_t caching, uint64_t base, uint64_t len)
{
	aml_addr_space(o, 8, ADDR_SPACE_MEMORY, caching | ADDR_MEM_READ_WRITE, base, len);
}

/* `Device (name) {`: returns where the body starts, for aml_close(). */
static size_t aml_device_open(struct out *o, const char *name)
{
	put_u8(o, AML_EXT_OP_PREFIX);
	size_t device = aml_open(o, AML_DEVICE_OP);
	aml_nameseg(o, name);
	return device;
}

/* `Name (name, integer)` */
static void aml_name_integer(struct out *o, const char *name, uint32_t v)
{
	aml_name(o, name);
	aml_integer(o, v);
}

/* `Name (name, "string")` (§20.2.3 String := StringPrefix AsciiCharList NullChar) */
static void aml_name_string(struct out *o, const char *name, const char *str)
{
	aml_name(o, name);
	put_u8(o, AML_STRING_PREFIX);
	put_bytes(o, str, strlen(str) + 1);
}

/* `Name (_CRS, ResourceTemplate () {`: the descriptors follow, then aml_crs_close(). */
static size_t aml_crs_open(struct out *o)
{
	aml_name(o, "_CRS");
	return aml_open(o, AML_BUFFER_OP);
}

static void aml_crs_close(struct out *o, size_t crs)
{
	aml_end_tag(o);
	aml_close_buffer(o, crs);
}

/* A legacy ISA device: Device (name) { _HID, _UID, _CRS }. */
struct isa_device {
	const char *name;
	const char *hid; /* EISA ID */
	unsigned uid;    /* 0: no _UID, the only device with its _HID */
	unsigned nr_io;
	struct {
		uint16_t base;
		uint8_t len;
	} io[2];
	int irq; /* -1: none */
};

static const struct isa_device isa_devices[] = {
	{ /* 16550 UART */
		.name = "COM1", .hid = "PNP0501", .uid = 1,
		.nr_io = 1, .io = { { PORT_COM1, 8 } }, .irq = IRQ_COM1,
	},
	{ /*
	   * AT real-time clock: index and data ports. Our RTC raises no
	   * interrupts (rtc_cmos.c), so it announces none: Linux then polls
	   * for updates instead of waiting for an IRQ 8 that never comes.
	   */
		.name = "RTC", .hid = "PNP0B00",
		.nr_io = 1, .io = { { PORT_RTC, 2 } }, .irq = -1,
	},
	{ /* i8042 keyboard controller: data and command/status ports */
		.name = "KBD", .hid = "PNP0303",
		.nr_io = 2, .io = { { PORT_I8042_DATA, 1 }, { PORT_I8042_CMD, 1 } },
		.irq = IRQ_I8042_KBD,
	},
};

/*
 * Device (COM1)
 * {
 *     Name (_HID, EisaId ("PNP0501"))
 *     Name (_UID, One)
 *     Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
 *         IRQNoFlags () {4}
 *     })
 * }
 */
static void aml_isa_device(struct out *o, const struct isa_device *dev)
{
	size_t device = aml_device_open(o, dev->name);
	aml_name_integer(o, "_HID", eisa_id(dev->hid));
	if (dev->uid)
		aml_name_integer(o, "_UID", dev->uid);

	size_t crs = aml_crs_open(o);
	for (unsigned i = 0; i < dev->nr_io; i++)
		aml_io(o, dev->io[i].base, dev->io[i].len);
	if (dev->irq >= 0)
		aml_irq_noflags(o, (unsigned)dev->irq);
	aml_crs_close(o, crs);

	aml_close(o, device);
}

/* ---- PCI host bridge ---- */

/* The layout the tables below describe: windows disjoint, each in range of its descriptor. */
_Static_assert(LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE <= LAYOUT_PCI_ECAM_BASE,
	       "32-bit PCI window overlaps the ECAM");
_Static_assert(LAYOUT_PCI_ECAM_BASE + LAYOUT_PCI_ECAM_SIZE <= LAYOUT_IOAPIC_BASE,
	       "ECAM overlaps the IOAPIC");
_Static_assert(LAYOUT_PCI_MMIO32_START >= LAYOUT_PCI_HOLE_START, "32-bit PCI window overlaps RAM");
_Static_assert(LAYOUT_PCI_MMIO64_START >= LAYOUT_HIGH_RAM_START, "64-bit PCI window below 4 GiB");
_Static_assert(PORT_PCI_IO_START + PORT_PCI_IO_SIZE <= 0x10000, "PCI I/O window past 0xffff");

/* Segment 0, bus 0 only: ECAM is 1 MiB per bus (PCIe Base 4.0 §7.2.2). */
#define PCI_SEGMENT   0
#define PCI_BUS_FIRST 0
#define PCI_BUS_LAST  0
_Static_assert(LAYOUT_PCI_ECAM_SIZE == (PCI_BUS_LAST - PCI_BUS_FIRST + 1) * MiB,
	       "ECAM size does not match the bus range");

#define PCI_CONFIG_PORTS 8 /* CONFIG_ADDRESS 0xcf8-0xcfb, CONFIG_DATA 0xcfc-0xcff */
_Static_assert(PORT_PCI_CONFIG_DATA == PORT_PCI_CONFIG_ADDRESS + 4, "config ports not adjacent");
/* Above every fixed port: the ISA devices, the ACPI blocks, the config ports. */
_Static_assert(PORT_PCI_IO_START >= PORT_PCI_CONFIG_ADDRESS + PCI_CONFIG_PORTS &&
	       PORT_PCI_IO_START > PORT_ACPI_PM_TMR + 4, "PCI I/O window overlaps fixed ports");

/*
 * The PCI Express host bridge (§6.1.5 _HID, §6.1.2 _CID, §6.5.5 _BBN, §6.5.6 _SEG).
 * Its _CRS (§6.2.2) consumes the mechanism #1 ports, as QEMU's does, and
 * produces the bus range and the windows the BARs are allocated from. The
 * 32-bit window is non-cacheable (non-prefetchable BARs go there), the
 * 64-bit one cacheable, as in QEMU; Linux treats both alike, since only
 * Prefetchable would restrict what it places in a window. No _PRT: the
 * devices use MSI-X only (interrupt pin 0). No _OSC (§6.2.11): without it
 * Linux leaves native PCIe hotplug, AER, PME, LTR and ASPM off, none of
 * which we emulate.
 *
 *   Device (PCI0)
 *   {
 *       Name (_HID, EisaId ("PNP0A08"))  // PCI Express root bridge
 *       Name (_CID, EisaId ("PNP0A03"))  // PCI root bridge
 *       Name (_SEG, Zero)
 *       Name (_BBN, Zero)
 *       Name (_UID, Zero)
 *       Name (_CRS, ResourceTemplate () {
 *           WordBusNumber (..., 0x0000, 0x0000, 0x0000, 0x0000, 0x0001)
 *           IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
 *           WordIO (..., PORT_PCI_IO_START, + PORT_PCI_IO_SIZE - 1, ...)
 *           DWordMemory (..., LAYOUT_PCI_MMIO32_START, + SIZE - 1, ...)
 *           QWordMemory (..., LAYOUT_PCI_MMIO64_START, + SIZE - 1, ...)
 *       })
 *   }
 */
static void aml_pci_host_bridge(struct out *o)
{
	size_t device = aml_device_open(o, "PCI0");
	aml_name_integer(o, "_HID", eisa_id("PNP0A08"));
	aml_name_integer(o, "_CID", eisa_id("PNP0A03"));
	aml_name_integer(o, "_SEG", PCI_SEGMENT);
	aml_name_integer(o, "_BBN", PCI_BUS_FIRST);
	aml_name_integer(o, "_UID", 0);

	size_t crs = aml_crs_open(o);
	aml_word_bus_number(o, PCI_BUS_FIRST, PCI_BUS_LAST - PCI_BUS_FIRST + 1);
	aml_io(o, PORT_PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS);
	aml_word_io(o, PORT_PCI_IO_START, PORT_PCI_IO_SIZE);
	aml_dword_memory(o, ADDR_MEM_NONCACHEABLE, (uint32_t)LAYOUT_PCI_MMIO32_START,
			 (uint32_t)LAYOUT_PCI_MMIO32_SIZE);
	aml_qword_memory(o, ADDR_MEM_CACHEABLE, LAYOUT_PCI_MMIO64_START, LAYOUT_PCI_MMIO64_SIZE);
	aml_crs_close(o, crs);

	aml_close(o, device);
}

/*
 * Motherboard resources (PNP0C02): the ECAM area. Linux uses an MCFG
 * region only if it is reserved in E820 or by a PNP0C01/PNP0C02 _CRS
 * (PCI Firmware 3.2 §4.1.2 asks for the latter), so we do both.
 *
 *   Device (MRES)
 *   {
 *       Name (_HID, EisaId ("PNP0C02"))
 *       Name (_CRS, ResourceTemplate () {
 *           Memory32Fixed (ReadWrite, LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE)
 *       })
 *   }
 */
static void aml_motherboard_resources(struct out *o)
{
	size_t device = aml_device_open(o, "MRES");
	aml_name_integer(o, "_HID", eisa_id("PNP0C02"));
	size_t crs = aml_crs_open(o);
	aml_memory32_fixed(o, (uint32_t)LAYOUT_PCI_ECAM_BASE, (uint32_t)LAYOUT_PCI_ECAM_SIZE);
	aml_crs_close(o, crs);
	aml_close(o, device);
}

/* ---- virtio-mmio devices ---- */

/* The layout's windows: in the hole between the ECAM and the IOAPIC, one per page. */
_Static_assert(LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE <= LAYOUT_VIRTIO_MMIO_BASE,
	       "virtio-mmio windows overlap the 32-bit PCI window");
_Static_assert(LAYOUT_PCI_ECAM_BASE + LAYOUT_PCI_ECAM_SIZE <= LAYOUT_VIRTIO_MMIO_BASE,
	       "virtio-mmio windows overlap the ECAM");
_Static_assert(LAYOUT_VIRTIO_MMIO_ADDR(LAYOUT_VIRTIO_MMIO_MAX - 1) + LAYOUT_VIRTIO_MMIO_SIZE <=
	       LAYOUT_IOAPIC_BASE, "virtio-mmio windows overlap the IOAPIC");
_Static_assert(LAYOUT_VIRTIO_MMIO_SIZE <= LAYOUT_VIRTIO_MMIO_STRIDE &&
	       LAYOUT_VIRTIO_MMIO_BASE % LAYOUT_VIRTIO_MMIO_STRIDE == 0,
	       "virtio-mmio windows overlap each other");
_Static_assert(LAYOUT_VIRTIO_MMIO_MAX == ACPI_MAX_MMIO_DEVICES, "virtio-mmio device counts disagree");
/* Their lines: IOAPIC pins above the ISA IRQs (and so the SCI), and below the IOAPIC's last. */
_Static_assert(GSI_VIRTIO_MMIO_BASE >= 16 && GSI_VIRTIO_MMIO_BASE > IRQ_ACPI_SCI,
	       "virtio-mmio GSIs in the ISA range");
_Static_assert(GSI_VIRTIO_MMIO(LAYOUT_VIRTIO_MMIO_MAX - 1) < LAYOUT_IOAPIC_PINS,
	       "virtio-mmio GSIs past the IOAPIC's pins");

/*
 * A virtio-mmio device (virtio 1.2 §4.2.1) as Linux's virtio_mmio driver
 * finds it without a command line: by _HID "LNRO0005" (a string, not an
 * EISA ID), with its window and line in _CRS. For index 1, window
 * 0xFE001000 and GSI 17:
 *
 *   Device (VR01)
 *   {
 *       Name (_HID, "LNRO0005")
 *       Name (_UID, One)
 *       Name (_CRS, ResourceTemplate () {
 *           Memory32Fixed (ReadWrite, 0xFE001000, 0x00000200)
 *           Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 0x00000011 }
 *       })
 *   }
 */
static void aml_virtio_mmio_device(struct out *o, unsigned index, const struct acpi_mmio_device *dev)
{
	static const char hex[] = "0123456789ABCDEF";
	const char name[5] = { 'V', 'R', hex[(index >> 4) & 0xf], hex[index & 0xf], '\0' };
	size_t device = aml_device_open(o, name);
	aml_name_string(o, "_HID", "LNRO0005");
	aml_name_integer(o, "_UID", index);
	size_t crs = aml_crs_open(o);
	aml_memory32_fixed(o, (uint32_t)dev->base, dev->size);
	aml_interrupt_level_high(o, dev->gsi);
	aml_crs_close(o, crs);
	aml_close(o, device);
}

/*
 * Name (_S5, Package (0x04) { SLP_TYPa, SLP_TYPb, 0, 0 }) (§7.4.2): the
 * value OSPM writes to PM1_CNT.SLP_TYP, with SLP_EN, to power off.
 */
static void aml_s5(struct out *o)
{
	aml_name(o, "_S5");
	size_t pkg = aml_open(o, AML_PACKAGE_OP);
	put_u8(o, 4); /* NumElements */
	aml_integer(o, ACPI_S5_SLP_TYP); /* PM1a_CNT.SLP_TYP */
	aml_integer(o, ACPI_S5_SLP_TYP); /* PM1b_CNT.SLP_TYP (no PM1b block) */
	aml_integer(o, 0);               /* reserved */
	aml_integer(o, 0);               /* reserved */
	aml_close(o, pkg);
}

/*
 * Scope (\_SB) { the ISA devices, the PCI host bridge, the motherboard
 * resources, the virtio-mmio devices }
 */
static void aml_system_bus(struct out *o, const struct acpi_config *cfg)
{
	size_t scope = aml_open(o, AML_SCOPE_OP);
	put_u8(o, AML_ROOT_CHAR);
	aml_nameseg(o, "_SB");
	for (size_t i = 0; i < ARRAY_SIZE(isa_devices); i++)
		aml_isa_device(o, &isa_devices[i]);
	aml_pci_host_bridge(o);
	aml_motherboard_resources(o);
	for (unsigned i = 0; i < cfg->nr_mmio_devices; i++)
		aml_virtio_mmio_device(o, i, &cfg->mmio_devices[i]);
	aml_close(o, scope);
}

/*
 * §5.2.11.1 DSDT. Revision 2: AML integers are 64 bits wide. In ASL:
 *
 *   Name (_S5, Package (0x04) { ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP, Zero, Zero })
 *   Scope (\_SB)
 *   {
 *       Device (COM1) { _HID PNP0501, _UID 1, IO 0x3F8/8, IRQ 4 }
 *       Device (RTC)  { _HID PNP0B00, IO 0x70/2, IRQ 8 }
 *       Device (KBD)  { _HID PNP0303, IO 0x60/1, IO 0x64/1, IRQ 1 }
 *       Device (PCI0) { _HID PNP0A08, _CID PNP0A03, _CRS: bus 0, the windows }
 *       Device (MRES) { _HID PNP0C02, _CRS: the ECAM area }
 *       Device (VR00) { _HID "LNRO0005", _UID 0, _CRS: window, GSI }  // one per
 *       ...                                                            // virtio-mmio device
 *   }
 */
static uint64_t dsdt_write(struct out *o, const struct acpi_config *cfg)
{
	size_t start = table_begin(o, "DSDT", 2);
	aml_s5(o);
	aml_system_bus(o, cfg);
	table_end(o, start);
	return gpa_of(o, start);
}

/* ---- FACS (§5.2.10) ---- */

#define FACS_LENGTH 64

static uint64_t facs_write(struct out *o)
{
	put_align(o, 64); /* §5.2.10: the FACS is 64-byte aligned */
	size_t start = o->len;
	put_bytes(o, "FACS", 4); /* Signature */
	put_u32(o, FACS_LENGTH); /* Length */
	put_u32(o, 0);           /* Hardware Signature */
	put_u32(o, 0);           /* Firmware Waking Vector: no S3 */
	put_u32(o, 0);           /* Global Lock */
	put_u32(o, 0);           /* Flags: no S4BIOS_F, no 64BIT_WAKE_SUPPORTED_F */
	put_u64(o, 0);           /* X Firmware Waking Vector */
	put_u8(o, 2);            /* Version */
	put_zeros(o, 3);         /* Reserved */
	put_u32(o, 0);           /* OSPM Flags */
	put_zeros(o, 24);        /* Reserved */
	return gpa_of(o, start);
}

/* ---- FADT (§5.2.9) ---- */

#define FADT_REVISION       6
#define FADT_MINOR_REVISION 4 /* ACPI 6.4 */

/* §5.2.9 Fixed ACPI Description Table Fixed Feature Flags. */
#define FADT_WBINVD     (1u << 0) /* WBINVD works */
#define FADT_PROC_C1    (1u << 2) /* C1 (HLT) works on all processors */
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
/* TMR_VAL_EXT (bit 8) clear: the PM timer is 24 bits wide. */
/* RESET_REG_SUP (bit 10) clear: the guest resets through the i8042. */

/* §5.2.9.3 IA-PC Boot Architecture Flags. */
#define IAPC_LEGACY_DEVICES (1u << 0) /* ISA devices not in ACPI namespace may exist */
#define IAPC_8042           (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2) /* nothing answers VGA ports */

#define LATENCY_NO_C2 0x0fff /* P_LVL2_LAT > 100: C2 not supported */
#define LATENCY_NO_C3 0x0fff /* P_LVL3_LAT > 1000: C3 not supported */

/* §5.2.3.2 Generic Address Structure. */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_WORD  2
#define GAS_ACCESS_DWORD 3

/* A fixed-hardware register block in I/O space. */
struct io_block {
	uint16_t port;
	uint8_t len;    /* bytes */
	uint8_t access; /* GAS access size */
};

/* §4.8: PM1 status, enable and control are 16-bit registers. */
static const struct io_block pm1a_evt = { PORT_ACPI_PM1_EVT, 4, GAS_ACCESS_WORD };
static const struct io_block pm1a_cnt = { PORT_ACPI_PM1_CNT, 2, GAS_ACCESS_WORD };
static const struct io_block pm_tmr = { PORT_ACPI_PM_TMR, 4, GAS_ACCESS_DWORD };

static void put_gas_io(struct out *o, const struct io_block *blk)
{
	put_u8(o, GAS_SYSTEM_IO);           /* Address Space ID */
	put_u8(o, (uint8_t)(blk->len * 8)); /* Register Bit Width */
	put_u8(o, 0);                       /* Register Bit Offset */
	put_u8(o, blk->access);             /* Access Size */
	put_u64(o, blk->port);              /* Address */
}

static void put_gas_none(struct out *o)
{
	put_zeros(o, 12);
}

/*
 * Every fixed-hardware block is given twice, as a legacy 32-bit port (with
 * its length in a separate field) and as an X_ GAS; both come from the same
 * io_block so they cannot disagree.
 */
static uint64_t fadt_write(struct out *o, uint64_t facs, uint64_t dsdt)
{
	size_t start = table_begin(o, "FACP", FADT_REVISION);
	put_u32(o, (uint32_t)facs);  /* FIRMWARE_CTRL */
	put_u32(o, (uint32_t)dsdt);  /* DSDT */
	put_u8(o, 0);                /* Reserved (INT_MODEL in ACPI 1.0) */
	put_u8(o, 0);                /* Preferred_PM_Profile: Unspecified */
	put_u16(o, IRQ_ACPI_SCI);    /* SCI_INT */
	put_u32(o, 0);               /* SMI_CMD: none, always in ACPI mode */
	put_u8(o, 0);                /* ACPI_ENABLE */
	put_u8(o, 0);                /* ACPI_DISABLE */
	put_u8(o, 0);                /* S4BIOS_REQ */
	put_u8(o, 0);                /* PSTATE_CNT */
	put_u32(o, pm1a_evt.port);   /* PM1a_EVT_BLK */
	put_u32(o, 0);               /* PM1b_EVT_BLK */
	put_u32(o, pm1a_cnt.port);   /* PM1a_CNT_BLK */
	put_u32(o, 0);               /* PM1b_CNT_BLK */
	put_u32(o, 0);               /* PM2_CNT_BLK */
	put_u32(o, pm_tmr.port);     /* PM_TMR_BLK */
	put_u32(o, 0);               /* GPE0_BLK */
	put_u32(o, 0);               /* GPE1_BLK */
	put_u8(o, pm1a_evt.len);     /* PM1_EVT_LEN */
	put_u8(o, pm1a_cnt.len);     /* PM1_CNT_LEN */
	put_u8(o, 0);                /* PM2_CNT_LEN */
	put_u8(o, pm_tmr.len);       /* PM_TMR_LEN */
	put_u8(o, 0);                /* GPE0_BLK_LEN */
	put_u8(o, 0);                /* GPE1_BLK_LEN */
	put_u8(o, 0);                /* GPE1_BASE */
	put_u8(o, 0);                /* CST_CNT */
	put_u16(o, LATENCY_NO_C2);   /* P_LVL2_LAT */
	put_u16(o, LATENCY_NO_C3);   /* P_LVL3_LAT */
	put_u16(o, 0);               /* FLUSH_SIZE */
	put_u16(o, 0);               /* FLUSH_STRIDE */
	put_u8(o, 0);                /* DUTY_OFFSET */
	put_u8(o, 0);                /* DUTY_WIDTH */
	put_u8(o, 0);                /* DAY_ALRM: no RTC day alarm */
	put_u8(o, 0);                /* MON_ALRM: no RTC month alarm */
	put_u8(o, RTC_CENTURY_INDEX); /* CENTURY: CMOS index of the century byte */
	put_u16(o, IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT); /* IAPC_BOOT_ARCH */
	put_u8(o, 0);                /* Reserved */
	put_u32(o, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON); /* Flags */
	put_gas_none(o);             /* RESET_REG: not supported */
	put_u8(o, 0);                /* RESET_VALUE */
	put_u16(o, 0);               /* ARM_BOOT_ARCH */
	put_u8(o, FADT_MINOR_REVISION); /* FADT Minor Version */
	/*
	 * X_FIRMWARE_CTRL: "If the FIRMWARE_CTRL field contains a non zero
	 * value then this field must be zero" (§5.2.9); X_DSDT has no
	 * such rule and repeats DSDT.
	 */
	put_u64(o, 0);               /* X_FIRMWARE_CTRL */
	put_u64(o, dsdt);            /* X_DSDT */
	put_gas_io(o, &pm1a_evt);    /* X_PM1a_EVT_BLK */
	put_gas_none(o);             /* X_PM1b_EVT_BLK */
	put_gas_io(o, &pm1a_cnt);    /* X_PM1a_CNT_BLK */
	put_gas_none(o);             /* X_PM1b_CNT_BLK */
	put_gas_none(o);             /* X_PM2_CNT_BLK */
	put_gas_io(o, &pm_tmr);      /* X_PM_TMR_BLK */
	put_gas_none(o);             /* X_GPE0_BLK */
	put_gas_none(o);             /* X_GPE1_BLK */
	put_gas_none(o);             /* SLEEP_CONTROL_REG: hardware-reduced only */
	put_gas_none(o);             /* SLEEP_STATUS_REG: hardware-reduced only */
	put_u64(o, 0);               /* Hypervisor Vendor Identity */
	table_end(o, start);
	return gpa_of(o, start);
}

/* ---- MADT (§5.2.12) ---- */

#define MADT_REVISION    5 /* ACPI 6.3 and 6.4 */
#define MADT_PCAT_COMPAT (1u << 0) /* dual 8259s present, masked when the APICs are used */

/* §5.2.12 Interrupt Controller Structure Types */
enum {
	MADT_LOCAL_APIC       = 0,
	MADT_IO_APIC          = 1,
	MADT_SOURCE_OVERRIDE  = 2,
	MADT_LOCAL_APIC_NMI   = 4,
};

#define LAPIC_ENABLED (1u << 0)

/* §5.2.12.5 MPS INTI Flags */
#define MPS_INTI_CONFORMS    0x0
#define MPS_INTI_ACTIVE_HIGH (1u << 0)
#define MPS_INTI_LEVEL       (3u << 2)

#define ISA_BUS 0
#define ALL_PROCESSORS 0xff
#define LINT1 1

static void madt_entry(struct out *o, uint8_t type, uint8_t len)
{
	put_u8(o, type); /* Type */
	put_u8(o, len);  /* Length, this header included */
}

/* §5.2.12.2 Processor Local APIC: UID and APIC ID are the CPU's index. */
static void madt_local_apic(struct out *o, uint8_t cpu)
{
	madt_entry(o, MADT_LOCAL_APIC, 8);
	put_u8(o, cpu);            /* ACPI Processor UID */
	put_u8(o, cpu);            /* APIC ID */
	put_u32(o, LAPIC_ENABLED); /* Flags */
}

/* §5.2.12.3 I/O APIC */
static void madt_io_apic(struct out *o, uint8_t id, uint32_t addr, uint32_t gsi_base)
{
	madt_entry(o, MADT_IO_APIC, 12);
	put_u8(o, id);        /* I/O APIC ID */
	put_u8(o, 0);         /* Reserved */
	put_u32(o, addr);     /* I/O APIC Address */
	put_u32(o, gsi_base); /* Global System Interrupt Base */
}

/* §5.2.12.5 Interrupt Source Override for an ISA IRQ. */
static void madt_source_override(struct out *o, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	madt_entry(o, MADT_SOURCE_OVERRIDE, 10);
	put_u8(o, ISA_BUS); /* Bus */
	put_u8(o, irq);     /* Source */
	put_u32(o, gsi);    /* Global System Interrupt */
	put_u16(o, flags);  /* Flags */
}

/* §5.2.12.7 Local APIC NMI */
static void madt_local_apic_nmi(struct out *o, uint8_t uid, uint8_t lint)
{
	madt_entry(o, MADT_LOCAL_APIC_NMI, 6);
	put_u8(o, uid);                /* ACPI Processor UID */
	put_u16(o, MPS_INTI_CONFORMS); /* Flags */
	put_u8(o, lint);               /* Local APIC LINT# */
}

/*
 * The ISA IRQs reach the IOAPIC pins of the same number (KVM's default GSI
 * routing, §5.2.12.4), so IRQ 0 needs no override. The SCI does: it is
 * level-triggered, and active high rather than the SCI default of active low
 * (§5.2.9, SCI_INT).
 */
static uint64_t madt_write(struct out *o, unsigned nr_cpus)
{
	size_t start = table_begin(o, "APIC", MADT_REVISION);
	put_u32(o, (uint32_t)LAYOUT_LAPIC_BASE); /* Local Interrupt Controller Address */
	put_u32(o, MADT_PCAT_COMPAT);            /* Flags */
	for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
		madt_local_apic(o, (uint8_t)cpu);
	madt_io_apic(o, (uint8_t)nr_cpus, (uint32_t)LAYOUT_IOAPIC_BASE, 0);
	madt_source_override(o, IRQ_ACPI_SCI, IRQ_ACPI_SCI,
			     MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
	madt_local_apic_nmi(o, ALL_PROCESSORS, LINT1);
	table_end(o, start);
	return gpa_of(o, start);
}

/*
 * ---- MCFG (PCI Firmware Specification 3.2 §4.1.2) ----
 *
 * The header (revision 1), 8 reserved bytes, and one configuration space
 * base address allocation structure per ECAM region: ours covers segment
 * 0, buses PCI_BUS_FIRST..PCI_BUS_LAST. (Its base address is that of bus
 * 0's area even when the range starts at another bus.)
 */
#define MCFG_REVISION 1

static uint64_t mcfg_write(struct out *o)
{
	size_t start = table_begin(o, "MCFG", MCFG_REVISION);
	put_zeros(o, 8);                  /* Reserved */
	put_u64(o, LAYOUT_PCI_ECAM_BASE); /* Base Address */
	put_u16(o, PCI_SEGMENT);          /* PCI Segment Group Number */
	put_u8(o, PCI_BUS_FIRST);         /* Start Bus Number */
	put_u8(o, PCI_BUS_LAST);          /* End Bus Number */
	put_u32(o, 0);                    /* Reserved */
	table_end(o, start);
	return gpa_of(o, start);
}

/* ---- XSDT (§5.2.8) and RSDP (§5.2.5.3) ---- */

static uint64_t xsdt_write(struct out *o, const uint64_t *tables, size_t n)
{
	size_t start = table_begin(o, "XSDT", 1);
	for (size_t i = 0; i < n; i++)
		put_u64(o, tables[i]); /* Entry */
	table_end(o, start);
	return gpa_of(o, start);
}

#define RSDP_LENGTH        36
#define RSDP_V1_LENGTH     20 /* what the first checksum covers */
#define RSDP_CHECKSUM      8  /* offsets in the RSDP */
#define RSDP_EXT_CHECKSUM  32

/* Written at the cursor, which is at offset 0. */
static void rsdp_write(struct out *o, uint64_t xsdt)
{
	put_bytes(o, "RSD PTR ", 8); /* Signature */
	put_u8(o, 0);                /* Checksum: below */
	put_bytes(o, OEM_ID, 6);     /* OEMID */
	put_u8(o, 2);                /* Revision: 2 has the XSDT fields */
	put_u32(o, 0);               /* RsdtAddress: no RSDT, the OS uses the XSDT */
	put_u32(o, RSDP_LENGTH);     /* Length */
	put_u64(o, xsdt);            /* XsdtAddress */
	put_u8(o, 0);                /* Extended Checksum: below */
	put_zeros(o, 3);             /* Reserved */
	put_checksum(o, 0, RSDP_V1_LENGTH, RSDP_CHECKSUM);
	put_checksum(o, 0, RSDP_LENGTH, RSDP_EXT_CHECKSUM);
}

/* The FADT's 32-bit pointers (FIRMWARE_CTRL, DSDT) must reach every table. */
static bool below_4g(uint64_t gpa, size_t len)
{
	return gpa <= 4 * GiB && len <= 4 * GiB - gpa;
}

/* What the DSDT can announce: a window below 4 GiB, an IOAPIC pin. */
static bool mmio_devices_valid(const struct acpi_config *cfg)
{
	if (cfg->nr_mmio_devices > ACPI_MAX_MMIO_DEVICES || (cfg->nr_mmio_devices && !cfg->mmio_devices))
		return false;
	for (unsigned i = 0; i < cfg->nr_mmio_devices; i++) {
		const struct acpi_mmio_device *dev = &cfg->mmio_devices[i];
		if (dev->size == 0 || !below_4g(dev->base, dev->size) || dev->gsi >= LAYOUT_IOAPIC_PINS)
			return false;
	}
	return true;
}

long acpi_build(uint8_t *buf, size_t cap, const struct acpi_config *cfg)
{
	if (cfg->nr_cpus == 0 || cfg->nr_cpus > MAX_CPUS)
		return -EINVAL;
	if (cfg->base_gpa % 16) /* §5.2.5.1: the RSDP scan looks at 16-byte boundaries */
		return -EINVAL;
	if (!mmio_devices_valid(cfg))
		return -EINVAL;

	struct out o = { .buf = buf, .cap = cap, .gpa = cfg->base_gpa };
	put_zeros(&o, RSDP_LENGTH); /* filled in last */
	uint64_t facs = facs_write(&o);
	uint64_t dsdt = dsdt_write(&o, cfg);
	uint64_t tables[3];
	tables[0] = fadt_write(&o, facs, dsdt);
	tables[1] = madt_write(&o, cfg->nr_cpus);
	tables[2] = mcfg_write(&o);
	uint64_t xsdt = xsdt_write(&o, tables, ARRAY_SIZE(tables));
	struct out rsdp = out_at(&o, 0);
	rsdp_write(&rsdp, xsdt);

	if (!below_4g(cfg->base_gpa, o.len))
		return -EINVAL;
	if (o.len > cap)
		return -ENOSPC;
	return (long)o.len;
}

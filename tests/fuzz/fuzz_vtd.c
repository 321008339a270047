/*
 * libFuzzer target: the VT-d unit (vtd.c, vtd_translate.c, vtd_irq.c) as a
 * hostile guest drives it: its tables, IRTEs and invalidation queue in fake
 * guest RAM, its register page programmed at random, devices translating,
 * doing DMA through dma.c and sending MSIs. Nothing may crash or reach
 * outside RAM (one malloc'd block: ASan watches its ends), and the answers
 * must keep the promises of vtd.h and dma.h (abort otherwise): the span of
 * a translation; dma.c's answer, and a read's bytes, as the same range
 * translated piece by piece gives them; remapped messages; no fault from
 * an unrecorded remap; §7.3, a fault event only when no fault status was
 * pending; reads without side effects. The hook interrupts_changed
 * re-translates the last message, as the machine does: that deadlocks (a
 * libFuzzer timeout) if the unit still holds its lock.
 *
 * The input is the RAM from its first byte (64 KiB at gpa 0, zero beyond
 * the input); its first bytes are also the guest's program:
 *   0     bit 0 intremap (ECAP.IR), bit 1 caching_mode (CAP.CM)
 *   1     N, the number of 16-byte operations from byte 2 on (zeros past the input)
 * Each operation: op, flags, a (16-bit LE), d (32-bit LE), v (64-bit LE).
 * flags: bits 1:0 access width 1, 2, 4, 8; bit 2 a picks a register from
 * regs[] (else a % 4 KiB is the offset); bit 3 a write (translate, DMA);
 * bit 4 v &= 0xffff (a RAM address, a small IOVA); bit 6 remap without
 * recording. op % 8:
 *   0 register write v, 1 register read (twice: reads have no side effects)
 *   2 the guest stores v at RAM offset a & ~7; with flags bit 5, IRTE a of
 *     the IRTA table is v, d (with bit 4 too: only bits an xAPIC IRTE may set)
 *   3 translate(source id a, IOVA v), 4 DMA of d % 72 KiB + 1 bytes at IOVA v
 *   5 vtd_remap_msi(source id a, address v, data d); with flags bit 5, the
 *     remappable message for handle a (SHV: flags bit 3), source id d & 0xffff,
 *     subhandle d >> 16
 *   6 map(), 7 submit(): a driver writing well-formed structures where the
 *     registers say (later stores corrupt them): the entries from the root
 *     table down that map IOVA v for source id a; an invalidation descriptor
 *     at the queue's tail, then IQT moved past it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/vtd.h"
#include "iommu/vtd_regs.h"

#define RAM_SIZE  0x10000
#define PROGRAM   (2 + 255 * 16)
#define DMA_MAX   0x12000 /* longer than RAM: dma.c's copy in more than 16 pieces */
#define CONTEXTS  0x1000  /* map()'s context table, for every bus */
#define TABLES    0x2000  /* and its page tables: the top level's here, then one page per level */
#define PAGE_MASK 0xfffffffffffff000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t regs[] = {
	VTD_VER, VTD_CAP, VTD_ECAP, VTD_GCMD, VTD_GSTS, VTD_RTADDR, VTD_RTADDR + 4, VTD_CCMD,
	VTD_CCMD + 4, VTD_FSTS, VTD_FECTL, VTD_FEDATA, VTD_FEADDR, VTD_FEUADDR, VTD_PMEN,
	VTD_IQH, VTD_IQT, VTD_IQA, VTD_IQA + 4, VTD_ICS, VTD_IECTL, VTD_IEDATA, VTD_IEADDR,
	VTD_IEUADDR, VTD_IQERCD, VTD_IRTA, VTD_IRTA + 4, VTD_IVA, VTD_IVA + 4, VTD_IOTLB,
	VTD_IOTLB + 4, VTD_FRCD, VTD_FRCD + 8, VTD_FRCD + 12, /* fault record (a >> 8) % 8 */
};

static uint8_t *ram, *dma_buf, *want_buf;
static struct guest_mem gm;
static struct vtd *vtd;
static unsigned signals; /* the unit's own interrupts */
static struct { uint16_t sid; uint64_t address; uint32_t data; bool record; } last; /* remapped */

/* The host is little-endian, as vmon's guests are. */
static uint64_t reg(unsigned offset)
{
	uint64_t v = 0;
	vtd_bus_ops.read(vtd, offset, &v, 8);
	return v;
}

static void put64(uint64_t gpa, uint64_t v)
{
	if (gpa <= RAM_SIZE - 8)
		memcpy(ram + gpa, &v, sizeof(v));
}

/*
 * From d: bits 3:0 the page (0-15: RAM as 4 KiB pages), 5:4 the leaf level
 * (0: 1), 7:6 its R and W, 8 four levels (else three), 9 pass-through,
 * 10 FPD, 31:16 the domain.
 */
static void map(uint16_t sid, uint64_t iova, uint32_t d)
{
	unsigned levels = d & 0x100 ? 4 : 3, leaf = (d >> 4) & 3 ? (d >> 4) & 3 : 1;
	uint64_t root = (reg(VTD_RTADDR) & PAGE_MASK) + (sid >> 8) * 16;
	uint64_t ctx = CONTEXTS + (sid & 0xff) * 16;
	put64(root, CONTEXTS | 1);
	put64(root + 8, 0);
	put64(ctx, TABLES | (d >> 9 & 1) << 3 | (d >> 10 & 1) << 1 | 1);
	put64(ctx + 8, (uint64_t)(d >> 16) << 8 | (levels - 2));
	for (unsigned level = levels; level >= leaf; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		uint64_t table = TABLES + (levels - level) * 0x1000ull, entry = (table + 0x1000) | 3;
		if (level == leaf)
			entry = (uint64_t)(d & 0xf) << shift | (d >> 6 & 3) | (level > 1 ? 1u << 7 : 0);
		put64(table + ((iova >> shift) & 511) * 8, entry);
	}
}

/* Descriptor type 1 + type % 5, flags bits 6:4 in its bits 6:4, a in 31:16, d in 63:32; v above. */
static void submit(uint8_t type, uint8_t flags, uint16_t a, uint32_t d, uint64_t v)
{
	uint64_t iqa = reg(VTD_IQA), entries = 256ull << (iqa & 7);
	uint64_t tail = (reg(VTD_IQT) >> 4) % entries, at = (iqa & PAGE_MASK) + tail * 16;
	put64(at, (uint64_t)d << 32 | (uint64_t)a << 16 | (flags & 0x70) | (1 + type % 5));
	put64(at + 8, v);
	uint64_t next = (tail + 1) % entries << 4;
	vtd_bus_ops.write(vtd, VTD_IQT, &next, 8);
}

static void signal_msi(void *ctx, uint64_t address, uint32_t data)
{
	(void)ctx, (void)address, (void)data;
	signals++;
}

static void interrupts_changed(void *ctx)
{
	(void)ctx;
	uint64_t address = last.address;
	uint32_t data = last.data;
	int ret = vtd_remap_msi(vtd, last.sid, &address, &data, last.record);
	if (ret != 0 && ret != -EPERM)
		abort();
}

/*
 * 0 or -EFAULT. Translation off: the identity to the end of the address
 * space (2^64 - iova, UINT64_MAX for iova 0). Else 1 GiB at most, at the
 * IOVA's page offset, to the end of its IOMMU page (4 KiB-aligned).
 */
static void translate(uint16_t sid, uint64_t iova, bool write)
{
	const struct dma_translator *t = vtd_dma_translator(vtd);
	uint64_t gpa = 0, span = 0;
	int ret = t->translate(t->ctx, sid, iova, write, &gpa, &span);
	if (ret == -EFAULT)
		return;
	if (ret != 0 || span == 0 || (gpa & 0xfff) != (iova & 0xfff))
		abort();
	if (span > (1ull << 30) ? gpa != iova || (iova + span != 0 && (iova || span != UINT64_MAX))
				: ((iova + span) & 0xfff) != 0)
		abort();
}

/* What dma.c must answer, from the translator piece by piece; a read's bytes into `want`. */
static int expected(const struct dma_space *d, uint64_t iova, uint64_t len, bool write,
		    uint8_t *want)
{
	if (iova + len < iova)
		return -EINVAL;
	while (len) {
		uint64_t gpa, span;
		if (d->iommu->translate(d->iommu->ctx, d->source_id, iova, write, &gpa, &span))
			return -EFAULT;
		uint64_t n = span < len ? span : len;
		const uint8_t *host = guest_mem_ptr(&gm, gpa, n);
		if (!host)
			return -EINVAL;
		if (!write)
			memcpy(want, host, n), want += n;
		iova += n, len -= n;
	}
	return 0;
}

/* The bytes end where the buffer does: ASan sees dma.c copy a byte more than asked. */
static void dma(uint16_t sid, uint64_t iova, uint64_t len, bool write)
{
	struct dma_space d = { .mem = &gm, .iommu = vtd_dma_translator(vtd), .source_id = sid };
	uint8_t *buf = dma_buf + DMA_MAX - len;
	int want = expected(&d, iova, len, write, want_buf);
	int ret = write ? dma_write(&d, iova, buf, len) : dma_read(&d, iova, buf, len);
	if (ret != want || (ret == 0 && !write && memcmp(buf, want_buf, len) != 0))
		abort();
}

/* Blocked or remapping off: as sent; remapped: compatibility format; unrecorded: no fault. */
static void remap(uint16_t sid, uint64_t address, uint32_t data, bool record)
{
	bool remapping = reg(VTD_GCMD) >> 32 & VTD_GSTS_IRES;
	uint64_t a = address, fsts = reg(VTD_FSTS - 4);
	uint32_t d = data;
	unsigned signals_before = signals;
	int ret = vtd_remap_msi(vtd, sid, &a, &d, record);
	if ((ret != 0 && ret != -EPERM) || ((ret || !remapping) && (a != address || d != data)) ||
	    (ret == 0 && remapping && (address & 0x10) && ((a & 0xfff00010) != 0xfee00000 || d >> 16)) ||
	    (!record && (reg(VTD_FSTS - 4) != fsts || signals != signals_before)))
		abort();
	last.sid = sid, last.address = address, last.data = data, last.record = record;
}

static void run_op(const uint8_t *op)
{
	static const unsigned widths[] = { 1, 2, 4, 8 };
	uint8_t flags = op[1];
	uint16_t a;
	uint32_t d;
	uint64_t raw, v, got[2] = { 0, 0 };
	memcpy(&a, op + 2, 2), memcpy(&d, op + 4, 4), memcpy(&raw, op + 8, 8);
	v = flags & 16 ? raw & 0xffff : raw;
	unsigned len = widths[flags & 3], offset = a % VTD_REG_PAGE_SIZE, signals_before = signals;
	bool pending = reg(VTD_FSTS - 4) >> 32 & 0x73; /* PFO, PPF, IQE, ICE, ITE */
	if (flags & 4)
		offset = regs[a % (sizeof(regs) / sizeof(regs[0]))];
	if (flags & 4 && offset >= VTD_FRCD)
		offset += (a >> 8) % VTD_FAULT_RECORDS * 16;
	switch (op[0] % 8) {
	case 0:
		vtd_bus_ops.write(vtd, offset, &v, len);
		break;
	case 1: /* exactly len bytes, the same twice */
		memset(got, 0xcc, sizeof(got));
		vtd_bus_ops.read(vtd, offset, &got[0], len);
		vtd_bus_ops.read(vtd, offset, &got[1], len);
		if (got[0] != got[1] || (len < 8 && got[0] >> (8 * len) != 0xccccccccccccccccull >> (8 * len)))
			abort();
		break;
	case 2:
		if (flags & 32) { /* IRTE a: the bits §9.10 allows an xAPIC entry, or all */
			uint64_t irte = (reg(VTD_IRTA) & PAGE_MASK) + a * 16ull;
			put64(irte, flags & 16 ? raw & 0xff0000ff0fffull : raw);
			put64(irte + 8, flags & 16 ? d & 0xfffff : d);
		} else {
			put64(a & ~7u, v);
		}
		break;
	case 3:
		translate(a, v, flags & 8);
		break;
	case 4:
		dma(a, v, d % DMA_MAX + 1, flags & 8);
		break;
	case 5: /* §5.1.2.2: handle 14:0 in address bits 19:5, 15 in bit 2; SHV bit 3 */
		if (flags & 32)
			remap((uint16_t)d, 0xfee00010 | (a & 0x7fffu) << 5 | (a >> 13 & 4) | (flags & 8),
			      d >> 16, !(flags & 64));
		else
			remap(a, v, d, !(flags & 64));
		break;
	case 6:
		map(a, v, d);
		break;
	default:
		submit(op[0] >> 3, flags, a, d, v);
		break;
	}
	/*
	 * §7.3: a fault event only when no fault status was pending. Only
	 * register writes complete invalidation waits (or run the hook).
	 */
	unsigned sent = signals - signals_before;
	if (sent > 3 || (op[0] % 8 >= 2 && op[0] % 8 <= 6 && sent > (pending ? 0u : 1u)))
		abort();
}

static int setup(void)
{
	ram = malloc(RAM_SIZE);
	dma_buf = malloc(DMA_MAX);
	want_buf = malloc(DMA_MAX);
	if (!ram || !dma_buf || !want_buf)
		return -1;
	guest_mem_init_flat(&gm, ram, 0, RAM_SIZE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t program[PROGRAM];
	if (!ram && setup() != 0)
		abort();
	if (size < 2)
		return 0;
	size_t n = size < RAM_SIZE ? size : RAM_SIZE;
	memcpy(ram, data, n);
	memset(ram + n, 0, RAM_SIZE - n);
	memcpy(program, ram, PROGRAM); /* the RAM changes under the program: keep a copy */
	struct vtd_config cfg = { .intremap = data[0] & 1, .caching_mode = data[0] & 2 };
	struct vtd_hooks hooks = { .signal_msi = signal_msi, .interrupts_changed = interrupts_changed };
	if (vtd_create(&vtd, &gm, &cfg, &hooks) != 0)
		abort();
	last.sid = 0, last.address = 0xfee00010, last.data = 0, last.record = true;
	for (unsigned i = 0; i < program[1]; i++)
		run_op(program + 2 + i * 16);
	vtd_destroy(vtd);
	return 0;
}

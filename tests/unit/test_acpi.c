/*
 * ACPI tables: checksums, lengths and pointers from the RSDP down, the
 * FADT's fixed hardware, the MADT for several CPU counts, the MCFG, the
 * DSDT's \_S5, PCI host bridge resources and virtio-mmio devices, the
 * error returns, and a
 * round trip of every table through iasl
 * (acpica-tools): disassembled without complaint, recompiled, and the
 * recompiled table equal to ours.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "tap.h"

#define BASE LAYOUT_ACPI_START

static uint8_t buf[LAYOUT_ACPI_SIZE];

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool sums_to_zero(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	while (len--)
		sum = (uint8_t)(sum + *p++);
	return sum == 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

static uint32_t table_len(const uint8_t *table)
{
	return le32(table + 4);
}

/* One build, with its tables found by following the pointers from the RSDP. */
struct tables {
	size_t len; /* bytes acpi_build() used */
	const uint8_t *rsdp, *xsdt, *fadt, *facs, *dsdt, *madt, *mcfg;
	const uint8_t *dmar; /* NULL: none listed */
};

/* The table at guest address gpa if it has signature sig and lies inside the build. */
static const uint8_t *table_at(const struct tables *t, uint64_t gpa, const char *sig)
{
	if (gpa < BASE || gpa - BASE > t->len || t->len - (gpa - BASE) < 8)
		return NULL;
	size_t off = (size_t)(gpa - BASE);
	const uint8_t *p = buf + off;
	if (memcmp(p, sig, 4) != 0 || table_len(p) < 8 || table_len(p) > t->len - off)
		return NULL;
	return p;
}

/* FADT field offsets (ACPI 6.4 §5.2.9). */
enum {
	FADT_FIRMWARE_CTRL = 36,
	FADT_DSDT = 40,
	FADT_SCI_INT = 46,
	FADT_SMI_CMD = 48,
	FADT_PM1A_EVT_BLK = 56,
	FADT_PM1A_CNT_BLK = 64,
	FADT_PM_TMR_BLK = 76,
	FADT_PM1_EVT_LEN = 88,
	FADT_PM1_CNT_LEN = 89,
	FADT_PM_TMR_LEN = 91,
	FADT_IAPC_BOOT_ARCH = 109,
	FADT_FLAGS = 112,
	FADT_RESET_REG = 116,
	FADT_X_FIRMWARE_CTRL = 132,
	FADT_X_DSDT = 140,
	FADT_X_PM1A_EVT_BLK = 148,
	FADT_X_PM1A_CNT_BLK = 172,
	FADT_X_PM_TMR_BLK = 208,
	FADT_LENGTH = 276,
};

static bool find_tables_cfg(const struct acpi_config *cfg, struct tables *t)
{
	memset(buf, 0, sizeof(buf));
	memset(t, 0, sizeof(*t));
	long n = acpi_build(buf, sizeof(buf), cfg);
	if (n <= 0)
		return false;
	t->len = (size_t)n;
	t->rsdp = buf;
	t->xsdt = table_at(t, le64(buf + 24), "XSDT");
	if (!t->xsdt)
		return false;
	for (uint32_t off = 36; off + 8 <= table_len(t->xsdt); off += 8) {
		uint64_t gpa = le64(t->xsdt + off);
		const uint8_t *fadt = table_at(t, gpa, "FACP"), *madt = table_at(t, gpa, "APIC");
		const uint8_t *mcfg = table_at(t, gpa, "MCFG"), *dmar = table_at(t, gpa, "DMAR");
		if (dmar)
			t->dmar = dmar;
		if (fadt)
			t->fadt = fadt;
		if (madt)
			t->madt = madt;
		if (mcfg)
			t->mcfg = mcfg;
	}
	if (!t->fadt || !t->madt || !t->mcfg)
		return false;
	t->facs = table_at(t, le32(t->fadt + FADT_FIRMWARE_CTRL), "FACS");
	t->dsdt = table_at(t, le64(t->fadt + FADT_X_DSDT), "DSDT");
	return t->facs && t->dsdt;
}

static bool find_tables(unsigned nr_cpus, struct tables *t)
{
	struct acpi_config cfg = { .nr_cpus = nr_cpus, .base_gpa = BASE };
	return find_tables_cfg(&cfg, t);
}

/* Two virtio-mmio devices where the layout puts devices 0 and 1. */
static const struct acpi_mmio_device two_mmio[] = {
	{ .base = LAYOUT_VIRTIO_MMIO_ADDR(0), .size = LAYOUT_VIRTIO_MMIO_SIZE, .gsi = GSI_VIRTIO_MMIO(0) },
	{ .base = LAYOUT_VIRTIO_MMIO_ADDR(1), .size = LAYOUT_VIRTIO_MMIO_SIZE, .gsi = GSI_VIRTIO_MMIO(1) },
};

static void test_rsdp(void)
{
	struct acpi_config cfg = { .nr_cpus = 2, .base_gpa = BASE };
	long n = acpi_build(buf, sizeof(buf), &cfg);
	CHECK(n > 36 && (size_t)n <= sizeof(buf), "build for 2 CPUs uses %ld bytes", n);
	CHECK(memcmp(buf, "RSD PTR ", 8) == 0, "RSDP signature at offset 0");
	CHECK(buf[15] == 2, "RSDP revision 2");
	CHECK(le32(buf + 20) == 36, "RSDP length 36");
	CHECK(sums_to_zero(buf, 20), "RSDP checksum over the first 20 bytes");
	CHECK(sums_to_zero(buf, 36), "RSDP extended checksum over all 36 bytes");
	CHECK(memcmp(buf + 9, "VMON  ", 6) == 0, "RSDP OEM ID");

	struct tables t = { .len = (size_t)n };
	CHECK(table_at(&t, le64(buf + 24), "XSDT") != NULL, "RSDP points at the XSDT inside the buffer");
}

static void test_xsdt_and_headers(void)
{
	struct tables t;
	if (!find_tables(2, &t)) {
		CHECK(false, "RSDP -> XSDT -> FADT, MADT, MCFG -> FACS, DSDT found inside the buffer");
		return;
	}
	uint32_t xlen = table_len(t.xsdt);
	CHECK(xlen == 36 + 3 * 8, "XSDT has three entries (length %u)", xlen);
	CHECK(le64(t.xsdt + 36) == BASE + (uint64_t)(t.fadt - buf), "XSDT entry 0 is the FADT");
	CHECK(le64(t.xsdt + 44) == BASE + (uint64_t)(t.madt - buf), "XSDT entry 1 is the MADT");
	CHECK(le64(t.xsdt + 52) == BASE + (uint64_t)(t.mcfg - buf), "XSDT entry 2 is the MCFG");

	const uint8_t *with_header[] = { t.xsdt, t.fadt, t.dsdt, t.madt, t.mcfg };
	for (size_t i = 0; i < sizeof(with_header) / sizeof(with_header[0]); i++) {
		const uint8_t *h = with_header[i];
		CHECK(sums_to_zero(h, table_len(h)), "%.4s checksum", (const char *)h);
		CHECK(memcmp(h + 10, "VMON  ", 6) == 0 && memcmp(h + 16, "VMONVMM ", 8) == 0 &&
			      memcmp(h + 28, "VMON", 4) == 0,
		      "%.4s OEM ID, OEM table ID and creator ID", (const char *)h);
	}
	CHECK(t.xsdt[8] == 1 && t.fadt[8] == 6 && t.dsdt[8] == 2 && t.madt[8] == 5 && t.mcfg[8] == 1,
	      "revisions: XSDT 1, FADT 6, DSDT 2, MADT 5, MCFG 1");

	/* No two tables overlap, and none overlaps the RSDP. */
	const uint8_t *all[] = { t.xsdt, t.fadt, t.facs, t.dsdt, t.madt, t.mcfg };
	const size_t nr_all = sizeof(all) / sizeof(all[0]);
	bool disjoint = true;
	for (size_t i = 0; i < nr_all; i++) {
		size_t a = (size_t)(all[i] - buf), a_end = a + table_len(all[i]);
		disjoint &= a >= 36;
		for (size_t j = i + 1; j < nr_all; j++) {
			size_t b = (size_t)(all[j] - buf), b_end = b + table_len(all[j]);
			disjoint &= a_end <= b || b_end <= a;
		}
	}
	CHECK(disjoint, "tables do not overlap");
}

static bool gas_is_io(const uint8_t *gas, uint16_t port, uint8_t len)
{
	return gas[0] == 1 /* SystemIO */ && gas[1] == len * 8 && gas[2] == 0 && le64(gas + 4) == port;
}

static void test_fadt(void)
{
	struct tables t;
	if (!find_tables(2, &t)) {
		CHECK(false, "tables found");
		return;
	}
	const uint8_t *f = t.fadt;
	CHECK(table_len(f) == FADT_LENGTH, "FADT length 276 (revision 6)");
	CHECK(le16(f + FADT_SCI_INT) == IRQ_ACPI_SCI, "SCI on IRQ %d", IRQ_ACPI_SCI);
	CHECK(le32(f + FADT_SMI_CMD) == 0, "no SMI command port: always in ACPI mode");

	CHECK(le32(f + FADT_PM1A_EVT_BLK) == PORT_ACPI_PM1_EVT && f[FADT_PM1_EVT_LEN] == 4,
	      "PM1a event block at %#x, 4 bytes", PORT_ACPI_PM1_EVT);
	CHECK(le32(f + FADT_PM1A_CNT_BLK) == PORT_ACPI_PM1_CNT && f[FADT_PM1_CNT_LEN] == 2,
	      "PM1a control block at %#x, 2 bytes", PORT_ACPI_PM1_CNT);
	CHECK(le32(f + FADT_PM_TMR_BLK) == PORT_ACPI_PM_TMR && f[FADT_PM_TMR_LEN] == 4,
	      "PM timer at %#x, 4 bytes", PORT_ACPI_PM_TMR);
	CHECK(gas_is_io(f + FADT_X_PM1A_EVT_BLK, PORT_ACPI_PM1_EVT, 4), "X_PM1a_EVT_BLK agrees");
	CHECK(gas_is_io(f + FADT_X_PM1A_CNT_BLK, PORT_ACPI_PM1_CNT, 2), "X_PM1a_CNT_BLK agrees");
	CHECK(gas_is_io(f + FADT_X_PM_TMR_BLK, PORT_ACPI_PM_TMR, 4), "X_PM_TMR_BLK agrees");

	uint32_t flags = le32(f + FADT_FLAGS);
	CHECK(!(flags & (1u << 8)), "TMR_VAL_EXT clear: 24-bit PM timer");
	CHECK((flags & (1u << 4)) && (flags & (1u << 5)), "no fixed power or sleep button");
	CHECK(!(flags & (1u << 10)) && all_zero(f + FADT_RESET_REG, 12), "no reset register");
	CHECK(!(flags & (1u << 20)), "not hardware-reduced");
	CHECK(le16(f + FADT_IAPC_BOOT_ARCH) == 7, "IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042 | VGA not present");
	CHECK(f[108] == RTC_CENTURY_INDEX, "CENTURY names the CMOS century byte (FADT offset 108)");

	uint64_t facs = BASE + (uint64_t)(t.facs - buf);
	CHECK(le32(f + FADT_FIRMWARE_CTRL) == facs && facs % 64 == 0,
	      "FIRMWARE_CTRL points at the FACS, 64-byte aligned");
	CHECK(le64(f + FADT_X_FIRMWARE_CTRL) == 0, "X_FIRMWARE_CTRL is 0 since FIRMWARE_CTRL is set");
	CHECK(table_len(t.facs) == 64 && t.facs[32] == 2, "FACS length 64, version 2");
	CHECK(le32(f + FADT_DSDT) == le64(f + FADT_X_DSDT), "DSDT and X_DSDT agree");
}

static void test_madt(unsigned nr_cpus)
{
	struct tables t;
	if (!find_tables(nr_cpus, &t)) {
		CHECK(false, "%u CPUs: tables found", nr_cpus);
		return;
	}
	const uint8_t *m = t.madt;
	uint32_t len = table_len(m);
	CHECK(le32(m + 36) == LAYOUT_LAPIC_BASE && le32(m + 40) == 1,
	      "%u CPUs: MADT LAPIC address and PCAT_COMPAT", nr_cpus);

	unsigned lapics = 0, ioapics = 0, overrides = 0, nmis = 0;
	bool lapics_ok = true, ioapic_ok = false, sci_ok = false, nmi_ok = false;
	uint32_t off = 44;
	while (off + 2 <= len && m[off + 1] >= 2 && off + m[off + 1] <= len) {
		const uint8_t *e = m + off;
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			lapics_ok &= e[1] == 8 && e[2] == lapics && e[3] == lapics && (le32(e + 4) & 1);
			lapics++;
			break;
		case 1: /* I/O APIC */
			ioapic_ok = e[1] == 12 && e[2] == nr_cpus && le32(e + 4) == LAYOUT_IOAPIC_BASE &&
				    le32(e + 8) == 0;
			ioapics++;
			break;
		case 2: /* Interrupt Source Override: level, active high */
			sci_ok = e[1] == 10 && e[2] == 0 && e[3] == IRQ_ACPI_SCI &&
				 le32(e + 4) == IRQ_ACPI_SCI && le16(e + 8) == 0x000d;
			overrides++;
			break;
		case 4: /* Local APIC NMI */
			nmi_ok = e[1] == 6 && e[2] == 0xff && e[5] == 1;
			nmis++;
			break;
		}
		off += e[1];
	}
	CHECK(off == len, "%u CPUs: MADT entries fill the table exactly", nr_cpus);
	CHECK(lapics == nr_cpus && lapics_ok,
	      "%u CPUs: %u enabled LAPIC entries, IDs and UIDs 0..%u", nr_cpus, lapics, nr_cpus - 1);
	CHECK(ioapics == 1 && ioapic_ok, "%u CPUs: one IOAPIC, ID %u, at %#llx, GSI base 0", nr_cpus,
	      nr_cpus, LAYOUT_IOAPIC_BASE);
	CHECK(overrides == 1 && sci_ok, "%u CPUs: the only override is the SCI, IRQ 9 -> GSI 9 level high",
	      nr_cpus);
	CHECK(nmis == 1 && nmi_ok, "%u CPUs: LINT1 is NMI on all processors", nr_cpus);
}

/* Reads one AML integer constant (Zero, One, or Byte/Word/DWord prefixed). */
static bool aml_read_integer(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	static const unsigned sizes[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4 };
	if (*p >= end)
		return false;
	uint8_t op = *(*p)++;
	if (op <= 1) {
		*v = op;
		return true;
	}
	if (op >= sizeof(sizes) / sizeof(sizes[0]) || !sizes[op] || end - *p < (ptrdiff_t)sizes[op])
		return false;
	*v = 0;
	for (unsigned i = 0; i < sizes[op]; i++)
		*v |= (uint32_t)*(*p)++ << (8 * i);
	return true;
}

static void test_dsdt_s5(void)
{
	struct tables t;
	if (!find_tables(2, &t)) {
		CHECK(false, "tables found");
		return;
	}
	/* Name (_S5, Package (4) {...}): NameOp "_S5_" PackageOp PkgLength NumElements */
	static const uint8_t name_s5[] = { 0x08, '_', 'S', '5', '_', 0x12 };
	const uint8_t *end = t.dsdt + table_len(t.dsdt);
	const uint8_t *p = NULL;
	for (const uint8_t *q = t.dsdt + 36; q + sizeof(name_s5) <= end; q++) {
		if (memcmp(q, name_s5, sizeof(name_s5)) == 0) {
			p = q + sizeof(name_s5);
			break;
		}
	}
	CHECK(p != NULL, "DSDT has Name (_S5, Package ...)");
	if (!p)
		return;

	uint8_t pkglen = p[0]; /* one byte: the package is short */
	const uint8_t *pkg_end = p + pkglen;
	CHECK(pkglen < 0x40 && pkg_end <= end && p[1] == 4, "_S5 package: 4 elements");
	p += 2;
	uint32_t v[4];
	bool ok = true;
	for (int i = 0; i < 4; i++)
		ok &= aml_read_integer(&p, pkg_end, &v[i]);
	CHECK(ok && p == pkg_end, "_S5 elements are 4 integers filling the package");
	CHECK(ok && v[0] == ACPI_S5_SLP_TYP && v[1] == ACPI_S5_SLP_TYP && v[2] == 0 && v[3] == 0,
	      "_S5 = { %d, %d, 0, 0 }", ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP);
}

/* MCFG (PCI Firmware Specification 3.2 §4.1.2): one allocation, segment 0, bus 0. */
static void test_mcfg(void)
{
	struct tables t;
	if (!find_tables(2, &t)) {
		CHECK(false, "tables found");
		return;
	}
	const uint8_t *m = t.mcfg;
	CHECK(table_len(m) == 36 + 8 + 16, "MCFG length 60: header, reserved, one allocation");
	CHECK(sums_to_zero(m, table_len(m)), "MCFG checksum");
	CHECK(all_zero(m + 36, 8), "MCFG reserved bytes after the header are zero");
	CHECK(le64(m + 44) == LAYOUT_PCI_ECAM_BASE, "MCFG base address %#llx", LAYOUT_PCI_ECAM_BASE);
	CHECK(le16(m + 52) == 0, "MCFG segment group 0");
	CHECK(m[54] == 0 && m[55] == 0, "MCFG buses 0 to 0");
	CHECK(all_zero(m + 56, 4), "MCFG allocation's reserved bytes are zero");
	CHECK(((uint64_t)m[55] - m[54] + 1) * MiB == LAYOUT_PCI_ECAM_SIZE,
	      "ECAM size is 1 MiB per bus of the MCFG range");
}

/* Reads a PkgLength (ACPI 6.4 §20.2.4); 0 if it runs past end. */
static size_t aml_read_pkglength(const uint8_t **p, const uint8_t *end)
{
	if (*p >= end)
		return 0;
	const uint8_t *start = *p;
	size_t follow = **p >> 6, len = **p & (follow ? 0x0f : 0x3f);
	if ((size_t)(end - *p) < 1 + follow)
		return 0;
	for (size_t i = 1; i <= follow; i++)
		len |= (size_t)start[i] << (4 + 8 * (i - 1));
	*p += 1 + follow;
	return len;
}

/*
 * The byte list of `Name (_CRS, Buffer ...)` inside `Device (dev)` of the
 * DSDT: *len is its size. NULL if not found or malformed.
 */
static const uint8_t *dsdt_crs(const uint8_t *dsdt, const char *dev, size_t *len)
{
	const uint8_t *end = dsdt + table_len(dsdt);
	for (const uint8_t *p = dsdt + 36; p + 6 <= end; p++) {
		if (!(p[0] == 0x5b && p[1] == 0x82)) /* DeviceOp */
			continue;
		const uint8_t *q = p + 2, *body = q;
		size_t pkg = aml_read_pkglength(&q, end);
		if (!pkg || pkg > (size_t)(end - body) || end - q < 4 || memcmp(q, dev, 4) != 0)
			continue;
		const uint8_t *dev_end = body + pkg;
		static const uint8_t name_crs[] = { 0x08, '_', 'C', 'R', 'S', 0x11 };
		for (q += 4; q + sizeof(name_crs) <= dev_end; q++) {
			if (memcmp(q, name_crs, sizeof(name_crs)) != 0)
				continue;
			q += sizeof(name_crs);
			const uint8_t *buf_start = q;
			size_t buf_pkg = aml_read_pkglength(&q, dev_end);
			uint32_t size;
			if (!buf_pkg || buf_pkg > (size_t)(dev_end - buf_start) ||
			    !aml_read_integer(&q, buf_start + buf_pkg, &size) ||
			    size != (size_t)(buf_start + buf_pkg - q))
				return NULL;
			*len = size;
			return q;
		}
		return NULL;
	}
	return NULL;
}

/*
 * Splits a resource template (§6.4) into its descriptors: small items
 * (tag bits 6-3 type, 2-0 length) and large ones (tag 0x80 | type, 16-bit
 * length). Returns how many, or -1 unless the End Tag ends it exactly.
 */
static int resources(const uint8_t *p, size_t len, const uint8_t *items[], int max)
{
	int n = 0;
	size_t off = 0;
	while (off < len && n < max) {
		bool large = p[off] & 0x80;
		if (large && len - off < 3)
			return -1;
		size_t size = large ? 3 + (size_t)le16(p + off + 1) : 1 + (size_t)(p[off] & 7);
		if (size > len - off)
			return -1;
		items[n++] = p + off;
		off += size;
		if (items[n - 1][0] == 0x79) /* End Tag */
			return off == len ? n : -1;
	}
	return -1;
}

/* An address space descriptor (§6.4.3.5.1-3) of `width`-byte fields. */
static bool addr_space_is(const uint8_t *d, uint8_t tag, size_t width, uint8_t type,
			  uint8_t type_flags, uint64_t min, uint64_t len)
{
	uint64_t field[5]; /* granularity, minimum, maximum, translation, length */
	for (size_t i = 0; i < 5; i++) {
		field[i] = 0;
		for (size_t b = 0; b < width; b++)
			field[i] |= (uint64_t)d[6 + i * width + b] << (8 * b);
	}
	bool ok = d[0] == tag && le16(d + 1) == 3 + 5 * width && d[3] == type &&
		  d[4] == 0x0c /* MinFixed, MaxFixed, PosDecode, producer */ && d[5] == type_flags &&
		  field[0] == 0 && field[1] == min && field[2] == min + len - 1 && field[3] == 0 &&
		  field[4] == len;
	if (!ok)
		printf("# descriptor %#x: type %u flags %#x/%#x min %#llx max %#llx len %#llx\n", d[0],
		       d[3], d[4], d[5], (unsigned long long)field[1], (unsigned long long)field[2],
		       (unsigned long long)field[4]);
	return ok;
}

static void test_dsdt_pci(void)
{
	struct tables t;
	if (!find_tables(2, &t)) {
		CHECK(false, "tables found");
		return;
	}
	size_t len = 0;
	const uint8_t *crs = dsdt_crs(t.dsdt, "PCI0", &len);
	CHECK(crs != NULL, "DSDT has Device (PCI0) with Name (_CRS, Buffer)");
	const uint8_t *d[8];
	int n = crs ? resources(crs, len, d, 8) : -1;
	CHECK(n == 6, "PCI0._CRS: five descriptors and the End Tag (%d items)", n);
	if (n == 6) {
		CHECK(addr_space_is(d[0], 0x88, 2, 2, 0, 0, 1), "PCI0._CRS: WordBusNumber 0..0");
		CHECK(d[1][0] == 0x47 && d[1][1] == 1 && le16(d[1] + 2) == PORT_PCI_CONFIG_ADDRESS &&
			      le16(d[1] + 4) == PORT_PCI_CONFIG_ADDRESS && d[1][6] == 1 && d[1][7] == 8,
		      "PCI0._CRS: IO (Decode16) 0xCF8, 8 ports");
		CHECK(addr_space_is(d[2], 0x88, 2, 1, 3 /* EntireRange */, PORT_PCI_IO_START, PORT_PCI_IO_SIZE),
		      "PCI0._CRS: WordIO %#x..%#x", PORT_PCI_IO_START, PORT_PCI_IO_START + PORT_PCI_IO_SIZE - 1);
		CHECK(addr_space_is(d[3], 0x87, 4, 0, 1 /* NonCacheable, ReadWrite */,
				    LAYOUT_PCI_MMIO32_START, LAYOUT_PCI_MMIO32_SIZE),
		      "PCI0._CRS: DWordMemory %#llx, %#llx bytes", LAYOUT_PCI_MMIO32_START, LAYOUT_PCI_MMIO32_SIZE);
		CHECK(addr_space_is(d[4], 0x8a, 8, 0, 3 /* Cacheable, ReadWrite */,
				    LAYOUT_PCI_MMIO64_START, LAYOUT_PCI_MMIO64_SIZE),
		      "PCI0._CRS: QWordMemory %#llx, %#llx bytes", LAYOUT_PCI_MMIO64_START, LAYOUT_PCI_MMIO64_SIZE);
	}

	crs = dsdt_crs(t.dsdt, "MRES", &len);
	n = crs ? resources(crs, len, d, 8) : -1;
	CHECK(n == 2 && d[0][0] == 0x86 && le16(d[0] + 1) == 9 && d[0][3] == 1 &&
		      le32(d[0] + 4) == LAYOUT_PCI_ECAM_BASE && le32(d[0] + 8) == LAYOUT_PCI_ECAM_SIZE,
	      "MRES._CRS: Memory32Fixed (ReadWrite) over the ECAM area, nothing else");
}

static bool contains(const uint8_t *p, size_t len, const void *what, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(p + i, what, n) == 0)
			return true;
	return false;
}

/* \_SB.VRnn: _HID "LNRO0005", _UID n, Memory32Fixed and an Extended Interrupt Descriptor. */
static void test_dsdt_mmio(void)
{
	struct tables t;
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0 };
	if (!find_tables(2, &t)) {
		CHECK(false, "tables found");
		return;
	}
	CHECK(!contains(t.dsdt, table_len(t.dsdt), "LNRO", 4), "no virtio-mmio devices: no LNRO0005 in the DSDT");

	struct acpi_config cfg = { .nr_cpus = 2, .base_gpa = BASE, .mmio_devices = two_mmio, .nr_mmio_devices = 2 };
	if (!find_tables_cfg(&cfg, &t)) {
		CHECK(false, "2 virtio-mmio devices: tables found");
		return;
	}
	CHECK(sums_to_zero(t.dsdt, table_len(t.dsdt)), "2 virtio-mmio devices: DSDT checksum");
	static const uint8_t uid1[] = { 0x08, '_', 'U', 'I', 'D', 0x01 };
	CHECK(contains(t.dsdt, table_len(t.dsdt), hid, sizeof(hid)) &&
		      contains(t.dsdt, table_len(t.dsdt), uid1, sizeof(uid1)),
	      "Name (_HID, \"LNRO0005\") as a string, Name (_UID, One)");
	for (unsigned i = 0; i < 2; i++) {
		char name[5];
		snprintf(name, sizeof(name), "VR%02X", i);
		size_t len = 0;
		const uint8_t *crs = dsdt_crs(t.dsdt, name, &len);
		const uint8_t *d[4];
		int n = crs ? resources(crs, len, d, 4) : -1;
		CHECK(n == 3, "%s._CRS: two descriptors and the End Tag (%d items)", name, n);
		if (n != 3)
			continue;
		CHECK(d[0][0] == 0x86 && le16(d[0] + 1) == 9 && d[0][3] == 1 && le32(d[0] + 4) == two_mmio[i].base &&
			      le32(d[0] + 8) == LAYOUT_VIRTIO_MMIO_SIZE,
		      "%s._CRS: Memory32Fixed (ReadWrite, %#llx, 0x200)", name, (unsigned long long)two_mmio[i].base);
		CHECK(d[1][0] == 0x89 && le16(d[1] + 1) == 6 && d[1][3] == 0x01 && d[1][4] == 1 &&
			      le32(d[1] + 5) == two_mmio[i].gsi,
		      "%s._CRS: Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { %u }", name,
		      two_mmio[i].gsi);
	}
	size_t len;
	CHECK(dsdt_crs(t.dsdt, "VR02", &len) == NULL, "no third device");
}

static void test_mmio_errors(void)
{
	struct acpi_mmio_device devs[ACPI_MAX_MMIO_DEVICES + 1];
	for (unsigned i = 0; i <= ACPI_MAX_MMIO_DEVICES; i++)
		devs[i] = (struct acpi_mmio_device){ .base = LAYOUT_VIRTIO_MMIO_ADDR(i),
						     .size = LAYOUT_VIRTIO_MMIO_SIZE, .gsi = GSI_VIRTIO_MMIO(i) };
	struct acpi_config cfg = { .nr_cpus = 2, .base_gpa = BASE, .mmio_devices = devs,
				   .nr_mmio_devices = ACPI_MAX_MMIO_DEVICES };
	struct tables t;
	size_t len;
	CHECK(find_tables_cfg(&cfg, &t) && dsdt_crs(t.dsdt, "VR07", &len) != NULL,
	      "%d virtio-mmio devices: VR00..VR07", ACPI_MAX_MMIO_DEVICES);
	cfg.nr_mmio_devices = ACPI_MAX_MMIO_DEVICES + 1;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for %d devices", ACPI_MAX_MMIO_DEVICES + 1);
	cfg.nr_mmio_devices = 1;
	cfg.mmio_devices = NULL;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for a device count without a list");

	struct acpi_mmio_device bad = devs[0];
	cfg.mmio_devices = &bad;
	bad.size = 0;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for an empty window");
	bad.size = 0x200;
	bad.base = 4 * GiB - 0x100;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for a window crossing 4 GiB");
	bad.base = 4 * GiB - 0x200;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) > 0, "a window ending at 4 GiB is fine");
	bad.gsi = LAYOUT_IOAPIC_PINS;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for GSI %d, past the IOAPIC",
	      LAYOUT_IOAPIC_PINS);
}

static void test_errors(void)
{
	struct acpi_config cfg = { .nr_cpus = 8, .base_gpa = BASE };
	long n = acpi_build(buf, sizeof(buf), &cfg);
	CHECK(n > 0, "build for 8 CPUs");
	if (n <= 0)
		return;

	static uint8_t ref[LAYOUT_ACPI_SIZE];
	memcpy(ref, buf, (size_t)n);
	const size_t caps[] = { 0, 1, 35, 36, (size_t)n / 2, (size_t)n - 1 };
	bool enospc = true, untouched = true;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		memset(buf, 0xa5, sizeof(buf));
		enospc &= acpi_build(buf, caps[i], &cfg) == -ENOSPC;
		for (size_t j = caps[i]; j < sizeof(buf); j++)
			untouched &= buf[j] == 0xa5;
	}
	CHECK(enospc, "-ENOSPC for buffers of 0, 1, 35, 36, %ld/2 and %ld-1 bytes", n, n);
	CHECK(untouched, "nothing is written past a too-small cap");

	memset(buf, 0xa5, sizeof(buf));
	CHECK(acpi_build(buf, (size_t)n, &cfg) == n && memcmp(buf, ref, (size_t)n) == 0,
	      "an exact-size buffer gets the same tables");

	cfg.nr_cpus = 0;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for 0 CPUs");
	cfg.nr_cpus = 255;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for 255 CPUs");
	cfg.nr_cpus = 254;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) > 0, "254 CPUs is fine");
	cfg.base_gpa = BASE + 8;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL, "-EINVAL for a base not 16-byte aligned");
	cfg.base_gpa = (1ull << 32) - 256;
	CHECK(acpi_build(buf, sizeof(buf), &cfg) == -EINVAL,
	      "-EINVAL when the tables would cross 4 GiB");
}

/* ---- iasl ---- */

/* Runs iasl with args in dir, its output (stdout and stderr) into out. True if it exited 0. */
static bool run_iasl(const char *dir, const char *args, char *out, size_t cap)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl %s 2>&1", dir, args);
	FILE *p = popen(cmd, "r");
	if (!p) {
		snprintf(out, cap, "popen: %s", strerror(errno));
		return false;
	}
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	char rest[256];
	while (fread(rest, 1, sizeof(rest), p) > 0)
		;
	int status = pclose(p);
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * What iasl says when something is wrong, from trying broken tables:
 * "Firmware Warning (ACPI): Incorrect checksum ..." and "Error 6126 - ..."
 * in its output; "Incorrect checksum, should be ..." and "**** Unknown
 * MADT subtable ..." in a disassembly. The compiler's summary names Errors and
 * Warnings too, which is fine when it counts none.
 */
static bool is_complaint(const char *line)
{
	static const char *const words[] = { "Error", "Warning", "Incorrect", "Invalid", "Unknown", "****" };
	if (strstr(line, "Compilation successful. 0 Errors, 0 Warnings"))
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(line, words[i]))
			return true;
	return false;
}

/* Counts the complaint lines in text, printing each as a TAP diagnostic. */
static int complaints(const char *text)
{
	int count = 0;
	while (*text) {
		size_t n = strcspn(text, "\n");
		char line[512];
		snprintf(line, sizeof(line), "%.*s", (int)n, text);
		if (is_complaint(line)) {
			printf("# %s\n", line);
			count++;
		}
		text += n + (text[n] == '\n');
	}
	return count;
}

/* Prints iasl's output as TAP diagnostics, for a failed run. */
static void show(const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");
		printf("# %.*s\n", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

static bool write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	bool ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/* Reads dir/name, NUL-terminated; *len is its size. NULL if it cannot. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *data = NULL;
	long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size + 1))) {
		*len = fread(data, 1, (size_t)size, f);
		data[*len] = '\0';
	}
	fclose(f);
	return data;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* The header bytes iasl fills in itself: Checksum, Creator ID, Creator Revision. */
static bool same_but_creator(const uint8_t *a, const uint8_t *b, size_t len, bool has_header)
{
	for (size_t i = 0; i < len; i++) {
		bool creator = has_header && (i == 9 || (i >= 28 && i < 36));
		if (!creator && a[i] != b[i])
			return false;
	}
	return true;
}

static unsigned count(const char *text, const char *what)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The DSDT's objects as iasl disassembles them. */
static bool has_devices(const char *dsl)
{
	static const char *const expected[] = {
		"Name (_S5, Package (0x04)", "Scope (\\_SB)",
		"Device (COM1)", "EisaId (\"PNP0501\")", "Name (_UID, One)", "0x03F8", "{4}",
		"Device (RTC)", "EisaId (\"PNP0B00\")", "0x0070",
		"Device (KBD)", "EisaId (\"PNP0303\")", "0x0060", "0x0064", "{1}",
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (!strstr(dsl, expected[i])) {
			printf("# dsdt.dsl lacks: %s\n", expected[i]);
			ok = false;
		}
	}
	/* COM1 and KBD have an IRQ; the RTC raises none, so announces none. PCI0 has the 5th IO. */
	return ok && count(dsl, "IO (Decode16,") == 5 && count(dsl, "IRQNoFlags ()") == 2 &&
	       !strstr(dsl, "{8}");
}

/* The PCI host bridge and the motherboard resources as iasl disassembles them. */
static bool has_pci(const char *dsl)
{
	char io_min[16], io_max[16], m32_min[16], m32_max[16], m64_min[32], m64_max[32], ecam[16], ecam_len[16];
	snprintf(io_min, sizeof(io_min), "0x%04X", PORT_PCI_IO_START);
	snprintf(io_max, sizeof(io_max), "0x%04X", PORT_PCI_IO_START + PORT_PCI_IO_SIZE - 1);
	snprintf(m32_min, sizeof(m32_min), "0x%08llX", LAYOUT_PCI_MMIO32_START);
	snprintf(m32_max, sizeof(m32_max), "0x%08llX", LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE - 1);
	snprintf(m64_min, sizeof(m64_min), "0x%016llX", LAYOUT_PCI_MMIO64_START);
	snprintf(m64_max, sizeof(m64_max), "0x%016llX", LAYOUT_PCI_MMIO64_START + LAYOUT_PCI_MMIO64_SIZE - 1);
	snprintf(ecam, sizeof(ecam), "0x%08llX", LAYOUT_PCI_ECAM_BASE);
	snprintf(ecam_len, sizeof(ecam_len), "0x%08llX", LAYOUT_PCI_ECAM_SIZE);
	const char *const expected[] = {
		"Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")",
		"Name (_SEG, Zero)", "Name (_BBN, Zero)", "Name (_UID, Zero)",
		"WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,", "0x0CF8",
		"WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,", io_min, io_max,
		"DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,",
		m32_min, m32_max,
		"QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,",
		m64_min, m64_max,
		"Device (MRES)", "EisaId (\"PNP0C02\")", "Memory32Fixed (ReadWrite,", ecam, ecam_len,
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (!strstr(dsl, expected[i])) {
			printf("# dsdt.dsl lacks: %s\n", expected[i]);
			ok = false;
		}
	}
	/* No _PRT (MSI-X only) and no _OSC. */
	return ok && !strstr(dsl, "_PRT") && !strstr(dsl, "_OSC");
}

static char iasl_out[65536];

/*
 * `iasl -d name.dat` must exit 0 without complaints in its output or in the
 * disassembly; `iasl -oa name.dsl` (no optimizations, so the AML is encoded
 * as written) must compile it without complaints into the same bytes.
 */
static void iasl_round_trip(const char *dir, const char *name, const uint8_t *table,
			    bool has_header, unsigned nr_cpus)
{
	char file[64], args[128];
	size_t len = table_len(table);

	snprintf(file, sizeof(file), "%s.dat", name);
	if (!write_file(dir, file, table, len)) {
		CHECK(false, "write %s/%s", dir, file);
		return;
	}
	snprintf(args, sizeof(args), "-d %s.dat", name);
	bool ok = run_iasl(dir, args, iasl_out, sizeof(iasl_out));
	if (!ok)
		show(iasl_out);
	CHECK(ok && complaints(iasl_out) == 0, "%u CPUs: iasl -d %s: exit 0, no errors or warnings",
	      nr_cpus, name);

	size_t n;
	snprintf(file, sizeof(file), "%s.dsl", name);
	char *dsl = read_file(dir, file, &n);
	CHECK(dsl && complaints(dsl) == 0, "%u CPUs: %s.dsl notes nothing incorrect or unknown",
	      nr_cpus, name);
	if (strcmp(name, "dsdt") == 0) {
		CHECK(dsl && has_devices(dsl), "%u CPUs: iasl reads COM1, RTC and KBD from the DSDT", nr_cpus);
		CHECK(dsl && has_pci(dsl), "%u CPUs: iasl reads PCI0 with its four windows and MRES with the ECAM",
		      nr_cpus);
	}
	free(dsl);

	snprintf(args, sizeof(args), "-oa %s.dsl", name);
	ok = run_iasl(dir, args, iasl_out, sizeof(iasl_out));
	if (!ok)
		show(iasl_out);
	CHECK(ok && complaints(iasl_out) == 0, "%u CPUs: iasl recompiles %s.dsl without errors or warnings",
	      nr_cpus, name);

	snprintf(file, sizeof(file), "%s.aml", name);
	char *aml = read_file(dir, file, &n);
	CHECK(aml && n == len && same_but_creator(table, (const uint8_t *)aml, len, has_header),
	      "%u CPUs: recompiled %s equals ours but for iasl's creator fields", nr_cpus, name);
	free(aml);
}

/*
 * iasl cannot load an RSDP from a binary ("Loading an RSDP is not
 * supported"), but its data table compiler builds one and computes both
 * checksums: from our fields it must produce our 36 bytes.
 */
static void iasl_rsdp(const char *dir, const uint8_t *rsdp)
{
	char src[1024];
	snprintf(src, sizeof(src),
		 "[0008] Signature : \"RSD PTR \"\n"
		 "[0001] Checksum : 00\n"
		 "[0006] Oem ID : \"%.6s\"\n"
		 "[0001] Revision : %02X\n"
		 "[0004] RSDT Address : %08X\n"
		 "[0004] Length : %08X\n"
		 "[0008] XSDT Address : %016llX\n"
		 "[0001] Extended Checksum : 00\n"
		 "[0003] Reserved : 000000\n",
		 (const char *)rsdp + 9, rsdp[15], le32(rsdp + 16), le32(rsdp + 20),
		 (unsigned long long)le64(rsdp + 24));
	if (!write_file(dir, "rsdp.asl", src, strlen(src))) {
		CHECK(false, "write %s/rsdp.asl", dir);
		return;
	}
	bool ok = run_iasl(dir, "rsdp.asl", iasl_out, sizeof(iasl_out));
	if (!ok)
		show(iasl_out);
	CHECK(ok && complaints(iasl_out) == 0, "iasl compiles an RSDP from our fields");

	size_t n;
	char *aml = read_file(dir, "rsdp.aml", &n);
	CHECK(aml && n == 36 && memcmp(aml, rsdp, 36) == 0,
	      "iasl's RSDP equals ours, both checksums included");
	free(aml);
}

/* The virtio-mmio devices as iasl disassembles them. */
static bool has_mmio(const char *dsl)
{
	const char *const expected[] = {
		"Device (VR00)", "Device (VR01)", "Name (_HID, \"LNRO0005\")", "Name (_UID, Zero)",
		"Name (_UID, One)", "0xFE000000,", "0xFE001000,", "0x00000200,",
		"Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )",
		"0x00000010,", "0x00000011,",
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (!strstr(dsl, expected[i])) {
			printf("# dsdt.dsl lacks: %s\n", expected[i]);
			ok = false;
		}
	}
	return ok && count(dsl, "LNRO0005") == 2 && count(dsl, "Memory32Fixed (ReadWrite,") == 3 &&
	       count(dsl, "Interrupt (ResourceConsumer") == 2;
}

/* The DSDT with two virtio-mmio devices: round trip, and what iasl reads in it. */
static void test_iasl_mmio(void)
{
	struct acpi_config cfg = { .nr_cpus = 2, .base_gpa = BASE, .mmio_devices = two_mmio, .nr_mmio_devices = 2 };
	struct tables t;
	if (!find_tables_cfg(&cfg, &t)) {
		CHECK(false, "2 virtio-mmio devices: tables found");
		return;
	}
	char dir[] = "/tmp/vmon-acpi-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	printf("# the DSDT with 2 virtio-mmio devices\n");
	iasl_round_trip(dir, "dsdt", t.dsdt, true, 2);
	size_t n;
	char *dsl = read_file(dir, "dsdt.dsl", &n);
	CHECK(dsl && has_mmio(dsl),
	      "iasl reads VR00 and VR01: _HID \"LNRO0005\", _UID, Memory32Fixed, Interrupt (Level, ActiveHigh)");
	free(dsl);
	remove_dir(dir);
}

/* DMAR fields (VT-d 3.4 §8.1, §8.3, §8.3.1). */
enum {
	DMAR_HAW = 36, DMAR_FLAGS = 37, DMAR_FIRST = 48,
	DRHD_TYPE = 0, DRHD_LENGTH = 2, DRHD_FLAGS = 4, DRHD_SEGMENT = 6, DRHD_BASE = 8, DRHD_SCOPE = 16,
};

/* --iommu intel: a DMAR with one DRHD for all PCI devices and the IOAPIC's scope; none without. */
static void test_dmar(bool intremap)
{
	struct tables t;
	struct acpi_config cfg = { .nr_cpus = 3, .base_gpa = BASE, .dmar = true, .dmar_intremap = intremap };
	if (!find_tables_cfg(&cfg, &t) || !t.dmar) {
		CHECK(false, "DMAR listed in the XSDT");
		return;
	}
	const uint8_t *d = t.dmar, *drhd = d + DMAR_FIRST, *scope = drhd + DRHD_SCOPE;
	CHECK(table_len(d) == DMAR_FIRST + 24 && d[8] == 1, "DMAR: revision 1, one 24-byte DRHD");
	CHECK(d[DMAR_HAW] == 47, "DMAR: host address width 48 bits (field N-1 = 47)");
	CHECK(d[DMAR_FLAGS] == (intremap ? 1 : 0), "DMAR: INTR_REMAP flag %s", intremap ? "set" : "clear");
	CHECK(le16(drhd + DRHD_TYPE) == 0 && le16(drhd + DRHD_LENGTH) == 24 && drhd[DRHD_FLAGS] == 1 &&
		      le16(drhd + DRHD_SEGMENT) == 0, "DRHD: type 0, INCLUDE_PCI_ALL, segment 0");
	CHECK(le64(drhd + DRHD_BASE) == LAYOUT_VTD_BASE, "DRHD: register base at LAYOUT_VTD_BASE");
	CHECK(scope[0] == 3 && scope[1] == 8 && scope[4] == 3 && scope[5] == 0xff && scope[6] == 0 &&
		      scope[7] == 0, "IOAPIC scope: enumeration id 3 (the MADT's), requester ff:00.0");

	char dir[] = "/tmp/vmon-acpi-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	iasl_round_trip(dir, "dmar", t.dmar, true, 3);
	size_t n;
	char *dsl = read_file(dir, "dmar.dsl", &n);
	CHECK(dsl && strstr(dsl, "[Hardware Unit Definition]") &&
		      strstr(dsl, "Register Base Address : 00000000FED90000") &&
		      strstr(dsl, "Device Scope Type : 03 [IOAPIC Device]") && strstr(dsl, "PCI Bus Number : FF"),
	      "iasl reads the DRHD and the IOAPIC scope");
	free(dsl);
	remove_dir(dir);

	struct tables plain; /* rebuilds buf: t's tables are gone */
	CHECK(find_tables(3, &plain) && !plain.dmar, "no DMAR without --iommu");
}

static void test_iasl(unsigned nr_cpus)
{
	struct tables t;
	if (!find_tables(nr_cpus, &t)) {
		CHECK(false, "%u CPUs: tables found", nr_cpus);
		return;
	}
	char dir[] = "/tmp/vmon-acpi-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	iasl_rsdp(dir, t.rsdp);
	iasl_round_trip(dir, "xsdt", t.xsdt, true, nr_cpus);
	iasl_round_trip(dir, "fadt", t.fadt, true, nr_cpus);
	iasl_round_trip(dir, "facs", t.facs, false, nr_cpus);
	iasl_round_trip(dir, "dsdt", t.dsdt, true, nr_cpus);
	iasl_round_trip(dir, "madt", t.madt, true, nr_cpus);
	iasl_round_trip(dir, "mcfg", t.mcfg, true, nr_cpus);
	remove_dir(dir);
}

int main(void)
{
	test_rsdp();
	test_xsdt_and_headers();
	test_fadt();
	test_madt(1);
	test_madt(2);
	test_madt(64);
	test_madt(254);
	test_dsdt_s5();
	test_mcfg();
	test_dsdt_pci();
	test_dsdt_mmio();
	test_mmio_errors();
	test_errors();

	bool have_iasl = system("command -v iasl >/dev/null 2>&1") == 0;
	CHECK(have_iasl, "iasl is installed (Debian: apt install acpica-tools)");
	if (have_iasl) {
		test_iasl(2);
		test_iasl(254);
		test_iasl_mmio();
		test_dmar(false);
		test_dmar(true);
	}
	return tap_finish();
}

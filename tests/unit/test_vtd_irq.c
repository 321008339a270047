/* VT-d interrupt remapping: IRTEs built by hand in fake guest RAM. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/vtd_irq.h"
#include "tap.h"

#define RAM_BASE  0x100000ull
#define RAM_SIZE  0x10000ull
#define IRT       RAM_BASE

/* An IRTE (VT-d 3.4 §9.10). */
#define P         (1ull << 0)
#define FPD       (1ull << 1)
#define DM        (1ull << 2)
#define RH        (1ull << 3)
#define TM        (1ull << 4)
#define DLM(m)    ((uint64_t)(m) << 5)
#define IM        (1ull << 15)
#define VEC(v)    ((uint64_t)(v) << 16)
#define DST(d)    ((uint64_t)(d) << 32)
#define SID(s)    ((uint64_t)(s))
#define SQ(q)     ((uint64_t)(q) << 16)
#define SVT(t)    ((uint64_t)(t) << 18)

/* A remappable request (§5.1.2.2). */
#define REMAPPABLE(handle) \
	(0xfee00000ull | ((handle) & 0x7fffull) << 5 | 1ull << 4 | ((handle) >> 15 & 1ull) << 2)
#define SHV       (1ull << 3)

#define REQUESTER 0x0310 /* 03:02.0 */

static struct guest_mem gm;
static uint8_t *ram;
static struct vtd_irq_table table = { .base = IRT, .entries = 256, .x2apic = false };
static uint64_t address;
static uint32_t data;
static struct vtd_irq_fault fault;

static void set_irte(uint32_t index, uint64_t lo, uint64_t hi)
{
	uint64_t e[2] = { lo, hi };
	guest_mem_write(&gm, table.base + index * 16ull, e, sizeof(e));
}

static int remap(uint64_t addr, uint32_t d, uint16_t sid, bool cfis)
{
	address = addr;
	data = d;
	return vtd_irq_remap(&gm, &table, cfis, sid, &address, &data, &fault);
}

static bool blocked(uint64_t addr, uint32_t d, uint16_t sid, enum vtd_fault_reason reason)
{
	return remap(addr, d, sid, true) == -EPERM && fault.reason == reason &&
	       address == addr && data == d;
}

static void test_xapic(void)
{
	table.x2apic = false;
	set_irte(5, P | DM | RH | TM | DLM(1) | VEC(0x45) | DST(0x12 << 8), 0);
	CHECK(remap(REMAPPABLE(5), 0, REQUESTER, false) == 0, "a present IRTE remaps");
	CHECK(address == 0xfee1200cull, "xAPIC: id DST[15:8] in bits 19:12, RH bit 3, DM bit 2 (0x%llx)",
	      (unsigned long long)address);
	CHECK(data == (0x45 | 1u << 8 | 1u << 14 | 1u << 15),
	      "vector, delivery mode, level asserted, trigger mode (0x%x)", data);
	set_irte(6, P | VEC(0x31) | DST(7 << 8), 0);
	CHECK(remap(REMAPPABLE(6), 0, REQUESTER, false) == 0 && address == 0xfee07000ull &&
	      data == (0x31 | 1u << 14), "fixed, physical, edge: 0xfee07000 / 0x4031");
	set_irte(6, P | VEC(0x31) | DST(1ull << 16 | 7 << 8), 0);
	CHECK(blocked(REMAPPABLE(6), 0, REQUESTER, VTD_FAULT_IR_ENTRY_RESERVED),
	      "xAPIC: DST bits above 15:8 are reserved: 24h");
	set_irte(6, P | VEC(0x31) | DST(1), 0);
	CHECK(blocked(REMAPPABLE(6), 0, REQUESTER, VTD_FAULT_IR_ENTRY_RESERVED),
	      "xAPIC: DST bits 7:0 are reserved: 24h");
}

static void test_x2apic(void)
{
	table.x2apic = true;
	set_irte(7, P | VEC(0x80) | DST(0x12345678), 0);
	CHECK(remap(REMAPPABLE(7), 0, REQUESTER, false) == 0, "x2APIC: a 32-bit destination remaps");
	CHECK(address == (0xfee00000ull | 0x78ull << 12 | 0x123456ull << 40),
	      "dest 7:0 in address 19:12, 31:8 in 63:40 (0x%llx)", (unsigned long long)address);
	CHECK(data == (0x80 | 1u << 14), "data 0x%x", data);
	set_irte(7, P | DM | VEC(0x80) | DST(0x00010002), 0);
	CHECK(remap(REMAPPABLE(7), 0, REQUESTER, false) == 0 &&
	      address == (0xfee00000ull | 2ull << 12 | 0x100ull << 40 | 4),
	      "a logical x2APIC destination (cluster 1, member 2)");
	table.x2apic = false;
}

static void test_handles(void)
{
	set_irte(2 + 3, P | VEC(0x55) | DST(1 << 8), 0);
	CHECK(remap(REMAPPABLE(2) | SHV, 3, REQUESTER, false) == 0 && (data & 0xff) == 0x55,
	      "SHV: handle 2 + subhandle 3 is entry 5");
	set_irte(2, P | VEC(0x22) | DST(1 << 8), 0);
	CHECK(remap(REMAPPABLE(2), 3, REQUESTER, false) == 0 && (data & 0xff) == 0x22,
	      "without SHV the data is not a subhandle");
	CHECK(blocked(REMAPPABLE(2) | SHV, 0x10003, REQUESTER, VTD_FAULT_IR_REQUEST_RESERVED),
	      "data bits 31:16 are reserved: 20h");
	CHECK(blocked(REMAPPABLE(2) | 1ull << 32, 0, REQUESTER, VTD_FAULT_IR_REQUEST_RESERVED),
	      "a remappable request with an upper address: 20h");

	/* handle[15] is address bit 2: entry 0x8001, 0x8001 * 16 bytes into a table placed to reach it. */
	struct vtd_irq_table saved = table;
	table = (struct vtd_irq_table){ .base = RAM_BASE + 0x1000 - 0x8000 * 16, .entries = 65536 };
	set_irte(0x8001, P | VEC(0x99) | DST(3 << 8), 0);
	CHECK(remap(REMAPPABLE(0x8001), 0, REQUESTER, false) == 0 && (data & 0xff) == 0x99 &&
	      address == 0xfee03000ull, "handle bit 15 comes from address bit 2");
	CHECK(blocked(REMAPPABLE(0xffff) | SHV, 1, REQUESTER, VTD_FAULT_IR_INDEX_BEYOND_TABLE),
	      "handle + subhandle past 65535 is beyond any table: 21h");
	table = saved;
}

static void test_entry_faults(void)
{
	CHECK(blocked(REMAPPABLE(256), 0, REQUESTER, VTD_FAULT_IR_INDEX_BEYOND_TABLE) &&
	      fault.index == 256 && !fault.fpd, "index 256 of 256 entries: 21h with the index");
	set_irte(9, FPD | VEC(1), 0);
	CHECK(blocked(REMAPPABLE(9), 0, REQUESTER, VTD_FAULT_IR_ENTRY_NOT_PRESENT) &&
	      fault.index == 9 && fault.fpd, "not present: 22h, qualified: FPD counts");
	set_irte(9, VEC(1), 0);
	CHECK(blocked(REMAPPABLE(9), 0, REQUESTER, VTD_FAULT_IR_ENTRY_NOT_PRESENT) && !fault.fpd,
	      "not present without FPD: to be recorded");
	struct vtd_irq_table saved = table;
	table.base = RAM_BASE + RAM_SIZE - 16 * 4;
	CHECK(blocked(REMAPPABLE(4), 0, REQUESTER, VTD_FAULT_IR_TABLE_ACCESS) && fault.index == 4,
	      "an IRTE outside guest RAM: 23h");
	table = saved;

	static const uint64_t reserved_lo[] = { 1ull << 12, 1ull << 14, 1ull << 24, 1ull << 31, IM };
	for (unsigned i = 0; i < sizeof(reserved_lo) / sizeof(reserved_lo[0]); i++) {
		set_irte(10, P | FPD | reserved_lo[i] | DST(1 << 8), 0);
		CHECK(blocked(REMAPPABLE(10), 0, REQUESTER, VTD_FAULT_IR_ENTRY_RESERVED) && fault.fpd,
		      "IRTE bit 0x%llx is reserved (posted mode without CAP.PI): 24h",
		      (unsigned long long)reserved_lo[i]);
	}
	set_irte(10, P | DST(1 << 8), 1ull << 20);
	CHECK(blocked(REMAPPABLE(10), 0, REQUESTER, VTD_FAULT_IR_ENTRY_RESERVED),
	      "IRTE bit 84 is reserved: 24h");
	set_irte(10, P | DST(1 << 8), SVT(3));
	CHECK(blocked(REMAPPABLE(10), 0, REQUESTER, VTD_FAULT_IR_ENTRY_RESERVED),
	      "SVT = 11b is reserved: 24h");
	set_irte(10, P | DLM(1) | 0xf00 | DST(1 << 8), 0);
	CHECK(remap(REMAPPABLE(10), 0, REQUESTER, false) == 0, "the available bits 11:8 are ignored");
}

static void test_source_ids(void)
{
	set_irte(20, P | VEC(3) | DST(1 << 8), SVT(1) | SQ(0) | SID(REQUESTER));
	CHECK(remap(REMAPPABLE(20), 0, REQUESTER, false) == 0, "SVT 01b: the requester itself passes");
	CHECK(blocked(REMAPPABLE(20), 0, REQUESTER + 1, VTD_FAULT_IR_SOURCE_ID) && fault.index == 20,
	      "another function is blocked: 26h");
	set_irte(20, P | FPD | VEC(3) | DST(1 << 8), SVT(1) | SID(REQUESTER));
	CHECK(blocked(REMAPPABLE(20), 0, 0x0410, VTD_FAULT_IR_SOURCE_ID) && fault.fpd,
	      "26h is qualified: FPD counts");
	set_irte(20, P | VEC(3) | DST(1 << 8), SVT(1) | SQ(1) | SID(REQUESTER));
	CHECK(remap(REMAPPABLE(20), 0, REQUESTER | 4, false) == 0, "SQ 01b ignores function bit 2");
	CHECK(blocked(REMAPPABLE(20), 0, REQUESTER | 2, VTD_FAULT_IR_SOURCE_ID), "but not bit 1");
	set_irte(20, P | VEC(3) | DST(1 << 8), SVT(1) | SQ(2) | SID(REQUESTER));
	CHECK(remap(REMAPPABLE(20), 0, REQUESTER | 6, false) == 0, "SQ 10b ignores bits 2:1");
	CHECK(blocked(REMAPPABLE(20), 0, REQUESTER | 1, VTD_FAULT_IR_SOURCE_ID), "but not bit 0");
	set_irte(20, P | VEC(3) | DST(1 << 8), SVT(1) | SQ(3) | SID(REQUESTER));
	CHECK(remap(REMAPPABLE(20), 0, REQUESTER | 7, false) == 0, "SQ 11b ignores bits 2:0");
	CHECK(blocked(REMAPPABLE(20), 0, REQUESTER | 8, VTD_FAULT_IR_SOURCE_ID), "but not the device");
	set_irte(20, P | VEC(3) | DST(1 << 8), SVT(2) | SID(0x0305));
	CHECK(remap(REMAPPABLE(20), 0, 0x0300, false) == 0 && remap(REMAPPABLE(20), 0, 0x05ff, false) == 0,
	      "SVT 10b: buses 3 to 5 pass");
	CHECK(blocked(REMAPPABLE(20), 0, 0x0200, VTD_FAULT_IR_SOURCE_ID) &&
	      blocked(REMAPPABLE(20), 0, 0x0600, VTD_FAULT_IR_SOURCE_ID), "buses 2 and 6 do not");
	set_irte(20, P | VEC(3) | DST(1 << 8), SVT(0) | SID(0x1234));
	CHECK(remap(REMAPPABLE(20), 0, 0xbeef, false) == 0, "SVT 00b: anyone");
}

static void test_compatibility_format(void)
{
	table.x2apic = false;
	CHECK(remap(0xfee01000ull, 0x4041, REQUESTER, true) == 0 && address == 0xfee01000ull &&
	      data == 0x4041, "compatibility format with CFIS: passed through unchanged");
	CHECK(remap(0xfee01000ull, 0x4041, REQUESTER, false) == -EPERM &&
	      fault.reason == VTD_FAULT_IR_COMPAT_BLOCKED && !fault.fpd, "without CFIS: blocked, 25h");
	table.x2apic = true;
	CHECK(remap(0xfee01000ull, 0x4041, REQUESTER, true) == -EPERM &&
	      fault.reason == VTD_FAULT_IR_COMPAT_BLOCKED, "with EIME: blocked even with CFIS");
	table.x2apic = false;
}

int main(void)
{
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 1;
	guest_mem_init_flat(&gm, ram, RAM_BASE, RAM_SIZE);
	test_xapic();
	test_x2apic();
	test_handles();
	test_entry_faults();
	test_source_ids();
	test_compatibility_format();
	free(ram);
	return tap_finish();
}

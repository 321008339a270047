/*
 * vmon's IOAPIC (82093AA, version 0x20) through its MMIO page: the
 * registers, edge and level pins, Remote IRR and EOIs (from a LAPIC and
 * from the EOI register), masking, the messages it sends (compatibility
 * and VT-d remappable format), the routes it announces, and harmless
 * bad accesses. The machine is a fake that records messages and routes.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/ioapic.h"
#include "tap.h"

#define MAX_SENT 16

struct recorder {
	unsigned sent;
	uint64_t address[MAX_SENT];
	uint32_t data[MAX_SENT];
	unsigned route_calls;
	struct { bool enabled; uint64_t address; uint32_t data; } route[IOAPIC_PINS];
};

static void record_deliver(void *ctx, uint64_t address, uint32_t data)
{
	struct recorder *r = ctx;
	if (r->sent < MAX_SENT) {
		r->address[r->sent] = address;
		r->data[r->sent] = data;
	}
	r->sent++;
}

static void record_route(void *ctx, unsigned pin, bool enabled, uint64_t address, uint32_t data)
{
	struct recorder *r = ctx;
	r->route_calls++;
	r->route[pin].enabled = enabled;
	r->route[pin].address = address;
	r->route[pin].data = data;
}

struct rig {
	struct recorder rec;
	struct ioapic *io;
	struct bus *mmio;
};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	struct ioapic_config cfg = {
		.id = 2, .hooks = { .deliver = record_deliver, .route_changed = record_route, .ctx = &r->rec },
	};
	r->io = ioapic_create(&cfg);
	r->mmio = bus_create("mmio");
	ioapic_register(r->io, r->mmio);
}

static void rig_destroy(struct rig *r)
{
	ioapic_destroy(r->io);
	bus_destroy(r->mmio);
}

static void select_reg(struct rig *r, uint8_t index)
{
	uint32_t v = index;
	bus_write(r->mmio, LAYOUT_IOAPIC_BASE, &v, 4); /* as Linux does: a dword write */
}

static uint32_t reg_read(struct rig *r, uint8_t index)
{
	select_reg(r, index);
	uint32_t v = 0;
	bus_read(r->mmio, LAYOUT_IOAPIC_BASE + 0x10, &v, 4);
	return v;
}

static void reg_write(struct rig *r, uint8_t index, uint32_t value)
{
	select_reg(r, index);
	bus_write(r->mmio, LAYOUT_IOAPIC_BASE + 0x10, &value, 4);
}

static uint64_t rte_read(struct rig *r, unsigned pin)
{
	return (uint64_t)reg_read(r, (uint8_t)(0x11 + 2 * pin)) << 32 | reg_read(r, (uint8_t)(0x10 + 2 * pin));
}

/* High dword first, so that the entry is unmasked only once complete (as guests do). */
static void rte_write(struct rig *r, unsigned pin, uint64_t rte)
{
	reg_write(r, (uint8_t)(0x11 + 2 * pin), (uint32_t)(rte >> 32));
	reg_write(r, (uint8_t)(0x10 + 2 * pin), (uint32_t)rte);
}

static void eoi_register(struct rig *r, uint8_t vector)
{
	uint32_t v = vector;
	bus_write(r->mmio, LAYOUT_IOAPIC_BASE + 0x40, &v, 4);
}

#define MASKED      (1ull << 16)
#define LEVEL       (1ull << 15)
#define REMOTE_IRR  (1ull << 14)
#define LOGICAL     (1ull << 11)
#define DEST(d)     ((uint64_t)(d) << 56)
#define LOWEST_PRIO (1ull << 8)

static void test_registers(void)
{
	struct rig r;
	rig_init(&r);
	CHECK(r.io && reg_read(&r, 0x00) == 2u << 24, "ID register: the configured ID in bits 31:24");
	CHECK(reg_read(&r, 0x01) == 0x00170020, "version 0x20, highest entry 23 (%#x)", reg_read(&r, 0x01));
	CHECK(reg_read(&r, 0x02) == 2u << 24, "arbitration ID follows the ID");
	bool all_masked = true;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		all_masked &= rte_read(&r, pin) == MASKED;
	CHECK(all_masked, "every entry masked, edge, vector 0 after reset");

	reg_write(&r, 0x00, 0x0f000000);
	CHECK(reg_read(&r, 0x00) == 0x0f000000 && reg_read(&r, 0x02) == 0x0f000000, "the ID is writable");
	reg_write(&r, 0x01, 0);
	reg_write(&r, 0x02, 0);
	CHECK(reg_read(&r, 0x01) == 0x00170020 && reg_read(&r, 0x02) == 0x0f000000,
	      "version and arbitration registers are read-only");

	rte_write(&r, 5, 0xffffffffffffffffull);
	uint64_t got = rte_read(&r, 5);
	CHECK(got == 0xffff00000001afffull,
	      "an all-ones write keeps the reserved bits, Delivery Status and Remote IRR at 0 (%#llx)",
	      (unsigned long long)got);
	CHECK(r.rec.sent == 0, "masked: nothing sent");

	uint8_t sel = 0x10 + 2 * 5;
	bus_write(r.mmio, LAYOUT_IOAPIC_BASE, &sel, 1);
	uint8_t byte = 0;
	bus_read(r.mmio, LAYOUT_IOAPIC_BASE + 0x11, &byte, 1);
	CHECK(byte == 0xaf, "a byte read of IOWIN + 1 gives bits 15:8 (%#x)", byte);
	uint32_t regsel = 0;
	bus_read(r.mmio, LAYOUT_IOAPIC_BASE, &regsel, 4);
	CHECK(regsel == sel, "IOREGSEL reads back");
	rig_destroy(&r);
}

/* Reserved indices, partial IOWIN writes and stray offsets change nothing and crash nothing. */
static void test_bad_accesses(void)
{
	struct rig r;
	rig_init(&r);
	rte_write(&r, 0, LEVEL | 0x40);
	rte_write(&r, 23, 0x41);
	uint64_t before[IOAPIC_PINS];
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		before[pin] = rte_read(&r, pin);
	static const uint8_t bad[] = { 0x03, 0x0f, 0x40, 0x41, 0x80, 0xff };
	for (size_t i = 0; i < sizeof(bad); i++)
		reg_write(&r, bad[i], 0xffffffff);
	bool zero = true;
	for (size_t i = 0; i < sizeof(bad); i++)
		zero &= reg_read(&r, bad[i]) == 0;
	CHECK(zero, "reserved registers (past entry 23 too) read 0, written or not");

	select_reg(&r, 0x10);
	uint16_t half = 0xffff;
	bus_write(r.mmio, LAYOUT_IOAPIC_BASE + 0x10, &half, 2);
	uint64_t wide = ~0ull;
	bus_write(r.mmio, LAYOUT_IOAPIC_BASE + 0x10, &wide, 8);
	bus_write(r.mmio, LAYOUT_IOAPIC_BASE + 0x14, &half, 2);
	bus_write(r.mmio, LAYOUT_IOAPIC_BASE + 0x20, &wide, 8);
	bus_write(r.mmio, LAYOUT_IOAPIC_BASE + 0xffc, &wide, 4);
	bool same = reg_read(&r, 0x00) == 2u << 24;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		same &= rte_read(&r, pin) == before[pin];
	CHECK(same, "writes to reserved registers, IOWIN in other widths and stray offsets change nothing");
	uint32_t v = 0x1234;
	bus_read(r.mmio, LAYOUT_IOAPIC_BASE + 0x40, &v, 4);
	CHECK(v == 0, "the EOI register is write-only: reads 0");
	ioapic_set_line(r.io, IOAPIC_PINS, 1);
	ioapic_set_line(r.io, 1000, 1);
	CHECK(r.rec.sent == 0, "a pin past 23 is ignored");
	rig_destroy(&r);

	struct ioapic_config none = { 0 };
	errno = 0;
	CHECK(ioapic_create(&none) == NULL && errno == EINVAL, "no deliver hook: refused");
}

static void test_edge(void)
{
	struct rig r;
	rig_init(&r);
	rte_write(&r, 4, DEST(3) | 0x31);
	ioapic_set_line(r.io, 4, 1);
	CHECK(r.rec.sent == 1 && r.rec.address[0] == 0xfee03000 && r.rec.data[0] == 0x4031,
	      "a rising edge sends once: fixed, physical APIC 3, vector 0x31 (%#llx, %#x)",
	      (unsigned long long)r.rec.address[0], r.rec.data[0]);
	ioapic_set_line(r.io, 4, 1);
	CHECK(r.rec.sent == 1, "staying high sends nothing more");
	ioapic_set_line(r.io, 4, 0);
	ioapic_set_line(r.io, 4, 1);
	CHECK(r.rec.sent == 2, "the next rising edge sends again");
	CHECK(!(rte_read(&r, 4) & REMOTE_IRR), "an edge pin never sets Remote IRR");
	ioapic_eoi(r.io, 0x31);
	CHECK(r.rec.sent == 2, "an EOI for an edge vector sends nothing");

	ioapic_set_line(r.io, 4, 0);
	rte_write(&r, 4, MASKED | 0x31);
	ioapic_set_line(r.io, 4, 1);
	CHECK(r.rec.sent == 2, "an edge on a masked pin is lost");
	rte_write(&r, 4, 0x31);
	CHECK(r.rec.sent == 2, "unmasking a high edge pin sends nothing");
	CHECK(r.rec.route_calls == 0, "edge pins announce no route");
	rig_destroy(&r);
}

static void test_level(void)
{
	struct rig r;
	rig_init(&r);
	rte_write(&r, 9, DEST(1) | LOGICAL | LOWEST_PRIO | LEVEL | 0x41);
	CHECK(r.rec.route_calls == 1 && r.rec.route[9].enabled && r.rec.route[9].address == 0xfee01004 &&
	      r.rec.route[9].data == 0xc141,
	      "an unmasked level pin announces its route: logical APIC 1, lowest priority, level, vector 0x41");
	ioapic_set_line(r.io, 9, 1);
	CHECK(r.rec.sent == 1 && r.rec.address[0] == 0xfee01004 && r.rec.data[0] == 0xc141,
	      "a high line sends that message");
	CHECK(rte_read(&r, 9) & REMOTE_IRR, "Remote IRR set until the EOI");
	ioapic_set_line(r.io, 9, 0);
	ioapic_set_line(r.io, 9, 1);
	CHECK(r.rec.sent == 1, "in service: a new assertion waits for the EOI");
	ioapic_eoi(r.io, 0x42);
	CHECK(r.rec.sent == 1 && (rte_read(&r, 9) & REMOTE_IRR), "an EOI for another vector changes nothing");
	ioapic_eoi(r.io, 0x41);
	CHECK(r.rec.sent == 2 && (rte_read(&r, 9) & REMOTE_IRR), "EOI with the line still high: sent again");
	ioapic_set_line(r.io, 9, 0);
	CHECK(r.rec.sent == 2 && (rte_read(&r, 9) & REMOTE_IRR), "the line falling leaves Remote IRR alone");
	eoi_register(&r, 0x41);
	CHECK(r.rec.sent == 2 && !(rte_read(&r, 9) & REMOTE_IRR),
	      "the EOI register ends it too; the line low: nothing sent");
	CHECK(r.rec.route_calls == 1, "sending and EOIs of an unmasked pin leave its route alone");
	rig_destroy(&r);
}

static void test_masking(void)
{
	struct rig r;
	rig_init(&r);
	rte_write(&r, 2, MASKED | LEVEL | 0x50);
	CHECK(r.rec.route_calls == 0, "a masked level pin has no route");
	ioapic_set_line(r.io, 2, 1);
	CHECK(r.rec.sent == 0, "a masked level pin sends nothing");
	rte_write(&r, 2, LEVEL | 0x50);
	CHECK(r.rec.sent == 1 && r.rec.data[0] == 0xc050 && r.rec.route[2].enabled,
	      "unmasking it while high sends, and routes it");

	rte_write(&r, 2, MASKED | LEVEL | 0x50);
	CHECK(r.rec.route[2].enabled, "masked while in service: the route stays, for the EOI");
	ioapic_eoi(r.io, 0x50);
	CHECK(r.rec.sent == 1 && !r.rec.route[2].enabled, "its EOI: nothing sent (masked), the route goes");
	unsigned calls = r.rec.route_calls;
	rte_write(&r, 2, MASKED | LEVEL | 0x50);
	CHECK(r.rec.route_calls == calls, "the same entry again announces nothing");

	rte_write(&r, 2, LEVEL | 0x50);
	CHECK(r.rec.sent == 2 && (rte_read(&r, 2) & REMOTE_IRR), "unmasked again, still high: sent");
	rte_write(&r, 2, 0x50);
	CHECK(!(rte_read(&r, 2) & REMOTE_IRR) && !r.rec.route[2].enabled,
	      "switching to edge clears Remote IRR (the pre-0x20 EOI) and the route");
	rte_write(&r, 2, LEVEL | 0x50);
	CHECK(r.rec.sent == 3, "back to level with the line high: sent at once");
	rig_destroy(&r);
}

/* VT-d 3.4 §5.1.5.1: format bit 48, handle 14:0 in 63:49 and 15 in bit 11. */
static void test_remappable(void)
{
	struct rig r;
	rig_init(&r);
	uint64_t handle = 0x8123;
	uint64_t rte = (handle & 0x7fff) << 49 | 1ull << 48 | (handle >> 15) << 11 | LEVEL | 7;
	rte_write(&r, 7, rte);
	CHECK(rte_read(&r, 7) == rte, "a remappable-format entry reads back");
	ioapic_set_line(r.io, 7, 1);
	uint64_t want = 0xfee00000 | (handle & 0x7fff) << 5 | 1u << 4 | 1u << 2;
	CHECK(r.rec.sent == 1 && r.rec.address[0] == want && r.rec.data[0] == 0,
	      "it sends the remappable message: handle in the address, SHV 0, data 0 (%#llx)",
	      (unsigned long long)r.rec.address[0]);
	CHECK(r.rec.route[7].enabled && r.rec.route[7].address == want, "and routes it, for the remapper");
	eoi_register(&r, 7);
	CHECK(r.rec.sent == 2, "the EOI register with the entry's vector field (Linux: the pin) ends it");
	rig_destroy(&r);
}

int main(void)
{
	test_registers();
	test_bad_accesses();
	test_edge();
	test_level();
	test_masking();
	test_remappable();
	return tap_finish();
}

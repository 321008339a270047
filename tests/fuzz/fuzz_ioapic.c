/*
 * libFuzzer target: vmon's IOAPIC (ioapic.c) on an MMIO bus, driven by an
 * arbitrary sequence of guest register accesses, device lines and LAPIC
 * EOIs. Nothing may crash, and what it tells the machine must agree with
 * its registers as the guest reads them (abort otherwise):
 *   - every RTE reads back with Delivery Status and bits 47:17 clear;
 *   - route_changed names a pin < 24, and the routes announced are what each
 *     RTE asks for: a level pin's message while unmasked or in service;
 *   - a level pin that is unmasked with its line high is in service (Remote
 *     IRR): its interrupt was sent, not lost;
 *   - set_line sends exactly what the 82093AA would (edge: a rising line,
 *     unmasked; level: high, unmasked, not in service), the pin's message;
 *     pins >= 24, register reads and writes outside IOWIN/EOI send nothing;
 *     an IOWIN write sends and re-routes only for the selected pin;
 *   - an EOI (LAPIC or EOI register) re-sends exactly the level pins of its
 *     vector that were in service, unmasked, with their line high, and
 *     changes no other pin; no op changes a pin it does not concern.
 *
 * Input: records of 8 bytes: op, flags, a (16-bit LE), value (32-bit LE).
 *   op % 5  0 MMIO write, 1 MMIO read: offset a % 4 KiB (flags bit 2: IOREGSEL,
 *           IOWIN or EOI by a % 3), width 1, 2, 4, 8 by flags bits 1:0;
 *           2 IOREGSEL = a, then a dword to IOWIN; 3 set_line(pin a % 32, or a
 *           with bit 15 set; level flags bit 0); 4 ioapic_eoi(a)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/ioapic.h"

#define MAX_OPS      2048
#define WIN          0x10
#define EOI          0x40
#define RTE_IRR      (1ull << 14)
#define RTE_LEVEL    (1ull << 15)
#define RTE_MASKED   (1ull << 16)
#define RTE_RESERVED 0x0000fffffffe1000ull /* Delivery Status (always idle) and bits 47:17 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct route {
	bool enabled;
	uint64_t address;
	uint32_t data;
};

static struct bus *mmio;
static struct ioapic *io;
static struct route routes[IOAPIC_PINS]; /* as route_changed announced them */
static uint64_t rtes[IOAPIC_PINS];       /* as last read back (only an op's pins change) */
static uint32_t lines;                   /* bit n: pin n's line asserted */
static uint32_t route_pins;              /* bit n: route_changed(n) during this op */
static unsigned sent;                    /* messages during this op, and the last one: */
static struct route last;

static void deliver(void *ctx, uint64_t address, uint32_t data)
{
	(void)ctx;
	sent++;
	last = (struct route){ true, address, data };
}

static void route_changed(void *ctx, unsigned pin, bool enabled, uint64_t address, uint32_t data)
{
	(void)ctx;
	if (pin >= IOAPIC_PINS)
		abort();
	route_pins |= 1u << pin;
	routes[pin] = (struct route){ enabled, address, data };
}

static uint32_t rd(unsigned offset)
{
	uint32_t v = 0;
	bus_read(mmio, LAYOUT_IOAPIC_BASE + offset, &v, 4);
	return v;
}

static void wr(unsigned offset, uint32_t v)
{
	bus_write(mmio, LAYOUT_IOAPIC_BASE + offset, &v, 4);
}

/* The 82093AA's message for an entry: compatibility format, or VT-d 3.4 §5.1.5.1 remappable. */
static struct route message(uint64_t rte)
{
	uint64_t dm = rte & (1ull << 11) ? 4 : 0;
	if (rte & (1ull << 48))
		return (struct route){ true, 0xfee00010ull | ((rte >> 49) & 0x7fff) << 5 | dm, 0 };
	return (struct route){ true, 0xfee00000ull | (rte >> 56) << 12 | dm,
			       (uint32_t)(rte & 0x7ff) | 1u << 14 | (rte & RTE_LEVEL ? 1u << 15 : 0) };
}

static bool same(struct route a, struct route b)
{
	return a.enabled == b.enabled && (!a.enabled || (a.address == b.address && a.data == b.data));
}

/* Reads `pin` back (IOREGSEL kept): reserved bits clear, route right, no level interrupt lost. */
static uint64_t check_pin(unsigned pin)
{
	uint32_t sel = rd(0);
	wr(0, 0x10 + 2 * pin);
	uint64_t rte = rd(WIN);
	wr(0, 0x11 + 2 * pin);
	rte |= (uint64_t)rd(WIN) << 32;
	wr(0, sel);
	bool level = rte & RTE_LEVEL, masked = rte & RTE_MASKED, irr = rte & RTE_IRR;
	struct route want = { false, 0, 0 };
	if (level && (!masked || irr))
		want = message(rte);
	if ((rte & RTE_RESERVED) || !same(routes[pin], want) ||
	    (level && !masked && (lines >> pin & 1) && !irr))
		abort();
	return rtes[pin] = rte;
}

/* An op that concerns one pin (none: pin >= 24) sends and re-routes for that pin only. */
static void check_only(unsigned pin)
{
	if (pin >= IOAPIC_PINS) {
		if (sent || route_pins)
			abort();
		return;
	}
	struct route m = message(check_pin(pin));
	if ((route_pins & ~(1u << pin)) || sent > 1 || (sent && !same(last, m)))
		abort();
}

static void set_line(unsigned pin, bool level)
{
	uint64_t rte = pin < IOAPIC_PINS ? rtes[pin] : RTE_MASKED;
	bool was_high = pin < IOAPIC_PINS && (lines >> pin & 1);
	bool send = !(rte & RTE_MASKED) && level && (rte & RTE_LEVEL ? !(rte & RTE_IRR) : !was_high);
	ioapic_set_line(io, pin, level);
	if (pin < IOAPIC_PINS)
		lines = (lines & ~(1u << pin)) | (uint32_t)level << pin;
	if (sent != send)
		abort();
	check_only(pin);
}

/* An EOI for `vector`, from a LAPIC (reg_len 0) or through the EOI register. */
static void eoi(uint8_t vector, unsigned reg_len)
{
	uint32_t pins = 0;
	unsigned resend = 0;
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		pins |= (uint32_t)((rtes[p] & 0xff) == vector) << p;
		resend += (rtes[p] & 0xff) == vector && (lines >> p & 1) &&
			  (rtes[p] & (RTE_IRR | RTE_LEVEL | RTE_MASKED)) == (RTE_IRR | RTE_LEVEL);
	}
	uint8_t bytes[8] = { vector };
	if (reg_len)
		bus_write(mmio, LAYOUT_IOAPIC_BASE + EOI, bytes, reg_len);
	else
		ioapic_eoi(io, vector);
	if (sent != resend || (route_pins & ~pins))
		abort();
	for (unsigned p = 0; p < IOAPIC_PINS; p++)
		if (pins >> p & 1)
			check_pin(p);
}

/* An MMIO access: IOWIN concerns the selected pin, EOI the pins of a vector, the rest none. */
static void access(bool write, unsigned offset, unsigned len, uint32_t value)
{
	uint8_t bytes[8];
	memcpy(bytes, &value, 4);
	memcpy(bytes + 4, &value, 4);
	unsigned sel = rd(0), pin = sel >= 0x10 && sel < 0x10 + 2 * IOAPIC_PINS ? (sel - 0x10) / 2 : ~0u;
	if (write && offset == EOI)
		eoi(bytes[0], len);
	else if (write)
		bus_write(mmio, LAYOUT_IOAPIC_BASE + offset, bytes, len);
	else
		bus_read(mmio, LAYOUT_IOAPIC_BASE + offset, bytes, len);
	if (!write || offset != EOI)
		check_only(write && offset >= WIN && offset < WIN + 4 ? pin : ~0u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned widths[] = { 1, 2, 4, 8 }, named[] = { 0, WIN, EOI };
	if (!mmio && !(mmio = bus_create("fuzz-mmio")))
		abort();
	struct ioapic_config cfg = { .hooks = { .deliver = deliver, .route_changed = route_changed } };
	io = ioapic_create(&cfg);
	if (!io || ioapic_register(io, mmio) != 0)
		abort();
	memset(routes, 0, sizeof(routes));
	lines = 0;
	for (unsigned p = 0; p < IOAPIC_PINS; p++)
		rtes[p] = RTE_MASKED; /* as after reset */
	for (size_t off = 0; off + 8 <= size && off / 8 < MAX_OPS; off += 8) {
		const uint8_t *op = data + off;
		uint16_t a = (uint16_t)(op[2] | op[3] << 8);
		uint32_t value;
		memcpy(&value, op + 4, sizeof(value));
		sent = 0, route_pins = 0;
		if (op[0] % 5 < 2)
			access(op[0] % 5 == 0, op[1] & 4 ? named[a % 3] : a % IOAPIC_MMIO_SIZE,
			       widths[op[1] & 3], value);
		else if (op[0] % 5 == 2) /* IOREGSEL = a, then IOWIN */
			wr(0, a), access(true, WIN, 4, value);
		else if (op[0] % 5 == 3)
			set_line(a & 0x8000 ? a : a % 32u, op[1] & 1);
		else
			eoi((uint8_t)a, 0);
	}
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		uint64_t had = rtes[p];
		if (check_pin(p) != had) /* an op changed a pin it does not concern */
			abort();
	}
	ioapic_destroy(io);
	return 0;
}

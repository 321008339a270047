/*
 * vmon's own I/O APIC (Intel 82093AA, version 0x20 with the EOI register),
 * for the split irqchip: the LAPICs stay in KVM, and this IOAPIC turns its
 * 24 pins into MSI-like messages the machine delivers (and, with VT-d
 * interrupt remapping, translates first).
 *
 * Registers at LAYOUT_IOAPIC_BASE: IOREGSEL (0x00), IOWIN (0x10) and the
 * EOI register (0x40). Pins take devices' lines (ioapic_set_line); EOIs
 * come from the LAPICs through KVM (ioapic_eoi) or from the EOI register.
 *
 * Threads: vCPU threads access the registers and report EOIs, device
 * threads drive lines; one lock inside serialises them, and the hooks are
 * called with it held (see ioapic.c for why, and the lock order).
 */
#ifndef VMON_DEVICES_LEGACY_IOAPIC_H
#define VMON_DEVICES_LEGACY_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"

#define IOAPIC_PINS     24
#define IOAPIC_MMIO_SIZE 0x1000ull /* the page at LAYOUT_IOAPIC_BASE */

/* What the IOAPIC asks of the machine. */
struct ioapic_hooks {
	/*
	 * Sends one message: a compatibility-format MSI (address 0xfee00000 |
	 * destination << 12 | destination mode << 2; data vector | delivery
	 * mode << 8 | assert << 14 | trigger mode << 15), or a
	 * remappable-format one (VT-d 3.4 §5.1.5.1) for the interrupt remapper.
	 */
	void (*deliver)(void *ctx, uint64_t address, uint32_t data);
	/*
	 * Pin `pin`'s route changed: the message a level-triggered pin sends,
	 * which KVM must know to report its EOIs (enabled), or none (edge,
	 * or masked with nothing in service).
	 */
	void (*route_changed)(void *ctx, unsigned pin, bool enabled, uint64_t address, uint32_t data);
	void *ctx;
};

struct ioapic_config {
	uint8_t id;                /* the IOAPIC ID the MADT announces */
	struct ioapic_hooks hooks;
};

struct ioapic;

/* As after reset: every pin masked, edge-triggered, vector 0. NULL with errno set. */
struct ioapic *ioapic_create(const struct ioapic_config *cfg);
/* Claims [LAYOUT_IOAPIC_BASE, + IOAPIC_MMIO_SIZE) on `mmio`. 0 or -errno. */
int ioapic_register(struct ioapic *io, struct bus *mmio);
/* Unregisters and frees. */
void ioapic_destroy(struct ioapic *io);

/* Drives input `pin` to `level` (0 deasserted, else asserted). Pins >= IOAPIC_PINS are ignored. */
void ioapic_set_line(struct ioapic *io, unsigned pin, int level);
/* A LAPIC took an EOI for `vector` (KVM_EXIT_IOAPIC_EOI). */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

#endif

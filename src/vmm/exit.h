/*
 * What vmon does with each kind of VM exit: a table from exit kind to
 * handler, free of KVM so that it can be tested with synthetic exits.
 */
#ifndef VMON_VMM_EXIT_H
#define VMON_VMM_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "devices/device.h"
#include "hv/hv.h"

struct exit_context {
	struct bus *pio;
	struct bus *mmio;
	unsigned vcpu_index;
	/* HV_EXIT_IOAPIC_EOI (split irqchip): the LAPIC's EOI for `vector` reaches the IOAPIC. May be NULL. */
	void (*ioapic_eoi)(void *ctx, uint8_t vector);
	void *eoi_ctx;
};

struct exit_verdict {
	bool stop;                  /* the VM must end */
	enum vm_stop_reason reason; /* when stop */
	bool dump_registers;        /* a failure worth a register dump */
};

struct exit_verdict exit_dispatch(const struct exit_context *ctx,
				  const struct hv_exit *exit);

#endif

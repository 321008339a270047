/*
 * A fake machine for device unit tests: records the interrupt line and the
 * stop requests a device makes through its struct vm_control.
 */
#ifndef VMON_TESTS_FAKE_VM_H
#define VMON_TESTS_FAKE_VM_H

#include <stdint.h>

#include "devices/device.h"

struct fake_vm {
	int level;        /* last level set */
	uint32_t last_gsi;
	int set_irq_calls;
	int rising_edges; /* 0 -> 1 transitions */
	int stops;
	enum vm_stop_reason last_stop;
};

static inline void fake_set_irq(void *ctx, uint32_t gsi, int level)
{
	struct fake_vm *vm = ctx;
	if (level && !vm->level)
		vm->rising_edges++;
	vm->level = level;
	vm->last_gsi = gsi;
	vm->set_irq_calls++;
}

static inline void fake_request_stop(void *ctx, enum vm_stop_reason why)
{
	struct fake_vm *vm = ctx;
	vm->stops++;
	vm->last_stop = why;
}

static inline struct vm_control fake_vm_control(struct fake_vm *vm)
{
	return (struct vm_control){
		.set_irq = fake_set_irq, .request_stop = fake_request_stop, .ctx = vm,
	};
}

#endif

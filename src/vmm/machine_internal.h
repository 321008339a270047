/*
 * The machine's insides, shared by machine.c (build, run, stop) and
 * machine_state.c (snapshots and migration). Nothing else includes this.
 */
#ifndef VMON_VMM_MACHINE_INTERNAL_H
#define VMON_VMM_MACHINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "bus/bus.h"
#include "hv/hv.h"
#include "vmm/guest_mem.h"
#include "vmm/machine.h"
#include "vmm/msi.h"
#include "vmm/platform.h"
#include "vmm/vcpu.h"

struct machine {
	const struct vm_config *cfg;
	struct hv *hv;
	struct hv_vm *vm;
	struct guest_mem mem;
	struct bus *pio;
	struct bus *mmio;
	struct vm_control control;
	struct platform platform;
	struct msi_routes msi;
	bool msi_ready;
	struct vtd *vtd;           /* --iommu intel; NULL: none */
	struct dma_probe *dma_probe; /* --test-hooks; NULL: none */
	struct ioapic *ioapic;     /* the split irqchip's (--iommu); NULL: KVM's in-kernel irqchip */
	struct vcpu *vcpus;
	struct kvm_cpuid2 *cpuid;  /* the host's set the vCPUs were built from (with its brand) */
	struct vcpu_gate gate;  /* runs, parks (machine_pause) and ends the vCPUs */
	bool started;           /* machine_start ran */
	bool frozen;            /* devices quiesced (machine_freeze, a load) until machine_thaw */
	bool halted;            /* the vCPUs have ended and the console is written out */

	int stop_fd;            /* eventfd: a stop was requested */
	int signal_fd;          /* the stop signals */
	/* Protects stop_requested and stop_reason. */
	pthread_mutex_t stop_lock;
	bool stop_requested;
	enum vm_stop_reason stop_reason;
};

#endif

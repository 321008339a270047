/* x86 vCPU state at power-on and at the kernel's entry point. */
#ifndef VMON_ARCH_X86_CPU_H
#define VMON_ARCH_X86_CPU_H

#include "arch/x86/boot.h"
#include "hv/hv.h"
#include "vmm/guest_mem.h"

/* Every vCPU: CPUID with topology, FPU defaults, LAPIC LINT0/LINT1 wiring. */
int x86_vcpu_init(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *supported,
		  unsigned nr_cpus);

/*
 * The boot CPU: builds the GDT (and for the 64-bit entry the identity page
 * tables) in guest RAM and sets the registers the entry point expects.
 */
int x86_boot_cpu_setup(struct hv_vcpu *vcpu, const struct guest_mem *gm,
		       const struct kernel_entry *entry);

#endif

/* The CPUID a vCPU sees: KVM's supported set with our topology filled in. */
#ifndef VMON_ARCH_X86_CPUID_H
#define VMON_ARCH_X86_CPUID_H

#include <linux/kvm.h>

/*
 * A copy of `supported` for vCPU `index` of `nr_cpus`: one socket of
 * nr_cpus cores, one thread each, APIC ID = index. The caller frees it.
 */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
				  unsigned index, unsigned nr_cpus);

#endif

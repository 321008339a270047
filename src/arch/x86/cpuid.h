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

/*
 * KVM leaves the processor brand string (leaves 0x80000002-4) empty for
 * userspace to fill: copies the host's, where the set has those leaves empty.
 */
void cpuid_fill_host_brand(struct kvm_cpuid2 *cpuid);

#endif

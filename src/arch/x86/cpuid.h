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

struct state_writer;
struct state_reader;
/*
 * What the first of nr_cpus vCPUs built from `supported` sees (section
 * STATE_TAG_CPUID), and the check that a restoring host's vCPUs would see
 * the same, the brand string aside: 0, or -EINVAL after logging the first
 * leaf that differs.
 */
void cpuid_save(struct state_writer *w, const struct kvm_cpuid2 *supported, unsigned nr_cpus);
int cpuid_check_saved(const struct state_reader *r, const struct kvm_cpuid2 *supported,
		      unsigned nr_cpus);

#endif

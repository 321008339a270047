#include "arch/x86/cpuid.h"

#include <cpuid.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LEAF1_EDX_HTT          (1u << 28)
#define LEAF1_ECX_HYPERVISOR   (1u << 31)
#define EXT1_ECX_CMP_LEGACY    (1u << 1)
#define TOPOLOGY_LEVEL_SMT     1
#define TOPOLOGY_LEVEL_CORE    2

/* Bits needed to number `n` items: ceil(log2(n)). */
static unsigned id_bits(unsigned n)
{
	unsigned bits = 0;
	while ((1u << bits) < n)
		bits++;
	return bits;
}

static unsigned at_most(unsigned value, unsigned max)
{
	return value < max ? value : max;
}

/*
 * Intel SDM vol. 2A, CPUID leaf 1: initial APIC ID and the number of
 * addressable logical processor IDs, an 8-bit field (hence at most 255).
 */
static void fill_leaf1(struct kvm_cpuid_entry2 *e, unsigned index, unsigned nr_cpus)
{
	e->ebx &= 0x0000ffff;
	e->ebx |= (index & 0xff) << 24;
	e->ebx |= at_most(1u << id_bits(nr_cpus), 255) << 16;
	if (nr_cpus > 1)
		e->edx |= LEAF1_EDX_HTT;
	else
		e->edx &= ~LEAF1_EDX_HTT;
	e->ecx |= LEAF1_ECX_HYPERVISOR;
}

/* Intel SDM vol. 2A, leaf 4: cores per package - 1 in EAX[31:26], 6 bits. */
static void fill_leaf4(struct kvm_cpuid_entry2 *e, unsigned nr_cpus)
{
	e->eax &= 0x03ffffff;
	e->eax |= at_most((1u << id_bits(nr_cpus)) - 1, 63) << 26;
}

/* Intel SDM vol. 2A, leaves 0xB and 0x1F: x2APIC topology, SMT then core level. */
static void fill_extended_topology(struct kvm_cpuid_entry2 *e, unsigned index,
				   unsigned nr_cpus)
{
	unsigned level = e->index;
	e->edx = index;
	if (level == 0) {
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPOLOGY_LEVEL_SMT << 8) | level;
	} else if (level == 1) {
		e->eax = id_bits(nr_cpus);
		e->ebx = nr_cpus;
		e->ecx = (TOPOLOGY_LEVEL_CORE << 8) | level;
	} else {
		e->eax = 0;
		e->ebx = 0;
		e->ecx = level;
	}
}

/* AMD APM vol. 3, 0x80000008 ECX: NC = cores - 1, ApicIdCoreIdSize. */
static void fill_amd_core_count(struct kvm_cpuid_entry2 *e, unsigned nr_cpus)
{
	e->ecx &= ~0xf0ffu;
	e->ecx |= (nr_cpus - 1) | (id_bits(nr_cpus) << 12);
}

/* AMD APM vol. 3, 0x8000001E: extended APIC ID, one thread per core. */
static void fill_amd_topology_ext(struct kvm_cpuid_entry2 *e, unsigned index)
{
	e->eax = index;
	e->ebx = index & 0xff;
	e->ecx = 0;
}

static void fill_entry(struct kvm_cpuid_entry2 *e, unsigned index, unsigned nr_cpus)
{
	switch (e->function) {
	case 0x1:
		fill_leaf1(e, index, nr_cpus);
		break;
	case 0x4:
		fill_leaf4(e, nr_cpus);
		break;
	case 0xb:
	case 0x1f:
		fill_extended_topology(e, index, nr_cpus);
		break;
	case 0x80000001:
		if (nr_cpus > 1)
			e->ecx |= EXT1_ECX_CMP_LEGACY;
		break;
	case 0x80000008:
		fill_amd_core_count(e, nr_cpus);
		break;
	case 0x8000001e:
		fill_amd_topology_ext(e, index);
		break;
	default:
		break;
	}
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
				  unsigned index, unsigned nr_cpus)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	if (!cpuid)
		return NULL;
	memcpy(cpuid, supported, size);
	for (unsigned i = 0; i < cpuid->nent; i++)
		fill_entry(&cpuid->entries[i], index, nr_cpus);
	return cpuid;
}

static bool entry_is_empty(const struct kvm_cpuid_entry2 *e)
{
	return (e->eax | e->ebx | e->ecx | e->edx) == 0;
}

void cpuid_fill_host_brand(struct kvm_cpuid2 *cpuid)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function >= 0x80000002 && e->function <= 0x80000004 && entry_is_empty(e))
			__cpuid(e->function, e->eax, e->ebx, e->ecx, e->edx);
	}
}

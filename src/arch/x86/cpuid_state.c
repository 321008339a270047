/*
 * The CPUID the VM's first vCPU sees, in its state: a restore or
 * an incoming migration on a host whose KVM offers another set would give
 * the running guest other CPU features than it started with (instructions
 * that fault, XSAVE layouts that differ), so it is refused. The first
 * vCPU's view, not KVM's set: vmon writes the topology fields itself, and
 * some KVMs (PVM) fill those with the host CPU that ran the ioctl.
 *
 * Section STATE_TAG_CPUID payload: u32 entry count, then per entry u32
 * function, index, flags, eax, ebx, ecx, edx (KVM's kvm_cpuid_entry2).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arch/x86/cpuid.h"
#include "migration/state.h"
#include "util/log.h"

#define CPUID_MAX_SAVED 256

/* What vCPU 0 of nr_cpus sees on this host, or NULL (logged). */
static struct kvm_cpuid2 *first_vcpu_view(const struct kvm_cpuid2 *supported, unsigned nr_cpus)
{
	struct kvm_cpuid2 *view = cpuid_for_vcpu(supported, 0, nr_cpus);
	if (!view)
		log_error("cannot compute the vCPUs' CPUID: out of memory");
	return view;
}

static void put_entries(struct state_writer *w, const struct kvm_cpuid2 *cpuid)
{
	state_put_u32(w, cpuid->nent);
	for (unsigned i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		uint32_t fields[] = { e->function, e->index, e->flags, e->eax, e->ebx, e->ecx, e->edx };
		for (unsigned f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
			state_put_u32(w, fields[f]);
	}
}

void cpuid_save(struct state_writer *w, const struct kvm_cpuid2 *supported, unsigned nr_cpus)
{
	struct kvm_cpuid2 *view = first_vcpu_view(supported, nr_cpus);
	state_begin(w, STATE_TAG_CPUID, 0);
	if (view)
		put_entries(w, view);
	state_end(w);
	free(view);
}

/* The processor brand string (0x80000002-4) names the host's model: it may differ. */
static bool is_brand_leaf(uint32_t function)
{
	return function >= 0x80000002 && function <= 0x80000004;
}

static const struct kvm_cpuid_entry2 *find_entry(const struct kvm_cpuid2 *cpuid, uint32_t function,
						 uint32_t index)
{
	for (unsigned i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == function && cpuid->entries[i].index == index)
			return &cpuid->entries[i];
	return NULL;
}

static bool same_registers(const struct kvm_cpuid_entry2 *a, const struct kvm_cpuid_entry2 *b)
{
	return a->eax == b->eax && a->ebx == b->ebx && a->ecx == b->ecx && a->edx == b->edx;
}

/* One saved entry against this host's: false after logging how they differ. */
static bool entry_matches(const struct kvm_cpuid2 *here, const struct kvm_cpuid_entry2 *saved)
{
	const struct kvm_cpuid_entry2 *e = find_entry(here, saved->function, saved->index);
	if (is_brand_leaf(saved->function) || (e && same_registers(e, saved)))
		return true;
	if (!e)
		log_error("this host's CPU lacks CPUID leaf %#x.%u, which the VM's had",
			  saved->function, saved->index);
	else
		log_error("this host's CPU differs from the VM's: CPUID leaf %#x.%u is "
			  "%08x %08x %08x %08x here, was %08x %08x %08x %08x (give both hosts the same CPU model)",
			  saved->function, saved->index, e->eax, e->ebx, e->ecx, e->edx,
			  saved->eax, saved->ebx, saved->ecx, saved->edx);
	return false;
}

static int check_entries(const struct state_reader *r, const struct kvm_cpuid2 *here)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_CPUID, 0, &s) < 0) {
		log_error("the state does not say which CPU the VM had");
		return -EINVAL;
	}
	uint32_t n = state_get_u32(&s);
	if (n > CPUID_MAX_SAVED || n != here->nent) {
		log_error(n > CPUID_MAX_SAVED ? "the state's CPUID section is corrupt"
			  : "this host's CPU offers another set of CPUID leaves than the VM's");
		return -EINVAL;
	}
	bool same = true;
	for (uint32_t i = 0; i < n && same && !s.overrun; i++) {
		struct kvm_cpuid_entry2 e = {
			.function = state_get_u32(&s), .index = state_get_u32(&s), .flags = state_get_u32(&s),
			.eax = state_get_u32(&s), .ebx = state_get_u32(&s), .ecx = state_get_u32(&s),
			.edx = state_get_u32(&s),
		};
		same = s.overrun || entry_matches(here, &e);
	}
	if (same && state_section_finish(&s) < 0) {
		log_error("the state's CPUID section is corrupt");
		return -EINVAL;
	}
	return same ? 0 : -EINVAL;
}

int cpuid_check_saved(const struct state_reader *r, const struct kvm_cpuid2 *supported,
		      unsigned nr_cpus)
{
	struct kvm_cpuid2 *view = first_vcpu_view(supported, nr_cpus);
	int ret = view ? check_entries(r, view) : -ENOMEM;
	free(view);
	return ret;
}

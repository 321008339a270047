/*
 * The machine's side of snapshots and live migration: freezing it,
 * writing its state, loading a state into a fresh machine, and the pages
 * written while it runs.
 *
 * Section STATE_TAG_MACHINE payload: u32 vCPU count, u64 RAM size, u32
 * region count, then each region's u64 guest-physical address and u64
 * size. The restoring machine must have the same: its configuration comes
 * from the same state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/vcpu_state.h"
#include "migration/state.h"
#include "util/log.h"
#include "vmm/machine_internal.h"

static unsigned vcpu_count(const struct machine *m)
{
	return m->vcpus ? m->cfg->nr_cpus : 0;
}

bool machine_is_paused(struct machine *m)
{
	return atomic_load(&m->gate.paused);
}

int machine_freeze(struct machine *m)
{
	vcpu_gate_pause(&m->gate, m->vcpus, vcpu_count(m));
	platform_quiesce_devices(&m->platform);
	m->frozen = true;
	return 0;
}

int machine_thaw(struct machine *m, bool run_vcpus)
{
	int ret = platform_unquiesce_devices(&m->platform);
	if (ret < 0)
		log_error("the VM's devices cannot serve again: %s", strerror(-ret));
	m->frozen = false;
	if (run_vcpus)
		vcpu_gate_resume(&m->gate);
	return ret;
}

const struct vm_config *machine_config(struct machine *m)
{
	return m->cfg;
}

struct guest_mem *machine_memory(struct machine *m)
{
	return &m->mem;
}

static void save_layout(const struct machine *m, struct state_writer *w)
{
	state_begin(w, STATE_TAG_MACHINE, 0);
	state_put_u32(w, m->cfg->nr_cpus);
	state_put_u64(w, m->mem.ram_size);
	state_put_u32(w, m->mem.nr_regions);
	for (unsigned i = 0; i < m->mem.nr_regions; i++) {
		state_put_u64(w, m->mem.regions[i].gpa);
		state_put_u64(w, m->mem.regions[i].size);
	}
	state_end(w);
}

static int save_vcpus(struct machine *m, struct state_writer *w)
{
	struct hv_vcpu_state *st = malloc(sizeof(*st));
	int ret = st ? 0 : -ENOMEM;
	for (unsigned i = 0; ret == 0 && i < vcpu_count(m); i++) {
		ret = hv_vcpu_get_state(m->vcpus[i].hv, st);
		if (ret == 0)
			x86_save_vcpu(w, i, st);
		else
			log_error("cannot read vCPU %u's state: %s", i, strerror(-ret));
	}
	free(st);
	return ret;
}

static int save_vm(struct machine *m, struct state_writer *w)
{
	struct hv_vm_state st;
	int ret = hv_vm_get_state(m->vm, &st);
	if (ret == 0)
		x86_save_vm(w, &st);
	else
		log_error("cannot read the interrupt controllers' and clock's state: %s", strerror(-ret));
	return ret;
}

int machine_check_savable(struct machine *m)
{
	if (m->cfg->iommu.kind == IOMMU_NONE)
		return 0;
	log_error("a VM with --iommu cannot be snapshotted or migrated: vmon does not save the IOMMU's "
		  "and its IOAPIC's state yet");
	return -ENOTSUP;
}

int machine_save_state(struct machine *m, uint8_t **blob, size_t *len)
{
	int ret = machine_check_savable(m);
	if (ret < 0)
		return ret;
	struct state_writer w;
	state_writer_init(&w);
	vm_config_save(m->cfg, &w);
	save_layout(m, &w);
	cpuid_save(&w, m->cpuid, m->cfg->nr_cpus);
	ret = save_vcpus(m, &w);
	if (ret == 0)
		ret = save_vm(m, &w);
	if (ret == 0)
		platform_save(&m->platform, &w);
	if (ret < 0) {
		state_writer_free(&w);
		return ret;
	}
	ret = state_writer_finish(&w, blob, len);
	if (ret < 0)
		log_error("cannot write the VM's state: %s", strerror(-ret));
	return ret;
}

/* The state describes a machine of this shape: same vCPUs, same RAM layout. */
static int check_layout(const struct machine *m, const struct state_reader *r)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_MACHINE, 0, &s) < 0) {
		log_error("the state has no machine section");
		return -EINVAL;
	}
	bool same = state_get_u32(&s) == m->cfg->nr_cpus && state_get_u64(&s) == m->mem.ram_size &&
		    state_get_u32(&s) == m->mem.nr_regions;
	for (unsigned i = 0; same && i < m->mem.nr_regions; i++)
		same = state_get_u64(&s) == m->mem.regions[i].gpa &&
		       state_get_u64(&s) == m->mem.regions[i].size;
	if (!same || state_section_finish(&s) < 0) {
		log_error("the state's machine section does not match its configuration");
		return -EINVAL;
	}
	return 0;
}

static int load_vm(struct machine *m, const struct state_reader *r)
{
	struct hv_vm_state st;
	int ret = x86_load_vm(r, &st);
	if (ret == 0 && (ret = hv_vm_set_state(m->vm, &st)) < 0)
		log_error("KVM refused the saved interrupt controllers or clock: %s", strerror(-ret));
	return ret;
}

static int load_vcpus(struct machine *m, const struct state_reader *r)
{
	struct hv_vcpu_state *st = malloc(sizeof(*st));
	int ret = st ? 0 : -ENOMEM;
	for (unsigned i = 0; ret == 0 && i < vcpu_count(m); i++) {
		ret = x86_load_vcpu(r, i, st);
		if (ret == 0 && (ret = hv_vcpu_set_state(m->vcpus[i].hv, st)) < 0)
			log_error("KVM refused vCPU %u's saved state: %s", i, strerror(-ret));
	}
	free(st);
	return ret;
}

int machine_load_state(struct machine *m, const struct state_reader *r)
{
	int ret = check_layout(m, r);
	if (ret == 0)
		ret = cpuid_check_saved(r, m->cpuid, m->cfg->nr_cpus);
	if (ret == 0)
		ret = load_vm(m, r);
	if (ret == 0)
		ret = load_vcpus(m, r);
	if (ret == 0)
		ret = platform_load(&m->platform, r);
	m->frozen = true; /* the devices serve from machine_resume on */
	return ret;
}

int machine_track_dirty(struct machine *m, bool on)
{
	int ret = hv_vm_set_dirty_logging(m->vm, on);
	if (ret == 0)
		ret = guest_mem_track_writes(&m->mem, on);
	if (ret == 0)
		ret = platform_select_net_paths(&m->platform, !on);
	if (ret < 0 && on)
		machine_track_dirty(m, false);
	return ret;
}

static uint64_t bitmap_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* ORs `nbits` bits of src into dst from bit `first` on. */
static void or_bits(uint64_t *dst, uint64_t first, const uint64_t *src, uint64_t nbits)
{
	if (first % 64 == 0) {
		for (uint64_t i = 0; i < bitmap_words(nbits); i++)
			dst[first / 64 + i] |= src[i];
		return;
	}
	for (uint64_t b = 0; b < nbits; b++)
		if (src[b / 64] >> (b % 64) & 1)
			dst[(first + b) / 64] |= 1ull << ((first + b) % 64);
}

int machine_take_dirty(struct machine *m, uint64_t *bitmap, bool since_start)
{
	int ret = 0;
	for (unsigned i = 0; ret == 0 && i < m->mem.nr_regions; i++) {
		const struct guest_mem_region *r = &m->mem.regions[i];
		uint64_t pages = r->size / GUEST_PAGE_SIZE;
		uint64_t *slot = calloc(bitmap_words(pages), sizeof(*slot));
		ret = slot ? hv_vm_get_dirty_log(m->vm, i, slot) : -ENOMEM;
		if (ret == 0)
			or_bits(bitmap, (uint64_t)(r->host - m->mem.mapping) / GUEST_PAGE_SIZE, slot, pages);
		free(slot);
	}
	guest_mem_take_written(&m->mem, bitmap, since_start);
	return ret;
}

#include "arch/x86/vcpu_state.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

/* One KVM structure inside a state struct, and its name for messages. */
struct kvm_struct {
	const char *name;
	size_t offset, size;
};

#define FIELD(type, field, name) \
	{ name, offsetof(struct type, field), sizeof(((struct type *)0)->field) }

/* The order of the structures in a VCPU section. */
static const struct kvm_struct vcpu_structs[] = {
	FIELD(hv_vcpu_state, regs, "general register set"),
	FIELD(hv_vcpu_state, sregs, "special register set"),
	FIELD(hv_vcpu_state, xsave, "xsave area"),
	FIELD(hv_vcpu_state, xcrs, "XCR set"),
	FIELD(hv_vcpu_state, lapic, "local APIC state"),
	FIELD(hv_vcpu_state, events, "pending event set"),
	FIELD(hv_vcpu_state, mp_state, "MP state"),
	FIELD(hv_vcpu_state, debugregs, "debug register set"),
};

static const struct kvm_struct irqchip_structs[] = {
	FIELD(hv_vm_state, pic_master, "master PIC state"),
	FIELD(hv_vm_state, pic_slave, "slave PIC state"),
	FIELD(hv_vm_state, ioapic, "IOAPIC state"),
};
static const struct kvm_struct pit_structs[] = { FIELD(hv_vm_state, pit, "PIT state") };
static const struct kvm_struct clock_structs[] = { FIELD(hv_vm_state, clock, "clock state") };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Each structure as (u32 size, the structure's bytes). */
static void put_structs(struct state_writer *w, const void *state,
			const struct kvm_struct *structs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		state_put_u32(w, (uint32_t)structs[i].size);
		state_put_bytes(w, (const uint8_t *)state + structs[i].offset, structs[i].size);
	}
}

/* A structure whose size is not this vmon's would be misread: refused. */
static int get_structs(struct state_section *sec, const char *ctx, void *state,
		       const struct kvm_struct *structs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint32_t size = state_get_u32(sec);
		if (!sec->overrun && size != structs[i].size) {
			log_error("%s: the %s is %u bytes, this vmon's KVM uses %zu",
				  ctx, structs[i].name, size, structs[i].size);
			return -EINVAL;
		}
		state_get_bytes(sec, (uint8_t *)state + structs[i].offset, structs[i].size);
		if (sec->overrun) {
			log_error("%s: the section ends inside the %s", ctx, structs[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

static int find_section(const struct state_reader *r, uint32_t tag, uint32_t instance,
			const char *ctx, struct state_section *sec)
{
	if (state_find(r, tag, instance, sec) == 0)
		return 0;
	log_error("%s: missing from the state", ctx);
	return -EINVAL;
}

/* Every byte of a section is read; more bytes than its fields is corruption too. */
static int finish_section(const struct state_section *sec, const char *ctx)
{
	if (state_section_finish(sec) == 0)
		return 0;
	log_error("%s: the section is %zu bytes longer than its fields", ctx, sec->len - sec->pos);
	return -EINVAL;
}

/*
 * Section STATE_TAG_VCPU, instance = the vCPU index. The payload is each
 * KVM structure as (u32 size, bytes), the bytes as <linux/kvm.h> lays the
 * structure out on x86-64, in this order:
 *   kvm_regs, kvm_sregs, kvm_xsave (the 4 KiB KVM_GET_XSAVE area),
 *   kvm_xcrs, kvm_lapic_state, kvm_vcpu_events, kvm_mp_state, kvm_debugregs
 * then u32 nr_msrs (at most HV_MAX_MSRS) and nr_msrs pairs
 * (u32 MSR index, u64 value).
 */
void x86_save_vcpu(struct state_writer *w, unsigned index, const struct hv_vcpu_state *s)
{
	uint32_t nr_msrs = s->nr_msrs < HV_MAX_MSRS ? s->nr_msrs : HV_MAX_MSRS;
	state_begin(w, STATE_TAG_VCPU, index);
	put_structs(w, s, vcpu_structs, COUNT(vcpu_structs));
	state_put_u32(w, nr_msrs);
	for (uint32_t i = 0; i < nr_msrs; i++) {
		state_put_u32(w, s->msrs[i].index);
		state_put_u64(w, s->msrs[i].data);
	}
	state_end(w);
}

static int get_msrs(struct state_section *sec, const char *ctx, struct hv_vcpu_state *s)
{
	uint32_t n = state_get_u32(sec);
	if (!sec->overrun && n > HV_MAX_MSRS) {
		log_error("%s: %u MSRs, more than the %d vmon keeps", ctx, n, HV_MAX_MSRS);
		return -EINVAL;
	}
	s->nr_msrs = n;
	for (uint32_t i = 0; i < n && !sec->overrun; i++) {
		s->msrs[i].index = state_get_u32(sec);
		s->msrs[i].data = state_get_u64(sec);
	}
	if (sec->overrun) {
		log_error("%s: the section ends inside the MSRs", ctx);
		return -EINVAL;
	}
	return 0;
}

int x86_load_vcpu(const struct state_reader *r, unsigned index, struct hv_vcpu_state *s)
{
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "snapshot: vCPU %u state", index);
	memset(s, 0, sizeof(*s));
	struct state_section sec;
	int ret = find_section(r, STATE_TAG_VCPU, index, ctx, &sec);
	if (ret == 0)
		ret = get_structs(&sec, ctx, s, vcpu_structs, COUNT(vcpu_structs));
	if (ret == 0)
		ret = get_msrs(&sec, ctx, s);
	return ret ? ret : finish_section(&sec, ctx);
}

/*
 * Section STATE_TAG_IRQCHIP, instance 0: three kvm_irqchip as (u32 size,
 * bytes), the master PIC, the slave PIC and the IOAPIC, each with its
 * chip_id. Section STATE_TAG_PIT, instance 0: kvm_pit_state2 as (u32 size,
 * bytes). Section STATE_TAG_CLOCK, instance 0: kvm_clock_data as (u32 size,
 * bytes). The bytes are the structures as <linux/kvm.h> lays them out on
 * x86-64.
 */
void x86_save_vm(struct state_writer *w, const struct hv_vm_state *s)
{
	state_begin(w, STATE_TAG_IRQCHIP, 0);
	put_structs(w, s, irqchip_structs, COUNT(irqchip_structs));
	state_end(w);
	state_begin(w, STATE_TAG_PIT, 0);
	put_structs(w, s, pit_structs, COUNT(pit_structs));
	state_end(w);
	state_begin(w, STATE_TAG_CLOCK, 0);
	put_structs(w, s, clock_structs, COUNT(clock_structs));
	state_end(w);
}

static int load_vm_section(const struct state_reader *r, uint32_t tag, const char *ctx,
			   struct hv_vm_state *s, const struct kvm_struct *structs, size_t count)
{
	struct state_section sec;
	int ret = find_section(r, tag, 0, ctx, &sec);
	if (ret == 0)
		ret = get_structs(&sec, ctx, s, structs, count);
	return ret ? ret : finish_section(&sec, ctx);
}

/* A chip id that names another chip would restore that chip's state instead. */
static int check_chip_id(const struct kvm_irqchip *chip, uint32_t want, const char *name)
{
	if (chip->chip_id == want)
		return 0;
	log_error("snapshot: interrupt controller state: the %s says it is chip %u, not %u",
		  name, chip->chip_id, want);
	return -EINVAL;
}

int x86_load_vm(const struct state_reader *r, struct hv_vm_state *s)
{
	memset(s, 0, sizeof(*s));
	int ret = load_vm_section(r, STATE_TAG_IRQCHIP, "snapshot: interrupt controller state",
				  s, irqchip_structs, COUNT(irqchip_structs));
	if (ret == 0)
		ret = load_vm_section(r, STATE_TAG_PIT, "snapshot: PIT state",
				      s, pit_structs, COUNT(pit_structs));
	if (ret == 0)
		ret = load_vm_section(r, STATE_TAG_CLOCK, "snapshot: KVM clock state",
				      s, clock_structs, COUNT(clock_structs));
	if (ret == 0)
		ret = check_chip_id(&s->pic_master, KVM_IRQCHIP_PIC_MASTER, "master PIC");
	if (ret == 0)
		ret = check_chip_id(&s->pic_slave, KVM_IRQCHIP_PIC_SLAVE, "slave PIC");
	if (ret == 0)
		ret = check_chip_id(&s->ioapic, KVM_IRQCHIP_IOAPIC, "IOAPIC");
	return ret;
}

#include "arch/x86/cpu.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE   (1ull << 1)
#define PTE_HUGE    (1ull << 7)

/* boot.rst: __BOOT_CS is 0x10 and __BOOT_DS 0x18; PVH uses the same layout. */
#define GDT_CODE_SEL 0x10
#define GDT_DATA_SEL 0x18
#define GDT_TSS_SEL  0x20
#define GDT_ENTRIES  6 /* the 64-bit TSS descriptor takes two slots */

#define BOOT_STACK   0x8ff0ull

/* LAPIC register offsets and LVT delivery modes (Intel SDM vol. 3A §11.5.1). */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DM_NMI    0x400
#define APIC_DM_EXTINT 0x700

struct segment_desc {
	uint64_t base;
	uint32_t limit;
	uint8_t type;
	bool code_or_data; /* S bit */
	bool long_mode;
	bool big;          /* D/B */
	bool granular;
};

static uint64_t encode_desc(const struct segment_desc *d)
{
	uint64_t limit = d->limit, base = d->base;
	return (limit & 0xffff) | ((base & 0xffffff) << 16) |
	       ((uint64_t)d->type << 40) | ((uint64_t)d->code_or_data << 44) |
	       (1ull << 47) /* present */ | (((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)d->long_mode << 53) | ((uint64_t)d->big << 54) |
	       ((uint64_t)d->granular << 55) | (((base >> 24) & 0xff) << 56);
}

static struct kvm_segment kvm_segment_of(const struct segment_desc *d, uint16_t sel)
{
	return (struct kvm_segment){
		.base = d->base,
		.limit = d->granular ? (d->limit << 12) | 0xfff : d->limit,
		.selector = sel,
		.type = d->type,
		.present = 1,
		.s = d->code_or_data,
		.l = d->long_mode,
		.db = d->big,
		.g = d->granular,
	};
}

static const struct segment_desc code64 = {
	.limit = 0xfffff, .type = 0xb, .code_or_data = true, .long_mode = true, .granular = true,
};
static const struct segment_desc code32 = {
	.limit = 0xfffff, .type = 0xb, .code_or_data = true, .big = true, .granular = true,
};
static const struct segment_desc data = {
	.limit = 0xfffff, .type = 0x3, .code_or_data = true, .big = true, .granular = true,
};
/* A busy TSS: VMX entry wants a usable TR even though nothing uses it. */
static const struct segment_desc tss = { .limit = 0x67, .type = 0xb };

static int write_gdt(const struct guest_mem *gm, const struct segment_desc *code)
{
	uint64_t gdt[GDT_ENTRIES] = { 0 };
	gdt[GDT_CODE_SEL / 8] = encode_desc(code);
	gdt[GDT_DATA_SEL / 8] = encode_desc(&data);
	gdt[GDT_TSS_SEL / 8] = encode_desc(&tss);
	return guest_mem_write(gm, LAYOUT_GDT, gdt, sizeof(gdt));
}

/* Identity-maps the first 4 GiB with 2 MiB pages (boot.rst, 64-bit boot protocol). */
static int write_identity_page_tables(const struct guest_mem *gm)
{
	uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];
	pml4[0] = LAYOUT_PDPT | PTE_PRESENT | PTE_WRITE;
	int err = guest_mem_write(gm, LAYOUT_PML4, pml4, sizeof(pml4));
	for (uint64_t g = 0; g < 4; g++) {
		uint64_t pd_gpa = LAYOUT_PD + g * sizeof(pd);
		pdpt[g] = pd_gpa | PTE_PRESENT | PTE_WRITE;
		for (uint64_t i = 0; i < 512; i++)
			pd[i] = (g * GiB + i * 2 * MiB) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
		err |= guest_mem_write(gm, pd_gpa, pd, sizeof(pd));
	}
	err |= guest_mem_write(gm, LAYOUT_PDPT, pdpt, sizeof(pdpt));
	return err ? -ENOMEM : 0;
}

static void set_flat_segments(struct kvm_sregs *s, const struct segment_desc *code)
{
	s->cs = kvm_segment_of(code, GDT_CODE_SEL);
	s->ds = s->es = s->fs = s->gs = s->ss = kvm_segment_of(&data, GDT_DATA_SEL);
	s->tr = kvm_segment_of(&tss, GDT_TSS_SEL);
	s->gdt.base = LAYOUT_GDT;
	s->gdt.limit = GDT_ENTRIES * 8 - 1;
}

static int setup_sregs(struct hv_vcpu *vcpu, const struct guest_mem *gm,
		       const struct kernel_entry *entry)
{
	struct kvm_sregs s;
	int ret = hv_vcpu_get_sregs(vcpu, &s);
	if (ret < 0)
		return ret;

	bool long_mode = entry->mode == BOOT_MODE_LINUX64;
	const struct segment_desc *code = long_mode ? &code64 : &code32;
	if (write_gdt(gm, code) < 0)
		return -ENOMEM;
	set_flat_segments(&s, code);
	s.cr0 = CR0_PE | CR0_ET | CR0_NE;
	s.cr4 = 0;
	s.efer = 0;
	if (long_mode) {
		ret = write_identity_page_tables(gm);
		s.cr3 = LAYOUT_PML4;
		s.cr4 = CR4_PAE;
		s.cr0 |= CR0_PG;
		s.efer = EFER_LME | EFER_LMA;
	}
	return ret < 0 ? ret : hv_vcpu_set_sregs(vcpu, &s);
}

int x86_boot_cpu_setup(struct hv_vcpu *vcpu, const struct guest_mem *gm,
		       const struct kernel_entry *entry)
{
	int ret = setup_sregs(vcpu, gm, entry);
	if (ret < 0)
		return ret;

	struct kvm_regs regs = {
		.rflags = 0x2, /* bit 1 is reserved and set; IF clear */
		.rip = entry->rip,
		.rsp = BOOT_STACK,
	};
	if (entry->mode == BOOT_MODE_LINUX64)
		regs.rsi = entry->boot_info;
	else
		regs.rbx = entry->boot_info;
	return hv_vcpu_set_regs(vcpu, &regs);
}

static void set_lapic_reg(struct kvm_lapic_state *lapic, unsigned offset, uint32_t value)
{
	memcpy(&lapic->regs[offset], &value, sizeof(value));
}

static uint32_t get_lapic_reg(const struct kvm_lapic_state *lapic, unsigned offset)
{
	uint32_t value;
	memcpy(&value, &lapic->regs[offset], sizeof(value));
	return value;
}

/* Virtual-wire mode: LINT0 takes the PIC's ExtINT, LINT1 the NMI (MP spec §3.6.2.2). */
static int wire_lapic_lints(struct hv_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	int ret = hv_vcpu_get_lapic(vcpu, &lapic);
	if (ret < 0)
		return ret;
	uint32_t lint0 = get_lapic_reg(&lapic, APIC_LVT_LINT0) & ~0x700u;
	uint32_t lint1 = get_lapic_reg(&lapic, APIC_LVT_LINT1) & ~0x700u;
	set_lapic_reg(&lapic, APIC_LVT_LINT0, lint0 | APIC_DM_EXTINT);
	set_lapic_reg(&lapic, APIC_LVT_LINT1, lint1 | APIC_DM_NMI);
	return hv_vcpu_set_lapic(vcpu, &lapic);
}

int x86_vcpu_init(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *supported,
		  unsigned nr_cpus)
{
	struct kvm_cpuid2 *cpuid = cpuid_for_vcpu(supported, hv_vcpu_index(vcpu), nr_cpus);
	if (!cpuid)
		return -ENOMEM;
	int ret = hv_vcpu_set_cpuid(vcpu, cpuid);
	free(cpuid);

	/* Intel SDM vol. 1 §8.1.5 and §10.2.3: the x87 and SSE state after FINIT. */
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ret == 0)
		ret = hv_vcpu_set_fpu(vcpu, &fpu);
	if (ret == 0)
		ret = wire_lapic_lints(vcpu);
	return ret;
}

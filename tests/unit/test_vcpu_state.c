/*
 * The x86 vCPU and VM state sections: a round trip keeps every byte, and
 * each damaged section (missing, a structure of another size, too many
 * MSRs, truncated, too long, a wrong chip) is refused with its own sentence.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/vcpu_state.h"
#include "util/log.h"
#include "tap.h"

#define NR_TEST_MSRS 40

/* Every byte of `p` from a seed, so that no two structures look alike. */
static void fill(void *p, size_t size, uint8_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)(seed + i * 7);
}

static void distinctive_vcpu(struct hv_vcpu_state *s, uint8_t seed)
{
	memset(s, 0, sizeof(*s));
	fill(&s->regs, sizeof(s->regs), seed);
	fill(&s->sregs, sizeof(s->sregs), seed + 1);
	fill(&s->xsave, sizeof(s->xsave), seed + 2);
	fill(&s->xcrs, sizeof(s->xcrs), seed + 3);
	fill(&s->lapic, sizeof(s->lapic), seed + 4);
	fill(&s->events, sizeof(s->events), seed + 5);
	fill(&s->mp_state, sizeof(s->mp_state), seed + 6);
	fill(&s->debugregs, sizeof(s->debugregs), seed + 7);
	s->nr_msrs = NR_TEST_MSRS;
	for (uint32_t i = 0; i < NR_TEST_MSRS; i++)
		s->msrs[i] = (struct kvm_msr_entry){ .index = 0xc0000000 + i,
						     .data = 0x1234567800000000ull + i + seed };
}

static void distinctive_vm(struct hv_vm_state *s)
{
	fill(s, sizeof(*s), 0x40);
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
}

static uint8_t *finish(struct state_writer *w, size_t *len)
{
	uint8_t *blob = NULL;
	if (state_writer_finish(w, &blob, len) != 0)
		abort();
	return blob;
}

/* vCPUs 0 and 1 and the VM sections in one blob. */
static uint8_t *good_blob(const struct hv_vcpu_state *v0, const struct hv_vcpu_state *v1,
			  const struct hv_vm_state *vm, size_t *len)
{
	struct state_writer w;
	state_writer_init(&w);
	x86_save_vcpu(&w, 0, v0);
	x86_save_vcpu(&w, 1, v1);
	x86_save_vm(&w, vm);
	return finish(&w, len);
}

static struct state_reader open_blob(const uint8_t *blob, size_t len)
{
	struct state_reader r;
	const char *why;
	if (state_reader_open(&r, blob, len, &why) != 0)
		abort();
	return r;
}

/* Where a VCPU payload holds structure `n`'s size, and the MSR count. */
static size_t vcpu_size_offset(unsigned n)
{
	const size_t sizes[] = {
		sizeof(struct kvm_regs), sizeof(struct kvm_sregs), sizeof(struct kvm_xsave),
		sizeof(struct kvm_xcrs), sizeof(struct kvm_lapic_state),
		sizeof(struct kvm_vcpu_events), sizeof(struct kvm_mp_state),
		sizeof(struct kvm_debugregs),
	};
	size_t off = 0;
	for (unsigned i = 0; i < n; i++)
		off += 4 + sizes[i];
	return off;
}

#define XSAVE_STRUCT   2
#define VCPU_STRUCTS   8
#define NR_MSRS_OFFSET vcpu_size_offset(VCPU_STRUCTS)

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * A blob holding section (tag, instance) with `payload` of `len` bytes,
 * and the sections of `from` except that one.
 */
static uint8_t *blob_with(const struct state_reader *from, uint32_t tag, uint32_t instance,
			  const uint8_t *payload, size_t len, size_t *out_len)
{
	struct state_writer w;
	state_writer_init(&w);
	for (uint32_t i = 0; i < from->nr_sections; i++) {
		struct state_section sec;
		state_section_at(from, i, &sec);
		if (sec.tag == tag && sec.instance == instance)
			continue;
		state_begin(&w, sec.tag, sec.instance);
		state_put_bytes(&w, sec.data, sec.len);
		state_end(&w);
	}
	if (payload) {
		state_begin(&w, tag, instance);
		state_put_bytes(&w, payload, len);
		state_end(&w);
	}
	return finish(&w, out_len);
}

/* A copy of section (tag, instance)'s payload with `extra` spare bytes after it. */
static uint8_t *payload_copy(const struct state_reader *r, uint32_t tag, uint32_t instance,
			     size_t extra, size_t *len)
{
	struct state_section sec;
	if (state_find(r, tag, instance, &sec) != 0)
		abort();
	uint8_t *p = calloc(1, sec.len + extra);
	memcpy(p, sec.data, sec.len);
	*len = sec.len;
	return p;
}

static bool last_error_says(const char *words)
{
	return strstr(log_last_error(), words) != NULL;
}

/* Loads vCPU 1 from `r` after replacing its section with `payload`: the result and the message. */
static int load_vcpu_with(const struct state_reader *r, const uint8_t *payload, size_t len)
{
	static struct hv_vcpu_state s;
	size_t blob_len;
	uint8_t *blob = blob_with(r, STATE_TAG_VCPU, 1, payload, len, &blob_len);
	struct state_reader damaged = open_blob(blob, blob_len);
	log_clear_last_error();
	int ret = x86_load_vcpu(&damaged, 1, &s);
	free(blob);
	return ret;
}

static void test_vcpu_corruption(const struct state_reader *r)
{
	static struct hv_vcpu_state s;
	size_t len;
	uint8_t *p = payload_copy(r, STATE_TAG_VCPU, 1, 4, &len);

	log_clear_last_error();
	CHECK(x86_load_vcpu(r, 2, &s) == -EINVAL && last_error_says("vCPU 2 state: missing"),
	      "a vCPU without a section: \"%s\"", log_last_error());

	size_t xsave_at = vcpu_size_offset(XSAVE_STRUCT);
	put_le32(p + xsave_at, 2048);
	CHECK(load_vcpu_with(r, p, len) == -EINVAL &&
	      last_error_says("vCPU 1 state: the xsave area is 2048 bytes, this vmon's KVM uses 4096"),
	      "an xsave area of another size: \"%s\"", log_last_error());
	put_le32(p + xsave_at, sizeof(struct kvm_xsave));

	put_le32(p + NR_MSRS_OFFSET, HV_MAX_MSRS + 1);
	CHECK(load_vcpu_with(r, p, len) == -EINVAL && last_error_says("257 MSRs, more than the 256"),
	      "more MSRs than a state holds: \"%s\"", log_last_error());
	put_le32(p + NR_MSRS_OFFSET, NR_TEST_MSRS);

	CHECK(load_vcpu_with(r, p, len) == 0, "the repaired payload loads again");
	CHECK(load_vcpu_with(r, p, len - 5) == -EINVAL && last_error_says("ends inside the MSRs"),
	      "truncated in the MSRs: \"%s\"", log_last_error());
	CHECK(load_vcpu_with(r, p, 100) == -EINVAL && last_error_says("ends inside the general register set"),
	      "truncated in the first structure: \"%s\"", log_last_error());
	CHECK(load_vcpu_with(r, p, 2) == -EINVAL && last_error_says("ends inside the general register set"),
	      "truncated in the first size: \"%s\"", log_last_error());
	CHECK(load_vcpu_with(r, p, NR_MSRS_OFFSET + 2) == -EINVAL && last_error_says("ends inside the MSRs"),
	      "truncated in the MSR count: \"%s\"", log_last_error());
	CHECK(load_vcpu_with(r, p, len + 4) == -EINVAL && last_error_says("the section is 4 bytes longer than its fields"),
	      "longer than its fields: \"%s\"", log_last_error());
	CHECK(load_vcpu_with(r, p, 0) == -EINVAL, "an empty section");
	free(p);
}

static int load_vm_with(const struct state_reader *r, uint32_t tag, const uint8_t *payload, size_t len)
{
	struct hv_vm_state s;
	size_t blob_len;
	uint8_t *blob = blob_with(r, tag, 0, payload, len, &blob_len);
	struct state_reader damaged = open_blob(blob, blob_len);
	log_clear_last_error();
	int ret = x86_load_vm(&damaged, &s);
	free(blob);
	return ret;
}

static void test_vm_corruption(const struct state_reader *r)
{
	size_t len;
	CHECK(load_vm_with(r, STATE_TAG_IRQCHIP, NULL, 0) == -EINVAL &&
	      last_error_says("interrupt controller state: missing"),
	      "no IRQC section: \"%s\"", log_last_error());
	CHECK(load_vm_with(r, STATE_TAG_CLOCK, NULL, 0) == -EINVAL && last_error_says("KVM clock state: missing"),
	      "no CLCK section: \"%s\"", log_last_error());

	uint8_t *p = payload_copy(r, STATE_TAG_PIT, 0, 0, &len);
	put_le32(p, sizeof(struct kvm_pit_state2) - 8);
	CHECK(load_vm_with(r, STATE_TAG_PIT, p, len) == -EINVAL && last_error_says("the PIT state is"),
	      "a PIT state of another size: \"%s\"", log_last_error());
	free(p);

	p = payload_copy(r, STATE_TAG_CLOCK, 0, 0, &len);
	CHECK(load_vm_with(r, STATE_TAG_CLOCK, p, len - 1) == -EINVAL && last_error_says("ends inside the clock state"),
	      "a truncated clock: \"%s\"", log_last_error());
	free(p);

	/* The slave PIC's chip_id, the first field of the second kvm_irqchip. */
	p = payload_copy(r, STATE_TAG_IRQCHIP, 0, 0, &len);
	put_le32(p + 4 + sizeof(struct kvm_irqchip) + 4, KVM_IRQCHIP_IOAPIC);
	CHECK(load_vm_with(r, STATE_TAG_IRQCHIP, p, len) == -EINVAL &&
	      last_error_says("the slave PIC says it is chip 2, not 1"),
	      "a chip that says it is another: \"%s\"", log_last_error());
	free(p);
}

int main(void)
{
	static struct hv_vcpu_state v0, v1, got;
	struct hv_vm_state vm, vm_got;
	distinctive_vcpu(&v0, 0x10);
	distinctive_vcpu(&v1, 0x80);
	distinctive_vm(&vm);
	size_t len;
	uint8_t *blob = good_blob(&v0, &v1, &vm, &len);
	struct state_reader r = open_blob(blob, len);

	CHECK(x86_load_vcpu(&r, 1, &got) == 0 && memcmp(&got, &v1, sizeof(got)) == 0,
	      "vCPU 1: every structure and MSR back as saved");
	CHECK(x86_load_vcpu(&r, 0, &got) == 0 && memcmp(&got, &v0, sizeof(got)) == 0,
	      "vCPU 0 from its own section");
	CHECK(x86_load_vm(&r, &vm_got) == 0 && memcmp(&vm_got, &vm, sizeof(vm)) == 0,
	      "the PICs, IOAPIC, PIT and clock back as saved");

	struct state_writer w;
	state_writer_init(&w);
	v0.nr_msrs = 0;
	x86_save_vcpu(&w, 3, &v0);
	uint8_t *no_msrs = finish(&w, &len);
	struct state_reader r0 = open_blob(no_msrs, len);
	CHECK(x86_load_vcpu(&r0, 3, &got) == 0 && got.nr_msrs == 0 &&
	      memcmp(&got.regs, &v0.regs, sizeof(got.regs)) == 0, "a vCPU without MSRs");
	free(no_msrs);

	test_vcpu_corruption(&r);
	test_vm_corruption(&r);
	free(blob);
	return tap_finish();
}

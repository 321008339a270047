/* CPUID topology for N vCPUs, on a synthetic "supported" set. */
#include <cpuid.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpuid.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"
#include "util/log.h"

static struct kvm_cpuid2 *supported_set(void)
{
	static const struct kvm_cpuid_entry2 entries[] = {
		{ .function = 0x1, .ebx = 0x00000800, .edx = 0 },
		{ .function = 0x4, .index = 0, .eax = 0xfc004121 },
		{ .function = 0xb, .index = 0 },
		{ .function = 0xb, .index = 1 },
		{ .function = 0xb, .index = 2 },
		{ .function = 0x80000008, .ecx = 0xf00f },
		{ .function = 0x8000001e },
		{ .function = 0x40000000, .ebx = 0x4b4d564b },
	};
	size_t n = sizeof(entries) / sizeof(entries[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(entries[0]));
	c->nent = n;
	memcpy(c->entries, entries, sizeof(entries));
	return c;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/* cpuid_check_saved of the set `saved` (as a state) against `here`; the log line in *why. */
static int check_against(const struct kvm_cpuid2 *saved, const struct kvm_cpuid2 *here, const char **why)
{
	struct state_writer w;
	state_writer_init(&w);
	cpuid_save(&w, saved, 2);
	struct state_reader r;
	uint8_t *blob = state_blob_open(&w, &r);
	log_clear_last_error();
	int ret = cpuid_check_saved(&r, here, 2);
	*why = log_last_error();
	free(blob);
	return ret;
}

static void test_saved_set(void)
{
	struct kvm_cpuid2 *a = supported_set(), *b = supported_set();
	const char *why;
	CHECK(check_against(a, b, &why) == 0, "the same set: the VM may run here");
	b->entries[0].ebx |= 7u << 24; /* leaf 1's APIC ID: as some KVMs fill it, from the host CPU */
	CHECK(check_against(a, b, &why) == 0, "the topology fields vmon writes itself do not count");

	b->entries[0].ecx |= 1u << 28; /* leaf 1 ECX: AVX */
	CHECK(check_against(a, b, &why) == -EINVAL && strstr(why, "CPUID leaf 0x1.0"),
	      "one feature bit more here: refused, naming the leaf (%s)", why);
	b->entries[0].ecx = a->entries[0].ecx;

	b->entries[4].function = 0x80000003; /* what was leaf 0xb.2 becomes a brand leaf */
	a->entries[4].function = 0x80000003;
	a->entries[4].eax = 0x41414141;
	CHECK(check_against(a, b, &why) == 0, "a different brand string: the VM may run here");

	b->entries[1].function = 0x5;
	CHECK(check_against(a, b, &why) == -EINVAL && strstr(why, "lacks CPUID leaf 0x4.0"),
	      "a leaf the VM had is missing here: refused (%s)", why);
	b->entries[1].function = 0x4;

	b->nent--;
	CHECK(check_against(a, b, &why) == -EINVAL && strstr(why, "another set of CPUID leaves"),
	      "fewer leaves here: refused (%s)", why);
	b->nent++;

	struct state_reader r;
	uint8_t *blob = state_blob_without_devices(&r);
	CHECK(cpuid_check_saved(&r, b, 2) == -EINVAL, "a state without a CPUID section is refused");
	free(blob);

	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_CPUID, 0);
	state_put_u32(&w, b->nent);
	state_put_u32(&w, 0x1);
	state_end(&w);
	blob = state_blob_open(&w, &r);
	log_clear_last_error();
	CHECK(cpuid_check_saved(&r, b, 2) == -EINVAL && strstr(log_last_error(), "corrupt"),
	      "a CPUID section cut short is refused as corrupt");
	free(blob);
	free(a);
	free(b);
}

int main(void)
{
	struct kvm_cpuid2 *sup = supported_set();
	test_saved_set();

	struct kvm_cpuid2 *c = cpuid_for_vcpu(sup, 2, 3);
	const struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	CHECK(l1->ebx >> 24 == 2, "leaf 1: initial APIC ID is the vCPU index");
	CHECK(((l1->ebx >> 16) & 0xff) == 4, "leaf 1: logical count rounded to a power of two");
	CHECK((l1->ebx & 0xffff) == 0x0800, "leaf 1: CLFLUSH size and brand kept");
	CHECK(l1->edx & (1u << 28), "leaf 1: HTT set with several CPUs");
	CHECK(l1->ecx & (1u << 31), "leaf 1: hypervisor bit set");
	CHECK((find(c, 4, 0)->eax >> 26) == 3, "leaf 4: cores per package - 1");
	CHECK((find(c, 4, 0)->eax & 0x03ffffff) == (0xfc004121 & 0x03ffffff), "leaf 4: cache fields kept");
	const struct kvm_cpuid_entry2 *smt = find(c, 0xb, 0), *core = find(c, 0xb, 1), *end = find(c, 0xb, 2);
	CHECK(smt->ebx == 1 && ((smt->ecx >> 8) & 0xff) == 1, "leaf 0xB: one thread per core");
	CHECK(core->eax == 2 && core->ebx == 3 && ((core->ecx >> 8) & 0xff) == 2, "leaf 0xB: 3 cores, 2 ID bits");
	CHECK(end->ebx == 0 && ((end->ecx >> 8) & 0xff) == 0, "leaf 0xB: level 2 is invalid");
	CHECK(smt->edx == 2 && core->edx == 2, "leaf 0xB: x2APIC ID in EDX");
	CHECK((find(c, 0x80000008, 0)->ecx & 0xff) == 2, "AMD: NC = cores - 1");
	CHECK(((find(c, 0x80000008, 0)->ecx >> 12) & 0xf) == 2, "AMD: ApicIdCoreIdSize");
	CHECK(find(c, 0x8000001e, 0)->eax == 2, "AMD: extended APIC ID");
	CHECK(find(c, 0x40000000, 0)->ebx == 0x4b4d564b, "other leaves untouched");
	free(c);

	c = cpuid_for_vcpu(sup, 0, 1);
	l1 = find(c, 1, 0);
	CHECK(!(l1->edx & (1u << 28)) && l1->ebx >> 24 == 0, "one CPU: no HTT, APIC ID 0");
	CHECK(find(c, 0xb, 1)->eax == 0 && find(c, 0xb, 1)->ebx == 1, "one CPU: 0xB core level has one core");
	free(c);
	for (unsigned n = 129; n <= 254; n += 125) {
		c = cpuid_for_vcpu(sup, 1, n);
		l1 = find(c, 1, 0);
		CHECK(l1->ebx >> 24 == 1, "%u CPUs: APIC ID not clobbered by the count", n);
		CHECK(((l1->ebx >> 16) & 0xff) == 255, "%u CPUs: leaf 1 count saturates at 255", n);
		CHECK((find(c, 4, 0)->eax >> 26) == 63, "%u CPUs: leaf 4 cores saturate at 63", n);
		free(c);
	}
	CHECK(sup->entries[0].ebx == 0x800, "the supported set itself is not modified");

	struct kvm_cpuid2 *brand = calloc(1, sizeof(*brand) + 4 * sizeof(brand->entries[0]));
	brand->nent = 4;
	for (unsigned i = 0; i < 3; i++)
		brand->entries[i].function = 0x80000002 + i;
	brand->entries[1].eax = 0x41414141; /* already filled: kept */
	brand->entries[3].function = 0x80000005;
	cpuid_fill_host_brand(brand);
	unsigned a, b, cx, d;
	__cpuid(0x80000002, a, b, cx, d);
	CHECK(brand->entries[0].eax == a && brand->entries[0].edx == d, "empty brand leaf filled from the host");
	CHECK(brand->entries[1].eax == 0x41414141 && brand->entries[1].ebx == 0, "filled brand leaf kept");
	CHECK(brand->entries[3].eax == 0, "other leaves untouched by the brand fill");
	free(brand);
	free(sup);
	return tap_finish();
}

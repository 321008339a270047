/*
 * The machine's MSI routes without KVM: this file defines the four
 * hypervisor calls msi.c makes (so the linker takes them from here, not
 * from kvm.c), records the table each install hands KVM, and drives the
 * routes through a fake interrupt remapper: translated messages, blocked
 * routes left out, refreshes, the IOAPIC pins' routes and source id, and
 * single messages through the remapper.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "hv/hv.h"
#include "tap.h"
#include "vmm/msi.h"

/* ---- the hypervisor, faked ---- */

static struct {
	unsigned installs;
	unsigned nr;
	struct hv_msi_route table[MSI_MAX_PINS + MSI_MAX_ROUTES];
	unsigned signals;
	uint64_t signal_address;
	uint32_t signal_data;
} kvm;

int hv_vm_set_msi_routes(struct hv_vm *vm, const struct hv_msi_route *routes, unsigned count)
{
	(void)vm;
	kvm.installs++;
	kvm.nr = count;
	memcpy(kvm.table, routes, count * sizeof(*routes));
	return 0;
}

int hv_vm_add_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi)
{
	(void)vm;
	(void)eventfd;
	(void)gsi;
	return 0;
}

int hv_vm_remove_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi)
{
	(void)vm;
	(void)eventfd;
	(void)gsi;
	return 0;
}

int hv_vm_signal_msi(struct hv_vm *vm, uint64_t address, uint32_t data)
{
	(void)vm;
	kvm.signals++;
	kvm.signal_address = address;
	kvm.signal_data = data;
	return 0;
}

/* The route KVM has for `gsi`, or NULL. */
static const struct hv_msi_route *kvm_route(uint32_t gsi)
{
	for (unsigned i = 0; i < kvm.nr; i++)
		if (kvm.table[i].gsi == gsi)
			return &kvm.table[i];
	return NULL;
}

/* ---- the remapper, faked ---- */

#define BLOCKED_SOURCE 0x0010

/* Blocks one requester; puts the requester id in data bits 31:16 of the others, to see it. */
static struct {
	unsigned calls;
	bool block_all;
	bool fault_event; /* send a message of its own while translating, as VT-d's fault event */
	bool in_fault_event;
	unsigned faults;  /* blocked with record_fault */
} fake;

static int fake_remap(void *ctx, uint16_t source_id, uint64_t *address, uint32_t *data,
		      bool record_fault)
{
	(void)address;
	fake.calls++;
	if (fake.fault_event && !fake.in_fault_event) {
		fake.in_fault_event = true;
		msi_routes_signal(ctx, 0x00ff, 0xfee00000, 0x7e);
		fake.in_fault_event = false;
	}
	if (fake.block_all || source_id == BLOCKED_SOURCE) {
		fake.faults += record_fault;
		return -EPERM;
	}
	*data |= (uint32_t)source_id << 16;
	return 0;
}

static const struct msi_remapper remapper = { .remap = fake_remap };

static void test_routes(struct msi_routes *r)
{
	uint32_t a = 0, b = 0;
	int fa = msi_routes_create(r, &a), fb = msi_routes_create(r, &b);
	CHECK(fa >= 0 && fb >= 0 && a == HV_FIRST_MSI_GSI && b == a + 1, "two irqfd GSIs from 24 up");
	CHECK(msi_routes_set(r, a, 0x0008, true, 0xfee00000, 0x41) == 0 && kvm.nr == 1 &&
	      kvm_route(a) && kvm_route(a)->data == 0x41, "a route reaches KVM's table as programmed");
	unsigned installs = kvm.installs;
	CHECK(msi_routes_set(r, a, 0x0008, true, 0xfee00000, 0x41) == 0 && kvm.installs == installs,
	      "the same route again: the table is not rewritten");
	CHECK(msi_routes_set(r, a, 0x0018, true, 0xfee00000, 0x41) == 0 && kvm.installs == installs + 1,
	      "another requester is a change");
	CHECK(msi_routes_set(r, b, BLOCKED_SOURCE, true, 0xfee00000, 0x42) == 0 && kvm.nr == 2,
	      "without a remapper every enabled route is in the table");
	CHECK(msi_routes_set(r, 500, 0x0008, true, 0xfee00000, 0x42) == -EINVAL &&
	      msi_routes_set(r, 3, 0x0008, true, 0xfee00000, 0x42) == -EINVAL,
	      "GSIs never created (the IOAPIC's pins among them) are refused");

	CHECK(msi_routes_set_pin(r, 3, true, 0xfee01000, 0xc033) == 0 && kvm.nr == 3 && kvm_route(3) &&
	      kvm.table[0].gsi == 3, "an IOAPIC pin's route, on GSI 3, first in the table");
	CHECK(msi_routes_set_pin(r, MSI_MAX_PINS, true, 0, 0) == -EINVAL, "pin 24 does not exist");

	fake.calls = 0;
	CHECK(msi_routes_set_remapper(r, &remapper) == 0, "a remapper set: every route installed again");
	CHECK(kvm.nr == 2 && kvm_route(a) && kvm_route(a)->data == (0x0018u << 16 | 0x41),
	      "each route as the remapper translates it, for its requester");
	CHECK(!kvm_route(b), "a route the remapper blocks is left out of KVM's table");
	CHECK(kvm_route(3) && kvm_route(3)->data == ((uint32_t)LAYOUT_IOAPIC_SOURCE_ID << 16 | 0xc033),
	      "the IOAPIC's pin goes through it as requester %#x", LAYOUT_IOAPIC_SOURCE_ID);
	CHECK(fake.calls == 3, "three enabled routes, three translations (%u)", fake.calls);

	fake.faults = 0;
	CHECK(msi_routes_refresh(r) == 0 && msi_routes_refresh(r) == 0 && fake.faults == 0,
	      "the blocked route's fault was recorded once: installing again records none");
	CHECK(msi_routes_set(r, b, BLOCKED_SOURCE, true, 0xfee00000, 0x43) == 0 && fake.faults == 1,
	      "its message reprogrammed and still blocked: recorded again");
	CHECK(msi_routes_signal(r, BLOCKED_SOURCE, 0xfee00000, 0x43) == -EPERM && fake.faults == 2,
	      "a message signalled directly records each time");

	fake.calls = 0;
	CHECK(msi_routes_set(r, b, 0x0020, false, 0, 0) == 0 && fake.calls == 2,
	      "a disabled route is not translated");
	fake.block_all = true;
	installs = kvm.installs;
	CHECK(msi_routes_refresh(r) == 0 && kvm.installs == installs + 1 && kvm.nr == 0,
	      "refresh: translated anew, now all blocked: an empty table");
	fake.block_all = false;
	CHECK(msi_routes_refresh(r) == 0 && kvm.nr == 2, "refresh again: both back");

	msi_routes_release(r, a, fa);
	CHECK(kvm.nr == 1 && !kvm_route(a), "a released route leaves the table");
	msi_routes_release(r, b, fb);
}

static void test_signal(struct msi_routes *r)
{
	kvm.signals = 0;
	CHECK(msi_routes_signal(r, 0x0008, 0xfee00000, 0x51) == 0 && kvm.signals == 1 &&
	      kvm.signal_data == (0x0008u << 16 | 0x51), "a message goes through the remapper, then to KVM");
	CHECK(msi_routes_signal(r, BLOCKED_SOURCE, 0xfee00000, 0x52) == -EPERM && kvm.signals == 1,
	      "a blocked message is not delivered (-EPERM)");
	CHECK(msi_routes_set_remapper(r, NULL) == 0 && kvm.nr == 1 && kvm_route(3)->data == 0xc033,
	      "the remapper cleared: routes as programmed again");
	CHECK(msi_routes_signal(r, BLOCKED_SOURCE, 0xfee00000, 0x52) == 0 && kvm.signals == 2 &&
	      kvm.signal_data == 0x52, "and messages too");
}

/* A remapper may send a message (a fault event) while a table is installed: no deadlock. */
static void test_message_while_installing(struct msi_routes *r)
{
	struct msi_remapper own = { .remap = fake_remap, .ctx = r };
	CHECK(msi_routes_set_remapper(r, &own) == 0, "a remapper that signals while it translates");
	fake.fault_event = true;
	unsigned signals = kvm.signals;
	CHECK(msi_routes_refresh(r) == 0 && kvm.signals == signals + 1,
	      "its message goes out in the middle of the install");
	fake.fault_event = false;
	msi_routes_set_remapper(r, NULL);
}

int main(void)
{
	struct msi_routes r;
	msi_routes_init(&r, (struct hv_vm *)&kvm); /* never dereferenced: the fakes ignore it */
	test_routes(&r);
	test_signal(&r);
	test_message_while_installing(&r);
	msi_routes_destroy(&r);
	return tap_finish();
}

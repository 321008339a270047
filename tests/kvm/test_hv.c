/*
 * The hypervisor layer on the real /dev/kvm: ioeventfd (a guest write that
 * signals an eventfd in the kernel instead of exiting), MSI routes and
 * irqfds. The guest is a few real-mode instructions.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/hv.h"
#include "vmm/msi.h"
#include "tap.h"

#define RAM_SIZE (2u << 20)

/* mov al, 0x5a; out 0x10, al; out 0x11, al; hlt */
static const uint8_t guest_code[] = { 0xb0, 0x5a, 0xe6, 0x10, 0xe6, 0x11, 0xf4 };

static int start_real_mode(struct hv_vcpu *vcpu)
{
	struct kvm_sregs s;
	int ret = hv_vcpu_get_sregs(vcpu, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	struct kvm_regs r = { .rip = 0x1000, .rflags = 2 };
	return ret ? ret : hv_vcpu_set_sregs(vcpu, &s) ? -1 : hv_vcpu_set_regs(vcpu, &r);
}

int main(void)
{
	struct hv *hv;
	struct hv_vm *vm;
	struct hv_vcpu *vcpu;
	if (hv_open(&hv) < 0 || hv_vm_create(hv, &vm) < 0) {
		CHECK(0, "open /dev/kvm and create a VM");
		return tap_finish();
	}
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(ram + 0x1000, guest_code, sizeof(guest_code));
	CHECK(hv_vm_map_memory(vm, 0, 0, RAM_SIZE, ram) == 0, "map guest RAM");
	CHECK(hv_vm_create_irqchip(vm) == 0, "in-kernel irqchip");
	CHECK(hv_vcpu_create(vm, 0, &vcpu) == 0 && start_real_mode(vcpu) == 0, "vCPU in real mode");

	int efd = eventfd(0, EFD_NONBLOCK);
	CHECK(hv_vm_add_ioeventfd(vm, efd, 0x10, 1, true) == 0, "ioeventfd on port 0x10");
	struct hv_exit exit;
	CHECK(hv_vcpu_run(vcpu, &exit) == 0 && exit.kind == HV_EXIT_IO && exit.io.port == 0x11,
	      "the write to port 0x10 does not exit; the next one (0x11) does");
	uint64_t count = 0;
	CHECK(read(efd, &count, sizeof(count)) == sizeof(count) && count == 1,
	      "the eventfd was signalled once");
	CHECK(hv_vm_remove_ioeventfd(vm, efd, 0x10, 1, true) == 0, "ioeventfd removed");
	CHECK(hv_vm_remove_ioeventfd(vm, efd, 0x10, 1, true) < 0, "removing it twice fails");

	struct hv_msi_route routes[2] = {
		{ .gsi = HV_FIRST_MSI_GSI, .address = 0xfee00000, .data = 0x41 },
		{ .gsi = HV_FIRST_MSI_GSI + 1, .address = 0xfee01000, .data = 0x42 },
	};
	CHECK(hv_vm_set_msi_routes(vm, routes, 2) == 0, "MSI routes beside the irqchip's");
	CHECK(hv_vm_set_irq_line(vm, 4, 1) == 0 && hv_vm_set_irq_line(vm, 4, 0) == 0,
	      "KVM_IRQ_LINE still accepted after replacing the table");
	int ifd = eventfd(0, EFD_NONBLOCK);
	CHECK(hv_vm_add_irqfd(vm, ifd, HV_FIRST_MSI_GSI) == 0, "irqfd on an MSI GSI");
	uint64_t one = 1;
	CHECK(write(ifd, &one, sizeof(one)) == sizeof(one), "signal the irqfd");
	CHECK(hv_vm_remove_irqfd(vm, ifd, HV_FIRST_MSI_GSI) == 0, "irqfd removed");
	CHECK(hv_vm_signal_msi(vm, 0xfee00000, 0x43) == 0, "KVM_SIGNAL_MSI accepted");
	CHECK(hv_vm_set_msi_routes(vm, NULL, 0) == 0, "MSI routes cleared");

	/* The machine's route table on top: a GSI and an irqfd per interrupt. */
	struct msi_routes mr;
	msi_routes_init(&mr, vm);
	uint32_t g1 = 0, g2 = 0;
	int f1 = msi_routes_create(&mr, &g1), f2 = msi_routes_create(&mr, &g2);
	CHECK(f1 >= 0 && f2 >= 0 && g1 == HV_FIRST_MSI_GSI && g2 == g1 + 1, "two irqfd GSIs from 24 up");
	CHECK(msi_routes_set(&mr, g1, true, 0xfee00000, 0x51) == 0, "route the first to a message");
	CHECK(msi_routes_set(&mr, g1, true, 0xfee00000, 0x51) == 0, "the same route again is fine");
	CHECK(msi_routes_set(&mr, g2, false, 0, 0) == 0, "a disabled route");
	CHECK(msi_routes_set(&mr, g2 + 5, true, 0xfee00000, 0x52) < 0, "a GSI never created is refused");
	CHECK(write(f1, &one, sizeof(one)) == sizeof(one), "raise it through its eventfd");
	msi_routes_release(&mr, g1, f1);
	uint32_t g3 = 0;
	int f3 = msi_routes_create(&mr, &g3);
	CHECK(f3 >= 0 && g3 == g1, "a released GSI is reused");
	msi_routes_release(&mr, g2, f2);
	msi_routes_release(&mr, g3, f3);
	msi_routes_destroy(&mr);

	close(efd);
	close(ifd);
	hv_vcpu_destroy(vcpu);
	hv_vm_destroy(vm);
	hv_close(hv);
	munmap(ram, RAM_SIZE);
	return tap_finish();
}

/*
 * The hypervisor layer on the real /dev/kvm: ioeventfd (a guest write that
 * signals an eventfd in the kernel instead of exiting), MSI routes and
 * irqfds, the whole vCPU and VM state carried to another VM, dirty page
 * logging, and the split irqchip with vmon's IOAPIC (level-triggered
 * interrupts and their EOIs). The guests are a few real-mode instructions.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/ioapic.h"
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

static enum hv_host_kind host_kind;

/* The errors of a KVM without an ioctl or capability: the test skips, not fails. */
static bool unsupported(int ret)
{
	return ret == -ENOTSUP || ret == -ENOTTY;
}

#define MSR_IA32_TSC          0x10
#define MSR_KVM_SYSTEM_TIME   0x4b564d01
#define TSC_RESTORED          (1ull << 40)

/* MSRs set to values a fresh vCPU does not have (only those KVM lists are set). */
static const struct kvm_msr_entry distinctive_msrs[] = {
	{ .index = MSR_IA32_TSC, .data = TSC_RESTORED },
	{ .index = 0x174, .data = 0x10 },                     /* SYSENTER_CS */
	{ .index = 0x175, .data = 0xffffffff8000a000ull },    /* SYSENTER_ESP */
	{ .index = 0x176, .data = 0xffffffff8100b000ull },    /* SYSENTER_EIP */
	{ .index = 0x277, .data = 0x0001050400070406ull },    /* PAT */
	{ .index = 0xc0000081, .data = 0x0023001000000000ull }, /* STAR */
	{ .index = 0xc0000082, .data = 0xffffffff81c00000ull }, /* LSTAR */
	{ .index = 0xc0000084, .data = 0x47700 },             /* SFMASK */
	{ .index = 0xc0000102, .data = 0xffff888012340000ull }, /* KERNEL_GS_BASE */
};

static struct kvm_msr_entry *find_msr(struct hv_vcpu_state *s, uint32_t index)
{
	for (uint32_t i = 0; i < s->nr_msrs; i++)
		if (s->msrs[i].index == index)
			return &s->msrs[i];
	return NULL;
}

static void set_lapic_reg(struct kvm_lapic_state *lapic, unsigned offset, uint32_t value)
{
	memcpy(&lapic->regs[offset], &value, sizeof(value));
}

static uint32_t lapic_reg(const struct kvm_lapic_state *lapic, unsigned offset)
{
	uint32_t value;
	memcpy(&value, &lapic->regs[offset], sizeof(value));
	return value;
}

/* LAPIC task priority and spurious vector registers (Intel SDM vol. 3A §11.4.1). */
#define APIC_TPR  0x80
#define APIC_SPIV 0xf0

/* XSAVE legacy area (Intel SDM vol. 1 §10.5.1): FCW at 0, MXCSR at 24, XMM0 at 160. */
#define XSAVE_FCW   0
#define XSAVE_MXCSR 24
#define XSAVE_XMM0  160

static const uint8_t xmm0_pattern[16] = "vmon-xmm0-state!";

/* Gives every part of the state a value a fresh vCPU would not have. */
static void make_distinctive(struct hv_vcpu_state *s)
{
	for (size_t i = 0; i < sizeof(distinctive_msrs) / sizeof(distinctive_msrs[0]); i++) {
		struct kvm_msr_entry *e = find_msr(s, distinctive_msrs[i].index);
		if (e)
			e->data = distinctive_msrs[i].data;
	}
	uint8_t *legacy = (uint8_t *)s->xsave.region;
	uint16_t fcw = 0x27f;
	uint32_t mxcsr = 0x1fa0;
	memcpy(legacy + XSAVE_FCW, &fcw, sizeof(fcw));
	memcpy(legacy + XSAVE_MXCSR, &mxcsr, sizeof(mxcsr));
	memcpy(legacy + XSAVE_XMM0, xmm0_pattern, sizeof(xmm0_pattern));
	legacy[512] |= 3; /* XSTATE_BV: x87 and SSE are in use */
	s->xcrs.nr_xcrs = 1;
	s->xcrs.xcrs[0] = (struct kvm_xcr){ .xcr = 0, .value = 3 }; /* XCR0: x87 and SSE */
	set_lapic_reg(&s->lapic, APIC_TPR, 0x30);
	s->sregs.cr8 = 0x3; /* CR8 is TPR[7:4] (Intel SDM vol. 3A §10.8.6.1) */
	set_lapic_reg(&s->lapic, APIC_SPIV, 0x1ff);
	s->events.nmi.masked = 1;
	s->mp_state.mp_state = KVM_MP_STATE_HALTED;
	s->debugregs.db[0] = 0x1000;
	s->debugregs.db[3] = 0x4000;
	s->debugregs.dr7 = 0x401;
}

/* Registers a fresh vCPU does not have, set through the ordinary calls. */
static int set_distinctive_registers(struct hv_vcpu *vcpu)
{
	struct kvm_regs r = {
		.rax = 0x1111, .rbx = 0x2222, .rcx = 0x3333, .rdx = 0x4444, .rsi = 0x5555,
		.rdi = 0x6666, .rsp = 0x7ff0, .rbp = 0x8888, .r8 = 0x8, .r15 = 0xf,
		.rip = 0x1234, .rflags = 0x46,
	};
	struct kvm_sregs s;
	int ret = hv_vcpu_get_sregs(vcpu, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	s.es.base = 0x12340;
	s.es.selector = 0x1234;
	s.cr2 = 0xdead000;
	s.gdt = (struct kvm_dtable){ .base = 0x5000, .limit = 0x3f };
	s.idt = (struct kvm_dtable){ .base = 0x6000, .limit = 0x3ff };
	return ret ? ret : hv_vcpu_set_sregs(vcpu, &s) ? -1 : hv_vcpu_set_regs(vcpu, &r);
}

/* A VM with the irqchip and one vCPU as vmon sets it up (CPUID, FPU, LAPIC). */
static int new_vm_and_vcpu(struct hv *hv, const struct kvm_cpuid2 *cpuid,
			   struct hv_vm **vm, struct hv_vcpu **vcpu)
{
	*vm = NULL;
	*vcpu = NULL;
	int ret = hv_vm_create(hv, vm);
	if (ret == 0)
		ret = hv_vm_create_irqchip(*vm);
	if (ret == 0)
		ret = hv_vcpu_create(*vm, 0, vcpu);
	return ret ? ret : x86_vcpu_init(*vcpu, cpuid, 1);
}

/* Every MSR but the TSC, which runs on, has the same value in both. */
static bool same_msrs(struct hv_vcpu_state *a, struct hv_vcpu_state *b)
{
	if (a->nr_msrs != b->nr_msrs)
		return false;
	for (uint32_t i = 0; i < a->nr_msrs; i++) {
		if (a->msrs[i].index != b->msrs[i].index)
			return false;
		if (a->msrs[i].index != MSR_IA32_TSC && a->msrs[i].data != b->msrs[i].data) {
			printf("# MSR %#x: %#llx, then %#llx\n", a->msrs[i].index,
			       (unsigned long long)a->msrs[i].data, (unsigned long long)b->msrs[i].data);
			return false;
		}
	}
	return true;
}

static void check_same_state(struct hv_vcpu_state *want, struct hv_vcpu_state *got, const char *where)
{
	CHECK(memcmp(&want->regs, &got->regs, sizeof(want->regs)) == 0, "%s: general registers", where);
	CHECK(memcmp(&want->sregs, &got->sregs, sizeof(want->sregs)) == 0, "%s: segment and control registers", where);
	CHECK(same_msrs(want, got), "%s: the %u MSRs (the TSC aside)", where, want->nr_msrs);
	const struct kvm_msr_entry *tsc = find_msr(got, MSR_IA32_TSC);
	bool tsc_restored = tsc && tsc->data >= TSC_RESTORED && tsc->data - TSC_RESTORED < (1ull << 36);
	if (!tsc_restored && host_kind == HV_HOST_SOFTWARE)
		SKIP("%s: the TSC: PVM takes a written TSC MSR but the guest keeps reading the host's", where);
	else
		CHECK(tsc_restored, "%s: the TSC goes on from the restored value", where);
	CHECK(memcmp(want->xsave.region, got->xsave.region, 512) == 0 &&
	      memcmp((uint8_t *)got->xsave.region + XSAVE_XMM0, xmm0_pattern, sizeof(xmm0_pattern)) == 0,
	      "%s: x87 and SSE state (XSAVE legacy area)", where);
	CHECK(got->xcrs.nr_xcrs == 1 && got->xcrs.xcrs[0].value == 3, "%s: XCR0", where);
	CHECK(lapic_reg(&got->lapic, APIC_TPR) == 0x30 && lapic_reg(&got->lapic, APIC_SPIV) == 0x1ff,
	      "%s: LAPIC task priority and spurious vector", where);
	CHECK(got->events.nmi.masked == 1, "%s: NMIs still masked", where);
	CHECK(got->mp_state.mp_state == KVM_MP_STATE_HALTED, "%s: MP state halted", where);
	CHECK(got->debugregs.db[0] == 0x1000 && got->debugregs.db[3] == 0x4000 &&
	      got->debugregs.dr7 == want->debugregs.dr7, "%s: debug registers", where);
}

/* The state of `a`, made distinctive, set on `a` itself and on a fresh vCPU in another VM. */
static void carry_vcpu_state(struct hv *hv, const struct kvm_cpuid2 *cpuid, struct hv_vcpu *a,
			     struct hv_vcpu_state *saved, struct hv_vcpu_state *got)
{
	int ret = hv_vcpu_get_state(a, saved);
	if (unsupported(ret)) {
		SKIP("this KVM cannot save a whole vCPU state: %s", strerror(-ret));
		return;
	}
	CHECK(ret == 0, "the whole vCPU state read (%u MSRs)", saved->nr_msrs);
	CHECK(find_msr(saved, MSR_IA32_TSC) && find_msr(saved, MSR_KVM_SYSTEM_TIME),
	      "the TSC and kvmclock MSRs are among them");
	make_distinctive(saved);
	CHECK(hv_vcpu_set_state(a, saved) == 0 && hv_vcpu_get_state(a, got) == 0,
	      "written back to the same vCPU and read again");
	check_same_state(saved, got, "same vCPU");

	struct hv_vm *vm_b = NULL;
	struct hv_vcpu *b = NULL;
	bool ready = new_vm_and_vcpu(hv, cpuid, &vm_b, &b) == 0;
	CHECK(ready, "a fresh vCPU in a second VM");
	if (ready) {
		CHECK(hv_vcpu_set_state(b, saved) == 0 && hv_vcpu_get_state(b, got) == 0,
		      "the state written to it and read back");
		check_same_state(saved, got, "other VM");
		saved->nr_msrs = HV_MAX_MSRS + 1;
		CHECK(hv_vcpu_set_state(b, saved) == -EINVAL, "more MSRs than a state holds: refused");
	}
	hv_vcpu_destroy(b);
	hv_vm_destroy(vm_b);
}

static void test_vcpu_state(struct hv *hv)
{
	struct kvm_cpuid2 *cpuid = hv_get_supported_cpuid(hv);
	struct hv_vm *vm = NULL;
	struct hv_vcpu *vcpu = NULL;
	struct hv_vcpu_state *saved = calloc(1, sizeof(*saved));
	struct hv_vcpu_state *got = calloc(1, sizeof(*got));
	bool ready = cpuid && saved && got && new_vm_and_vcpu(hv, cpuid, &vm, &vcpu) == 0 &&
		     set_distinctive_registers(vcpu) == 0;
	CHECK(ready, "a vCPU with distinctive registers");
	if (ready)
		carry_vcpu_state(hv, cpuid, vcpu, saved, got);
	hv_vcpu_destroy(vcpu);
	hv_vm_destroy(vm);
	free(saved);
	free(got);
	free(cpuid);
}

#define IOAPIC_PIN 5

/* The channels' registers; the load time is the host's clock when KVM loaded the count. */
static bool same_pit_channels(const struct kvm_pit_state2 *a, const struct kvm_pit_state2 *b)
{
	for (int i = 0; i < 3; i++) {
		struct kvm_pit_channel_state x = a->channels[i], y = b->channels[i];
		x.count_load_time = y.count_load_time = 0;
		if (memcmp(&x, &y, sizeof(x)) != 0)
			return false;
	}
	return true;
}

/* The in-kernel PICs, IOAPIC, PIT and clock carried to a second VM. */
static void carry_vm_state(struct hv_vm *vm_a, struct hv_vm *vm_b)
{
	struct hv_vm_state saved, got;
	int ret = hv_vm_get_state(vm_a, &saved);
	if (unsupported(ret)) {
		SKIP("this KVM cannot save the VM state: %s", strerror(-ret));
		return;
	}
	CHECK(ret == 0, "the VM state read");
	saved.pic_master.chip.pic.imr = 0xfb;
	saved.pic_slave.chip.pic.imr = 0xef;
	saved.ioapic.chip.ioapic.redirtbl[IOAPIC_PIN].bits = 0x0000000000010035ull; /* masked, vector 0x35 */
	saved.clock.clock += 1000000000000ull; /* 1000 s on */
	CHECK(hv_vm_set_state(vm_b, &saved) == 0 && hv_vm_get_state(vm_b, &got) == 0,
	      "written to the second VM and read back");
	CHECK(got.pic_master.chip.pic.imr == 0xfb && got.pic_slave.chip.pic.imr == 0xef,
	      "both PICs' interrupt masks");
	CHECK(got.ioapic.chip.ioapic.redirtbl[IOAPIC_PIN].bits ==
	      saved.ioapic.chip.ioapic.redirtbl[IOAPIC_PIN].bits, "an IOAPIC redirection entry");
	CHECK(same_pit_channels(&saved.pit, &got.pit), "the PIT's channels");
	CHECK(got.clock.clock >= saved.clock.clock && got.clock.clock - saved.clock.clock < 10000000000ull,
	      "the clock goes on from the restored value");
}

static void test_vm_state(struct hv *hv)
{
	struct hv_vm *vm_a = NULL, *vm_b = NULL;
	bool ready = hv_vm_create(hv, &vm_a) == 0 && hv_vm_create_irqchip(vm_a) == 0 &&
		     hv_vm_create(hv, &vm_b) == 0 && hv_vm_create_irqchip(vm_b) == 0;
	CHECK(ready, "two VMs with the in-kernel irqchip");
	if (ready)
		carry_vm_state(vm_a, vm_b);
	hv_vm_destroy(vm_a);
	hv_vm_destroy(vm_b);
}

#define DIRTY_RAM_SIZE (64u << 10) /* 16 pages: one bitmap word */
#define PAGE(n)        (1ull << (n))

/*
 * mov al, 0x5a; mov [0x3000], al; mov [0x5000], al; mov [0x7000], al;
 * out 0x12, al; mov [0x5000], al; out 0x13, al; hlt
 * (no stack: only the three data pages are written)
 */
static const uint8_t dirty_code[] = {
	0xb0, 0x5a, 0xa2, 0x00, 0x30, 0xa2, 0x00, 0x50, 0xa2, 0x00, 0x70,
	0xe6, 0x12, 0xa2, 0x00, 0x50, 0xe6, 0x13, 0xf4,
};

static bool runs_to_port(struct hv_vcpu *vcpu, uint16_t port)
{
	struct hv_exit exit;
	return hv_vcpu_run(vcpu, &exit) == 0 && exit.kind == HV_EXIT_IO && exit.io.port == port;
}

/* Logging on, a guest writes three pages: exactly those are logged, once. */
static void watch_dirty_pages(struct hv_vm *vm, struct hv_vcpu *vcpu, uint8_t *ram)
{
	int ret = hv_vm_set_dirty_logging(vm, true);
	if (unsupported(ret)) {
		SKIP("this KVM has no dirty page logging: %s", strerror(-ret));
		return;
	}
	uint64_t bitmap = 0;
	CHECK(ret == 0, "dirty logging on");
	CHECK(runs_to_port(vcpu, 0x12), "the guest writes three pages");
	CHECK(hv_vm_get_dirty_log(vm, 0, &bitmap) == 0 && bitmap == (PAGE(3) | PAGE(5) | PAGE(7)),
	      "exactly pages 3, 5 and 7 are dirty (bitmap %#llx)", (unsigned long long)bitmap);
	bitmap = 0;
	CHECK(hv_vm_get_dirty_log(vm, 0, &bitmap) == 0 && bitmap == 0,
	      "a second read finds none of them (bitmap %#llx)", (unsigned long long)bitmap);
	CHECK(runs_to_port(vcpu, 0x13), "the guest writes page 5 again");
	bitmap = PAGE(15);
	CHECK(hv_vm_get_dirty_log(vm, 0, &bitmap) == 0 && bitmap == (PAGE(5) | PAGE(15)),
	      "page 5 is logged again, ORed into the caller's bits (bitmap %#llx)",
	      (unsigned long long)bitmap);
	bitmap = 0;
	CHECK(hv_vm_map_memory(vm, 1, 1u << 20, DIRTY_RAM_SIZE, ram) == 0 &&
	      hv_vm_get_dirty_log(vm, 1, &bitmap) == 0 && bitmap == 0,
	      "a slot mapped while logging is on is logged too");
	CHECK(hv_vm_get_dirty_log(vm, 2, &bitmap) == -EINVAL, "a slot never mapped has no log");
	CHECK(hv_vm_set_dirty_logging(vm, false) == 0, "dirty logging off");
	CHECK(hv_vm_get_dirty_log(vm, 0, &bitmap) < 0, "no log to read once it is off");
}

/* A VM with DIRTY_RAM_SIZE of RAM at 0 and one vCPU in real mode at `code` (0x1000). */
struct small_vm {
	struct hv_vm *vm;
	struct hv_vcpu *vcpu;
	uint8_t *ram;
};

static bool small_vm_start(struct hv *hv, struct small_vm *v, const uint8_t *code, size_t len)
{
	*v = (struct small_vm){ .ram = mmap(NULL, DIRTY_RAM_SIZE, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) };
	bool ready = v->ram != MAP_FAILED && hv_vm_create(hv, &v->vm) == 0 &&
		     hv_vm_map_memory(v->vm, 0, 0, DIRTY_RAM_SIZE, v->ram) == 0 &&
		     hv_vcpu_create(v->vm, 0, &v->vcpu) == 0 && start_real_mode(v->vcpu) == 0;
	if (ready)
		memcpy(v->ram + 0x1000, code, len);
	return ready;
}

static void small_vm_stop(struct small_vm *v)
{
	hv_vcpu_destroy(v->vcpu);
	hv_vm_destroy(v->vm);
	if (v->ram != MAP_FAILED)
		munmap(v->ram, DIRTY_RAM_SIZE);
}

static void test_dirty_log(struct hv *hv)
{
	struct small_vm v;
	bool ready = small_vm_start(hv, &v, dirty_code, sizeof(dirty_code));
	CHECK(ready, "a VM with 64 KiB of RAM and a real-mode vCPU");
	if (ready) {
		CHECK(hv_vm_map_memory(v.vm, HV_MAX_SLOTS, 1u << 20, DIRTY_RAM_SIZE, v.ram) == -EINVAL,
		      "slot %d is past the last one", HV_MAX_SLOTS);
		watch_dirty_pages(v.vm, v.vcpu, v.ram);
	}
	small_vm_stop(&v);
}

/* in al, 0x14; out 0x15, al; hlt */
static const uint8_t in_code[] = { 0xe4, 0x14, 0xe6, 0x15, 0xf4 };

/*
 * An IN answered by vmon is finished by hv_vcpu_finish_instruction without
 * the guest running on: RAX has the value and RIP is past the IN, as a
 * snapshot must see them (else a restored copy would read the port again).
 */
static void test_finish_instruction(struct hv *hv)
{
	struct small_vm v;
	bool ready = small_vm_start(hv, &v, in_code, sizeof(in_code));
	CHECK(ready, "a real-mode vCPU that reads port 0x14");
	struct hv_exit exit;
	struct kvm_regs regs;
	struct hv_vcpu *vcpu = v.vcpu;
	if (ready) {
		CHECK(hv_vcpu_run(vcpu, &exit) == 0 && exit.kind == HV_EXIT_IO && exit.io.port == 0x14 &&
		      !exit.io.is_write, "it exits for the IN");
		exit.io.data[0] = 0x77;
		CHECK(hv_vcpu_get_regs(vcpu, &regs) == 0 && regs.rip == 0x1000,
		      "until KVM runs again the IN is not done (RIP %#llx)", (unsigned long long)regs.rip);
		CHECK(hv_vcpu_finish_instruction(vcpu, &exit) == 0 && exit.kind == HV_EXIT_INTERRUPTED,
		      "finish it: KVM returns at once");
		CHECK(hv_vcpu_get_regs(vcpu, &regs) == 0 && regs.rip == 0x1002 && (regs.rax & 0xff) == 0x77,
		      "RIP past the IN, AL the value given (RIP %#llx, RAX %#llx)",
		      (unsigned long long)regs.rip, (unsigned long long)regs.rax);
		CHECK(hv_vcpu_finish_instruction(vcpu, &exit) == 0 && exit.kind == HV_EXIT_INTERRUPTED &&
		      hv_vcpu_get_regs(vcpu, &regs) == 0 && regs.rip == 0x1002,
		      "with nothing pending it runs nothing");
		CHECK(hv_vcpu_run(vcpu, &exit) == 0 && exit.kind == HV_EXIT_IO && exit.io.port == 0x15 &&
		      exit.io.data[0] == 0x77, "the guest goes on with the value: OUT 0x15 of 0x77");
	}
	small_vm_stop(&v);
}

/* ---- the split irqchip: KVM's LAPICs with vmon's IOAPIC ---- */

/*
 * 0x1000: mov ecx, 0x1b; rdmsr; or eax, 0xc00; wrmsr (x2APIC on); sti;
 *         1: hlt; jmp 1b
 * 0x1100 (vector 0x30): out 0x20, al; then 0x1120 (vector 0x31): out 0x21, al;
 *         each then: mov ecx, 0x80b; xor eax, eax; xor edx, edx; wrmsr (x2APIC EOI); iret
 */
static const uint8_t split_main[] = {
	0x66, 0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, 0x66, 0x0d, 0x00, 0x0c, 0x00, 0x00,
	0x0f, 0x30, 0xfb, 0xf4, 0xeb, 0xfd,
};
static const uint8_t split_eoi_iret[] = {
	0x66, 0xb9, 0x0b, 0x08, 0x00, 0x00, 0x66, 0x31, 0xc0, 0x66, 0x31, 0xd2, 0x0f, 0x30, 0xcf,
};

#define LEVEL_PIN    3
#define LEVEL_VECTOR 0x30
#define EDGE_PIN     4
#define EDGE_VECTOR  0x31

static struct hv_vcpu *alarm_vcpu;

static void on_alarm(int sig)
{
	(void)sig;
	if (alarm_vcpu)
		hv_vcpu_request_exit(alarm_vcpu); /* in case the signal came just before KVM_RUN */
}

/* One KVM_RUN, cut short after `ms` (HV_EXIT_INTERRUPTED) if nothing exits before. */
static struct hv_exit run_for(struct hv_vcpu *vcpu, long ms)
{
	struct hv_exit exit = { .kind = HV_EXIT_UNKNOWN };
	struct itimerval t = { .it_value = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 } };
	struct itimerval off = { 0 };
	alarm_vcpu = vcpu;
	setitimer(ITIMER_REAL, &t, NULL);
	if (hv_vcpu_run(vcpu, &exit) < 0)
		exit.kind = HV_EXIT_UNKNOWN;
	setitimer(ITIMER_REAL, &off, NULL);
	alarm_vcpu = NULL;
	return exit;
}

static bool is_port_exit(const struct hv_exit *e, uint16_t port)
{
	return e->kind == HV_EXIT_IO && e->io.port == port && e->io.is_write;
}

static void split_deliver(void *ctx, uint64_t address, uint32_t data)
{
	msi_routes_signal(ctx, LAYOUT_IOAPIC_SOURCE_ID, address, data);
}

static void split_route_changed(void *ctx, unsigned pin, bool enabled, uint64_t address, uint32_t data)
{
	msi_routes_set_pin(ctx, pin, enabled, address, data);
}

static void ioapic_write(struct bus *mmio, uint8_t index, uint32_t value)
{
	bus_write(mmio, LAYOUT_IOAPIC_BASE, &index, 1);
	bus_write(mmio, LAYOUT_IOAPIC_BASE + 0x10, &value, 4);
}

/* The guest's code, its two handlers in the real-mode IVT, and a vCPU with its LAPIC on. */
static bool split_guest_ready(struct hv *hv, struct hv_vm *vm, uint8_t *ram, struct hv_vcpu **vcpu)
{
	memcpy(ram + 0x1000, split_main, sizeof(split_main));
	uint8_t out20[] = { 0xe6, 0x20 }, out21[] = { 0xe6, 0x21 };
	memcpy(ram + 0x1100, out20, 2);
	memcpy(ram + 0x1102, split_eoi_iret, sizeof(split_eoi_iret));
	memcpy(ram + 0x1120, out21, 2);
	memcpy(ram + 0x1122, split_eoi_iret, sizeof(split_eoi_iret));
	uint32_t ivt30 = 0x1100, ivt31 = 0x1120; /* segment 0 */
	memcpy(ram + LEVEL_VECTOR * 4, &ivt30, 4);
	memcpy(ram + EDGE_VECTOR * 4, &ivt31, 4);

	struct kvm_cpuid2 *cpuid = hv_get_supported_cpuid(hv);
	struct kvm_lapic_state lapic;
	bool ready = cpuid && hv_vm_map_memory(vm, 0, 0, DIRTY_RAM_SIZE, ram) == 0 &&
		     hv_vcpu_create(vm, 0, vcpu) == 0 && x86_vcpu_init(*vcpu, cpuid, 1) == 0 &&
		     start_real_mode(*vcpu) == 0 && hv_vcpu_get_lapic(*vcpu, &lapic) == 0;
	free(cpuid);
	if (!ready)
		return false;
	set_lapic_reg(&lapic, APIC_SPIV, 0x1ff); /* software-enabled, spurious vector 0xff */
	return hv_vcpu_set_lapic(*vcpu, &lapic) == 0;
}

/*
 * A level pin: sent while high, sent again after the LAPIC's EOI (which
 * KVM reports because the pin's route says level), not after the line
 * fell. An edge pin: sent once, and its EOI stays in KVM.
 */
static void drive_split_guest(struct hv_vcpu *vcpu, struct ioapic *io, struct bus *mmio)
{
	ioapic_write(mmio, 0x10 + 2 * LEVEL_PIN + 1, 0);              /* destination APIC 0 */
	ioapic_write(mmio, 0x10 + 2 * LEVEL_PIN, 0x8000 | LEVEL_VECTOR); /* level, unmasked */
	ioapic_write(mmio, 0x10 + 2 * EDGE_PIN + 1, 0);
	ioapic_write(mmio, 0x10 + 2 * EDGE_PIN, EDGE_VECTOR);          /* edge, unmasked */

	ioapic_set_line(io, LEVEL_PIN, 1);
	struct hv_exit e = run_for(vcpu, 2000);
	CHECK(is_port_exit(&e, 0x20), "split irqchip: the level pin's interrupt reaches the guest (exit %d)", e.kind);
	e = run_for(vcpu, 2000);
	CHECK(e.kind == HV_EXIT_IOAPIC_EOI && e.eoi_vector == LEVEL_VECTOR,
	      "its EOI comes back as HV_EXIT_IOAPIC_EOI with vector %#x (exit %d)", LEVEL_VECTOR, e.kind);
	ioapic_eoi(io, e.eoi_vector);
	e = run_for(vcpu, 2000);
	CHECK(is_port_exit(&e, 0x20), "the line still high: sent again after the EOI (exit %d)", e.kind);
	ioapic_set_line(io, LEVEL_PIN, 0);
	e = run_for(vcpu, 2000);
	CHECK(e.kind == HV_EXIT_IOAPIC_EOI && e.eoi_vector == LEVEL_VECTOR, "the second EOI comes back too");
	ioapic_eoi(io, e.eoi_vector);
	e = run_for(vcpu, 300);
	CHECK(e.kind == HV_EXIT_INTERRUPTED, "the line low: no third interrupt (exit %d)", e.kind);

	ioapic_set_line(io, EDGE_PIN, 1);
	e = run_for(vcpu, 2000);
	CHECK(is_port_exit(&e, 0x21), "the edge pin's interrupt reaches the guest (exit %d)", e.kind);
	e = run_for(vcpu, 300);
	CHECK(e.kind == HV_EXIT_INTERRUPTED, "an edge vector's EOI does not leave KVM (exit %d)", e.kind);
}

static void test_split_irqchip(struct hv *hv)
{
	struct hv_vm *vm = NULL;
	struct hv_vcpu *vcpu = NULL;
	int ret = hv_vm_create(hv, &vm);
	if (ret == 0)
		ret = hv_vm_create_split_irqchip(vm, LAYOUT_IOAPIC_PINS);
	if (ret == -ENOTSUP || ret == -EINVAL) {
		SKIP("this KVM has no split irqchip: %s", strerror(-ret));
		hv_vm_destroy(vm);
		return;
	}
	CHECK(ret == 0, "a VM with the split irqchip (KVM_CAP_SPLIT_IRQCHIP, 24 IOAPIC routes)");
	CHECK(hv_vm_create_split_irqchip(vm, LAYOUT_IOAPIC_PINS) < 0 && hv_vm_create_irqchip(vm) < 0,
	      "no second irqchip of either kind");
	struct hv_msi_route pin_route = { .gsi = 0, .address = 0xfee00000, .data = 0xc0 | 0x8000 };
	CHECK(hv_vm_set_msi_routes(vm, &pin_route, 1) == 0, "an MSI route on GSI 0 (no irqchip routes kept)");
	ret = hv_vm_enable_x2apic_ids(vm);
	if (ret == -ENOTSUP) {
		SKIP("this KVM has no KVM_CAP_X2APIC_API");
	} else {
		CHECK(ret == 0, "32-bit x2APIC destinations in MSIs (KVM_CAP_X2APIC_API)");
		struct hv_msi_route routes[] = {
			pin_route,
			{ .gsi = 30, .address = 0x1fee00000ull, .data = 0x31 },            /* address bit 32 */
			{ .gsi = 31, .address = 0xfee00000ull | 1ull << 40, .data = 0x31 }, /* x2APIC ID 0x100 */
		};
		CHECK(hv_vm_set_msi_routes(vm, routes, 3) == 0,
		      "a guest's MSI with address bits 39:32 set is left out, not the whole table refused");
		CHECK(hv_vm_signal_msi(vm, 0x1fee00000ull, 0x31) == 0, "and is not signalled either");
	}

	uint8_t *ram = mmap(NULL, DIRTY_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct msi_routes mr;
	msi_routes_init(&mr, vm);
	struct ioapic_config cfg = {
		.id = 1, .hooks = { .deliver = split_deliver, .route_changed = split_route_changed, .ctx = &mr },
	};
	struct ioapic *io = ioapic_create(&cfg);
	struct bus *mmio = bus_create("mmio");
	bool ready = ram != MAP_FAILED && io && mmio && ioapic_register(io, mmio) == 0 &&
		     split_guest_ready(hv, vm, ram, &vcpu);
	CHECK(ready, "a real-mode vCPU with its LAPIC on, and vmon's IOAPIC");
	CHECK(!ready || hv_vm_create_split_irqchip(vm, LAYOUT_IOAPIC_PINS) < 0, "too late once a vCPU exists");
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	sigaction(SIGALRM, &sa, &old); /* no SA_RESTART: KVM_RUN returns */
	if (ready)
		drive_split_guest(vcpu, io, mmio);
	sigaction(SIGALRM, &old, NULL);
	ioapic_destroy(io);
	bus_destroy(mmio);
	msi_routes_destroy(&mr);
	hv_vcpu_destroy(vcpu);
	hv_vm_destroy(vm);
	if (ram != MAP_FAILED)
		munmap(ram, DIRTY_RAM_SIZE);
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
	host_kind = hv_get_info(hv)->kind;
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
	CHECK(msi_routes_set(&mr, g1, 0x08, true, 0xfee00000, 0x51) == 0, "route the first to a message");
	CHECK(msi_routes_set(&mr, g1, 0x08, true, 0xfee00000, 0x51) == 0, "the same route again is fine");
	CHECK(msi_routes_set(&mr, g2, 0x08, false, 0, 0) == 0, "a disabled route");
	CHECK(msi_routes_set(&mr, g2 + 5, 0x08, true, 0xfee00000, 0x52) < 0, "a GSI never created is refused");
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

	test_vcpu_state(hv);
	test_vm_state(hv);
	test_dirty_log(hv);
	test_finish_instruction(hv);
	test_split_irqchip(hv);
	hv_close(hv);
	munmap(ram, RAM_SIZE);
	return tap_finish();
}

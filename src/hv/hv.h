/*
 * The hypervisor layer: the only code in vmon that talks to /dev/kvm.
 *
 * It plays the part of Xen's common HVM function table over VT-x and SVM:
 * the machine above it creates VMs and vCPUs, maps memory, raises
 * interrupts and runs vCPUs, and gets back exits in vmon's own terms.
 * x86 register state is exchanged in KVM's structure layouts (they are the
 * ABI of this layer), but only this layer issues ioctls.
 */
#ifndef VMON_HV_HV_H
#define VMON_HV_HV_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What kind of virtualization the host's KVM runs on. */
enum hv_host_kind {
	HV_HOST_VTX,      /* Intel VT-x (kvm_intel) */
	HV_HOST_SVM,      /* AMD-V / SVM (kvm_amd) */
	HV_HOST_SOFTWARE, /* software-only KVM such as PVM: fast only for enlightened guests */
	HV_HOST_UNKNOWN,
};

struct hv_info {
	enum hv_host_kind kind;
	char kvm_signature[13]; /* CPUID 0x40000000 vendor of KVM's supported set */
	int max_vcpus;          /* KVM_CAP_MAX_VCPUS */
	int recommended_vcpus;  /* KVM_CAP_NR_VCPUS */
};

/* Reads the host's facts (/sys/module, /proc/cpuinfo) into a kind. */
enum hv_host_kind hv_detect_host_kind(const char *sys_module_dir,
				      const char *cpuinfo_path);
const char *hv_host_kind_name(enum hv_host_kind kind);

struct hv;
struct hv_vm;
struct hv_vcpu;

/* Opens /dev/kvm and checks the API version and required capabilities. */
int hv_open(struct hv **out);
void hv_close(struct hv *hv);
const struct hv_info *hv_get_info(const struct hv *hv);

/* KVM's supported CPUID entries; the caller frees the result. */
struct kvm_cpuid2 *hv_get_supported_cpuid(struct hv *hv);

int hv_vm_create(struct hv *hv, struct hv_vm **out);
void hv_vm_destroy(struct hv_vm *vm);
/* Slot numbers run from 0 to HV_MAX_SLOTS - 1; a size of 0 removes the slot. */
#define HV_MAX_SLOTS 32
int hv_vm_map_memory(struct hv_vm *vm, unsigned slot, uint64_t gpa,
		     uint64_t size, void *host);
/* In-kernel LAPICs, IOAPIC, PICs and PIT. */
int hv_vm_create_irqchip(struct hv_vm *vm);
/*
 * The split irqchip instead (api.rst 7.5, KVM_CAP_SPLIT_IRQCHIP): only the
 * LAPICs are in the kernel; vmon emulates an IOAPIC of `ioapic_pins` pins
 * whose routes are GSIs 0..ioapic_pins-1 (hv_vm_set_msi_routes), and gets
 * HV_EXIT_IOAPIC_EOI for their level-triggered vectors. No PIC and no PIT
 * exist then. Before any vCPU; 0, -ENOTSUP when KVM cannot, or -errno.
 */
int hv_vm_create_split_irqchip(struct hv_vm *vm, unsigned ioapic_pins);
/* Drives an in-kernel irqchip's line (not with the split irqchip). */
/*
 * x2APIC destinations of 32 bits in MSIs (KVM_CAP_X2APIC_API): what VT-d
 * interrupt remapping with EIM delivers. Before the vCPUs exist. From then
 * on an MSI with address bits 39:32 set is not delivered (KVM refuses it).
 * 0, -ENOTSUP or -errno.
 */
int hv_vm_enable_x2apic_ids(struct hv_vm *vm);
int hv_vm_set_irq_line(struct hv_vm *vm, uint32_t gsi, int level);

/* An MSI route: interrupts on `gsi` are delivered as the message (address, data). */
struct hv_msi_route {
	uint32_t gsi;
	uint64_t address;
	uint32_t data;
};

/* GSIs below this belong to the IOAPIC pins (and the in-kernel PICs'). */
#define HV_FIRST_MSI_GSI 24

/*
 * Replaces every MSI route with `routes` (KVM_SET_GSI_ROUTING replaces the
 * whole table). With the in-kernel irqchip its routes for GSIs 0..23 are
 * kept, and `routes` must not use those GSIs. With the split irqchip KVM
 * takes only MSI routes (api.rst 7.5): GSIs below the IOAPIC's pin count
 * are the pins', each carrying the message its redirection entry sends,
 * from which KVM learns the level-triggered vectors to report EOIs of.
 */
int hv_vm_set_msi_routes(struct hv_vm *vm, const struct hv_msi_route *routes,
			 unsigned count);
/* Injects one MSI now. */
int hv_vm_signal_msi(struct hv_vm *vm, uint64_t address, uint32_t data);
/* A write to `eventfd` raises `gsi` in the kernel, without an exit (KVM_IRQFD). */
int hv_vm_add_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi);
int hv_vm_remove_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi);
/*
 * A guest write of `len` bytes at `addr` (a port when `pio`) signals
 * `eventfd` in the kernel instead of exiting to vmon (KVM_IOEVENTFD).
 */
int hv_vm_add_ioeventfd(struct hv_vm *vm, int eventfd, uint64_t addr,
			uint32_t len, bool pio);
int hv_vm_remove_ioeventfd(struct hv_vm *vm, int eventfd, uint64_t addr,
			   uint32_t len, bool pio);

/* Why KVM_RUN came back, in vmon's terms. */
enum hv_exit_kind {
	HV_EXIT_IO,
	HV_EXIT_MMIO,
	HV_EXIT_HLT,
	HV_EXIT_SHUTDOWN,       /* triple fault */
	HV_EXIT_SYSTEM_EVENT,
	HV_EXIT_FAIL_ENTRY,
	HV_EXIT_INTERNAL_ERROR,
	HV_EXIT_INTERRUPTED,    /* a signal or hv_vcpu_kick: check for stop requests */
	HV_EXIT_IOAPIC_EOI,     /* split irqchip: a LAPIC took an EOI for a level IOAPIC vector */
	HV_EXIT_UNKNOWN,
	HV_EXIT_KIND_COUNT,
};

enum hv_system_event {
	HV_SYSTEM_EVENT_POWEROFF,
	HV_SYSTEM_EVENT_RESET,
	HV_SYSTEM_EVENT_CRASH,
	HV_SYSTEM_EVENT_OTHER,
};

struct hv_exit {
	enum hv_exit_kind kind;
	union {
		struct {
			uint16_t port;
			uint8_t size;     /* 1, 2 or 4 */
			bool is_write;
			uint32_t count;   /* string I/O repeats */
			uint8_t *data;    /* count * size bytes inside the run area */
		} io;
		struct {
			uint64_t gpa;
			uint32_t len;
			bool is_write;
			uint8_t *data;    /* len bytes inside the run area */
		} mmio;
		enum hv_system_event system_event;
		uint64_t fail_entry_reason;
		uint32_t internal_suberror;
		uint8_t eoi_vector;       /* HV_EXIT_IOAPIC_EOI */
		uint32_t unknown_reason;
	};
};

int hv_vcpu_create(struct hv_vm *vm, unsigned index, struct hv_vcpu **out);
void hv_vcpu_destroy(struct hv_vcpu *vcpu);
unsigned hv_vcpu_index(const struct hv_vcpu *vcpu);

/*
 * Runs the vCPU until the next exit that needs vmon. Returns 0 with *exit
 * filled, or a negative errno when KVM_RUN itself failed.
 */
int hv_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit);

/*
 * Finishes the instruction an I/O or MMIO exit left half done (an IN's
 * value into RAX, RIP past it) without running further: KVM_RUN with
 * immediate_exit (api.rst: before saving a vCPU's state). Returns like
 * hv_vcpu_run; HV_EXIT_INTERRUPTED means done, another exit (string I/O
 * goes on) must be handled and this called again.
 */
int hv_vcpu_finish_instruction(struct hv_vcpu *vcpu, struct hv_exit *exit);

/*
 * Makes the vCPU's next (or current, together with a signal to its thread)
 * KVM_RUN return HV_EXIT_INTERRUPTED. Safe from any thread.
 */
void hv_vcpu_request_exit(struct hv_vcpu *vcpu);

int hv_vcpu_get_regs(struct hv_vcpu *vcpu, struct kvm_regs *regs);
int hv_vcpu_set_regs(struct hv_vcpu *vcpu, const struct kvm_regs *regs);
int hv_vcpu_get_sregs(struct hv_vcpu *vcpu, struct kvm_sregs *sregs);
int hv_vcpu_set_sregs(struct hv_vcpu *vcpu, const struct kvm_sregs *sregs);
int hv_vcpu_set_fpu(struct hv_vcpu *vcpu, const struct kvm_fpu *fpu);
int hv_vcpu_set_cpuid(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *cpuid);
int hv_vcpu_get_lapic(struct hv_vcpu *vcpu, struct kvm_lapic_state *lapic);
int hv_vcpu_set_lapic(struct hv_vcpu *vcpu, const struct kvm_lapic_state *lapic);

/* Everything KVM keeps for one vCPU, in KVM's own layouts (api.rst). */
#define HV_MAX_MSRS 256
struct hv_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[HV_MAX_MSRS]; /* every MSR KVM saves (KVM_GET_MSR_INDEX_LIST) */
	/* KVM_GET_XSAVE (4 KiB: the legacy area, AVX, ...); last, as its extra[] ends it. */
	struct kvm_xsave xsave;
};

/*
 * Reads / writes all of it (vCPU not running). 0 or -errno. On a restore,
 * KVM_SET_CPUID2 comes first (x86_vcpu_init) and hv_vm_set_state before.
 */
int hv_vcpu_get_state(struct hv_vcpu *vcpu, struct hv_vcpu_state *s);
int hv_vcpu_set_state(struct hv_vcpu *vcpu, const struct hv_vcpu_state *s);

/* What the VM itself keeps in the kernel: PICs, IOAPIC, PIT, clock. */
struct hv_vm_state {
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* Needs the in-kernel irqchip (hv_vm_create_irqchip), not the split one. 0 or -errno. */
int hv_vm_get_state(struct hv_vm *vm, struct hv_vm_state *s);
int hv_vm_set_state(struct hv_vm *vm, const struct hv_vm_state *s);

/*
 * Dirty page logging (KVM_MEM_LOG_DIRTY_PAGES) on every RAM slot mapped so
 * far, and on slots mapped while it is on. 0 or -errno.
 */
int hv_vm_set_dirty_logging(struct hv_vm *vm, bool on);
/*
 * ORs into `bitmap` (one bit per 4 KiB page of the slot, as mapped; bit 0 of
 * word 0 is its first page; (pages + 63) / 64 words) the pages the vCPUs
 * wrote in slot `slot` since the last call (or since logging started), and
 * clears KVM's log. 0 or -errno.
 */
int hv_vm_get_dirty_log(struct hv_vm *vm, unsigned slot, uint64_t *bitmap);

/* Prints general, segment and control registers, for crash reports. */
void hv_vcpu_dump(struct hv_vcpu *vcpu, FILE *out);

#endif

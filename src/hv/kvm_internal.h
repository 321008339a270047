/*
 * The hypervisor layer's insides, shared by kvm.c (VMs, vCPUs, exits,
 * interrupts) and kvm_state.c (the whole vCPU and VM state, dirty page
 * logging). Nothing outside src/hv/ includes this.
 */
#ifndef VMON_HV_KVM_INTERNAL_H
#define VMON_HV_KVM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"

/* KVM reads or writes fewer than MAX_IO_MSRS (256) MSRs per call (arch/x86/kvm/x86.c, msr_io). */
#define MSR_CHUNK 128

/* The dirty log counts x86 base pages (api.rst, KVM_GET_DIRTY_LOG). */
#define DIRTY_PAGE_SIZE 4096u

struct hv {
	int kvm_fd;
	int run_size;
	struct hv_info info;
	struct kvm_msr_list *msr_list; /* the MSRs KVM saves; NULL if it could not say */
};

/* A RAM slot as mapped, to register it again with other flags. */
struct hv_slot {
	uint64_t gpa, size;   /* size 0: unused */
	void *host;
	uint64_t *dirty;      /* KVM_GET_DIRTY_LOG's bitmap, allocated on first use */
};

struct hv_vm {
	struct hv *hv;
	int fd;
	unsigned split_ioapic_pins; /* 0: in-kernel irqchip (or none); else the split irqchip's pins */
	bool x2apic_ids;            /* KVM_X2APIC_API_USE_32BIT_IDS: MSI address_hi carries destination bits */
	bool dirty_logging;
	struct hv_slot slots[HV_MAX_SLOTS];
};

struct hv_vcpu {
	struct hv_vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	uint32_t *msr_indices; /* KVM's MSR list less those this vCPU cannot read */
	unsigned nr_msr_indices;
};

/* ioctl(2) on a KVM fd, again after EINTR (not for KVM_RUN): its result, or -errno. */
int kvm_ioctl(int fd, unsigned long req, void *arg);
/* KVM_CHECK_EXTENSION: the capability's value, 0 if absent. */
int kvm_check_extension(int fd, long cap);
/* 0 when KVM has every one of caps[0..count), else -ENOTSUP after logging the first missing. */
int kvm_check_caps(int fd, const long *caps, size_t count);
#define KVM_CHECK_CAPS(fd, caps) kvm_check_caps(fd, caps, sizeof(caps) / sizeof(caps[0]))

#endif

/*
 * The x86 vCPU and VM state in vmon's state format: the structures the
 * hypervisor layer reads from KVM, written to and read back from sections
 * of a state blob (migration/state.h).
 */
#ifndef VMON_ARCH_X86_VCPU_STATE_H
#define VMON_ARCH_X86_VCPU_STATE_H

#include "hv/hv.h"
#include "migration/state.h"

void x86_save_vcpu(struct state_writer *w, unsigned index, const struct hv_vcpu_state *s);
/*
 * 0, or -EINVAL after logging what is wrong (missing section, a size that
 * is not this KVM's structure size, too many MSRs, overrun).
 */
int x86_load_vcpu(const struct state_reader *r, unsigned index, struct hv_vcpu_state *s);

void x86_save_vm(struct state_writer *w, const struct hv_vm_state *s);
/* 0, or -EINVAL after logging what is wrong, as x86_load_vcpu. */
int x86_load_vm(const struct state_reader *r, struct hv_vm_state *s);

#endif

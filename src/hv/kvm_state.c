/*
 * The whole state KVM keeps for a vCPU and for a VM, read and written for
 * snapshots and migration (api.rst: each ioctl's section).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv.h"
#include "hv/kvm_internal.h"
#include "util/log.h"

/* The capabilities of the state ioctls (api.rst, each ioctl's "Capability:" line). */
static const long vcpu_state_caps[] = {
	KVM_CAP_MP_STATE, KVM_CAP_XSAVE, KVM_CAP_XCRS, KVM_CAP_DEBUGREGS, KVM_CAP_VCPU_EVENTS,
};
static const long vm_state_caps[] = { KVM_CAP_IRQCHIP, KVM_CAP_PIT_STATE2, KVM_CAP_ADJUST_CLOCK };

/* One ioctl of a state save or restore; a failure is logged with the ioctl's name. */
static int state_ioctl(int fd, unsigned long req, const char *name, void *arg)
{
	int ret = kvm_ioctl(fd, req, arg);
	if (ret < 0)
		log_error("%s failed: %s", name, strerror(-ret));
	return ret;
}

#define STATE_IOCTL(fd, req, arg) state_ioctl(fd, req, #req, (void *)(arg))

/*
 * KVM_GET_MSRS / KVM_SET_MSRS on n entries, in chunks KVM takes; `out`
 * (NULL for a set) receives what was read. Returns how many MSRs were done
 * before the first one KVM refused (api.rst: both return that count), or -errno.
 */
static int msr_io(struct hv_vcpu *vcpu, unsigned long req, const struct kvm_msr_entry *in,
		  struct kvm_msr_entry *out, unsigned n)
{
	struct kvm_msrs *msrs = malloc(sizeof(*msrs) + MSR_CHUNK * sizeof(msrs->entries[0]));
	if (!msrs)
		return -ENOMEM;
	unsigned done = 0;
	int ret = 0;
	while (done < n) {
		unsigned chunk = n - done < MSR_CHUNK ? n - done : MSR_CHUNK;
		*msrs = (struct kvm_msrs){ .nmsrs = chunk };
		memcpy(msrs->entries, in + done, chunk * sizeof(in[0]));
		ret = kvm_ioctl(vcpu->fd, req, msrs);
		if (ret < 0)
			break;
		if (out)
			memcpy(out + done, msrs->entries, (size_t)ret * sizeof(out[0]));
		done += (unsigned)ret;
		if ((unsigned)ret < chunk)
			break;
	}
	free(msrs);
	return ret < 0 ? ret : (int)done;
}

/* The vCPU starts from KVM's whole list of saved MSRs. */
static int init_vcpu_msr_list(struct hv_vcpu *vcpu)
{
	const struct kvm_msr_list *list = vcpu->vm->hv->msr_list;
	if (vcpu->msr_indices)
		return 0;
	if (!list) {
		log_error("KVM did not list the MSRs it saves (KVM_GET_MSR_INDEX_LIST)");
		return -ENOTSUP;
	}
	if (list->nmsrs > HV_MAX_MSRS) {
		log_error("KVM saves %u MSRs, vmon keeps at most %d", list->nmsrs, HV_MAX_MSRS);
		return -E2BIG;
	}
	vcpu->msr_indices = malloc((list->nmsrs + 1) * sizeof(uint32_t)); /* + 1: never malloc(0) */
	if (!vcpu->msr_indices)
		return -ENOMEM;
	memcpy(vcpu->msr_indices, list->indices, list->nmsrs * sizeof(uint32_t));
	vcpu->nr_msr_indices = list->nmsrs;
	return 0;
}

/* An MSR KVM lists but cannot read for this vCPU (its CPUID lacks the feature) is not saved. */
static void drop_vcpu_msr(struct hv_vcpu *vcpu, unsigned i)
{
	log_debug("vCPU %u: MSR %#x cannot be read, not saved", vcpu->index, vcpu->msr_indices[i]);
	vcpu->nr_msr_indices--;
	memmove(&vcpu->msr_indices[i], &vcpu->msr_indices[i + 1],
		(vcpu->nr_msr_indices - i) * sizeof(uint32_t));
}

/* KVM_GET_MSRS stops at the first MSR it cannot read: that one is dropped and the rest read on. */
static int get_msrs(struct hv_vcpu *vcpu, struct hv_vcpu_state *s)
{
	int ret = init_vcpu_msr_list(vcpu);
	unsigned done = 0;
	while (ret == 0 && done < vcpu->nr_msr_indices) {
		for (unsigned i = done; i < vcpu->nr_msr_indices; i++)
			s->msrs[i] = (struct kvm_msr_entry){ .index = vcpu->msr_indices[i] };
		ret = msr_io(vcpu, KVM_GET_MSRS, s->msrs + done, s->msrs + done,
			     vcpu->nr_msr_indices - done);
		if (ret < 0)
			break;
		done += (unsigned)ret;
		ret = 0;
		if (done < vcpu->nr_msr_indices)
			drop_vcpu_msr(vcpu, done);
	}
	s->nr_msrs = done;
	return ret;
}

static int set_msrs(struct hv_vcpu *vcpu, const struct hv_vcpu_state *s)
{
	if (s->nr_msrs > HV_MAX_MSRS)
		return -EINVAL;
	int ret = msr_io(vcpu, KVM_SET_MSRS, s->msrs, NULL, s->nr_msrs);
	if (ret >= 0 && (unsigned)ret < s->nr_msrs) {
		const struct kvm_msr_entry *e = &s->msrs[ret];
		log_error("vCPU %u: KVM refused the value %#llx for MSR %#x", vcpu->index,
			  (unsigned long long)e->data, e->index);
		return -EINVAL;
	}
	return ret < 0 ? ret : 0;
}

/* The vCPU's XSAVE area must fit KVM_GET_XSAVE's 4 KiB (api.rst, KVM_CAP_XSAVE2: AMX makes it larger). */
static int check_xsave_size(struct hv_vcpu *vcpu)
{
	int size = kvm_check_extension(vcpu->vm->fd, KVM_CAP_XSAVE2);
	if (size > (int)sizeof(struct kvm_xsave)) {
		log_error("the guest's XSAVE area is %d bytes, more than KVM_GET_XSAVE's %zu",
			  size, sizeof(struct kvm_xsave));
		return -ENOTSUP;
	}
	return 0;
}

int hv_vcpu_get_state(struct hv_vcpu *vcpu, struct hv_vcpu_state *s)
{
	memset(s, 0, sizeof(*s));
	int ret = KVM_CHECK_CAPS(vcpu->vm->fd, vcpu_state_caps);
	if (ret == 0)
		ret = check_xsave_size(vcpu);
	/*
	 * Firecracker's order (vstate/vcpu): KVM_GET_MP_STATE first, as it may
	 * deliver pending INIT/SIPI into the other state; the events last, as
	 * the other gets may change them.
	 */
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_MP_STATE, &s->mp_state);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_REGS, &s->regs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_SREGS, &s->sregs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_XSAVE, &s->xsave);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_XCRS, &s->xcrs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_DEBUGREGS, &s->debugregs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_LAPIC, &s->lapic);
	if (ret == 0)
		ret = get_msrs(vcpu, s);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_GET_VCPU_EVENTS, &s->events);
	return ret;
}

int hv_vcpu_set_state(struct hv_vcpu *vcpu, const struct hv_vcpu_state *s)
{
	int ret = KVM_CHECK_CAPS(vcpu->vm->fd, vcpu_state_caps);
	/*
	 * regs before sregs (KVM_SET_SREGS looks at RIP for a BSP at reset);
	 * sregs, which hold the APIC base MSR, before the LAPIC; the LAPIC
	 * before the MSRs (the TSC deadline MSR needs its timer mode); the
	 * events last (Firecracker's and QEMU's restore order).
	 */
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_REGS, &s->regs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_SREGS, &s->sregs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_XSAVE, &s->xsave);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_XCRS, &s->xcrs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_DEBUGREGS, &s->debugregs);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_LAPIC, &s->lapic);
	if (ret == 0)
		ret = set_msrs(vcpu, s);
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_MP_STATE, &s->mp_state);
	/* KVM_GET_VCPU_EVENTS leaves these flags out; without them SET ignores the fields (api.rst). */
	struct kvm_vcpu_events events = s->events;
	events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (ret == 0)
		ret = STATE_IOCTL(vcpu->fd, KVM_SET_VCPU_EVENTS, &events);
	return ret;
}

int hv_vm_get_state(struct hv_vm *vm, struct hv_vm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	int ret = KVM_CHECK_CAPS(vm->fd, vm_state_caps);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_GET_IRQCHIP, &s->pic_master);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_GET_IRQCHIP, &s->pic_slave);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_GET_IRQCHIP, &s->ioapic);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_GET_PIT2, &s->pit);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_GET_CLOCK, &s->clock);
	return ret;
}

int hv_vm_set_state(struct hv_vm *vm, const struct hv_vm_state *s)
{
	/*
	 * api.rst, KVM_SET_CLOCK: of the flags KVM_GET_CLOCK returns only
	 * KVM_CLOCK_REALTIME does something (the clock also counts the real
	 * time since the save); a KVM that does not know it refuses it.
	 */
	struct kvm_clock_data clock = s->clock;
	clock.flags &= KVM_CLOCK_REALTIME & (uint32_t)kvm_check_extension(vm->fd, KVM_CAP_ADJUST_CLOCK);
	int ret = KVM_CHECK_CAPS(vm->fd, vm_state_caps);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_SET_IRQCHIP, &s->pic_master);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_SET_IRQCHIP, &s->pic_slave);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_SET_IRQCHIP, &s->ioapic);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_SET_PIT2, &s->pit);
	if (ret == 0)
		ret = STATE_IOCTL(vm->fd, KVM_SET_CLOCK, &clock);
	return ret;
}


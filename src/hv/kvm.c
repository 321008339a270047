/* The hypervisor layer over Linux KVM: VMs, vCPUs, exits and interrupts (their state: kvm_state.c). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/hv.h"
#include "hv/kvm_internal.h"
#include "util/log.h"

/* KVM needs three pages for the real-mode TSS and one for the EPT identity map (api.rst, KVM_SET_TSS_ADDR). */
#define KVM_TSS_ADDR          0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

#define CPUID_MAX_ENTRIES 256

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;
	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR && req != KVM_RUN);
	return ret < 0 ? -errno : ret;
}

int kvm_check_extension(int fd, long cap)
{
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return ret < 0 ? 0 : ret;
}

/* Reads the 12-byte vendor signature KVM announces at CPUID 0x40000000. */
static void read_kvm_signature(struct hv *hv, char out[13])
{
	memset(out, 0, 13);
	struct kvm_cpuid2 *cpuid = hv_get_supported_cpuid(hv);
	if (!cpuid)
		return;
	for (unsigned i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function == 0x40000000) {
			memcpy(out, &e->ebx, 4);
			memcpy(out + 4, &e->ecx, 4);
			memcpy(out + 8, &e->edx, 4);
		}
	}
	free(cpuid);
}

static const long required_caps[] = {
	KVM_CAP_IRQCHIP, KVM_CAP_PIT2, KVM_CAP_USER_MEMORY,
	KVM_CAP_SET_TSS_ADDR, KVM_CAP_EXT_CPUID, KVM_CAP_IMMEDIATE_EXIT,
	KVM_CAP_IRQ_ROUTING, KVM_CAP_IRQFD, KVM_CAP_IOEVENTFD, KVM_CAP_SIGNAL_MSI,
};

int kvm_check_caps(int fd, const long *caps, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!kvm_check_extension(fd, caps[i])) {
			log_error("KVM lacks required capability %ld", caps[i]);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* The MSRs KVM saves and restores (api.rst, KVM_GET_MSR_INDEX_LIST); NULL if it cannot say. */
static struct kvm_msr_list *read_msr_index_list(int kvm_fd)
{
	/* A list too short for all of them fails with E2BIG and holds their number. */
	struct kvm_msr_list probe = { .nmsrs = 0 };
	int ret = kvm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);
	if (ret < 0 && ret != -E2BIG)
		return NULL;
	struct kvm_msr_list *list = malloc(sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (kvm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return NULL;
	}
	return list;
}

int hv_open(struct hv **out)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		log_error("cannot open /dev/kvm: %s", strerror(errno));
		return err;
	}

	int ret = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		log_error("/dev/kvm speaks API version %d, vmon needs %d", ret, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	ret = KVM_CHECK_CAPS(fd, required_caps);
	int run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret == 0 && run_size < (int)sizeof(struct kvm_run))
		ret = -ENOTSUP;
	struct hv *hv = ret == 0 ? calloc(1, sizeof(*hv)) : NULL;
	if (!hv) {
		close(fd);
		return ret ? ret : -ENOMEM;
	}

	hv->kvm_fd = fd;
	hv->run_size = run_size;
	hv->info.kind = hv_detect_host_kind("/sys/module", "/proc/cpuinfo");
	hv->info.max_vcpus = kvm_check_extension(fd, KVM_CAP_MAX_VCPUS);
	hv->info.recommended_vcpus = kvm_check_extension(fd, KVM_CAP_NR_VCPUS);
	if (hv->info.max_vcpus == 0)
		hv->info.max_vcpus = hv->info.recommended_vcpus ? hv->info.recommended_vcpus : 4;
	read_kvm_signature(hv, hv->info.kvm_signature);
	hv->msr_list = read_msr_index_list(fd);
	*out = hv;
	return 0;
}

void hv_close(struct hv *hv)
{
	if (!hv)
		return;
	close(hv->kvm_fd);
	free(hv->msr_list);
	free(hv);
}

const struct hv_info *hv_get_info(const struct hv *hv)
{
	return &hv->info;
}

struct kvm_cpuid2 *hv_get_supported_cpuid(struct hv *hv)
{
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) +
					  CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return NULL;
	cpuid->nent = CPUID_MAX_ENTRIES;
	if (kvm_ioctl(hv->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		free(cpuid);
		return NULL;
	}
	return cpuid;
}

int hv_vm_create(struct hv *hv, struct hv_vm **out)
{
	struct hv_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->hv = hv;
	vm->fd = kvm_ioctl(hv->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		int err = vm->fd;
		free(vm);
		return err;
	}

	uint64_t identity = KVM_IDENTITY_MAP_ADDR;
	int ret = kvm_ioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)KVM_TSS_ADDR);
	if (ret == 0 && kvm_check_extension(vm->fd, KVM_CAP_SET_IDENTITY_MAP_ADDR))
		ret = kvm_ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity);
	if (ret < 0) {
		hv_vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

void hv_vm_destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	close(vm->fd);
	for (unsigned i = 0; i < HV_MAX_SLOTS; i++)
		free(vm->slots[i].dirty);
	free(vm);
}

static int register_slot(struct hv_vm *vm, unsigned slot, const struct hv_slot *m)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = vm->dirty_logging ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = m->gpa,
		.memory_size = m->size,
		.userspace_addr = (uint64_t)(uintptr_t)m->host,
	};
	return kvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
}

int hv_vm_map_memory(struct hv_vm *vm, unsigned slot, uint64_t gpa,
		     uint64_t size, void *host)
{
	if (slot >= HV_MAX_SLOTS)
		return -EINVAL;
	struct hv_slot next = { .gpa = gpa, .size = size, .host = host };
	int ret = register_slot(vm, slot, &next);
	if (ret < 0)
		return ret;
	free(vm->slots[slot].dirty);
	vm->slots[slot] = next;
	return 0;
}

/* Registers every slot again, with the dirty logging flag of vm->dirty_logging. */
static int reregister_slots(struct hv_vm *vm)
{
	for (unsigned i = 0; i < HV_MAX_SLOTS; i++) {
		if (vm->slots[i].size == 0)
			continue;
		int ret = register_slot(vm, i, &vm->slots[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int hv_vm_set_dirty_logging(struct hv_vm *vm, bool on)
{
	/* api.rst, KVM_SET_USER_MEMORY_REGION: a slot's flags may change in place. */
	bool was = vm->dirty_logging;
	vm->dirty_logging = on;
	int ret = reregister_slots(vm);
	if (ret < 0) {
		/* Slots whose flags did not change are left as they are by KVM. */
		vm->dirty_logging = was;
		reregister_slots(vm);
	}
	return ret;
}

int hv_vm_get_dirty_log(struct hv_vm *vm, unsigned slot, uint64_t *bitmap)
{
	if (slot >= HV_MAX_SLOTS || vm->slots[slot].size == 0)
		return -EINVAL;
	struct hv_slot *m = &vm->slots[slot];
	/* api.rst, KVM_GET_DIRTY_LOG: bit 0 is the slot's first page, in 64-bit longs on x86-64. */
	uint64_t pages = m->size / DIRTY_PAGE_SIZE;
	size_t words = (size_t)((pages + 63) / 64);
	if (!m->dirty && !(m->dirty = calloc(words, sizeof(uint64_t))))
		return -ENOMEM;
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = m->dirty };
	int ret = kvm_ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < words; i++)
		bitmap[i] |= m->dirty[i];
	return 0;
}

int hv_vm_create_irqchip(struct hv_vm *vm)
{
	int ret = kvm_ioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL);
	if (ret < 0)
		return ret;
	/* The PC speaker port 0x61 is answered in the kernel, without sound. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	return kvm_ioctl(vm->fd, KVM_CREATE_PIT2, &pit);
}

int hv_vm_create_split_irqchip(struct hv_vm *vm, unsigned ioapic_pins)
{
	if (ioapic_pins == 0 || ioapic_pins > HV_FIRST_MSI_GSI)
		return -EINVAL;
	if (!kvm_check_extension(vm->fd, KVM_CAP_SPLIT_IRQCHIP))
		return -ENOTSUP;
	/* api.rst 7.5: args[0] is how many of the first MSI routes are the IOAPIC's pins. */
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { ioapic_pins } };
	int ret = kvm_ioctl(vm->fd, KVM_ENABLE_CAP, &cap);
	if (ret < 0)
		return ret;
	vm->split_ioapic_pins = ioapic_pins;
	return 0;
}

int hv_vm_enable_x2apic_ids(struct hv_vm *vm)
{
	if (!kvm_check_extension(vm->fd, KVM_CAP_X2APIC_API))
		return -ENOTSUP;
	/*
	 * api.rst 7.7: 32-bit x2APIC IDs in MSI address_hi (bits 31:8 of the
	 * destination) and no xAPIC broadcast quirk for destination 0xff.
	 */
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X2APIC_API,
		.args = { KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK },
	};
	int ret = kvm_ioctl(vm->fd, KVM_ENABLE_CAP, &cap);
	if (ret == 0)
		vm->x2apic_ids = true;
	return ret;
}

/*
 * api.rst 7.7: with 32-bit IDs, KVM refuses an MSI whose address_hi has
 * bits 7:0 set, and a routing table holding one, whole. Such a message
 * (a guest's MSI-X upper address) is dropped instead.
 */
static bool msi_acceptable(const struct hv_vm *vm, uint64_t address)
{
	return !vm->x2apic_ids || ((address >> 32) & 0xff) == 0;
}

int hv_vm_set_irq_line(struct hv_vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
	return kvm_ioctl(vm->fd, KVM_IRQ_LINE, &irq);
}

/* The routes KVM installs with the irqchip: GSI 0-15 to both PICs' pins and GSI 0-23 to the IOAPIC's. */
static unsigned add_irqchip_routes(struct kvm_irq_routing_entry *e)
{
	unsigned n = 0;
	for (uint32_t gsi = 0; gsi < HV_FIRST_MSI_GSI; gsi++) {
		if (gsi < 16) {
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
		}
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
		};
	}
	return n;
}

int hv_vm_set_msi_routes(struct hv_vm *vm, const struct hv_msi_route *routes,
			 unsigned count)
{
	unsigned max = 16 + HV_FIRST_MSI_GSI + count;
	struct kvm_irq_routing *table = calloc(1, sizeof(*table) + max * sizeof(table->entries[0]));
	if (!table)
		return -ENOMEM;
	/* api.rst 7.5: with the split irqchip, KVM refuses irqchip routes. */
	unsigned n = vm->split_ioapic_pins ? 0 : add_irqchip_routes(table->entries);
	for (unsigned i = 0; i < count; i++) {
		if (!msi_acceptable(vm, routes[i].address))
			continue;
		table->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = routes[i].gsi, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)routes[i].address,
				   .address_hi = (uint32_t)(routes[i].address >> 32),
				   .data = routes[i].data },
		};
	}
	table->nr = n;
	int ret = kvm_ioctl(vm->fd, KVM_SET_GSI_ROUTING, table);
	free(table);
	return ret < 0 ? ret : 0;
}

int hv_vm_signal_msi(struct hv_vm *vm, uint64_t address, uint32_t data)
{
	if (!msi_acceptable(vm, address))
		return 0; /* as KVM's answer for a message nobody takes */
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32), .data = data,
	};
	int ret = kvm_ioctl(vm->fd, KVM_SIGNAL_MSI, &msi);
	return ret < 0 ? ret : 0; /* > 0: delivered, 0: blocked by the guest */
}

static int set_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi, uint32_t flags)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)eventfd, .gsi = gsi, .flags = flags };
	return kvm_ioctl(vm->fd, KVM_IRQFD, &irqfd);
}

int hv_vm_add_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi)
{
	return set_irqfd(vm, eventfd, gsi, 0);
}

int hv_vm_remove_irqfd(struct hv_vm *vm, int eventfd, uint32_t gsi)
{
	return set_irqfd(vm, eventfd, gsi, KVM_IRQFD_FLAG_DEASSIGN);
}

static int set_ioeventfd(struct hv_vm *vm, int eventfd, uint64_t addr,
			 uint32_t len, bool pio, bool deassign)
{
	struct kvm_ioeventfd io = {
		.addr = addr, .len = len, .fd = eventfd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};
	return kvm_ioctl(vm->fd, KVM_IOEVENTFD, &io);
}

int hv_vm_add_ioeventfd(struct hv_vm *vm, int eventfd, uint64_t addr,
			uint32_t len, bool pio)
{
	return set_ioeventfd(vm, eventfd, addr, len, pio, false);
}

int hv_vm_remove_ioeventfd(struct hv_vm *vm, int eventfd, uint64_t addr,
			   uint32_t len, bool pio)
{
	return set_ioeventfd(vm, eventfd, addr, len, pio, true);
}

int hv_vcpu_create(struct hv_vm *vm, unsigned index, struct hv_vcpu **out)
{
	struct hv_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = kvm_ioctl(vm->fd, KVM_CREATE_VCPU, (void *)(uintptr_t)index);
	if (vcpu->fd < 0) {
		int err = vcpu->fd;
		free(vcpu);
		return err;
	}
	vcpu->run = mmap(NULL, vm->hv->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int err = -errno;
		close(vcpu->fd);
		free(vcpu);
		return err;
	}
	*out = vcpu;
	return 0;
}

void hv_vcpu_destroy(struct hv_vcpu *vcpu)
{
	if (!vcpu)
		return;
	munmap(vcpu->run, vcpu->vm->hv->run_size);
	close(vcpu->fd);
	free(vcpu->msr_indices);
	free(vcpu);
}

unsigned hv_vcpu_index(const struct hv_vcpu *vcpu)
{
	return vcpu->index;
}

static enum hv_system_event decode_system_event(uint32_t type)
{
	switch (type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		return HV_SYSTEM_EVENT_POWEROFF;
	case KVM_SYSTEM_EVENT_RESET:
		return HV_SYSTEM_EVENT_RESET;
	case KVM_SYSTEM_EVENT_CRASH:
		return HV_SYSTEM_EVENT_CRASH;
	default:
		return HV_SYSTEM_EVENT_OTHER;
	}
}

/* True when a port I/O exit's data lies inside the run area, as KVM promises. */
static bool io_exit_is_sane(const struct hv_vcpu *vcpu)
{
	const struct kvm_run *run = vcpu->run;
	uint64_t size = run->io.size;
	uint64_t end = run->io.data_offset + size * run->io.count;
	return (size == 1 || size == 2 || size == 4) && run->io.count > 0 &&
	       end <= (uint64_t)vcpu->vm->hv->run_size;
}

/* Translates the kvm_run area after an exit into vmon's terms. */
static void decode_exit(struct hv_vcpu *vcpu, struct hv_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	memset(exit, 0, sizeof(*exit));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (!io_exit_is_sane(vcpu)) {
			exit->kind = HV_EXIT_UNKNOWN;
			exit->unknown_reason = run->exit_reason;
			break;
		}
		exit->kind = HV_EXIT_IO;
		exit->io.port = run->io.port;
		exit->io.size = run->io.size;
		exit->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->io.count = run->io.count;
		exit->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data)) {
			exit->kind = HV_EXIT_UNKNOWN;
			exit->unknown_reason = run->exit_reason;
			break;
		}
		exit->kind = HV_EXIT_MMIO;
		exit->mmio.gpa = run->mmio.phys_addr;
		exit->mmio.len = run->mmio.len;
		exit->mmio.is_write = run->mmio.is_write;
		exit->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		exit->kind = HV_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->kind = HV_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		exit->kind = HV_EXIT_SYSTEM_EVENT;
		exit->system_event = decode_system_event(run->system_event.type);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit->kind = HV_EXIT_FAIL_ENTRY;
		exit->fail_entry_reason = run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit->kind = HV_EXIT_INTERNAL_ERROR;
		exit->internal_suberror = run->internal.suberror;
		break;
	case KVM_EXIT_INTR:
		exit->kind = HV_EXIT_INTERRUPTED;
		break;
	case KVM_EXIT_IOAPIC_EOI:
		/* api.rst 5, kvm_run: only with the split irqchip, for a level-triggered vector. */
		exit->kind = HV_EXIT_IOAPIC_EOI;
		exit->eoi_vector = run->eoi.vector;
		break;
	default:
		exit->kind = HV_EXIT_UNKNOWN;
		exit->unknown_reason = run->exit_reason;
		break;
	}
}

int hv_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit)
{
	int ret = kvm_ioctl(vcpu->fd, KVM_RUN, NULL);
	if (ret == -EAGAIN) {
		/* An AP left wait-for-SIPI (or got INIT): KVM asks us to run it again. */
		memset(exit, 0, sizeof(*exit));
		exit->kind = HV_EXIT_INTERRUPTED;
		return 0;
	}
	if (ret == -EINTR) {
		/* Consume the request; the caller decides whether to run again. */
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		memset(exit, 0, sizeof(*exit));
		exit->kind = HV_EXIT_INTERRUPTED;
		return 0;
	}
	if (ret < 0)
		return ret;
	decode_exit(vcpu, exit);
	return 0;
}

int hv_vcpu_finish_instruction(struct hv_vcpu *vcpu, struct hv_exit *exit)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	return hv_vcpu_run(vcpu, exit);
}

void hv_vcpu_request_exit(struct hv_vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

int hv_vcpu_get_regs(struct hv_vcpu *vcpu, struct kvm_regs *regs)
{
	return kvm_ioctl(vcpu->fd, KVM_GET_REGS, regs);
}

int hv_vcpu_set_regs(struct hv_vcpu *vcpu, const struct kvm_regs *regs)
{
	return kvm_ioctl(vcpu->fd, KVM_SET_REGS, (void *)regs);
}

int hv_vcpu_get_sregs(struct hv_vcpu *vcpu, struct kvm_sregs *sregs)
{
	return kvm_ioctl(vcpu->fd, KVM_GET_SREGS, sregs);
}

int hv_vcpu_set_sregs(struct hv_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	return kvm_ioctl(vcpu->fd, KVM_SET_SREGS, (void *)sregs);
}

int hv_vcpu_set_fpu(struct hv_vcpu *vcpu, const struct kvm_fpu *fpu)
{
	return kvm_ioctl(vcpu->fd, KVM_SET_FPU, (void *)fpu);
}

int hv_vcpu_set_cpuid(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *cpuid)
{
	return kvm_ioctl(vcpu->fd, KVM_SET_CPUID2, (void *)cpuid);
}

int hv_vcpu_get_lapic(struct hv_vcpu *vcpu, struct kvm_lapic_state *lapic)
{
	return kvm_ioctl(vcpu->fd, KVM_GET_LAPIC, lapic);
}

int hv_vcpu_set_lapic(struct hv_vcpu *vcpu, const struct kvm_lapic_state *lapic)
{
	return kvm_ioctl(vcpu->fd, KVM_SET_LAPIC, (void *)lapic);
}

static void dump_segment(FILE *out, const char *name, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type,
		s->dpl, s->present, s->l, s->db);
}

void hv_vcpu_dump(struct hv_vcpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (hv_vcpu_get_regs(vcpu, &r) < 0 || hv_vcpu_get_sregs(vcpu, &s) < 0) {
		fprintf(out, "vCPU %u: registers unavailable\n", vcpu->index);
		return;
	}
	fprintf(out, "vCPU %u registers:\n", vcpu->index);
	fprintf(out, "  rip=%016llx rsp=%016llx rflags=%016llx\n",
		r.rip, r.rsp, r.rflags);
	fprintf(out, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n",
		r.rax, r.rbx, r.rcx, r.rdx);
	fprintf(out, "  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n",
		r.rsi, r.rdi, r.rbp, r.r8);
	fprintf(out, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_segment(out, "cs", &s.cs);
	dump_segment(out, "ds", &s.ds);
	dump_segment(out, "ss", &s.ss);
	dump_segment(out, "tr", &s.tr);
	fprintf(out, "  gdt base=%016llx limit=%04x idt base=%016llx limit=%04x\n",
		s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
}

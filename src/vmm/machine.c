#include "vmm/machine.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/ioapic.h"
#include "hv/hv.h"
#include "util/image.h"
#include "util/log.h"
#include "util/sys.h"
#include "vmm/guest_mem.h"
#include "vmm/machine_internal.h"
#include "vmm/machine_iommu.h"
#include "vmm/msi.h"
#include "vmm/platform.h"
#include "vmm/vcpu.h"

#define MAX_KERNEL_SIZE (512ull << 20)


/* With the split irqchip the line is vmon's IOAPIC's pin; else KVM's (KVM_IRQ_LINE). */
static void machine_set_irq(void *ctx, uint32_t gsi, int level)
{
	struct machine *m = ctx;
	if (m->ioapic) {
		ioapic_set_line(m->ioapic, gsi, level);
		return;
	}
	int ret = hv_vm_set_irq_line(m->vm, gsi, level);
	if (ret < 0)
		log_error("cannot set IRQ %u: %s", gsi, strerror(-ret));
}

/* Through the interrupt remapper, if any: a message it blocks is not delivered. */
static void machine_signal_msi(void *ctx, uint16_t source_id, uint64_t address, uint32_t data)
{
	struct machine *m = ctx;
	int ret = msi_routes_signal(&m->msi, source_id, address, data);
	if (ret < 0 && ret != -EPERM)
		log_error("cannot signal an MSI: %s", strerror(-ret));
}

static int machine_add_ioeventfd(void *ctx, int eventfd, uint64_t addr, uint32_t len)
{
	struct machine *m = ctx;
	return hv_vm_add_ioeventfd(m->vm, eventfd, addr, len, false);
}

static int machine_remove_ioeventfd(void *ctx, int eventfd, uint64_t addr, uint32_t len)
{
	struct machine *m = ctx;
	return hv_vm_remove_ioeventfd(m->vm, eventfd, addr, len, false);
}

static int machine_create_msi_irqfd(void *ctx, uint32_t *gsi)
{
	struct machine *m = ctx;
	return msi_routes_create(&m->msi, gsi);
}

static int machine_route_msi_irqfd(void *ctx, uint32_t gsi, uint16_t source_id, bool enabled,
				   uint64_t address, uint32_t data)
{
	struct machine *m = ctx;
	return msi_routes_set(&m->msi, gsi, source_id, enabled, address, data);
}

/* ---- the split irqchip's IOAPIC ---- */

/* A pin's message: remapped (if a remapper is set) and injected; a blocked one is dropped. */
static void machine_ioapic_deliver(void *ctx, uint64_t address, uint32_t data)
{
	machine_signal_msi(ctx, LAYOUT_IOAPIC_SOURCE_ID, address, data);
}

static void machine_ioapic_route_changed(void *ctx, unsigned pin, bool enabled, uint64_t address,
					 uint32_t data)
{
	struct machine *m = ctx;
	int ret = msi_routes_set_pin(&m->msi, pin, enabled, address, data);
	if (ret < 0)
		log_error("cannot route IOAPIC pin %u: %s", pin, strerror(-ret));
}

/* HV_EXIT_IOAPIC_EOI: a LAPIC ended a level-triggered interrupt of the IOAPIC's. */
static void machine_ioapic_eoi(void *ctx, uint8_t vector)
{
	struct machine *m = ctx;
	if (m->ioapic)
		ioapic_eoi(m->ioapic, vector);
}

static void machine_destroy_msi_irqfd(void *ctx, uint32_t gsi, int eventfd)
{
	struct machine *m = ctx;
	msi_routes_release(&m->msi, gsi, eventfd);
}

static void machine_request_stop(void *ctx, enum vm_stop_reason why)
{
	struct machine *m = ctx;
	pthread_mutex_lock(&m->stop_lock);
	if (!m->stop_requested) {
		m->stop_requested = true;
		m->stop_reason = why;
		uint64_t one = 1;
		if (write(m->stop_fd, &one, sizeof(one)) < 0)
			log_error("cannot signal the stop request: %s", strerror(errno));
	}
	pthread_mutex_unlock(&m->stop_lock);
}

static uint64_t host_memory_bytes(void)
{
	struct sysinfo si;
	if (sysinfo(&si) != 0)
		return UINT64_MAX;
	return (uint64_t)si.totalram * si.mem_unit;
}

/* KVM's own limit on vCPUs, known only once /dev/kvm is open. */
static int check_vcpus_against_host(const struct machine *m)
{
	const struct hv_info *info = hv_get_info(m->hv);
	if ((int)m->cfg->nr_cpus > info->max_vcpus) {
		log_error("--cpus %u is more than this host's KVM allows (%d)",
			  m->cfg->nr_cpus, info->max_vcpus);
		return -EINVAL;
	}
	return 0;
}

static void report_host(const struct hv *hv)
{
	const struct hv_info *info = hv_get_info(hv);
	log_info("host: KVM on %s (signature \"%s\", up to %d vCPUs)",
		 hv_host_kind_name(info->kind), info->kvm_signature, info->max_vcpus);
	if (info->kind == HV_HOST_SOFTWARE)
		log_warn("this KVM has no hardware virtualization: only PVM-enlightened "
			 "guests run fast; an unmodified kernel's ring-0 code is emulated "
			 "(about a million instructions a second)");
}

static int map_memory(struct machine *m)
{
	int ret = 0;
	for (unsigned i = 0; i < m->mem.nr_regions && ret == 0; i++) {
		const struct guest_mem_region *r = &m->mem.regions[i];
		ret = hv_vm_map_memory(m->vm, i, r->gpa, r->size, r->host);
	}
	if (ret < 0)
		log_error("KVM refused guest RAM: %s", strerror(-ret));
	return ret;
}

static int setup_acpi(struct machine *m)
{
	static uint8_t tables[LAYOUT_ACPI_SIZE];
	struct acpi_config cfg = {
		.nr_cpus = m->cfg->nr_cpus, .base_gpa = LAYOUT_ACPI_START,
		.mmio_devices = m->platform.mmio_devices,
		.nr_mmio_devices = m->platform.nr_mmio_devices,
		.dmar = m->cfg->iommu.kind == IOMMU_INTEL, .dmar_intremap = m->cfg->iommu.intremap,
	};
	long size = acpi_build(tables, sizeof(tables), &cfg);
	if (size < 0 || guest_mem_write(&m->mem, LAYOUT_ACPI_START, tables, (uint64_t)size) < 0) {
		log_error("cannot build the ACPI tables");
		return -EINVAL;
	}
	return 0;
}

static int open_image(const char *what, const char *path, struct image *img)
{
	int ret = image_open(img, path, MAX_KERNEL_SIZE);
	if (ret == -EINVAL)
		log_error("%s '%s' is not a regular file", what, path);
	else if (ret == -EFBIG)
		log_error("%s '%s' is larger than %llu MiB", what, path, MAX_KERNEL_SIZE >> 20);
	else if (ret < 0)
		log_error("cannot read %s '%s': %s", what, path, strerror(-ret));
	return ret;
}

static int boot_cmdline(const struct vm_config *cfg, char **out)
{
	int ret = vm_config_boot_cmdline(cfg, out);
	if (ret == -EINVAL)
		log_error("the root device must be the first disk");
	else if (ret < 0)
		log_error("cannot build the kernel command line: %s", strerror(-ret));
	return ret;
}

/* Copies kernel and initrd from their files straight into guest RAM. */
static int load_kernel(struct machine *m, struct kernel_entry *entry)
{
	char *cmdline = NULL;
	struct kernel_image img = {
		.kernel = { .fd = -1 }, .initrd = { .fd = -1 },
		.has_initrd = m->cfg->initrd_path != NULL, .rsdp_gpa = LAYOUT_ACPI_START,
	};
	int ret = boot_cmdline(m->cfg, &cmdline);
	img.cmdline = cmdline;
	if (ret == 0)
		ret = open_image("kernel", m->cfg->kernel_path, &img.kernel);
	if (ret == 0 && img.has_initrd)
		ret = open_image("initrd", m->cfg->initrd_path, &img.initrd);
	if (ret == 0) {
		const char *why = "";
		ret = x86_load_kernel(&m->mem, &img, entry, &why);
		if (ret < 0)
			log_error("cannot boot '%s': %s", m->cfg->kernel_path, why);
	}
	image_close(&img.kernel);
	image_close(&img.initrd);
	free(cmdline);
	return ret;
}

static int create_vcpus(struct machine *m, const struct kernel_entry *entry)
{
	struct kvm_cpuid2 *supported = m->cpuid = hv_get_supported_cpuid(m->hv);
	if (supported)
		cpuid_fill_host_brand(supported);
	m->vcpus = calloc(m->cfg->nr_cpus, sizeof(*m->vcpus));
	int ret = supported && m->vcpus ? 0 : -ENOMEM;
	for (unsigned i = 0; ret == 0 && i < m->cfg->nr_cpus; i++) {
		struct vcpu *v = &m->vcpus[i];
		v->exits = (struct exit_context){
			.pio = m->pio, .mmio = m->mmio, .vcpu_index = i,
			.ioapic_eoi = machine_ioapic_eoi, .eoi_ctx = m,
		};
		v->control = &m->control;
		v->gate = &m->gate;
		ret = hv_vcpu_create(m->vm, i, &v->hv);
		if (ret == 0)
			ret = x86_vcpu_init(v->hv, supported, m->cfg->nr_cpus);
	}
	if (ret == 0 && entry)
		ret = x86_boot_cpu_setup(m->vcpus[0].hv, &m->mem, entry);
	if (ret < 0)
		log_error("cannot set up the vCPUs: %s", strerror(-ret));
	return ret;
}

static bool stop_was_requested(struct machine *m)
{
	pthread_mutex_lock(&m->stop_lock);
	bool requested = m->stop_requested;
	pthread_mutex_unlock(&m->stop_lock);
	return requested;
}

static enum vm_stop_reason stop_reason(struct machine *m)
{
	pthread_mutex_lock(&m->stop_lock);
	enum vm_stop_reason why = m->stop_reason;
	pthread_mutex_unlock(&m->stop_lock);
	return why;
}

/* Sleeps until a device, a vCPU, a signal or another thread asks the VM to stop. */
static void wait_for_stop(struct machine *m)
{
	struct pollfd fds[2] = {
		{ .fd = m->stop_fd, .events = POLLIN },
		{ .fd = m->signal_fd, .events = POLLIN },
	};
	while (!stop_was_requested(m)) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR) {
			machine_request_stop(m, VM_STOP_ERROR);
			break;
		}
		struct signalfd_siginfo si;
		if ((fds[1].revents & POLLIN) && read(m->signal_fd, &si, sizeof(si)) == sizeof(si)) {
			log_info("signal %u: stopping the VM", si.ssi_signo);
			machine_request_stop(m, VM_STOP_USER);
		}
	}
}

static const char *const exit_kind_names[HV_EXIT_KIND_COUNT] = {
	[HV_EXIT_IO] = "io", [HV_EXIT_MMIO] = "mmio", [HV_EXIT_HLT] = "hlt",
	[HV_EXIT_SHUTDOWN] = "shutdown", [HV_EXIT_SYSTEM_EVENT] = "system_event",
	[HV_EXIT_FAIL_ENTRY] = "fail_entry", [HV_EXIT_INTERNAL_ERROR] = "internal_error",
	[HV_EXIT_INTERRUPTED] = "interrupted", [HV_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	[HV_EXIT_UNKNOWN] = "unknown",
};

const char *machine_exit_kind_name(unsigned k)
{
	return k < HV_EXIT_KIND_COUNT ? exit_kind_names[k] : "invalid";
}

static unsigned nr_vcpus(const struct machine *m)
{
	return m->vcpus ? m->cfg->nr_cpus : 0;
}

void machine_get_counters(struct machine *m, struct machine_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < nr_vcpus(m); i++)
		for (unsigned k = 0; k < HV_EXIT_KIND_COUNT; k++)
			out->exits[k] += vcpu_exit_count(&m->vcpus[i], k);
	out->nr_disks = m->platform.nr_disks;
	platform_disk_counters(&m->platform, out->disks);
	out->nr_nics = m->platform.nr_nics;
	platform_nic_counters(&m->platform, out->nics);
}

/* --stats: exits by reason, unclaimed accesses, vmon's memory beside guest RAM, NIC counters. */
static void print_stats(struct machine *m)
{
	struct machine_counters c;
	machine_get_counters(m, &c);
	fprintf(stderr, "vmon-stats: exits");
	for (unsigned k = 0; k < HV_EXIT_KIND_COUNT; k++)
		fprintf(stderr, " %s=%llu", machine_exit_kind_name(k), (unsigned long long)c.exits[k]);
	struct bus_stats pio, mmio;
	bus_get_stats(m->pio, &pio);
	bus_get_stats(m->mmio, &mmio);
	fprintf(stderr, " unclaimed_pio=%llu unclaimed_mmio=%llu\n",
		(unsigned long long)(pio.unclaimed_reads + pio.unclaimed_writes),
		(unsigned long long)(mmio.unclaimed_reads + mmio.unclaimed_writes));

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t guest_kib = guest_mem_resident_bytes(&m->mem) >> 10;
	fprintf(stderr, "vmon-stats: rss_kib=%ld guest_resident_kib=%llu overhead_kib=%lld\n",
		ru.ru_maxrss, (unsigned long long)guest_kib,
		(long long)ru.ru_maxrss - (long long)guest_kib);
	platform_print_nic_stats(&m->platform, c.nics);
}

static enum vmon_exit_status exit_status_of(enum vm_stop_reason why)
{
	switch (why) {
	case VM_STOP_POWEROFF:
	case VM_STOP_USER:
		return VMON_EXIT_POWEROFF;
	case VM_STOP_REBOOT:
		return VMON_EXIT_REBOOT;
	case VM_STOP_CRASH:
		return VMON_EXIT_CRASH;
	default:
		return VMON_EXIT_ERROR;
	}
}

/* The memory size the user asked for, checked against vmon's layout and the host. */
static int check_memory_size(const struct machine *m)
{
	/* RAM above 4 GiB must end below the 64-bit PCI window. */
	uint64_t max = LAYOUT_PCI_MMIO64_START - (LAYOUT_HIGH_RAM_START - LAYOUT_PCI_HOLE_START);
	if (m->cfg->mem_size > max) {
		log_error("--memory can be at most %llu GiB", (unsigned long long)(max >> 30));
		return -EINVAL;
	}
	uint64_t host = host_memory_bytes();
	if (m->cfg->mem_size > host) {
		log_error("--memory %llu MiB is more than this host has (%llu MiB)",
			  (unsigned long long)(m->cfg->mem_size >> 20),
			  (unsigned long long)(host >> 20));
		return -ENOMEM;
	}
	if (m->cfg->mem_size < VM_MIN_MEMORY) {
		log_error("--memory must be at least %llu MiB", VM_MIN_MEMORY >> 20);
		return -EINVAL;
	}
	return 0;
}

/* Guest RAM: anonymous, or a snapshot's memory file (mem_fd >= 0) mapped privately. */
static int map_guest_ram(struct machine *m, int mem_fd)
{
	int ret = mem_fd < 0 ? guest_mem_init(&m->mem, m->cfg->mem_size, LAYOUT_PCI_HOLE_START,
					      LAYOUT_HIGH_RAM_START)
			     : guest_mem_init_file(&m->mem, mem_fd, m->cfg->mem_size,
						   LAYOUT_PCI_HOLE_START, LAYOUT_HIGH_RAM_START);
	if (ret == -EINVAL && mem_fd >= 0)
		log_error("the memory file is not a regular file of %llu MiB, the VM's memory size",
			  (unsigned long long)(m->cfg->mem_size >> 20));
	else if (ret < 0)
		log_error("cannot map %llu MiB of guest RAM: %s",
			  (unsigned long long)(m->cfg->mem_size >> 20), strerror(-ret));
	return ret;
}

/*
 * Everything the user's input decides, checked before KVM is touched: the
 * files, the memory size, and (unless `entry` is NULL: a restore, whose
 * RAM already holds the guest) whether the kernel fits and can be booted.
 */
static int prepare_guest_memory(struct machine *m, int mem_fd, struct kernel_entry *entry)
{
	int ret = check_memory_size(m);
	if (ret == 0)
		ret = map_guest_ram(m, mem_fd);
	if (ret == 0 && entry)
		ret = load_kernel(m, entry);
	if (ret == 0)
		ret = platform_open_disks(&m->platform, m->cfg->disks, m->cfg->nr_disks, &m->mem);
	if (ret == 0)
		ret = platform_open_nics(&m->platform, m->cfg->nics, m->cfg->nr_nics, &m->mem);
	if (ret == 0 && !entry)
		platform_detach_nics(&m->platform); /* a restore takes no frames before it runs */
	return ret;
}

/*
 * Interrupt remapping needs interrupts to leave KVM's IOAPIC, so a VM with
 * an IOMMU gets the split irqchip (LAPICs in KVM, vmon's IOAPIC) and no PIC
 * or PIT: KVM_CREATE_PIT2 needs the in-kernel irqchip (a guest's PIC probe
 * reads all-ones from the unclaimed ports). Without an IOMMU: all in KVM.
 */
static int create_irqchip(struct machine *m)
{
	bool split = m->cfg->iommu.kind != IOMMU_NONE;
	int ret = split ? hv_vm_create_split_irqchip(m->vm, LAYOUT_IOAPIC_PINS)
			: hv_vm_create_irqchip(m->vm);
	if (ret == -ENOTSUP && split)
		log_error("this host's KVM has no split irqchip (KVM_CAP_SPLIT_IRQCHIP), "
			  "which --iommu needs");
	else if (ret < 0)
		log_error("cannot create the %s interrupt controllers: %s",
			  split ? "split" : "in-kernel", strerror(-ret));
	/* Remapping offers x2APIC (EIM): KVM must take 32-bit destinations. */
	if (ret == 0 && m->cfg->iommu.intremap && (ret = hv_vm_enable_x2apic_ids(m->vm)) < 0)
		log_error("intremap=on needs KVM's 32-bit x2APIC IDs (KVM_CAP_X2APIC_API): %s",
			  strerror(-ret));
	return ret;
}

/* vmon's IOAPIC, with the ID the MADT gives it (acpi.c: the one after the LAPICs'). */
static int create_ioapic(struct machine *m)
{
	struct ioapic_config cfg = {
		.id = (uint8_t)m->cfg->nr_cpus,
		.hooks = { .deliver = machine_ioapic_deliver,
			   .route_changed = machine_ioapic_route_changed, .ctx = m },
	};
	m->ioapic = ioapic_create(&cfg);
	int ret = m->ioapic ? ioapic_register(m->ioapic, m->mmio) : -errno;
	if (ret < 0)
		log_error("cannot create the IOAPIC: %s", strerror(-ret));
	return ret;
}

/*
 * The VM itself, up to the first instruction: returns 0 when it can run.
 * `entry` NULL: a restore (no kernel, no ACPI tables, no boot vCPU set-up:
 * guest RAM and the state to load hold them).
 */
static int build(struct machine *m, int mem_fd, struct kernel_entry *entry)
{
	int ret = prepare_guest_memory(m, mem_fd, entry);
	if (ret == 0)
		ret = hv_open(&m->hv);
	if (ret < 0)
		return ret;
	report_host(m->hv);
	ret = check_vcpus_against_host(m);
	if (ret == 0 && (ret = hv_vm_create(m->hv, &m->vm)) < 0)
		log_error("cannot create a VM: %s", strerror(-ret));
	if (ret == 0)
		ret = map_memory(m);
	if (ret == 0)
		ret = create_irqchip(m);
	if (ret == 0) {
		msi_routes_init(&m->msi, m->vm);
		m->msi_ready = true;
	}
	m->pio = bus_create("pio");
	m->mmio = bus_create("mmio");
	if (ret == 0 && (!m->pio || !m->mmio))
		ret = -ENOMEM;
	if (ret == 0 && m->cfg->iommu.kind != IOMMU_NONE)
		ret = create_ioapic(m);
	if (ret == 0)
		ret = platform_create(&m->platform, m->pio, m->mmio, &m->mem, &m->control,
				      m->cfg->console);
	if (ret == 0)
		ret = platform_attach_disks(&m->platform, m->mmio, &m->control);
	if (ret == 0)
		ret = platform_attach_nics(&m->platform, m->mmio, &m->control);
	if (ret == 0)
		ret = machine_iommu_create(m);
	if (ret == 0 && entry)
		ret = setup_acpi(m);
	if (ret == 0)
		ret = create_vcpus(m, entry);
	return ret;
}

static void teardown(struct machine *m)
{
	platform_destroy(&m->platform);
	ioapic_destroy(m->ioapic); /* after the devices that drive its lines, before the routes */
	machine_iommu_destroy(m); /* after the devices that translate through it */
	if (m->msi_ready)
		msi_routes_destroy(&m->msi);
	for (unsigned i = 0; i < nr_vcpus(m); i++)
		hv_vcpu_destroy(m->vcpus[i].hv);
	free(m->vcpus);
	free(m->cpuid);
	bus_destroy(m->pio);
	bus_destroy(m->mmio);
	hv_vm_destroy(m->vm);
	guest_mem_destroy(&m->mem);
	hv_close(m->hv);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	vcpu_gate_destroy(&m->gate);
	pthread_mutex_destroy(&m->stop_lock);
}

/* Ends the vCPU threads and writes out the console's pending output; once. */
static void halt(struct machine *m)
{
	if (m->halted)
		return;
	vcpus_stop(&m->gate, m->vcpus, nr_vcpus(m));
	platform_flush_console(&m->platform);
	m->halted = true;
}

static struct machine *machine_alloc(const struct vm_config *cfg)
{
	struct machine *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cfg = cfg;
	m->control = (struct vm_control){
		.set_irq = machine_set_irq, .request_stop = machine_request_stop,
		.signal_msi = machine_signal_msi, .add_ioeventfd = machine_add_ioeventfd,
		.remove_ioeventfd = machine_remove_ioeventfd,
		.create_msi_irqfd = machine_create_msi_irqfd,
		.route_msi_irqfd = machine_route_msi_irqfd,
		.destroy_msi_irqfd = machine_destroy_msi_irqfd, .ctx = m,
	};
	pthread_mutex_init(&m->stop_lock, NULL);
	vcpu_gate_init(&m->gate);
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	m->signal_fd = stop_signals_fd();
	return m;
}

/* A booting machine (entry set) or one to restore into (entry NULL). */
static int create(const struct vm_config *cfg, int mem_fd, struct kernel_entry *entry,
		  struct machine **out)
{
	*out = NULL;
	struct machine *m = machine_alloc(cfg);
	int ret = !m ? -ENOMEM : m->stop_fd < 0 || m->signal_fd < 0 ? -errno
								  : vcpu_install_kick_handler();
	if (ret < 0)
		log_error("cannot set up vmon's event and signal handling: %s", strerror(-ret));
	if (ret == 0)
		ret = build(m, mem_fd, entry);
	if (ret < 0) {
		machine_destroy(m);
		return ret;
	}
	*out = m;
	return 0;
}

int machine_create(const struct vm_config *cfg, struct machine **out)
{
	struct kernel_entry entry;
	return create(cfg, -1, &entry, out);
}

int machine_create_restored(const struct vm_config *cfg, int mem_fd, struct machine **out)
{
	int ret = create(cfg, mem_fd, NULL, out);
	if (ret == 0)
		machine_pause(*out); /* the vCPUs wait for their state, then for machine_resume */
	return ret;
}

int machine_start(struct machine *m)
{
	if (m->started)
		return -EALREADY;
	m->started = true;
	for (unsigned i = 0; i < m->cfg->nr_cpus; i++) {
		int ret = vcpu_start(&m->vcpus[i]);
		if (ret < 0) {
			log_error("cannot start vCPU %u: %s", i, strerror(-ret));
			machine_request_stop(m, VM_STOP_ERROR);
			return ret;
		}
	}
	return 0;
}

int machine_pause(struct machine *m)
{
	vcpu_gate_pause(&m->gate, m->vcpus, nr_vcpus(m));
	return 0;
}

int machine_resume(struct machine *m)
{
	if (m->frozen)
		return machine_thaw(m, true);
	vcpu_gate_resume(&m->gate);
	return 0;
}

int machine_send_ctrl_alt_del(struct machine *m)
{
	return platform_send_ctrl_alt_del(&m->platform);
}

int machine_replace_disk(struct machine *m, unsigned index, const char *path, const char **why)
{
	return platform_replace_disk(&m->platform, index, path, why);
}

bool machine_stop_requested(struct machine *m)
{
	return stop_was_requested(m);
}

void machine_request_shutdown(struct machine *m)
{
	machine_request_stop(m, VM_STOP_USER);
}

enum vmon_exit_status machine_wait(struct machine *m)
{
	wait_for_stop(m);
	if (!m->halted) {
		halt(m);
		if (m->cfg->stats)
			print_stats(m);
	}
	return exit_status_of(stop_reason(m));
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	halt(m);
	teardown(m);
	free(m);
}

enum vmon_exit_status machine_run(const struct vm_config *cfg)
{
	struct machine *m;
	if (machine_create(cfg, &m) < 0)
		return VMON_EXIT_ERROR;
	enum vmon_exit_status status = machine_start(m) == 0 ? machine_wait(m) : VMON_EXIT_ERROR;
	machine_destroy(m);
	return status;
}

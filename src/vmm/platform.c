#include "vmm/platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "backends/stdio_console.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc_cmos.h"
#include "devices/legacy/uart16550.h"
#include "pci/host.h"
#include "util/log.h"

#define CONSOLE_FLUSH_TIMEOUT_MS 2000

static void on_console_quit(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_USER);
}

static int create_devices(struct platform *p, const struct vm_control *vm,
			  enum console_kind console)
{
	struct stdio_console_ops console_ops = { .quit = on_console_quit, .ctx = (void *)vm };
	p->console = stdio_console_create(STDIN_FILENO, STDOUT_FILENO, &console_ops);
	/* COM1 always exists; it owns the terminal unless hvc0 does. */
	struct uart16550_config com1 = {
		.vm = vm, .gsi = IRQ_COM1, .port_base = PORT_COM1,
		.chardev = console == CONSOLE_SERIAL ? p->console : NULL,
	};
	p->com1 = p->console ? uart16550_create(&com1) : NULL;
	struct rtc_cmos_config rtc = { 0 };
	p->rtc = rtc_cmos_create(&rtc);
	struct i8042_config kbd = { .vm = vm, .gsi = IRQ_I8042_KBD };
	p->i8042 = i8042_create(&kbd);
	struct acpi_pm_config pm = { .vm = vm, .gsi = IRQ_ACPI_SCI };
	p->acpi_pm = acpi_pm_create(&pm);
	return p->console && p->com1 && p->rtc && p->i8042 && p->acpi_pm ? 0 : -ENOMEM;
}

static int register_devices(struct platform *p, struct bus *pio)
{
	int ret = uart16550_register(p->com1, pio);
	if (ret == 0)
		ret = rtc_cmos_register(p->rtc, pio);
	if (ret == 0)
		ret = i8042_register(p->i8042, pio);
	if (ret == 0)
		ret = acpi_pm_register(p->acpi_pm, pio);
	return ret;
}

/* PCI class 07:80:00 ("other communication controller"), as QEMU gives virtio-console. */
#define PCI_CLASS_CONSOLE 0x078000

/* --console virtio: the terminal as hvc0, sized like the host's terminal. */
static int create_hvc(struct platform *p, const struct guest_mem *mem, const struct vm_control *vm)
{
	p->hvc = calloc(1, sizeof(*p->hvc));
	int ret = p->hvc ? virtio_console_init(p->hvc, p->console, mem) : -ENOMEM;
	if (ret < 0) {
		free(p->hvc);
		p->hvc = NULL;
		return ret;
	}
	virtio_console_set_size_from_fd(p->hvc, STDOUT_FILENO);
	ret = virtio_pci_init(&p->hvc_pci, &p->hvc->vd, PCI_CLASS_CONSOLE, vm);
	if (ret == 0 && pci_host_add_device(p->pci, &p->hvc_pci.pci) < 0) {
		virtio_pci_destroy(&p->hvc_pci);
		ret = -ENOSPC;
	}
	if (ret < 0) {
		virtio_console_destroy(p->hvc);
		free(p->hvc);
		p->hvc = NULL;
	}
	return ret;
}

/* PCI class 00:ff:00 ("unclassified device"), as QEMU gives its virtio-rng. */
#define PCI_CLASS_RNG 0x00ff00

static int create_rng(struct platform *p, const struct guest_mem *mem, const struct vm_control *vm)
{
	int ret = virtio_rng_init(&p->rng, mem);
	if (ret < 0)
		return ret;
	ret = virtio_pci_init(&p->rng_pci, &p->rng.vd, PCI_CLASS_RNG, vm);
	if (ret == 0 && pci_host_add_device(p->pci, &p->rng_pci.pci) < 0) {
		virtio_pci_destroy(&p->rng_pci);
		ret = -ENOSPC;
	}
	if (ret < 0) {
		virtio_rng_destroy(&p->rng);
		return ret;
	}
	p->rng_ready = true;
	return 0;
}

int platform_create(struct platform *p, struct bus *pio, struct bus *mmio,
		    const struct guest_mem *mem, const struct vm_control *vm,
		    enum console_kind console)
{
	int ret = create_devices(p, vm, console);
	if (ret == 0)
		ret = register_devices(p, pio);
	if (ret == 0)
		ret = pci_host_create(&p->pci, pio, mmio);
	if (ret == 0)
		ret = create_rng(p, mem, vm);
	if (ret == 0 && console == CONSOLE_VIRTIO)
		ret = create_hvc(p, mem, vm);
	if (ret < 0)
		log_error("cannot create the platform devices: %s", strerror(-ret));
	return ret;
}

/* PCI class 01:80:00 ("other mass storage"), as QEMU gives virtio-blk. */
#define PCI_CLASS_BLOCK 0x018000

static int attach_mmio(struct platform *p, struct virtio_mmio *t, struct virtio_device *vd,
		       struct bus *mmio, const struct vm_control *vm)
{
	unsigned i = p->nr_mmio_devices;
	if (i == LAYOUT_VIRTIO_MMIO_MAX)
		return -ENOSPC;
	int ret = virtio_mmio_init(t, vd, vm, GSI_VIRTIO_MMIO(i));
	if (ret == 0)
		ret = virtio_mmio_register(t, mmio, LAYOUT_VIRTIO_MMIO_ADDR(i));
	if (ret == 0)
		p->mmio_devices[p->nr_mmio_devices++] = (struct acpi_mmio_device){
			LAYOUT_VIRTIO_MMIO_ADDR(i), LAYOUT_VIRTIO_MMIO_SIZE, GSI_VIRTIO_MMIO(i),
		};
	return ret;
}

#define PCI_CLASS_NETWORK 0x020000

static int attach_slot(struct platform *p, struct platform_slot *slot, struct virtio_device *vd,
		       uint32_t pci_class, struct bus *mmio, const struct vm_control *vm)
{
	int ret;
	if (slot->transport == TRANSPORT_MMIO) {
		ret = attach_mmio(p, &slot->mmio, vd, mmio, vm);
	} else {
		ret = virtio_pci_init(&slot->pci, vd, pci_class, vm);
		if (ret == 0 && pci_host_add_device(p->pci, &slot->pci.pci) < 0) {
			virtio_pci_destroy(&slot->pci);
			ret = -ENOSPC;
		}
	}
	slot->attached = ret == 0;
	return ret;
}

/* Resets the device first: that stops its worker, then nothing uses the transport. */
static void detach_slot(struct platform_slot *slot, struct virtio_device *vd)
{
	virtio_set_status(vd, 0);
	if (slot->attached && slot->transport == TRANSPORT_MMIO)
		virtio_mmio_destroy(&slot->mmio);
	else if (slot->attached)
		virtio_pci_destroy(&slot->pci);
}

static int open_disk(struct platform *p, const struct disk_config *cfg,
		     const struct guest_mem *mem)
{
	struct platform_disk *d = &p->disks[p->nr_disks];
	struct virtio_blk_config blk = {
		.path = cfg->path, .readonly = cfg->readonly, .direct = cfg->direct,
		.no_flush = cfg->cache == DISK_CACHE_UNSAFE, .serial = cfg->serial, .queues = cfg->queues,
	};
	const char *why = "";
	int ret = virtio_blk_init(&d->blk, &blk, mem, &why);
	if (ret < 0) {
		log_error("--disk path=%s: %s", cfg->path, why);
		return ret;
	}
	d->slot.transport = cfg->transport;
	p->nr_disks++;
	return 0;
}

int platform_open_disks(struct platform *p, const struct disk_config *disks, unsigned n,
			const struct guest_mem *mem)
{
	p->disks = n ? calloc(n, sizeof(*p->disks)) : NULL;
	if (n && !p->disks)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int ret = open_disk(p, &disks[i], mem);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int platform_attach_disks(struct platform *p, struct bus *mmio, const struct vm_control *vm)
{
	for (unsigned i = 0; i < p->nr_disks; i++) {
		struct platform_disk *d = &p->disks[i];
		int ret = attach_slot(p, &d->slot, &d->blk.vd, PCI_CLASS_BLOCK, mmio, vm);
		if (ret < 0) {
			log_error("--disk %u: no room for another device (%s)", i + 1, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static enum net_vhost_mode vhost_mode(enum vhost_choice c)
{
	return c == VHOST_ON ? NET_VHOST_ON : c == VHOST_OFF ? NET_VHOST_OFF : NET_VHOST_AUTO;
}

static int open_nic(struct platform *p, const struct nic_config *cfg, const struct guest_mem *mem)
{
	struct platform_nic *n = &p->nics[p->nr_nics];
	struct virtio_net_config net = {
		.tap = cfg->tap, .queue_pairs = cfg->queues, .vhost = vhost_mode(cfg->vhost),
	};
	if (cfg->mac_set)
		memcpy(net.mac, cfg->mac, sizeof(net.mac));
	else
		virtio_net_stable_mac(cfg->tap, net.mac);
	const char *why = "";
	int ret = virtio_net_init(&n->net, &net, mem, &why);
	if (ret < 0) {
		log_error("--net tap=%s: %s", cfg->tap, why);
		return ret;
	}
	n->slot.transport = cfg->transport;
	p->nr_nics++;
	return 0;
}

int platform_open_nics(struct platform *p, const struct nic_config *nics, unsigned n,
		       const struct guest_mem *mem)
{
	p->nics = n ? calloc(n, sizeof(*p->nics)) : NULL;
	if (n && !p->nics)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int ret = open_nic(p, &nics[i], mem);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void platform_detach_nics(struct platform *p)
{
	for (unsigned i = 0; i < p->nr_nics; i++)
		virtio_net_detach_backend(&p->nics[i].net);
}

int platform_attach_nics(struct platform *p, struct bus *mmio, const struct vm_control *vm)
{
	for (unsigned i = 0; i < p->nr_nics; i++) {
		struct platform_nic *n = &p->nics[i];
		int ret = attach_slot(p, &n->slot, &n->net.vd, PCI_CLASS_NETWORK, mmio, vm);
		if (ret < 0) {
			log_error("--net tap=%s: no room for another device (%s)", n->net.tap.name,
				  strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void platform_disk_counters(const struct platform *p, struct disk_counters *out)
{
	for (unsigned i = 0; i < p->nr_disks; i++)
		virtio_blk_counters(&p->disks[i].blk, &out[i]);
}

void platform_nic_counters(const struct platform *p, struct net_counters *out)
{
	for (unsigned i = 0; i < p->nr_nics; i++)
		virtio_net_counters(&p->nics[i].net, &out[i]);
}

void platform_print_nic_stats(const struct platform *p, const struct net_counters *counters)
{
	for (unsigned i = 0; i < p->nr_nics; i++) {
		const struct virtio_net *net = &p->nics[i].net;
		const struct net_counters *c = &counters[i];
		fprintf(stderr, "vmon-stats: net%u: tap=%s vhost=%s rx_packets=%llu rx_bytes=%llu "
			"rx_drops=%llu tx_packets=%llu tx_bytes=%llu tx_drops=%llu\n",
			i, net->tap.name, net->vhost ? "on" : "off",
			(unsigned long long)c->rx_packets, (unsigned long long)c->rx_bytes,
			(unsigned long long)c->rx_drops, (unsigned long long)c->tx_packets,
			(unsigned long long)c->tx_bytes, (unsigned long long)c->tx_drops);
	}
}

int platform_send_ctrl_alt_del(struct platform *p)
{
	return p->i8042 ? i8042_send_ctrl_alt_del(p->i8042) : -ENODEV;
}

int platform_replace_disk(struct platform *p, unsigned index, const char *path, const char **why)
{
	if (index >= p->nr_disks) {
		*why = "no such disk";
		return -ENOENT;
	}
	int ret = virtio_blk_replace_file(&p->disks[index].blk, path, why);
	if (ret == 0)
		log_info("disk %u now serves '%s'", index, path);
	return ret;
}

/* Every virtio device of the platform, with its state's instance number and transport. */
struct virtio_slot_ref {
	struct virtio_device *vd;
	struct platform_slot *slot;  /* NULL: on PCI, `pci` */
	struct virtio_pci *pci;
	uint32_t instance;
};

static unsigned virtio_slots(struct platform *p, struct virtio_slot_ref *out)
{
	unsigned n = 0;
	if (p->rng_ready)
		out[n++] = (struct virtio_slot_ref){ &p->rng.vd, NULL, &p->rng_pci, 0 };
	if (p->hvc)
		out[n++] = (struct virtio_slot_ref){ &p->hvc->vd, NULL, &p->hvc_pci, 1 };
	for (unsigned i = 0; i < p->nr_disks; i++)
		out[n++] = (struct virtio_slot_ref){ &p->disks[i].blk.vd, &p->disks[i].slot, NULL,
						      PLATFORM_DISK_INSTANCE(i) };
	for (unsigned i = 0; i < p->nr_nics; i++)
		out[n++] = (struct virtio_slot_ref){ &p->nics[i].net.vd, &p->nics[i].slot, NULL,
						      PLATFORM_NIC_INSTANCE(i) };
	return n;
}

#define MAX_VIRTIO_SLOTS (2 + VM_MAX_DISKS + VM_MAX_NICS)

void platform_quiesce_devices(struct platform *p)
{
	struct virtio_slot_ref refs[MAX_VIRTIO_SLOTS];
	unsigned n = virtio_slots(p, refs);
	for (unsigned i = 0; i < n; i++)
		virtio_device_quiesce(refs[i].vd);
}

int platform_unquiesce_devices(struct platform *p)
{
	struct virtio_slot_ref refs[MAX_VIRTIO_SLOTS];
	unsigned n = virtio_slots(p, refs);
	int ret = 0;
	for (unsigned i = 0; i < n; i++) {
		int r = virtio_device_unquiesce(refs[i].vd);
		ret = ret ? ret : r;
	}
	return ret;
}

static bool on_mmio(const struct virtio_slot_ref *ref)
{
	return ref->slot && ref->slot->transport == TRANSPORT_MMIO;
}

static struct virtio_pci *pci_of(const struct virtio_slot_ref *ref)
{
	return ref->slot ? &ref->slot->pci : ref->pci;
}

int platform_set_iommu(struct platform *p, const struct dma_translator *iommu)
{
	struct virtio_slot_ref refs[MAX_VIRTIO_SLOTS];
	unsigned n = virtio_slots(p, refs);
	for (unsigned i = 0; i < n; i++) {
		if (on_mmio(&refs[i])) {
			log_error("a virtio-mmio device cannot be behind the IOMMU: put it on PCI");
			return -EINVAL;
		}
		virtio_pci_set_iommu(pci_of(&refs[i]), iommu);
	}
	return 0;
}

const struct dma_space *platform_probe_dma_space(const struct platform *p)
{
	return &p->rng.vd.dma;
}

int platform_select_net_paths(struct platform *p, bool vhost)
{
	for (unsigned i = 0; i < p->nr_nics; i++) {
		int ret = virtio_net_select_path(&p->nics[i].net, vhost);
		if (ret < 0 && !(vhost && ret == -ENOTSUP)) /* no vhost-net opened: its own path already */
			return ret;
	}
	return 0;
}

void platform_save(struct platform *p, struct state_writer *w)
{
	uart16550_save(p->com1, w);
	rtc_cmos_save(p->rtc, w);
	i8042_save(p->i8042, w);
	acpi_pm_save(p->acpi_pm, w);
	struct virtio_slot_ref refs[MAX_VIRTIO_SLOTS];
	unsigned n = virtio_slots(p, refs);
	for (unsigned i = 0; i < n; i++) {
		if (on_mmio(&refs[i]))
			virtio_mmio_save(&refs[i].slot->mmio, w, refs[i].instance);
		else
			virtio_pci_save(pci_of(&refs[i]), w, refs[i].instance);
	}
}

int platform_load(struct platform *p, const struct state_reader *r)
{
	int ret = uart16550_load(p->com1, r);
	if (ret == 0)
		ret = rtc_cmos_load(p->rtc, r);
	if (ret == 0)
		ret = i8042_load(p->i8042, r);
	if (ret == 0)
		ret = acpi_pm_load(p->acpi_pm, r);
	struct virtio_slot_ref refs[MAX_VIRTIO_SLOTS];
	unsigned n = virtio_slots(p, refs);
	for (unsigned i = 0; ret == 0 && i < n; i++)
		ret = on_mmio(&refs[i]) ? virtio_mmio_load(&refs[i].slot->mmio, r, refs[i].instance)
					: virtio_pci_load(pci_of(&refs[i]), r, refs[i].instance);
	return ret;
}

void platform_flush_console(struct platform *p)
{
	if (p->console)
		stdio_console_flush(p->console, CONSOLE_FLUSH_TIMEOUT_MS);
}

void platform_destroy(struct platform *p)
{
	/* Devices first: the UART detaches from the console before it goes. */
	if (p->acpi_pm)
		acpi_pm_destroy(p->acpi_pm);
	if (p->i8042)
		i8042_destroy(p->i8042);
	if (p->rtc)
		rtc_cmos_destroy(p->rtc);
	if (p->com1)
		uart16550_destroy(p->com1);
	if (p->console)
		stdio_console_destroy(p->console);
	for (unsigned i = 0; i < p->nr_disks; i++) {
		detach_slot(&p->disks[i].slot, &p->disks[i].blk.vd);
		virtio_blk_destroy(&p->disks[i].blk);
	}
	for (unsigned i = 0; i < p->nr_nics; i++) {
		detach_slot(&p->nics[i].slot, &p->nics[i].net.vd);
		virtio_net_destroy(&p->nics[i].net);
	}
	if (p->hvc) {
		virtio_set_status(&p->hvc->vd, 0);
		virtio_pci_destroy(&p->hvc_pci);
		virtio_console_destroy(p->hvc); /* detaches from the terminal backend */
		free(p->hvc);
	}
	free(p->disks);
	free(p->nics);
	if (p->rng_ready) {
		/* Reset stops the device's worker; then nothing uses the transport. */
		virtio_set_status(&p->rng.vd, 0);
		virtio_pci_destroy(&p->rng_pci);
		virtio_rng_destroy(&p->rng);
	}
	pci_host_destroy(p->pci);
	memset(p, 0, sizeof(*p));
}

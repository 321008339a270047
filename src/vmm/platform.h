/*
 * The platform devices every vmon VM has: COM1 on the host's terminal, the
 * CMOS RTC, the i8042 (reset, Ctrl-Alt-Del), the ACPI PM registers, the
 * PCI host bridge and a virtio-rng on it.
 */
#ifndef VMON_VMM_PLATFORM_H
#define VMON_VMM_PLATFORM_H

#include "bus/bus.h"
#include "devices/device.h"
#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "vmm/config.h"
#include "vmm/guest_mem.h"

/* A virtio device's place on the machine: PCI or MMIO. */
struct platform_slot {
	bool attached;
	enum virtio_transport_kind transport;
	struct virtio_pci pci;
	struct virtio_mmio mmio;
};

/* A --disk: a virtio-blk device on one transport. */
struct platform_disk {
	struct virtio_blk blk;
	struct platform_slot slot;
};

/* A --net: a virtio-net device on one transport. */
struct platform_nic {
	struct virtio_net net;
	struct platform_slot slot;
};

struct platform {
	struct pci_host *pci;
	struct virtio_rng rng;        /* entropy for the guest, always present */
	struct virtio_pci rng_pci;
	bool rng_ready;
	struct virtio_console *hvc;   /* --console virtio: the terminal on hvc0 */
	struct virtio_pci hvc_pci;
	struct platform_disk *disks;  /* nr_disks of them, all ready */
	unsigned nr_disks;
	struct platform_nic *nics;    /* nr_nics of them, all ready */
	unsigned nr_nics;
	/* The virtio-mmio windows, for the ACPI tables. */
	struct acpi_mmio_device mmio_devices[LAYOUT_VIRTIO_MMIO_MAX];
	unsigned nr_mmio_devices;
	struct chardev *console;
	struct uart16550 *com1;
	struct rtc_cmos *rtc;
	struct i8042 *i8042;
	struct acpi_pm *acpi_pm;
};

/*
 * Creates the devices and registers their ports on `pio` and MMIO ranges on
 * `mmio`. `p` starts zeroed, or holds only what platform_open_disks opened.
 */
int platform_create(struct platform *p, struct bus *pio, struct bus *mmio,
		    const struct guest_mem *mem, const struct vm_control *vm,
		    enum console_kind console);

/*
 * Opens every disk image (before the VM exists: bad input is found early).
 * 0, or -errno after one clear line. Call before platform_create.
 */
int platform_open_disks(struct platform *p, const struct disk_config *disks, unsigned n,
			const struct guest_mem *mem);
/* Puts each opened disk on its transport. 0, or -errno after one clear line. */
int platform_attach_disks(struct platform *p, struct bus *mmio, const struct vm_control *vm);

/*
 * Opens every TAP interface (and vhost-net) before the VM exists, like the
 * disks. 0, or -errno after one clear line.
 */
int platform_open_nics(struct platform *p, const struct nic_config *nics, unsigned n,
		       const struct guest_mem *mem);
/* Detaches every NIC's TAP queues (virtio_net_detach_backend): a VM to restore into. */
void platform_detach_nics(struct platform *p);
/* Puts each opened NIC on its transport. 0, or -errno after one clear line. */
int platform_attach_nics(struct platform *p, struct bus *mmio, const struct vm_control *vm);

/* The counters of every disk (nr_disks of them), and of every NIC; any thread. */
void platform_disk_counters(const struct platform *p, struct disk_counters *out);
void platform_nic_counters(const struct platform *p, struct net_counters *out);

/* --stats: one line per NIC with its counters (as platform_nic_counters read them). */
void platform_print_nic_stats(const struct platform *p, const struct net_counters *counters);

/*
 * Puts every virtio device behind `iommu` (each as its PCI requester id).
 * 0, or -EINVAL after logging when a device is on virtio-mmio, which no
 * PCI IOMMU covers.
 */
int platform_set_iommu(struct platform *p, const struct dma_translator *iommu);
/* How the DMA test hook reaches memory: as the virtio-rng does. */
const struct dma_space *platform_probe_dma_space(const struct platform *p);

/* Ctrl-Alt-Del on the keyboard. 0, -ENODEV without an i8042, or as i8042_send_ctrl_alt_del. */
int platform_send_ctrl_alt_del(struct platform *p);

/*
 * Disk `index` serves the image at `path` from now on (virtio_blk_replace_file).
 * 0, or -errno with *why a sentence for the user.
 */
int platform_replace_disk(struct platform *p, unsigned index, const char *path, const char **why);

/*
 * Snapshots and migration, with the vCPUs paused. quiesce: every virtio
 * device stops serving (virtio_device_quiesce); unquiesce: they serve
 * again (also after a load). save: every device's state; load: into a
 * platform built from the same configuration, leaving the virtio devices
 * quiesced. Each virtio device's sections carry its number: 0 the
 * virtio-rng, 1 the virtio-console, PLATFORM_DISK_INSTANCE(i) and
 * PLATFORM_NIC_INSTANCE(i). load: 0, or -EINVAL after logging why.
 */
#define PLATFORM_DISK_INSTANCE(i) (0x10u + (i))
#define PLATFORM_NIC_INSTANCE(i)  (0x20u + (i))
void platform_quiesce_devices(struct platform *p);
int platform_unquiesce_devices(struct platform *p);
void platform_save(struct platform *p, struct state_writer *w);
/*
 * While quiesced: NICs serve through vmon's own data path (vhost false),
 * whose guest-memory writes vmon tracks, or again through vhost-net where
 * it was opened (vhost true). 0 or -errno.
 */
int platform_select_net_paths(struct platform *p, bool vhost);
int platform_load(struct platform *p, const struct state_reader *r);

/* After the vCPUs stopped: writes out the console's pending output. */
void platform_flush_console(struct platform *p);

void platform_destroy(struct platform *p);

#endif

/*
 * The platform devices every vmon VM has: COM1 on the host's terminal, the
 * CMOS RTC, the i8042 (for reset), the ACPI PM registers, the PCI host
 * bridge and a virtio-rng on it.
 */
#ifndef VMON_VMM_PLATFORM_H
#define VMON_VMM_PLATFORM_H

#include "bus/bus.h"
#include "devices/device.h"
#include "devices/virtio/rng.h"
#include "virtio/pci.h"
#include "vmm/guest_mem.h"

struct platform {
	struct pci_host *pci;
	struct virtio_rng rng;        /* entropy for the guest, always present */
	struct virtio_pci rng_pci;
	bool rng_ready;
	struct chardev *console;
	struct uart16550 *com1;
	struct rtc_cmos *rtc;
	struct i8042 *i8042;
	struct acpi_pm *acpi_pm;
};

/* Creates the devices and registers their ports on `pio` and MMIO ranges on `mmio`. */
int platform_create(struct platform *p, struct bus *pio, struct bus *mmio,
		    const struct guest_mem *mem, const struct vm_control *vm);

/* After the vCPUs stopped: writes out the console's pending output. */
void platform_quiesce(struct platform *p);

void platform_destroy(struct platform *p);

#endif

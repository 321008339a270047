/*
 * The platform devices every vmon VM has: COM1 on the host's terminal, the
 * CMOS RTC, the i8042 (for reset), the ACPI PM registers and the PCI host
 * bridge.
 */
#ifndef VMON_VMM_PLATFORM_H
#define VMON_VMM_PLATFORM_H

#include "bus/bus.h"
#include "devices/device.h"

struct platform {
	struct pci_host *pci;
	struct chardev *console;
	struct uart16550 *com1;
	struct rtc_cmos *rtc;
	struct i8042 *i8042;
	struct acpi_pm *acpi_pm;
};

/* Creates the devices and registers their ports on `pio` and MMIO ranges on `mmio`. */
int platform_create(struct platform *p, struct bus *pio, struct bus *mmio,
		    const struct vm_control *vm);

/* After the vCPUs stopped: writes out the console's pending output. */
void platform_quiesce(struct platform *p);

void platform_destroy(struct platform *p);

#endif

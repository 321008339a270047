/*
 * The PC platform devices every vmon VM has: COM1 on the host's terminal,
 * the CMOS RTC, the i8042 (for reset) and the ACPI PM registers.
 */
#ifndef VMON_VMM_PLATFORM_H
#define VMON_VMM_PLATFORM_H

#include "bus/bus.h"
#include "devices/device.h"

struct platform {
	struct chardev *console;
	struct uart16550 *com1;
	struct rtc_cmos *rtc;
	struct i8042 *i8042;
	struct acpi_pm *acpi_pm;
};

/* Creates the devices and registers their ports on `pio`. */
int platform_create(struct platform *p, struct bus *pio, const struct vm_control *vm);

/* After the vCPUs stopped: writes out the console's pending output. */
void platform_quiesce(struct platform *p);

void platform_destroy(struct platform *p);

#endif

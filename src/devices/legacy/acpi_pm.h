/*
 * ACPI fixed-hardware registers (ACPI 6.4 §4.8): the PM1a event block
 * (status + enable) at PORT_ACPI_PM1_EVT, PM1a control at
 * PORT_ACPI_PM1_CNT, and the 24-bit PM timer at PORT_ACPI_PM_TMR.
 * Writing SLP_EN with SLP_TYP == ACPI_S5_SLP_TYP powers the VM off.
 *
 * What the FADT must say to match: PM1_EVT_LEN 4, PM1_CNT_LEN 2,
 * PM_TMR_LEN 4, flag TMR_VAL_EXT clear (24-bit timer), SMI_CMD 0 (no
 * SMI: SCI_EN is always set), SCI_INT = the gsi given here.
 */
#ifndef VMON_DEVICES_LEGACY_ACPI_PM_H
#define VMON_DEVICES_LEGACY_ACPI_PM_H

#include <stdint.h>

#include "bus/bus.h"
#include "devices/device.h"

/* A monotonic clock in nanoseconds (any fixed origin). */
typedef int64_t (*acpi_pm_clock_fn)(void *ctx);

struct acpi_pm_config {
	const struct vm_control *vm; /* required; must outlive the device */
	uint32_t gsi;                /* the SCI line: IRQ_ACPI_SCI */
	/* NULL: CLOCK_MONOTONIC. Tests inject a fake clock here. */
	acpi_pm_clock_fn clock;
	void *clock_ctx;
};

struct state_reader;
struct state_writer;
struct acpi_pm;

/* Returns NULL with errno set (EINVAL, ENOMEM). */
struct acpi_pm *acpi_pm_create(const struct acpi_pm_config *cfg);

/* Claims the three register blocks; 0 or a negative errno. */
int acpi_pm_register(struct acpi_pm *pm, struct bus *pio);

/* Unregisters the ports and frees. */
void acpi_pm_destroy(struct acpi_pm *pm);

/*
 * Snapshots: section STATE_TAG_ACPI_PM, instance 0. The PM timer goes on
 * from the count it had when saved (it does not count while the VM is
 * stopped). A load refuses, with one log line and -EINVAL, a missing or
 * malformed section and register values the device could not hold; it
 * then drives the SCI to the restored level.
 */
void acpi_pm_save(struct acpi_pm *pm, struct state_writer *w);
int acpi_pm_load(struct acpi_pm *pm, const struct state_reader *r);

#endif

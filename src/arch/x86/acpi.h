/* ACPI tables for the guest: RSDP, XSDT, FADT, FACS, DSDT, MADT, MCFG. */
#ifndef VMON_ARCH_X86_ACPI_H
#define VMON_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_config {
	unsigned nr_cpus;  /* Local APIC IDs 0 .. nr_cpus-1 */
	uint64_t base_gpa; /* guest-physical address the buffer is copied to */
};

/*
 * Lays the tables out in `buf` (to be copied to cfg->base_gpa), RSDP first,
 * each with a valid checksum. Returns the bytes used, or -ENOSPC/-EINVAL.
 */
long acpi_build(uint8_t *buf, size_t cap, const struct acpi_config *cfg);

#endif

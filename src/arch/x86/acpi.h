/* ACPI tables for the guest: RSDP, XSDT, FADT, FACS, DSDT, MADT, MCFG, and DMAR with --iommu. */
#ifndef VMON_ARCH_X86_ACPI_H
#define VMON_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_MMIO_DEVICES 8

/*
 * A virtio-mmio device, announced in the DSDT as \_SB.VRnn (n its index in
 * the list, in hex) with _HID "LNRO0005", which Linux's virtio_mmio driver
 * matches, _UID n, and a _CRS of Memory32Fixed (ReadWrite, base, size) and
 * Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }.
 */
struct acpi_mmio_device {
	uint64_t base; /* register window, wholly below 4 GiB */
	uint32_t size; /* not 0; VIRTIO_MMIO_SIZE (0x200) for virtio-mmio */
	uint32_t gsi;  /* an IOAPIC pin: below LAYOUT_IOAPIC_PINS */
};

struct acpi_config {
	unsigned nr_cpus;  /* Local APIC IDs 0 .. nr_cpus-1 */
	uint64_t base_gpa; /* guest-physical address the buffer is copied to */
	const struct acpi_mmio_device *mmio_devices; /* nr_mmio_devices of them */
	unsigned nr_mmio_devices; /* at most ACPI_MAX_MMIO_DEVICES; 0: none */
	bool dmar;          /* --iommu intel: a DMAR table (dmar.c) */
	bool dmar_intremap; /* its INTR_REMAP flag: interrupt remapping offered */
};

/*
 * Lays the tables out in `buf` (to be copied to cfg->base_gpa), RSDP first,
 * each with a valid checksum. Returns the bytes used, or -ENOSPC, or
 * -EINVAL for a bad CPU count, base or virtio-mmio device list.
 */
long acpi_build(uint8_t *buf, size_t cap, const struct acpi_config *cfg);

#endif

/*
 * The PCI host bridge: one bus (segment 0, bus 0) reached through
 * configuration mechanism #1 (ports 0xCF8/0xCFC) and through PCIe ECAM,
 * device 0 being the host bridge itself. vmon is its own firmware: it
 * places every BAR in the windows the ACPI tables announce, and the guest
 * may move them.
 */
#ifndef VMON_PCI_HOST_H
#define VMON_PCI_HOST_H

#include "bus/bus.h"
#include "pci/pci.h"

struct pci_host;

/* Registers the config ports on `pio` and the ECAM window on `mmio`. */
int pci_host_create(struct pci_host **out, struct bus *pio, struct bus *mmio);
void pci_host_destroy(struct pci_host *host);

/*
 * Puts `dev` in the next free slot, places its BARs and enables decoding.
 * Returns the slot, or -ENOSPC (no slot or window space left).
 */
int pci_host_add_device(struct pci_host *host, struct pci_device *dev);

#endif

/*
 * PCI devices on vmon's one PCI bus (segment 0, bus 0): configuration
 * space with the type 0 header, BARs that vmon assigns and the guest may
 * move, and the capability list.
 *
 * Config space is 4 KiB (PCIe, reached through ECAM); mechanism #1 sees the
 * first 256 bytes. Writes are filtered through a mask of writable bits, so
 * read-only fields stay what the device set.
 */
#ifndef VMON_PCI_PCI_H
#define VMON_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"

struct state_reader;
struct state_writer;

#define PCI_CONFIG_SIZE  4096
#define PCI_NUM_BARS     6
#define PCI_MAX_DEVICES  32 /* bus 0, function 0 of each slot */

/* Type 0 header offsets (PCI Local Bus 3.0 §6.1). */
#define PCI_VENDOR_ID      0x00
#define PCI_DEVICE_ID      0x02
#define PCI_COMMAND        0x04
#define PCI_STATUS         0x06
#define PCI_REVISION_ID    0x08
#define PCI_CLASS_PROG     0x09
#define PCI_CLASS_DEVICE   0x0a
#define PCI_HEADER_TYPE    0x0e
#define PCI_BAR0           0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID   0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN  0x3d

#define PCI_COMMAND_IO      0x1
#define PCI_COMMAND_MEMORY  0x2
#define PCI_COMMAND_MASTER  0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_BAR_IO          0x1
#define PCI_BAR_MEM_64      0x4
#define PCI_BAR_PREFETCH    0x8

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO_PORTS, PCI_BAR_MMIO32, PCI_BAR_MMIO64 };

struct pci_bar {
	enum pci_bar_kind kind;
	uint64_t size;            /* a power of 2 */
	uint64_t addr;            /* as the guest last programmed it */
	bool mapped;              /* registered on its bus at addr */
	const struct bus_ops *ops;
	void *opaque;
};

struct pci_device;

/* What a device with registers in config space (capabilities) wants to hear. */
struct pci_device_ops {
	/* After the guest wrote [offset, offset + len); cfg[] already updated. */
	void (*config_written)(struct pci_device *dev, unsigned offset, unsigned len);
	/* Before the guest reads [offset, offset + len) of a capability: refresh cfg[] (no lock held). */
	void (*config_read)(struct pci_device *dev, unsigned offset, unsigned len);
	/* BAR `index` started or stopped decoding at `addr` (called with dev->lock held). */
	void (*bar_mapped)(struct pci_device *dev, unsigned index, uint64_t addr, bool mapped);
};

struct pci_device {
	const char *name;
	unsigned slot;
	const struct pci_device_ops *ops;
	void *opaque;

	/* Protects cfg, wmask and bars: vCPUs write config space concurrently. */
	pthread_mutex_t lock;
	uint8_t cfg[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE]; /* 1 bits: the guest may change them */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t next_cap;               /* where the next capability goes */

	struct bus *pio;                /* where I/O BARs are mapped */
	struct bus *mmio;               /* where memory BARs are mapped */
};

struct pci_id {
	uint16_t vendor, device, subsystem_vendor, subsystem;
	uint8_t revision;
	uint32_t class_code; /* base class << 16 | subclass << 8 | programming interface */
};

void pci_device_init(struct pci_device *dev, const char *name, const struct pci_id *id);
void pci_device_destroy(struct pci_device *dev);

/*
 * Declares BAR `index` (a 64-bit BAR takes index and index + 1) of `size`
 * bytes, a power of 2 (at least 16 for memory, 4 for I/O); `ops` serve
 * accesses once the guest enables decoding. 0 or -EINVAL.
 */
int pci_device_add_bar(struct pci_device *dev, unsigned index, enum pci_bar_kind kind,
		       uint64_t size, const struct bus_ops *ops, void *opaque);

/*
 * Appends a capability of `len` bytes (id and next byte included, as
 * `body[0..1]` is ignored and filled in) with `writable` describing the
 * guest-writable bits of the body (NULL: read-only). Returns its offset,
 * or -ENOSPC.
 */
int pci_device_add_capability(struct pci_device *dev, uint8_t id, const uint8_t *body,
			      unsigned len, const uint8_t *writable);

/* Config space accesses (offset within 0..4095, len 1, 2 or 4, aligned). */
uint32_t pci_config_read(struct pci_device *dev, unsigned offset, unsigned len);
void pci_config_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value);

/* Little-endian accessors for a device's own use (caller holds dev->lock). */
uint32_t pci_cfg_get(const struct pci_device *dev, unsigned offset, unsigned len);
void pci_cfg_set(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value);

/*
 * Snapshots (section STATE_TAG_PCI, instance: the slot). A load refuses,
 * with one log line and -EINVAL, a missing or malformed section and any
 * read-only bit that differs from this device's; else it takes the
 * guest-writable bits and maps the BARs as the guest's writes would.
 */
void pci_device_save(struct pci_device *dev, struct state_writer *w, uint32_t instance);
int pci_device_load(struct pci_device *dev, const struct state_reader *r, uint32_t instance);

#endif

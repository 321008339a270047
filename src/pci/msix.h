/*
 * MSI-X (PCI 3.0 §6.8.2): the capability, the vector table and the pending
 * bit array, which live in one of the device's BARs.
 *
 * The model keeps the guest-visible state; turning a vector into an
 * interrupt is its owner's job, through struct msix_sink (the machine
 * maps each vector to a KVM MSI route and an irqfd).
 */
#ifndef VMON_PCI_MSIX_H
#define VMON_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci.h"

#define MSIX_MAX_VECTORS 2048
#define MSIX_ENTRY_SIZE  16
#define PCI_CAP_ID_MSIX  0x11

struct msix_sink {
	/* A vector's message changed, or it became usable or unusable. */
	void (*vector_changed)(void *ctx, unsigned vector, bool usable, uint64_t address, uint32_t data);
	/* Raise vector now (it is usable: enabled and unmasked). */
	void (*deliver)(void *ctx, unsigned vector);
	void *ctx;
};

struct msix_entry {
	uint64_t address;
	uint32_t data;
	uint32_t control; /* bit 0: masked */
};

struct msix {
	struct pci_device *dev;
	unsigned cap;       /* capability offset in config space */
	unsigned nr_vectors;
	struct msix_sink sink;

	/* Protects everything below: vCPU threads and device I/O threads enter. */
	pthread_mutex_t lock;
	struct msix_entry *table;
	uint64_t *pending;  /* the PBA: one bit per vector */
	bool enabled;
	bool function_masked;
};

/*
 * Adds the capability to `dev`: `nr_vectors` entries, table and PBA at the
 * given offsets of BAR `bar`. 0 or -EINVAL/-ENOSPC/-ENOMEM.
 */
int msix_init(struct msix *m, struct pci_device *dev, unsigned nr_vectors, unsigned bar,
	      uint32_t table_offset, uint32_t pba_offset, const struct msix_sink *sink);
void msix_destroy(struct msix *m);

/* Bytes of BAR space the table and the PBA take. */
uint32_t msix_table_size(unsigned nr_vectors);
uint32_t msix_pba_size(unsigned nr_vectors);

/* Guest accesses inside the table and the PBA (offsets relative to each). */
void msix_table_read(struct msix *m, uint64_t offset, void *data, uint32_t len);
void msix_table_write(struct msix *m, uint64_t offset, const void *data, uint32_t len);
void msix_pba_read(struct msix *m, uint64_t offset, void *data, uint32_t len);

/* Call from the device's pci_device_ops.config_written. */
void msix_config_written(struct msix *m, unsigned offset, unsigned len);

/*
 * The device wants to interrupt on `vector`: delivered now if usable,
 * else its pending bit is set and it is delivered when unmasked.
 */
void msix_notify(struct msix *m, unsigned vector);

/*
 * Snapshots (section STATE_TAG_MSIX, instance: the PCI slot). msix_load
 * runs after pci_device_load and refuses, with one log line and -EINVAL
 * (or -ENOMEM), a missing or malformed section, another vector count,
 * entries the guest could not have written, pending bits past the last
 * vector, and enable/mask flags other than config space's.
 */
void msix_save(struct msix *m, struct state_writer *w, uint32_t instance);
int msix_load(struct msix *m, const struct state_reader *r, uint32_t instance);

#endif

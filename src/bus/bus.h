/*
 * An address-space bus: port I/O or MMIO exits are dispatched here, and
 * devices claim ranges on it. A device sees offsets inside its own range,
 * never absolute addresses.
 */
#ifndef VMON_BUS_BUS_H
#define VMON_BUS_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* `data` has `len` bytes (1, 2, 4 or 8), little-endian as the guest sees it. */
	void (*read)(void *dev, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *dev, uint64_t offset, const void *data, uint32_t len);
};

struct bus;

struct bus *bus_create(const char *name);
void bus_destroy(struct bus *bus);

/*
 * Claims [base, base + len) for `dev`. Returns 0, -EINVAL for an empty or
 * wrapping range, -EEXIST when it overlaps a claimed range, -ENOMEM.
 */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *dev, const char *owner);

/* Releases the range registered at exactly `base`; -ENOENT if none. */
int bus_unregister(struct bus *bus, uint64_t base);

/*
 * Dispatches an access. An access nobody claims is harmless: a read
 * returns all-ones, a write is dropped; both are counted and logged once
 * per address. Returns true when a device claimed it.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len);

struct bus_stats {
	uint64_t unclaimed_reads;
	uint64_t unclaimed_writes;
};
void bus_get_stats(struct bus *bus, struct bus_stats *out);

#endif

#include "bus/bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
	const char *owner;
};

/* How many distinct unclaimed addresses are remembered (and logged). */
#define UNCLAIMED_LOG_SLOTS 64

struct bus {
	const char *name;

	/* Protects `ranges` and `nr_ranges`: readers are exits, writers registrations. Never held while a handler runs. */
	pthread_rwlock_t lock;
	struct bus_range *ranges; /* sorted by base, never overlapping */
	unsigned nr_ranges;
	unsigned capacity;

	atomic_uint_fast64_t unclaimed_reads;
	atomic_uint_fast64_t unclaimed_writes;

	/* Protects `logged` and `nr_logged`. */
	pthread_mutex_t log_lock;
	uint64_t logged[UNCLAIMED_LOG_SLOTS];
	unsigned nr_logged;
};

struct bus *bus_create(const char *name)
{
	struct bus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return NULL;
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->log_lock, NULL);
	return bus;
}

void bus_destroy(struct bus *bus)
{
	if (!bus)
		return;
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->log_lock);
	free(bus->ranges);
	free(bus);
}

/* Index of the first range whose base is above `addr`. */
static unsigned upper_bound(const struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr_ranges;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool overlaps_neighbours(const struct bus *bus, unsigned pos,
				uint64_t base, uint64_t last)
{
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];
		if (prev->base + (prev->len - 1) >= base)
			return true;
	}
	return pos < bus->nr_ranges && bus->ranges[pos].base <= last;
}

static int grow(struct bus *bus)
{
	if (bus->nr_ranges < bus->capacity)
		return 0;
	unsigned capacity = bus->capacity ? bus->capacity * 2 : 16;
	struct bus_range *r = realloc(bus->ranges, capacity * sizeof(*r));
	if (!r)
		return -ENOMEM;
	bus->ranges = r;
	bus->capacity = capacity;
	return 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *dev, const char *owner)
{
	if (len == 0 || base + (len - 1) < base)
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	unsigned pos = upper_bound(bus, base);
	int ret = 0;
	if (overlaps_neighbours(bus, pos, base, base + (len - 1)))
		ret = -EEXIST;
	else
		ret = grow(bus);
	if (ret == 0) {
		memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
			(bus->nr_ranges - pos) * sizeof(bus->ranges[0]));
		bus->ranges[pos] = (struct bus_range){
			.base = base, .len = len, .ops = ops, .dev = dev, .owner = owner,
		};
		bus->nr_ranges++;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int ret = -ENOENT;
	pthread_rwlock_wrlock(&bus->lock);
	unsigned pos = upper_bound(bus, base);
	if (pos > 0 && bus->ranges[pos - 1].base == base) {
		memmove(&bus->ranges[pos - 1], &bus->ranges[pos],
			(bus->nr_ranges - pos) * sizeof(bus->ranges[0]));
		bus->nr_ranges--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/*
 * Copies the range holding the whole access [addr, addr + len) into *out.
 * The handler is then called without the lock, so that it may itself
 * (un)register ranges, as a PCI BAR move through ECAM does; devices stay
 * alive until the vCPUs have stopped, so a range that moves meanwhile
 * still has a live device behind it.
 */
static bool find(struct bus *bus, uint64_t addr, uint32_t len, struct bus_range *out)
{
	pthread_rwlock_rdlock(&bus->lock);
	unsigned pos = upper_bound(bus, addr);
	bool found = false;
	if (pos > 0) {
		const struct bus_range *r = &bus->ranges[pos - 1];
		uint64_t offset = addr - r->base;
		found = offset < r->len && len <= r->len - offset;
		if (found)
			*out = *r;
	}
	pthread_rwlock_unlock(&bus->lock);
	return found;
}

/* True the first time an unclaimed address is seen, while slots remain. */
static bool first_sighting(struct bus *bus, uint64_t addr)
{
	bool first = true;
	pthread_mutex_lock(&bus->log_lock);
	for (unsigned i = 0; i < bus->nr_logged && first; i++)
		first = bus->logged[i] != addr;
	if (first && bus->nr_logged < UNCLAIMED_LOG_SLOTS)
		bus->logged[bus->nr_logged++] = addr;
	else
		first = false;
	pthread_mutex_unlock(&bus->log_lock);
	return first;
}

static void note_unclaimed(struct bus *bus, uint64_t addr, uint32_t len,
			   bool is_write)
{
	atomic_fetch_add(is_write ? &bus->unclaimed_writes : &bus->unclaimed_reads, 1);
	if (first_sighting(bus, addr))
		log_debug("%s: unclaimed %u-byte %s at 0x%llx", bus->name, len,
			  is_write ? "write" : "read", (unsigned long long)addr);
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	struct bus_range r;
	if (!find(bus, addr, len, &r)) {
		memset(data, 0xff, len);
		note_unclaimed(bus, addr, len, false);
		return false;
	}
	r.ops->read(r.dev, addr - r.base, data, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	struct bus_range r;
	if (!find(bus, addr, len, &r)) {
		note_unclaimed(bus, addr, len, true);
		return false;
	}
	r.ops->write(r.dev, addr - r.base, data, len);
	return true;
}

void bus_get_stats(struct bus *bus, struct bus_stats *out)
{
	out->unclaimed_reads = atomic_load(&bus->unclaimed_reads);
	out->unclaimed_writes = atomic_load(&bus->unclaimed_writes);
}

/* Bus dispatch: registration checks, offsets, and unclaimed accesses. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bus/bus.h"
#include "tap.h"

struct fake_dev {
	uint64_t last_offset;
	uint32_t last_len;
	uint8_t last_written;
	int reads, writes;
};

static void fake_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct fake_dev *d = dev;
	d->reads++;
	d->last_offset = offset;
	d->last_len = len;
	memset(data, 0x5a, len);
}

static void fake_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct fake_dev *d = dev;
	d->writes++;
	d->last_offset = offset;
	d->last_len = len;
	d->last_written = *(const uint8_t *)data;
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };

static void test_registration(void)
{
	struct bus *bus = bus_create("test");
	struct fake_dev a = {0}, b = {0};

	CHECK(bus_register(bus, 0x100, 8, &fake_ops, &a, "a") == 0, "register a range");
	CHECK(bus_register(bus, 0x104, 8, &fake_ops, &b, "b") == -EEXIST, "overlap at the end is refused");
	CHECK(bus_register(bus, 0xfc, 8, &fake_ops, &b, "b") == -EEXIST, "overlap at the start is refused");
	CHECK(bus_register(bus, 0x100, 1, &fake_ops, &b, "b") == -EEXIST, "same base is refused");
	CHECK(bus_register(bus, 0x200, 0, &fake_ops, &b, "b") == -EINVAL, "empty range is refused");
	CHECK(bus_register(bus, UINT64_MAX - 3, 8, &fake_ops, &b, "b") == -EINVAL, "wrapping range is refused");
	CHECK(bus_register(bus, UINT64_MAX - 7, 8, &fake_ops, &b, "b") == 0, "range ending at the top is fine");
	CHECK(bus_register(bus, 0x108, 8, &fake_ops, &b, "b") == 0, "adjacent range is fine");
	CHECK(bus_unregister(bus, 0x108) == 0, "unregister by base");
	CHECK(bus_unregister(bus, 0x108) == -ENOENT, "unregister twice fails");
	bus_destroy(bus);
}

static void test_dispatch(void)
{
	struct bus *bus = bus_create("test");
	struct fake_dev a = {0};
	bus_register(bus, 0x3f8, 8, &fake_ops, &a, "a");

	uint8_t byte = 0x41;
	CHECK(bus_write(bus, 0x3fb, &byte, 1), "write inside the range is claimed");
	CHECK(a.last_offset == 3 && a.last_written == 0x41, "device sees its offset and data");

	uint32_t word = 0;
	CHECK(bus_read(bus, 0x3fc, &word, 4), "read inside the range is claimed");
	CHECK(word == 0x5a5a5a5a && a.last_len == 4, "device fills the read");

	word = 0;
	CHECK(!bus_read(bus, 0x3fe, &word, 4), "read straddling the end is unclaimed");
	CHECK(word == 0xffffffff, "unclaimed read returns all-ones");
	CHECK(a.reads == 1, "straddling read never reached the device");
	bus_destroy(bus);
}

static void test_unclaimed_counted(void)
{
	struct bus *bus = bus_create("test");
	uint8_t b = 0;
	uint16_t w = 0;
	bus_write(bus, 0x80, &b, 1);
	bus_write(bus, 0x80, &b, 1);
	bus_read(bus, 0x2f8, &w, 2);

	struct bus_stats st;
	bus_get_stats(bus, &st);
	CHECK(st.unclaimed_writes == 2 && st.unclaimed_reads == 1, "unclaimed accesses are counted");
	CHECK(w == 0xffff, "unclaimed 2-byte read is all-ones");

	/* Many distinct addresses: counting goes on after the log slots are full. */
	for (uint64_t a = 0x1000; a < 0x1100; a++)
		bus_write(bus, a, &b, 1);
	bus_get_stats(bus, &st);
	CHECK(st.unclaimed_writes == 2 + 0x100, "counting continues past the log limit");
	bus_destroy(bus);
}

/* A handler that moves things on its own bus, as a BAR write through ECAM does. */
static struct bus *reentrant_bus;

static void moving_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	(void)offset;
	(void)data;
	(void)len;
	bus_register(reentrant_bus, 0x9000, 16, &fake_ops, dev, "moved");
}

static const struct bus_ops moving_ops = { .read = fake_read, .write = moving_write };

static void test_handler_may_register(void)
{
	reentrant_bus = bus_create("test");
	struct fake_dev a = {0};
	bus_register(reentrant_bus, 0x100, 4, &moving_ops, &a, "mover");
	uint32_t v = 1;
	bus_write(reentrant_bus, 0x100, &v, 4);
	CHECK(bus_read(reentrant_bus, 0x9004, &v, 4) && a.reads == 1,
	      "a handler can register a range on its own bus (no self-deadlock)");
	bus_destroy(reentrant_bus);
}

int main(void)
{
	test_handler_may_register();
	test_registration();
	test_dispatch();
	test_unclaimed_counted();
	return tap_finish();
}

/*
 * Intel 82093AA I/O APIC (§: sections of its datasheet), as a version 0x20 IOxAPIC
 * with the EOI register at 0x40 (as in the ICH/PCH I/O APICs), for KVM's
 * split irqchip.
 *
 * Each of the 24 pins has a 64-bit redirection table entry (RTE, §3.2.4).
 * An edge-triggered pin sends its message on a rising edge while
 * unmasked; edges while masked are lost. A level-triggered pin sends while
 * its line is high and unmasked and Remote IRR is clear, then sets Remote
 * IRR until an EOI for its vector: from a LAPIC (KVM_EXIT_IOAPIC_EOI) or
 * from the EOI register. After an EOI, or on unmasking, a line still high
 * sends again. Messages go out at once, so Delivery Status always reads 0.
 *
 * Not modelled: the Polarity bit is stored but not applied. As with KVM's
 * own IOAPIC, a device's set_line(1) means "asserted" whatever the guest
 * programmed (the MADT and DSDT announce every line active high).
 * ExtINT and the other delivery modes are passed on as programmed: the
 * split irqchip has no PIC behind the IOAPIC.
 *
 * The ID register keeps 8 bits (31:24) where the 82093AA has 4 (27:24),
 * so that it reads back the 8-bit ID the MADT announces for any vCPU
 * count. No snapshot support: only VMs with an IOMMU use this IOAPIC, and
 * vmon refuses to snapshot those.
 *
 * Lock: `lock` protects the registers and lines. The hooks are called with
 * it held, so that messages and route changes reach the machine in the
 * order the registers changed (a route computed before another thread's
 * newer one must not overwrite it). That is safe because of the lock
 * order: a device's own lock, then this one, then whatever the hooks take
 * (the machine's MSI routes, the interrupt remapper's lock, KVM ioctls),
 * none of which ever calls back into the IOAPIC or waits for a device.
 */
#include "devices/legacy/ioapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"

/* Direct registers (§3.1), as offsets in the MMIO page; EOI: IOxAPIC version 0x20. */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_EOI    0x40

/* Indirect registers (§3.2), selected through IOREGSEL. */
#define IOAPIC_REG_ID    0x00
#define IOAPIC_REG_VER   0x01
#define IOAPIC_REG_ARB   0x02
#define IOAPIC_REG_RTE   0x10 /* RTE n: low dword at 0x10 + 2n, high at 0x11 + 2n */

#define IOAPIC_VERSION   0x20
/* §3.2.2: version in bits 7:0, the highest RTE number in bits 23:16. */
#define IOAPIC_VER_VALUE ((uint32_t)(IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION)

/* Redirection table entry (§3.2.4). */
#define RTE_VECTOR          0xffull
#define RTE_DELIVERY_SHIFT  8       /* bits 10:8 */
#define RTE_DELIVERY_MASK   0x7ull
#define RTE_DEST_LOGICAL    (1ull << 11)
#define RTE_DELIVERY_STATUS (1ull << 12) /* read-only */
#define RTE_POLARITY_LOW    (1ull << 13)
#define RTE_REMOTE_IRR      (1ull << 14) /* read-only */
#define RTE_LEVEL           (1ull << 15)
#define RTE_MASKED          (1ull << 16)
#define RTE_DEST_SHIFT      56      /* bits 63:56 */
/*
 * VT-d 3.4 §5.1.5.1, the remappable format: bit 48 set, interrupt index
 * bits 14:0 in bits 63:49 and bit 15 in bit 11 (the destination mode's).
 */
#define RTE_REMAPPABLE      (1ull << 48)
#define RTE_INDEX_LOW_SHIFT 49
#define RTE_INDEX_15        (1ull << 11)

/*
 * What the guest may write: vector, delivery mode, destination mode,
 * polarity, trigger mode and mask in the low dword; the destination (or
 * the remappable format's index and format bit) in bits 63:48.
 */
#define RTE_WRITABLE (0xfffull | RTE_POLARITY_LOW | RTE_LEVEL | RTE_MASKED | 0xffff000000000000ull)

/* The MSI message format (Intel SDM vol. 3A §11.11.1; VT-d 3.4 §5.1.2.2). */
#define MSI_ADDRESS_BASE      0xfee00000ull
#define MSI_ADDR_DEST_SHIFT   12
#define MSI_ADDR_DEST_LOGICAL (1ull << 2)
#define MSI_ADDR_REMAPPABLE   (1ull << 4)
#define MSI_ADDR_HANDLE_SHIFT 5
#define MSI_ADDR_HANDLE_15    (1ull << 2)
#define MSI_DATA_ASSERT       (1u << 14)
#define MSI_DATA_LEVEL        (1u << 15)

struct pin_route {
	bool enabled;
	uint64_t address;
	uint32_t data;
};

struct ioapic {
	struct ioapic_hooks hooks;
	struct bus *mmio; /* where the page is claimed, or NULL */

	/* Protects every field below: vCPU threads and device threads enter concurrently. */
	pthread_mutex_t lock;
	uint8_t id;
	uint8_t regsel;
	uint32_t lines;                       /* bit n: pin n asserted */
	uint64_t rte[IOAPIC_PINS];
	struct pin_route routes[IOAPIC_PINS]; /* as last given to route_changed */
};

static bool rte_is_level(uint64_t rte)
{
	return rte & RTE_LEVEL;
}

/* A compatibility-format entry's message (§3.2.4 fields into the MSI format). */
static void compat_message(uint64_t rte, uint64_t *address, uint32_t *data)
{
	*address = MSI_ADDRESS_BASE | (rte >> RTE_DEST_SHIFT) << MSI_ADDR_DEST_SHIFT |
		   (rte & RTE_DEST_LOGICAL ? MSI_ADDR_DEST_LOGICAL : 0);
	*data = (uint32_t)(rte & RTE_VECTOR) |
		(uint32_t)((rte >> RTE_DELIVERY_SHIFT) & RTE_DELIVERY_MASK) << 8 |
		MSI_DATA_ASSERT | (rte_is_level(rte) ? MSI_DATA_LEVEL : 0);
}

/*
 * A remappable-format entry's request (VT-d 3.4 §5.1.5.1, §5.1.2.2): the
 * handle in the address, no subhandle (SHV 0), so the data is not used.
 */
static void remappable_message(uint64_t rte, uint64_t *address, uint32_t *data)
{
	uint64_t index_low = (rte >> RTE_INDEX_LOW_SHIFT) & 0x7fff;
	*address = MSI_ADDRESS_BASE | index_low << MSI_ADDR_HANDLE_SHIFT | MSI_ADDR_REMAPPABLE |
		   (rte & RTE_INDEX_15 ? MSI_ADDR_HANDLE_15 : 0);
	*data = 0;
}

static void rte_message(uint64_t rte, uint64_t *address, uint32_t *data)
{
	if (rte & RTE_REMAPPABLE)
		remappable_message(rte, address, data);
	else
		compat_message(rte, address, data);
}

static void send(struct ioapic *io, unsigned pin)
{
	uint64_t address;
	uint32_t data;
	rte_message(io->rte[pin], &address, &data);
	io->hooks.deliver(io->hooks.ctx, address, data);
}

/*
 * KVM learns which vectors need KVM_EXIT_IOAPIC_EOI from the pins' routes
 * (api.rst 7.5; it keeps the level-triggered ones). A level pin keeps its
 * route while masked with an interrupt in service, so that its EOI still
 * comes back; edge pins need none.
 */
static void update_route(struct ioapic *io, unsigned pin)
{
	uint64_t rte = io->rte[pin];
	struct pin_route want = { 0 };
	want.enabled = rte_is_level(rte) && (!(rte & RTE_MASKED) || (rte & RTE_REMOTE_IRR));
	if (want.enabled)
		rte_message(rte, &want.address, &want.data);
	struct pin_route *had = &io->routes[pin];
	if (had->enabled == want.enabled && had->address == want.address && had->data == want.data)
		return;
	*had = want;
	if (io->hooks.route_changed)
		io->hooks.route_changed(io->hooks.ctx, pin, want.enabled, want.address, want.data);
}

/* A level pin sends while its line is high, unmasked and not in service (Remote IRR). */
static void service_level(struct ioapic *io, unsigned pin)
{
	uint64_t rte = io->rte[pin];
	if (!(io->lines & (1u << pin)) || (rte & (RTE_MASKED | RTE_REMOTE_IRR)))
		return;
	io->rte[pin] |= RTE_REMOTE_IRR;
	send(io, pin);
}

void ioapic_set_line(struct ioapic *io, unsigned pin, int level)
{
	if (pin >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	bool was = io->lines & (1u << pin);
	if (level)
		io->lines |= 1u << pin;
	else
		io->lines &= ~(1u << pin);
	uint64_t rte = io->rte[pin];
	if (rte_is_level(rte))
		service_level(io, pin);
	else if (level && !was && !(rte & RTE_MASKED))
		send(io, pin);
	pthread_mutex_unlock(&io->lock);
}

/* §3.2.4 Remote IRR: cleared by an EOI for the entry's vector. Caller holds the lock. */
static void eoi_locked(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t rte = io->rte[pin];
		if (!(rte & RTE_REMOTE_IRR) || (rte & RTE_VECTOR) != vector)
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		update_route(io, pin);
		service_level(io, pin);
	}
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	eoi_locked(io, vector);
	pthread_mutex_unlock(&io->lock);
}

/* ---- registers ---- */

static bool is_rte_index(uint8_t index)
{
	return index >= IOAPIC_REG_RTE && index < IOAPIC_REG_RTE + 2 * IOAPIC_PINS;
}

static uint32_t read_indirect(const struct ioapic *io)
{
	uint8_t index = io->regsel;
	if (is_rte_index(index)) {
		uint64_t rte = io->rte[(index - IOAPIC_REG_RTE) / 2];
		return (uint32_t)(index % 2 ? rte >> 32 : rte);
	}
	switch (index) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:  /* §3.2.3: the arbitration ID follows the ID */
		return (uint32_t)io->id << 24;
	case IOAPIC_REG_VER:
		return IOAPIC_VER_VALUE;
	default:
		return 0;     /* reserved */
	}
}

/*
 * One half of an RTE. Switching to edge clears Remote IRR (undefined for
 * edge pins), which guests use to end a level interrupt on IOAPICs
 * without the EOI register; a level line still high sends at once.
 */
static void write_rte(struct ioapic *io, unsigned pin, bool high, uint32_t val)
{
	uint64_t rte = io->rte[pin];
	uint64_t half = high ? 0xffffffff00000000ull : 0xffffffffull;
	uint64_t written = high ? (uint64_t)val << 32 : val;
	rte = (rte & ~(half & RTE_WRITABLE)) | (written & half & RTE_WRITABLE);
	if (!rte_is_level(rte))
		rte &= ~RTE_REMOTE_IRR;
	io->rte[pin] = rte;
	update_route(io, pin);
	if (rte_is_level(rte))
		service_level(io, pin);
}

static void write_indirect(struct ioapic *io, uint32_t val)
{
	uint8_t index = io->regsel;
	if (is_rte_index(index))
		write_rte(io, (index - IOAPIC_REG_RTE) / 2, index % 2, val);
	else if (index == IOAPIC_REG_ID)
		io->id = (uint8_t)(val >> 24);
	/* The version and arbitration registers are read-only; the rest is reserved. */
}

/* The 32-bit register holding `offset`: IOWIN reads the selected one; the EOI register is write-only. */
static uint32_t read_register(const struct ioapic *io, uint64_t offset)
{
	switch (offset & ~3ull) {
	case IOAPIC_REGSEL:
		return io->regsel;
	case IOAPIC_WIN:
		return read_indirect(io);
	default:
		return 0;
	}
}

/* ---- bus ---- */

/* Any width: the bytes of the 32-bit register the access starts in (0 past it). */
static void ioapic_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct ioapic *io = dev;
	pthread_mutex_lock(&io->lock);
	uint64_t value = (uint64_t)read_register(io, offset) >> (8 * (offset & 3));
	pthread_mutex_unlock(&io->lock);
	memcpy(data, &value, len < sizeof(value) ? len : sizeof(value));
}

static uint32_t little_endian_value(const void *data, uint32_t len)
{
	uint32_t value = 0;
	memcpy(&value, data, len < sizeof(value) ? len : sizeof(value));
	return value;
}

/*
 * IOREGSEL takes its low byte from any write at 0x00; IOWIN, a 32-bit
 * window (§3.1), only a dword write; the EOI register the vector in its
 * low byte. Other writes in the page are dropped.
 */
static void ioapic_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct ioapic *io = dev;
	uint32_t value = little_endian_value(data, len);
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_REGSEL)
		io->regsel = (uint8_t)value;
	else if (offset == IOAPIC_WIN && len == 4)
		write_indirect(io, value);
	else if (offset == IOAPIC_EOI)
		eoi_locked(io, (uint8_t)value);
	pthread_mutex_unlock(&io->lock);
}

static const struct bus_ops ioapic_bus_ops = {
	.read = ioapic_bus_read,
	.write = ioapic_bus_write,
};

struct ioapic *ioapic_create(const struct ioapic_config *cfg)
{
	if (!cfg || !cfg->hooks.deliver) {
		errno = EINVAL;
		return NULL;
	}
	struct ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->hooks = cfg->hooks;
	io->id = cfg->id;
	pthread_mutex_init(&io->lock, NULL);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->rte[pin] = RTE_MASKED; /* §3.2.4: masked at reset */
	return io;
}

int ioapic_register(struct ioapic *io, struct bus *mmio)
{
	int ret = bus_register(mmio, LAYOUT_IOAPIC_BASE, IOAPIC_MMIO_SIZE, &ioapic_bus_ops, io,
			       "ioapic");
	if (ret == 0)
		io->mmio = mmio;
	return ret;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	if (io->mmio)
		bus_unregister(io->mmio, LAYOUT_IOAPIC_BASE);
	pthread_mutex_destroy(&io->lock);
	free(io);
}

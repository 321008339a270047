#include "pci/host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"

#define CONFIG_ENABLE (1u << 31)
#define ECAM_DEVICE_SHIFT 15 /* bus << 20 | device << 15 | function << 12 | register */
#define ECAM_FUNCTION_SHIFT 12

/* PCI IDs of the bridge: Red Hat's generic PCIe host bridge, class 06:00:00. */
static const struct pci_id bridge_id = {
	.vendor = 0x1b36, .device = 0x0008, .class_code = 0x060000,
	.subsystem_vendor = 0x1af4, .subsystem = 0x1100,
};

struct pci_window {
	uint64_t next;
	uint64_t end;
};

struct pci_host {
	struct bus *pio;
	struct bus *mmio;
	struct pci_device bridge;

	/* Protects config_address, devices and the windows. */
	pthread_mutex_t lock;
	uint32_t config_address; /* mechanism #1's CONFIG_ADDRESS register */
	struct pci_device *devices[PCI_MAX_DEVICES];
	struct pci_window io, mmio32, mmio64;
};

static struct pci_device *device_at(struct pci_host *host, unsigned slot, unsigned function)
{
	if (slot >= PCI_MAX_DEVICES || function != 0)
		return NULL; /* single-function devices only */
	pthread_mutex_lock(&host->lock);
	struct pci_device *dev = host->devices[slot];
	pthread_mutex_unlock(&host->lock);
	return dev;
}

/* ---- configuration mechanism #1 (PCI 3.0 §3.2.2.3.2) ---- */

static void address_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_host *host = opaque;
	pthread_mutex_lock(&host->lock);
	uint32_t v = host->config_address;
	pthread_mutex_unlock(&host->lock);
	v >>= 8 * offset;
	memcpy(data, &v, len);
}

/* Only dword writes set CONFIG_ADDRESS; Linux's byte write to 0xCFB probes for this. */
static void address_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_host *host = opaque;
	if (offset != 0 || len != 4)
		return;
	uint32_t v;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&host->lock);
	host->config_address = v & 0x80fffffcu;
	pthread_mutex_unlock(&host->lock);
}

/* The device and register CONFIG_ADDRESS selects, if it selects one of ours. */
static struct pci_device *selected(struct pci_host *host, unsigned *reg)
{
	pthread_mutex_lock(&host->lock);
	uint32_t a = host->config_address;
	pthread_mutex_unlock(&host->lock);
	unsigned bus = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, function = (a >> 8) & 0x7;
	*reg = a & 0xfc;
	if (!(a & CONFIG_ENABLE) || bus != 0)
		return NULL;
	return device_at(host, slot, function);
}

static void data_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	unsigned reg;
	struct pci_device *dev = selected(opaque, &reg);
	uint32_t v = dev ? pci_config_read(dev, reg + (unsigned)offset, len) : 0xffffffffu;
	memcpy(data, &v, len);
}

static void data_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	unsigned reg;
	struct pci_device *dev = selected(opaque, &reg);
	uint32_t v = 0;
	memcpy(&v, data, len);
	if (dev)
		pci_config_write(dev, reg + (unsigned)offset, len, v);
}

static const struct bus_ops address_ops = { .read = address_read, .write = address_write };
static const struct bus_ops data_ops = { .read = data_read, .write = data_write };

/* ---- ECAM (PCIe Base 4.0 §7.2.2) ---- */

static struct pci_device *ecam_device(struct pci_host *host, uint64_t offset)
{
	return device_at(host, (unsigned)(offset >> ECAM_DEVICE_SHIFT) & 0x1f,
			 (unsigned)(offset >> ECAM_FUNCTION_SHIFT) & 0x7);
}

static void ecam_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_device *dev = ecam_device(opaque, offset);
	uint32_t v = 0xffffffffu;
	if (dev && len <= 4)
		v = pci_config_read(dev, (unsigned)(offset & (PCI_CONFIG_SIZE - 1)), len);
	memset(data, 0xff, len);
	memcpy(data, &v, len < 4 ? len : 4);
}

static void ecam_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_device *dev = ecam_device(opaque, offset);
	uint32_t v = 0;
	if (!dev || len > 4)
		return;
	memcpy(&v, data, len);
	pci_config_write(dev, (unsigned)(offset & (PCI_CONFIG_SIZE - 1)), len, v);
}

static const struct bus_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/* ---- placement ---- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Takes `size` bytes, naturally aligned, from a window; 0 when it is full. */
static uint64_t window_take(struct pci_window *w, uint64_t size)
{
	uint64_t addr = align_up(w->next, size);
	if (addr < w->next || addr > w->end || size > w->end - addr)
		return 0;
	w->next = addr + size;
	return addr;
}

static struct pci_window *window_for(struct pci_host *host, enum pci_bar_kind kind)
{
	switch (kind) {
	case PCI_BAR_IO_PORTS:
		return &host->io;
	case PCI_BAR_MMIO32:
		return &host->mmio32;
	default:
		return &host->mmio64;
	}
}

/* Writes each BAR's address into config space, as firmware would. Caller holds host->lock. */
static int place_bars(struct pci_host *host, struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		if (bar->kind == PCI_BAR_NONE)
			continue;
		uint64_t addr = window_take(window_for(host, bar->kind), bar->size);
		if (!addr)
			return -ENOSPC;
		unsigned reg = PCI_BAR0 + 4 * i;
		pci_config_write(dev, reg, 4, (uint32_t)addr);
		if (bar->kind == PCI_BAR_MMIO64)
			pci_config_write(dev, reg + 4, 4, (uint32_t)(addr >> 32));
	}
	return 0;
}

static uint16_t decode_bits(const struct pci_device *dev)
{
	uint16_t bits = 0;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		if (dev->bars[i].kind == PCI_BAR_IO_PORTS)
			bits |= PCI_COMMAND_IO;
		else if (dev->bars[i].kind != PCI_BAR_NONE)
			bits |= PCI_COMMAND_MEMORY;
	}
	return bits;
}

int pci_host_add_device(struct pci_host *host, struct pci_device *dev)
{
	pthread_mutex_lock(&host->lock);
	int slot = -ENOSPC;
	for (unsigned s = 0; s < PCI_MAX_DEVICES && slot < 0; s++)
		if (!host->devices[s])
			slot = (int)s;
	dev->pio = host->pio;
	dev->mmio = host->mmio;
	int ret = slot < 0 ? slot : place_bars(host, dev);
	if (ret == 0) {
		dev->slot = (unsigned)slot;
		host->devices[slot] = dev;
	}
	pthread_mutex_unlock(&host->lock);
	if (ret < 0)
		return ret;
	uint16_t command = (uint16_t)pci_config_read(dev, PCI_COMMAND, 2);
	pci_config_write(dev, PCI_COMMAND, 2, command | decode_bits(dev));
	return slot;
}

static int register_ranges(struct pci_host *host)
{
	int ret = bus_register(host->pio, PORT_PCI_CONFIG_ADDRESS, 4, &address_ops, host, "pci-cam");
	if (ret == 0)
		ret = bus_register(host->pio, PORT_PCI_CONFIG_DATA, 4, &data_ops, host, "pci-cam");
	if (ret == 0)
		ret = bus_register(host->mmio, LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE,
				   &ecam_ops, host, "pci-ecam");
	return ret;
}

int pci_host_create(struct pci_host **out, struct bus *pio, struct bus *mmio)
{
	struct pci_host *host = calloc(1, sizeof(*host));
	if (!host)
		return -ENOMEM;
	pthread_mutex_init(&host->lock, NULL);
	host->pio = pio;
	host->mmio = mmio;
	host->io = (struct pci_window){ PORT_PCI_IO_START, PORT_PCI_IO_START + PORT_PCI_IO_SIZE };
	host->mmio32 = (struct pci_window){ LAYOUT_PCI_MMIO32_START,
					    LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE };
	host->mmio64 = (struct pci_window){ LAYOUT_PCI_MMIO64_START,
					    LAYOUT_PCI_MMIO64_START + LAYOUT_PCI_MMIO64_SIZE };
	pci_device_init(&host->bridge, "pci-host-bridge", &bridge_id);
	int ret = register_ranges(host);
	if (ret == 0)
		ret = pci_host_add_device(host, &host->bridge) < 0 ? -ENOSPC : 0;
	if (ret < 0) {
		pci_host_destroy(host);
		return ret;
	}
	*out = host;
	return 0;
}

void pci_host_destroy(struct pci_host *host)
{
	if (!host)
		return;
	bus_unregister(host->pio, PORT_PCI_CONFIG_ADDRESS);
	bus_unregister(host->pio, PORT_PCI_CONFIG_DATA);
	bus_unregister(host->mmio, LAYOUT_PCI_ECAM_BASE);
	pci_device_destroy(&host->bridge);
	pthread_mutex_destroy(&host->lock);
	free(host);
}

#include "pci/pci.h"

#include <errno.h>
#include <string.h>

#include "migration/state.h"
#include "util/log.h"

#define PCI_HEADER_END    0x40 /* capabilities start here */

/* The guest decides where BARs go: its mistakes are logged a few times only. */
static struct log_limit bar_limit = LOG_LIMIT_INIT(8);
#define PCI_CAP_ID_OFFSET 0
#define PCI_CAP_NEXT      1

uint32_t pci_cfg_get(const struct pci_device *dev, unsigned offset, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)dev->cfg[offset + i] << (8 * i);
	return v;
}

void pci_cfg_set(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value)
{
	for (unsigned i = 0; i < len; i++)
		dev->cfg[offset + i] = (uint8_t)(value >> (8 * i));
}

static void set_wmask(struct pci_device *dev, unsigned offset, unsigned len, uint32_t mask)
{
	for (unsigned i = 0; i < len; i++)
		dev->wmask[offset + i] = (uint8_t)(mask >> (8 * i));
}

void pci_device_init(struct pci_device *dev, const char *name, const struct pci_id *id)
{
	memset(dev, 0, sizeof(*dev));
	pthread_mutex_init(&dev->lock, NULL);
	dev->name = name;
	dev->next_cap = PCI_HEADER_END;
	pci_cfg_set(dev, PCI_VENDOR_ID, 2, id->vendor);
	pci_cfg_set(dev, PCI_DEVICE_ID, 2, id->device);
	pci_cfg_set(dev, PCI_REVISION_ID, 1, id->revision);
	pci_cfg_set(dev, PCI_CLASS_PROG, 3, id->class_code);
	pci_cfg_set(dev, PCI_SUBSYSTEM_VENDOR_ID, 2, id->subsystem_vendor);
	pci_cfg_set(dev, PCI_SUBSYSTEM_ID, 2, id->subsystem);
	/* Devices signal with MSI-X only: interrupt pin 0 (none), INTx disabled for good. */
	pci_cfg_set(dev, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	set_wmask(dev, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	set_wmask(dev, PCI_INTERRUPT_LINE, 1, 0xff);
}

static void tell_bar_mapped(struct pci_device *dev, const struct pci_bar *bar, bool mapped)
{
	if (dev->ops && dev->ops->bar_mapped)
		dev->ops->bar_mapped(dev, (unsigned)(bar - dev->bars), bar->addr, mapped);
}

static void unmap_bar(struct pci_device *dev, struct pci_bar *bar)
{
	if (!bar->mapped)
		return;
	tell_bar_mapped(dev, bar, false);
	bus_unregister(bar->kind == PCI_BAR_IO_PORTS ? dev->pio : dev->mmio, bar->addr);
	bar->mapped = false;
}

void pci_device_destroy(struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		unmap_bar(dev, &dev->bars[i]);
	pthread_mutex_destroy(&dev->lock);
}

static bool is_power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The low bits of a BAR that say what it is (PCI 3.0 §6.2.5.1). */
static uint32_t bar_type_bits(enum pci_bar_kind kind)
{
	switch (kind) {
	case PCI_BAR_IO_PORTS:
		return PCI_BAR_IO;
	case PCI_BAR_MMIO64:
		return PCI_BAR_MEM_64;
	default:
		return 0;
	}
}

int pci_device_add_bar(struct pci_device *dev, unsigned index, enum pci_bar_kind kind,
		       uint64_t size, const struct bus_ops *ops, void *opaque)
{
	bool wide = kind == PCI_BAR_MMIO64;
	uint64_t min = kind == PCI_BAR_IO_PORTS ? 4 : 16;
	if (index + wide >= PCI_NUM_BARS || !is_power_of_2(size) || size < min ||
	    (kind != PCI_BAR_MMIO64 && size > (1ull << 31)) || dev->bars[index].kind != PCI_BAR_NONE)
		return -EINVAL;

	dev->bars[index] = (struct pci_bar){ .kind = kind, .size = size, .ops = ops, .opaque = opaque };
	unsigned reg = PCI_BAR0 + 4 * index;
	uint64_t mask = ~(size - 1);
	pci_cfg_set(dev, reg, 4, bar_type_bits(kind));
	set_wmask(dev, reg, 4, (uint32_t)mask & (kind == PCI_BAR_IO_PORTS ? ~0x3u : ~0xfu));
	if (wide)
		set_wmask(dev, reg + 4, 4, (uint32_t)(mask >> 32));
	return 0;
}

/* The address the guest programmed into BAR `index`. Caller holds the lock. */
static uint64_t bar_address(const struct pci_device *dev, unsigned index)
{
	const struct pci_bar *bar = &dev->bars[index];
	unsigned reg = PCI_BAR0 + 4 * index;
	uint32_t low = pci_cfg_get(dev, reg, 4);
	if (bar->kind == PCI_BAR_IO_PORTS)
		return low & ~0x3u;
	uint64_t addr = low & ~0xfu;
	if (bar->kind == PCI_BAR_MMIO64)
		addr |= (uint64_t)pci_cfg_get(dev, reg + 4, 4) << 32;
	return addr;
}

static bool bar_decoded(const struct pci_device *dev, const struct pci_bar *bar)
{
	uint16_t command = (uint16_t)pci_cfg_get(dev, PCI_COMMAND, 2);
	return bar->kind == PCI_BAR_IO_PORTS ? (command & PCI_COMMAND_IO) : (command & PCI_COMMAND_MEMORY);
}

/* Keeps BAR `index` registered exactly where the guest wants it decoded. */
static void update_bar_mapping(struct pci_device *dev, unsigned index)
{
	struct pci_bar *bar = &dev->bars[index];
	uint64_t addr = bar_address(dev, index);
	bool want = bar_decoded(dev, bar) && addr != 0;
	if (bar->mapped && (!want || addr != bar->addr))
		unmap_bar(dev, bar);
	bar->addr = addr;
	if (!want || bar->mapped)
		return;
	struct bus *bus = bar->kind == PCI_BAR_IO_PORTS ? dev->pio : dev->mmio;
	int ret = bus ? bus_register(bus, addr, bar->size, bar->ops, bar->opaque, dev->name) : -ENODEV;
	if (ret == 0) {
		bar->mapped = true;
		tell_bar_mapped(dev, bar, true);
	} else if (log_limit_allow(&bar_limit)) {
		log_warn("%s: BAR%u at 0x%llx not mapped: %s", dev->name, index,
			 (unsigned long long)addr, strerror(-ret));
	}
}

static void update_bar_mappings(struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		if (dev->bars[i].kind != PCI_BAR_NONE)
			update_bar_mapping(dev, i);
}

int pci_device_add_capability(struct pci_device *dev, uint8_t id, const uint8_t *body,
			      unsigned len, const uint8_t *writable)
{
	unsigned offset = dev->next_cap;
	if (len < 2 || offset + len > 256)
		return -ENOSPC;
	memcpy(&dev->cfg[offset], body, len);
	if (writable)
		memcpy(&dev->wmask[offset], writable, len);
	dev->cfg[offset + PCI_CAP_ID_OFFSET] = id;
	dev->cfg[offset + PCI_CAP_NEXT] = 0;
	dev->wmask[offset + PCI_CAP_ID_OFFSET] = 0;
	dev->wmask[offset + PCI_CAP_NEXT] = 0;

	/* Link it at the end of the list (PCI 3.0 §6.7). */
	unsigned pos = PCI_CAPABILITY_LIST;
	while (dev->cfg[pos])
		pos = dev->cfg[pos] + PCI_CAP_NEXT;
	dev->cfg[pos] = (uint8_t)offset;
	pci_cfg_set(dev, PCI_STATUS, 2, pci_cfg_get(dev, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
	dev->next_cap = (uint8_t)((offset + len + 3) & ~3u);
	return (int)offset;
}

static bool valid_access(unsigned offset, unsigned len)
{
	return (len == 1 || len == 2 || len == 4) && offset % len == 0 &&
	       offset + len <= PCI_CONFIG_SIZE;
}

uint32_t pci_config_read(struct pci_device *dev, unsigned offset, unsigned len)
{
	if (!valid_access(offset, len))
		return 0xffffffffu;
	if (offset >= PCI_HEADER_END && dev->ops && dev->ops->config_read)
		dev->ops->config_read(dev, offset, len);
	pthread_mutex_lock(&dev->lock);
	uint32_t v = pci_cfg_get(dev, offset, len);
	pthread_mutex_unlock(&dev->lock);
	return v;
}

static bool touches(unsigned offset, unsigned len, unsigned start, unsigned end)
{
	return offset < end && offset + len > start;
}

/* Only the guest-writable bits of a config byte change. Caller holds the lock. */
static void write_masked(struct pci_device *dev, unsigned offset, uint8_t byte)
{
	uint8_t mask = dev->wmask[offset];
	dev->cfg[offset] = (uint8_t)((dev->cfg[offset] & ~mask) | (byte & mask));
}

void pci_config_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value)
{
	if (!valid_access(offset, len))
		return;
	pthread_mutex_lock(&dev->lock);
	for (unsigned i = 0; i < len; i++)
		write_masked(dev, offset + i, (uint8_t)(value >> (8 * i)));
	if (touches(offset, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    touches(offset, len, PCI_BAR0, PCI_BAR0 + 4 * PCI_NUM_BARS))
		update_bar_mappings(dev);
	bool capability = offset >= PCI_HEADER_END;
	pthread_mutex_unlock(&dev->lock);
	if (capability && dev->ops && dev->ops->config_written)
		dev->ops->config_written(dev, offset, len);
}

/*
 * Section STATE_TAG_PCI, instance the slot: the 4096 bytes of config space
 * as the guest reads them (BARs, command, capabilities included).
 */
void pci_device_save(struct pci_device *dev, struct state_writer *w, uint32_t instance)
{
	state_begin(w, STATE_TAG_PCI, instance);
	pthread_mutex_lock(&dev->lock);
	state_put_bytes(w, dev->cfg, PCI_CONFIG_SIZE);
	pthread_mutex_unlock(&dev->lock);
	state_end(w);
}

static int read_config_section(const struct pci_device *dev, const struct state_reader *r,
			       uint32_t instance, uint8_t cfg[PCI_CONFIG_SIZE])
{
	struct state_section s;
	if (state_find(r, STATE_TAG_PCI, instance, &s) < 0) {
		log_error("snapshot: PCI slot %u: no saved config space", dev->slot);
		return -EINVAL;
	}
	state_get_bytes(&s, cfg, PCI_CONFIG_SIZE);
	if (state_section_finish(&s) < 0) {
		log_error("snapshot: PCI slot %u: the saved config space is not %u bytes", dev->slot,
			  PCI_CONFIG_SIZE);
		return -EINVAL;
	}
	return 0;
}

/* Read-only bits are the device's identity and layout: a saved one must match ours. */
static int first_read_only_difference(const struct pci_device *dev, const uint8_t *cfg)
{
	for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++)
		if ((cfg[i] ^ dev->cfg[i]) & ~dev->wmask[i])
			return (int)i;
	return -1;
}

/*
 * Applies the writable bits as guest writes would, BARs and decoding
 * included; capabilities (MSI-X) restore their own state, so no
 * config_written callback runs.
 */
int pci_device_load(struct pci_device *dev, const struct state_reader *r, uint32_t instance)
{
	uint8_t cfg[PCI_CONFIG_SIZE];
	int ret = read_config_section(dev, r, instance, cfg);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&dev->lock);
	int differs = first_read_only_difference(dev, cfg);
	if (differs < 0) {
		for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++)
			write_masked(dev, i, cfg[i]);
		update_bar_mappings(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	if (differs >= 0) {
		log_error("snapshot: PCI slot %u: the device is not the one saved "
			  "(vendor/device/capabilities differ at config offset 0x%x)", dev->slot,
			  (unsigned)differs);
		return -EINVAL;
	}
	return 0;
}

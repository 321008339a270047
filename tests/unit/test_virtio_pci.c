/*
 * The virtio-pci transport driven through BAR 0 as Linux's driver does:
 * feature negotiation, queue setup, notifications, ISR, MSI-X and the
 * ioeventfds that follow BAR 0 around.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pci/host.h"
#include "tap.h"
#include "virtio/pci.h"
#include "virtio/virtio.h"

struct fake_machine {
	int msis;
	uint64_t last_msi_address;
	uint32_t last_msi_data;
	int ioeventfds;               /* currently registered */
	uint64_t ioeventfd_addr[8];
	int irqfds;                   /* created */
	bool route_enabled[8];        /* by GSI - 100 */
};

static void fake_signal_msi(void *ctx, uint64_t address, uint32_t data)
{
	struct fake_machine *m = ctx;
	m->msis++;
	m->last_msi_address = address;
	m->last_msi_data = data;
}

static int fake_add_ioeventfd(void *ctx, int fd, uint64_t addr, uint32_t len)
{
	struct fake_machine *m = ctx;
	(void)fd;
	if (len != 2 || m->ioeventfds == 8)
		return -1;
	m->ioeventfd_addr[m->ioeventfds++] = addr;
	return 0;
}

static int fake_remove_ioeventfd(void *ctx, int fd, uint64_t addr, uint32_t len)
{
	struct fake_machine *m = ctx;
	(void)fd;
	(void)len;
	for (int i = 0; i < m->ioeventfds; i++) {
		if (m->ioeventfd_addr[i] == addr) {
			m->ioeventfd_addr[i] = m->ioeventfd_addr[--m->ioeventfds];
			return 0;
		}
	}
	return -1;
}

/* irqfds: real eventfds, at GSIs 100 up; routes only recorded. */
static int fake_create_msi_irqfd(void *ctx, uint32_t *gsi)
{
	struct fake_machine *m = ctx;
	if (m->irqfds == 8)
		return -1;
	*gsi = 100 + (uint32_t)m->irqfds++;
	return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static int fake_route_msi_irqfd(void *ctx, uint32_t gsi, bool enabled, uint64_t address, uint32_t data)
{
	struct fake_machine *m = ctx;
	(void)address;
	(void)data;
	m->route_enabled[gsi - 100] = enabled;
	return 0;
}

static void fake_destroy_msi_irqfd(void *ctx, uint32_t gsi, int eventfd)
{
	(void)ctx;
	(void)gsi;
	close(eventfd);
}

static int activations, resets;
static int fake_activate(struct virtio_device *vd) { (void)vd; activations++; return 0; }
static void fake_reset(struct virtio_device *vd) { (void)vd; resets++; }
static void fake_config_read(struct virtio_device *vd, uint64_t offset, void *data, uint32_t len)
{
	(void)vd;
	memset(data, (int)(0x30 + offset), len);
}
static const struct virtio_device_ops fake_ops = {
	.activate = fake_activate, .reset = fake_reset, .config_read = fake_config_read,
};

struct rig {
	struct bus *pio, *mmio;
	struct pci_host *host;
	struct fake_machine machine;
	struct vm_control vm;
	uint8_t *ram;
	struct guest_mem mem;
	struct virtio_device vd;
	struct virtio_pci vp;
	uint64_t bar;
};

static void w32(struct rig *r, uint64_t off, uint32_t v) { bus_write(r->mmio, r->bar + off, &v, 4); }
static void w16(struct rig *r, uint64_t off, uint16_t v) { bus_write(r->mmio, r->bar + off, &v, 2); }
static void w8(struct rig *r, uint64_t off, uint8_t v) { bus_write(r->mmio, r->bar + off, &v, 1); }
static uint32_t r32(struct rig *r, uint64_t off) { uint32_t v = 0; bus_read(r->mmio, r->bar + off, &v, 4); return v; }
static uint16_t r16(struct rig *r, uint64_t off) { uint16_t v = 0; bus_read(r->mmio, r->bar + off, &v, 2); return v; }
static uint8_t r8(struct rig *r, uint64_t off) { uint8_t v = 0; bus_read(r->mmio, r->bar + off, &v, 1); return v; }

static void rig_init(struct rig *r, bool irqfds)
{
	memset(r, 0, sizeof(*r));
	r->pio = bus_create("pio");
	r->mmio = bus_create("mmio");
	pci_host_create(&r->host, r->pio, r->mmio);
	r->vm = (struct vm_control){
		.signal_msi = fake_signal_msi, .add_ioeventfd = fake_add_ioeventfd,
		.remove_ioeventfd = fake_remove_ioeventfd, .ctx = &r->machine,
	};
	if (irqfds) {
		r->vm.create_msi_irqfd = fake_create_msi_irqfd;
		r->vm.route_msi_irqfd = fake_route_msi_irqfd;
		r->vm.destroy_msi_irqfd = fake_destroy_msi_irqfd;
	}
	r->ram = calloc(1, 1 << 20);
	guest_mem_init_flat(&r->mem, r->ram, 0, 1 << 20);
	virtio_device_init(&r->vd, 4, 1ull << VIRTIO_F_EVENT_IDX, 2, 64, &r->mem, &fake_ops, NULL);
	r->vd.config_size = 8;
	virtio_pci_init(&r->vp, &r->vd, 0x00ff00, &r->vm);
	pci_host_add_device(r->host, &r->vp.pci);
	r->bar = pci_config_read(&r->vp.pci, PCI_BAR0, 4) & ~0xfull;
}

static void test_identity(struct rig *r)
{
	CHECK(pci_config_read(&r->vp.pci, PCI_VENDOR_ID, 2) == 0x1af4 &&
	      pci_config_read(&r->vp.pci, PCI_DEVICE_ID, 2) == 0x1044, "1af4:1044 (0x1040 + entropy)");
	CHECK(pci_config_read(&r->vp.pci, PCI_REVISION_ID, 1) == 1, "revision 1: a modern device");
	unsigned types = 0;
	for (unsigned cap = pci_config_read(&r->vp.pci, PCI_CAPABILITY_LIST, 1); cap;
	     cap = pci_config_read(&r->vp.pci, cap + 1, 1))
		if (pci_config_read(&r->vp.pci, cap, 1) == 0x09)
			types |= 1u << pci_config_read(&r->vp.pci, cap + 3, 1);
	CHECK(types == 0x3e, "common, notify, ISR, device and PCI configuration access capabilities");
	CHECK(r->machine.ioeventfds == 2 && r->machine.ioeventfd_addr[1] == r->bar + 0x3004,
	      "one notify ioeventfd per queue where BAR 0 decodes");
}

static void test_negotiation(struct rig *r)
{
	w32(r, 0x00, 1);
	CHECK(r32(r, 0x04) & 1, "device offers VERSION_1 (bit 32)");
	w32(r, 0x00, 0);
	CHECK(r32(r, 0x04) & (1u << VIRTIO_F_EVENT_IDX), "device offers EVENT_IDX");
	CHECK(r16(r, 0x12) == 2, "num_queues");
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w32(r, 0x08, 0);
	w32(r, 0x0c, 1u << 5); /* a feature the device does not offer */
	w32(r, 0x08, 1);
	w32(r, 0x0c, 1);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(!(r8(r, 0x14) & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK refused for a feature not offered");
	w8(r, 0x14, 0);
	CHECK(r8(r, 0x14) == 0 && resets == 1, "status 0 resets");
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w32(r, 0x08, 0);
	w32(r, 0x0c, 1u << VIRTIO_F_EVENT_IDX);
	w32(r, 0x08, 1);
	w32(r, 0x0c, 1);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(r8(r, 0x14) & VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK kept for a valid subset");
	w32(r, 0x08, 0);
	w32(r, 0x0c, 0);
	CHECK(r->vd.driver_features == ((1ull << 32) | (1ull << VIRTIO_F_EVENT_IDX)),
	      "features frozen after FEATURES_OK");
}

static void setup_queue(struct rig *r, uint16_t q, uint64_t base, uint16_t vector)
{
	w16(r, 0x16, q);
	w16(r, 0x18, 16);
	w16(r, 0x1a, vector);
	w32(r, 0x20, (uint32_t)base);
	w32(r, 0x24, 0);
	w32(r, 0x28, (uint32_t)(base + 0x1000));
	w32(r, 0x2c, 0);
	w32(r, 0x30, (uint32_t)(base + 0x2000));
	w32(r, 0x34, 0);
	w16(r, 0x1c, 1);
}

static void test_queues_and_interrupts(struct rig *r)
{
	w16(r, 0x16, 0);
	CHECK(r16(r, 0x18) == 64 && r16(r, 0x1e) == 0, "queue 0: max size, notify_off");
	w16(r, 0x16, 7);
	CHECK(r16(r, 0x18) == 0, "a queue that does not exist has size 0");
	setup_queue(r, 0, 0x10000, 1);
	setup_queue(r, 1, 0x20000, 2);
	w16(r, 0x16, 0);
	w32(r, 0x20, 0x99000);
	CHECK(r32(r, 0x20) == 0x10000, "an enabled queue's address is fixed");
	w16(r, 0x10, 0);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK);
	CHECK(activations == 1 && !(r8(r, 0x14) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "DRIVER_OK activates");
	/* §2.1.2: the driver must not clear bits; a hostile one that does cannot activate twice. */
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(r8(r, 0x14) & VIRTIO_STATUS_DRIVER_OK, "clearing DRIVER_OK without a reset is ignored");
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK);
	CHECK(activations == 1, "DRIVER_OK again does not activate a second time");
	CHECK(r->vd.queues[1].vq.used_gpa == 0x22000 && r->vd.queues[1].vq.event_idx, "queue 1 armed with EVENT_IDX");

	w16(r, 0x3000 + 4, 1); /* the trapped path, as without ioeventfd */
	uint64_t count = 0;
	CHECK(read(r->vd.queues[1].kick_fd, &count, 8) == 8 && count == 1, "notify write kicks queue 1");

	/* MSI-X: vector 2 at 0xfee00000/0x4a, function enabled. */
	uint32_t msg[4] = { 0xfee00000, 0, 0x4a, 0 };
	bus_write(r->mmio, r->bar + 0x4000 + 2 * 16, msg, 16 / 2);
	bus_write(r->mmio, r->bar + 0x4000 + 2 * 16 + 8, &msg[2], 8);
	unsigned cap = r->vp.msix.cap;
	pci_config_write(&r->vp.pci, cap + 2, 2, 0x8000);
	r->vp.msix.dev->ops->config_written(r->vp.msix.dev, cap + 2, 2);
	virtio_notify_queue(&r->vd, 1);
	CHECK(r->machine.msis == 1 && r->machine.last_msi_data == 0x4a, "used buffer on queue 1 sends its MSI-X message");
	CHECK(r8(r, 0x1000) == 1 && r8(r, 0x1000) == 0, "ISR reports the queue interrupt once, then clears");
	CHECK(r8(r, 0x2000 + 3) == 0x33, "device config space at 0x2000");
}

/* §4.1.4.9: the PCI configuration access capability reaches BAR 0 through config space. */
static void test_cfg_access(struct rig *r)
{
	unsigned cap = r->vp.cfg_cap;
	struct pci_device *dev = &r->vp.pci;
	pci_config_write(dev, cap + 4, 1, 0);       /* bar 0 */
	pci_config_write(dev, cap + 8, 4, 0x12);    /* num_queues */
	pci_config_write(dev, cap + 12, 4, 2);
	CHECK(pci_config_read(dev, cap + 16, 4) == 2, "pci_cfg_data reads num_queues through the window");
	pci_config_write(dev, cap + 8, 4, 0x16);    /* queue_select */
	pci_config_write(dev, cap + 16, 4, 1);
	CHECK(r16(r, 0x16) == 1, "pci_cfg_data writes queue_select through the window");
	pci_config_write(dev, cap + 12, 4, 3);      /* not 1, 2 or 4 */
	pci_config_write(dev, cap + 16, 4, 0);
	CHECK(r16(r, 0x16) == 1, "a window of length 3 is ignored");
	pci_config_write(dev, cap + 4, 1, 2);       /* bar 2 does not exist */
	pci_config_write(dev, cap + 12, 4, 2);
	pci_config_write(dev, cap + 16, 4, 0);
	CHECK(r16(r, 0x16) == 1, "a window into another BAR is ignored");
	pci_config_write(dev, cap + 4, 1, 0);
	uint32_t before = pci_config_read(dev, cap + 16, 4);
	pci_config_write(dev, cap + 8, 4, 0x8000);  /* past BAR 0 */
	CHECK(pci_config_read(dev, cap + 16, 4) == before, "a window past BAR 0 reads nothing new");
}

static void test_bar_move(struct rig *r)
{
	uint32_t moved = (uint32_t)r->bar + 0x100000;
	pci_config_write(&r->vp.pci, PCI_COMMAND, 2, 0);
	CHECK(r->machine.ioeventfds == 0, "decode off: ioeventfds removed");
	pci_config_write(&r->vp.pci, PCI_BAR0, 4, moved);
	pci_config_write(&r->vp.pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK(r->machine.ioeventfds == 2 && r->machine.ioeventfd_addr[0] == (uint64_t)moved + 0x3000,
	      "BAR moved: ioeventfds follow it");
}

static void rig_destroy(struct rig *r)
{
	virtio_set_status(&r->vd, 0);
	virtio_pci_destroy(&r->vp);
	virtio_device_destroy(&r->vd);
	pci_host_destroy(r->host);
	bus_destroy(r->pio);
	bus_destroy(r->mmio);
	free(r->ram);
}

static uint64_t eventfd_count(int fd)
{
	uint64_t n = 0;
	return read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/* Sets MSI-X vector v's message and its mask bit (PCI 3.0 §6.8.2.9). */
static void msix_entry(struct rig *r, unsigned v, uint32_t data, bool masked)
{
	uint32_t entry[4] = { 0xfee00000, 0, data, masked };
	bus_write(r->mmio, r->bar + 0x4000 + v * 16, entry, 8);
	bus_write(r->mmio, r->bar + 0x4000 + v * 16 + 8, &entry[2], 8);
}

/*
 * A vector whose irqfd a data path outside vmon writes (vhost): masked, its
 * route is off and such a write is lost, so unmasking raises it once.
 */
static void test_external_irqfd(struct rig *r)
{
	setup_queue(r, 0, 0x10000, 1);
	setup_queue(r, 1, 0x20000, 2);
	msix_entry(r, 1, 0x41, false);
	msix_entry(r, 2, 0x42, false);
	unsigned cap = r->vp.msix.cap;
	pci_config_write(&r->vp.pci, cap + 2, 2, 0x8000);
	r->vp.msix.dev->ops->config_written(r->vp.msix.dev, cap + 2, 2);
	int q0 = r->vp.vectors[1].irqfd, q1 = virtio_queue_irqfd(&r->vd, 1);
	CHECK(q1 >= 0 && q1 == r->vp.vectors[2].irqfd && r->machine.route_enabled[2],
	      "queue 1's irqfd is its vector's, routed while the vector is usable");
	CHECK(virtio_queue_irqfd(&r->vd, 7) < 0, "no irqfd for a queue that does not exist");
	eventfd_count(q0);
	eventfd_count(q1);
	msix_entry(r, 2, 0x42, true);
	CHECK(!r->machine.route_enabled[2] && eventfd_count(q1) == 0, "masked: its route is off");
	msix_entry(r, 2, 0x42, false);
	CHECK(r->machine.route_enabled[2] && eventfd_count(q1) == 1,
	      "unmasked: routed again and raised once, for what may have been lost");
	msix_entry(r, 2, 0x42, false);
	CHECK(eventfd_count(q1) == 0, "rewriting a usable vector raises nothing");
	msix_entry(r, 1, 0x41, true);
	msix_entry(r, 1, 0x41, false);
	CHECK(r->machine.route_enabled[1] && eventfd_count(q0) == 0,
	      "a vector only vmon raises is not raised on unmask (its Pending bit does that)");
}

int main(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	rig_init(r, false);
	test_identity(r);
	test_negotiation(r);
	test_queues_and_interrupts(r);
	test_cfg_access(r);
	test_bar_move(r);
	rig_destroy(r);
	rig_init(r, true);
	test_external_irqfd(r);
	rig_destroy(r);
	free(r);
	return tap_finish();
}

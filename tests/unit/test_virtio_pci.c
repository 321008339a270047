/*
 * The virtio-pci transport driven through BAR 0 as Linux's driver does:
 * feature negotiation, queue setup, notifications, ISR, MSI-X and the
 * ioeventfds that follow BAR 0 around. Then snapshots: a virtio-rng
 * saved while serving, loaded into a fresh function that carries on from
 * the same indices, and every value a load refuses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/rng.h"
#include "fake_iommu.h"
#include "fake_virtq.h"
#include "migration/state.h"
#include "pci/host.h"
#include "state_blob.h"
#include "tap.h"
#include "util/log.h"
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

static void fake_signal_msi(void *ctx, uint16_t source_id, uint64_t address, uint32_t data)
{
	struct fake_machine *m = ctx;
	(void)source_id;
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

static int fake_route_msi_irqfd(void *ctx, uint32_t gsi, uint16_t source_id, bool enabled,
				uint64_t address, uint32_t data)
{
	struct fake_machine *m = ctx;
	(void)source_id;
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
	struct virtio_device fake;     /* a device with fake_ops, or */
	struct virtio_rng rng;         /* a real one, for snapshots */
	struct virtio_device *vd;      /* the one the rig wraps */
	struct virtio_pci vp;
	uint64_t bar;
};

static void w32(struct rig *r, uint64_t off, uint32_t v) { bus_write(r->mmio, r->bar + off, &v, 4); }
static void w16(struct rig *r, uint64_t off, uint16_t v) { bus_write(r->mmio, r->bar + off, &v, 2); }
static void w8(struct rig *r, uint64_t off, uint8_t v) { bus_write(r->mmio, r->bar + off, &v, 1); }
static uint32_t r32(struct rig *r, uint64_t off) { uint32_t v = 0; bus_read(r->mmio, r->bar + off, &v, 4); return v; }
static uint16_t r16(struct rig *r, uint64_t off) { uint16_t v = 0; bus_read(r->mmio, r->bar + off, &v, 2); return v; }
static uint8_t r8(struct rig *r, uint64_t off) { uint8_t v = 0; bus_read(r->mmio, r->bar + off, &v, 1); return v; }

static void rig_init(struct rig *r, bool irqfds, bool rng)
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
	if (rng) {
		virtio_rng_init(&r->rng, &r->mem);
		r->vd = &r->rng.vd;
	} else {
		virtio_device_init(&r->fake, 4, 1ull << VIRTIO_F_EVENT_IDX, 2, 64, &r->mem, &fake_ops, NULL);
		r->fake.config_size = 8;
		r->vd = &r->fake;
	}
	virtio_pci_init(&r->vp, r->vd, 0x00ff00, &r->vm);
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
	CHECK(r->vd->driver_features == ((1ull << 32) | (1ull << VIRTIO_F_EVENT_IDX)),
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
	CHECK(r->vd->queues[1].vq.used_gpa == 0x22000 && r->vd->queues[1].vq.event_idx, "queue 1 armed with EVENT_IDX");

	w16(r, 0x3000 + 4, 1); /* the trapped path, as without ioeventfd */
	uint64_t count = 0;
	CHECK(read(r->vd->queues[1].kick_fd, &count, 8) == 8 && count == 1, "notify write kicks queue 1");

	/* MSI-X: vector 2 at 0xfee00000/0x4a, function enabled. */
	uint32_t msg[4] = { 0xfee00000, 0, 0x4a, 0 };
	bus_write(r->mmio, r->bar + 0x4000 + 2 * 16, msg, 16 / 2);
	bus_write(r->mmio, r->bar + 0x4000 + 2 * 16 + 8, &msg[2], 8);
	unsigned cap = r->vp.msix.cap;
	pci_config_write(&r->vp.pci, cap + 2, 2, 0x8000);
	r->vp.msix.dev->ops->config_written(r->vp.msix.dev, cap + 2, 2);
	virtio_notify_queue(r->vd, 1);
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
	virtio_set_status(r->vd, 0);
	virtio_pci_destroy(&r->vp);
	if (r->vd == &r->rng.vd)
		virtio_rng_destroy(&r->rng);
	else
		virtio_device_destroy(r->vd);
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
	int q0 = r->vp.vectors[1].irqfd, q1 = virtio_queue_irqfd(r->vd, 1);
	CHECK(q1 >= 0 && q1 == r->vp.vectors[2].irqfd && r->machine.route_enabled[2],
	      "queue 1's irqfd is its vector's, routed while the vector is usable");
	CHECK(virtio_queue_irqfd(r->vd, 7) < 0, "no irqfd for a queue that does not exist");
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

/* ---- snapshots ---- */

#define S_FEATURES_OK (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define S_LIVE        (S_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)
#define QUEUE_BASE    0x10000 /* queue 0's rings, as setup_queue lays them out */
#define INSTANCE      3

/* The fake driver of queue 0, in the rig's RAM. */
static struct drv queue_driver(struct rig *r)
{
	return (struct drv){
		.ram = r->ram, .qsize = 16, .desc = QUEUE_BASE, .avail = QUEUE_BASE + 0x1000,
		.used = QUEUE_BASE + 0x2000, .next_buf = 0x20000, .buf_end = 0x30000,
	};
}

/* §2.7.10: the driver wants an interrupt once the used ring reaches entry `idx`. */
static void ask_interrupt_at(struct drv *d, uint16_t idx)
{
	put16(d, d->avail + 4 + 2ull * d->qsize, idx);
}

/* Offers one 32-byte writable buffer and notifies queue 0 through BAR 0; returns its head. */
static uint16_t rng_request(struct rig *r, struct drv *d)
{
	struct seg s = { drv_alloc(d, 32), 32, true };
	uint16_t head = drv_offer(d, &s, 1);
	w16(r, 0x3000, 0);
	return head;
}

static bool wait_used(struct drv *d, uint16_t n)
{
	for (int i = 0; i < 5000 && used_idx(d) != n; i++)
		usleep(1000);
	return used_idx(d) == n;
}

static void enable_msix(struct rig *r)
{
	pci_config_write(&r->vp.pci, r->vp.msix.cap + 2, 2, 0x8000);
}

/*
 * Linux's probe of virtio-rng through BAR 0, with BAR 0 moved first:
 * EVENT_IDX, queue 0 on vector 0, configuration changes on vector 1.
 */
static void rng_driver_start(struct rig *r)
{
	pci_config_write(&r->vp.pci, PCI_COMMAND, 2, 0);
	r->bar += 0x100000;
	pci_config_write(&r->vp.pci, PCI_BAR0, 4, (uint32_t)r->bar);
	pci_config_write(&r->vp.pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w32(r, 0x08, 0);
	w32(r, 0x0c, 1u << VIRTIO_F_EVENT_IDX);
	w32(r, 0x08, 1);
	w32(r, 0x0c, 1);
	w8(r, 0x14, S_FEATURES_OK);
	w16(r, 0x10, 1);
	setup_queue(r, 0, QUEUE_BASE, 0);
	msix_entry(r, 0, 0x40, false);
	msix_entry(r, 1, 0x41, false);
	enable_msix(r);
	w8(r, 0x14, S_LIVE);
}

static uint8_t *save_function(struct rig *r, struct state_reader *reader)
{
	struct state_writer w;
	state_writer_init(&w);
	virtio_pci_save(&r->vp, &w, INSTANCE);
	return state_blob_open(&w, reader);
}

static struct rig *new_rng_rig(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	rig_init(r, false, true);
	return r;
}

static void free_rig(struct rig *r)
{
	rig_destroy(r);
	free(r);
}

/*
 * Saved while serving, loaded into a fresh function on another host
 * bridge (RAM copied, as migration does): the registers read back the
 * same, BAR 0 and its notify ioeventfd are where the guest put them, and
 * the next request continues the used ring with its MSI-X message.
 */
static void test_snapshot_round_trip(void)
{
	struct rig *src = new_rng_rig(), *dst = new_rng_rig();
	struct drv d = queue_driver(src);
	rng_driver_start(src);
	rng_request(src, &d);
	rng_request(src, &d);
	CHECK(wait_used(&d, 2) && src->machine.msis == 1, "the source serves two requests (one interrupt)");
	w32(src, 0x00, 1); /* device_feature_select */
	w32(src, 0x08, 1); /* driver_feature_select */

	virtio_device_quiesce(src->vd);
	virtio_device_quiesce(src->vd);
	CHECK(!src->rng.worker.running, "quiesce stops the worker (twice is harmless)");
	struct state_reader reader;
	uint8_t *blob = save_function(src, &reader);

	struct drv at_save = d;
	memcpy(dst->ram, src->ram, 1 << 20);
	CHECK(virtio_pci_load(&dst->vp, &reader, INSTANCE) == 0, "the fresh function loads it");
	dst->bar = pci_config_read(&dst->vp.pci, PCI_BAR0, 4) & ~0xfull;
	CHECK(dst->bar == src->bar && dst->machine.ioeventfds == 1 &&
	      dst->machine.ioeventfd_addr[0] == dst->bar + 0x3000,
	      "BAR 0 decodes where the guest moved it, with queue 0's notify ioeventfd there only");
	CHECK(r32(dst, 0x00) == 1 && r32(dst, 0x08) == 1 && r32(dst, 0x0c) == 1,
	      "the feature selectors, and driver features word 1 (VERSION_1)");
	w32(dst, 0x08, 0);
	CHECK(r32(dst, 0x0c) == 1u << VIRTIO_F_EVENT_IDX && r8(dst, 0x14) == S_LIVE,
	      "driver features word 0 and the status");
	CHECK(r16(dst, 0x10) == 1 && r8(dst, 0x15) == r8(src, 0x15), "configuration vector and generation");
	w16(dst, 0x16, 0);
	CHECK(r16(dst, 0x18) == 16 && r16(dst, 0x1a) == 0 && r16(dst, 0x1c) == 1 &&
	      r32(dst, 0x20) == QUEUE_BASE && r32(dst, 0x28) == QUEUE_BASE + 0x1000 &&
	      r32(dst, 0x30) == QUEUE_BASE + 0x2000, "queue 0: size, vector, enable, ring addresses");
	CHECK(dst->vd->queues[0].vq.last_avail == 2 && dst->vd->queues[0].vq.used_idx == 2 &&
	      dst->vd->queues[0].vq.event_idx, "indices and EVENT_IDX as the source left them");
	CHECK(r8(dst, 0x1000) == 1, "the ISR the guest had not read yet");
	CHECK(!dst->rng.worker.running, "loaded, not serving yet");

	CHECK(virtio_device_unquiesce(dst->vd) == 0 && dst->rng.worker.running, "unquiesce starts serving");
	d.ram = dst->ram;
	ask_interrupt_at(&d, 2);
	uint16_t head = rng_request(dst, &d);
	CHECK(wait_used(&d, 3) && get32(&d, d.used + 4 + 8 * 2) == head && get32(&d, d.used + 8 + 8 * 2) == 32,
	      "the next request is served into used entry 2, 32 bytes");
	for (int i = 0; i < 1000 && dst->machine.msis == 0; i++)
		usleep(1000);
	CHECK(dst->machine.msis == 1 && dst->machine.last_msi_data == 0x40,
	      "with the interrupt the driver asked for, on vector 0's restored message");
	CHECK(virtio_device_unquiesce(dst->vd) == 0 && dst->rng.worker.running, "unquiesce again: nothing to do");
	w8(dst, 0x14, 0);
	CHECK(!dst->rng.worker.running && r8(dst, 0x14) == 0, "the driver's reset stops the loaded device");

	CHECK(virtio_device_unquiesce(src->vd) == 0 && src->rng.worker.running,
	      "the source, unquiesced, serves again");
	rng_request(src, &at_save);
	CHECK(wait_used(&at_save, 3), "from its own indices");
	free(blob);
	free_rig(src);
	free_rig(dst);
}

/* A device as a driver left it: features, status, queue 0 on vector 0 at QUEUE_BASE. */
static void set_live(struct virtio_device *vd)
{
	vd->driver_features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX);
	vd->status = S_LIVE;
	vd->config_vector = 1;
	struct virtio_queue *q = &vd->queues[0];
	q->vq = (struct virtq){ .size = 16, .desc_gpa = QUEUE_BASE, .avail_gpa = QUEUE_BASE + 0x1000,
				.used_gpa = QUEUE_BASE + 0x2000, .last_avail = 7, .used_idx = 7 };
	q->enabled = true;
	q->vector = 0;
}

/* What `vd` saves, through virtio_device_save only, opened in *reader. */
static uint8_t *save_device(struct virtio_device *vd, struct state_reader *reader)
{
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_save(vd, &w, INSTANCE);
	return state_blob_open(&w, reader);
}

/* virtio_device_load of `reader` into a fresh virtio-rng on virtio-pci; the log line in *why. */
static int load_fresh(const struct state_reader *reader, uint32_t instance, char *why, size_t why_size)
{
	struct rig *dst = new_rng_rig();
	log_clear_last_error();
	int ret = virtio_device_load(dst->vd, reader, instance);
	snprintf(why, why_size, "%s", log_last_error());
	free_rig(dst);
	return ret;
}

static void spoil_device_id(struct virtio_device *vd) { vd->device_id = 2; }
static void spoil_offered(struct virtio_device *vd) { vd->device_features |= 1ull << 5; }
static void spoil_not_offered(struct virtio_device *vd) { vd->driver_features |= 1ull << 5; }
static void spoil_no_version_1(struct virtio_device *vd) { vd->driver_features &= ~(1ull << VIRTIO_F_VERSION_1); }
static void spoil_driver_ok(struct virtio_device *vd) { vd->status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; }
static void spoil_size_300(struct virtio_device *vd) { vd->queues[0].vq.size = 300; }
static void spoil_size_0(struct virtio_device *vd) { vd->queues[0].vq.size = 0; }
static void spoil_size_512(struct virtio_device *vd) { vd->queues[0].vq.size = 512; }
static void spoil_ring_outside(struct virtio_device *vd) { vd->queues[0].vq.used_gpa = (1 << 20) - 64; }
static void spoil_ring_misaligned(struct virtio_device *vd) { vd->queues[0].vq.desc_gpa += 8; }
static void spoil_in_flight(struct virtio_device *vd) { vd->queues[0].vq.last_avail = 7 + 17; }
static void spoil_queue_vector(struct virtio_device *vd) { vd->queues[0].vector = 2; }
static void spoil_config_vector(struct virtio_device *vd) { vd->config_vector = 0x8000; }

static const struct {
	void (*spoil)(struct virtio_device *vd);
	const char *why; /* in the log line */
} refusals[] = {
	{ spoil_device_id, "holds a device of type 2, this one is of type 4" },
	{ spoil_offered, "offered features 0x130000020, this one offers 0x130000000" },
	{ spoil_not_offered, "FEATURES_OK with driver features 0x120000020, which the device refuses" },
	{ spoil_no_version_1, "FEATURES_OK with driver features 0x20000000, which the device refuses" },
	{ spoil_driver_ok, "status 0x7 has DRIVER_OK without FEATURES_OK" },
	{ spoil_size_300, "queue 0 size 300 is not a power of 2" },
	{ spoil_size_0, "queue 0 size 0 is not a power of 2" },
	{ spoil_size_512, "queue 0 size 512 is larger than its maximum 256" },
	{ spoil_ring_outside, "queue 0 rings (0x10000, 0x11000, 0xfffc0) are misaligned or not in guest RAM" },
	{ spoil_ring_misaligned, "queue 0 rings (0x10008, 0x11000, 0x12000) are misaligned" },
	{ spoil_in_flight, "queue 0 has 17 buffers in flight, more than its size 16" },
	{ spoil_queue_vector, "queue 0 vector 2 is not one of the 2 vectors" },
	{ spoil_config_vector, "configuration vector 32768 is not one of the 2 vectors" },
};

/* The payload of `tag` in `reader`, cut short (or lengthened with a zero) by `delta` bytes. */
static uint8_t *resize_section(const struct state_reader *reader, uint32_t tag, long delta,
			       struct state_reader *out)
{
	struct state_section s;
	uint8_t copy[4096] = { 0 };
	state_find(reader, tag, INSTANCE, &s);
	memcpy(copy, s.data, s.len);
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, tag, INSTANCE);
	state_put_bytes(&w, copy, (size_t)((long)s.len + delta));
	state_end(&w);
	return state_blob_open(&w, out);
}

/* Each value a driver could not have written, one at a time: -EINVAL and a line saying which. */
static void test_snapshot_refusals(void)
{
	char why[LOG_LAST_ERROR_MAX];
	struct state_reader reader;
	struct rig *src = new_rng_rig();
	set_live(src->vd);
	uint8_t *good = save_device(src->vd, &reader);
	free_rig(src);

	struct rig *dst = new_rng_rig();
	CHECK(virtio_device_load(dst->vd, &reader, INSTANCE) == 0 && dst->vd->status == S_LIVE &&
	      dst->vd->queues[0].vq.last_avail == 7 && dst->vd->queues[0].vq.dma.mem == &dst->mem,
	      "the unspoilt device loads, queue 0 armed with its indices");
	free_rig(dst);
	CHECK(load_fresh(&reader, INSTANCE + 1, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "snapshot: virtio device 4: the snapshot holds no state for it"),
	      "no section for the device: %s", why);
	struct state_reader cut;
	uint8_t *short_blob = resize_section(&reader, STATE_TAG_VIRTIO, -1, &cut);
	CHECK(load_fresh(&cut, INSTANCE, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "virtio device 3: its saved state is truncated or malformed"),
	      "a byte short: %s", why);
	free(short_blob);
	uint8_t *long_blob = resize_section(&reader, STATE_TAG_VIRTIO, 1, &cut);
	CHECK(load_fresh(&cut, INSTANCE, why, sizeof(why)) == -EINVAL && strstr(why, "truncated or malformed"),
	      "a byte too many: %s", why);
	free(long_blob);
	free(good);

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		src = new_rng_rig();
		set_live(src->vd);
		refusals[i].spoil(src->vd);
		uint8_t *blob = save_device(src->vd, &reader);
		free_rig(src);
		CHECK(load_fresh(&reader, INSTANCE, why, sizeof(why)) == -EINVAL && strstr(why, refusals[i].why),
		      "refused: %s", why);
		free(blob);
	}

	/*
	 * Before FEATURES_OK and DRIVER_OK a driver may write any features and
	 * queue size (they are checked then): such a state loads, or a guest
	 * could keep itself from being migrated.
	 */
	src = new_rng_rig();
	set_live(src->vd);
	src->vd->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	spoil_not_offered(src->vd);
	spoil_size_300(src->vd);
	uint8_t *blob = save_device(src->vd, &reader);
	free_rig(src);
	CHECK(load_fresh(&reader, INSTANCE, why, sizeof(why)) == 0,
	      "a driver half way through set-up (unoffered features, queue size 300) loads");
	free(blob);
}

/*
 * A device that needed a reset when saved loads as it was, its rings not
 * checked (they may be why), and stays stopped until the driver resets it.
 */
static void test_snapshot_needs_reset(void)
{
	struct state_reader reader;
	struct rig *src = new_rng_rig();
	set_live(src->vd);
	src->vd->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	src->vd->queues[0].vq.used_gpa = 1 << 20;
	uint8_t *blob = save_device(src->vd, &reader);
	free_rig(src);

	struct rig *dst = new_rng_rig();
	CHECK(virtio_device_load(dst->vd, &reader, INSTANCE) == 0 &&
	      (r8(dst, 0x14) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "a device needing a reset loads so");
	CHECK(virtio_device_unquiesce(dst->vd) == 0 && !dst->rng.worker.running, "unquiesce leaves it stopped");
	w8(dst, 0x14, 0);
	CHECK(r8(dst, 0x14) == 0 && dst->vd->queues[0].vq.used_gpa == 0, "the driver's reset clears it");
	free_rig(dst);
	free(blob);
}

/* The device's sections from `reader`, all but the transport's. */
static void copy_all_but_transport(struct state_writer *w, const struct state_reader *reader)
{
	static const uint32_t tags[] = { STATE_TAG_PCI, STATE_TAG_MSIX, STATE_TAG_VIRTIO };
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		struct state_section s;
		state_find(reader, tags[i], INSTANCE, &s);
		state_begin(w, tags[i], INSTANCE);
		state_put_bytes(w, s.data, s.len);
		state_end(w);
	}
}

/* virtio_pci_load of `reader` into a fresh function: -EINVAL, with `why` in the log line? */
static bool pci_load_refused(const struct state_reader *reader, const char *why)
{
	struct rig *dst = new_rng_rig();
	log_clear_last_error();
	bool refused = virtio_pci_load(&dst->vp, reader, INSTANCE) == -EINVAL &&
		       strstr(log_last_error(), why);
	free_rig(dst);
	return refused;
}

/* The transport's own section: a missing one, and an ISR with bits no device sets. */
static void test_snapshot_transport(void)
{
	struct state_reader reader, spoilt;
	struct rig *src = new_rng_rig();
	uint8_t *blob = save_function(src, &reader);
	free_rig(src);

	struct state_writer w;
	state_writer_init(&w);
	copy_all_but_transport(&w, &reader);
	uint8_t *without = state_blob_open(&w, &spoilt);
	CHECK(pci_load_refused(&spoilt, "virtio device 3: no saved virtio-pci state"), "no VPCI section: refused");
	free(without);

	state_writer_init(&w);
	copy_all_but_transport(&w, &reader);
	state_begin(&w, STATE_TAG_VIRTIO_PCI, INSTANCE);
	state_put_u32(&w, 0);
	state_put_u32(&w, 0);
	state_put_u16(&w, 0);
	state_put_u8(&w, 0x80);
	state_end(&w);
	uint8_t *bad_isr = state_blob_open(&w, &spoilt);
	CHECK(pci_load_refused(&spoilt, "ISR 0x80 has bits no device sets"), "an ISR of 0x80: refused");
	free(bad_isr);
	free(blob);
}

/* Accepts `features` (bits 0..63) and asks for FEATURES_OK; whether it stuck. */
static bool accept_features(struct rig *r, uint64_t features)
{
	w8(r, 0x14, 0);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w32(r, 0x08, 0);
	w32(r, 0x0c, (uint32_t)features);
	w32(r, 0x08, 1);
	w32(r, 0x0c, (uint32_t)(features >> 32));
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return r8(r, 0x14) & VIRTIO_STATUS_FEATURES_OK;
}

/*
 * Behind an IOMMU (virtio 1.2 §6.1): ACCESS_PLATFORM offered and
 * required, and the rings are I/O virtual addresses of the function's
 * requester id.
 */
static void test_iommu(void)
{
	const uint64_t iova = 0x40000000, version_1 = 1ull << 32, platform = 1ull << VIRTIO_F_ACCESS_PLATFORM;
	struct rig *r = calloc(1, sizeof(*r));
	rig_init(r, false, false);
	w32(r, 0x00, 1);
	CHECK(!(r32(r, 0x04) & 2), "no IOMMU: ACCESS_PLATFORM (bit 33) not offered");
	struct fake_iommu f;
	fake_iommu_init(&f, iova, 0x1000);
	fake_iommu_map_range(&f, iova, 0x30000, 16);
	virtio_pci_set_iommu(&r->vp, &f.t);
	uint16_t rid = virtio_pci_requester_id(&r->vp);
	CHECK(rid == r->vp.pci.slot << 3 && rid != 0 && r->vd->dma.source_id == rid && r->vd->dma.iommu == &f.t,
	      "the device is behind the IOMMU as bus 0, its slot, function 0 (0x%x)", rid);
	w32(r, 0x00, 1);
	CHECK(r32(r, 0x04) & 2, "ACCESS_PLATFORM offered");
	CHECK(!accept_features(r, version_1), "FEATURES_OK refused to a driver without ACCESS_PLATFORM");
	CHECK(accept_features(r, version_1 | platform), "and kept with it");

	int before = activations;
	setup_queue(r, 0, iova, 0);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK);
	CHECK(activations == before + 1 && !(r8(r, 0x14) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) &&
	      r->vd->queues[0].vq.dma.iommu == &f.t && f.calls > 0 && f.last_source == rid && f.faults == 0,
	      "rings at I/O virtual addresses: translated as the function, the device activates");

	accept_features(r, version_1 | platform);
	setup_queue(r, 0, iova + 0x100000, 0);
	w8(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK);
	CHECK((r8(r, 0x14) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && f.faults == 1 && f.fault_iova == iova + 0x100000,
	      "rings the IOMMU does not map: a fault, and the device needs a reset");
	rig_destroy(r);
	free(r);
}

/* virtio-rng behind the IOMMU, served directly: a buffer the IOMMU refuses goes back empty. */
static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_rng_iommu(void)
{
	const uint64_t iova = 0x40000000;
	struct rig *r = new_rng_rig();
	struct fake_iommu f;
	fake_iommu_init(&f, iova, 0x1000);
	fake_iommu_map_range(&f, iova, 0x30000, 16);
	virtio_pci_set_iommu(&r->vp, &f.t);
	struct virtio_queue *q = &r->vd->queues[0];
	q->vq = (struct virtq){ .dma = r->vd->dma, .size = 16, .desc_gpa = iova, .avail_gpa = iova + 0x1000,
				.used_gpa = iova + 0x2000 };
	q->enabled = virtq_init(&q->vq) == 0;
	/* The fake driver sees the IOVAs: its RAM starts where iova maps. */
	struct drv d = { .ram = r->ram + 0x30000, .ram_gpa = iova, .desc = iova, .avail = iova + 0x1000,
			 .used = iova + 0x2000, .qsize = 16, .next_buf = iova + 0x3000, .buf_end = iova + 0x10000 };
	struct seg two[] = { { iova + 0x5000, 32, true }, { iova + 0x3000, 32, true } };
	struct seg fine = { iova + 0x4000, 32, true };
	fake_iommu_unmap(&f, two[1].gpa);
	drv_offer(&d, two, 2);
	drv_offer(&d, &fine, 1);
	virtio_rng_serve(r->vd, 0);
	CHECK(q->enabled && used_idx(&d) == 2 && get32(&d, d.used + 8) == 0 && get32(&d, d.used + 16) == 32 &&
	      all_zero(host(&d, two[0].gpa), 32) && all_zero(host(&d, two[1].gpa), 32) &&
	      !all_zero(host(&d, fine.gpa), 32),
	      "virtio-rng: a chain with a buffer the IOMMU refuses goes back with len 0, all of it "
	      "untouched; the next is filled");
	free_rig(r);
}

int main(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	rig_init(r, false, false);
	test_identity(r);
	test_negotiation(r);
	test_queues_and_interrupts(r);
	test_cfg_access(r);
	test_bar_move(r);
	rig_destroy(r);
	rig_init(r, true, false);
	test_external_irqfd(r);
	rig_destroy(r);
	free(r);
	test_snapshot_round_trip();
	test_snapshot_refusals();
	test_snapshot_needs_reset();
	test_snapshot_transport();
	test_iommu();
	test_rng_iommu();
	return tap_finish();
}

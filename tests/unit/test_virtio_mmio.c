/*
 * The virtio-mmio transport (virtio 1.2 §4.2), driven through an MMIO bus
 * as a vCPU would: identification, feature negotiation through the select
 * registers, queue set-up and its freezing once ready, notifications to
 * the kick eventfds, the level-triggered line following InterruptStatus,
 * the configuration space, the accesses the registers ignore, and reset.
 * Then snapshots: a virtio-rng saved with an interrupt pending, loaded
 * into a fresh transport that raises the line again and carries on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/virtio/rng.h"
#include "fake_virtq.h"
#include "fake_vm.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"
#include "util/log.h"
#include "virtio/device.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define BASE      LAYOUT_VIRTIO_MMIO_ADDR(1)
#define GSI       GSI_VIRTIO_MMIO(1)
#define DEVICE_ID 4 /* entropy: any id will do */
#define FEATURES  ((1ull << VIRTIO_F_EVENT_IDX) | (1ull << 3)) /* + VERSION_1 from the core */
#define NR_QUEUES 2
#define MAX_SIZE  64
#define CONFIG_SIZE 12

/* Guest RAM for the rings. */
#define RAM_GPA  0x100000ull
#define RAM_SIZE 0x10000ull
#define DESC_GPA  (RAM_GPA + 0x0000)
#define AVAIL_GPA (RAM_GPA + 0x1000)
#define USED_GPA  (RAM_GPA + 0x2000)

/* Register offsets (table 4.1). */
enum {
	MAGIC = 0x000, VERSION = 0x004, DEVICE_ID_REG = 0x008, VENDOR_ID = 0x00c,
	DEV_FEATURES = 0x010, DEV_FEATURES_SEL = 0x014, DRV_FEATURES = 0x020, DRV_FEATURES_SEL = 0x024,
	QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_READY = 0x044,
	QUEUE_NOTIFY = 0x050, INT_STATUS = 0x060, INT_ACK = 0x064, STATUS = 0x070,
	DESC_LOW = 0x080, DESC_HIGH = 0x084, DRIVER_LOW = 0x090, DRIVER_HIGH = 0x094,
	DEVICE_LOW = 0x0a0, DEVICE_HIGH = 0x0a4, SHM_SEL = 0x0ac, SHM_LEN_LOW = 0x0b0,
	SHM_LEN_HIGH = 0x0b4, SHM_BASE_LOW = 0x0b8, SHM_BASE_HIGH = 0x0bc, QUEUE_RESET = 0x0c0,
	CONFIG_GEN = 0x0fc, CONFIG = 0x100,
};

#define S_ACK  VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV  VIRTIO_STATUS_DRIVER
#define S_FOK  VIRTIO_STATUS_FEATURES_OK
#define S_DOK  VIRTIO_STATUS_DRIVER_OK
#define S_NEEDS_RESET VIRTIO_STATUS_DEVICE_NEEDS_RESET

/* A device type with a 12-byte configuration space that counts its callbacks. */
struct fake_device {
	uint8_t config[CONFIG_SIZE];
	int activations, resets, config_reads, config_writes;
};

static void fake_config_read(struct virtio_device *vd, uint64_t offset, void *data, uint32_t len)
{
	struct fake_device *f = vd->opaque;
	f->config_reads++;
	memcpy(data, f->config + offset, len);
}

static void fake_config_write(struct virtio_device *vd, uint64_t offset, const void *data, uint32_t len)
{
	struct fake_device *f = vd->opaque;
	f->config_writes++;
	memcpy(f->config + offset, data, len);
}

static int fake_activate(struct virtio_device *vd)
{
	((struct fake_device *)vd->opaque)->activations++;
	return 0;
}

static void fake_reset(struct virtio_device *vd)
{
	((struct fake_device *)vd->opaque)->resets++;
}

static const struct virtio_device_ops fake_ops = {
	.config_read = fake_config_read, .config_write = fake_config_write,
	.activate = fake_activate, .reset = fake_reset,
};

static uint8_t *ram;
static struct guest_mem gm;
static struct fake_vm fvm;
static struct vm_control vmc;
static struct fake_device fdev;
static struct virtio_device vd;
static struct virtio_mmio mmio;
static struct bus *bus;

static uint32_t rd(uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	bus_read(bus, BASE + off, &v, 4);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	bus_write(bus, BASE + off, &v, 4);
}

/* Reads n bytes (1, 2, 4 or 8) at off, zero-extended. */
static uint64_t rdn(uint64_t off, uint32_t n)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aull;
	bus_read(bus, BASE + off, &v, n);
	return n == 8 ? v : v & ((1ull << (8 * n)) - 1);
}

static void wrn(uint64_t off, uint64_t v, uint32_t n)
{
	bus_write(bus, BASE + off, &v, n);
}

/* Kicks pending on queue q's eventfd (read and cleared), 0 if none. */
static uint64_t kicks(unsigned q)
{
	uint64_t n = 0;
	if (read(vd.queues[q].kick_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static bool setup(void)
{
	memset(&fvm, 0, sizeof(fvm));
	memset(&fdev, 0, sizeof(fdev));
	for (unsigned i = 0; i < CONFIG_SIZE; i++)
		fdev.config[i] = (uint8_t)(0x10 + i);
	vmc = fake_vm_control(&fvm);
	if (virtio_device_init(&vd, DEVICE_ID, FEATURES, NR_QUEUES, MAX_SIZE, &gm, &fake_ops, &fdev) != 0)
		return false;
	vd.config_size = CONFIG_SIZE;
	if (virtio_mmio_init(&mmio, &vd, &vmc, GSI) != 0)
		return false;
	bus = bus_create("mmio");
	return bus && virtio_mmio_register(&mmio, bus, BASE) == 0;
}

static void teardown(void)
{
	bus_destroy(bus);
	virtio_mmio_destroy(&mmio);
	virtio_device_destroy(&vd);
}

static void test_init(void)
{
	struct virtio_device big;
	struct virtio_mmio m;
	struct fake_vm v = { 0 };
	struct vm_control c = fake_vm_control(&v);
	CHECK(virtio_device_init(&big, DEVICE_ID, 0, 1, 8, &gm, &fake_ops, &fdev) == 0, "a device");
	big.config_size = 0x100;
	CHECK(virtio_mmio_init(&m, &big, &c, GSI) == 0, "0x100 bytes of configuration fit the window");
	virtio_mmio_destroy(&m);
	big.config_size = 0x101;
	CHECK(virtio_mmio_init(&m, &big, &c, GSI) == -EINVAL, "0x101 bytes do not: -EINVAL");
	virtio_mmio_destroy(&m); /* harmless after a failed init */
	big.config_size = 0;
	CHECK(virtio_mmio_init(&m, &big, NULL, GSI) == -EINVAL, "no vm_control: -EINVAL");
	virtio_device_destroy(&big);

	CHECK(virtio_mmio_register(&mmio, bus, BASE + 0x100) == -EEXIST,
	      "the window is 0x200 bytes: a second one 0x100 above overlaps");
	CHECK(virtio_mmio_register(&mmio, bus, BASE + VIRTIO_MMIO_SIZE) == 0,
	      "one right after the window does not");
	bus_unregister(bus, BASE + VIRTIO_MMIO_SIZE);
}

static void test_ids(void)
{
	CHECK(rd(MAGIC) == 0x74726976, "MagicValue \"virt\"");
	CHECK(rd(VERSION) == 2, "Version 2");
	CHECK(rd(DEVICE_ID_REG) == DEVICE_ID, "DeviceID is the device's");
	CHECK(rd(VENDOR_ID) == VIRTIO_MMIO_VENDOR_ID, "VendorID %#x", VIRTIO_MMIO_VENDOR_ID);
	CHECK(rd(CONFIG_GEN) == 0, "ConfigGeneration 0");
	vd.config_generation = 7;
	CHECK(rd(CONFIG_GEN) == 7, "ConfigGeneration follows the device");
	vd.config_generation = 0;
	wr(SHM_SEL, 0);
	CHECK(rd(SHM_LEN_LOW) == 0xffffffff && rd(SHM_LEN_HIGH) == 0xffffffff &&
		      rd(SHM_BASE_LOW) == 0xffffffff && rd(SHM_BASE_HIGH) == 0xffffffff,
	      "no shared memory region: length and base -1");
	CHECK(rd(QUEUE_RESET) == 0, "QueueReset reads 0 (VIRTIO_F_RING_RESET not offered)");
	CHECK(rd(STATUS) == 0 && rd(INT_STATUS) == 0, "Status and InterruptStatus 0 after power-on");
}

static void test_features(void)
{
	wr(DEV_FEATURES_SEL, 0);
	CHECK(rd(DEV_FEATURES) == (uint32_t)FEATURES, "DeviceFeatures word 0");
	wr(DEV_FEATURES_SEL, 1);
	CHECK(rd(DEV_FEATURES) == 1, "DeviceFeatures word 1: VERSION_1");
	wr(DEV_FEATURES_SEL, 2);
	CHECK(rd(DEV_FEATURES) == 0, "DeviceFeatures word 2: nothing");

	/* An unknown feature: FEATURES_OK does not stick (§3.1.1). */
	wr(STATUS, S_ACK);
	wr(STATUS, S_ACK | S_DRV);
	wr(DRV_FEATURES_SEL, 1);
	wr(DRV_FEATURES, 1 | 2); /* VERSION_1 and bit 33, which we do not offer */
	wr(DRV_FEATURES_SEL, 0);
	wr(DRV_FEATURES, 1u << VIRTIO_F_EVENT_IDX);
	wr(STATUS, S_ACK | S_DRV | S_FOK);
	CHECK(rd(STATUS) == (S_ACK | S_DRV), "FEATURES_OK refused for a feature not offered");
	CHECK(rd(DRV_FEATURES) == 0, "DriverFeatures is write-only: reads 0");

	/* Without VERSION_1 neither. */
	wr(DRV_FEATURES_SEL, 1);
	wr(DRV_FEATURES, 0);
	wr(STATUS, S_ACK | S_DRV | S_FOK);
	CHECK(rd(STATUS) == (S_ACK | S_DRV), "FEATURES_OK refused without VERSION_1");

	/* A subset with VERSION_1 is fine, and sticks. */
	wr(DRV_FEATURES, 1);
	wr(STATUS, S_ACK | S_DRV | S_FOK);
	CHECK(rd(STATUS) == (S_ACK | S_DRV | S_FOK), "FEATURES_OK accepted for a subset with VERSION_1");
	CHECK(vd.driver_features == ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX)),
	      "the device sees both words through DriverFeaturesSel");
	wr(DRV_FEATURES_SEL, 0);
	wr(DRV_FEATURES, 0);
	CHECK(vd.driver_features & (1ull << VIRTIO_F_EVENT_IDX), "features fixed after FEATURES_OK");

	wr(STATUS, 0);
	CHECK(rd(STATUS) == 0 && vd.driver_features == 0 && fdev.resets == 1,
	      "Status 0 resets: status, features, the device type's reset");
}

/* The driver's side of §3.1.1 up to FEATURES_OK. */
static void negotiate(void)
{
	wr(STATUS, 0);
	wr(STATUS, S_ACK);
	wr(STATUS, S_ACK | S_DRV);
	wr(DRV_FEATURES_SEL, 1);
	wr(DRV_FEATURES, 1);
	wr(DRV_FEATURES_SEL, 0);
	wr(DRV_FEATURES, 0);
	wr(STATUS, S_ACK | S_DRV | S_FOK);
}

static void set_queue(unsigned q, uint32_t num)
{
	wr(QUEUE_SEL, q);
	wr(QUEUE_NUM, num);
	wr(DESC_LOW, (uint32_t)DESC_GPA + 0x4000 * q);
	wr(DESC_HIGH, 0);
	wr(DRIVER_LOW, (uint32_t)AVAIL_GPA + 0x4000 * q);
	wr(DRIVER_HIGH, 0);
	wr(DEVICE_LOW, (uint32_t)USED_GPA + 0x4000 * q);
	wr(DEVICE_HIGH, 0);
}

static void test_queues(void)
{
	negotiate();
	wr(QUEUE_SEL, 0);
	CHECK(rd(QUEUE_NUM_MAX) == MAX_SIZE && rd(QUEUE_READY) == 0, "queue 0: QueueNumMax %u, not ready",
	      MAX_SIZE);
	wr(QUEUE_SEL, NR_QUEUES);
	CHECK(rd(QUEUE_NUM_MAX) == 0 && rd(QUEUE_READY) == 0, "a queue that does not exist: QueueNumMax 0");
	wr(QUEUE_READY, 1);
	CHECK(rd(QUEUE_READY) == 0, "and it cannot be made ready");

	set_queue(0, 32);
	wr(DESC_HIGH, 0x12);
	struct virtq *vq = &vd.queues[0].vq;
	CHECK(vq->size == 32 && vq->desc_gpa == (0x12ull << 32 | DESC_GPA) && vq->avail_gpa == AVAIL_GPA &&
		      vq->used_gpa == USED_GPA,
	      "QueueNum and the Low/High address halves reach the queue");
	wr(DESC_HIGH, 0);
	CHECK(rd(QUEUE_NUM) == 0 && rd(DESC_LOW) == 0, "QueueNum and QueueDescLow are write-only: read 0");
	wr(QUEUE_READY, 1);
	CHECK(rd(QUEUE_READY) == 1 && vd.queues[0].enabled, "QueueReady 1 reads back 1");

	wr(QUEUE_NUM, 16);
	wr(DESC_LOW, 0x5000);
	wr(DRIVER_HIGH, 1);
	wr(DEVICE_LOW, 0x6000);
	CHECK(vq->size == 32 && vq->desc_gpa == DESC_GPA && vq->avail_gpa == AVAIL_GPA && vq->used_gpa == USED_GPA,
	      "queue configuration writes ignored while QueueReady is 1");

	wr(QUEUE_READY, 0);
	CHECK(rd(QUEUE_READY) == 0, "QueueReady 0 before DRIVER_OK: not ready again (Linux's error path)");
	wr(QUEUE_NUM, 16);
	CHECK(vq->size == 16, "and its configuration can change again");
	wr(QUEUE_NUM, 32);
	wr(QUEUE_READY, 1);

	set_queue(1, MAX_SIZE);
	wr(QUEUE_READY, 1);
	wr(QUEUE_SEL, 0);
	CHECK(rd(QUEUE_READY) == 1, "QueueSel switches back to queue 0, still ready");

	wr(STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	CHECK(rd(STATUS) == (S_ACK | S_DRV | S_FOK | S_DOK) && fdev.activations == 1,
	      "DRIVER_OK with two good queues activates the device");
	CHECK(vd.queues[0].vq.dma.mem == &gm && vd.queues[1].vq.event_idx == false,
	      "the core armed the queues with guest memory and the negotiated features");
	wr(QUEUE_READY, 0);
	CHECK(rd(QUEUE_READY) == 1, "QueueReady 0 after DRIVER_OK ignored: the I/O thread owns the queue");
	CHECK(fvm.set_irq_calls == 0, "no interrupt so far");

	/* A queue size above QueueNumMax is refused at DRIVER_OK. */
	negotiate();
	set_queue(0, MAX_SIZE * 2);
	wr(QUEUE_READY, 1);
	wr(STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	CHECK((rd(STATUS) & S_NEEDS_RESET) && fdev.activations == 1,
	      "QueueNum above QueueNumMax: DRIVER_OK sets DEVICE_NEEDS_RESET, no activation");
	wr(STATUS, 0);
	CHECK(rd(STATUS) == 0 && rd(INT_STATUS) == 0 && fvm.level == 0, "reset clears it");

	/* The device gives up on a live driver: NEEDS_RESET and a configuration change interrupt. */
	negotiate();
	set_queue(0, MAX_SIZE);
	wr(QUEUE_READY, 1);
	wr(STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	uint32_t gen_before = rd(CONFIG_GEN);
	virtio_device_needs_reset(&vd);
	CHECK((rd(STATUS) & S_NEEDS_RESET) && rd(CONFIG_GEN) == gen_before + 1, "virtio_device_needs_reset: NEEDS_RESET, "
	      "ConfigGeneration + 1");
	CHECK(rd(INT_STATUS) == VIRTIO_MMIO_INT_CONFIG && fvm.level == 1 && fvm.last_gsi == GSI,
	      "and a configuration change interrupt on GSI %u", GSI);
	virtio_device_needs_reset(&vd);
	CHECK(rd(CONFIG_GEN) == gen_before + 1, "giving up again changes nothing: one change notification");
	wr(STATUS, 0);
	CHECK(rd(STATUS) == 0 && rd(INT_STATUS) == 0 && fvm.level == 0, "reset clears status and interrupt");
	vd.config_generation = 0;
}

static void test_notify(void)
{
	(void)kicks(0);
	(void)kicks(1);
	wr(QUEUE_NOTIFY, 0);
	CHECK(kicks(0) == 1 && kicks(1) == 0, "QueueNotify 0 signals queue 0's kick eventfd");
	wr(QUEUE_NOTIFY, 1);
	wr(QUEUE_NOTIFY, 1);
	CHECK(kicks(1) == 2 && kicks(0) == 0, "two notifications of queue 1 count twice on its eventfd");
	wr(QUEUE_NOTIFY, NR_QUEUES);
	wr(QUEUE_NOTIFY, 0xffffffff);
	CHECK(kicks(0) == 0 && kicks(1) == 0, "QueueNotify for a queue that does not exist: nothing");
	wrn(QUEUE_NOTIFY, 0, 2);
	CHECK(kicks(0) == 0, "a 16-bit QueueNotify is ignored");
}

static void test_interrupts(void)
{
	memset(&fvm, 0, sizeof(fvm));
	virtio_notify_queue(&vd, 0);
	CHECK(fvm.level == 1 && fvm.last_gsi == GSI && fvm.rising_edges == 1,
	      "a used buffer notification raises GSI %u", GSI);
	CHECK(rd(INT_STATUS) == VIRTIO_MMIO_INT_VRING, "InterruptStatus: used buffer");
	virtio_notify_queue(&vd, 1);
	CHECK(fvm.set_irq_calls == 1, "a second notification leaves the high line alone");
	vd.transport.notify_config(vd.transport.ctx, VIRTIO_NO_VECTOR);
	CHECK(rd(INT_STATUS) == (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG) && fvm.set_irq_calls == 1,
	      "a configuration change adds bit 1");
	wr(INT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK(rd(INT_STATUS) == VIRTIO_MMIO_INT_CONFIG && fvm.level == 1,
	      "acknowledging bit 0 only: the line stays high");
	wrn(INT_ACK, VIRTIO_MMIO_INT_CONFIG, 1);
	CHECK(rd(INT_STATUS) == VIRTIO_MMIO_INT_CONFIG && fvm.level == 1, "a 1-byte InterruptACK is ignored");
	wr(INT_ACK, VIRTIO_MMIO_INT_CONFIG);
	CHECK(rd(INT_STATUS) == 0 && fvm.level == 0 && fvm.set_irq_calls == 2,
	      "acknowledging the rest lowers the line");
	wr(INT_ACK, 3);
	CHECK(fvm.set_irq_calls == 2, "acknowledging nothing pending changes nothing");
	wr(INT_STATUS, 3);
	CHECK(rd(INT_STATUS) == 0 && fvm.level == 0, "InterruptStatus is read-only");
	virtio_notify_queue(&vd, NR_QUEUES);
	CHECK(fvm.level == 0, "the core drops notifications of queues that do not exist");

	virtio_notify_queue(&vd, 0);
	CHECK(fvm.level == 1 && fvm.rising_edges == 2, "a new notification raises the line again");
}

static void test_config(void)
{
	fdev.config_reads = fdev.config_writes = 0;
	CHECK(rdn(CONFIG, 1) == 0x10 && rdn(CONFIG + 11, 1) == 0x1b, "8-bit config reads, first and last byte");
	CHECK(rdn(CONFIG + 2, 2) == 0x1312, "16-bit config read");
	CHECK(rdn(CONFIG + 4, 4) == 0x17161514, "32-bit config read");
	CHECK(rdn(CONFIG + 4, 8) == 0x1b1a191817161514ull, "64-bit config read");
	CHECK(fdev.config_reads == 5, "each went to the device type");
	CHECK(rdn(CONFIG + 12, 1) == 0 && rdn(CONFIG + 10, 4) == 0 && rdn(CONFIG + 0xfc, 4) == 0,
	      "config reads past config_size read 0");
	CHECK(fdev.config_reads == 5, "without reaching the device type");

	wrn(CONFIG + 8, 0xa1a2a3a4, 4);
	wrn(CONFIG + 1, 0xee, 1);
	CHECK(fdev.config[8] == 0xa4 && fdev.config[11] == 0xa1 && fdev.config[1] == 0xee &&
		      fdev.config_writes == 2,
	      "config writes reach the device type");
	wrn(CONFIG + 10, 0xffffffff, 4);
	wrn(CONFIG + 0x80, 0xffffffff, 4);
	CHECK(fdev.config_writes == 2 && fdev.config[10] == 0xa2, "config writes past config_size dropped");
}

static void test_narrow(void)
{
	CHECK(rdn(MAGIC, 1) == 0 && rdn(MAGIC, 2) == 0 && rdn(MAGIC, 8) == 0,
	      "8-, 16- and 64-bit reads of MagicValue read 0");
	CHECK(rdn(MAGIC + 2, 4) == 0 && rdn(VERSION + 1, 4) == 0, "unaligned 32-bit register reads read 0");
	CHECK(rdn(MAGIC + 2, 2) == 0, "a 16-bit read of the upper half reads 0");
	CHECK(rd(0x0f8) == 0 && rd(0x028) == 0, "reserved and legacy (version 1) registers read 0");

	wr(STATUS, S_ACK);
	uint8_t status = (uint8_t)rd(STATUS);
	wrn(STATUS, 0, 1);
	wrn(STATUS, 0, 2);
	wrn(STATUS, 0, 8);
	wrn(STATUS + 1, 0, 4);
	CHECK(rd(STATUS) == status && status != 0, "narrow, wide and unaligned Status writes ignored");
	wrn(QUEUE_SEL, 1, 2);
	CHECK(rd(QUEUE_NUM_MAX) == MAX_SIZE && mmio.queue_sel == 0, "a 16-bit QueueSel write ignored");
	wrn(DEV_FEATURES_SEL, 1, 1);
	CHECK(mmio.device_features_sel == 0, "an 8-bit DeviceFeaturesSel write ignored");
	wr(MAGIC, 0);
	wr(VERSION, 1);
	CHECK(rd(MAGIC) == 0x74726976 && rd(VERSION) == 2, "read-only registers ignore writes");
}

static void test_reset(void)
{
	/* A live device with an interrupt pending. */
	negotiate();
	set_queue(0, 16);
	wr(QUEUE_READY, 1);
	wr(STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	wr(QUEUE_SEL, 1);
	wr(DEV_FEATURES_SEL, 1);
	virtio_notify_queue(&vd, 0);
	int resets = fdev.resets;
	CHECK(rd(STATUS) == (S_ACK | S_DRV | S_FOK | S_DOK) && fvm.level == 1 && rd(INT_STATUS) == 1,
	      "live, with an interrupt pending");

	wr(STATUS, 0);
	CHECK(fdev.resets == resets + 1, "Status 0 calls the device type's reset");
	CHECK(rd(STATUS) == 0 && vd.driver_features == 0, "status and features cleared");
	CHECK(rd(INT_STATUS) == 0 && fvm.level == 0, "InterruptStatus cleared, line low (§4.2.2.1)");
	CHECK(mmio.queue_sel == 0 && mmio.device_features_sel == 0, "selectors back to 0");
	CHECK(rd(QUEUE_READY) == 0 && vd.queues[0].vq.size == MAX_SIZE && vd.queues[0].vq.desc_gpa == 0,
	      "queue 0 not ready, its size back to QueueNumMax, its addresses 0");
	wr(QUEUE_NUM, 8);
	CHECK(vd.queues[0].vq.size == 8, "and configurable again");
}

/* The line matches InterruptStatus while notifications race with acknowledgements. */
static void *notifier(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++)
		virtio_notify_queue(&vd, (unsigned)i % NR_QUEUES);
	return NULL;
}

static void test_race(void)
{
	wr(STATUS, 0);
	memset(&fvm, 0, sizeof(fvm));
	pthread_t t;
	if (pthread_create(&t, NULL, notifier, NULL) != 0) {
		CHECK(false, "pthread_create");
		return;
	}
	bool consistent = true;
	for (int i = 0; i < 20000; i++) {
		uint32_t s = rd(INT_STATUS);
		consistent &= s == 0 || s == VIRTIO_MMIO_INT_VRING;
		if (s)
			wr(INT_ACK, s);
	}
	pthread_join(t, NULL);
	uint32_t s = rd(INT_STATUS);
	CHECK(consistent && fvm.level == (s != 0),
	      "a notifier thread against ACKing vCPU: the line ends equal to InterruptStatus != 0 (%u)", s);
	wr(INT_ACK, s);
	CHECK(fvm.level == 0, "and the last ACK lowers it");
}

/* ---- snapshots: a virtio-rng on virtio-mmio ---- */

#define INSTANCE 2

/* One side of a migration: its own RAM, machine, device and bus. */
struct side {
	uint8_t *ram;
	struct guest_mem gm;
	struct fake_vm fvm;
	struct vm_control vmc;
	struct virtio_rng rng;
	struct virtio_mmio mmio;
	struct bus *bus;
};

static struct side *side_create(void)
{
	struct side *s = calloc(1, sizeof(*s));
	if (!s || !(s->ram = calloc(1, RAM_SIZE))) {
		printf("Bail out! no memory for a side\n");
		exit(1);
	}
	guest_mem_init_flat(&s->gm, s->ram, RAM_GPA, RAM_SIZE);
	s->vmc = fake_vm_control(&s->fvm);
	s->bus = bus_create("mmio");
	if (!s->bus || virtio_rng_init(&s->rng, &s->gm) != 0 ||
	    virtio_mmio_init(&s->mmio, &s->rng.vd, &s->vmc, GSI) != 0 ||
	    virtio_mmio_register(&s->mmio, s->bus, BASE) != 0) {
		printf("Bail out! cannot set up a virtio-rng on virtio-mmio\n");
		exit(1);
	}
	return s;
}

static void side_destroy(struct side *s)
{
	virtio_set_status(&s->rng.vd, 0);
	bus_destroy(s->bus);
	virtio_mmio_destroy(&s->mmio);
	virtio_rng_destroy(&s->rng);
	free(s->ram);
	free(s);
}

static uint32_t side_rd(struct side *s, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	bus_read(s->bus, BASE + off, &v, 4);
	return v;
}

static void side_wr(struct side *s, uint64_t off, uint32_t v)
{
	bus_write(s->bus, BASE + off, &v, 4);
}

/* Linux's probe: VERSION_1 and EVENT_IDX, queue 0 of 16 entries, DRIVER_OK. */
static void side_driver_start(struct side *s)
{
	side_wr(s, STATUS, S_ACK);
	side_wr(s, STATUS, S_ACK | S_DRV);
	side_wr(s, DRV_FEATURES_SEL, 1);
	side_wr(s, DRV_FEATURES, 1);
	side_wr(s, DRV_FEATURES_SEL, 0);
	side_wr(s, DRV_FEATURES, 1u << VIRTIO_F_EVENT_IDX);
	side_wr(s, STATUS, S_ACK | S_DRV | S_FOK);
	side_wr(s, QUEUE_SEL, 0);
	side_wr(s, QUEUE_NUM, 16);
	side_wr(s, DESC_LOW, (uint32_t)DESC_GPA);
	side_wr(s, DRIVER_LOW, (uint32_t)AVAIL_GPA);
	side_wr(s, DEVICE_LOW, (uint32_t)USED_GPA);
	side_wr(s, QUEUE_READY, 1);
	side_wr(s, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
}

/* Offers one 32-byte writable buffer and notifies queue 0. */
static void side_request(struct side *s, struct drv *d)
{
	struct seg seg = { drv_alloc(d, 32), 32, true };
	drv_offer(d, &seg, 1);
	side_wr(s, QUEUE_NOTIFY, 0);
}

static bool wait_used(struct drv *d, uint16_t n)
{
	for (int i = 0; i < 5000 && used_idx(d) != n; i++)
		usleep(1000);
	return used_idx(d) == n;
}

/* The worker raises the line on its own thread. */
static bool wait_level(struct fake_vm *fvm, int level)
{
	for (int i = 0; i < 5000 && __atomic_load_n(&fvm->level, __ATOMIC_ACQUIRE) != level; i++)
		usleep(1000);
	return __atomic_load_n(&fvm->level, __ATOMIC_ACQUIRE) == level;
}

/* The blob `w` holds, opened in *reader; the caller frees it. */
/*
 * Saved with an interrupt pending, loaded into a fresh transport (RAM
 * copied, as migration does): the line is high again, the registers read
 * back the same, and the next request continues the used ring.
 */
static void test_snapshot_round_trip(void)
{
	struct side *src = side_create(), *dst = side_create();
	struct drv d = { .ram = src->ram, .ram_gpa = RAM_GPA, .qsize = 16, .desc = DESC_GPA,
			 .avail = AVAIL_GPA, .used = USED_GPA, .next_buf = RAM_GPA + 0x8000,
			 .buf_end = RAM_GPA + RAM_SIZE };
	side_driver_start(src);
	side_request(src, &d);
	CHECK(wait_used(&d, 1) && wait_level(&src->fvm, 1), "the source serves a request and raises its line");
	side_wr(src, DEV_FEATURES_SEL, 1);

	virtio_device_quiesce(&src->rng.vd);
	struct state_writer w;
	state_writer_init(&w);
	virtio_mmio_save(&src->mmio, &w, INSTANCE);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);

	memcpy(dst->ram, src->ram, RAM_SIZE);
	CHECK(virtio_mmio_load(&dst->mmio, &reader, INSTANCE) == 0, "a fresh transport loads it");
	CHECK(dst->fvm.level == 1 && dst->fvm.last_gsi == GSI && side_rd(dst, INT_STATUS) == VIRTIO_MMIO_INT_VRING,
	      "InterruptStatus as saved, and the line driven high again");
	CHECK(side_rd(dst, STATUS) == (S_ACK | S_DRV | S_FOK | S_DOK) && side_rd(dst, DEV_FEATURES) == 1,
	      "Status, and DeviceFeaturesSel still 1 (word 1: VERSION_1)");
	CHECK(side_rd(dst, QUEUE_READY) == 1 && side_rd(dst, QUEUE_NUM_MAX) == 256, "queue 0 ready");
	CHECK(!dst->rng.worker.running, "not serving before unquiesce");

	CHECK(virtio_device_unquiesce(&dst->rng.vd) == 0 && dst->rng.worker.running, "unquiesce starts serving");
	side_wr(dst, INT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK(dst->fvm.level == 0, "the driver acknowledges the interrupt it had not seen");
	d.ram = dst->ram;
	put16(&d, d.avail + 4 + 2ull * d.qsize, 1); /* used_event: the next entry (§2.7.10) */
	side_request(dst, &d);
	CHECK(wait_used(&d, 2) && get32(&d, d.used + 4 + 8 + 4) == 32, "the next request lands in used entry 1");
	CHECK(wait_level(&dst->fvm, 1), "with the interrupt the driver asked for");
	side_wr(dst, STATUS, 0);
	CHECK(!dst->rng.worker.running && side_rd(dst, INT_STATUS) == 0, "the driver's reset stops it");
	free(blob);
	side_destroy(src);
	side_destroy(dst);
}

/*
 * virtio_mmio_load of a fresh device's state with a VMMI section holding
 * `interrupt_status` (none without `with_transport`): -EINVAL, `why` in
 * the log line and the line left low?
 */
static bool load_refused(uint32_t interrupt_status, bool with_transport, const char *why)
{
	struct side *src = side_create(), *dst = side_create();
	struct state_writer w;
	state_writer_init(&w);
	if (with_transport) {
		state_begin(&w, STATE_TAG_VIRTIO_MMIO, INSTANCE);
		for (int i = 0; i < 3; i++)
			state_put_u32(&w, 0);
		state_put_u32(&w, interrupt_status);
		state_end(&w);
	}
	virtio_device_save(&src->rng.vd, &w, INSTANCE);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);
	log_clear_last_error();
	bool refused = virtio_mmio_load(&dst->mmio, &reader, INSTANCE) == -EINVAL &&
		       strstr(log_last_error(), why) && dst->fvm.level == 0;
	free(blob);
	side_destroy(src);
	side_destroy(dst);
	return refused;
}

static void test_snapshot_refusals(void)
{
	CHECK(load_refused(4, true, "virtio device 2: InterruptStatus 0x4 has bits no device sets"),
	      "InterruptStatus bit 2: refused, the line left low");
	CHECK(load_refused(0, false, "virtio device 2: no saved virtio-mmio state"), "no VMMI section: refused");
}

int main(void)
{
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 1;
	guest_mem_init_flat(&gm, ram, RAM_GPA, RAM_SIZE);
	if (!setup()) {
		CHECK(false, "set-up: device, transport, bus");
		return tap_finish();
	}
	test_init();
	test_ids();
	test_features();
	test_queues();
	test_notify();
	test_interrupts();
	test_config();
	test_narrow();
	test_reset();
	test_race();
	teardown();
	free(ram);
	test_snapshot_round_trip();
	test_snapshot_refusals();
	return tap_finish();
}

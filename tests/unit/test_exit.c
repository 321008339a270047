/* Exit dispatch with synthetic exits: port I/O, string I/O, MMIO, IOAPIC EOIs, and the ends. */
#include <string.h>

#include "tap.h"
#include "vmm/exit.h"

static uint8_t last_port_byte;
static int port_writes;

static void port_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	(void)dev;
	memset(data, (int)(0x10 + offset), len);
}

static void port_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	(void)dev;
	(void)offset;
	(void)len;
	last_port_byte = *(const uint8_t *)data;
	port_writes++;
}

static const struct bus_ops port_ops = { .read = port_read, .write = port_write };

static int eois;
static int last_eoi_vector = -1;

static void record_eoi(void *ctx, uint8_t vector)
{
	(*(int *)ctx)++;
	last_eoi_vector = vector;
}

/* HV_EXIT_IOAPIC_EOI reaches the machine's hook with its vector, and the vCPU goes on. */
static void test_ioapic_eoi(struct exit_context *ctx)
{
	struct hv_exit e = { .kind = HV_EXIT_IOAPIC_EOI, .eoi_vector = 0x41 };
	struct exit_verdict v = exit_dispatch(ctx, &e);
	CHECK(!v.stop && eois == 0, "IOAPIC EOI without a hook (no split irqchip): ignored, runs on");
	ctx->ioapic_eoi = record_eoi;
	ctx->eoi_ctx = &eois;
	v = exit_dispatch(ctx, &e);
	CHECK(!v.stop && eois == 1 && last_eoi_vector == 0x41, "IOAPIC EOI: the hook gets vector 0x41");
	ctx->ioapic_eoi = NULL;
	ctx->eoi_ctx = NULL;
}

int main(void)
{
	struct exit_context ctx = { .pio = bus_create("pio"), .mmio = bus_create("mmio") };
	bus_register(ctx.pio, 0x3f8, 8, &port_ops, NULL, "fake");

	uint8_t data[16] = { 'a', 'b', 'c' };
	struct hv_exit e = { .kind = HV_EXIT_IO };
	e.io.port = 0x3f8;
	e.io.size = 1;
	e.io.is_write = true;
	e.io.count = 3;
	e.io.data = data;
	struct exit_verdict v = exit_dispatch(&ctx, &e);
	CHECK(!v.stop && port_writes == 3 && last_port_byte == 'c', "rep outsb: every byte reaches the device");

	e.io.is_write = false;
	e.io.count = 1;
	e.io.port = 0x3fa;
	exit_dispatch(&ctx, &e);
	CHECK(data[0] == 0x12, "port read fills the run area from the device");

	e.io.port = 0x80;
	e.io.size = 4;
	memset(data, 0, sizeof(data));
	v = exit_dispatch(&ctx, &e);
	CHECK(!v.stop && data[0] == 0xff && data[3] == 0xff, "unclaimed port read gives all-ones and goes on");

	struct hv_exit m = { .kind = HV_EXIT_MMIO };
	m.mmio.gpa = 0xd0000000;
	m.mmio.len = 8;
	m.mmio.data = data;
	v = exit_dispatch(&ctx, &m);
	CHECK(!v.stop && data[7] == 0xff, "unclaimed MMIO read gives all-ones");
	m.mmio.is_write = true;
	v = exit_dispatch(&ctx, &m);
	CHECK(!v.stop, "unclaimed MMIO write is dropped");

	struct hv_exit x = { .kind = HV_EXIT_SHUTDOWN };
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_CRASH && v.dump_registers, "triple fault: crash with a register dump");
	x.kind = HV_EXIT_FAIL_ENTRY;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_CRASH && v.dump_registers, "failed entry: crash with a register dump");
	x.kind = HV_EXIT_INTERNAL_ERROR;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_CRASH && v.dump_registers, "internal error: crash with a register dump");
	x.kind = HV_EXIT_HLT;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_POWEROFF && !v.dump_registers, "HLT that cannot wake: power-off");
	x.kind = HV_EXIT_SYSTEM_EVENT;
	x.system_event = HV_SYSTEM_EVENT_RESET;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_REBOOT, "system event reset: reboot");
	x.system_event = HV_SYSTEM_EVENT_POWEROFF;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_POWEROFF, "system event shutdown: power-off");
	x.kind = HV_EXIT_INTERRUPTED;
	v = exit_dispatch(&ctx, &x);
	CHECK(!v.stop, "interrupted run goes on");
	test_ioapic_eoi(&ctx);
	x.kind = HV_EXIT_UNKNOWN;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_CRASH, "unknown exit: crash, not abort");
	x.kind = (enum hv_exit_kind)1234;
	v = exit_dispatch(&ctx, &x);
	CHECK(v.stop && v.reason == VM_STOP_CRASH, "out-of-range exit kind is handled");

	bus_destroy(ctx.pio);
	bus_destroy(ctx.mmio);
	return tap_finish();
}

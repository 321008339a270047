/*
 * ACPI PM registers: S5 power-off, other sleep types refused, SCI_EN,
 * write-1-to-clear status, the SCI level, byte-lane accesses, and the PM
 * timer's rate and 24-bit wrap on a fake clock.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/acpi_pm.h"
#include "fake_vm.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"

#define NS 1000000000ll
#define PM_TMR_HZ 3579545ll

#define SLP_EN (1u << 13)
#define SLP_TYP(t) ((unsigned)(t) << 10)

static int64_t fake_now_ns;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now_ns;
}

struct rig {
	struct fake_vm vm;
	struct vm_control control;
	struct bus *pio;
	struct acpi_pm *pm;
};

/* A device on the fake clock as it stands. */
static void rig_create(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->control = fake_vm_control(&r->vm);
	r->pio = bus_create("pio");
	struct acpi_pm_config cfg = {
		.vm = &r->control, .gsi = IRQ_ACPI_SCI, .clock = fake_clock,
	};
	r->pm = acpi_pm_create(&cfg);
	acpi_pm_register(r->pm, r->pio);
}

static void rig_init(struct rig *r)
{
	fake_now_ns = 1000 * NS; /* any origin */
	rig_create(r);
}

static void rig_fini(struct rig *r)
{
	acpi_pm_destroy(r->pm);
	bus_destroy(r->pio);
}

static uint32_t in(struct rig *r, uint16_t port, uint32_t len)
{
	uint32_t val = 0;
	bus_read(r->pio, port, &val, len);
	return val;
}

static void out(struct rig *r, uint16_t port, uint32_t val, uint32_t len)
{
	bus_write(r->pio, port, &val, len);
}

static void test_sleep(void)
{
	struct rig r;
	rig_init(&r);
	CHECK(in(&r, PORT_ACPI_PM1_CNT, 2) & 1, "SCI_EN reads 1 (no SMI command port)");
	out(&r, PORT_ACPI_PM1_CNT, 0, 2);
	CHECK(in(&r, PORT_ACPI_PM1_CNT, 2) & 1, "and cannot be cleared");

	/* Linux's acpi_hw_legacy_sleep: SLP_TYP first, then SLP_TYP | SLP_EN. */
	out(&r, PORT_ACPI_PM1_CNT, SLP_TYP(3) | 1, 2);
	CHECK(in(&r, PORT_ACPI_PM1_CNT, 2) == (SLP_TYP(3) | 1), "SLP_TYP reads back");
	out(&r, PORT_ACPI_PM1_CNT, SLP_TYP(3) | SLP_EN | 1, 2);
	CHECK(r.vm.stops == 0, "S3 is not supported: no stop");
	CHECK(in(&r, PORT_ACPI_PM1_EVT, 2) & 0x8000, "but WAK_STS is set, so the guest stops waiting");
	CHECK(!(in(&r, PORT_ACPI_PM1_CNT, 2) & SLP_EN), "SLP_EN reads 0");

	out(&r, PORT_ACPI_PM1_CNT, SLP_TYP(ACPI_S5_SLP_TYP), 2);
	CHECK(r.vm.stops == 0, "SLP_TYP alone does nothing");
	out(&r, PORT_ACPI_PM1_CNT, SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN, 2);
	CHECK(r.vm.stops == 1 && r.vm.last_stop == VM_STOP_POWEROFF, "S5 + SLP_EN: power-off request");
	rig_fini(&r);

	rig_init(&r);
	out(&r, PORT_ACPI_PM1_CNT, SLP_TYP(ACPI_S5_SLP_TYP), 2);
	out(&r, PORT_ACPI_PM1_CNT + 1, (SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN) >> 8, 1);
	CHECK(r.vm.stops == 1 && r.vm.last_stop == VM_STOP_POWEROFF, "a 1-byte write of the high byte works too");
	rig_fini(&r);
}

static void test_status_enable_sci(void)
{
	struct rig r;
	rig_init(&r);
	out(&r, PORT_ACPI_PM1_CNT, SLP_TYP(1) | SLP_EN, 2);
	CHECK(in(&r, PORT_ACPI_PM1_EVT, 2) == 0x8000, "WAK_STS set");
	out(&r, PORT_ACPI_PM1_EVT, 0x7fff, 2);
	CHECK(in(&r, PORT_ACPI_PM1_EVT, 2) == 0x8000, "writing 0 to a status bit keeps it");
	out(&r, PORT_ACPI_PM1_EVT, 0x8000, 2);
	CHECK(in(&r, PORT_ACPI_PM1_EVT, 2) == 0, "writing 1 clears it");

	out(&r, PORT_ACPI_PM1_EVT + 2, 0x0121, 2);
	CHECK(in(&r, PORT_ACPI_PM1_EVT + 2, 2) == 0x0121, "PM1_EN reads back");
	CHECK(in(&r, PORT_ACPI_PM1_EVT, 4) == 0x01210000, "a 4-byte read gives status and enable");
	out(&r, PORT_ACPI_PM1_EVT + 3, 0x00, 1);
	CHECK(in(&r, PORT_ACPI_PM1_EVT + 2, 2) == 0x0021, "a 1-byte write changes one lane");
	out(&r, PORT_ACPI_PM1_EVT, 0xffff0000, 4);
	CHECK(in(&r, PORT_ACPI_PM1_EVT + 2, 2) == 0x4721, "a 4-byte write sets enable (defined bits only)");
	out(&r, PORT_ACPI_PM1_EVT + 2, 0, 2);

	/* The timer's bit 23 toggles every 2^23 ticks: TMR_STS, and the SCI if enabled. */
	out(&r, PORT_ACPI_PM1_EVT + 2, 0x0001, 2);
	CHECK(r.vm.level == 0, "no status, no SCI");
	fake_now_ns += (int64_t)(((1 << 23) + 10) * (double)NS / PM_TMR_HZ);
	CHECK(in(&r, PORT_ACPI_PM1_EVT, 2) & 1, "TMR_STS after bit 23 toggled");
	CHECK(r.vm.level == 1 && r.vm.last_gsi == IRQ_ACPI_SCI, "enabled: SCI raised on IRQ 9");
	out(&r, PORT_ACPI_PM1_EVT, 0x0001, 2);
	CHECK(r.vm.level == 0, "clearing the status drops the SCI");
	rig_fini(&r);
}

static void test_pm_timer(void)
{
	struct rig r;
	rig_init(&r);
	CHECK(in(&r, PORT_ACPI_PM_TMR, 4) == 0, "the timer starts at 0");
	fake_now_ns += NS;
	CHECK(in(&r, PORT_ACPI_PM_TMR, 4) == PM_TMR_HZ, "3579545 ticks per second");
	fake_now_ns += NS / 1000;
	CHECK(in(&r, PORT_ACPI_PM_TMR, 4) == PM_TMR_HZ + 3579, "3579 more after a millisecond");
	fake_now_ns += 4 * NS;
	CHECK(in(&r, PORT_ACPI_PM_TMR, 4) == ((5 * PM_TMR_HZ + 3579) & 0xffffff), "wraps at 24 bits");
	uint32_t full = in(&r, PORT_ACPI_PM_TMR, 4);
	CHECK(in(&r, PORT_ACPI_PM_TMR, 2) == (full & 0xffff) &&
	      in(&r, PORT_ACPI_PM_TMR + 2, 1) == ((full >> 16) & 0xff) &&
	      in(&r, PORT_ACPI_PM_TMR + 3, 1) == 0, "narrow reads see their bytes; the top byte is 0");
	out(&r, PORT_ACPI_PM_TMR, 0, 4);
	CHECK(in(&r, PORT_ACPI_PM_TMR, 4) == full, "writes are ignored");
	fake_now_ns += 1000 * 86400 * NS; /* 1000 days: no overflow in the conversion */
	uint32_t later = in(&r, PORT_ACPI_PM_TMR, 4);
	uint64_t expect = ((uint64_t)(5 + 1000 * 86400) * PM_TMR_HZ + 3579) & 0xffffff;
	CHECK(later == expect, "exact after 1000 days");
	rig_fini(&r);
}

/* ---- snapshots ---- */

static uint8_t *save_pm(struct rig *r, struct state_reader *reader)
{
	struct state_writer w;
	state_writer_init(&w);
	acpi_pm_save(r->pm, &w);
	return state_blob_open(&w, reader);
}

static void test_snapshot_round_trip(void)
{
	struct rig a, b, c;
	rig_init(&a);
	out(&a, PORT_ACPI_PM1_EVT + 2, 0x0121, 2);
	out(&a, PORT_ACPI_PM1_CNT, SLP_TYP(1) | SLP_EN, 2); /* WAK_STS */
	out(&a, PORT_ACPI_PM1_CNT, SLP_TYP(3) | 2, 2);
	fake_now_ns += 3 * NS; /* bit 23 toggled: TMR_STS, SCI */
	uint32_t evt = in(&a, PORT_ACPI_PM1_EVT, 4), timer = in(&a, PORT_ACPI_PM_TMR, 4);
	struct state_reader reader;
	uint8_t *blob = save_pm(&a, &reader);

	fake_now_ns += 50 * NS; /* stopped for 50 s */
	rig_create(&b);
	CHECK(acpi_pm_load(b.pm, &reader) == 0, "snapshot: ACPI PM loads into a fresh one");
	CHECK(b.vm.level == 1 && b.vm.last_gsi == IRQ_ACPI_SCI, "the SCI is driven high again");
	CHECK(evt == 0x01218001 && in(&b, PORT_ACPI_PM1_EVT, 4) == evt,
	      "PM1 status and enable read as saved");
	CHECK(in(&b, PORT_ACPI_PM1_CNT, 2) == (SLP_TYP(3) | 2 | 1), "PM1 control too");
	CHECK(in(&b, PORT_ACPI_PM_TMR, 4) == timer, "the PM timer goes on from the saved count");
	fake_now_ns += NS;
	CHECK(in(&b, PORT_ACPI_PM_TMR, 4) == ((timer + PM_TMR_HZ) & 0xffffff), "at its rate");
	free(blob);
	rig_fini(&b);

	out(&a, PORT_ACPI_PM1_EVT, 0x0001, 2);
	blob = save_pm(&a, &reader);
	rig_create(&c);
	CHECK(acpi_pm_load(c.pm, &reader) == 0 && c.vm.set_irq_calls == 0, "a state with the SCI low loads");
	CHECK(!(in(&c, PORT_ACPI_PM1_EVT, 2) & 1) && c.vm.level == 0,
	      "no spurious TMR_STS: the timer's overflow epoch was restored");
	free(blob);
	rig_fini(&c);
	rig_fini(&a);
}

/* An ACPI PM section written by hand, for states the device cannot reach by itself. */
struct pm_image {
	uint16_t sts, en, cnt;
	uint64_t elapsed_ns, msb_epoch;
	size_t cut;    /* payload bytes kept, 0: all */
	uint8_t extra; /* zero bytes appended */
};

static const struct pm_image good_image = {
	.sts = 0x8001, .en = 0x4721, .cnt = 0x1c02, .elapsed_ns = 10 * NS, .msb_epoch = 4,
};

static int load_image(const struct pm_image *img)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_ACPI_PM, 0);
	size_t start = w.len;
	state_put_u16(&w, img->sts);
	state_put_u16(&w, img->en);
	state_put_u16(&w, img->cnt);
	state_put_u64(&w, img->elapsed_ns);
	state_put_u64(&w, img->msb_epoch);
	for (unsigned i = 0; i < img->extra; i++)
		state_put_u8(&w, 0);
	if (img->cut)
		w.len = start + img->cut;
	state_end(&w);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);
	struct rig b;
	rig_init(&b);
	out(&b, PORT_ACPI_PM1_EVT + 2, 0x0200, 2);
	int ret = acpi_pm_load(b.pm, &reader);
	bool untouched = in(&b, PORT_ACPI_PM1_EVT, 4) == 0x02000000 && in(&b, PORT_ACPI_PM_TMR, 4) == 0 &&
			 b.vm.set_irq_calls == 0;
	rig_fini(&b);
	free(blob);
	return ret == 0 || untouched ? ret : -1;
}

static void test_snapshot_refusals(void)
{
	CHECK(load_image(&good_image) == 0, "snapshot: the baseline hand-made state loads");
	static const struct { const char *what; struct pm_image img; } bad[] = {
		{ "a power button status with no power button", { .sts = 0x0100 } },
		{ "a reserved enable bit", { .en = 0x0002 } },
		{ "SCI_EN stored in PM1 control", { .cnt = 0x0001 } },
		{ "SLP_EN stored in PM1 control", { .cnt = 0x2000 } },
		{ "a timer that ran for 101 years", { .elapsed_ns = 101ull * 366 * 86400 * NS } },
		{ "an overflow epoch ahead of the count", { .elapsed_ns = 10 * NS, .msb_epoch = 5 } },
		{ "a section cut inside the timer", { .cut = 10 } },
		{ "a byte too many", { .extra = 1 } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(load_image(&bad[i].img) == -EINVAL, "refused, device untouched: %s", bad[i].what);

	struct state_reader reader;
	uint8_t *blob = state_blob_without_devices(&reader);
	struct rig b;
	rig_init(&b);
	CHECK(acpi_pm_load(b.pm, &reader) == -EINVAL, "refused: no ACPI PM section");
	rig_fini(&b);
	free(blob);
}

int main(void)
{
	test_sleep();
	test_status_enable_sci();
	test_pm_timer();
	test_snapshot_round_trip();
	test_snapshot_refusals();
	return tap_finish();
}

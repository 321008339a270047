/*
 * CMOS RTC on a fake clock: BCD and binary encodings, 12-hour mode, setting
 * the time (with and without SET), the NMI bit of the index port,
 * register C, the century byte and plain CMOS RAM.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/rtc_cmos.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"

#define NS 1000000000ll
#define T_2024_02_29_13_45_56 1709214356ll /* a Thursday */

enum { SEC = 0x00, MIN = 0x02, HOUR = 0x04, DOW = 0x06, DAY = 0x07, MONTH = 0x08, YEAR = 0x09,
       REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32 };

static int64_t fake_now_ns;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now_ns;
}

struct rig {
	struct bus *pio;
	struct rtc_cmos *rtc;
};

/* An RTC on the fake clock as it stands. */
static void rig_create(struct rig *r)
{
	struct rtc_cmos_config cfg = { .clock = fake_clock };
	r->pio = bus_create("pio");
	r->rtc = rtc_cmos_create(&cfg);
	rtc_cmos_register(r->rtc, r->pio);
}

static void rig_init(struct rig *r, int64_t now_s)
{
	fake_now_ns = now_s * NS + 123456789; /* mid-second */
	rig_create(r);
}

static void rig_fini(struct rig *r)
{
	rtc_cmos_destroy(r->rtc);
	bus_destroy(r->pio);
}

static uint8_t cmos_read(struct rig *r, uint8_t index)
{
	uint8_t val = 0;
	bus_write(r->pio, PORT_RTC, &index, 1);
	bus_read(r->pio, PORT_RTC + 1, &val, 1);
	return val;
}

static void cmos_write(struct rig *r, uint8_t index, uint8_t val)
{
	bus_write(r->pio, PORT_RTC, &index, 1);
	bus_write(r->pio, PORT_RTC + 1, &val, 1);
}

static void test_bcd_default(void)
{
	struct rig r;
	rig_init(&r, T_2024_02_29_13_45_56);
	CHECK(cmos_read(&r, REG_B) == 0x02, "register B: 24-hour BCD, as firmware leaves it");
	CHECK(cmos_read(&r, SEC) == 0x56 && cmos_read(&r, MIN) == 0x45 && cmos_read(&r, HOUR) == 0x13,
	      "time 13:45:56 in BCD");
	CHECK(cmos_read(&r, DAY) == 0x29 && cmos_read(&r, MONTH) == 0x02 && cmos_read(&r, YEAR) == 0x24,
	      "date 29.02.24 in BCD");
	CHECK(cmos_read(&r, CENTURY) == 0x20, "century 0x20 at index 0x32");
	CHECK(cmos_read(&r, DOW) == 5, "Thursday is day 5 (Sunday = 1)");
	CHECK((cmos_read(&r, REG_A) & 0x80) == 0, "UIP reads 0");
	CHECK(cmos_read(&r, REG_A) == 0x26, "register A: 32.768 kHz divider, 1024 Hz rate");
	CHECK(cmos_read(&r, REG_D) == 0x80, "register D: valid RAM and time");
	fake_now_ns += 5 * NS;
	CHECK(cmos_read(&r, SEC) == 0x01 && cmos_read(&r, MIN) == 0x46, "the clock follows the host");
	rig_fini(&r);
}

static void test_binary_and_12h(void)
{
	struct rig r;
	rig_init(&r, T_2024_02_29_13_45_56);
	cmos_write(&r, REG_B, 0x06);
	CHECK(cmos_read(&r, SEC) == 56 && cmos_read(&r, HOUR) == 13 && cmos_read(&r, DAY) == 29,
	      "binary mode");
	CHECK(cmos_read(&r, YEAR) == 24 && cmos_read(&r, CENTURY) == 20, "binary year and century");

	cmos_write(&r, REG_B, 0x00);
	CHECK(cmos_read(&r, HOUR) == 0x81, "12-hour BCD: 13h is 1 PM (bit 7)");
	cmos_write(&r, REG_B, 0x04);
	CHECK(cmos_read(&r, HOUR) == 0x81, "12-hour binary: 1 PM");
	rig_fini(&r);

	rig_init(&r, T_2024_02_29_13_45_56 - 13 * 3600 - 15 * 60); /* 00:30:56 */
	cmos_write(&r, REG_B, 0x00);
	CHECK(cmos_read(&r, HOUR) == 0x12, "half past midnight is 12 AM");
	fake_now_ns += 12 * 3600 * NS;
	CHECK(cmos_read(&r, HOUR) == 0x92, "half past noon is 12 PM");
	rig_fini(&r);
}

static void test_set_time(void)
{
	struct rig r;
	rig_init(&r, T_2024_02_29_13_45_56);
	/* Linux's mc146818_set_time: SET, write the fields, clear SET. */
	cmos_write(&r, REG_B, 0x82);
	cmos_write(&r, SEC, 0x58);
	cmos_write(&r, MIN, 0x59);
	cmos_write(&r, HOUR, 0x23);
	cmos_write(&r, DAY, 0x31);
	cmos_write(&r, MONTH, 0x12);
	cmos_write(&r, YEAR, 0x99);
	cmos_write(&r, CENTURY, 0x19);
	fake_now_ns += 10 * NS;
	CHECK(cmos_read(&r, SEC) == 0x58 && cmos_read(&r, MIN) == 0x59, "frozen while SET");
	cmos_write(&r, REG_B, 0x02);
	fake_now_ns += 3 * NS;
	CHECK(cmos_read(&r, SEC) == 0x01 && cmos_read(&r, MIN) == 0x00 && cmos_read(&r, HOUR) == 0x00,
	      "runs from the time set: 23:59:58 + 3 s = 00:00:01");
	CHECK(cmos_read(&r, DAY) == 0x01 && cmos_read(&r, MONTH) == 0x01 && cmos_read(&r, YEAR) == 0x00,
	      "across the new year: 01.01.00");
	CHECK(cmos_read(&r, CENTURY) == 0x20, "and the century");
	CHECK(cmos_read(&r, DOW) == 7, "2000-01-01 was a Saturday (7)");

	/* A write outside SET mode takes effect at once; the rest keeps running. */
	cmos_write(&r, MIN, 0x30);
	CHECK(cmos_read(&r, MIN) == 0x30 && cmos_read(&r, SEC) == 0x01, "direct minute write");
	fake_now_ns += 60 * NS;
	CHECK(cmos_read(&r, MIN) == 0x31, "and the clock runs on from it");

	/* Invalid times are refused; the clock keeps its offset. */
	cmos_write(&r, REG_B, 0x82);
	cmos_write(&r, MONTH, 0x13);
	cmos_write(&r, REG_B, 0x02);
	CHECK(cmos_read(&r, MONTH) == 0x01 && cmos_read(&r, MIN) == 0x31, "month 13 is ignored");
	cmos_write(&r, REG_B, 0x82);
	cmos_write(&r, MONTH, 0x02);
	cmos_write(&r, DAY, 0x30);
	cmos_write(&r, REG_B, 0x02);
	CHECK(cmos_read(&r, MONTH) == 0x01 && cmos_read(&r, DAY) == 0x01, "30 February is ignored");
	cmos_write(&r, REG_B, 0x82);
	cmos_write(&r, SEC, 0x5a);
	cmos_write(&r, REG_B, 0x02);
	CHECK(cmos_read(&r, SEC) == 0x01, "a non-BCD byte is ignored");
	rig_fini(&r);
}

static void test_set_time_12h_binary(void)
{
	struct rig r;
	rig_init(&r, T_2024_02_29_13_45_56);
	cmos_write(&r, REG_B, 0x80 | 0x04); /* SET, binary, 12-hour */
	cmos_write(&r, HOUR, 0x80 | 11);    /* 11 PM */
	cmos_write(&r, REG_B, 0x04);        /* run */
	CHECK(cmos_read(&r, HOUR) == (0x80 | 11), "the clock runs from 11 PM");
	cmos_write(&r, REG_B, 0x06);        /* binary 24-hour */
	CHECK(cmos_read(&r, HOUR) == 23, "which is 23 h");
	rig_fini(&r);
}

static void test_index_and_ram(void)
{
	struct rig r;
	rig_init(&r, T_2024_02_29_13_45_56);
	CHECK(cmos_read(&r, 0x80 | SEC) == 0x56, "index bit 7 (NMI disable) is not part of the index");
	CHECK(cmos_read(&r, 0x80 | CENTURY) == 0x20, "century through the NMI bit too");
	cmos_write(&r, 0x40, 0xab);
	cmos_write(&r, 0x7f, 0xcd);
	CHECK(cmos_read(&r, 0x40) == 0xab && cmos_read(&r, 0x80 | 0x7f) == 0xcd, "CMOS RAM keeps bytes");
	uint16_t index_and_value = 0x41 | 0x5a << 8;
	bus_write(r.pio, PORT_RTC, &index_and_value, 2);
	CHECK(cmos_read(&r, 0x41) == 0x5a, "a 2-byte write sets index then data");
	cmos_write(&r, REG_D, 0);
	CHECK(cmos_read(&r, REG_D) == 0x80, "register D is read-only");
	cmos_write(&r, REG_A, 0xa6);
	CHECK(cmos_read(&r, REG_A) == 0x26, "UIP is read-only");
	rig_fini(&r);
}

static void test_register_c(void)
{
	struct rig r;
	rig_init(&r, T_2024_02_29_13_45_56);
	CHECK(cmos_read(&r, REG_C) == 0, "no update yet");
	fake_now_ns += NS;
	CHECK(cmos_read(&r, REG_C) == 0x10, "update-ended flag after a second");
	CHECK(cmos_read(&r, REG_C) == 0, "reading register C cleared it");
	cmos_write(&r, REG_B, 0x12); /* UIE */
	fake_now_ns += NS;
	CHECK(cmos_read(&r, REG_C) == 0x90, "with UIE: IRQF too");
	cmos_write(&r, REG_B, 0x92);
	CHECK((cmos_read(&r, REG_B) & 0x10) == 0, "SET clears UIE");
	rig_fini(&r);
}

/* ---- snapshots ---- */

static uint8_t *save_rtc(struct rig *r, struct state_reader *reader)
{
	struct state_writer w;
	state_writer_init(&w);
	rtc_cmos_save(r->rtc, &w);
	return state_blob_open(&w, reader);
}

/* The data port without touching the index: what the index register says. */
static uint8_t data_at_index(struct rig *r)
{
	uint8_t val = 0;
	bus_read(r->pio, PORT_RTC + 1, &val, 1);
	return val;
}

static bool same_cmos(struct rig *a, struct rig *b)
{
	for (uint8_t i = 0; i < 0x80; i++)
		if (i != REG_C && cmos_read(a, i) != cmos_read(b, i))
			return false;
	return true;
}

/* The guest set its clock to 1999-12-31 23:59:58, uses binary 12-hour mode and CMOS RAM. */
static void guest_sets_clock(struct rig *r)
{
	cmos_write(r, REG_B, 0x82);
	cmos_write(r, SEC, 0x58);
	cmos_write(r, MIN, 0x59);
	cmos_write(r, HOUR, 0x23);
	cmos_write(r, DAY, 0x31);
	cmos_write(r, MONTH, 0x12);
	cmos_write(r, YEAR, 0x99);
	cmos_write(r, CENTURY, 0x19);
	cmos_write(r, REG_B, 0x02);
	cmos_write(r, REG_B, 0x04);
	cmos_write(r, REG_A, 0x2f);
	cmos_write(r, 0x40, 0xab);
	cmos_write(r, 0x7f, 0xcd);
	uint8_t index = 0x40;
	bus_write(r->pio, PORT_RTC, &index, 1);
}

static void test_snapshot_round_trip(void)
{
	struct rig a, b;
	rig_init(&a, T_2024_02_29_13_45_56);
	guest_sets_clock(&a);
	struct state_reader reader;
	uint8_t *blob = save_rtc(&a, &reader);
	fake_now_ns += 100 * NS; /* the VM was stopped for 100 s */
	rig_create(&b);
	CHECK(rtc_cmos_load(b.rtc, &reader) == 0, "snapshot: the RTC loads into a fresh one");
	CHECK(data_at_index(&b) == 0xab, "the index register was restored");
	CHECK(same_cmos(&a, &b), "every register and RAM byte reads the same");
	CHECK(cmos_read(&b, SEC) == 38 && cmos_read(&b, MIN) == 1 && cmos_read(&b, HOUR) == 12 &&
	      cmos_read(&b, YEAR) == 0, "the guest's clock went on with the host's: 00:01:38 (12 AM) in 2000");
	free(blob);
	rig_fini(&b);
	rig_fini(&a);

	rig_init(&a, T_2024_02_29_13_45_56);
	cmos_write(&a, REG_B, 0x82);
	cmos_write(&a, SEC, 0x07);
	blob = save_rtc(&a, &reader);
	fake_now_ns += 5 * NS;
	rig_create(&b);
	CHECK(rtc_cmos_load(b.rtc, &reader) == 0 && cmos_read(&b, SEC) == 0x07 &&
	      cmos_read(&b, MIN) == 0x45, "a clock frozen by SET stays frozen with what the guest wrote");
	cmos_write(&b, REG_B, 0x02);
	cmos_write(&a, REG_B, 0x02);
	CHECK(cmos_read(&b, SEC) == 0x07 && cmos_read(&a, SEC) == 0x07, "and adopts it when SET clears");
	free(blob);
	rig_fini(&b);
	rig_fini(&a);
}

/* Register C reports a second boundary since its last read, even across a load. */
static void test_snapshot_register_c(void)
{
	struct rig a, b;
	rig_init(&b, T_2024_02_29_13_45_56);
	fake_now_ns += 3 * NS;
	rig_create(&a);
	cmos_read(&a, REG_C);
	struct state_reader reader;
	uint8_t *blob = save_rtc(&a, &reader);
	CHECK(rtc_cmos_load(b.rtc, &reader) == 0 && cmos_read(&b, REG_C) == 0,
	      "no update flag within the second of the saved read");
	free(blob);
	rig_fini(&b);
	rig_fini(&a);
}

/* An RTC section written by hand, for states the RTC cannot reach by itself. */
struct rtc_image {
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset_s;
	size_t cut; /* payload bytes kept, 0: all */
};

static struct rtc_image good_image(void)
{
	struct rtc_image img = { .index = 0x7f, .offset_s = -30ll * 365 * 86400 };
	img.cmos[REG_A] = 0x26;
	img.cmos[REG_B] = 0x02;
	img.cmos[0x50] = 0x99;
	return img;
}

static int load_image(const struct rtc_image *img)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_RTC, 0);
	size_t start = w.len;
	state_put_u8(&w, img->index);
	state_put_bytes(&w, img->cmos, sizeof(img->cmos));
	state_put_u64(&w, (uint64_t)img->offset_s);
	state_put_u64(&w, 0);
	if (img->cut)
		w.len = start + img->cut;
	state_end(&w);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);
	struct rig b;
	rig_init(&b, T_2024_02_29_13_45_56);
	cmos_write(&b, 0x50, 0x11);
	int ret = rtc_cmos_load(b.rtc, &reader);
	bool untouched = cmos_read(&b, 0x50) == 0x11 && cmos_read(&b, YEAR) == 0x24;
	rig_fini(&b);
	free(blob);
	return ret == 0 || untouched ? ret : -1;
}

static void test_snapshot_refusals(void)
{
	struct rtc_image img = good_image();
	CHECK(load_image(&img) == 0, "snapshot: the baseline hand-made state loads");
	img.index = 0x80;
	CHECK(load_image(&img) == -EINVAL, "refused, device untouched: index 0x80");
	img = good_image();
	img.offset_s = 10001ll * 366 * 86400;
	CHECK(load_image(&img) == -EINVAL, "refused: an offset beyond 10000 years");
	img.offset_s = -img.offset_s;
	CHECK(load_image(&img) == -EINVAL, "refused: a negative one too");
	img = good_image();
	img.cmos[REG_A] |= 0x80;
	CHECK(load_image(&img) == -EINVAL, "refused: UIP set in register A");
	img = good_image();
	img.cmos[REG_B] = 0x80 | 0x10;
	CHECK(load_image(&img) == -EINVAL, "refused: SET and UIE together");
	img = good_image();
	img.cmos[REG_C] = 0x10;
	CHECK(load_image(&img) == -EINVAL, "refused: a stored register C");
	img = good_image();
	img.cmos[REG_D] = 0x80;
	CHECK(load_image(&img) == -EINVAL, "refused: a stored register D");
	img = good_image();
	img.cut = 1 + 128 + 4;
	CHECK(load_image(&img) == -EINVAL, "refused: a section cut inside the offset");

	struct state_reader reader;
	uint8_t *blob = state_blob_without_devices(&reader);
	struct rig b;
	rig_init(&b, T_2024_02_29_13_45_56);
	CHECK(rtc_cmos_load(b.rtc, &reader) == -EINVAL, "refused: no RTC section");
	rig_fini(&b);
	free(blob);
}

int main(void)
{
	test_bcd_default();
	test_binary_and_12h();
	test_set_time();
	test_set_time_12h_binary();
	test_index_and_ram();
	test_register_c();
	test_snapshot_round_trip();
	test_snapshot_register_c();
	test_snapshot_refusals();
	return tap_finish();
}

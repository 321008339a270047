/*
 * CMOS RTC on a fake clock: BCD and binary encodings, 12-hour mode, setting
 * the time (with and without SET), the NMI bit of the index port,
 * register C, the century byte and plain CMOS RAM.
 */
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/rtc_cmos.h"
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

static void rig_init(struct rig *r, int64_t now_s)
{
	fake_now_ns = now_s * NS + 123456789; /* mid-second */
	struct rtc_cmos_config cfg = { .clock = fake_clock };
	r->pio = bus_create("pio");
	r->rtc = rtc_cmos_create(&cfg);
	rtc_cmos_register(r->rtc, r->pio);
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

int main(void)
{
	test_bcd_default();
	test_binary_and_12h();
	test_set_time();
	test_set_time_12h_binary();
	test_index_and_ram();
	test_register_c();
	return tap_finish();
}

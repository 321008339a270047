/*
 * MC146818A real-time clock and CMOS RAM (Motorola datasheet; register
 * numbers as in every PC since the AT).
 *
 * The time registers are not kept ticking: each read computes host UTC
 * time + offset and encodes it per register B (BCD or binary, 12 or 24
 * hours). Setting the time only changes the offset. While register B's
 * SET bit is 1 the time registers are frozen and plain storage, as the
 * datasheet describes; clearing SET adopts the written time.
 *
 * Not implemented: periodic, alarm and update-ended interrupts (IRQ_RTC
 * stays unused; register C only reports the update-ended flag when
 * polled), the divider chain (register A's divider bits are stored but
 * the clock never stops), daylight saving (register B bit 0: the host
 * time is UTC). UIP always reads 0, so no guest ever waits for it.
 */
#include "devices/legacy/rtc_cmos.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/layout.h"
#include "migration/state.h"
#include "util/log.h"

/* CMOS indices. */
enum {
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_DAY_OF_WEEK = 0x06,
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = RTC_CENTURY_INDEX, /* announced in the FADT's CENTURY field */
};

#define CMOS_SIZE 128
#define INDEX_NMI_DISABLE 0x80

#define REG_A_UIP 0x80
#define REG_B_SET 0x80
#define REG_B_UIE 0x10
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_C_IRQF 0x80
#define REG_C_UF 0x10
#define REG_D_VRT 0x80 /* valid RAM and time: the battery is fine */

#define HOUR_PM 0x80 /* 12-hour mode: bit 7 of the hours register */

/* What PC firmware leaves: 32.768 kHz time base, 1024 Hz rate; 24-hour BCD. */
#define RESET_REG_A 0x26
#define RESET_REG_B REG_B_24H

#define NS_PER_SEC 1000000000ll
#define SECS_PER_DAY 86400ll
/* The registers hold years 0..9999: no offset the guest can set is larger. */
#define MAX_OFFSET_S (10000ll * 366 * SECS_PER_DAY)

struct rtc_cmos {
	rtc_cmos_clock_fn clock;
	void *clock_ctx;
	struct bus *pio; /* where the ports are claimed, or NULL */

	/* Protects every field below: vCPU threads enter concurrently. */
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[CMOS_SIZE]; /* RAM, registers A/B, and the time while frozen */
	int64_t offset_s;        /* guest time - host time */
	int64_t last_c_read_s;   /* host second of the last register C read */
};

struct rtc_time {
	int64_t year;
	unsigned month, day, hour, minute, second;
	unsigned weekday; /* 0 = Sunday */
};

static struct log_limit bad_time_limit = LOG_LIMIT_INIT(5);

/* ---- calendar (proleptic Gregorian, H. Hinnant's civil algorithms) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t days, struct rtc_time *t)
{
	days += 719468;
	int64_t era = floor_div(days, 146097);
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	t->day = doy - (153 * mp + 2) / 5 + 1;
	t->month = mp < 10 ? mp + 3 : mp - 9;
	t->year = (int64_t)yoe + era * 400 + (t->month <= 2);
}

static bool is_leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

static void time_from_seconds(int64_t secs, struct rtc_time *t)
{
	int64_t days = floor_div(secs, SECS_PER_DAY);
	int64_t in_day = secs - days * SECS_PER_DAY;
	civil_from_days(days, t);
	t->hour = (unsigned)(in_day / 3600);
	t->minute = (unsigned)(in_day / 60 % 60);
	t->second = (unsigned)(in_day % 60);
	/* 1970-01-01 was a Thursday (4). */
	t->weekday = (unsigned)(days + 4 - floor_div(days + 4, 7) * 7);
}

static int64_t seconds_from_time(const struct rtc_time *t)
{
	return days_from_civil(t->year, t->month, t->day) * SECS_PER_DAY +
	       t->hour * 3600 + t->minute * 60 + t->second;
}

/* ---- clock ---- */

static int64_t realtime_clock_ns(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t rtc_host_seconds(const struct rtc_cmos *rtc)
{
	return floor_div(rtc->clock(rtc->clock_ctx), NS_PER_SEC);
}

static int64_t rtc_guest_seconds(const struct rtc_cmos *rtc)
{
	return rtc_host_seconds(rtc) + rtc->offset_s;
}

/* ---- register encoding (register B bits 2 and 1) ---- */

static bool rtc_binary_mode(const struct rtc_cmos *rtc)
{
	return rtc->cmos[RTC_REG_B] & REG_B_DM_BINARY;
}

static bool rtc_24h_mode(const struct rtc_cmos *rtc)
{
	return rtc->cmos[RTC_REG_B] & REG_B_24H;
}

static bool rtc_frozen(const struct rtc_cmos *rtc)
{
	return rtc->cmos[RTC_REG_B] & REG_B_SET;
}

static uint8_t rtc_encode(const struct rtc_cmos *rtc, unsigned v)
{
	return rtc_binary_mode(rtc) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static bool rtc_decode(const struct rtc_cmos *rtc, uint8_t raw, unsigned *v)
{
	if (rtc_binary_mode(rtc)) {
		*v = raw;
		return true;
	}
	unsigned hi = raw >> 4, lo = raw & 0xf;
	*v = hi * 10 + lo;
	return hi <= 9 && lo <= 9;
}

/* 12-hour mode: 1..12, bit 7 set for PM; midnight is 12 AM. */
static uint8_t rtc_encode_hour(const struct rtc_cmos *rtc, unsigned hour)
{
	if (rtc_24h_mode(rtc))
		return rtc_encode(rtc, hour);
	unsigned h12 = hour % 12 ? hour % 12 : 12;
	return rtc_encode(rtc, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static bool rtc_decode_hour(const struct rtc_cmos *rtc, uint8_t raw, unsigned *hour)
{
	if (rtc_24h_mode(rtc))
		return rtc_decode(rtc, raw, hour) && *hour < 24;
	unsigned h12;
	if (!rtc_decode(rtc, raw & ~HOUR_PM, &h12) || h12 < 1 || h12 > 12)
		return false;
	*hour = h12 % 12 + (raw & HOUR_PM ? 12 : 0);
	return true;
}

/* Writes `secs` into the time registers in the current encoding. */
static void rtc_store_time(struct rtc_cmos *rtc, int64_t secs)
{
	struct rtc_time t;
	time_from_seconds(secs, &t);
	int64_t year_of_century = (t.year % 100 + 100) % 100;
	int64_t century = (floor_div(t.year, 100) % 100 + 100) % 100;
	rtc->cmos[RTC_SECONDS] = rtc_encode(rtc, t.second);
	rtc->cmos[RTC_MINUTES] = rtc_encode(rtc, t.minute);
	rtc->cmos[RTC_HOURS] = rtc_encode_hour(rtc, t.hour);
	rtc->cmos[RTC_DAY_OF_WEEK] = rtc_encode(rtc, t.weekday + 1); /* 1 = Sunday */
	rtc->cmos[RTC_DAY_OF_MONTH] = rtc_encode(rtc, t.day);
	rtc->cmos[RTC_MONTH] = rtc_encode(rtc, t.month);
	rtc->cmos[RTC_YEAR] = rtc_encode(rtc, (unsigned)year_of_century);
	rtc->cmos[RTC_CENTURY] = rtc_encode(rtc, (unsigned)century);
}

/* Reads the time registers back; false if they do not hold a valid time. */
static bool rtc_load_time(const struct rtc_cmos *rtc, int64_t *secs)
{
	struct rtc_time t;
	unsigned year_of_century, century;
	bool ok = rtc_decode(rtc, rtc->cmos[RTC_SECONDS], &t.second) && t.second < 60 &&
		  rtc_decode(rtc, rtc->cmos[RTC_MINUTES], &t.minute) && t.minute < 60 &&
		  rtc_decode_hour(rtc, rtc->cmos[RTC_HOURS], &t.hour) &&
		  rtc_decode(rtc, rtc->cmos[RTC_MONTH], &t.month) &&
		  t.month >= 1 && t.month <= 12 &&
		  rtc_decode(rtc, rtc->cmos[RTC_YEAR], &year_of_century) && year_of_century < 100 &&
		  rtc_decode(rtc, rtc->cmos[RTC_CENTURY], &century) && century < 100 &&
		  rtc_decode(rtc, rtc->cmos[RTC_DAY_OF_MONTH], &t.day);
	if (!ok)
		return false;
	t.year = century * 100 + year_of_century;
	if (t.day < 1 || t.day > days_in_month(t.year, t.month))
		return false;
	*secs = seconds_from_time(&t);
	return true;
}

/* The guest wrote a new time into the registers: adopt it as the offset. */
static void rtc_adopt_written_time(struct rtc_cmos *rtc)
{
	int64_t secs;
	if (rtc_load_time(rtc, &secs)) {
		rtc->offset_s = secs - rtc_host_seconds(rtc);
	} else if (log_limit_allow(&bad_time_limit)) {
		log_warn("rtc: guest set an invalid time "
			 "(%02x:%02x:%02x %02x-%02x-%02x%02x), ignored",
			 rtc->cmos[RTC_HOURS], rtc->cmos[RTC_MINUTES], rtc->cmos[RTC_SECONDS],
			 rtc->cmos[RTC_DAY_OF_MONTH], rtc->cmos[RTC_MONTH],
			 rtc->cmos[RTC_CENTURY], rtc->cmos[RTC_YEAR]);
	}
}

static bool is_time_register(uint8_t index)
{
	switch (index) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

/* ---- registers ---- */

static uint8_t rtc_read_time_register(struct rtc_cmos *rtc, uint8_t index)
{
	if (!rtc_frozen(rtc))
		rtc_store_time(rtc, rtc_guest_seconds(rtc));
	return rtc->cmos[index];
}

/*
 * Outside SET mode a write takes effect at once (the other fields keep
 * counting from the current time); inside it, it waits for SET to clear.
 */
static void rtc_write_time_register(struct rtc_cmos *rtc, uint8_t index, uint8_t val)
{
	if (rtc_frozen(rtc)) {
		rtc->cmos[index] = val;
		return;
	}
	rtc_store_time(rtc, rtc_guest_seconds(rtc));
	rtc->cmos[index] = val;
	rtc_adopt_written_time(rtc);
}

static void rtc_write_reg_b(struct rtc_cmos *rtc, uint8_t val)
{
	bool was_frozen = rtc_frozen(rtc);
	if (val & REG_B_SET)
		val &= ~REG_B_UIE; /* SET clears UIE (datasheet, register B bit 7) */
	rtc->cmos[RTC_REG_B] = val;
	if (!was_frozen && rtc_frozen(rtc))
		rtc_store_time(rtc, rtc_guest_seconds(rtc)); /* freeze the current time */
	else if (was_frozen && !rtc_frozen(rtc))
		rtc_adopt_written_time(rtc);
}

/*
 * Register C: flags cleared by reading. Only the update-ended flag is
 * modelled, set when a second boundary passed since the previous read;
 * no interrupt is ever raised for it.
 */
static uint8_t rtc_read_reg_c(struct rtc_cmos *rtc)
{
	int64_t now = rtc_host_seconds(rtc);
	uint8_t c = 0;
	if (!rtc_frozen(rtc) && now != rtc->last_c_read_s) {
		c |= REG_C_UF;
		if (rtc->cmos[RTC_REG_B] & REG_B_UIE)
			c |= REG_C_IRQF;
	}
	rtc->last_c_read_s = now;
	return c;
}

static uint8_t rtc_read_data(struct rtc_cmos *rtc)
{
	uint8_t index = rtc->index;
	if (is_time_register(index))
		return rtc_read_time_register(rtc, index);
	switch (index) {
	case RTC_REG_A:
		return rtc->cmos[RTC_REG_A] & ~REG_A_UIP;
	case RTC_REG_C:
		return rtc_read_reg_c(rtc);
	case RTC_REG_D:
		return REG_D_VRT;
	default:
		return rtc->cmos[index];
	}
}

static void rtc_write_data(struct rtc_cmos *rtc, uint8_t val)
{
	uint8_t index = rtc->index;
	if (is_time_register(index)) {
		rtc_write_time_register(rtc, index, val);
		return;
	}
	switch (index) {
	case RTC_REG_A:
		rtc->cmos[RTC_REG_A] = val & ~REG_A_UIP; /* UIP is read-only */
		break;
	case RTC_REG_B:
		rtc_write_reg_b(rtc, val);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		rtc->cmos[index] = val;
		break;
	}
}

/* Bit 7 of the index masks NMIs on a PC; vmon injects none, so it is dropped. */
static void rtc_write_index(struct rtc_cmos *rtc, uint8_t val)
{
	rtc->index = val & ~INDEX_NMI_DISABLE;
}

/* ---- bus ---- */

/* Byte-wide ports: a wider access is split into consecutive byte accesses. */
static void rtc_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct rtc_cmos *rtc = dev;
	uint8_t *out = data;
	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = (offset + i) % 2 ? rtc_read_data(rtc) : 0xff; /* index is write-only */
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct rtc_cmos *rtc = dev;
	const uint8_t *in = data;
	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++) {
		if ((offset + i) % 2)
			rtc_write_data(rtc, in[i]);
		else
			rtc_write_index(rtc, in[i]);
	}
	pthread_mutex_unlock(&rtc->lock);
}

static const struct bus_ops rtc_bus_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
};

struct rtc_cmos *rtc_cmos_create(const struct rtc_cmos_config *cfg)
{
	struct rtc_cmos *rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return NULL;
	rtc->clock = cfg && cfg->clock ? cfg->clock : realtime_clock_ns;
	rtc->clock_ctx = cfg ? cfg->clock_ctx : NULL;
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->cmos[RTC_REG_A] = RESET_REG_A;
	rtc->cmos[RTC_REG_B] = RESET_REG_B;
	rtc->last_c_read_s = rtc_host_seconds(rtc);
	return rtc;
}

int rtc_cmos_register(struct rtc_cmos *rtc, struct bus *pio)
{
	int ret = bus_register(pio, PORT_RTC, RTC_CMOS_PORT_COUNT, &rtc_bus_ops, rtc, "rtc_cmos");
	if (ret == 0)
		rtc->pio = pio;
	return ret;
}

void rtc_cmos_destroy(struct rtc_cmos *rtc)
{
	if (!rtc)
		return;
	if (rtc->pio)
		bus_unregister(rtc->pio, PORT_RTC);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

/* ---- snapshots ---- */

/*
 * Payload: u8 index register; the 128 bytes of CMOS (RAM, registers A
 * and B, the time registers as last stored); u64 the guest's UTC time
 * minus the host's, in seconds (two's complement); u64 the host UTC
 * second of the last register C read.
 */
void rtc_cmos_save(struct rtc_cmos *rtc, struct state_writer *w)
{
	state_begin(w, STATE_TAG_RTC, 0);
	pthread_mutex_lock(&rtc->lock);
	state_put_u8(w, rtc->index);
	state_put_bytes(w, rtc->cmos, CMOS_SIZE);
	state_put_u64(w, (uint64_t)rtc->offset_s);
	state_put_u64(w, (uint64_t)rtc->last_c_read_s);
	pthread_mutex_unlock(&rtc->lock);
	state_end(w);
}

/* What the register writes above let through; C and D are never stored. */
static int check_registers(const uint8_t *cmos)
{
	if (cmos[RTC_REG_A] & REG_A_UIP) {
		log_error("snapshot: RTC: register A 0x%02x has UIP set, which always reads 0",
			  cmos[RTC_REG_A]);
		return -EINVAL;
	}
	if ((cmos[RTC_REG_B] & REG_B_SET) && (cmos[RTC_REG_B] & REG_B_UIE)) {
		log_error("snapshot: RTC: register B 0x%02x has both SET and UIE, SET clears UIE",
			  cmos[RTC_REG_B]);
		return -EINVAL;
	}
	if (cmos[RTC_REG_C] || cmos[RTC_REG_D]) {
		log_error("snapshot: RTC: read-only registers C/D hold 0x%02x/0x%02x, not 0",
			  cmos[RTC_REG_C], cmos[RTC_REG_D]);
		return -EINVAL;
	}
	return 0;
}

int rtc_cmos_load(struct rtc_cmos *rtc, const struct state_reader *r)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_RTC, 0, &s) < 0) {
		log_error("snapshot: RTC: no saved state");
		return -EINVAL;
	}
	uint8_t index = state_get_u8(&s);
	uint8_t cmos[CMOS_SIZE];
	state_get_bytes(&s, cmos, CMOS_SIZE);
	int64_t offset_s = (int64_t)state_get_u64(&s);
	int64_t last_c_read_s = (int64_t)state_get_u64(&s);
	if (state_section_finish(&s) < 0) {
		log_error("snapshot: RTC: the saved state is truncated or malformed");
		return -EINVAL;
	}
	if (index >= CMOS_SIZE) {
		log_error("snapshot: RTC: index register 0x%02x, at most 0x%02x", index,
			  CMOS_SIZE - 1);
		return -EINVAL;
	}
	if (offset_s > MAX_OFFSET_S || offset_s < -MAX_OFFSET_S) {
		log_error("snapshot: RTC: clock offset of %lld s is beyond the 10000 years the "
			  "registers count", (long long)offset_s);
		return -EINVAL;
	}
	if (check_registers(cmos) < 0)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->index = index;
	memcpy(rtc->cmos, cmos, CMOS_SIZE);
	rtc->offset_s = offset_s;
	rtc->last_c_read_s = last_c_read_s;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/*
 * The PC's CMOS real-time clock (Motorola MC146818A) at PORT_RTC: an index
 * port (bit 7 = NMI disable) and a data port at +1.
 *
 * The time the guest reads is the host's UTC wall clock plus an offset the
 * guest changes by setting the clock. No interrupts: IRQ_RTC stays unused.
 */
#ifndef VMON_DEVICES_LEGACY_RTC_CMOS_H
#define VMON_DEVICES_LEGACY_RTC_CMOS_H

#include <stdint.h>

#include "bus/bus.h"

/* Index and data ports at PORT_RTC and PORT_RTC + 1. */
#define RTC_CMOS_PORT_COUNT 2

/* Host wall-clock time (UTC) in nanoseconds since the Unix epoch. */
typedef int64_t (*rtc_cmos_clock_fn)(void *ctx);

struct rtc_cmos_config {
	/* NULL: CLOCK_REALTIME. Tests inject a fake clock here. */
	rtc_cmos_clock_fn clock;
	void *clock_ctx;
};

struct state_reader;
struct state_writer;
struct rtc_cmos;

/* `cfg` may be NULL for the defaults. Returns NULL with errno set. */
struct rtc_cmos *rtc_cmos_create(const struct rtc_cmos_config *cfg);

/* Claims PORT_RTC and PORT_RTC + 1; 0 or a negative errno. */
int rtc_cmos_register(struct rtc_cmos *rtc, struct bus *pio);

/* Unregisters the ports and frees. */
void rtc_cmos_destroy(struct rtc_cmos *rtc);

/*
 * Snapshots: section STATE_TAG_RTC, instance 0. The guest's clock is saved
 * as its offset from the host's UTC clock, so after a load it reads the
 * host's time plus that offset: time went on while the VM was stopped, as
 * with a battery-backed clock. A load refuses, with one log line and
 * -EINVAL, a missing or malformed section and values the RTC could not hold.
 */
void rtc_cmos_save(struct rtc_cmos *rtc, struct state_writer *w);
int rtc_cmos_load(struct rtc_cmos *rtc, const struct state_reader *r);

#endif

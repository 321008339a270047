/*
 * ACPI PM1a event/control registers and the PM timer (ACPI 6.4 §4.8.3).
 *
 * There is no SMI command port, so the hardware is always in ACPI mode:
 * SCI_EN reads 1. The SCI is level-triggered and reflects the enabled
 * status bits. Nothing raises it asynchronously yet: there is no power or
 * sleep button, and timer overflow (TMR_STS) is only noticed when the
 * guest touches these registers.
 *
 * Registers are 16 bits wide (the timer 32); 1-, 2- and 4-byte accesses
 * anywhere inside a block read or write the byte lanes they cover.
 *
 * Lock order: pm->lock, then whatever vm_control.set_irq takes.
 * vm_control.request_stop is called without pm->lock.
 */
#include "devices/legacy/acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "arch/x86/layout.h"
#include "migration/state.h"
#include "util/log.h"

#define PM1_EVT_LEN 4 /* status, enable */
#define PM1_CNT_LEN 2
#define PM_TMR_LEN 4

/* PM1 status bits (ACPI 6.4 Table 4.16): write 1 to clear. */
#define PM1_STS_TMR 0x0001
#define PM1_STS_BM 0x0010
#define PM1_STS_GBL 0x0020
#define PM1_STS_PWRBTN 0x0100
#define PM1_STS_SLPBTN 0x0200
#define PM1_STS_RTC 0x0400
#define PM1_STS_PCIEXP_WAKE 0x4000
#define PM1_STS_WAK 0x8000
#define PM1_STS_ALL (PM1_STS_TMR | PM1_STS_BM | PM1_STS_GBL | PM1_STS_PWRBTN | \
		     PM1_STS_SLPBTN | PM1_STS_RTC | PM1_STS_PCIEXP_WAKE | PM1_STS_WAK)

/* The status bits this model ever sets. */
#define PM1_STS_RAISED (PM1_STS_TMR | PM1_STS_WAK)

/* PM1 enable bits (Table 4.17), at the same positions as their status bits. */
#define PM1_EN_ALL (PM1_STS_TMR | PM1_STS_GBL | PM1_STS_PWRBTN | PM1_STS_SLPBTN | \
		    PM1_STS_RTC | PM1_STS_PCIEXP_WAKE /* PCIEXP_WAKE_DIS */)
/* Status bits that raise the SCI when enabled. */
#define PM1_SCI_SOURCES (PM1_STS_TMR | PM1_STS_GBL | PM1_STS_PWRBTN | PM1_STS_SLPBTN | \
			 PM1_STS_RTC)

/* PM1 control bits (Table 4.18). */
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_BM_RLD 0x0002
#define PM1_CNT_GBL_RLS 0x0004 /* write-only */
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN 0x2000 /* write-only */
#define PM1_CNT_STORED (PM1_CNT_BM_RLD | PM1_CNT_SLP_TYP)

/* The PM timer: 3.579545 MHz, 24 bits (ACPI 6.4 §4.8.3.3). */
#define PM_TMR_HZ 3579545ull
#define PM_TMR_MASK 0xffffffu
#define PM_TMR_MSB_SHIFT 23

#define NS_PER_SEC 1000000000ull
/* A saved timer that ran longer than a century did not come from a running VM. */
#define MAX_ELAPSED_NS (100ull * 366 * 86400 * NS_PER_SEC)

struct acpi_pm {
	const struct vm_control *vm;
	uint32_t gsi;
	acpi_pm_clock_fn clock;
	void *clock_ctx;
	int64_t clock_origin_ns; /* the timer counts from 0 here */
	struct bus *pio;         /* where the ports are claimed, or NULL */

	/* Protects every field below: vCPU threads enter concurrently. */
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	uint64_t tmr_msb_epoch; /* counter >> 23 when last checked, for TMR_STS */
	int irq_level;
};

static struct log_limit sleep_limit = LOG_LIMIT_INIT(5);
static struct log_limit power_off_limit = LOG_LIMIT_INIT(1);

/* ---- PM timer ---- */

static int64_t monotonic_clock_ns(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * (int64_t)NS_PER_SEC + ts.tv_nsec;
}

/* How long the timer has been counting. */
static uint64_t acpi_pm_elapsed_ns(const struct acpi_pm *pm)
{
	int64_t elapsed = pm->clock(pm->clock_ctx) - pm->clock_origin_ns;
	return elapsed > 0 ? (uint64_t)elapsed : 0;
}

/* Timer ticks in `ns`, unwrapped; split to avoid 64-bit overflow. */
static uint64_t ticks_in(uint64_t ns)
{
	return ns / NS_PER_SEC * PM_TMR_HZ + ns % NS_PER_SEC * PM_TMR_HZ / NS_PER_SEC;
}

static uint64_t acpi_pm_ticks(const struct acpi_pm *pm)
{
	return ticks_in(acpi_pm_elapsed_ns(pm));
}

static uint32_t acpi_pm_read_timer(const struct acpi_pm *pm)
{
	return (uint32_t)(acpi_pm_ticks(pm) & PM_TMR_MASK);
}

/* TMR_STS: set whenever the counter's bit 23 toggled since the last look. */
static void acpi_pm_note_timer_overflow(struct acpi_pm *pm)
{
	uint64_t epoch = acpi_pm_ticks(pm) >> PM_TMR_MSB_SHIFT;
	if (epoch != pm->tmr_msb_epoch) {
		pm->tmr_msb_epoch = epoch;
		pm->sts |= PM1_STS_TMR;
	}
}

/* ---- PM1 registers ---- */

static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	int level = (pm->sts & pm->en & PM1_SCI_SOURCES) != 0; /* SCI_EN is always 1 */
	if (level != pm->irq_level) {
		pm->irq_level = level;
		vm_set_irq(pm->vm, pm->gsi, level);
	}
}

static uint16_t acpi_pm_read_cnt(const struct acpi_pm *pm)
{
	return pm->cnt | PM1_CNT_SCI_EN;
}

static void acpi_pm_write_sts(struct acpi_pm *pm, uint16_t val, uint16_t lanes)
{
	pm->sts &= ~(val & lanes & PM1_STS_ALL);
}

static void acpi_pm_write_en(struct acpi_pm *pm, uint16_t val, uint16_t lanes)
{
	pm->en = (pm->en & ~lanes) | (val & lanes & PM1_EN_ALL);
}

/*
 * SLP_EN starts the transition to the sleep state in SLP_TYP (§4.8.3.2.1).
 * Returns true when that is S5 (soft off). Any other state is refused: the
 * guest "wakes" at once (WAK_STS set), so its wait loop ends.
 */
static bool acpi_pm_write_cnt(struct acpi_pm *pm, uint16_t val, uint16_t lanes)
{
	pm->cnt = (pm->cnt & ~lanes) | (val & lanes & PM1_CNT_STORED);
	if (!(val & lanes & PM1_CNT_SLP_EN))
		return false;
	unsigned slp_typ = (pm->cnt & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_TYP_SHIFT;
	if (slp_typ == ACPI_S5_SLP_TYP)
		return true;
	if (log_limit_allow(&sleep_limit))
		log_warn("acpi: guest asked for sleep type %u, only S5 (%u) is supported; ignored",
			 slp_typ, ACPI_S5_SLP_TYP);
	pm->sts |= PM1_STS_WAK;
	return false;
}

/* The byte at `addr` of a little-endian block of 16-bit registers. */
static uint8_t byte_of(const uint16_t *regs, uint64_t addr)
{
	return (uint8_t)(regs[addr / 2] >> (addr % 2 * 8));
}

/*
 * Gathers the bytes of a write into per-register values and lane masks:
 * vals[i] gets the bytes written to register i, lanes[i] 0xff per byte.
 */
static void gather_write(uint64_t offset, const uint8_t *bytes, uint32_t len,
			 uint16_t *vals, uint16_t *lanes)
{
	for (uint32_t i = 0; i < len; i++) {
		uint64_t addr = offset + i;
		unsigned shift = addr % 2 * 8;
		vals[addr / 2] |= (uint16_t)(bytes[i] << shift);
		lanes[addr / 2] |= (uint16_t)(0xff << shift);
	}
}

/* ---- bus ---- */

static void evt_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint8_t *out = data;
	pthread_mutex_lock(&pm->lock);
	acpi_pm_note_timer_overflow(pm);
	acpi_pm_update_sci(pm);
	uint16_t regs[2] = { pm->sts, pm->en };
	for (uint32_t i = 0; i < len; i++)
		out[i] = byte_of(regs, offset + i);
	pthread_mutex_unlock(&pm->lock);
}

static void evt_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint16_t vals[2] = { 0 }, lanes[2] = { 0 };
	gather_write(offset, data, len, vals, lanes);
	pthread_mutex_lock(&pm->lock);
	acpi_pm_note_timer_overflow(pm);
	acpi_pm_write_sts(pm, vals[0], lanes[0]);
	acpi_pm_write_en(pm, vals[1], lanes[1]);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

static void cnt_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint8_t *out = data;
	pthread_mutex_lock(&pm->lock);
	uint16_t regs[1] = { acpi_pm_read_cnt(pm) };
	pthread_mutex_unlock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = byte_of(regs, offset + i);
}

static void cnt_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint16_t vals[1] = { 0 }, lanes[1] = { 0 };
	gather_write(offset, data, len, vals, lanes);
	pthread_mutex_lock(&pm->lock);
	bool power_off = acpi_pm_write_cnt(pm, vals[0], lanes[0]);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (power_off) {
		if (log_limit_allow(&power_off_limit))
			log_info("acpi: guest entered S5, powering off");
		vm_request_stop(pm->vm, VM_STOP_POWEROFF);
	}
}

static void tmr_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	const struct acpi_pm *pm = dev;
	uint8_t *out = data;
	uint32_t value = acpi_pm_read_timer(pm); /* a pure function of the clock: no lock */
	for (uint32_t i = 0; i < len; i++)
		out[i] = (uint8_t)(value >> ((offset + i) * 8));
}

static void tmr_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	(void)dev, (void)offset, (void)data, (void)len; /* read-only */
}

static const struct bus_ops evt_ops = { .read = evt_read, .write = evt_write };
static const struct bus_ops cnt_ops = { .read = cnt_read, .write = cnt_write };
static const struct bus_ops tmr_ops = { .read = tmr_read, .write = tmr_write };

struct acpi_pm *acpi_pm_create(const struct acpi_pm_config *cfg)
{
	if (!cfg || !cfg->vm || !cfg->vm->set_irq || !cfg->vm->request_stop) {
		errno = EINVAL;
		return NULL;
	}
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;
	pm->vm = cfg->vm;
	pm->gsi = cfg->gsi;
	pm->clock = cfg->clock ? cfg->clock : monotonic_clock_ns;
	pm->clock_ctx = cfg->clock_ctx;
	pm->clock_origin_ns = pm->clock(pm->clock_ctx);
	pthread_mutex_init(&pm->lock, NULL);
	return pm;
}

int acpi_pm_register(struct acpi_pm *pm, struct bus *pio)
{
	int ret = bus_register(pio, PORT_ACPI_PM1_EVT, PM1_EVT_LEN, &evt_ops, pm, "acpi_pm1_evt");
	if (ret)
		return ret;
	ret = bus_register(pio, PORT_ACPI_PM1_CNT, PM1_CNT_LEN, &cnt_ops, pm, "acpi_pm1_cnt");
	if (ret) {
		bus_unregister(pio, PORT_ACPI_PM1_EVT);
		return ret;
	}
	ret = bus_register(pio, PORT_ACPI_PM_TMR, PM_TMR_LEN, &tmr_ops, pm, "acpi_pm_tmr");
	if (ret) {
		bus_unregister(pio, PORT_ACPI_PM1_EVT);
		bus_unregister(pio, PORT_ACPI_PM1_CNT);
		return ret;
	}
	pm->pio = pio;
	return 0;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	if (pm->pio) {
		bus_unregister(pm->pio, PORT_ACPI_PM1_EVT);
		bus_unregister(pm->pio, PORT_ACPI_PM1_CNT);
		bus_unregister(pm->pio, PORT_ACPI_PM_TMR);
	}
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

/* ---- snapshots ---- */

/*
 * Payload: u16 PM1 status, u16 PM1 enable, u16 PM1 control (BM_RLD and
 * SLP_TYP as stored; SCI_EN always reads 1), u64 nanoseconds the PM timer
 * has counted, u64 the timer's bit-23 epoch when TMR_STS was last updated.
 * There are no GPE blocks.
 */
void acpi_pm_save(struct acpi_pm *pm, struct state_writer *w)
{
	state_begin(w, STATE_TAG_ACPI_PM, 0);
	pthread_mutex_lock(&pm->lock);
	state_put_u16(w, pm->sts);
	state_put_u16(w, pm->en);
	state_put_u16(w, pm->cnt);
	state_put_u64(w, acpi_pm_elapsed_ns(pm));
	state_put_u64(w, pm->tmr_msb_epoch);
	pthread_mutex_unlock(&pm->lock);
	state_end(w);
}

/* Bits the registers keep (§4.8.3.1, §4.8.3.2) and the model sets. */
static int check_registers(uint16_t sts, uint16_t en, uint16_t cnt)
{
	if (sts & ~PM1_STS_RAISED) {
		log_error("snapshot: ACPI PM: PM1 status 0x%04x, only TMR_STS and WAK_STS can "
			  "be set", sts);
		return -EINVAL;
	}
	if (en & ~PM1_EN_ALL) {
		log_error("snapshot: ACPI PM: PM1 enable 0x%04x has reserved bits", en);
		return -EINVAL;
	}
	if (cnt & ~PM1_CNT_STORED) {
		log_error("snapshot: ACPI PM: PM1 control 0x%04x has bits that are not kept", cnt);
		return -EINVAL;
	}
	return 0;
}

static int check_timer(uint64_t elapsed_ns, uint64_t msb_epoch)
{
	if (elapsed_ns > MAX_ELAPSED_NS) {
		log_error("snapshot: ACPI PM: the timer ran %llu s, more than a century",
			  (unsigned long long)(elapsed_ns / NS_PER_SEC));
		return -EINVAL;
	}
	if (msb_epoch > ticks_in(elapsed_ns) >> PM_TMR_MSB_SHIFT) {
		log_error("snapshot: ACPI PM: timer overflow noted at epoch %llu, past the count",
			  (unsigned long long)msb_epoch);
		return -EINVAL;
	}
	return 0;
}

int acpi_pm_load(struct acpi_pm *pm, const struct state_reader *r)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_ACPI_PM, 0, &s) < 0) {
		log_error("snapshot: ACPI PM: no saved state");
		return -EINVAL;
	}
	uint16_t sts = state_get_u16(&s), en = state_get_u16(&s), cnt = state_get_u16(&s);
	uint64_t elapsed_ns = state_get_u64(&s), msb_epoch = state_get_u64(&s);
	if (state_section_finish(&s) < 0) {
		log_error("snapshot: ACPI PM: the saved state is truncated or malformed");
		return -EINVAL;
	}
	if (check_registers(sts, en, cnt) < 0 || check_timer(elapsed_ns, msb_epoch) < 0)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->sts = sts;
	pm->en = en;
	pm->cnt = cnt;
	pm->clock_origin_ns = pm->clock(pm->clock_ctx) - (int64_t)elapsed_ns;
	pm->tmr_msb_epoch = msb_epoch;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

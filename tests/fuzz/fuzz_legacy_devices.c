/*
 * libFuzzer target: the legacy devices (UART, RTC, i8042, ACPI PM) on a
 * port I/O bus, driven by an arbitrary sequence of guest port accesses and
 * host-side key presses. Whatever the guest writes, no device may crash,
 * hang or touch memory it does not own.
 *
 * Input: records of 7 bytes: op, port selector, size selector, value (4).
 */
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc_cmos.h"
#include "devices/legacy/uart16550.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fake_set_irq(void *ctx, uint32_t gsi, int level)
{
	(void)ctx;
	(void)gsi;
	(void)level;
}

static void fake_request_stop(void *ctx, enum vm_stop_reason why)
{
	*(int *)ctx = (int)why + 1;
}

/* Every port the four devices claim, and a few around them. */
static const uint16_t ports[] = {
	0x3f7, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x400,
	0x70, 0x71, 0x72, 0x60, 0x64, 0x600, 0x602, 0x604, 0x606, 0x608, 0x60a,
};

struct devices {
	struct bus *pio;
	struct uart16550 *uart;
	struct rtc_cmos *rtc;
	struct i8042 *kbd;
	struct acpi_pm *pm;
};

static int create(struct devices *d, const struct vm_control *vm)
{
	d->pio = bus_create("fuzz-pio");
	struct uart16550_config uc = { .vm = vm, .gsi = IRQ_COM1, .port_base = PORT_COM1 };
	struct i8042_config kc = { .vm = vm, .gsi = IRQ_I8042_KBD };
	struct acpi_pm_config pc = { .vm = vm, .gsi = IRQ_ACPI_SCI };
	d->uart = uart16550_create(&uc);
	d->rtc = rtc_cmos_create(NULL);
	d->kbd = i8042_create(&kc);
	d->pm = acpi_pm_create(&pc);
	if (!d->pio || !d->uart || !d->rtc || !d->kbd || !d->pm)
		return -1;
	return uart16550_register(d->uart, d->pio) | rtc_cmos_register(d->rtc, d->pio) |
	       i8042_register(d->kbd, d->pio) | acpi_pm_register(d->pm, d->pio);
}

static void destroy(struct devices *d)
{
	if (d->pm)
		acpi_pm_destroy(d->pm);
	if (d->kbd)
		i8042_destroy(d->kbd);
	if (d->rtc)
		rtc_cmos_destroy(d->rtc);
	if (d->uart)
		uart16550_destroy(d->uart);
	bus_destroy(d->pio);
}

static void one_access(struct devices *d, const uint8_t *rec)
{
	static const uint32_t sizes[] = { 1, 2, 4, 1 };
	uint16_t port = ports[rec[1] % (sizeof(ports) / sizeof(ports[0]))];
	uint32_t len = sizes[rec[2] & 3];
	uint8_t value[4];
	memcpy(value, rec + 3, sizeof(value));
	switch (rec[0] % 3) {
	case 0:
		bus_write(d->pio, port, value, len);
		break;
	case 1:
		bus_read(d->pio, port, value, len);
		break;
	default:
		i8042_send_scancode(d->kbd, value, 1 + (rec[2] >> 6));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int stopped = 0;
	struct vm_control vm = {
		.set_irq = fake_set_irq, .request_stop = fake_request_stop, .ctx = &stopped,
	};
	struct devices d = { 0 };
	if (create(&d, &vm) == 0)
		for (size_t off = 0; off + 7 <= size; off += 7)
			one_access(&d, data + off);
	destroy(&d);
	return 0;
}

#include "vmm/platform.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "backends/stdio_console.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc_cmos.h"
#include "devices/legacy/uart16550.h"
#include "pci/host.h"
#include "util/log.h"

#define CONSOLE_FLUSH_TIMEOUT_MS 2000

static void on_console_quit(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_USER);
}

static int create_devices(struct platform *p, const struct vm_control *vm)
{
	struct stdio_console_ops console_ops = { .quit = on_console_quit, .ctx = (void *)vm };
	p->console = stdio_console_create(STDIN_FILENO, STDOUT_FILENO, &console_ops);
	struct uart16550_config com1 = {
		.vm = vm, .gsi = IRQ_COM1, .port_base = PORT_COM1, .chardev = p->console,
	};
	p->com1 = p->console ? uart16550_create(&com1) : NULL;
	struct rtc_cmos_config rtc = { 0 };
	p->rtc = rtc_cmos_create(&rtc);
	struct i8042_config kbd = { .vm = vm, .gsi = IRQ_I8042_KBD };
	p->i8042 = i8042_create(&kbd);
	struct acpi_pm_config pm = { .vm = vm, .gsi = IRQ_ACPI_SCI };
	p->acpi_pm = acpi_pm_create(&pm);
	return p->console && p->com1 && p->rtc && p->i8042 && p->acpi_pm ? 0 : -ENOMEM;
}

static int register_devices(struct platform *p, struct bus *pio)
{
	int ret = uart16550_register(p->com1, pio);
	if (ret == 0)
		ret = rtc_cmos_register(p->rtc, pio);
	if (ret == 0)
		ret = i8042_register(p->i8042, pio);
	if (ret == 0)
		ret = acpi_pm_register(p->acpi_pm, pio);
	return ret;
}

/* PCI class 00:ff:00 ("unclassified device"), as QEMU gives its virtio-rng. */
#define PCI_CLASS_RNG 0x00ff00

static int create_rng(struct platform *p, const struct guest_mem *mem, const struct vm_control *vm)
{
	int ret = virtio_rng_init(&p->rng, mem);
	if (ret < 0)
		return ret;
	ret = virtio_pci_init(&p->rng_pci, &p->rng.vd, PCI_CLASS_RNG, vm);
	if (ret == 0)
		ret = pci_host_add_device(p->pci, &p->rng_pci.pci);
	if (ret < 0) {
		virtio_rng_destroy(&p->rng);
		return ret;
	}
	p->rng_ready = true;
	return 0;
}

int platform_create(struct platform *p, struct bus *pio, struct bus *mmio,
		    const struct guest_mem *mem, const struct vm_control *vm)
{
	memset(p, 0, sizeof(*p));
	int ret = create_devices(p, vm);
	if (ret == 0)
		ret = register_devices(p, pio);
	if (ret == 0)
		ret = pci_host_create(&p->pci, pio, mmio);
	if (ret == 0)
		ret = create_rng(p, mem, vm);
	if (ret < 0)
		log_error("cannot create the platform devices: %s", strerror(-ret));
	return ret;
}

void platform_quiesce(struct platform *p)
{
	if (p->console)
		stdio_console_flush(p->console, CONSOLE_FLUSH_TIMEOUT_MS);
}

void platform_destroy(struct platform *p)
{
	/* Devices first: the UART detaches from the console before it goes. */
	if (p->acpi_pm)
		acpi_pm_destroy(p->acpi_pm);
	if (p->i8042)
		i8042_destroy(p->i8042);
	if (p->rtc)
		rtc_cmos_destroy(p->rtc);
	if (p->com1)
		uart16550_destroy(p->com1);
	if (p->console)
		stdio_console_destroy(p->console);
	if (p->rng_ready) {
		/* Reset stops the device's worker; then nothing uses the transport. */
		virtio_set_status(&p->rng.vd, 0);
		virtio_pci_destroy(&p->rng_pci);
		virtio_rng_destroy(&p->rng);
	}
	pci_host_destroy(p->pci);
	memset(p, 0, sizeof(*p));
}

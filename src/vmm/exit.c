#include "vmm/exit.h"

#include "util/log.h"

typedef struct exit_verdict (*exit_handler)(const struct exit_context *ctx,
					    const struct hv_exit *exit);

static const struct exit_verdict keep_running = { .stop = false };

static struct exit_verdict stop_because(enum vm_stop_reason reason, bool dump)
{
	return (struct exit_verdict){ .stop = true, .reason = reason, .dump_registers = dump };
}

/* Port I/O, string instructions included: `count` accesses of `size` bytes. */
static struct exit_verdict handle_io(const struct exit_context *ctx,
				     const struct hv_exit *exit)
{
	for (uint32_t i = 0; i < exit->io.count; i++) {
		uint8_t *data = exit->io.data + (uint64_t)i * exit->io.size;
		if (exit->io.is_write)
			bus_write(ctx->pio, exit->io.port, data, exit->io.size);
		else
			bus_read(ctx->pio, exit->io.port, data, exit->io.size);
	}
	return keep_running;
}

static struct exit_verdict handle_mmio(const struct exit_context *ctx,
				       const struct hv_exit *exit)
{
	if (exit->mmio.is_write)
		bus_write(ctx->mmio, exit->mmio.gpa, exit->mmio.data, exit->mmio.len);
	else
		bus_read(ctx->mmio, exit->mmio.gpa, exit->mmio.data, exit->mmio.len);
	return keep_running;
}

/* Only without an in-kernel LAPIC does KVM hand HLT to us: nothing can wake the vCPU. */
static struct exit_verdict handle_hlt(const struct exit_context *ctx,
				      const struct hv_exit *exit)
{
	(void)exit;
	log_info("vCPU %u halted with nothing to wake it; powering off", ctx->vcpu_index);
	return stop_because(VM_STOP_POWEROFF, false);
}

static struct exit_verdict handle_shutdown(const struct exit_context *ctx,
					   const struct hv_exit *exit)
{
	(void)exit;
	log_error("vCPU %u: triple fault (the guest crashed or reset itself without a reset device)",
		  ctx->vcpu_index);
	return stop_because(VM_STOP_CRASH, true);
}

static struct exit_verdict handle_system_event(const struct exit_context *ctx,
					       const struct hv_exit *exit)
{
	switch (exit->system_event) {
	case HV_SYSTEM_EVENT_POWEROFF:
		return stop_because(VM_STOP_POWEROFF, false);
	case HV_SYSTEM_EVENT_RESET:
		return stop_because(VM_STOP_REBOOT, false);
	case HV_SYSTEM_EVENT_CRASH:
		log_error("vCPU %u: the guest reported a crash", ctx->vcpu_index);
		return stop_because(VM_STOP_CRASH, true);
	default:
		log_error("vCPU %u: unknown system event", ctx->vcpu_index);
		return stop_because(VM_STOP_ERROR, false);
	}
}

static struct exit_verdict handle_fail_entry(const struct exit_context *ctx,
					     const struct hv_exit *exit)
{
	log_error("vCPU %u: the hardware refused to enter the guest (reason 0x%llx)",
		  ctx->vcpu_index, (unsigned long long)exit->fail_entry_reason);
	return stop_because(VM_STOP_CRASH, true);
}

static struct exit_verdict handle_internal_error(const struct exit_context *ctx,
						 const struct hv_exit *exit)
{
	log_error("vCPU %u: KVM internal error (suberror %u%s)", ctx->vcpu_index,
		  exit->internal_suberror,
		  exit->internal_suberror == KVM_INTERNAL_ERROR_EMULATION ?
			  ": an instruction KVM cannot emulate" : "");
	return stop_because(VM_STOP_CRASH, true);
}

static struct exit_verdict handle_interrupted(const struct exit_context *ctx,
					      const struct hv_exit *exit)
{
	(void)ctx;
	(void)exit;
	return keep_running;
}

/* api.rst 5, KVM_EXIT_IOAPIC_EOI: the IOAPIC ends the interrupt and sends again if the line is still high. */
static struct exit_verdict handle_ioapic_eoi(const struct exit_context *ctx,
					     const struct hv_exit *exit)
{
	if (ctx->ioapic_eoi)
		ctx->ioapic_eoi(ctx->eoi_ctx, exit->eoi_vector);
	return keep_running;
}

static struct exit_verdict handle_unknown(const struct exit_context *ctx,
					  const struct hv_exit *exit)
{
	log_error("vCPU %u: unexpected exit reason %u", ctx->vcpu_index,
		  exit->unknown_reason);
	return stop_because(VM_STOP_CRASH, true);
}

static const exit_handler handlers[HV_EXIT_KIND_COUNT] = {
	[HV_EXIT_IO] = handle_io,
	[HV_EXIT_MMIO] = handle_mmio,
	[HV_EXIT_HLT] = handle_hlt,
	[HV_EXIT_SHUTDOWN] = handle_shutdown,
	[HV_EXIT_SYSTEM_EVENT] = handle_system_event,
	[HV_EXIT_FAIL_ENTRY] = handle_fail_entry,
	[HV_EXIT_INTERNAL_ERROR] = handle_internal_error,
	[HV_EXIT_INTERRUPTED] = handle_interrupted,
	[HV_EXIT_IOAPIC_EOI] = handle_ioapic_eoi,
	[HV_EXIT_UNKNOWN] = handle_unknown,
};

struct exit_verdict exit_dispatch(const struct exit_context *ctx,
				  const struct hv_exit *exit)
{
	if ((unsigned)exit->kind >= HV_EXIT_KIND_COUNT || !handlers[exit->kind])
		return handle_unknown(ctx, exit);
	return handlers[exit->kind](ctx, exit);
}

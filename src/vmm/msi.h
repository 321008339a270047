/*
 * The machine's MSI routes: each irqfd-driven interrupt owns a GSI above
 * the IOAPIC's pins, routed to the message its device's guest driver
 * programmed. With the split irqchip the IOAPIC's pins have routes too
 * (GSI = pin), carrying the message each pin sends. KVM takes the whole
 * routing table at once, so every change rewrites it.
 *
 * With an interrupt remapper (VT-d), every route's programmed message is
 * translated on its way into KVM's table, and a route the remapper blocks
 * is left out of it: its irqfd then raises nothing.
 */
#ifndef VMON_VMM_MSI_H
#define VMON_VMM_MSI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"

#define MSI_MAX_ROUTES 1024
#define MSI_MAX_PINS   HV_FIRST_MSI_GSI /* the IOAPIC's pins: GSIs 0..23 */

/*
 * Translates the message (*address, *data) that requester `source_id`
 * (PCI bus << 8 | devfn) sent into the one to deliver, in place: 0, or < 0
 * when it is blocked, which the remapper records as a fault if
 * `record_fault` (once per route as programmed: routes are translated
 * again whenever the table is installed). Called from any thread, with the routes' lock held
 * or not; it may deliver interrupts of its own meanwhile (a fault event),
 * through hv_vm_signal_msi or msi_routes_signal, but not change routes.
 */
struct msi_remapper {
	int (*remap)(void *ctx, uint16_t source_id, uint64_t *address, uint32_t *data,
		     bool record_fault);
	void *ctx;
};

/* One route as programmed: the message before remapping, and who sends it. */
struct msi_route_slot {
	bool used;
	bool enabled;
	int eventfd;
	uint16_t source_id;
	uint64_t address;
	uint32_t data;
	bool fault_recorded;  /* the remapper blocked this message and recorded it */
};

struct msi_routes {
	struct hv_vm *vm;
	/*
	 * Protects `remapper` alone, so that a message (msi_routes_signal)
	 * never waits for a table being installed, and the remapper may send
	 * one while `lock` is held. Taken after `lock`, if both.
	 */
	pthread_mutex_t remapper_lock;
	struct msi_remapper remapper;                /* remap NULL: none */
	/* Protects the routes: device transports change them from vCPU threads. */
	pthread_mutex_t lock;
	struct msi_route_slot pins[MSI_MAX_PINS];    /* pin i is GSI i (never an irqfd) */
	struct msi_route_slot slots[MSI_MAX_ROUTES]; /* slot i is GSI HV_FIRST_MSI_GSI + i */
};

void msi_routes_init(struct msi_routes *r, struct hv_vm *vm);
void msi_routes_destroy(struct msi_routes *r);

/* A new eventfd registered as the irqfd of a free GSI. Returns the fd or -errno. */
int msi_routes_create(struct msi_routes *r, uint32_t *gsi);
/* Points `gsi` at (address, data) sent by `source_id`, or disables it. 0 or -errno. */
int msi_routes_set(struct msi_routes *r, uint32_t gsi, uint16_t source_id, bool enabled,
		   uint64_t address, uint32_t data);
void msi_routes_release(struct msi_routes *r, uint32_t gsi, int eventfd);

/*
 * The split irqchip's IOAPIC pin `pin` sends (address, data), or has no
 * route (KVM then reports no EOI for it). Only with the split irqchip:
 * the in-kernel one owns GSIs 0..23. 0 or -errno.
 */
int msi_routes_set_pin(struct msi_routes *r, unsigned pin, bool enabled, uint64_t address,
		       uint32_t data);

/*
 * Sets (or, with NULL or a NULL remap, clears) the interrupt remapper and
 * installs every route through it. 0 or -errno.
 */
int msi_routes_set_remapper(struct msi_routes *r, const struct msi_remapper *remapper);
/*
 * Installs every route again, each translated anew: the remapper's answers
 * changed (an interrupt entry cache invalidation, remapping turned on or
 * off). Call without the remapper's lock held. 0 or -errno.
 */
int msi_routes_refresh(struct msi_routes *r);

/*
 * Delivers one message from `source_id` now (KVM_SIGNAL_MSI), through the
 * remapper when there is one. 0, -EPERM when the remapper blocked it
 * (nothing delivered), or -errno.
 */
int msi_routes_signal(struct msi_routes *r, uint16_t source_id, uint64_t address, uint32_t data);

#endif

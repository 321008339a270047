/*
 * The machine's MSI routes: each irqfd-driven interrupt owns a GSI above
 * the IOAPIC's pins, routed to the message its device's guest driver
 * programmed. KVM takes the whole routing table at once, so every change
 * rewrites it.
 */
#ifndef VMON_VMM_MSI_H
#define VMON_VMM_MSI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"

#define MSI_MAX_ROUTES 1024

struct msi_routes {
	struct hv_vm *vm;
	/* Protects everything below: device transports change routes from vCPU threads. */
	pthread_mutex_t lock;
	struct msi_route_slot {
		bool used;
		bool enabled;
		int eventfd;
		uint64_t address;
		uint32_t data;
	} slots[MSI_MAX_ROUTES];   /* slot i is GSI HV_FIRST_MSI_GSI + i */
};

void msi_routes_init(struct msi_routes *r, struct hv_vm *vm);
void msi_routes_destroy(struct msi_routes *r);

/* A new eventfd registered as the irqfd of a free GSI. Returns the fd or -errno. */
int msi_routes_create(struct msi_routes *r, uint32_t *gsi);
/* Points `gsi` at (address, data), or disables it. 0 or -errno. */
int msi_routes_set(struct msi_routes *r, uint32_t gsi, bool enabled, uint64_t address, uint32_t data);
void msi_routes_release(struct msi_routes *r, uint32_t gsi, int eventfd);

#endif

#include "vmm/msi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"

void msi_routes_init(struct msi_routes *r, struct hv_vm *vm)
{
	memset(r, 0, sizeof(*r));
	r->vm = vm;
	pthread_mutex_init(&r->remapper_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
}

void msi_routes_destroy(struct msi_routes *r)
{
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->remapper_lock);
}

static struct msi_remapper current_remapper(struct msi_routes *r)
{
	pthread_mutex_lock(&r->remapper_lock);
	struct msi_remapper remapper = r->remapper;
	pthread_mutex_unlock(&r->remapper_lock);
	return remapper;
}

/*
 * Adds an enabled slot's route to `table` as `remapper` translates it; a
 * blocked one is left out, its fault recorded once for the message.
 */
static void add_route(const struct msi_remapper *remapper, struct msi_route_slot *s,
		      uint32_t gsi, struct hv_msi_route *table, unsigned *n)
{
	if (!s->enabled)
		return;
	uint64_t address = s->address;
	uint32_t data = s->data;
	if (remapper->remap &&
	    remapper->remap(remapper->ctx, s->source_id, &address, &data, !s->fault_recorded) < 0) {
		s->fault_recorded = true;
		return;
	}
	table[(*n)++] = (struct hv_msi_route){ .gsi = gsi, .address = address, .data = data };
}

/* Hands KVM every enabled route, the IOAPIC pins' first. Caller holds the lock. */
static int install(struct msi_routes *r)
{
	struct hv_msi_route *table = malloc((MSI_MAX_PINS + MSI_MAX_ROUTES) * sizeof(*table));
	if (!table)
		return -ENOMEM;
	struct msi_remapper remapper = current_remapper(r);
	unsigned n = 0;
	for (unsigned i = 0; i < MSI_MAX_PINS; i++)
		add_route(&remapper, &r->pins[i], i, table, &n);
	for (unsigned i = 0; i < MSI_MAX_ROUTES; i++)
		if (r->slots[i].used)
			add_route(&remapper, &r->slots[i], HV_FIRST_MSI_GSI + i, table, &n);
	int ret = hv_vm_set_msi_routes(r->vm, table, n);
	free(table);
	return ret;
}

int msi_routes_create(struct msi_routes *r, uint32_t *gsi)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&r->lock);
	int ret = -ENOSPC;
	for (unsigned i = 0; i < MSI_MAX_ROUTES && ret == -ENOSPC; i++) {
		if (r->slots[i].used)
			continue;
		ret = hv_vm_add_irqfd(r->vm, fd, HV_FIRST_MSI_GSI + i);
		if (ret == 0) {
			r->slots[i] = (struct msi_route_slot){ .used = true, .eventfd = fd };
			*gsi = HV_FIRST_MSI_GSI + i;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

static struct msi_route_slot *slot_of(struct msi_routes *r, uint32_t gsi)
{
	if (gsi < HV_FIRST_MSI_GSI || gsi - HV_FIRST_MSI_GSI >= MSI_MAX_ROUTES)
		return NULL;
	struct msi_route_slot *s = &r->slots[gsi - HV_FIRST_MSI_GSI];
	return s->used ? s : NULL;
}

/* Gives slot `s` its new message; KVM's table is rewritten only when it changed. Caller holds the lock. */
static int update_slot(struct msi_routes *r, struct msi_route_slot *s, uint16_t source_id,
		       bool enabled, uint64_t address, uint32_t data)
{
	if (s->enabled == enabled && s->source_id == source_id && s->address == address &&
	    s->data == data)
		return 0;
	s->enabled = enabled;
	s->source_id = source_id;
	s->address = address;
	s->data = data;
	s->fault_recorded = false;
	return install(r);
}

int msi_routes_set(struct msi_routes *r, uint32_t gsi, uint16_t source_id, bool enabled,
		   uint64_t address, uint32_t data)
{
	pthread_mutex_lock(&r->lock);
	struct msi_route_slot *s = slot_of(r, gsi);
	int ret = s ? update_slot(r, s, source_id, enabled, address, data) : -EINVAL;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void msi_routes_release(struct msi_routes *r, uint32_t gsi, int eventfd)
{
	pthread_mutex_lock(&r->lock);
	struct msi_route_slot *s = slot_of(r, gsi);
	if (s) {
		hv_vm_remove_irqfd(r->vm, eventfd, gsi);
		bool was_enabled = s->enabled;
		*s = (struct msi_route_slot){ 0 };
		if (was_enabled)
			install(r);
	}
	pthread_mutex_unlock(&r->lock);
	close(eventfd);
}

/* The IOAPIC's messages carry its requester id from the DMAR device scope (layout.h). */
int msi_routes_set_pin(struct msi_routes *r, unsigned pin, bool enabled, uint64_t address,
		       uint32_t data)
{
	if (pin >= MSI_MAX_PINS)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	int ret = update_slot(r, &r->pins[pin], LAYOUT_IOAPIC_SOURCE_ID, enabled, address, data);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int msi_routes_set_remapper(struct msi_routes *r, const struct msi_remapper *remapper)
{
	pthread_mutex_lock(&r->lock);
	pthread_mutex_lock(&r->remapper_lock);
	r->remapper = remapper && remapper->remap ? *remapper : (struct msi_remapper){ 0 };
	pthread_mutex_unlock(&r->remapper_lock);
	int ret = install(r);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int msi_routes_refresh(struct msi_routes *r)
{
	pthread_mutex_lock(&r->lock);
	int ret = install(r);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* Without the routes' lock: a message need not wait for a route table being installed. */
int msi_routes_signal(struct msi_routes *r, uint16_t source_id, uint64_t address, uint32_t data)
{
	struct msi_remapper remapper = current_remapper(r);
	if (remapper.remap && remapper.remap(remapper.ctx, source_id, &address, &data, true) < 0)
		return -EPERM;
	return hv_vm_signal_msi(r->vm, address, data);
}

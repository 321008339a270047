#include "vmm/msi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

void msi_routes_init(struct msi_routes *r, struct hv_vm *vm)
{
	memset(r, 0, sizeof(*r));
	r->vm = vm;
	pthread_mutex_init(&r->lock, NULL);
}

void msi_routes_destroy(struct msi_routes *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* Hands KVM every enabled route. Caller holds the lock. */
static int install(struct msi_routes *r)
{
	struct hv_msi_route table[MSI_MAX_ROUTES]; /* 16 KiB: fine on any of our stacks */
	unsigned n = 0;
	for (unsigned i = 0; i < MSI_MAX_ROUTES; i++) {
		const struct msi_route_slot *s = &r->slots[i];
		if (s->used && s->enabled)
			table[n++] = (struct hv_msi_route){
				.gsi = HV_FIRST_MSI_GSI + i, .address = s->address, .data = s->data,
			};
	}
	return hv_vm_set_msi_routes(r->vm, table, n);
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

int msi_routes_set(struct msi_routes *r, uint32_t gsi, bool enabled, uint64_t address, uint32_t data)
{
	pthread_mutex_lock(&r->lock);
	struct msi_route_slot *s = slot_of(r, gsi);
	int ret = -EINVAL;
	if (s && (s->enabled != enabled || s->address != address || s->data != data)) {
		s->enabled = enabled;
		s->address = address;
		s->data = data;
		ret = install(r);
	} else if (s) {
		ret = 0; /* unchanged: no need to rewrite KVM's table */
	}
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

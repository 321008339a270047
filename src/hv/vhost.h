/*
 * vhost-net: the virtio-net data path inside the host kernel (the in-kernel
 * backend of a split driver). One /dev/vhost-net file per queue pair
 * drives two virtqueues (index 0 receive, 1 transmit) straight from guest
 * RAM: vmon describes guest memory, the rings, the kick eventfd (the
 * guest's notification, an ioeventfd) and the call eventfd (an irqfd, or
 * one vmon relays), then hands it the TAP queue's file descriptor.
 *
 * Like every other ioctl of vmon, these live in the hypervisor layer
 * (see Documentation/virt/kvm and drivers/vhost in Linux).
 */
#ifndef VMON_HV_VHOST_H
#define VMON_HV_VHOST_H

#include <stdint.h>

#include "vmm/guest_mem.h"

struct vhost_net {
	int fd;
	uint64_t features; /* what the host's vhost-net offers (VHOST_GET_FEATURES) */
};

/* What one vring needs; the ring addresses are host pointers into guest RAM. */
struct vhost_vring {
	unsigned index;      /* 0 receive, 1 transmit */
	uint16_t size;
	uint16_t last_avail; /* where the device resumes in the avail ring */
	void *desc, *avail, *used;
	int kick_fd;
	int call_fd;
};

/*
 * Opens /dev/vhost-net and becomes its owner. 0; -ENOENT when the host has
 * no vhost-net; other -errno with *why a sentence for the user.
 */
int vhost_net_open(struct vhost_net *v, const char **why);
void vhost_net_close(struct vhost_net *v);

/* Feature bits both sides use: ring features, VERSION_1, MRG_RXBUF. 0 or -errno. */
int vhost_net_set_features(struct vhost_net *v, uint64_t features);
/* Every region of guest RAM, at its guest-physical address. 0 or -errno. */
int vhost_net_set_memory(struct vhost_net *v, const struct guest_mem *mem);
/* Sets up one vring: size, base, addresses, kick and call eventfds. 0 or -errno. */
int vhost_net_start_vring(struct vhost_net *v, const struct vhost_vring *r);
/* Starts (fd >= 0, a TAP queue) or stops (fd -1) vring `index`'s data path. 0 or -errno. */
int vhost_net_set_backend(struct vhost_net *v, unsigned index, int fd);
/* After set_backend(-1): where the device stopped in the avail ring. 0 or -errno. */
int vhost_net_stop_vring(struct vhost_net *v, unsigned index, uint16_t *last_avail);

#endif

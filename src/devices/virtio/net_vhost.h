/*
 * virtio-net's vhost-net data path (net.h), the in-kernel backend of a
 * split driver: at DRIVER_OK each queue pair's rings, memory table, kick
 * and call eventfds go to a /dev/vhost-net instance, which then moves the
 * frames between the rings and the TAP queue; at reset they are taken
 * back. Interrupts go straight to KVM through the transport's irqfd for the
 * queue's vector, or through an eventfd the worker relays ("relays").
 * Internal to virtio-net: only net.c and net_path.c call these.
 */
#ifndef VMON_DEVICES_VIRTIO_NET_VHOST_H
#define VMON_DEVICES_VIRTIO_NET_VHOST_H

#include "devices/virtio/net.h"

/* §5.1.2: receiveqN is queue 2(N-1), transmitqN the next one. */
static inline unsigned net_rx_queue(const struct net_pair *p) { return 2 * p->index; }
static inline unsigned net_tx_queue(const struct net_pair *p) { return 2 * p->index + 1; }

/*
 * One vhost-net per pair (net->vhost true), unless mode is OFF, or AUTO
 * on a host without /dev/vhost-net (vmon's own path). 0 or -errno with *why.
 */
int net_vhost_open(struct virtio_net *net, enum net_vhost_mode mode, const char **why);
/* Whether vhost-net was opened. */
bool net_vhost_opened(const struct virtio_net *net);
/* Whether it may serve the device: opened, and the device not behind an IOMMU. */
bool net_vhost_usable(const struct virtio_net *net);
/*
 * Hands the pair's enabled queues to vhost-net, from the indices in
 * vd->queues. 0 or -errno (-EOPNOTSUPP: not net_vhost_usable).
 */
int net_vhost_start_pair(struct net_pair *p);
/* Takes them back (harmless on a pair never started) and closes its relays. */
void net_vhost_stop_pair(struct net_pair *p);
/*
 * Takes them back for a quiesce (nothing to do unless vhost-net has
 * them): their indices into vd->queues, interrupts still in a relay
 * raised, relays closed. 0, or -errno when an index could not be read
 * (the pair's state is then stale).
 */
int net_vhost_quiesce_pair(struct net_pair *p);
void net_vhost_close_relays(struct net_pair *p);
/* The pair's relay eventfds for the worker to wait on (at most 2); how many. */
unsigned net_vhost_relay_fds(struct net_pair *p, struct virtio_worker_fd *fds);
/* The counters on vhost-net: the TAP's own since vmon opened it (its tx is the guest's rx). */
void net_vhost_counters(const struct virtio_net *net, struct net_counters *out);

/*
 * net_path.c: the data path from the next start on (net->vhost), the
 * counters going on from where they are. The worker must be stopped.
 */
void net_switch_path(struct virtio_net *net, bool vhost);

#endif

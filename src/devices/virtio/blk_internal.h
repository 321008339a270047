/*
 * What blk.c shares with blk_swap.c, and nobody else: stopping and
 * restarting the disk's I/O thread around a change of image.
 */
#ifndef VMON_DEVICES_VIRTIO_BLK_INTERNAL_H
#define VMON_DEVICES_VIRTIO_BLK_INTERNAL_H

#include <stdbool.h>

#include "devices/virtio/blk.h"

/* virtio 1.2 §5.2.4: the capacity's offset in the device configuration. */
#define BLK_CFG_CAPACITY 0

/*
 * Ends the I/O on the current image: afterwards nobody serves, and nothing
 * is in flight unless the worker had ended on its own (blk_queues_idle).
 * What waited for an I/O slot (pending) stays.
 */
void blk_stop_serving(struct virtio_blk *blk, bool worker_running);
/*
 * Whether every queue is idle, so that it may move to another file or be
 * saved. After blk_stop_serving they are, unless the worker had ended on
 * its own (an epoll_wait error) and left what was in flight unanswered.
 */
bool blk_queues_idle(const struct virtio_blk *blk);
/* Starts the I/O thread; 0 or -errno. */
int blk_start_worker(struct virtio_blk *blk);

#endif

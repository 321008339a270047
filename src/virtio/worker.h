/*
 * A virtio device's I/O thread: waits on its queues' kick eventfds with
 * epoll and lets the device type serve the queue that was kicked. The
 * vCPU that notified has long gone back to the guest.
 */
#ifndef VMON_VIRTIO_WORKER_H
#define VMON_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdbool.h>

#include "virtio/device.h"

struct virtio_worker {
	struct virtio_device *vd;
	void (*serve)(struct virtio_device *vd, unsigned queue);
	pthread_t thread;
	int epoll_fd;
	int stop_fd;
	bool running;
};

/* Starts serving vd's queues; `serve` runs on the worker thread. 0 or -errno. */
int virtio_worker_start(struct virtio_worker *w, struct virtio_device *vd,
			void (*serve)(struct virtio_device *vd, unsigned queue));
/* Stops and joins the thread; harmless when not running. */
void virtio_worker_stop(struct virtio_worker *w);

#endif

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

/*
 * A file descriptor besides the kick eventfds that the worker waits on
 * (EPOLLIN, level-triggered), e.g. a backend's completion eventfd: `ready`
 * runs on the worker thread and must consume what made the fd readable.
 */
struct virtio_worker_fd {
	int fd;
	void (*ready)(void *arg);
	void *arg;
};

#define VIRTIO_WORKER_MAX_FDS VIRTIO_MAX_QUEUES

struct virtio_worker {
	struct virtio_device *vd;
	void (*serve)(struct virtio_device *vd, unsigned queue);
	void (*stopping)(struct virtio_device *vd);
	struct virtio_worker_fd extra[VIRTIO_WORKER_MAX_FDS];
	unsigned nr_extra;
	pthread_t thread;
	int epoll_fd;
	int stop_fd;
	bool running;
};

/* Starts serving vd's queues; `serve` runs on the worker thread. 0 or -errno. */
int virtio_worker_start(struct virtio_worker *w, struct virtio_device *vd,
			void (*serve)(struct virtio_device *vd, unsigned queue));
/* What a worker waits on besides the kick eventfds, and how it ends. */
struct virtio_worker_config {
	void (*serve)(struct virtio_device *vd, unsigned queue);
	/*
	 * If not NULL, runs on the worker thread when virtio_worker_stop asks
	 * it to end, before it does: the place to wait for I/O that the thread
	 * submitted (the kernel cancels a thread's io_uring requests when the
	 * thread exits).
	 */
	void (*stopping)(struct virtio_device *vd);
	const struct virtio_worker_fd *extra; /* copied; at most VIRTIO_WORKER_MAX_FDS */
	unsigned nr_extra;
	/*
	 * Bit q set: wait on queue q's kick eventfd. 0 means every queue. A
	 * queue served elsewhere (e.g. by vhost in the host kernel) must be
	 * left out, or the worker would steal its kicks.
	 */
	uint64_t queue_mask;
};

/* Like virtio_worker_start, with the choices of `cfg`. 0 or -errno. */
int virtio_worker_start_with(struct virtio_worker *w, struct virtio_device *vd,
			     const struct virtio_worker_config *cfg);

/*
 * Stops (paused) or resumes waiting on extra fd `index`: a device pauses a
 * backend it has no room to read from (flow control), or one that hung up.
 * Pausing a paused fd, or resuming a watched one, does nothing. Called on
 * the worker's own thread (from serve or a ready callback) while it runs.
 * 0 or -errno.
 */
int virtio_worker_pause_fd(struct virtio_worker *w, unsigned index, bool paused);

/* Stops and joins the thread; harmless when not running. */
void virtio_worker_stop(struct virtio_worker *w);

#endif

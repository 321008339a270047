#include "virtio/worker.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/thread.h"

#define STOP_TOKEN  UINT64_MAX
#define EXTRA_TOKEN VIRTIO_MAX_QUEUES /* extra fd i: EXTRA_TOKEN + i; queues below */

static void drain(int fd)
{
	uint64_t count;
	while (read(fd, &count, sizeof(count)) == sizeof(count))
		;
}

static void *worker_thread(void *arg)
{
	struct virtio_worker *w = arg;
	for (;;) {
		struct epoll_event events[16];
		int n = epoll_wait(w->epoll_fd, events, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL; /* cannot wait any more: stop rather than spin */
		for (int i = 0; i < n; i++) {
			uint64_t token = events[i].data.u64;
			if (token == STOP_TOKEN) {
				if (w->stopping)
					w->stopping(w->vd);
				return NULL;
			}
			if (token >= EXTRA_TOKEN) {
				const struct virtio_worker_fd *x = &w->extra[token - EXTRA_TOKEN];
				x->ready(x->arg);
				continue;
			}
			unsigned q = (unsigned)token;
			drain(w->vd->queues[q].kick_fd);
			w->serve(w->vd, q);
		}
	}
}

static int watch(int epoll_fd, int fd, uint64_t token)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };
	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static void close_fds(struct virtio_worker *w)
{
	if (w->epoll_fd >= 0)
		close(w->epoll_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	w->epoll_fd = w->stop_fd = -1;
}

int virtio_worker_start(struct virtio_worker *w, struct virtio_device *vd,
			void (*serve)(struct virtio_device *vd, unsigned queue))
{
	struct virtio_worker_config cfg = { .serve = serve };
	return virtio_worker_start_with(w, vd, &cfg);
}

static bool queue_watched(const struct virtio_worker_config *cfg, unsigned q)
{
	return cfg->queue_mask == 0 || (q < 64 && (cfg->queue_mask >> q) & 1);
}

int virtio_worker_start_with(struct virtio_worker *w, struct virtio_device *vd,
			     const struct virtio_worker_config *cfg)
{
	*w = (struct virtio_worker){ .vd = vd, .serve = cfg->serve, .stopping = cfg->stopping,
				     .epoll_fd = -1, .stop_fd = -1 };
	if (cfg->nr_extra > VIRTIO_WORKER_MAX_FDS || (cfg->nr_extra && !cfg->extra))
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nr_extra; i++) {
		if (cfg->extra[i].fd < 0 || !cfg->extra[i].ready)
			return -EINVAL;
		w->extra[i] = cfg->extra[i];
	}
	w->nr_extra = cfg->nr_extra;
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int ret = w->epoll_fd < 0 || w->stop_fd < 0 ? -errno : watch(w->epoll_fd, w->stop_fd, STOP_TOKEN);
	for (unsigned q = 0; ret == 0 && q < vd->nr_queues; q++)
		if (queue_watched(cfg, q))
			ret = watch(w->epoll_fd, vd->queues[q].kick_fd, q);
	for (unsigned i = 0; ret == 0 && i < w->nr_extra; i++)
		ret = watch(w->epoll_fd, w->extra[i].fd, EXTRA_TOKEN + i);
	if (ret == 0)
		ret = thread_start_io(&w->thread, worker_thread, w);
	if (ret < 0) {
		close_fds(w);
		return ret;
	}
	w->running = true;
	return 0;
}

int virtio_worker_pause_fd(struct virtio_worker *w, unsigned index, bool paused)
{
	if (index >= w->nr_extra || w->epoll_fd < 0)
		return -EINVAL;
	/* Out of the set, not just without EPOLLIN: a hung-up fd would still report EPOLLHUP. */
	int ret = paused ? (epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, w->extra[index].fd, NULL) == 0 ? 0 : -errno)
			 : watch(w->epoll_fd, w->extra[index].fd, EXTRA_TOKEN + index);
	return ret == -ENOENT || ret == -EEXIST ? 0 : ret; /* already as asked */
}

void virtio_worker_stop(struct virtio_worker *w)
{
	if (!w->running)
		return;
	uint64_t one = 1;
	if (write(w->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(w->thread, NULL);
	close_fds(w);
	w->running = false;
}

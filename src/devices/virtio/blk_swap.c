/*
 * virtio-blk: swapping the image under a running guest (the API's PATCH
 * /drives), between the requests of the old file and those of the new.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "backends/block_file.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/blk_internal.h"

/*
 * The new capacity in the config space, changed under vd->lock (which
 * blk_config_read and the transports' generation reads take) together
 * with config_generation: a driver that read the 8 bytes in two halves
 * across the change sees a new generation and reads again (§2.5.1).
 */
static void publish_capacity(struct virtio_blk *blk)
{
	pthread_mutex_lock(&blk->vd.lock);
	uint64_t capacity = htole64(blk->capacity);
	memcpy(blk->config + BLK_CFG_CAPACITY, &capacity, sizeof(capacity));
	blk->vd.config_generation++;
	pthread_mutex_unlock(&blk->vd.lock);
}

/* Serves from `file` from now on; the queues must be idle (queues_idle). */
static void use_file(struct virtio_blk *blk, struct block_file *file)
{
	for (unsigned i = 0; i < blk->nr_queues; i++)
		block_queue_set_file(blk->queues[i].bq, file); /* idle: returns 0 */
	blk->file = file;
	blk->capacity = block_file_size(file) / BLOCK_SECTOR_SIZE;
}

/* A new worker, kicked on every queue: it serves what waited while none ran. */
static int resume_worker(struct virtio_blk *blk)
{
	int ret = blk_start_worker(blk);
	for (unsigned i = 0; ret == 0 && i < blk->nr_queues; i++)
		virtio_kick_queue(&blk->vd, i);
	return ret;
}

/*
 * Serves `file` from now on, the queues being idle, and starts the worker
 * again if it ran. 0, or -errno with *why and the old file kept (no worker).
 */
static int switch_to(struct virtio_blk *blk, struct block_file *file, bool running, const char **why)
{
	struct block_file *old = blk->file;
	use_file(blk, file);
	int ret = running ? resume_worker(blk) : 0;
	if (ret < 0) {
		use_file(blk, old); /* no worker started: the queues are still idle */
		*why = "cannot restart the disk's I/O thread";
		return ret;
	}
	publish_capacity(blk);
	return 0;
}

static int open_replacement(const struct virtio_blk *blk, const char *path,
			    struct block_file **out, const char **why)
{
	struct block_file_config fc = { .path = path, .readonly = blk->readonly, .direct = blk->direct };
	int ret = block_file_open(&fc, out, why);
	if (ret == 0 && block_file_logical_block_size(*out) != blk->block_size) {
		/* The driver set its queue limits from blk_size once, at probe. */
		block_file_close(*out);
		*out = NULL;
		*why = "the new image's logical block size differs from the current one's";
		ret = -EINVAL;
	}
	return ret;
}

int virtio_blk_replace_file(struct virtio_blk *blk, const char *path, const char **why)
{
	struct block_file *file;
	int ret = open_replacement(blk, path, &file, why);
	if (ret < 0)
		return ret;
	/* No activation or reset meanwhile: they start and stop the worker too. */
	pthread_mutex_lock(&blk->vd.control_lock);
	bool running = blk->worker.running;
	blk_stop_serving(blk, running);
	struct block_file *old = blk->file;
	if (blk_queues_idle(blk)) {
		ret = switch_to(blk, file, running, why);
	} else {
		*why = "requests on the current image are still in flight (the disk's I/O thread ended unexpectedly)";
		ret = -EBUSY;
	}
	/* A failed swap keeps the old file, served again as before where that works. */
	bool needs_reset = running && !blk->worker.running && resume_worker(blk) < 0;
	pthread_mutex_unlock(&blk->vd.control_lock);
	block_file_close(ret == 0 ? old : file);
	if (needs_reset) {
		*why = "cannot restart the disk's I/O thread: the disk keeps its old image and needs a reset by the guest";
		virtio_device_failed(&blk->vd, "the I/O thread could not be restarted during an image swap");
	} else if (ret == 0) {
		virtio_config_changed(&blk->vd); /* §5.2.6.2: a new capacity is announced so */
	}
	return ret;
}

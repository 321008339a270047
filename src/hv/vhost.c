/*
 * vhost-net through its ioctls: linux/vhost.h, with drivers/vhost/vhost.c
 * and net.c in Linux as their reference.
 */
#include "hv/vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/sys.h"

#define VHOST_NET_DEVICE "/dev/vhost-net"

static const char *open_error(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "cannot open " VHOST_NET_DEVICE ": permission denied";
	case ENODEV:
	case ENXIO:
		return "cannot open " VHOST_NET_DEVICE ": the vhost_net module is not loaded";
	}
	return "cannot open " VHOST_NET_DEVICE;
}

int vhost_net_open(struct vhost_net *v, const char **why)
{
	v->fd = -1;
	v->features = 0;
	int fd = open(VHOST_NET_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		return err == ENOENT ? -ENOENT : fail_why(why, open_error(err), -err);
	}

	/* The owner is this process: the kernel worker runs in its memory. */
	int ret = ioctl_retry(fd, VHOST_SET_OWNER, NULL);
	if (ret < 0) {
		close(fd);
		return fail_why(why, VHOST_NET_DEVICE " refused vmon as its owner (VHOST_SET_OWNER)", ret);
	}
	ret = ioctl_retry(fd, VHOST_GET_FEATURES, &v->features);
	if (ret < 0) {
		close(fd);
		return fail_why(why, "cannot read the features of " VHOST_NET_DEVICE, ret);
	}
	v->fd = fd;
	return 0;
}

void vhost_net_close(struct vhost_net *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

int vhost_net_set_features(struct vhost_net *v, uint64_t features)
{
	return ioctl_retry(v->fd, VHOST_SET_FEATURES, &features);
}

int vhost_net_set_memory(struct vhost_net *v, const struct guest_mem *mem)
{
	struct vhost_memory *table = calloc(1, sizeof(*table) +
					    mem->nr_regions * sizeof(table->regions[0]));
	if (!table)
		return -ENOMEM;
	table->nregions = mem->nr_regions;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		table->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};
	}
	int ret = ioctl_retry(v->fd, VHOST_SET_MEM_TABLE, table);
	free(table);
	return ret;
}

static int set_vring_state(int fd, unsigned long req, unsigned index, unsigned num)
{
	struct vhost_vring_state s = { .index = index, .num = num };
	return ioctl_retry(fd, req, &s);
}

static int set_vring_file(int fd, unsigned long req, unsigned index, int file)
{
	struct vhost_vring_file f = { .index = index, .fd = file };
	return ioctl_retry(fd, req, &f);
}

static int set_vring_addr(int fd, const struct vhost_vring *r)
{
	struct vhost_vring_addr a = {
		.index = r->index,
		.desc_user_addr = (uint64_t)(uintptr_t)r->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)r->avail,
		.used_user_addr = (uint64_t)(uintptr_t)r->used,
	};
	return ioctl_retry(fd, VHOST_SET_VRING_ADDR, &a);
}

/* The size first: VHOST_SET_VRING_ADDR checks the rings' lengths against it. */
int vhost_net_start_vring(struct vhost_net *v, const struct vhost_vring *r)
{
	int ret = set_vring_state(v->fd, VHOST_SET_VRING_NUM, r->index, r->size);
	if (ret == 0)
		ret = set_vring_state(v->fd, VHOST_SET_VRING_BASE, r->index, r->last_avail);
	if (ret == 0)
		ret = set_vring_addr(v->fd, r);
	if (ret == 0)
		ret = set_vring_file(v->fd, VHOST_SET_VRING_KICK, r->index, r->kick_fd);
	if (ret == 0)
		ret = set_vring_file(v->fd, VHOST_SET_VRING_CALL, r->index, r->call_fd);
	return ret;
}

int vhost_net_set_backend(struct vhost_net *v, unsigned index, int fd)
{
	return set_vring_file(v->fd, VHOST_NET_SET_BACKEND, index, fd);
}

int vhost_net_stop_vring(struct vhost_net *v, unsigned index, uint16_t *last_avail)
{
	struct vhost_vring_state s = { .index = index };
	int ret = ioctl_retry(v->fd, VHOST_GET_VRING_BASE, &s);
	if (ret == 0)
		*last_avail = (uint16_t)s.num;
	return ret;
}

/*
 * The configuration's own helpers: owned strings, and the kernel command
 * line the machine boots with (the root device's arguments added).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "vmm/config.h"

/* The boot command line of cfg, or NULL on failure (*ret says why). */
static char *boot_cmdline(const struct vm_config *cfg, int *ret)
{
	char *out = (char *)"untouched";
	*ret = vm_config_boot_cmdline(cfg, &out);
	return out;
}

static bool cmdline_is(const struct vm_config *cfg, const char *want)
{
	int ret;
	char *got = boot_cmdline(cfg, &ret);
	bool same = ret == 0 && got && strcmp(got, want) == 0;
	if (!same)
		printf("# got \"%s\" (%d), want \"%s\"\n", ret == 0 && got ? got : "(none)", ret, want);
	free(ret == 0 ? got : NULL);
	return same;
}

static void add_disk(struct vm_config *cfg, const char *path, bool root, bool readonly)
{
	struct disk_config *d = &cfg->disks[cfg->nr_disks++];
	vm_config_set_string(&d->path, path);
	d->root = root;
	d->readonly = readonly;
}

static void test_defaults(void)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	CHECK(cfg.nr_cpus == 1 && cfg.mem_size == VM_DEFAULT_MEMORY && !cfg.cmdline && !cfg.nr_disks,
	      "vm_config_init: one vCPU, the default memory, nothing else");
	CHECK(cmdline_is(&cfg, VM_DEFAULT_CMDLINE), "no command line: the serial console's default");
	cfg.console = CONSOLE_VIRTIO;
	CHECK(cmdline_is(&cfg, VM_DEFAULT_CMDLINE_HVC), "no command line with a virtio console: hvc0's default");
	vm_config_free(&cfg);
}

static void test_root_device(void)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	vm_config_set_string(&cfg.cmdline, "console=ttyS0 quiet");
	CHECK(cmdline_is(&cfg, "console=ttyS0 quiet"), "the user's command line as written");
	add_disk(&cfg, "/img/data.img", false, false);
	CHECK(cmdline_is(&cfg, "console=ttyS0 quiet"), "a disk that is not the root device adds nothing");
	cfg.disks[0].root = true;
	CHECK(cmdline_is(&cfg, "console=ttyS0 quiet root=/dev/vda rw"), "a writable root disk: root=/dev/vda rw");
	cfg.disks[0].readonly = true;
	CHECK(cmdline_is(&cfg, "console=ttyS0 quiet root=/dev/vda ro"), "a read-only root disk: root=/dev/vda ro");
	vm_config_set_string(&cfg.cmdline, NULL);
	CHECK(cmdline_is(&cfg, VM_DEFAULT_CMDLINE " root=/dev/vda ro"), "after the default command line too");
	vm_config_free(&cfg);
	CHECK(cfg.nr_disks == 0 && !cfg.cmdline, "vm_config_free leaves the defaults");
}

static void test_root_not_first(void)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	add_disk(&cfg, "/img/data.img", false, false);
	add_disk(&cfg, "/img/rootfs.img", true, false);
	int ret;
	char *out = boot_cmdline(&cfg, &ret);
	CHECK(ret == -EINVAL && out == NULL, "a root disk that is not the first one: -EINVAL, no string");
	cfg.disks[0].root = true;
	out = boot_cmdline(&cfg, &ret);
	CHECK(ret == -EINVAL && out == NULL, "two root disks: -EINVAL");
	vm_config_free(&cfg);
}

int main(void)
{
	test_defaults();
	test_root_device();
	test_root_not_first();
	return tap_finish();
}

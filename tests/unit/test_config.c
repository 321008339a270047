/*
 * The configuration's own helpers: owned strings, and the kernel command
 * line the machine boots with (the root device's arguments added).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migration/state.h"
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

/* A configuration with every field set to something other than its default. */
static void full_config(struct vm_config *cfg)
{
	vm_config_init(cfg);
	vm_config_set_string(&cfg->kernel_path, "/boot/vmlinux");
	vm_config_set_string(&cfg->initrd_path, "/boot/initrd");
	vm_config_set_string(&cfg->cmdline, "console=hvc0 quiet");
	cfg->nr_cpus = 3;
	cfg->mem_size = 768ull << 20;
	cfg->console = CONSOLE_VIRTIO;
	add_disk(cfg, "/images/root.img", true, false);
	add_disk(cfg, "/images/data.img", false, true);
	struct disk_config *d = &cfg->disks[1];
	snprintf(d->id, sizeof(d->id), "data");
	vm_config_set_string(&d->serial, "SERIAL2");
	d->cache = DISK_CACHE_UNSAFE;
	d->direct = true;
	d->queues = 4;
	d->transport = TRANSPORT_MMIO;
	cfg->disks[0].queues = 1;
	cfg->nr_nics = 1;
	struct nic_config *n = &cfg->nics[0];
	snprintf(n->id, sizeof(n->id), "eth0");
	snprintf(n->tap, sizeof(n->tap), "tap7");
	memcpy(n->mac, "\x02\x11\x22\x33\x44\x55", 6);
	n->mac_set = true;
	n->queues = 2;
	n->vhost = VHOST_OFF;
	n->transport = TRANSPORT_MMIO;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_disk(const struct disk_config *a, const struct disk_config *b)
{
	return strcmp(a->id, b->id) == 0 && same_string(a->path, b->path) &&
	       same_string(a->serial, b->serial) && a->root == b->root && a->cache == b->cache &&
	       a->readonly == b->readonly && a->direct == b->direct && a->queues == b->queues &&
	       a->transport == b->transport;
}

static bool same_machine(const struct vm_config *a, const struct vm_config *b)
{
	bool same = same_string(a->kernel_path, b->kernel_path) &&
		    same_string(a->initrd_path, b->initrd_path) && same_string(a->cmdline, b->cmdline) &&
		    a->nr_cpus == b->nr_cpus && a->mem_size == b->mem_size && a->console == b->console &&
		    a->nr_disks == b->nr_disks && a->nr_nics == b->nr_nics;
	for (unsigned i = 0; same && i < a->nr_disks; i++)
		same = same_disk(&a->disks[i], &b->disks[i]);
	for (unsigned i = 0; same && i < a->nr_nics; i++)
		same = memcmp(&a->nics[i], &b->nics[i], sizeof(a->nics[i])) == 0;
	return same;
}

/* cfg saved alone into a blob (*blob malloc'd). */
static size_t save_config(const struct vm_config *cfg, uint8_t **blob)
{
	struct state_writer w;
	state_writer_init(&w);
	vm_config_save(cfg, &w);
	size_t len = 0;
	if (state_writer_finish(&w, blob, &len) < 0)
		*blob = NULL;
	return len;
}

static int load_config(const uint8_t *blob, size_t len, struct vm_config *out)
{
	struct state_reader r;
	const char *why;
	vm_config_init(out);
	if (state_reader_open(&r, blob, len, &why) < 0)
		return -EBADMSG;
	return vm_config_load(&r, out);
}

static void test_state_round_trip(void)
{
	struct vm_config cfg, back;
	full_config(&cfg);
	uint8_t *blob;
	size_t len = save_config(&cfg, &blob);
	CHECK(blob != NULL, "the configuration saves into a state");
	CHECK(load_config(blob, len, &back) == 0 && same_machine(&cfg, &back),
	      "and loads back the same: kernel, initrd, command line, vCPUs, memory, console, disks, NICs");
	vm_config_free(&back);
	free(blob);

	struct vm_config empty;
	vm_config_init(&empty);
	len = save_config(&empty, &blob);
	CHECK(load_config(blob, len, &back) == 0 && same_machine(&empty, &back) && !back.kernel_path,
	      "an empty configuration round-trips with its absent strings absent");
	vm_config_free(&back);
	free(blob);
	vm_config_free(&cfg);
}

/*
 * The blob of cfg after `edit` changed it in ways vm_config_save does not
 * check, loaded back: its result.
 */
static int load_edited(void (*edit)(struct vm_config *cfg))
{
	struct vm_config cfg, back;
	full_config(&cfg);
	edit(&cfg);
	uint8_t *blob;
	size_t len = save_config(&cfg, &blob);
	int ret = load_config(blob, len, &back);
	vm_config_free(&back);
	free(blob);
	vm_config_free(&cfg);
	return ret;
}

static void no_cpus(struct vm_config *c) { c->nr_cpus = 0; }
static void too_many_cpus(struct vm_config *c) { c->nr_cpus = VM_MAX_CPUS + 1; }
static void tiny_memory(struct vm_config *c) { c->mem_size = 4096; }
static void odd_memory(struct vm_config *c) { c->mem_size = (64ull << 20) + 1; }
static void bad_console(struct vm_config *c) { c->console = (enum console_kind)7; }
static void bad_cache(struct vm_config *c) { c->disks[0].cache = (enum disk_cache)9; }
static void no_disk_queues(struct vm_config *c) { c->disks[0].queues = 0; }
static void disk_without_path(struct vm_config *c) { vm_config_set_string(&c->disks[0].path, NULL); }
static void long_serial(struct vm_config *c) { vm_config_set_string(&c->disks[0].serial, "123456789012345678901"); }
static void bad_transport(struct vm_config *c) { c->nics[0].transport = (enum virtio_transport_kind)3; }
static void bad_vhost(struct vm_config *c) { c->nics[0].vhost = (enum vhost_choice)5; }
static void nic_without_tap(struct vm_config *c) { c->nics[0].tap[0] = '\0'; }
static void too_many_nic_queues(struct vm_config *c) { c->nics[0].queues = NIC_MAX_QUEUES + 1; }
static void smt(struct vm_config *c) { c->smt = true; }

static void test_state_refusals(void)
{
	static const struct { void (*edit)(struct vm_config *); const char *what; } cases[] = {
		{ no_cpus, "no vCPU" }, { too_many_cpus, "more vCPUs than vmon has" },
		{ tiny_memory, "memory under the minimum" }, { odd_memory, "memory not in pages" },
		{ bad_console, "an unknown console" }, { bad_cache, "an unknown cache mode" },
		{ no_disk_queues, "a disk without queues" }, { disk_without_path, "a disk without a path" },
		{ long_serial, "a serial over 20 bytes" }, { bad_transport, "an unknown transport" },
		{ bad_vhost, "an unknown vhost choice" }, { nic_without_tap, "a NIC without a TAP" },
		{ too_many_nic_queues, "too many queue pairs" }, { smt, "SMT" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = load_edited(cases[i].edit);
		CHECK(ret == -EINVAL, "a configuration with %s is refused (%d)", cases[i].what, ret);
	}

	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_MACHINE, 0);
	state_end(&w);
	uint8_t *blob;
	size_t len;
	struct vm_config back;
	CHECK(state_writer_finish(&w, &blob, &len) == 0 && load_config(blob, len, &back) == -EINVAL,
	      "a state without a configuration section is refused");
	free(blob);

	state_writer_init(&w);
	state_begin(&w, STATE_TAG_CONFIG, 0);
	state_put_u32(&w, 5); /* a 5-byte kernel path, then the section ends */
	state_put_bytes(&w, "/bo", 3);
	state_end(&w);
	CHECK(state_writer_finish(&w, &blob, &len) == 0 && load_config(blob, len, &back) == -EINVAL,
	      "a configuration cut short is refused");
	free(blob);

	state_writer_init(&w);
	state_begin(&w, STATE_TAG_CONFIG, 0);
	state_put_u32(&w, 4);
	state_put_bytes(&w, "a\0bc", 4);
	state_end(&w);
	CHECK(state_writer_finish(&w, &blob, &len) == 0 && load_config(blob, len, &back) == -EINVAL,
	      "a string with a NUL inside is refused");
	free(blob);
}

int main(void)
{
	test_defaults();
	test_root_device();
	test_root_not_first();
	test_state_round_trip();
	test_state_refusals();
	return tap_finish();
}

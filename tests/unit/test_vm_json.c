/*
 * Firecracker's JSON bodies and vmon's configuration: every field taken,
 * every fault refused with the field named and the configuration left as
 * it was (byte for byte), the root device first, replace by id, the limits,
 * and GET -> --config-file round trips; the snapshot and migration bodies.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/vm_json.h"
#include "migration/migrate.h"
#include "tap.h"

static struct vm_config cfg, snapshot;
static char *fault;

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!doc) {
		printf("# test bug: %s in %s\n", err.text, text);
		exit(2);
	}
	return doc;
}

static void forget_fault(void)
{
	free(fault);
	fault = NULL;
}

enum body_kind { BOOT, MACHINE, MACHINE_PATCH, DRIVE, NIC, LOGGER, METRICS, LOAD };

/* Applies one body (JSON text) to cfg; id is the URL path's, for drives and interfaces. */
static int put(enum body_kind kind, const char *id, const char *text)
{
	forget_fault();
	json_t *body = parse(text);
	int ret = -1;
	switch (kind) {
	case BOOT: ret = vm_json_put_boot_source(body, &cfg, &fault); break;
	case MACHINE: ret = vm_json_put_machine_config(body, false, &cfg, &fault); break;
	case MACHINE_PATCH: ret = vm_json_put_machine_config(body, true, &cfg, &fault); break;
	case DRIVE: ret = vm_json_put_drive(body, id, &cfg, &fault); break;
	case NIC: ret = vm_json_put_network_interface(body, id, &cfg, &fault); break;
	case LOGGER: ret = vm_json_put_logger(body, &cfg, &fault); break;
	case METRICS: ret = vm_json_put_metrics(body, &cfg, &fault); break;
	case LOAD: ret = vm_json_load_vm_config(body, &cfg, &fault); break;
	}
	json_decref(body);
	if (ret == 0 && fault)
		printf("# a success with a fault: %s\n", fault);
	return ret;
}

static bool accepted(int ret)
{
	if (ret != 0)
		printf("# refused: %s\n", fault ? fault : "(no fault)");
	return ret == 0 && !fault;
}

/* The call failed, said `words`, and left cfg exactly as before (see REFUSED). */
static bool refused_saying(int ret, const char *words)
{
	bool unchanged = memcmp(&snapshot, &cfg, sizeof(cfg)) == 0;
	bool ok = ret < 0 && fault && strstr(fault, words) && unchanged;
	if (!ok)
		printf("# ret %d, cfg %s, fault: %s\n", ret, unchanged ? "unchanged" : "CHANGED",
		       fault ? fault : "(none)");
	return ok;
}

#define REFUSED(call, words) (memcpy(&snapshot, &cfg, sizeof(cfg)), refused_saying((call), (words)))

static void reset(void)
{
	vm_config_free(&cfg);
	forget_fault();
}

static bool same_string(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_disk(const struct disk_config *a, const struct disk_config *b)
{
	return strcmp(a->id, b->id) == 0 && same_string(a->path, b->path) && same_string(a->serial, b->serial) &&
	       a->root == b->root && a->cache == b->cache && a->readonly == b->readonly &&
	       a->direct == b->direct && a->queues == b->queues && a->transport == b->transport;
}

static bool same_nic(const struct nic_config *a, const struct nic_config *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->tap, b->tap) == 0 && a->mac_set == b->mac_set &&
	       (!a->mac_set || memcmp(a->mac, b->mac, 6) == 0) && a->queues == b->queues &&
	       a->vhost == b->vhost && a->transport == b->transport;
}

static bool same_config(const struct vm_config *a, const struct vm_config *b)
{
	bool same = same_string(a->kernel_path, b->kernel_path) && same_string(a->initrd_path, b->initrd_path) &&
		    same_string(a->cmdline, b->cmdline) && a->nr_cpus == b->nr_cpus &&
		    a->mem_size == b->mem_size && a->stats == b->stats && a->console == b->console &&
		    a->nr_disks == b->nr_disks && a->nr_nics == b->nr_nics &&
		    same_string(a->logger.path, b->logger.path) && same_string(a->logger.level, b->logger.level) &&
		    a->logger.show_level == b->logger.show_level && a->logger.show_origin == b->logger.show_origin &&
		    same_string(a->metrics_path, b->metrics_path);
	for (unsigned i = 0; same && i < a->nr_disks; i++)
		same = same_disk(&a->disks[i], &b->disks[i]);
	for (unsigned i = 0; same && i < a->nr_nics; i++)
		same = same_nic(&a->nics[i], &b->nics[i]);
	return same;
}

static const char *disk_order(void)
{
	static char order[VM_MAX_DISKS * (DEVICE_ID_MAX + 1) + 1];
	order[0] = '\0';
	for (unsigned i = 0; i < cfg.nr_disks; i++) {
		strcat(order, i ? "," : "");
		strcat(order, cfg.disks[i].id);
	}
	return order;
}

static void test_boot_source(void)
{
	reset();
	CHECK(accepted(put(BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"initrd_path\": \"/i\", "
				     "\"boot_args\": \"console=ttyS0 quiet\"}")) &&
	      strcmp(cfg.kernel_path, "/k") == 0 && strcmp(cfg.initrd_path, "/i") == 0 &&
	      strcmp(cfg.cmdline, "console=ttyS0 quiet") == 0, "boot-source: every field taken");
	CHECK(accepted(put(BOOT, NULL, "{\"kernel_image_path\": \"/k2\"}")) && strcmp(cfg.kernel_path, "/k2") == 0 &&
	      !cfg.initrd_path && !cfg.cmdline, "boot-source: a PUT replaces it all; no boot_args keeps cmdline NULL");
	CHECK(accepted(put(BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"initrd_path\": null, \"boot_args\": \"\"}")) &&
	      !cfg.initrd_path && strcmp(cfg.cmdline, "") == 0, "boot-source: null initrd is none; empty boot_args kept");

	CHECK(REFUSED(put(BOOT, NULL, "{}"), "missing field `kernel_image_path` in boot-source; expected a string"),
	      "boot-source: kernel_image_path is required");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel_image_path\": null}"), "`kernel_image_path` in boot-source must be "
		      "a string, not null"), "boot-source: a null kernel");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel_image_path\": 5}"), "`kernel_image_path` in boot-source must be a "
		      "string, not an integer"), "boot-source: a number for the kernel");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel_image_path\": \"\"}"), "`kernel_image_path` in boot-source must not "
		      "be empty"), "boot-source: an empty kernel path");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"initrd_path\": [\"/i\"]}"),
		      "`initrd_path` in boot-source must be a string, not an array"), "boot-source: an array initrd");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"boot_args\": false}"),
		      "`boot_args` in boot-source must be a string, not a boolean"), "boot-source: boolean boot_args");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel_image_path\": \"/k\", \"kernel\": \"/x\"}"),
		      "unknown field `kernel` in boot-source; expected one of `kernel_image_path`, `initrd_path`, "
		      "`boot_args`"), "boot-source: an unknown field, with the known ones listed");
	CHECK(REFUSED(put(BOOT, NULL, "[\"/k\"]"), "boot-source must be a JSON object, not an array"),
	      "boot-source: not an object");
	CHECK(REFUSED(put(BOOT, NULL, "{\"kernel\": \"/x\"}"), "unknown field `kernel`"),
	      "boot-source: what is wrong is said before what is missing");
}

static void test_machine_config(void)
{
	reset();
	CHECK(accepted(put(MACHINE, NULL, "{\"vcpu_count\": 2, \"mem_size_mib\": 512}")) && cfg.nr_cpus == 2 &&
	      cfg.mem_size == 512ull << 20, "machine-config: vCPUs and memory");
	CHECK(accepted(put(MACHINE, NULL, "{\"vcpu_count\": 3, \"mem_size_mib\": 1024, \"smt\": false, "
					"\"cpu_template\": \"None\", \"track_dirty_pages\": false, "
					"\"huge_pages\": \"None\"}")) && cfg.nr_cpus == 3,
	      "machine-config: every field, the unsupported ones at their defaults");
	CHECK(accepted(put(MACHINE, NULL, "{\"vcpu_count\": 1, \"mem_size_mib\": 4}")) &&
	      cfg.nr_cpus == 1 && cfg.mem_size == VM_MIN_MEMORY, "machine-config: one vCPU; 4 MiB");
	CHECK(accepted(put(MACHINE, NULL, "{\"vcpu_count\": 32, \"mem_size_mib\": 17592186044415}")) &&
	      cfg.nr_cpus == 32 && cfg.mem_size == 17592186044415ull << 20,
	      "machine-config: 32 vCPUs, the most memory 64-bit bytes hold");
	CHECK(accepted(put(MACHINE, NULL, "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": null, "
					"\"cpu_template\": null}")) && cfg.nr_cpus == 2,
	      "machine-config: null optional fields");

	static const struct { const char *body, *words, *name; } bad[] = {
		{ "{\"mem_size_mib\": 256}", "missing field `vcpu_count` in machine-config; expected an integer",
		  "vcpu_count is required" },
		{ "{\"vcpu_count\": 1}", "missing field `mem_size_mib` in machine-config", "mem_size_mib is required" },
		{ "{\"vcpu_count\": null, \"mem_size_mib\": 256}", "`vcpu_count` in machine-config must be an integer, "
		  "not null", "null vcpu_count" },
		{ "{\"vcpu_count\": 0, \"mem_size_mib\": 256}", "`vcpu_count` in machine-config must be from 1 to 32, "
		  "not 0", "0 vCPUs" },
		{ "{\"vcpu_count\": 33, \"mem_size_mib\": 256}", "must be from 1 to 32, not 33", "33 vCPUs" },
		{ "{\"vcpu_count\": -1, \"mem_size_mib\": 256}", "`vcpu_count` in machine-config must be from 1 to 32, "
		  "not -1", "negative vCPUs" },
		{ "{\"vcpu_count\": \"2\", \"mem_size_mib\": 256}", "`vcpu_count` in machine-config must be an integer, "
		  "not a string", "vCPUs as a string" },
		{ "{\"vcpu_count\": 2.0, \"mem_size_mib\": 256}", "`vcpu_count` in machine-config must be an integer, "
		  "not a number with a fraction", "vCPUs as 2.0" },
		{ "{\"vcpu_count\": true, \"mem_size_mib\": 256}", "must be an integer, not a boolean", "vCPUs true" },
		{ "{\"vcpu_count\": 1, \"mem_size_mib\": 3}", "`mem_size_mib` in machine-config must be from 4 to "
		  "17592186044415, not 3", "3 MiB" },
		{ "{\"vcpu_count\": 1, \"mem_size_mib\": 17592186044416}", "`mem_size_mib` in machine-config must be "
		  "from 4 to 17592186044415, not 17592186044416", "memory beyond 64-bit bytes" },
		{ "{\"vcpu_count\": 1, \"mem_size_mib\": 9223372036854775807}", "not 9223372036854775807",
		  "the largest JSON integer jansson holds" },
		{ "{\"vcpu_count\": 1, \"mem_size_mib\": 1e30}", "`mem_size_mib` in machine-config must be an integer, "
		  "not a number with a fraction or an exponent", "memory 1e30" },
		{ "{\"vcpu_count\": 1, \"mem_size_mib\": -256}", "not -256", "negative memory" },
		{ "{\"vcpu_count\": 1, \"mem_size_mib\": {}}", "must be an integer, not an object", "memory {}" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true}", "`smt` true is not supported by vmon "
		  "(its vCPUs are one thread per core)", "smt true" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": \"yes\"}", "`smt` in machine-config must be a "
		  "boolean, not a string", "smt \"yes\"" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": 1}", "must be a boolean, not an integer",
		  "smt 1" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": \"T2\"}", "`cpu_template` \"T2\" in "
		  "machine-config is not supported by vmon; only \"None\"", "cpu_template T2" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": \"Fancy\"}", "`cpu_template` in "
		  "machine-config must be one of \"None\", \"C3\", \"T2\"", "an unknown cpu_template" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"track_dirty_pages\": true}", "`track_dirty_pages` true "
		  "in machine-config is not supported by vmon; only false", "track_dirty_pages true" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"huge_pages\": \"2M\"}", "`huge_pages` \"2M\" in "
		  "machine-config is not supported by vmon", "huge_pages 2M" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"huge_pages\": \"none\"}", "`huge_pages` in "
		  "machine-config must be one of \"None\", \"Transparent\", \"2M\", not \"none\"",
		  "huge_pages in the wrong case" },
		{ "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"vcpus\": 2}", "unknown field `vcpus` in machine-config; "
		  "expected one of `vcpu_count`, `mem_size_mib`, `smt`, `cpu_template`, `track_dirty_pages`, "
		  "`huge_pages`", "an unknown field" },
		{ "7", "machine-config must be a JSON object, not an integer", "not an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(REFUSED(put(MACHINE, NULL, bad[i].body), bad[i].words), "machine-config refused: %s", bad[i].name);
	json_error_t err;
	CHECK(!json_loads("{\"vcpu_count\": 1, \"mem_size_mib\": 99999999999999999999}", 0, &err) &&
	      strstr(err.text, "too big integer"), "an integer beyond 64 bits is not JSON jansson takes (the API "
	      "answers \"not valid JSON\")");

	CHECK(accepted(put(MACHINE, NULL, "{\"vcpu_count\": 2, \"mem_size_mib\": 256}")),
	      "machine-config: 2 vCPUs, 256 MiB");
	CHECK(accepted(put(MACHINE_PATCH, NULL, "{\"mem_size_mib\": 128}")) && cfg.nr_cpus == 2 &&
	      cfg.mem_size == 128ull << 20, "PATCH machine-config: memory alone, the rest kept");
	CHECK(accepted(put(MACHINE_PATCH, NULL, "{\"vcpu_count\": 4}")) && cfg.nr_cpus == 4 &&
	      cfg.mem_size == 128ull << 20, "PATCH machine-config: vCPUs alone, the rest kept");
	CHECK(accepted(put(MACHINE_PATCH, NULL, "{\"vcpu_count\": 5, \"smt\": false}")) && cfg.nr_cpus == 5,
	      "PATCH machine-config: an odd count, smt false");
	CHECK(REFUSED(put(MACHINE_PATCH, NULL, "{\"smt\": true}"), "`smt` true is not supported by vmon"),
	      "PATCH machine-config: smt true");
	CHECK(REFUSED(put(MACHINE_PATCH, NULL, "{}"), "a PATCH of machine-config needs at least one field"),
	      "PATCH machine-config: an empty body");
	CHECK(REFUSED(put(MACHINE_PATCH, NULL, "{\"smt\": null}"), "needs at least one field"),
	      "PATCH machine-config: only nulls");
	CHECK(REFUSED(put(MACHINE_PATCH, NULL, "{\"vcpu_count\": 0}"), "must be from 1 to 32"),
	      "PATCH machine-config: out of range");
	CHECK(REFUSED(put(MACHINE_PATCH, NULL, "{\"memory\": 1}"), "unknown field `memory` in machine-config"),
	      "PATCH machine-config: an unknown field");

	json_t *got = vm_json_get_machine_config(&cfg);
	CHECK(json_integer_value(json_object_get(got, "vcpu_count")) == 5 &&
	      json_integer_value(json_object_get(got, "mem_size_mib")) == 128 &&
	      json_is_false(json_object_get(got, "smt")) && json_is_false(json_object_get(got, "track_dirty_pages")) &&
	      strcmp(json_string_value(json_object_get(got, "huge_pages")), "None") == 0 && json_object_size(got) == 5,
	      "GET machine-config: Firecracker's field names and values");
	forget_fault();
	CHECK(accepted(vm_json_put_machine_config(got, false, &cfg, &fault)) && cfg.nr_cpus == 5,
	      "GET machine-config is a valid PUT");
	json_decref(got);
}

static const char *drive(const char *id, const char *path, bool root)
{
	static char body[256];
	snprintf(body, sizeof(body), "{\"drive_id\": \"%s\", \"path_on_host\": \"%s\", \"is_root_device\": %s}", id,
		 path, root ? "true" : "false");
	return body;
}

static void test_drive_fields(void)
{
	reset();
	CHECK(accepted(put(DRIVE, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.img\", "
					    "\"is_root_device\": true, \"is_read_only\": true, \"cache_type\": "
					    "\"Writeback\", \"io_engine\": \"Sync\", \"partuuid\": null, "
					    "\"rate_limiter\": null, \"socket\": null}")),
	      "drive: every field");
	const struct disk_config *d = &cfg.disks[0];
	CHECK(cfg.nr_disks == 1 && strcmp(d->id, "rootfs") == 0 && strcmp(d->path, "/r.img") == 0 && d->root &&
	      d->readonly && d->cache == DISK_CACHE_WRITEBACK, "drive: id, path, root, read-only, Writeback");
	CHECK(!d->serial && !d->direct && d->queues == 1 && d->transport == TRANSPORT_MMIO,
	      "drive: no serial, page cache, one queue, virtio-mmio (as Firecracker's)");
	CHECK(accepted(put(DRIVE, "data", drive("data", "/d.img", false))) && cfg.nr_disks == 2 &&
	      !cfg.disks[1].root && !cfg.disks[1].readonly && cfg.disks[1].cache == DISK_CACHE_UNSAFE,
	      "drive: the defaults are read-write and Unsafe");
	CHECK(accepted(put(DRIVE, "data", "{\"drive_id\": \"data\", \"path_on_host\": \"/d2.img\", "
					  "\"is_root_device\": false, \"cache_type\": \"Unsafe\", "
					  "\"io_engine\": \"Async\"}")) &&
	      cfg.nr_disks == 2 && strcmp(cfg.disks[1].path, "/d2.img") == 0, "drive: a PUT of the same id replaces it");
	CHECK(accepted(put(DRIVE, NULL, drive("nopath", "/n.img", false))) && cfg.nr_disks == 3,
	      "drive: without a path id (a --config-file drive)");

	static const struct { const char *path_id, *body, *words, *name; } bad[] = {
		{ "x", "{\"path_on_host\": \"/x\", \"is_root_device\": false}", "missing field `drive_id` in drive `x`; "
		  "expected a string", "drive_id is required" },
		{ "x", "{\"drive_id\": \"x\", \"is_root_device\": false}", "missing field `path_on_host` in drive `x`",
		  "path_on_host is required" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\"}", "missing field `is_root_device` in drive `x`; "
		  "expected a boolean", "is_root_device is required" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": \"true\"}",
		  "`is_root_device` in drive `x` must be a boolean, not a string", "is_root_device as a string" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": false, \"is_read_only\": 1}",
		  "`is_read_only` in drive `x` must be a boolean, not an integer", "is_read_only 1" },
		{ "x", "{\"drive_id\": 7, \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "`drive_id` in drive `x` must be a string, not an integer", "drive_id 7" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"\", \"is_root_device\": false}",
		  "`path_on_host` in drive `x` must not be empty", "an empty path" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": false, \"cache_type\": "
		  "\"unsafe\"}", "`cache_type` in drive `x` must be one of \"Unsafe\", \"Writeback\", not \"unsafe\"",
		  "cache_type in the wrong case" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": false, \"io_engine\": "
		  "\"Fast\"}", "`io_engine` in drive `x` must be one of \"Sync\", \"Async\", not \"Fast\"",
		  "an unknown io_engine" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": true, \"partuuid\": "
		  "\"0eaa91a0-01\"}", "`partuuid` in drive `x` is not supported by vmon; leave it out or null",
		  "a partuuid" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": false, \"rate_limiter\": "
		  "{\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}", "`rate_limiter` in drive `x` is not supported",
		  "a rate limiter" },
		{ "x", "{\"drive_id\": \"x\", \"is_root_device\": false, \"socket\": \"/vhost.sock\"}",
		  "`socket` in drive `x` is not supported by vmon", "a vhost-user socket (before the missing path)" },
		{ "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\", \"is_root_device\": false, \"readonly\": true}",
		  "unknown field `readonly` in drive `x`; expected one of `drive_id`, `path_on_host`, `is_root_device`, "
		  "`is_read_only`, `cache_type`, `io_engine`, `partuuid`, `rate_limiter`, `socket`", "an unknown field" },
		{ "x", "\"x\"", "drive `x` must be a JSON object, not a string", "not an object" },
		{ "x", "{\"drive_id\": \"y\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "`drive_id` \"y\" in drive `x` differs from the id in the path, \"x\"", "an id unlike the path's" },
		{ "a-b", "{\"drive_id\": \"a-b\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "`drive_id` in drive must be 1 to 63 characters of A-Z, a-z, 0-9 and _, not \"a-b\"", "an id with '-'" },
		{ "", "{\"drive_id\": \"\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "`drive_id` in drive must be 1 to 63 characters", "an empty id" },
		{ NULL, "{\"drive_id\": \"a b\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "not \"a b\"", "an id with a space" },
		{ NULL, "{\"drive_id\": \"d\\u00e9\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "must be 1 to 63 characters", "an id with a non-ASCII letter" },
		{ NULL, "{\"drive_id\": \"../x\", \"path_on_host\": \"/x\", \"is_root_device\": false}",
		  "must be 1 to 63 characters", "an id with a slash" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(REFUSED(put(DRIVE, bad[i].path_id, bad[i].body), bad[i].words), "drive refused: %s", bad[i].name);

	char id63[64], id64[65];
	memset(id63, 'a', 63);
	id63[63] = '\0';
	memset(id64, 'b', 64);
	id64[64] = '\0';
	CHECK(accepted(put(DRIVE, id63, drive(id63, "/x", false))) && strcmp(cfg.disks[3].id, id63) == 0,
	      "drive: an id of 63 characters");
	CHECK(REFUSED(put(DRIVE, id64, drive(id64, "/x", false)), "`drive_id` in drive must be 1 to 63 characters"),
	      "drive: an id of 64 characters refused");
}

static void test_drive_order_and_limits(void)
{
	reset();
	CHECK(accepted(put(DRIVE, "a", drive("a", "/a", false))) && accepted(put(DRIVE, "b", drive("b", "/b", false))) &&
	      accepted(put(DRIVE, "root", drive("root", "/r", true))) && strcmp(disk_order(), "root,a,b") == 0 &&
	      cfg.disks[0].root, "a root device added last goes first (root,a,b: %s)", disk_order());
	CHECK(REFUSED(put(DRIVE, "c", drive("c", "/c", true)), "drive `c` cannot be a second root device; a root "
		      "device is already configured: drive `root`"), "a second root device is refused");
	CHECK(REFUSED(put(DRIVE, "b", drive("b", "/b", true)), "a root device is already configured: drive `root`"),
	      "an existing drive cannot become a second root device");
	CHECK(accepted(put(DRIVE, "root", drive("root", "/r2", true))) && strcmp(disk_order(), "root,a,b") == 0 &&
	      strcmp(cfg.disks[0].path, "/r2") == 0, "the root device replaced in place");
	CHECK(accepted(put(DRIVE, "root", drive("root", "/r2", false))) && strcmp(disk_order(), "root,a,b") == 0 &&
	      !cfg.disks[0].root, "the root device made an ordinary drive, in place");
	CHECK(accepted(put(DRIVE, "b", drive("b", "/b", true))) && strcmp(disk_order(), "b,root,a") == 0 &&
	      cfg.disks[0].root && strcmp(cfg.disks[0].path, "/b") == 0,
	      "an existing drive made the root device moves first (b,root,a: %s)", disk_order());

	reset();
	char id[8];
	bool all = true;
	for (int i = 0; i < VM_MAX_DISKS; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		all = all && accepted(put(DRIVE, id, drive(id, "/x", false)));
	}
	CHECK(all && cfg.nr_disks == VM_MAX_DISKS, "8 drives");
	CHECK(REFUSED(put(DRIVE, "d8", drive("d8", "/x", false)), "cannot add drive `d8`: vmon takes at most 8 drives"),
	      "a 9th drive is refused");
	CHECK(accepted(put(DRIVE, "d3", drive("d3", "/y", false))) && cfg.nr_disks == VM_MAX_DISKS &&
	      strcmp(cfg.disks[3].path, "/y") == 0, "with 8 drives, one can still be replaced");
	CHECK(accepted(put(DRIVE, "d7", drive("d7", "/y", true))) && strcmp(cfg.disks[0].id, "d7") == 0 &&
	      strcmp(cfg.disks[1].id, "d0") == 0 && strcmp(cfg.disks[7].id, "d6") == 0,
	      "with 8 drives, the last becomes the root device and moves first");
}

static int patch_drive(const char *path_id, const char *text, unsigned *index, const char **path)
{
	forget_fault();
	static json_t *body; /* owns *path until the next call */
	json_decref(body);
	body = parse(text);
	return vm_json_patch_drive(body, path_id, &cfg, index, path, &fault);
}

static void test_patch_drive(void)
{
	reset();
	unsigned index = 99;
	const char *path = NULL;
	CHECK(accepted(put(DRIVE, "a", drive("a", "/a", false))) && accepted(put(DRIVE, "r", drive("r", "/r", true))),
	      "two drives for PATCH");
	memcpy(&snapshot, &cfg, sizeof(cfg));
	CHECK(accepted(patch_drive("a", "{\"drive_id\": \"a\", \"path_on_host\": \"/a2\", \"rate_limiter\": null}",
				   &index, &path)) && index == 1 && strcmp(path, "/a2") == 0 &&
	      memcmp(&snapshot, &cfg, sizeof(cfg)) == 0, "PATCH drive: its index and the new path; cfg not changed");

	static const struct { const char *path_id, *body, *words, *name; } bad[] = {
		{ "z", "{\"drive_id\": \"z\", \"path_on_host\": \"/z\"}", "cannot update drive `z`: no drive of that id "
		  "is configured", "a drive that does not exist" },
		{ "a", "{\"drive_id\": \"r\", \"path_on_host\": \"/z\"}", "`drive_id` \"r\" in drive `a` differs from the "
		  "id in the path, \"a\"", "an id unlike the path's" },
		{ "a", "{\"drive_id\": \"a\"}", "a PATCH of drive `a` without `path_on_host` asks for nothing vmon can "
		  "change (it has no rate limiters)", "no path (Firecracker's PartialDrive allows it)" },
		{ "a", "{\"drive_id\": \"a\", \"path_on_host\": null, \"rate_limiter\": null}", "without `path_on_host` "
		  "asks for nothing vmon can change", "a null path and a null rate limiter" },
		{ "z", "{\"drive_id\": \"z\"}", "cannot update drive `z`: no drive of that id", "no path, no such drive" },
		{ "a", "{\"drive_id\": \"a\", \"path_on_host\": \"\"}", "`path_on_host` in drive `a` must not be empty",
		  "an empty path" },
		{ "a", "{\"drive_id\": \"a\", \"path_on_host\": 3}", "`path_on_host` in drive `a` must be a string",
		  "a number for the path" },
		{ "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/z\", \"rate_limiter\": {}}", "`rate_limiter` in drive "
		  "`a` is not supported by vmon", "a rate limiter" },
		{ "a", "{\"drive_id\": \"a\", \"path_on_host\": \"/z\", \"is_read_only\": true}", "unknown field "
		  "`is_read_only` in drive `a`; expected one of `drive_id`, `path_on_host`, `rate_limiter`",
		  "a field of PUT only" },
		{ "a.b", "{\"drive_id\": \"a.b\", \"path_on_host\": \"/z\"}", "`drive_id` in drive must be 1 to 63 "
		  "characters", "a bad id" },
		{ "a", "null", "drive `a` must be a JSON object, not null", "not an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(REFUSED(patch_drive(bad[i].path_id, bad[i].body, &index, &path), bad[i].words),
		      "PATCH drive refused: %s", bad[i].name);
	patch_drive(NULL, "{}", &index, &path);
}

static const char *nic(const char *id, const char *tap, const char *mac)
{
	static char body[256];
	if (mac)
		snprintf(body, sizeof(body), "{\"iface_id\": \"%s\", \"host_dev_name\": \"%s\", \"guest_mac\": \"%s\"}",
			 id, tap, mac);
	else
		snprintf(body, sizeof(body), "{\"iface_id\": \"%s\", \"host_dev_name\": \"%s\"}", id, tap);
	return body;
}

static void test_network_interfaces(void)
{
	reset();
	CHECK(accepted(put(NIC, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
					"\"52:54:00:AB:cd:0f\", \"mtu\": null, \"rx_rate_limiter\": null, "
					"\"tx_rate_limiter\": null}")), "network interface: every field");
	const struct nic_config *n = &cfg.nics[0];
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f };
	CHECK(cfg.nr_nics == 1 && strcmp(n->id, "eth0") == 0 && strcmp(n->tap, "tap0") == 0 && n->mac_set &&
	      memcmp(n->mac, mac, 6) == 0, "network interface: id, TAP, MAC in either case");
	CHECK(n->queues == 1 && n->vhost == VHOST_AUTO && n->transport == TRANSPORT_MMIO,
	      "network interface: one queue pair, vhost when the host has it, virtio-mmio (as Firecracker's)");
	CHECK(accepted(put(NIC, "eth1", nic("eth1", "tap1", NULL))) && cfg.nr_nics == 2 && !cfg.nics[1].mac_set,
	      "network interface: without a MAC (vmon derives one)");
	CHECK(accepted(put(NIC, "eth0", nic("eth0", "tap5", NULL))) && cfg.nr_nics == 2 &&
	      strcmp(cfg.nics[0].tap, "tap5") == 0 && !cfg.nics[0].mac_set, "network interface: replaced by its id");
	CHECK(accepted(put(NIC, "eth0", nic("eth0", "tap5", "52:54:00:00:00:01"))) && cfg.nics[0].mac_set,
	      "network interface: replaced with its own TAP");
	CHECK(accepted(put(NIC, "eth2", nic("eth2", "abcdefghijklmno", NULL))) && cfg.nr_nics == 3,
	      "network interface: a TAP name of 15 characters");

	static const struct { const char *path_id, *body, *words, *name; } bad[] = {
		{ "eth3", "{\"iface_id\": \"eth3\"}", "missing field `host_dev_name` in network interface `eth3`; "
		  "expected a string", "host_dev_name is required" },
		{ "eth3", "{\"host_dev_name\": \"t\"}", "missing field `iface_id` in network interface `eth3`",
		  "iface_id is required" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": 1}", "`host_dev_name` in network interface `eth3` "
		  "must be a string, not an integer", "host_dev_name 1" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"\"}", "`host_dev_name` in network interface `eth3` must be a TAP interface "
		  "name of 1 to 15 characters without '/', not \"\"", "an empty TAP name" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"abcdefghijklmnop\"}", "must be a TAP interface name of 1 to 15 characters",
		  "a TAP name of 16 characters" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"a/b\"}", "without '/', not \"a/b\"", "a TAP name with a slash" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap5\"}", "`host_dev_name` \"tap5\" in network interface `eth3` is already in "
		  "use by network interface `eth0`", "a TAP already in use" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap9\", \"guest_mac\": \"52:54:00:00:00:01\"}", "`guest_mac` in network interface `eth3` is already "
		  "in use by network interface `eth0`", "a MAC already in use" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap9\", \"guest_mac\": \"52:54:00:12:34\"}", "`guest_mac` in network interface `eth3` must be a "
		  "unicast, non-zero MAC address like 52:54:00:12:34:56, not \"52:54:00:12:34\"", "a MAC of 5 bytes" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap9\", \"guest_mac\": \"01:00:5e:00:00:01\"}", "not \"01:00:5e:00:00:01\"", "a multicast MAC" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap9\", \"guest_mac\": \"00:00:00:00:00:00\"}", "`guest_mac` in network interface `eth3` must be",
		  "an all-zero MAC" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap9\", \"guest_mac\": \"52:54:00:12:34:5g\"}", "`guest_mac`", "a MAC with a non-hex digit" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"t\", \"guest_mac\": 5}", "`guest_mac` in network "
		  "interface `eth3` must be a string, not an integer", "a numeric MAC" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"t\", \"mtu\": 1500}", "`mtu` in network "
		  "interface `eth3` is not supported by vmon", "an MTU" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"t\", \"rx_rate_limiter\": {}}",
		  "`rx_rate_limiter` in network interface `eth3` is not supported by vmon", "an RX rate limiter" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"t\", \"tx_rate_limiter\": {\"ops\": {}}}",
		  "`tx_rate_limiter` in network interface `eth3` is not supported", "a TX rate limiter" },
		{ "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"t\", \"allow_mmds_requests\": true}",
		  "unknown field `allow_mmds_requests` in network interface `eth3`; expected one of `iface_id`, "
		  "`host_dev_name`, `guest_mac`, `mtu`, `rx_rate_limiter`, `tx_rate_limiter`", "an unknown field" },
		{ "eth3", "{\"iface_id\": \"eth4\", \"host_dev_name\": \"tap9\"}", "`iface_id` \"eth4\" in network interface `eth3` differs from the "
		  "id in the path, \"eth3\"", "an id unlike the path's" },
		{ "eth:3", "{\"iface_id\": \"eth:3\", \"host_dev_name\": \"tap9\"}", "`iface_id` in network interface must be 1 to 63 characters of "
		  "A-Z, a-z, 0-9 and _, not \"eth:3\"", "an id with ':'" },
		{ "eth3", "[]", "network interface `eth3` must be a JSON object, not an array", "not an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(REFUSED(put(NIC, bad[i].path_id, bad[i].body), bad[i].words), "network interface refused: %s",
		      bad[i].name);

	char id[8], tap[8];
	bool all = true;
	for (int i = 3; i < VM_MAX_NICS; i++) {
		snprintf(id, sizeof(id), "eth%d", i);
		snprintf(tap, sizeof(tap), "tap%d", i + 10);
		all = all && accepted(put(NIC, id, nic(id, tap, NULL)));
	}
	CHECK(all && cfg.nr_nics == VM_MAX_NICS, "8 network interfaces");
	CHECK(REFUSED(put(NIC, "eth8", nic("eth8", "tap8", NULL)), "cannot add network interface `eth8`: vmon takes "
		      "at most 8 network interfaces"), "a 9th network interface is refused");
	CHECK(accepted(put(NIC, "eth7", nic("eth7", "tap8", NULL))) && cfg.nr_nics == VM_MAX_NICS &&
	      strcmp(cfg.nics[7].tap, "tap8") == 0, "with 8 network interfaces, one can still be replaced");
}

static void test_logger_and_metrics(void)
{
	reset();
	CHECK(accepted(put(LOGGER, NULL, "{\"log_path\": \"/tmp/log\", \"level\": \"wARNing\", \"show_level\": true, "
					 "\"show_log_origin\": true, \"module\": null}")) &&
	      strcmp(cfg.logger.path, "/tmp/log") == 0 && strcmp(cfg.logger.level, "Warning") == 0 &&
	      cfg.logger.show_level && cfg.logger.show_origin, "logger: every field; the level in any case, kept as "
	      "Firecracker spells it");
	static const char *const levels[][2] = {
		{ "Error", "Error" }, { "Warning", "Warning" }, { "Warn", "Warning" }, { "WARN", "Warning" },
		{ "Info", "Info" }, { "Debug", "Debug" }, { "Trace", "Trace" }, { "Off", "Off" },
	};
	char body[64];
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(body, sizeof(body), "{\"level\": \"%s\"}", levels[i][0]);
		CHECK(accepted(put(LOGGER, NULL, body)) && strcmp(cfg.logger.level, levels[i][1]) == 0,
		      "logger: level %s, kept as %s", levels[i][0], levels[i][1]);
	}
	CHECK(strcmp(vm_json_log_level("warn"), "Warning") == 0 && strcmp(vm_json_log_level("dEBUG"), "Debug") == 0 &&
	      !vm_json_log_level("Warnings") && !vm_json_log_level(""), "vm_json_log_level: the word kept, or NULL");
	CHECK(accepted(put(LOGGER, NULL, "{}")) && !cfg.logger.path && !cfg.logger.level && !cfg.logger.show_level &&
	      !cfg.logger.show_origin, "logger: a PUT of {} is back to the defaults");

	static const struct { const char *body, *words, *name; } bad[] = {
		{ "{\"level\": \"Verbose\"}", "`level` in logger must be one of \"Error\", \"Warning\", \"Warn\", "
		  "\"Info\", \"Debug\", \"Trace\", \"Off\", not \"Verbose\"", "an unknown level" },
		{ "{\"level\": 3}", "`level` in logger must be a string, not an integer", "a numeric level" },
		{ "{\"log_path\": \"\"}", "`log_path` in logger must not be empty", "an empty path" },
		{ "{\"show_level\": \"yes\"}", "`show_level` in logger must be a boolean", "show_level \"yes\"" },
		{ "{\"show_log_origin\": 0}", "`show_log_origin` in logger must be a boolean", "show_log_origin 0" },
		{ "{\"module\": \"api_server\"}", "`module` in logger is not supported by vmon", "a module filter" },
		{ "{\"log_file\": \"/x\"}", "unknown field `log_file` in logger; expected one of `log_path`, `level`, "
		  "`show_level`, `show_log_origin`, `module`", "an unknown field" },
	};
	CHECK(accepted(put(LOGGER, NULL, "{\"level\": \"Debug\"}")), "logger: Debug");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(REFUSED(put(LOGGER, NULL, bad[i].body), bad[i].words), "logger refused: %s", bad[i].name);

	CHECK(accepted(put(METRICS, NULL, "{\"metrics_path\": \"/tmp/m\"}")) && strcmp(cfg.metrics_path, "/tmp/m") == 0,
	      "metrics: metrics_path");
	CHECK(REFUSED(put(METRICS, NULL, "{}"), "missing field `metrics_path` in metrics; expected a string"),
	      "metrics: metrics_path is required");
	CHECK(REFUSED(put(METRICS, NULL, "{\"metrics_path\": true}"), "`metrics_path` in metrics must be a string, "
		      "not a boolean"), "metrics: a boolean path");
	CHECK(REFUSED(put(METRICS, NULL, "{\"metrics_path\": \"\"}"), "must not be empty"), "metrics: an empty path");
	CHECK(REFUSED(put(METRICS, NULL, "{\"metrics_path\": \"/m\", \"period\": 60}"), "unknown field `period` in "
		      "metrics; expected one of `metrics_path`"), "metrics: an unknown field");
}

/* A configuration with every field the API can set. */
static void configure_everything(void)
{
	reset();
	bool ok = accepted(put(BOOT, NULL, "{\"kernel_image_path\": \"/vmlinux\", \"initrd_path\": \"/initrd\", "
					   "\"boot_args\": \"console=ttyS0 \\\"quoted\\\" \\u00e9\"}")) &&
		  accepted(put(MACHINE, NULL, "{\"vcpu_count\": 4, \"mem_size_mib\": 1024, \"smt\": false}")) &&
		  accepted(put(DRIVE, "data", "{\"drive_id\": \"data\", \"path_on_host\": \"/data.img\", "
					      "\"is_root_device\": false, \"cache_type\": \"Writeback\"}")) &&
		  accepted(put(DRIVE, "scratch", drive("scratch", "/s.img", false))) &&
		  accepted(put(DRIVE, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/root.img\", "
						"\"is_root_device\": true, \"is_read_only\": true}")) &&
		  accepted(put(NIC, "eth0", nic("eth0", "tap0", "52:54:00:12:34:56"))) &&
		  accepted(put(NIC, "eth1", nic("eth1", "tap1", NULL))) &&
		  accepted(put(LOGGER, NULL, "{\"log_path\": \"/log\", \"level\": \"debug\", \"show_log_origin\": "
					     "true}")) &&
		  accepted(put(METRICS, NULL, "{\"metrics_path\": \"/metrics\"}"));
	CHECK(ok, "a configuration with every field");
}

/* load(text) into a fresh configuration, compared with cfg. */
static bool loads_back(const char *text)
{
	struct vm_config saved = cfg;
	vm_config_init(&cfg);
	bool ok = accepted(put(LOAD, NULL, text)) && same_config(&saved, &cfg);
	vm_config_free(&cfg);
	cfg = saved;
	return ok;
}

static void test_get_vm_config(void)
{
	configure_everything();
	json_t *doc = vm_json_get_vm_config(&cfg);
	const json_t *boot = json_object_get(doc, "boot-source"), *drives = json_object_get(doc, "drives");
	const json_t *nics = json_object_get(doc, "network-interfaces"), *d0 = json_array_get(drives, 0);
	CHECK(json_object_size(doc) == 6 && strcmp(json_string_value(json_object_get(boot, "kernel_image_path")),
						   "/vmlinux") == 0 &&
	      strcmp(json_string_value(json_object_get(boot, "initrd_path")), "/initrd") == 0 &&
	      json_is_string(json_object_get(boot, "boot_args")), "GET /vm/config: six sections; boot-source");
	CHECK(json_integer_value(json_object_get(json_object_get(doc, "machine-config"), "vcpu_count")) == 4,
	      "GET /vm/config: machine-config");
	CHECK(json_array_size(drives) == 3 && strcmp(json_string_value(json_object_get(d0, "drive_id")), "rootfs") == 0 &&
	      json_is_true(json_object_get(d0, "is_root_device")) && json_is_true(json_object_get(d0, "is_read_only")) &&
	      strcmp(json_string_value(json_object_get(d0, "cache_type")), "Unsafe") == 0 &&
	      strcmp(json_string_value(json_object_get(d0, "io_engine")), "Async") == 0 &&
	      strcmp(json_string_value(json_object_get(d0, "path_on_host")), "/root.img") == 0,
	      "GET /vm/config: drives, the root device first, io_engine Async");
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(drives, 1), "cache_type")), "Writeback") == 0,
	      "GET /vm/config: cache_type Writeback");
	CHECK(json_array_size(nics) == 2 &&
	      strcmp(json_string_value(json_object_get(json_array_get(nics, 0), "guest_mac")), "52:54:00:12:34:56") == 0 &&
	      strcmp(json_string_value(json_object_get(json_array_get(nics, 0), "host_dev_name")), "tap0") == 0 &&
	      !json_object_get(json_array_get(nics, 1), "guest_mac"), "GET /vm/config: network interfaces");
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(doc, "logger"), "level")), "Debug") == 0 &&
	      strcmp(json_string_value(json_object_get(json_object_get(doc, "metrics"), "metrics_path")), "/metrics") == 0,
	      "GET /vm/config: logger and metrics");

	char *text = json_dumps(doc, 0);
	CHECK(loads_back(text), "round trip: load(get(cfg)) is cfg, with every field");
	json_decref(doc);
	free(text);

	reset();
	CHECK(accepted(put(BOOT, NULL, "{\"kernel_image_path\": \"/k\"}")), "a kernel alone");
	doc = vm_json_get_vm_config(&cfg);
	boot = json_object_get(doc, "boot-source");
	CHECK(json_object_size(boot) == 1 && !json_object_get(doc, "logger") && !json_object_get(doc, "metrics") &&
	      json_array_size(json_object_get(doc, "drives")) == 0 &&
	      json_array_size(json_object_get(doc, "network-interfaces")) == 0,
	      "GET /vm/config: no initrd, boot_args, logger or metrics when they are not set");
	text = json_dumps(doc, 0);
	CHECK(loads_back(text), "round trip: the defaults");
	json_decref(doc);
	free(text);

	reset();
	doc = vm_json_get_vm_config(&cfg);
	CHECK(doc && !json_object_get(doc, "boot-source"), "GET /vm/config before a boot source: none shown");
	json_decref(doc);
}

/* A Firecracker --config-file, as its GET /vm/config writes one (nulls for what is not set). */
static const char firecracker_doc[] =
	"{\"balloon\": null, \"drives\": [{\"drive_id\": \"rootfs\", \"partuuid\": null, \"is_root_device\": true,"
	" \"cache_type\": \"Unsafe\", \"is_read_only\": false, \"path_on_host\": \"/rootfs.ext4\", \"io_engine\":"
	" \"Sync\", \"rate_limiter\": null, \"socket\": null}], \"boot-source\": {\"kernel_image_path\": \"/vmlinux\","
	" \"boot_args\": \"console=ttyS0 reboot=k panic=1\", \"initrd_path\": null}, \"cpu-config\": null,"
	" \"logger\": null, \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 1024, \"smt\": false,"
	" \"track_dirty_pages\": false, \"huge_pages\": \"None\"}, \"metrics\": null, \"mmds-config\": null,"
	" \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\":"
	" \"06:00:AC:10:00:02\", \"rx_rate_limiter\": null, \"tx_rate_limiter\": null}], \"vsock\": null,"
	" \"entropy\": null, \"pmem\": [], \"memory-hotplug\": null}";

static void test_load(void)
{
	reset();
	cfg.console = CONSOLE_VIRTIO;
	cfg.stats = true;
	CHECK(accepted(put(LOAD, NULL, firecracker_doc)) && strcmp(cfg.kernel_path, "/vmlinux") == 0 &&
	      !cfg.initrd_path && strcmp(cfg.cmdline, "console=ttyS0 reboot=k panic=1") == 0 && cfg.nr_cpus == 2 &&
	      cfg.mem_size == 1024ull << 20 && cfg.nr_disks == 1 && cfg.disks[0].root && cfg.nr_nics == 1 &&
	      cfg.nics[0].mac[0] == 0x06 && !cfg.logger.level && !cfg.metrics_path,
	      "--config-file: a document of Firecracker's, its empty sections as null");
	CHECK(cfg.disks[0].transport == TRANSPORT_MMIO && cfg.nics[0].transport == TRANSPORT_MMIO,
	      "--config-file: the drive and the interface on virtio-mmio, as Firecracker's");
	CHECK(cfg.console == CONSOLE_VIRTIO && cfg.stats, "--config-file: the console and --stats are kept");
	CHECK(accepted(put(LOAD, NULL, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}}")) &&
	      strcmp(cfg.kernel_path, "/k") == 0 && !cfg.cmdline && cfg.nr_cpus == 1 &&
	      cfg.mem_size == VM_DEFAULT_MEMORY && cfg.nr_disks == 0 && cfg.nr_nics == 0,
	      "--config-file: a boot source alone; the rest are the defaults, not what cfg had");

	configure_everything();
	static const struct { const char *doc, *words, *name; } bad[] = {
		{ "{}", "missing section `boot-source`; expected an object with `kernel_image_path`", "no boot source" },
		{ "{\"boot-source\": null}", "missing section `boot-source`", "a null boot source" },
		{ "{\"boot-source\": {}}", "missing field `kernel_image_path` in boot-source", "no kernel" },
		{ "{\"boot-source\": \"/k\"}", "boot-source must be a JSON object, not a string", "a string boot source" },
		{ "[]", "the configuration must be a JSON object, not an array", "not an object" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"machine\": {}}", "unknown section `machine`; "
		  "expected one of `boot-source`, `machine-config`, `drives`, `network-interfaces`, `logger`, `metrics`",
		  "an unknown section" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"balloon\": {\"amount_mib\": 0, "
		  "\"deflate_on_oom\": false}}", "section `balloon` is not supported by vmon", "a balloon" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"vsock\": {\"guest_cid\": 3, \"uds_path\": "
		  "\"/v\"}}", "section `vsock` is not supported by vmon", "a vsock" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"mmds-config\": {\"network_interfaces\": []}}",
		  "section `mmds-config` is not supported by vmon", "MMDS" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"entropy\": {}}", "section `entropy` is not "
		  "supported by vmon", "an entropy device (even with no field)" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"cpu-config\": {}}", "section `cpu-config` is not "
		  "supported", "a CPU configuration" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"pmem\": [{}]}", "section `pmem` is not supported",
		  "a pmem device" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"machine-config\": {\"vcpu_count\": 2}}",
		  "missing field `mem_size_mib` in machine-config", "machine-config is a whole PUT" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"drives\": {}}", "`drives` must be an array, not "
		  "an object", "drives as an object" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"drives\": [{\"drive_id\": \"a\", \"path_on_host\":"
		  " \"/a\", \"is_root_device\": false}, {\"drive_id\": \"b\", \"path_on_host\": \"/b\", "
		  "\"is_root_device\": \"no\"}]}", "`is_root_device` in drives[1] must be a boolean, not a string",
		  "the second drive is wrong: it is named by its index" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"drives\": [{\"drive_id\": \"a\", \"path_on_host\":"
		  " \"/a\", \"is_root_device\": true}, {\"drive_id\": \"b\", \"path_on_host\": \"/b\", "
		  "\"is_root_device\": true}]}", "drives[1] cannot be a second root device; a root device is already "
		  "configured: drive `a`", "two root devices" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"drives\": [1]}", "drives[0] must be a JSON "
		  "object, not an integer", "a drive that is a number" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"network-interfaces\": [{\"iface_id\": \"a\", "
		  "\"host_dev_name\": \"t\"}, {\"iface_id\": \"b\", \"host_dev_name\": \"t\"}]}", "`host_dev_name` \"t\" "
		  "in network-interfaces[1] is already in use by network interface `a`", "two interfaces on one TAP" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"network-interfaces\": null, \"logger\": "
		  "{\"level\": \"Loud\"}}", "`level` in logger must be one of", "a bad logger" },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"metrics\": {}}", "missing field `metrics_path` in "
		  "metrics", "metrics without a path" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(REFUSED(put(LOAD, NULL, bad[i].doc), bad[i].words), "--config-file refused: %s", bad[i].name);

	char nine[2048] = "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"drives\": [";
	for (int i = 0; i < 9; i++)
		snprintf(nine + strlen(nine), sizeof(nine) - strlen(nine), "%s{\"drive_id\": \"d%d\", \"path_on_host\": "
			 "\"/x\", \"is_root_device\": false}", i ? ", " : "", i);
	strcat(nine, "]}");
	CHECK(REFUSED(put(LOAD, NULL, nine), "cannot add drives[8]: vmon takes at most 8 drives"),
	      "--config-file refused: 9 drives");
}

/* Snapshot and migration bodies: they change no configuration, only answer with their fields. */
enum request_kind { SNAPSHOT_CREATE, SNAPSHOT_LOAD, MIGRATE };
static json_t *request_body; /* kept: the answers point into it */
static struct vm_json_snapshot snap;
static struct vm_json_migrate migration;

static int request(enum request_kind kind, const char *text)
{
	forget_fault();
	json_decref(request_body);
	request_body = parse(text);
	snap = (struct vm_json_snapshot){ 0 };
	migration = (struct vm_json_migrate){ 0 };
	switch (kind) {
	case SNAPSHOT_CREATE: return vm_json_snapshot_create(request_body, &snap, &fault);
	case SNAPSHOT_LOAD: return vm_json_snapshot_load(request_body, &snap, &fault);
	default: return vm_json_migrate(request_body, &migration, &fault);
	}
}

static bool snapshot_is(const char *state_path, const char *mem_path, bool resume_vm)
{
	return snap.state_path && strcmp(snap.state_path, state_path) == 0 && snap.mem_path &&
	       strcmp(snap.mem_path, mem_path) == 0 && snap.resume_vm == resume_vm;
}

struct bad_request {
	const char *body, *words, *name;
};

static void check_refusals(enum request_kind kind, const struct bad_request *bad, size_t count, const char *what)
{
	for (size_t i = 0; i < count; i++)
		CHECK(REFUSED(request(kind, bad[i].body), bad[i].words), "%s refused: %s", what, bad[i].name);
}

static void test_snapshot_create(void)
{
	reset();
	CHECK(accepted(request(SNAPSHOT_CREATE, "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}")) &&
	      snapshot_is("/s", "/m", false), "snapshot-create: the two files");
	CHECK(accepted(request(SNAPSHOT_CREATE, "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
						"\"snapshot_type\": \"Full\", \"version\": null}")) &&
	      snapshot_is("/s", "/m", false), "snapshot-create: snapshot_type Full, version null");
	static const struct bad_request bad[] = {
		{ "{\"mem_file_path\": \"/m\"}", "missing field `snapshot_path` in snapshot-create; expected a string",
		  "no snapshot_path" },
		{ "{\"snapshot_path\": \"/s\"}", "missing field `mem_file_path` in snapshot-create; expected a string",
		  "no mem_file_path" },
		{ "{\"snapshot_path\": \"\", \"mem_file_path\": \"/m\"}", "`snapshot_path` in snapshot-create must "
		  "not be empty", "an empty snapshot_path" },
		{ "{\"snapshot_path\": 5, \"mem_file_path\": \"/m\"}", "`snapshot_path` in snapshot-create must be a "
		  "string, not an integer", "a number for snapshot_path" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"snapshot_type\": \"Diff\"}",
		  "`snapshot_type` \"Diff\" in snapshot-create is not supported by vmon; only \"Full\"", "Diff" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"snapshot_type\": \"full\"}",
		  "`snapshot_type` in snapshot-create must be one of \"Full\", \"Diff\", not \"full\"",
		  "snapshot_type in the wrong case" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"version\": \"1.0.0\"}",
		  "`version` in snapshot-create is not supported by vmon; leave it out or null", "a version" },
		{ "{\"snapshot_path\": \"/s\", \"mem_path\": \"/m\"}", "unknown field `mem_path` in snapshot-create; "
		  "expected one of `snapshot_path`, `mem_file_path`, `snapshot_type`, `version`", "an unknown field" },
		{ "[]", "snapshot-create must be a JSON object, not an array", "not an object" },
	};
	check_refusals(SNAPSHOT_CREATE, bad, sizeof(bad) / sizeof(bad[0]), "snapshot-create");
}

static void test_snapshot_load(void)
{
	reset();
	CHECK(accepted(request(SNAPSHOT_LOAD, "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": "
					      "\"File\", \"backend_path\": \"/m\"}}")) && snapshot_is("/s", "/m", false),
	      "snapshot-load: mem_backend File; resume_vm false by default");
	CHECK(accepted(request(SNAPSHOT_LOAD, "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
					      "\"resume_vm\": true}")) && snapshot_is("/s", "/m", true),
	      "snapshot-load: the older mem_file_path; resume_vm true");
	CHECK(accepted(request(SNAPSHOT_LOAD, "{\"snapshot_path\": \"/s\", \"mem_backend\": null, \"mem_file_path\": "
					      "\"/m\", \"enable_diff_snapshots\": false, \"track_dirty_pages\": false, "
					      "\"resume_vm\": null}")) && snapshot_is("/s", "/m", false),
	      "snapshot-load: null mem_backend beside mem_file_path; diff snapshots and dirty tracking false");
	static const struct bad_request bad[] = {
		{ "{\"mem_file_path\": \"/m\"}", "missing field `snapshot_path` in snapshot-load; expected a string",
		  "no snapshot_path" },
		{ "{\"snapshot_path\": \"/s\"}", "missing field `mem_backend` in snapshot-load; expected an object with "
		  "`backend_type` \"File\" and `backend_path` (or the older `mem_file_path`)", "no memory file" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"mem_backend\": {\"backend_type\": "
		  "\"File\", \"backend_path\": \"/m\"}}", "snapshot-load takes `mem_backend` or the older "
		  "`mem_file_path`, not both", "both mem_backend and mem_file_path" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": "
		  "\"/uffd.sock\"}}", "`backend_type` \"Uffd\" in mem_backend is not supported by vmon; only \"File\"",
		  "a Uffd backend" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_path\": \"/m\"}}",
		  "missing field `backend_type` in mem_backend; expected a string", "mem_backend without backend_type" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"File\"}}",
		  "missing field `backend_path` in mem_backend; expected a string", "mem_backend without backend_path" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": "
		  "\"/m\", \"size\": 1}}", "unknown field `size` in mem_backend; expected one of `backend_type`, "
		  "`backend_path`", "mem_backend with an unknown field" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": \"/m\"}", "`mem_backend` in snapshot-load must be an "
		  "object, not a string", "mem_backend as a string" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"enable_diff_snapshots\": true}",
		  "`enable_diff_snapshots` true in snapshot-load is not supported by vmon; only false", "diff snapshots" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"track_dirty_pages\": true}",
		  "`track_dirty_pages` true in snapshot-load is not supported by vmon; only false", "dirty page tracking" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"resume_vm\": \"yes\"}",
		  "`resume_vm` in snapshot-load must be a boolean, not a string", "resume_vm as a string" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"\"}", "`mem_file_path` in snapshot-load must not "
		  "be empty", "an empty mem_file_path" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"network_overrides\": []}",
		  "unknown field `network_overrides` in snapshot-load", "network_overrides" },
	};
	check_refusals(SNAPSHOT_LOAD, bad, sizeof(bad) / sizeof(bad[0]), "snapshot-load");
}

static void test_migrate(void)
{
	reset();
	CHECK(accepted(request(MIGRATE, "{\"destination_url\": \"127.0.0.1:4444\"}")) &&
	      strcmp(migration.destination, "127.0.0.1:4444") == 0 &&
	      migration.max_downtime_ms == MIGRATE_DEFAULT_MAX_DOWNTIME_MS, "migrate: ADDR:PORT, the default downtime");
	CHECK(accepted(request(MIGRATE, "{\"destination_url\": \"tcp:[::1]:65535\", \"max_downtime_ms\": 1}")) &&
	      strcmp(migration.destination, "[::1]:65535") == 0 && migration.max_downtime_ms == 1,
	      "migrate: tcp:[IPv6]:PORT without its tcp:, 1 ms");
	CHECK(accepted(request(MIGRATE, "{\"destination_url\": \"dest.example:1\", \"max_downtime_ms\": 60000}")) &&
	      migration.max_downtime_ms == 60000, "migrate: a host name, port 1, 60000 ms");
	static const struct bad_request bad[] = {
		{ "{}", "missing field `destination_url` in migrate; expected a string", "no destination_url" },
		{ "{\"destination_url\": \"127.0.0.1\"}", "`destination_url` \"127.0.0.1\" in migrate must be ADDR:PORT "
		  "with a port from 1 to 65535", "no port" },
		{ "{\"destination_url\": \"127.0.0.1:0\"}", "must be ADDR:PORT with a port from 1 to 65535", "port 0" },
		{ "{\"destination_url\": \"127.0.0.1:65536\"}", "with a port from 1 to 65535", "port 65536" },
		{ "{\"destination_url\": \"127.0.0.1:44x\"}", "with a port from 1 to 65535", "a port with junk" },
		{ "{\"destination_url\": \":4444\"}", "`destination_url` \":4444\" in migrate has no address before "
		  ":PORT", "no address" },
		{ "{\"destination_url\": \"tcp:[]:4444\"}", "has no address before :PORT", "empty brackets" },
		{ "{\"destination_url\": \"::1:4444\"}", "must have its IPv6 address in brackets, as [::1]:4444",
		  "IPv6 without brackets" },
		{ "{\"destination_url\": \"[::1:4444\"}", "in brackets", "an unclosed bracket" },
		{ "{\"destination_url\": \"a b:4444\"}", "has a space or a control character in its address",
		  "a space in the address" },
		{ "{\"destination_url\": \"\"}", "must be ADDR:PORT", "an empty destination" },
		{ "{\"destination_url\": \"h:1\", \"max_downtime_ms\": 0}", "`max_downtime_ms` in migrate must be from 1 "
		  "to 60000, not 0", "0 ms" },
		{ "{\"destination_url\": \"h:1\", \"max_downtime_ms\": 60001}", "must be from 1 to 60000, not 60001",
		  "60001 ms" },
		{ "{\"destination_url\": \"h:1\", \"max_downtime_ms\": \"300\"}", "`max_downtime_ms` in migrate must be "
		  "an integer, not a string", "downtime as a string" },
		{ "{\"destination_url\": \"h:1\", \"destination\": \"h:2\"}", "unknown field `destination` in migrate; "
		  "expected one of `destination_url`, `max_downtime_ms`", "an unknown field" },
	};
	check_refusals(MIGRATE, bad, sizeof(bad) / sizeof(bad[0]), "migrate");
	json_decref(request_body);
	request_body = NULL;
}

int main(void)
{
	test_boot_source();
	test_machine_config();
	test_drive_fields();
	test_drive_order_and_limits();
	test_patch_drive();
	test_network_interfaces();
	test_logger_and_metrics();
	test_get_vm_config();
	test_load();
	test_snapshot_create();
	test_snapshot_load();
	test_migrate();
	reset();
	return tap_finish();
}

/*
 * libFuzzer target: the API's router and JSON layer (api_handle over a
 * fake VM), fed a sequence of requests. Input: requests separated by NUL
 * bytes, each "METHOD PATH\n" then its body, e.g.
 *   "PUT /boot-source\n{\"kernel_image_path\": \"/k\"}\0PUT /actions\n{...}"
 * (at most 32). PUT /logger and PUT /metrics are left out: they open the
 * files they name. The fake VM's snapshot load gives a configuration with
 * a drive; its snapshot calls fail for a state file starting with 'f', its
 * migration for a destination starting with 'f' (refused) or 'p' (-EPIPE).
 * Checked: every answer is 200 with a JSON body, 204 with none, or 400
 * with exactly {"fault_message": string}; only a 200 ends vmon; and, once
 * a kernel is set, the configuration GET /vm/config reports loads back
 * into the same document (what --config-file relies on).
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/vm_json.h"

#define MAX_REQUESTS 32
#define MAX_PATH     256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_ok(void *ctx) { (void)ctx; return 0; }
static int fake_start(void *ctx, const struct vm_config *cfg) { (void)ctx, (void)cfg; return 0; }
static int fake_replace(void *ctx, unsigned index, const char *path, const char **why)
{
	(void)ctx, (void)index, (void)path, (void)why;
	return 0;
}
static void fake_counters(void *ctx, struct machine_counters *out) { (void)ctx; *out = (struct machine_counters){ 0 }; }
static void fake_shutdown(void *ctx) { (void)ctx; }

static int fake_snapshot_create(void *ctx, const char *state_path, const char *mem_path)
{
	(void)ctx, (void)mem_path;
	return state_path[0] == 'f' ? -EIO : 0;
}

static int fake_snapshot_load(void *ctx, const char *state_path, const char *mem_path, bool resume,
			      struct vm_config *cfg)
{
	(void)ctx, (void)mem_path, (void)resume;
	if (vm_config_set_string(&cfg->kernel_path, "/snapshot-kernel") < 0 || state_path[0] == 'f')
		return -EIO;
	cfg->disks[0] = (struct disk_config){ .id = "root", .path = strdup("/snapshot.img"), .root = true,
					      .queues = 1, .transport = TRANSPORT_MMIO };
	cfg->nr_disks = cfg->disks[0].path ? 1 : 0;
	return 0;
}

static int fake_migrate(void *ctx, const char *destination, unsigned max_downtime_ms, struct migrate_stats *stats)
{
	(void)ctx;
	*stats = (struct migrate_stats){ .rounds = 1, .downtime_ms = max_downtime_ms };
	return destination[0] == 'f' ? -ECONNREFUSED : destination[0] == 'p' ? -EPIPE : 0;
}

static void check_answer(const struct api_response *r)
{
	json_t *doc = r->body ? json_loads(r->body, 0, NULL) : NULL;
	bool ok = !r->ends_vmon || r->status == 200;
	if (r->status == 204)
		ok = ok && !r->body;
	else if (r->status == 200)
		ok = ok && doc != NULL;
	else
		ok = ok && r->status == 400 && json_object_size(doc) == 1 &&
		     json_is_string(json_object_get(doc, "fault_message"));
	json_decref(doc);
	if (!ok)
		abort();
}

/*
 * GET /vm/config, loaded into a fresh configuration, must report the same
 * document (once there is a kernel: a file without one is refused).
 */
static void check_round_trip(const struct vm_config *cfg)
{
	if (!cfg->kernel_path)
		return;
	json_t *doc = vm_json_get_vm_config(cfg);
	struct vm_config again;
	vm_config_init(&again);
	char *fault = NULL;
	if (!doc || vm_json_load_vm_config(doc, &again, &fault) < 0) {
		fprintf(stderr, "round trip refused: %s\n", fault ? fault : "(no document)");
		abort();
	}
	json_t *doc2 = vm_json_get_vm_config(&again);
	if (!json_equal(doc, doc2))
		abort();
	json_decref(doc);
	json_decref(doc2);
	vm_config_free(&again);
}

static bool opens_files(const char *path)
{
	return strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0;
}

/* One "METHOD PATH\nBODY" record. */
static void run_record(struct api *api, const char *rec, size_t len)
{
	const char *nl = memchr(rec, '\n', len);
	size_t head = nl ? (size_t)(nl - rec) : len;
	const char *space = memchr(rec, ' ', head);
	if (!space || head >= MAX_PATH)
		return;
	char method[MAX_PATH], path[MAX_PATH];
	memcpy(method, rec, (size_t)(space - rec));
	method[space - rec] = 0;
	memcpy(path, space + 1, head - (size_t)(space - rec) - 1);
	path[head - (size_t)(space - rec) - 1] = 0;
	if (strlen(method) != (size_t)(space - rec) || opens_files(path))
		return; /* a NUL inside; or a file-opening call */
	const char *body = nl ? nl + 1 : rec + len;
	struct api_response r;
	api_handle(api, method, path, body, (size_t)(rec + len - body), &r);
	check_answer(&r);
	api_response_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_vm_ops ops = { .start = fake_start, .pause = fake_ok, .resume = fake_ok,
				  .ctrl_alt_del = fake_ok, .replace_disk = fake_replace,
				  .counters = fake_counters, .snapshot_create = fake_snapshot_create,
				  .snapshot_load = fake_snapshot_load, .migrate = fake_migrate,
				  .shutdown = fake_shutdown, .ctx = NULL };
	struct api api;
	api_init(&api, &ops, NULL);
	const char *p = (const char *)data, *end = p + size;
	for (unsigned n = 0; n < MAX_REQUESTS && p < end; n++) {
		const char *stop = memchr(p, 0, (size_t)(end - p));
		size_t len = stop ? (size_t)(stop - p) : (size_t)(end - p);
		run_record(&api, p, len);
		p += len + 1;
	}
	check_round_trip(&api.cfg);
	api_destroy(&api);
	return 0;
}

/*
 * The API without HTTP: api_handle over a fake VM that records what it was
 * asked. Firecracker's sequence (configure, InstanceStart, pause, resume,
 * Ctrl-Alt-Del, drive swap, metrics), snapshots and migration, and every
 * call refused in the state it comes in, with its status and fault message.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "tap.h"
#include "util/log.h"

struct fake_vm {
	int starts, pauses, resumes, cads, replaces, snapshots, loads, migrations, shutdowns;
	int fail;                 /* the next call's result, then back to 0 */
	unsigned replaced_index;
	char replaced_path[256];
	char started_kernel[256];
	char state_path[256], mem_path[256];  /* of the last snapshot created or loaded */
	bool loaded_resume;
	char destination[256];
	unsigned max_downtime_ms;
	struct machine_counters counters;
};

static struct fake_vm fake;

static int take_fail(struct fake_vm *f)
{
	int ret = f->fail;
	f->fail = 0;
	return ret;
}

static int fake_start(void *ctx, const struct vm_config *cfg)
{
	struct fake_vm *f = ctx;
	f->starts++;
	snprintf(f->started_kernel, sizeof(f->started_kernel), "%s", cfg->kernel_path);
	return take_fail(f);
}

static int fake_pause(void *ctx)
{
	((struct fake_vm *)ctx)->pauses++;
	return take_fail(ctx);
}

static int fake_resume(void *ctx)
{
	((struct fake_vm *)ctx)->resumes++;
	return take_fail(ctx);
}

static int fake_cad(void *ctx)
{
	((struct fake_vm *)ctx)->cads++;
	return take_fail(ctx);
}

static int fake_replace(void *ctx, unsigned index, const char *path, const char **why)
{
	struct fake_vm *f = ctx;
	f->replaces++;
	int ret = take_fail(f);
	if (ret < 0) {
		*why = "the fake refuses";
		return ret;
	}
	f->replaced_index = index;
	snprintf(f->replaced_path, sizeof(f->replaced_path), "%s", path);
	return 0;
}

static void fake_counters(void *ctx, struct machine_counters *out)
{
	*out = ((struct fake_vm *)ctx)->counters;
}

/* The next call's result; a failure is logged, as the real VM side logs why. */
static int take_logged_fail(struct fake_vm *f)
{
	int ret = take_fail(f);
	if (ret < 0)
		log_error("the fake's reason: %s", strerror(-ret));
	return ret;
}

static void record_files(struct fake_vm *f, const char *state_path, const char *mem_path)
{
	snprintf(f->state_path, sizeof(f->state_path), "%s", state_path);
	snprintf(f->mem_path, sizeof(f->mem_path), "%s", mem_path);
}

static int fake_snapshot_create(void *ctx, const char *state_path, const char *mem_path)
{
	struct fake_vm *f = ctx;
	f->snapshots++;
	record_files(f, state_path, mem_path);
	return take_logged_fail(f);
}

/* The snapshot's configuration: 3 vCPUs, 128 MiB, a root drive. Half of it even when failing. */
static int fake_snapshot_load(void *ctx, const char *state_path, const char *mem_path, bool resume,
			      struct vm_config *cfg)
{
	struct fake_vm *f = ctx;
	f->loads++;
	record_files(f, state_path, mem_path);
	f->loaded_resume = resume;
	vm_config_set_string(&cfg->kernel_path, "/snapshot-kernel");
	int ret = take_logged_fail(f);
	if (ret < 0)
		return ret;
	cfg->nr_cpus = 3;
	cfg->mem_size = 128ull << 20;
	cfg->disks[0] = (struct disk_config){ .id = "root", .path = strdup("/snapshot.img"), .root = true,
					      .queues = 1, .transport = TRANSPORT_MMIO };
	cfg->nr_disks = 1;
	return 0;
}

static int fake_migrate(void *ctx, const char *destination, unsigned max_downtime_ms, struct migrate_stats *stats)
{
	struct fake_vm *f = ctx;
	f->migrations++;
	snprintf(f->destination, sizeof(f->destination), "%s", destination);
	f->max_downtime_ms = max_downtime_ms;
	*stats = (struct migrate_stats){ .rounds = 3, .pages_sent = 100, .zero_pages = 900, .bytes_sent = 409700,
					 .total_ms = 40, .downtime_ms = 5, .last_round_pages = 2 };
	return take_logged_fail(f);
}

static void fake_shutdown(void *ctx)
{
	((struct fake_vm *)ctx)->shutdowns++;
}

static const struct api_vm_ops fake_ops = {
	.start = fake_start, .pause = fake_pause, .resume = fake_resume, .ctrl_alt_del = fake_cad,
	.replace_disk = fake_replace, .counters = fake_counters, .snapshot_create = fake_snapshot_create,
	.snapshot_load = fake_snapshot_load, .migrate = fake_migrate, .shutdown = fake_shutdown, .ctx = &fake,
};

static struct api api;
static char last_body[4096];
static bool last_ends_vmon;

/* One request; its status, with its body (or "") in last_body. */
static unsigned call(const char *method, const char *path, const char *body)
{
	struct api_response r;
	api_handle(&api, method, path, body, body ? strlen(body) : 0, &r);
	snprintf(last_body, sizeof(last_body), "%s", r.body ? r.body : "");
	last_ends_vmon = r.ends_vmon;
	api_response_free(&r);
	return r.status;
}

/* A 400 whose fault_message contains `words`. */
static bool fault_says(unsigned status, const char *words)
{
	json_t *doc = json_loads(last_body, 0, NULL);
	const char *msg = json_string_value(json_object_get(doc, "fault_message"));
	bool ok = status == 400 && msg && strstr(msg, words) && json_object_size(doc) == 1;
	if (!ok)
		printf("# status %u, body %s\n", status, last_body);
	json_decref(doc);
	return ok;
}

/* The string at `key` of last_body's object equals want. */
static bool body_field_is(const char *key, const char *want)
{
	json_t *doc = json_loads(last_body, 0, NULL);
	const char *got = json_string_value(json_object_get(doc, key));
	bool ok = got && strcmp(got, want) == 0;
	json_decref(doc);
	return ok;
}

static void start_api(void)
{
	fake = (struct fake_vm){ 0 };
	api_init(&api, &fake_ops, NULL);
}

static void test_requests_refused(void)
{
	start_api();
	CHECK(fault_says(call("GET", "/nothing", NULL), "Invalid request method and/or path: GET /nothing"),
	      "an unknown path: 400 naming method and path");
	CHECK(fault_says(call("DELETE", "/", NULL), "Invalid request method and/or path"), "an unknown method: 400");
	CHECK(fault_says(call("PUT", "/drives/", "{}"), "Invalid request"), "/drives/ without an id: 400");
	CHECK(fault_says(call("PUT", "/drives/a/b", "{}"), "Invalid request"), "/drives/a/b: 400");
	CHECK(fault_says(call("PUT", "/boot-source", "{\"kernel_image_path\": "), "not valid JSON"),
	      "malformed JSON: 400 'not valid JSON'");
	CHECK(fault_says(call("PUT", "/boot-source", ""), "not valid JSON"), "an empty body: 400");
	CHECK(fault_says(call("PUT", "/boot-source", "[1]"), "must be a JSON object"), "an array body: 400");
	CHECK(fault_says(call("PUT", "/boot-source", "{\"kernel_image_path\": \"a\", \"kernel_image_path\": \"b\"}"),
			 "not valid JSON"), "a duplicated key: 400");
	char *big = malloc(API_MAX_BODY + 2);
	memset(big, ' ', API_MAX_BODY + 1);
	big[0] = '{';
	big[API_MAX_BODY] = '}';
	big[API_MAX_BODY + 1] = 0;
	CHECK(fault_says(call("PUT", "/machine-config", big), "larger than the limit of 51200"),
	      "a body of 51201 bytes: 400");
	free(big);
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "PUT /boot-source first"),
	      "InstanceStart with no kernel: 400 saying what to do");
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"Reboot\"}"), "Unknown action_type 'Reboot'"),
	      "an unknown action: 400");
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": 3}"), "action_type"), "an action of the wrong type: 400");
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\", \"x\": 1}"), "action_type"),
	      "an action with an unknown field: 400");
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"),
			 "not supported before starting"), "SendCtrlAltDel before start: 400");
	CHECK(fault_says(call("PATCH", "/vm", "{\"state\": \"Paused\"}"), "not supported before starting"),
	      "PATCH /vm before start: 400");
	CHECK(fault_says(call("PATCH", "/vm", "{\"state\": \"Frozen\"}"), "Unknown state 'Frozen'"),
	      "an unknown state: 400");
	CHECK(fault_says(call("PATCH", "/drives/root", "{\"drive_id\": \"root\", \"path_on_host\": \"/x\"}"),
			 "not supported before starting"), "PATCH /drives before start: 400");
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}"), "before starting"),
	      "FlushMetrics before start: 400");
	CHECK(fault_says(call("PUT", "/metrics", "{\"metrics_path\": \"/nonexistent-dir/m\"}"), "Cannot open"),
	      "a metrics path that cannot be opened: 400");
	CHECK(fake.starts + fake.pauses + fake.cads + fake.replaces == 0, "the VM was never asked anything");
	CHECK(api.requests == 19 && api.faults == 19, "19 requests counted, 19 faults (%llu, %llu)",
	      (unsigned long long)api.requests, (unsigned long long)api.faults);
	api_destroy(&api);
}

static void configure_vm(void)
{
	CHECK(call("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"boot_args\": \"console=ttyS0\"}") == 204,
	      "PUT /boot-source: 204");
	CHECK(call("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 512}") == 204,
	      "PUT /machine-config: 204");
	CHECK(call("GET", "/machine-config", NULL) == 200 && strstr(last_body, "\"vcpu_count\":2") &&
	      strstr(last_body, "\"mem_size_mib\":512"), "GET /machine-config: 200 with what was put (%s)", last_body);
	CHECK(call("PUT", "/drives/root", "{\"drive_id\": \"root\", \"path_on_host\": \"/img\", "
					   "\"is_root_device\": true, \"is_read_only\": false}") == 204,
	      "PUT /drives/root: 204");
	CHECK(call("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}") == 204,
	      "PUT /network-interfaces/eth0: 204");
	CHECK(call("GET", "/", NULL) == 200 && body_field_is("state", "Not started") && body_field_is("app_name", "vmon") &&
	      body_field_is("id", "anonymous-instance") && body_field_is("vmm_version", VMON_VERSION),
	      "GET /: Not started, app_name vmon, id, vmm_version (%s)", last_body);
}

static void test_lifecycle(void)
{
	start_api();
	configure_vm();
	fake.fail = -EINVAL;
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "Cannot start the microVM") &&
	      call("GET", "/", NULL) == 200 && body_field_is("state", "Not started"),
	      "a start the VM side refuses: 400, still Not started");
	CHECK(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}") == 204 && fake.starts == 2 &&
	      strcmp(fake.started_kernel, "/k") == 0, "InstanceStart: 204, the VM built from the configuration");
	CHECK(call("GET", "/", NULL) == 200 && body_field_is("state", "Running"), "GET /: Running");

	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "not supported after starting"),
	      "InstanceStart twice: 400");
	CHECK(fault_says(call("PUT", "/boot-source", "{\"kernel_image_path\": \"/k2\"}"), "not supported after starting"),
	      "PUT /boot-source after start: 400");
	CHECK(fault_says(call("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 128}"),
			 "not supported after starting"), "PUT /machine-config after start: 400");
	CHECK(fault_says(call("PATCH", "/machine-config", "{\"vcpu_count\": 1}"), "not supported after starting"),
	      "PATCH /machine-config after start: 400");
	CHECK(fault_says(call("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"/d\", "
						   "\"is_root_device\": false}"), "not supported after starting"),
	      "PUT /drives after start: 400");
	CHECK(fault_says(call("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\"}"),
			 "not supported after starting"), "PUT /network-interfaces after start: 400");
	CHECK(fault_says(call("PUT", "/logger", "{\"level\": \"Info\"}"), "not supported after starting"),
	      "PUT /logger after start: 400");

	CHECK(call("PATCH", "/vm", "{\"state\": \"Paused\"}") == 204 && fake.pauses == 1 &&
	      call("GET", "/", NULL) == 200 && body_field_is("state", "Paused"), "PATCH /vm Paused: 204, GET /: Paused");
	CHECK(call("PATCH", "/vm", "{\"state\": \"Resumed\"}") == 204 && fake.resumes == 1 &&
	      call("GET", "/", NULL) == 200 && body_field_is("state", "Running"), "PATCH /vm Resumed: 204, Running");
	fake.fail = -EIO;
	CHECK(fault_says(call("PATCH", "/vm", "{\"state\": \"Paused\"}"), "Cannot pause") &&
	      call("GET", "/", NULL) == 200 && body_field_is("state", "Running"), "a pause that fails: 400, still Running");
	CHECK(fault_says(call("PATCH", "/vm", "{\"state\": \"Paused\", \"extra\": 1}"), "state"),
	      "PATCH /vm with an unknown field: 400");

	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}"), "PUT /metrics first"),
	      "FlushMetrics with no metrics file: 400");
	CHECK(fault_says(call("PUT", "/metrics", "{\"metrics_path\": \"/tmp/m\"}"), "not supported after starting"),
	      "PUT /metrics after start: 400");
	CHECK(call("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}") == 204 && fake.cads == 1,
	      "SendCtrlAltDel: 204, the keys pressed");
	fake.fail = -ENODEV;
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), strerror(ENODEV)),
	      "SendCtrlAltDel the VM cannot do: 400 with the reason");

	CHECK(call("PATCH", "/drives/root", "{\"drive_id\": \"root\", \"path_on_host\": \"/img2\"}") == 204 &&
	      fake.replaced_index == 0 && strcmp(fake.replaced_path, "/img2") == 0,
	      "PATCH /drives/root: 204, disk 0 now /img2");
	CHECK(call("GET", "/vm/config", NULL) == 200 && strstr(last_body, "\"/img2\""), "GET /vm/config shows /img2");
	fake.fail = -ENOENT;
	CHECK(fault_says(call("PATCH", "/drives/root", "{\"drive_id\": \"root\", \"path_on_host\": \"/gone\"}"),
			 "the fake refuses") && call("GET", "/vm/config", NULL) == 200 && strstr(last_body, "\"/img2\""),
	      "a swap the VM refuses: 400 with its reason, the path unchanged");
	CHECK(call("PATCH", "/drives/nosuch", "{\"drive_id\": \"nosuch\", \"path_on_host\": \"/x\"}") == 400 &&
	      fake.replaces == 2, "PATCH of a drive that does not exist: 400, the VM not asked");
	api_destroy(&api);
}

static void test_metrics(void)
{
	start_api();
	configure_vm();
	char path[] = "/tmp/vmon-test-metrics-XXXXXX";
	int fd = mkstemp(path);
	char body[128];
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", path);
	CHECK(fd >= 0 && call("PUT", "/metrics", body) == 204, "PUT /metrics: 204");
	CHECK(fault_says(call("PUT", "/metrics", body), "cannot be set twice"), "PUT /metrics again: 400");
	CHECK(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}") == 204, "started");
	fake.counters.exits[HV_EXIT_IO] = 10;
	fake.counters.nr_disks = 1;
	fake.counters.disks[0].bytes_read = 4096;
	fake.counters.nr_nics = 1;
	fake.counters.nics[0].tx_packets = 3;
	CHECK(call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}") == 204, "FlushMetrics: 204");
	fake.counters.exits[HV_EXIT_IO] = 25;
	CHECK(api_flush_metrics(&api) == 0, "a periodic flush: 0");

	FILE *f = fdopen(fd, "r");
	char line[2][4096] = { "", "" };
	bool two = f && fgets(line[0], sizeof(line[0]), f) && fgets(line[1], sizeof(line[1]), f);
	json_t *a = json_loads(line[0], 0, NULL), *b = json_loads(line[1], 0, NULL);
	CHECK(two && a && b, "two JSON lines in the metrics file");
	CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(a, "vcpu"), "exits"), "io")) == 10 &&
	      json_integer_value(json_object_get(json_object_get(json_object_get(b, "vcpu"), "exits"), "io")) == 15,
	      "vcpu.exits.io: 10, then the change since, 15");
	CHECK(json_integer_value(json_object_get(json_object_get(a, "block_root"), "read_bytes")) == 4096 &&
	      json_integer_value(json_object_get(json_object_get(b, "block_root"), "read_bytes")) == 0 &&
	      json_integer_value(json_object_get(json_object_get(a, "block"), "read_bytes")) == 4096,
	      "block_root.read_bytes 4096 then 0; the sum under block");
	CHECK(json_integer_value(json_object_get(json_object_get(a, "net_eth0"), "tx_packets_count")) == 3,
	      "net_eth0.tx_packets_count 3");
	CHECK(json_integer_value(json_object_get(json_object_get(a, "api_server"), "requests_count")) > 0 &&
	      json_integer_value(json_object_get(a, "utc_timestamp_ms")) > 1700000000000ll,
	      "api_server counts and a timestamp");
	json_decref(a);
	json_decref(b);
	if (f)
		fclose(f);
	unlink(path);
	api_destroy(&api);
}

/* A FIFO with no reader yet is a fine log or metrics path (Firecracker's documented flow). */
static void test_fifo_outputs(void)
{
	start_api();
	char dir[] = "/tmp/vmon-test-fifo-XXXXXX", log[64], metrics[64], body[160];
	bool made = mkdtemp(dir) != NULL;
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(metrics, sizeof(metrics), "%s/metrics", dir);
	made = made && mkfifo(log, 0600) == 0 && mkfifo(metrics, 0600) == 0;
	alarm(10); /* a hang is a failure */
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\", \"level\": \"Warning\"}", log);
	CHECK(made && call("PUT", "/logger", body) == 204, "PUT /logger on a FIFO nobody reads: 204 at once");
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", metrics);
	CHECK(call("PUT", "/metrics", body) == 204, "PUT /metrics on a FIFO nobody reads: 204 at once");
	for (int i = 0; i < 2000; i++)
		log_warn("a line for a FIFO nobody reads, number %d, until its buffer is full", i);
	CHECK(api_flush_metrics(&api) == 0 || api_flush_metrics(&api) == -EAGAIN,
	      "a metrics line to that FIFO: written or dropped, never waited on");
	alarm(0);
	struct log_target to_stderr = { .fd = -1, .enabled = true, .level = LOG_INFO };
	log_configure(&to_stderr);
	api_destroy(&api);
	unlink(log);
	unlink(metrics);
	rmdir(dir);
}

/* --config-file: a configuration from elsewhere, started as InstanceStart would. */
static void test_start_configured(void)
{
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *fault = NULL;
	start_api();
	CHECK(api_start_configured(&api, &cfg, &fault) == -EINVAL && fault && strstr(fault, "without a kernel") &&
	      fake.starts == 0, "a configuration without a kernel: refused, the VM not asked");
	free(fault);
	api_destroy(&api);

	api_init(&api, &fake_ops, "vm-7");
	vm_config_set_string(&cfg.kernel_path, "/from-file");
	CHECK(api_start_configured(&api, &cfg, &fault) == 0 && fake.starts == 1 &&
	      strcmp(fake.started_kernel, "/from-file") == 0 && !cfg.kernel_path,
	      "a configuration with a kernel: taken over (the caller's left empty) and started");
	CHECK(call("GET", "/", NULL) == 200 && body_field_is("state", "Running") && body_field_is("id", "vm-7"),
	      "GET /: Running, with the instance id given (%s)", last_body);
	vm_config_free(&cfg);
	api_destroy(&api);
}

static void test_logger(void)
{
	start_api();
	char path[] = "/tmp/vmon-test-log-XXXXXX";
	int fd = mkstemp(path);
	char body[256];
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\", \"level\": \"warning\", \"show_level\": true, "
				     "\"show_log_origin\": true}", path);
	CHECK(fd >= 0 && call("PUT", "/logger", body) == 204, "PUT /logger (level in any case): 204");
	log_warn("a warning for the log file");
	log_info("an info line below the level");
	FILE *f = fdopen(fd, "r");
	char line[512] = "";
	bool got = f && fgets(line, sizeof(line), f);
	line[strcspn(line, "\n")] = 0;
	CHECK(got && strstr(line, "[vmon:") && strstr(line, "[warning]") && strstr(line, "test_api.c:") &&
	      strstr(line, "a warning for the log file"), "the warning is in the file with level and origin (%s)", line);
	CHECK(!(f && fgets(line, sizeof(line), f)), "the info line is not");
	clearerr(f);
	CHECK(fault_says(call("PUT", "/logger", "{\"log_path\": \"/nonexistent-dir/log\"}"), "Cannot open"),
	      "a log path that cannot be opened: 400");
	log_warn("a forged\nvmon: error: line");
	line[0] = 0;
	CHECK(f && fgets(line, sizeof(line), f) && strstr(line, "a forged?vmon: error: line"),
	      "a newline inside a message cannot start a line of its own");
	if (f)
		fclose(f);
	struct log_target to_stderr = { .fd = -1, .enabled = true, .level = LOG_INFO };
	log_configure(&to_stderr);
	unlink(path);
	api_destroy(&api);
}

#define LOAD_BODY(resume) "{\"snapshot_path\": \"/s.state\", \"mem_backend\": {\"backend_type\": \"File\", " \
			  "\"backend_path\": \"/s.mem\"}, \"resume_vm\": " resume "}"
#define CREATE_BODY "{\"snapshot_path\": \"/new.state\", \"mem_file_path\": \"/new.mem\"}"

static bool state_is(const char *want)
{
	return call("GET", "/", NULL) == 200 && body_field_is("state", want);
}

/* A load, then every call on the VM it gives; the configuration is the snapshot's. */
static void test_snapshot_load(void)
{
	start_api();
	char metrics[] = "/tmp/vmon-test-snapshot-metrics-XXXXXX", body[128];
	int fd = mkstemp(metrics);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", metrics);
	CHECK(fd >= 0 && call("PUT", "/metrics", body) == 204, "PUT /metrics before a load: 204");
	CHECK(fault_says(call("PUT", "/snapshot/create", CREATE_BODY), "not supported before starting"),
	      "a snapshot before there is a VM: 400");
	CHECK(fault_says(call("PUT", "/snapshot/load", "{\"snapshot_path\": \"/s.state\"}"), "missing field "
			 "`mem_backend` in snapshot-load") && fake.loads == 0, "a load without a memory file: 400");
	CHECK(fault_says(call("PUT", "/snapshot/load", "{\"snapshot_path\": \"/s.state\", \"mem_file_path\": \"/m\", "
			      "\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"/m\"}}"), "not both"),
	      "a load with both mem_file_path and mem_backend: 400");
	CHECK(fault_says(call("PUT", "/snapshot/load", "{\"snapshot_path\": \"/s.state\", \"mem_backend\": "
			      "{\"backend_type\": \"Uffd\", \"backend_path\": \"/uffd\"}}"),
			 "`backend_type` \"Uffd\" in mem_backend is not supported by vmon"), "a Uffd load: 400");
	CHECK(fault_says(call("PUT", "/snapshot/load", "{\"snapshot_path\": \"/s.state\", \"mem_file_path\": \"/m\", "
			      "\"bogus\": 1}"), "unknown field `bogus` in snapshot-load") && fake.loads == 0,
	      "a load with an unknown field: 400, the VM not asked");

	fake.fail = -EBADMSG;
	CHECK(fault_says(call("PUT", "/snapshot/load", LOAD_BODY("true")), "Cannot load the snapshot: the fake's "
			 "reason: " ) && strstr(last_body, strerror(EBADMSG)) && state_is("Not started"),
	      "a load the VM side refuses: 400 with the reason it logged; still Not started");
	CHECK(call("GET", "/vm/config", NULL) == 200 && !strstr(last_body, "snapshot-kernel") &&
	      strstr(last_body, metrics), "after it the configuration has no machine, the metrics kept (%s)", last_body);
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "PUT /boot-source first"),
	      "nor a kernel for InstanceStart");

	CHECK(call("PUT", "/snapshot/load", LOAD_BODY("false")) == 204 && fake.loads == 2 && !fake.loaded_resume &&
	      strcmp(fake.state_path, "/s.state") == 0 && strcmp(fake.mem_path, "/s.mem") == 0,
	      "a load (resume_vm false): 204, the VM built from the files");
	CHECK(state_is("Paused"), "GET /: Paused");
	CHECK(call("GET", "/vm/config", NULL) == 200 && strstr(last_body, "\"kernel_image_path\":\"/snapshot-kernel\"") &&
	      strstr(last_body, "\"vcpu_count\":3") && strstr(last_body, "\"mem_size_mib\":128") &&
	      strstr(last_body, "\"drive_id\":\"root\"") && strstr(last_body, metrics),
	      "GET /vm/config: the snapshot's configuration, the metrics kept (%s)", last_body);
	CHECK(fault_says(call("PUT", "/snapshot/load", LOAD_BODY("true")), "not allowed after starting") &&
	      fake.loads == 2, "a second load: 400");
	CHECK(fault_says(call("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), "not supported after starting"),
	      "PUT /boot-source after a load: 400");

	CHECK(call("PUT", "/snapshot/create", CREATE_BODY) == 204 && fake.snapshots == 1 &&
	      strcmp(fake.state_path, "/new.state") == 0 && strcmp(fake.mem_path, "/new.mem") == 0 && state_is("Paused"),
	      "PUT /snapshot/create on the paused VM: 204, still Paused");
	fake.fail = -ENOSPC;
	CHECK(fault_says(call("PUT", "/snapshot/create", CREATE_BODY), "Cannot create the snapshot: the fake's reason: ") &&
	      strstr(last_body, strerror(ENOSPC)) && state_is("Paused"),
	      "a snapshot that fails: 400 with the reason logged, still Paused");
	fake.fail = -ENODEV;
	CHECK(fault_says(call("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), strerror(ENODEV)) &&
	      !strstr(last_body, "the fake's reason"), "a later failure that logged nothing: its errno, not an old reason");
	CHECK(fault_says(call("PUT", "/snapshot/create", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
			      "\"snapshot_type\": \"Diff\"}"), "not supported by vmon") && fake.snapshots == 2,
	      "a Diff snapshot: 400, the VM not asked");

	CHECK(call("PATCH", "/vm", "{\"state\": \"Resumed\"}") == 204 && fake.resumes == 1 && state_is("Running"),
	      "PATCH /vm Resumed after the load: Running");
	CHECK(fault_says(call("PUT", "/snapshot/create", CREATE_BODY), "PATCH /vm {\"state\": \"Paused\"} first") &&
	      fake.snapshots == 2, "a snapshot of a running VM: 400 saying to pause it first");
	CHECK(call("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}") == 204 && fake.cads == 2,
	      "SendCtrlAltDel after the load: 204");
	CHECK(call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}") == 204, "FlushMetrics after the load: 204");
	CHECK(call("PATCH", "/drives/root", "{\"drive_id\": \"root\", \"path_on_host\": \"/other.img\"}") == 204 &&
	      fake.replaced_index == 0 && strcmp(fake.replaced_path, "/other.img") == 0,
	      "PATCH /drives of the snapshot's drive: 204");
	CHECK(call("PATCH", "/vm", "{\"state\": \"Paused\"}") == 204 && state_is("Paused"), "PATCH /vm Paused: Paused");
	api_destroy(&api);
	unlink(metrics);
	close(fd);

	start_api();
	CHECK(call("PUT", "/snapshot/load", LOAD_BODY("true")) == 204 && fake.loaded_resume && state_is("Running"),
	      "a load with resume_vm true: Running");
	api_destroy(&api);
}

/* Firecracker's rule: no load once anything describes a machine; a refused call describes nothing. */
static void test_snapshot_load_after_configuration(void)
{
	static const char *const calls[][3] = {
		{ "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}" },
		{ "PATCH", "/machine-config", "{\"vcpu_count\": 1}" },
		{ "PUT", "/drives/root", "{\"drive_id\": \"root\", \"path_on_host\": \"/i\", \"is_root_device\": true}" },
		{ "PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}" },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		start_api();
		CHECK(call(calls[i][0], calls[i][1], calls[i][2]) == 204 &&
		      fault_says(call("PUT", "/snapshot/load", LOAD_BODY("true")), "not allowed after configuring "
				 "boot-specific resources") && fake.loads == 0 && state_is("Not started"),
		      "a load after %s %s: 400, the VM not asked", calls[i][0], calls[i][1]);
		api_destroy(&api);
	}
	start_api();
	CHECK(call("PUT", "/boot-source", "{}") == 400 && call("PUT", "/snapshot/load", LOAD_BODY("true")) == 204,
	      "a load after a refused PUT /boot-source: 204");
	api_destroy(&api);
}

static void test_migrate(void)
{
	const char *to = "{\"destination_url\": \"tcp:127.0.0.1:4444\"}";
	start_api();
	CHECK(fault_says(call("PUT", "/migrate", to), "not supported before starting") && fake.migrations == 0,
	      "PUT /migrate before start: 400");
	CHECK(fault_says(call("PUT", "/migrate", "{\"destination_url\": \"127.0.0.1\"}"), "`destination_url` "
			 "\"127.0.0.1\" in migrate must be ADDR:PORT"), "PUT /migrate without a port: 400");
	configure_vm();
	CHECK(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}") == 204, "started");

	fake.fail = -ECONNREFUSED;
	CHECK(fault_says(call("PUT", "/migrate", to), "Cannot migrate the microVM: the fake's reason: ") &&
	      strstr(last_body, strerror(ECONNREFUSED)) && !last_ends_vmon && state_is("Running") && fake.shutdowns == 0,
	      "a migration that fails: 400 with the reason logged; still Running, vmon stays");
	fake.fail = -EPIPE;
	CHECK(fault_says(call("PUT", "/migrate", to), "Whether the destination runs the microVM is unknown, so it "
			 "stays paused here") && !last_ends_vmon && state_is("Paused"),
	      "a migration whose end is unknown (-EPIPE): 400 saying so; Paused");
	CHECK(call("PUT", "/migrate", "{\"destination_url\": \"[::1]:4444\", \"max_downtime_ms\": 50}") == 200 &&
	      fake.migrations == 3 && strcmp(fake.destination, "[::1]:4444") == 0 && fake.max_downtime_ms == 50,
	      "a paused VM migrates: 200, to the destination with its downtime");
	json_t *doc = json_loads(last_body, 0, NULL);
	json_t *want = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "rounds", 3, "pages_sent", 100, "zero_pages", 900,
				 "bytes_sent", 409700, "total_ms", 40, "downtime_ms", 5);
	CHECK(json_equal(doc, want), "the answer: rounds, pages_sent, zero_pages, bytes_sent, total_ms, downtime_ms (%s)",
	      last_body);
	json_decref(doc);
	json_decref(want);
	CHECK(last_ends_vmon && fake.shutdowns == 0, "the answer ends vmon, once sent: not before");
	CHECK(state_is("Migrated") && call("GET", "/vm/config", NULL) == 200, "GET / says Migrated; GETs still answer");
	CHECK(fault_says(call("PATCH", "/vm", "{\"state\": \"Resumed\"}"), "migrated away: this vmon is ending") &&
	      fault_says(call("PUT", "/migrate", to), "migrated away") && fake.resumes == 0 && fake.migrations == 3,
	      "after it nothing acts on the VM here: no resume, no second migration");
	api_end(&api);
	CHECK(fake.shutdowns == 1, "api_end (the server, once the answer is sent): vmon asked to end");
	api_destroy(&api);

	start_api();
	configure_vm();
	call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
	CHECK(call("PUT", "/migrate", to) == 200 && strcmp(fake.destination, "127.0.0.1:4444") == 0 &&
	      fake.max_downtime_ms == MIGRATE_DEFAULT_MAX_DOWNTIME_MS,
	      "a running VM migrates to tcp:ADDR:PORT (without tcp:), the default downtime");
	api_destroy(&api);
}

static int build_fake(void *arg, struct vm_config *cfg)
{
	int *ret = arg;
	vm_config_set_string(&cfg->kernel_path, "/built");
	return *ret;
}

/* vmon restore and migrate-receive: a VM built elsewhere, the flags' metrics applied first. */
static void test_start_built(void)
{
	char metrics[] = "/tmp/vmon-test-built-metrics-XXXXXX";
	int fd = mkstemp(metrics), ret = -EIO;
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *fault = NULL;
	start_api();
	CHECK(api_start_built(&api, &cfg, build_fake, &ret, false, &fault) == -EIO && !fault && state_is("Not started") &&
	      call("GET", "/vm/config", NULL) == 200 && !strstr(last_body, "/built"),
	      "a build that fails: its -errno, no fault (it logged why), nothing kept");
	api_destroy(&api);
	start_api();
	vm_config_set_string(&cfg.metrics_path, metrics);
	ret = 0;
	CHECK(fd >= 0 && api_start_built(&api, &cfg, build_fake, &ret, true, &fault) == 0 && !cfg.metrics_path &&
	      state_is("Paused"), "a build (paused): 0, the caller's configuration taken, Paused");
	CHECK(call("GET", "/vm/config", NULL) == 200 && strstr(last_body, "/built") && strstr(last_body, metrics) &&
	      api_flush_metrics(&api) == 0, "its configuration: the built one, with the metrics given");
	api_destroy(&api);
	unlink(metrics);
	close(fd);
}

int main(void)
{
	test_requests_refused();
	test_lifecycle();
	test_metrics();
	test_fifo_outputs();
	test_start_configured();
	test_logger();
	test_snapshot_load();
	test_snapshot_load_after_configuration();
	test_migrate();
	test_start_built();
	return tap_finish();
}

#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/metrics.h"
#include "api/vm_json.h"
#include "util/log.h"

/* Firecracker's wording for calls the VM's state does not allow. */
#define AFTER_START "The requested operation is not supported after starting the microVM."
#define BEFORE_START "The requested operation is not supported before starting the microVM."

struct request {
	const char *method;
	const char *path;
	const char *id;      /* the {id} of /drives/{id} and /network-interfaces/{id} */
	json_t *body;        /* parsed, for PUT and PATCH */
};

typedef void handler_fn(struct api *api, const struct request *req, struct api_response *out);

static int api_flush_metrics_locked(struct api *api);

/* --- answers --- */

static void answer_json(struct api_response *out, unsigned status, json_t *body)
{
	out->status = status;
	out->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
}

/*
 * A fault may quote the request's path, which a client can fill with any
 * bytes; JSON strings must be UTF-8, so then anything beyond printable
 * ASCII becomes '?'.
 */
static void make_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void answer_fault_owned(struct api_response *out, char *message)
{
	json_t *text = message ? json_string(message) : json_string("out of memory");
	if (!text && message) {
		make_printable(message);
		text = json_string(message);
	}
	answer_json(out, 400, json_pack("{s:o}", "fault_message", text));
	free(message);
}

static void answer_fault(struct api_response *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void answer_fault(struct api_response *out, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	va_end(ap);
	answer_fault_owned(out, message);
}

static void answer_done(struct api_response *out)
{
	out->status = 204;
	out->body = NULL;
}

/* Why a VM-side call failed: the error it logged during this request, else its errno's text. */
static const char *vm_failure_reason(int ret)
{
	const char *logged = log_last_error();
	return *logged ? logged : strerror(-ret);
}

/* A VM-side call's result: 204, or a fault with the action and the reason. */
static void answer_vm_result(struct api_response *out, int ret, const char *action)
{
	if (ret == 0)
		answer_done(out);
	else
		answer_fault(out, "Cannot %s: %s.", action, vm_failure_reason(ret));
}

const char *api_state_name(enum api_vm_state s)
{
	switch (s) {
	case API_VM_RUNNING:
		return "Running";
	case API_VM_PAUSED:
		return "Paused";
	case API_VM_MIGRATED:
		return "Migrated";
	default:
		return "Not started";
	}
}

static bool started(const struct api *api)
{
	return api->state != API_VM_NOT_STARTED;
}

/* --- configuration before start --- */

/* A configuration call: only before start, then the parser's verdict. */
typedef int config_parser(const struct request *req, struct vm_config *cfg, char **fault);

static void configure(struct api *api, const struct request *req, struct api_response *out,
		      config_parser *parse)
{
	if (started(api)) {
		answer_fault(out, "%s", AFTER_START);
		return;
	}
	char *fault = NULL;
	if (parse(req, &api->cfg, &fault) < 0) {
		answer_fault_owned(out, fault);
		return;
	}
	api->machine_configured = true;
	answer_done(out);
}

static int parse_boot_source(const struct request *req, struct vm_config *cfg, char **fault)
{
	return vm_json_put_boot_source(req->body, cfg, fault);
}

static int parse_machine_config(const struct request *req, struct vm_config *cfg, char **fault)
{
	return vm_json_put_machine_config(req->body, strcmp(req->method, "PATCH") == 0, cfg, fault);
}

static int parse_drive(const struct request *req, struct vm_config *cfg, char **fault)
{
	return vm_json_put_drive(req->body, req->id, cfg, fault);
}

static int parse_network_interface(const struct request *req, struct vm_config *cfg, char **fault)
{
	return vm_json_put_network_interface(req->body, req->id, cfg, fault);
}

/* --- logger and metrics: their files opened now, so that a bad path is refused now --- */

/*
 * O_RDWR | O_NONBLOCK: a FIFO opens at once even with no reader yet, and is
 * never waited on (Firecracker opens its log and metrics FIFOs so); a file
 * that does not exist is created. The fd, or -1 with *fault.
 */
static int open_output(const char *path, char **fault)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0 && asprintf(fault, "Cannot open '%s': %s.", path, strerror(errno)) < 0)
		*fault = NULL;
	return fd;
}

/* "Error", "Warning", ... (any case, as Firecracker's); vm_json checked the word already. */
static struct log_target log_target_for(const struct logger_config *l, int fd)
{
	static const struct { const char *name; enum log_level level; } levels[] = {
		{ "error", LOG_ERROR }, { "warning", LOG_WARN }, { "warn", LOG_WARN },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG }, { "trace", LOG_DEBUG },
	};
	/* No level: the one in force (--verbose stays). */
	struct log_target t = { .fd = fd, .enabled = !l->level, .level = log_current_level(),
				.show_level = l->show_level, .show_origin = l->show_origin };
	for (size_t i = 0; l->level && i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(l->level, levels[i].name) == 0) {
			t.enabled = true;
			t.level = levels[i].level;
		}
	return t; /* "Off": enabled stays false */
}

/* vmon's log to where l says. NULL, or the fault (malloc'd). */
static char *apply_logger(const struct logger_config *l)
{
	char *fault = NULL;
	int fd = l->path ? open_output(l->path, &fault) : -1;
	if (l->path && fd < 0)
		return fault ? fault : strdup("out of memory");
	struct log_target t = log_target_for(l, fd);
	log_configure(&t);
	return NULL;
}

static bool logger_configured(const struct logger_config *l)
{
	return l->path || l->level || l->show_level || l->show_origin;
}

static void put_logger(struct api *api, const struct request *req, struct api_response *out)
{
	if (started(api)) {
		answer_fault(out, "%s", AFTER_START);
		return;
	}
	struct vm_config scratch;
	vm_config_init(&scratch);
	char *fault = NULL;
	if (vm_json_put_logger(req->body, &scratch, &fault) == 0)
		fault = apply_logger(&scratch.logger);
	if (fault) {
		answer_fault_owned(out, fault);
	} else {
		free(api->cfg.logger.path);
		free(api->cfg.logger.level);
		api->cfg.logger = scratch.logger;
		scratch.logger = (struct logger_config){ 0 };
		answer_done(out);
	}
	vm_config_free(&scratch);
}

/* Opens cfg.metrics_path for the lines. NULL, or the fault (malloc'd). */
static char *apply_metrics(struct api *api)
{
	char *fault = NULL;
	api->metrics_fd = open_output(api->cfg.metrics_path, &fault);
	return api->metrics_fd < 0 ? (fault ? fault : strdup("out of memory")) : NULL;
}

static void put_metrics(struct api *api, const struct request *req, struct api_response *out)
{
	if (started(api)) {
		answer_fault(out, "%s", AFTER_START);
		return;
	}
	if (api->metrics_fd >= 0) {
		answer_fault(out, "Metrics are already configured (to '%s'): they cannot be set twice.",
			     api->cfg.metrics_path);
		return;
	}
	char *old = api->cfg.metrics_path, *fault = NULL;
	api->cfg.metrics_path = NULL;
	if (vm_json_put_metrics(req->body, &api->cfg, &fault) == 0 && (fault = apply_metrics(api))) {
		free(api->cfg.metrics_path);
		api->cfg.metrics_path = NULL;
	}
	if (fault) {
		api->cfg.metrics_path = old;
		answer_fault_owned(out, fault);
	} else {
		free(old);
		answer_done(out);
	}
}

/* --- the running VM --- */

/*
 * The VM side builds and starts the VM the configuration names. 0; or
 * -EINVAL with *fault (malloc'd) when the call is not possible now; or
 * the VM side's -errno, which it logged the reason for.
 */
static int start_vm(struct api *api, char **fault)
{
	*fault = NULL;
	if (started(api) || !api->cfg.kernel_path) {
		*fault = strdup(started(api) ? AFTER_START :
				"Cannot start the microVM without a kernel: PUT /boot-source first.");
		return -EINVAL;
	}
	int ret = api->vm.start(api->vm.ctx, &api->cfg);
	if (ret == 0)
		api->state = API_VM_RUNNING;
	return ret;
}

static void instance_start(struct api *api, struct api_response *out)
{
	char *fault;
	int ret = start_vm(api, &fault);
	if (fault)
		answer_fault_owned(out, fault);
	else
		answer_vm_result(out, ret, "start the microVM");
}

static void send_ctrl_alt_del(struct api *api, struct api_response *out)
{
	if (!started(api)) {
		answer_fault(out, "%s", BEFORE_START);
		return;
	}
	answer_vm_result(out, api->vm.ctrl_alt_del(api->vm.ctx), "send Ctrl-Alt-Del");
}

static void flush_metrics(struct api *api, struct api_response *out)
{
	if (!started(api)) {
		answer_fault(out, "%s", BEFORE_START);
		return;
	}
	int ret = api_flush_metrics_locked(api);
	if (ret == -EINVAL)
		answer_fault(out, "Metrics are not configured: PUT /metrics first.");
	else
		answer_vm_result(out, ret, "write the metrics");
}

/* PUT /actions {"action_type": "InstanceStart" | "SendCtrlAltDel" | "FlushMetrics"}. */
static void put_actions(struct api *api, const struct request *req, struct api_response *out)
{
	const char *action = NULL;
	json_error_t err;
	if (json_unpack_ex(req->body, &err, JSON_STRICT, "{s:s}", "action_type", &action) < 0) {
		answer_fault(out, "The body must be {\"action_type\": \"InstanceStart\" | \"SendCtrlAltDel\" | "
				  "\"FlushMetrics\"}: %s.", err.text);
	} else if (strcmp(action, "InstanceStart") == 0) {
		instance_start(api, out);
	} else if (strcmp(action, "SendCtrlAltDel") == 0) {
		send_ctrl_alt_del(api, out);
	} else if (strcmp(action, "FlushMetrics") == 0) {
		flush_metrics(api, out);
	} else {
		answer_fault(out, "Unknown action_type '%s': use InstanceStart, SendCtrlAltDel or FlushMetrics.",
			     action);
	}
}

/* PATCH /vm {"state": "Paused" | "Resumed"}. */
static void patch_vm(struct api *api, const struct request *req, struct api_response *out)
{
	const char *state = NULL;
	json_error_t err;
	if (json_unpack_ex(req->body, &err, JSON_STRICT, "{s:s}", "state", &state) < 0) {
		answer_fault(out, "The body must be {\"state\": \"Paused\" | \"Resumed\"}: %s.", err.text);
		return;
	}
	bool pause = strcmp(state, "Paused") == 0;
	if (!pause && strcmp(state, "Resumed") != 0) {
		answer_fault(out, "Unknown state '%s': use Paused or Resumed.", state);
		return;
	}
	if (!started(api)) {
		answer_fault(out, "%s", BEFORE_START);
		return;
	}
	int ret = pause ? api->vm.pause(api->vm.ctx) : api->vm.resume(api->vm.ctx);
	if (ret == 0)
		api->state = pause ? API_VM_PAUSED : API_VM_RUNNING;
	answer_vm_result(out, ret, pause ? "pause the microVM" : "resume the microVM");
}

/* PATCH /drives/{id}: a new backing file for a running VM's drive. */
static void patch_drive(struct api *api, const struct request *req, struct api_response *out)
{
	if (!started(api)) {
		answer_fault(out, "%s", BEFORE_START);
		return;
	}
	unsigned index;
	const char *path, *why = NULL;
	char *fault = NULL;
	if (vm_json_patch_drive(req->body, req->id, &api->cfg, &index, &path, &fault) < 0) {
		answer_fault_owned(out, fault);
		return;
	}
	int ret = api->vm.replace_disk(api->vm.ctx, index, path, &why);
	if (ret < 0) {
		answer_fault(out, "Cannot use '%s' for drive %s: %s.", path, req->id, why ? why : strerror(-ret));
		return;
	}
	if (vm_config_set_string(&api->cfg.disks[index].path, path) < 0)
		log_warn("api: out of memory recording drive %s's new path", req->id);
	answer_done(out);
}

/* --- snapshots and migration --- */

static void put_snapshot_create(struct api *api, const struct request *req, struct api_response *out)
{
	struct vm_json_snapshot snap;
	char *fault = NULL;
	if (vm_json_snapshot_create(req->body, &snap, &fault) < 0)
		answer_fault_owned(out, fault);
	else if (api->state != API_VM_PAUSED)
		answer_fault(out, "%s", started(api) ? "A snapshot is taken of a paused microVM: PATCH /vm "
				  "{\"state\": \"Paused\"} first." : BEFORE_START);
	else
		answer_vm_result(out, api->vm.snapshot_create(api->vm.ctx, snap.state_path, snap.mem_path),
				 "create the snapshot");
}

/*
 * The VM from build on api->cfg: its machine part empty while build fills
 * it (the logger and metrics set aside), and empty again if build fails.
 */
static int build_vm(struct api *api, api_vm_builder *build, void *arg, bool paused)
{
	struct logger_config logger = api->cfg.logger;
	char *metrics_path = api->cfg.metrics_path;
	api->cfg.logger = (struct logger_config){ 0 };
	api->cfg.metrics_path = NULL;
	vm_config_free(&api->cfg);
	int ret = build(arg, &api->cfg);
	if (ret < 0)
		vm_config_free(&api->cfg);
	api->cfg.logger = logger;
	api->cfg.metrics_path = metrics_path;
	if (ret == 0)
		api->state = paused ? API_VM_PAUSED : API_VM_RUNNING;
	return ret;
}

struct snapshot_load {
	struct api *api;
	const struct vm_json_snapshot *snap;
};

static int build_from_snapshot(void *arg, struct vm_config *cfg)
{
	const struct snapshot_load *load = arg;
	const struct vm_json_snapshot *snap = load->snap;
	return load->api->vm.snapshot_load(load->api->vm.ctx, snap->state_path, snap->mem_path, snap->resume_vm, cfg);
}

/* Firecracker's rule: a snapshot is loaded by a fresh vmon, before anything describes a machine. */
static void put_snapshot_load(struct api *api, const struct request *req, struct api_response *out)
{
	struct vm_json_snapshot snap;
	char *fault = NULL;
	if (vm_json_snapshot_load(req->body, &snap, &fault) < 0) {
		answer_fault_owned(out, fault);
	} else if (started(api)) {
		answer_fault(out, "Loading a snapshot is not allowed after starting the microVM (or loading one): "
			     "start a fresh vmon.");
	} else if (api->machine_configured) {
		answer_fault(out, "Loading a snapshot is not allowed after configuring boot-specific resources "
			     "(boot source, machine configuration, drives, network interfaces): start a fresh vmon.");
	} else {
		struct snapshot_load load = { .api = api, .snap = &snap };
		answer_vm_result(out, build_vm(api, build_from_snapshot, &load, !snap.resume_vm),
				 "load the snapshot");
	}
}

static json_t *migrate_stats_json(const struct migrate_stats *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "rounds", (json_int_t)s->rounds, "pages_sent",
			 (json_int_t)s->pages_sent, "zero_pages", (json_int_t)s->zero_pages, "bytes_sent",
			 (json_int_t)s->bytes_sent, "total_ms", (json_int_t)s->total_ms, "downtime_ms",
			 (json_int_t)s->downtime_ms);
}

/*
 * PUT /migrate: 200 with the statistics, after which the VM runs at the
 * destination and this vmon ends. -EPIPE: the destination was told to run
 * the VM but never said it does; two running copies must never be, so it
 * stays paused here.
 */
static void put_migrate(struct api *api, const struct request *req, struct api_response *out)
{
	struct vm_json_migrate m;
	struct migrate_stats stats = { 0 };
	char *fault = NULL;
	if (vm_json_migrate(req->body, &m, &fault) < 0) {
		answer_fault_owned(out, fault);
		return;
	}
	if (!started(api)) {
		answer_fault(out, "%s", BEFORE_START);
		return;
	}
	int ret = api->vm.migrate(api->vm.ctx, m.destination, m.max_downtime_ms, &stats);
	if (ret == 0) {
		api->state = API_VM_MIGRATED;
		answer_json(out, 200, migrate_stats_json(&stats));
		out->ends_vmon = true;
	} else if (ret == -EPIPE) {
		api->state = API_VM_PAUSED;
		answer_fault(out, "Cannot finish the migration to %s: %s. Whether the destination runs the microVM is "
			     "unknown, so it stays paused here: resume it (PATCH /vm Resumed) only if the destination "
			     "does not run it.", m.destination, vm_failure_reason(ret));
	} else {
		answer_vm_result(out, ret, "migrate the microVM");
	}
}

/* --- reads --- */

static void get_info(struct api *api, const struct request *req, struct api_response *out)
{
	(void)req;
	answer_json(out, 200, json_pack("{s:s, s:s, s:s, s:s}", "id", api->instance_id,
					"state", api_state_name(api->state), "vmm_version", VMON_VERSION,
					"app_name", "vmon"));
}

static void get_machine_config(struct api *api, const struct request *req, struct api_response *out)
{
	(void)req;
	answer_json(out, 200, vm_json_get_machine_config(&api->cfg));
}

static void get_vm_config(struct api *api, const struct request *req, struct api_response *out)
{
	(void)req;
	answer_json(out, 200, vm_json_get_vm_config(&api->cfg));
}

/* --- routing --- */

/*
 * A route: the method, and the path exactly or (with_id) as "prefix{id}";
 * a handler, or for a configuration call only its parser (configure()).
 */
static const struct route {
	const char *method;
	const char *path;
	bool with_id;
	handler_fn *handler;
	config_parser *parse;
} routes[] = {
	{ "GET", "/", false, get_info, NULL },
	{ "GET", "/machine-config", false, get_machine_config, NULL },
	{ "PUT", "/machine-config", false, NULL, parse_machine_config },
	{ "PATCH", "/machine-config", false, NULL, parse_machine_config },
	{ "GET", "/vm/config", false, get_vm_config, NULL },
	{ "PUT", "/boot-source", false, NULL, parse_boot_source },
	{ "PUT", "/drives/", true, NULL, parse_drive },
	{ "PATCH", "/drives/", true, patch_drive, NULL },
	{ "PUT", "/network-interfaces/", true, NULL, parse_network_interface },
	{ "PUT", "/actions", false, put_actions, NULL },
	{ "PATCH", "/vm", false, patch_vm, NULL },
	{ "PUT", "/logger", false, put_logger, NULL },
	{ "PUT", "/metrics", false, put_metrics, NULL },
	{ "PUT", "/snapshot/create", false, put_snapshot_create, NULL },
	{ "PUT", "/snapshot/load", false, put_snapshot_load, NULL },
	{ "PUT", "/migrate", false, put_migrate, NULL },
};

/* The route for method and path, with *id pointing into path for "{id}" routes. */
static const struct route *find_route(const char *method, const char *path, const char **id)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		if (strcmp(r->method, method) != 0)
			continue;
		size_t n = strlen(r->path);
		if (!r->with_id && strcmp(r->path, path) == 0)
			return r;
		if (r->with_id && strncmp(r->path, path, n) == 0 && path[n] && !strchr(path + n, '/')) {
			*id = path + n;
			return r;
		}
	}
	return NULL;
}

static bool has_body(const char *method)
{
	return strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}

/* Parses a PUT or PATCH body; false after answering a fault. */
static bool parse_body(const char *body, size_t len, struct request *req, struct api_response *out)
{
	if (len > API_MAX_BODY) {
		answer_fault(out, "The request body is larger than the limit of %d bytes.", API_MAX_BODY);
		return false;
	}
	json_error_t err;
	req->body = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &err);
	if (!req->body) {
		answer_fault(out, "The request body is not valid JSON: %s (line %d, column %d).", err.text,
			     err.line, err.column);
		return false;
	}
	if (!json_is_object(req->body)) {
		answer_fault(out, "The request body must be a JSON object.");
		return false;
	}
	return true;
}

static void route(struct api *api, const char *method, const char *path, const char *body,
		  size_t len, struct api_response *out)
{
	struct request req = { .method = method, .path = path };
	const struct route *r = find_route(method, path, &req.id);
	if (!r)
		answer_fault(out, "Invalid request method and/or path: %s %s.", method, path);
	else if (api->state == API_VM_MIGRATED && strcmp(method, "GET") != 0)
		answer_fault(out, "The microVM was migrated away: this vmon is ending.");
	else if (has_body(method) && !parse_body(body, len, &req, out))
		; /* answered */
	else if (r->parse)
		configure(api, &req, out, r->parse);
	else
		r->handler(api, &req, out);
	json_decref(req.body);
}

void api_handle(struct api *api, const char *method, const char *path, const char *body, size_t len,
		struct api_response *out)
{
	*out = (struct api_response){ 0 };
	pthread_mutex_lock(&api->lock);
	log_clear_last_error();
	route(api, method, path, body, len, out);
	api->requests++;
	if (out->status >= 400) {
		api->faults++;
		char what[160]; /* the client's bytes, made safe for a log line */
		snprintf(what, sizeof(what), "%s %s", method, path);
		make_printable(what);
		log_info("api: %s: %u %s", what, out->status, out->body ? out->body : "");
	}
	pthread_mutex_unlock(&api->lock);
	if (out->status == 0) { /* only a failed allocation leaves it unset */
		out->status = 500;
		out->body = NULL;
	}
}

void api_response_free(struct api_response *r)
{
	free(r->body);
	r->body = NULL;
}

/* --- lifecycle and metrics --- */

void api_init(struct api *api, const struct api_vm_ops *vm, const char *instance_id)
{
	*api = (struct api){ .vm = *vm, .state = API_VM_NOT_STARTED, .metrics_fd = -1,
			     .instance_id = instance_id ? instance_id : "anonymous-instance" };
	pthread_mutex_init(&api->lock, NULL);
	vm_config_init(&api->cfg);
}

/* Takes cfg over (it is left empty) and applies its logger and metrics. 0, or -EINVAL with *fault. */
static int take_configuration(struct api *api, struct vm_config *cfg, char **fault)
{
	vm_config_free(&api->cfg);
	api->cfg = *cfg;
	vm_config_init(cfg);
	*fault = logger_configured(&api->cfg.logger) ? apply_logger(&api->cfg.logger) : NULL;
	if (!*fault && api->cfg.metrics_path)
		*fault = apply_metrics(api);
	return *fault ? -EINVAL : 0;
}

int api_start_configured(struct api *api, struct vm_config *cfg, char **fault)
{
	pthread_mutex_lock(&api->lock);
	int ret = take_configuration(api, cfg, fault);
	if (ret == 0)
		ret = start_vm(api, fault);
	pthread_mutex_unlock(&api->lock);
	return ret;
}

int api_start_built(struct api *api, struct vm_config *cfg, api_vm_builder *build, void *arg, bool paused,
		    char **fault)
{
	pthread_mutex_lock(&api->lock);
	int ret = take_configuration(api, cfg, fault);
	if (ret == 0)
		ret = build_vm(api, build, arg, paused);
	pthread_mutex_unlock(&api->lock);
	return ret;
}

void api_end(struct api *api)
{
	log_info("api: the VM runs elsewhere now: vmon ends");
	api->vm.shutdown(api->vm.ctx);
}

void api_destroy(struct api *api)
{
	if (api->metrics_fd >= 0)
		close(api->metrics_fd);
	vm_config_free(&api->cfg);
	pthread_mutex_destroy(&api->lock);
}

/* Caller holds api->lock. */
static int api_flush_metrics_locked(struct api *api)
{
	if (api->metrics_fd < 0)
		return -EINVAL;
	struct machine_counters now = { 0 };
	if (started(api))
		api->vm.counters(api->vm.ctx, &now);
	json_t *line = metrics_line(&api->cfg, &now, &api->last_flush, api->requests - api->flushed_requests,
				    api->faults - api->flushed_faults);
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	if (!text)
		return -ENOMEM;
	/* One write per line, never waited on: a full FIFO loses this line, not the next one's start. */
	size_t n = strlen(text);
	text[n] = '\n'; /* over the NUL: json_dumps' buffer has room for it */
	ssize_t written = write(api->metrics_fd, text, n + 1);
	int ret = written == (ssize_t)(n + 1) ? 0 : written < 0 ? -errno : -EAGAIN;
	free(text);
	if (ret == 0) {
		api->last_flush = now;
		api->flushed_requests = api->requests;
		api->flushed_faults = api->faults;
	}
	return ret;
}

int api_flush_metrics(struct api *api)
{
	/* A request stuck in the VM side (a hung disk) must not also hang vmon's way out. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	if (pthread_mutex_timedlock(&api->lock, &until) != 0)
		return -ETIMEDOUT;
	int ret = api_flush_metrics_locked(api);
	pthread_mutex_unlock(&api->lock);
	return ret;
}

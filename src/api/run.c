#include "api/run.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/server.h"
#include "migration/migrate.h"
#include "migration/snapshot.h"
#include "util/log.h"
#include "util/sys.h"
#include "vmm/machine.h"

/* Firecracker writes a metrics line every minute once metrics are configured. */
#define METRICS_PERIOD_S 60

/*
 * The machine behind the API, and how the main thread learns it started:
 * the API thread publishes `machine` (release) before it signals
 * started_fd; the main thread reads it (acquire) after.
 */
struct api_machine {
	struct machine *machine;
	int started_fd;           /* eventfd */
};

static struct machine *machine_of(void *ctx)
{
	return __atomic_load_n(&((struct api_machine *)ctx)->machine, __ATOMIC_ACQUIRE);
}

/* Hands a started machine to the main thread (machine_wait). 0, or -errno with m destroyed. */
static int publish(struct api_machine *am, struct machine *m)
{
	__atomic_store_n(&am->machine, m, __ATOMIC_RELEASE); /* before the main thread can look */
	uint64_t one = 1;
	if (write(am->started_fd, &one, sizeof(one)) == sizeof(one))
		return 0;
	int ret = -errno; /* the main thread would never wait for it: take it down */
	__atomic_store_n(&am->machine, NULL, __ATOMIC_RELEASE);
	machine_destroy(m);
	return ret;
}

static int vm_start(void *ctx, const struct vm_config *cfg)
{
	struct machine *m;
	int ret = machine_create(cfg, &m);
	if (ret == 0 && (ret = machine_start(m)) < 0)
		machine_destroy(m);
	return ret < 0 ? ret : publish(ctx, m);
}

static int vm_pause(void *ctx)
{
	return machine_pause(machine_of(ctx));
}

static int vm_resume(void *ctx)
{
	return machine_resume(machine_of(ctx));
}

static int vm_ctrl_alt_del(void *ctx)
{
	return machine_send_ctrl_alt_del(machine_of(ctx));
}

static int vm_replace_disk(void *ctx, unsigned index, const char *path, const char **why)
{
	return machine_replace_disk(machine_of(ctx), index, path, why);
}

static void vm_counters(void *ctx, struct machine_counters *out)
{
	machine_get_counters(machine_of(ctx), out);
}

static int vm_snapshot_create(void *ctx, const char *state_path, const char *mem_path)
{
	struct snapshot_stats st;
	int ret = snapshot_create(machine_of(ctx), state_path, mem_path, &st);
	if (ret == 0)
		log_info("snapshot: '%s' (%" PRIu64 " bytes), '%s' (%" PRIu64 " MiB of RAM, %" PRIu64
			 " MiB not zero) in %" PRIu64 " ms", state_path, st.state_bytes, mem_path,
			 st.memory_bytes >> 20, st.written_bytes >> 20, st.elapsed_us / 1000);
	return ret;
}

/* The restored machine's vCPU threads: running at once (resume), or once resumed. */
static int start_restored(struct machine *m, bool resume)
{
	int ret = machine_start(m);
	if (ret == 0 && resume)
		ret = machine_resume(m);
	return ret;
}

static int vm_snapshot_load(void *ctx, const char *state_path, const char *mem_path, bool resume,
			    struct vm_config *cfg)
{
	struct snapshot s;
	struct machine *m;
	int ret = snapshot_open(&s, state_path);
	if (ret < 0)
		return ret;
	*cfg = s.cfg; /* the machine's from now on (cfg was empty) */
	vm_config_init(&s.cfg);
	ret = snapshot_restore(&s, cfg, mem_path, &m);
	snapshot_close(&s);
	if (ret == 0 && (ret = start_restored(m, resume)) < 0)
		machine_destroy(m);
	return ret < 0 ? ret : publish(ctx, m);
}

static int vm_migrate(void *ctx, const char *destination, unsigned max_downtime_ms, struct migrate_stats *stats)
{
	return migrate_send(machine_of(ctx), destination, max_downtime_ms, stats);
}

static void vm_shutdown(void *ctx)
{
	machine_request_shutdown(machine_of(ctx));
}

/* Writes a metrics line every METRICS_PERIOD_S until told to stop. */
struct metrics_timer {
	struct api *api;
	pthread_t thread;
	pthread_mutex_t lock; /* protects stop */
	pthread_cond_t wake;  /* on CLOCK_MONOTONIC: setting the clock moves no line */
	bool stop;
};

static void *metrics_timer_thread(void *arg)
{
	struct metrics_timer *t = arg;
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += METRICS_PERIOD_S;
		if (pthread_cond_timedwait(&t->wake, &t->lock, &until) == ETIMEDOUT && !t->stop) {
			pthread_mutex_unlock(&t->lock);
			api_flush_metrics(t->api); /* -EINVAL until metrics are configured */
			pthread_mutex_lock(&t->lock);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static bool metrics_timer_start(struct metrics_timer *t, struct api *api)
{
	*t = (struct metrics_timer){ .api = api };
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&t->lock, NULL);
	if (pthread_create(&t->thread, NULL, metrics_timer_thread, t) != 0) {
		log_warn("api: no periodic metrics (cannot start a thread); FlushMetrics still works");
		return false;
	}
	pthread_setname_np(t->thread, "metrics");
	return true;
}

static void metrics_timer_stop(struct metrics_timer *t, bool running)
{
	if (running) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
}

/* Until the API starts the VM (true) or a stop signal comes (false). */
static bool wait_for_start(int started_fd, int signal_fd)
{
	struct pollfd fds[2] = { { .fd = started_fd, .events = POLLIN }, { .fd = signal_fd, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return false;
		if (fds[0].revents & POLLIN)
			return true;
		struct signalfd_siginfo si;
		if ((fds[1].revents & POLLIN) && read(signal_fd, &si, sizeof(si)) == sizeof(si)) {
			log_info("signal %u before the VM started: vmon ends", si.ssi_signo);
			return false;
		}
	}
}

/* The VM from a configuration file, started at once. */
static bool start_configured(struct api *api, struct vm_config *cfg)
{
	char *fault = NULL;
	int ret = api_start_configured(api, cfg, &fault);
	if (fault)
		log_error("%s", fault);
	free(fault);
	return ret == 0;
}

/* Where `vmon restore` and `vmon migrate-receive` get their VM (api_vm_builder's arg). */
struct vm_source {
	struct api_machine *am;
	const struct api_run_options *o;
	int signal_fd;
};

static int build_restored(void *arg, struct vm_config *cfg)
{
	const struct vm_source *src = arg;
	return vm_snapshot_load(src->am, src->o->restore_state_path, src->o->restore_mem_path,
				!src->o->restore_paused, cfg);
}

/* migrate_receive gives up when a stop signal comes (signal_fd readable). */
static int build_received(void *arg, struct vm_config *cfg)
{
	const struct vm_source *src = arg;
	struct machine *m;
	int ret = migrate_receive(src->o->migrate_listen, src->signal_fd, src->o->migrate_allowed, cfg, &m);
	return ret < 0 ? ret : publish(src->am, m);
}

/* The VM of a snapshot or of a migration, with the logger and metrics of o->cfg. */
static bool start_built(struct api *api, struct vm_source *src)
{
	struct vm_config none;
	vm_config_init(&none);
	char *fault = NULL;
	bool restore = !src->o->migrate_listen;
	int ret = api_start_built(api, src->o->cfg ? src->o->cfg : &none, restore ? build_restored : build_received,
				  src, restore && src->o->restore_paused, &fault);
	if (fault)
		log_error("%s", fault);
	free(fault);
	return ret == 0;
}

/* Whether a stop signal waits to be read (one that made a migration's wait give up). */
static bool stop_signal_pending(int signal_fd)
{
	struct pollfd p = { .fd = signal_fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* Waits for the VM, runs it to its end; the API, if any, serves meanwhile. */
static enum vmon_exit_status serve(struct api *api, struct api_machine *am, int signal_fd)
{
	struct metrics_timer timer;
	bool timer_running = metrics_timer_start(&timer, api);
	enum vmon_exit_status status = VMON_EXIT_POWEROFF;
	if (wait_for_start(am->started_fd, signal_fd))
		status = machine_wait(machine_of(am));
	metrics_timer_stop(&timer, timer_running);
	api_flush_metrics(api); /* the last counts, as Firecracker writes them at exit */
	return status;
}

/*
 * The VM the options name, then serving until it ends. A snapshot's or a
 * migration's VM comes before the API serves (nothing configures another
 * meanwhile), a configuration file's after.
 */
static enum vmon_exit_status start_and_serve(struct api *api, struct api_machine *am, const struct api_run_options *o,
					     struct api_server *server, int signal_fd)
{
	bool built = o->restore_state_path || o->migrate_listen;
	struct vm_source src = { .am = am, .o = o, .signal_fd = signal_fd };
	const char *why = NULL;
	if (built && !start_built(api, &src))
		return stop_signal_pending(signal_fd) ? VMON_EXIT_POWEROFF : VMON_EXIT_ERROR;
	if (o->sock_path && api_server_serve(server, api, &why) < 0) {
		log_error("--api-sock '%s': %s", o->sock_path, why);
		return VMON_EXIT_ERROR;
	}
	if (o->sock_path)
		log_info("api: serving on %s", o->sock_path);
	if (!built && o->cfg && !start_configured(api, o->cfg))
		return VMON_EXIT_ERROR;
	return serve(api, am, signal_fd);
}

static enum vmon_exit_status run_with(struct api *api, struct api_machine *am, const struct api_run_options *o,
				      int signal_fd)
{
	struct api_server server = { .listen_fd = -1 };
	const char *why = NULL;
	/* The socket before any VM: a path that cannot be one never costs a migrated VM its life. */
	if (o->sock_path && api_server_listen(&server, o->sock_path, &why) < 0) {
		log_error("--api-sock '%s': %s", o->sock_path, why);
		return VMON_EXIT_ERROR;
	}
	enum vmon_exit_status status = start_and_serve(api, am, o, &server, signal_fd);
	api_server_stop(&server); /* no request runs after this */
	return status;
}

enum vmon_exit_status api_run(const struct api_run_options *o)
{
	struct api_machine am = { .started_fd = eventfd(0, EFD_CLOEXEC) };
	int signal_fd = stop_signals_fd(); /* before any thread: they all inherit the mask */
	if (am.started_fd < 0 || signal_fd < 0) {
		log_error("cannot set up vmon's event and signal handling: %s",
			  strerror(signal_fd < 0 ? -signal_fd : errno));
		return VMON_EXIT_ERROR;
	}
	struct api_vm_ops ops = {
		.start = vm_start, .pause = vm_pause, .resume = vm_resume, .ctrl_alt_del = vm_ctrl_alt_del,
		.replace_disk = vm_replace_disk, .counters = vm_counters, .snapshot_create = vm_snapshot_create,
		.snapshot_load = vm_snapshot_load, .migrate = vm_migrate, .shutdown = vm_shutdown, .ctx = &am,
	};
	struct api api;
	api_init(&api, &ops, o->instance_id);
	enum vmon_exit_status status = run_with(&api, &am, o, signal_fd);
	machine_destroy(machine_of(&am));
	api_destroy(&api);
	close(signal_fd);
	close(am.started_fd);
	return status;
}

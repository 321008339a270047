#include "api/run.h"

#include <errno.h>
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

static int vm_start(void *ctx, const struct vm_config *cfg)
{
	struct api_machine *am = ctx;
	struct machine *m;
	int ret = machine_create(cfg, &m);
	if (ret == 0 && (ret = machine_start(m)) < 0)
		machine_destroy(m);
	if (ret < 0)
		return ret;
	__atomic_store_n(&am->machine, m, __ATOMIC_RELEASE); /* before the main thread can look */
	uint64_t one = 1;
	if (write(am->started_fd, &one, sizeof(one)) != sizeof(one)) {
		ret = -errno; /* the main thread would never wait for it: take it down */
		__atomic_store_n(&am->machine, NULL, __ATOMIC_RELEASE);
		machine_destroy(m);
		return ret;
	}
	return 0;
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

static enum vmon_exit_status run_with(struct api *api, struct api_machine *am, const struct api_run_options *o,
				      int signal_fd)
{
	struct api_server server = { .listen_fd = -1 };
	const char *why = NULL;
	if (o->sock_path && api_server_start(&server, o->sock_path, api, &why) < 0) {
		log_error("--api-sock '%s': %s", o->sock_path, why);
		return VMON_EXIT_ERROR;
	}
	if (o->sock_path)
		log_info("api: serving on %s", o->sock_path);
	enum vmon_exit_status status = VMON_EXIT_ERROR;
	if (!o->cfg || start_configured(api, o->cfg))
		status = serve(api, am, signal_fd);
	if (o->sock_path)
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
		.replace_disk = vm_replace_disk, .counters = vm_counters, .ctx = &am,
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

#include "api/run.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/server.h"
#include "util/log.h"
#include "vmm/machine.h"

/* Firecracker writes a metrics line every minute once metrics are configured. */
#define METRICS_PERIOD_S 60

/* The machine behind the API, and how the main thread learns it started. */
struct api_machine {
	struct machine *machine;  /* written once by start, before started_fd is signalled */
	int started_fd;           /* eventfd */
};

static int vm_start(void *ctx, const struct vm_config *cfg)
{
	struct api_machine *am = ctx;
	struct machine *m;
	int ret = machine_create(cfg, &m);
	if (ret == 0 && (ret = machine_start(m)) < 0)
		machine_destroy(m);
	if (ret < 0)
		return ret;
	am->machine = m;
	uint64_t one = 1;
	return write(am->started_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static int vm_pause(void *ctx)
{
	return machine_pause(((struct api_machine *)ctx)->machine);
}

static int vm_resume(void *ctx)
{
	return machine_resume(((struct api_machine *)ctx)->machine);
}

static int vm_ctrl_alt_del(void *ctx)
{
	return machine_send_ctrl_alt_del(((struct api_machine *)ctx)->machine);
}

static int vm_replace_disk(void *ctx, unsigned index, const char *path, const char **why)
{
	return machine_replace_disk(((struct api_machine *)ctx)->machine, index, path, why);
}

static void vm_counters(void *ctx, struct machine_counters *out)
{
	machine_get_counters(((struct api_machine *)ctx)->machine, out);
}

/* Writes a metrics line every METRICS_PERIOD_S until told to stop. */
struct metrics_timer {
	struct api *api;
	pthread_t thread;
	pthread_mutex_t lock; /* protects stop */
	pthread_cond_t wake;
	bool stop;
};

static void *metrics_timer_thread(void *arg)
{
	struct metrics_timer *t = arg;
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
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

static void metrics_timer_stop(struct metrics_timer *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
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

/* The threads vmon starts inherit this: stop signals arrive only through signalfds. */
static int block_stop_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* With the server running: wait for the VM, run it to its end. */
static enum vmon_exit_status serve(struct api *api, struct api_machine *am, int signal_fd)
{
	struct metrics_timer timer = { .api = api };
	pthread_mutex_init(&timer.lock, NULL);
	pthread_cond_init(&timer.wake, NULL);
	bool timer_running = pthread_create(&timer.thread, NULL, metrics_timer_thread, &timer) == 0;
	if (timer_running)
		pthread_setname_np(timer.thread, "metrics");
	else
		log_warn("api: no periodic metrics (cannot start a thread); FlushMetrics still works");

	enum vmon_exit_status status = VMON_EXIT_POWEROFF;
	if (wait_for_start(am->started_fd, signal_fd))
		status = machine_wait(am->machine);
	if (timer_running)
		metrics_timer_stop(&timer);
	pthread_cond_destroy(&timer.wake);
	pthread_mutex_destroy(&timer.lock);
	api_flush_metrics(api); /* the last counts, as Firecracker writes them at exit */
	return status;
}

enum vmon_exit_status api_run(const char *sock_path)
{
	struct api_machine am = { .started_fd = eventfd(0, EFD_CLOEXEC) };
	int signal_fd = block_stop_signals();
	if (am.started_fd < 0 || signal_fd < 0) {
		log_error("cannot set up vmon's event and signal handling: %s", strerror(errno));
		return VMON_EXIT_ERROR;
	}
	struct api_vm_ops ops = {
		.start = vm_start, .pause = vm_pause, .resume = vm_resume, .ctrl_alt_del = vm_ctrl_alt_del,
		.replace_disk = vm_replace_disk, .counters = vm_counters, .ctx = &am,
	};
	struct api api;
	api_init(&api, &ops);
	struct api_server server;
	const char *why = NULL;
	enum vmon_exit_status status = VMON_EXIT_ERROR;
	if (api_server_start(&server, sock_path, &api, &why) < 0) {
		log_error("--api-sock '%s': %s", sock_path, why);
	} else {
		log_info("api: serving on %s", sock_path);
		status = serve(&api, &am, signal_fd);
		api_server_stop(&server); /* no request runs after this */
	}
	machine_destroy(am.machine);
	api_destroy(&api);
	close(signal_fd);
	close(am.started_fd);
	return status;
}

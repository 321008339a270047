#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/thread.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void on_kick(int sig)
{
	(void)sig; /* its only job is to make KVM_RUN return -EINTR */
}

int vcpu_install_kick_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: KVM_RUN must return */
	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) == 0 ? 0 : -errno;
}

void vcpu_gate_init(struct vcpu_gate *gate)
{
	atomic_init(&gate->stopping, false);
	atomic_init(&gate->paused, false);
	pthread_mutex_init(&gate->lock, NULL);
	pthread_cond_init(&gate->changed, NULL);
	gate->parked = 0;
}

void vcpu_gate_destroy(struct vcpu_gate *gate)
{
	pthread_cond_destroy(&gate->changed);
	pthread_mutex_destroy(&gate->lock);
}

/* Makes a running vCPU leave KVM_RUN soon (or not enter it). Caller holds gate->lock. */
static void kick_locked(struct vcpu *vcpu)
{
	if (!vcpu->running)
		return; /* never ran, or has left its loop: its thread may be gone */
	hv_vcpu_request_exit(vcpu->hv);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

static void count_exit(struct vcpu *vcpu, enum hv_exit_kind kind)
{
	uint64_t *c = &vcpu->exit_counts[kind];
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED); /* one writer: this thread */
}

/* An exit (or KVM_RUN's failure, ret < 0) dispatched; false when the VM must stop. */
static bool handle_exit(struct vcpu *vcpu, int ret, struct hv_exit *exit)
{
	if (ret < 0) {
		log_error("vCPU %u: KVM_RUN failed: %s", hv_vcpu_index(vcpu->hv), strerror(-ret));
		vm_request_stop(vcpu->control, VM_STOP_ERROR);
		return false;
	}
	count_exit(vcpu, exit->kind);
	struct exit_verdict v = exit_dispatch(&vcpu->exits, exit);
	if (v.dump_registers)
		hv_vcpu_dump(vcpu->hv, stderr);
	if (v.stop)
		vm_request_stop(vcpu->control, v.reason);
	return !v.stop;
}

/*
 * Before parking: the instruction the last exit stopped in is finished,
 * so that the state a snapshot saves is between two instructions (an IN
 * whose value vmon gave, run again from a restore, would read again).
 * False when the VM must stop.
 */
static bool finish_instruction(struct vcpu *vcpu)
{
	for (;;) {
		struct hv_exit exit;
		int ret = hv_vcpu_finish_instruction(vcpu->hv, &exit);
		if (ret == 0 && exit.kind == HV_EXIT_INTERRUPTED)
			return true;
		if (!handle_exit(vcpu, ret, &exit))
			return false;
	}
}

/* Waits while the machine is paused; false once the VM ends. */
static bool pass_gate(struct vcpu *vcpu)
{
	struct vcpu_gate *gate = vcpu->gate;
	if (atomic_load(&gate->paused) && !atomic_load(&gate->stopping)) {
		if (!finish_instruction(vcpu))
			return false;
		pthread_mutex_lock(&gate->lock);
		gate->parked++;
		pthread_cond_broadcast(&gate->changed);
		while (atomic_load(&gate->paused) && !atomic_load(&gate->stopping))
			pthread_cond_wait(&gate->changed, &gate->lock);
		gate->parked--;
		pthread_mutex_unlock(&gate->lock);
	}
	return !atomic_load(&gate->stopping);
}

static void leave_gate(struct vcpu *vcpu)
{
	pthread_mutex_lock(&vcpu->gate->lock);
	vcpu->running = false;
	pthread_cond_broadcast(&vcpu->gate->changed);
	pthread_mutex_unlock(&vcpu->gate->lock);
}

/* One KVM_RUN and its exit; false when the VM must stop. */
static bool run_once(struct vcpu *vcpu)
{
	struct hv_exit exit;
	int ret = hv_vcpu_run(vcpu->hv, &exit);
	return handle_exit(vcpu, ret, &exit);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL); /* a kick before this waits, pending */

	while (pass_gate(vcpu) && run_once(vcpu))
		;
	leave_gate(vcpu);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	/* Under the lock: nobody kicks the thread before `thread` is set. */
	pthread_mutex_lock(&vcpu->gate->lock);
	/* Every asynchronous signal blocked; the thread unblocks its kick itself. */
	int ret = thread_start_io(&vcpu->thread, vcpu_thread, vcpu);
	vcpu->running = ret == 0;
	pthread_mutex_unlock(&vcpu->gate->lock);
	if (ret < 0)
		return ret;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", hv_vcpu_index(vcpu->hv));
	pthread_setname_np(vcpu->thread, name);
	vcpu->started = true;
	return 0;
}

static unsigned count_running(const struct vcpu *vcpus, unsigned n)
{
	unsigned running = 0;
	for (unsigned i = 0; i < n; i++)
		running += vcpus[i].running;
	return running;
}

void vcpu_gate_pause(struct vcpu_gate *gate, struct vcpu *vcpus, unsigned n)
{
	pthread_mutex_lock(&gate->lock);
	atomic_store(&gate->paused, true);
	for (unsigned i = 0; i < n; i++)
		kick_locked(&vcpus[i]);
	while (gate->parked < count_running(vcpus, n))
		pthread_cond_wait(&gate->changed, &gate->lock);
	pthread_mutex_unlock(&gate->lock);
}

void vcpu_gate_resume(struct vcpu_gate *gate)
{
	pthread_mutex_lock(&gate->lock);
	atomic_store(&gate->paused, false);
	pthread_cond_broadcast(&gate->changed);
	pthread_mutex_unlock(&gate->lock);
}

void vcpus_stop(struct vcpu_gate *gate, struct vcpu *vcpus, unsigned n)
{
	pthread_mutex_lock(&gate->lock);
	atomic_store(&gate->stopping, true);
	pthread_cond_broadcast(&gate->changed); /* the parked ones */
	for (unsigned i = 0; i < n; i++)
		kick_locked(&vcpus[i]);           /* the running ones */
	pthread_mutex_unlock(&gate->lock);
	for (unsigned i = 0; i < n; i++) {
		if (vcpus[i].started)
			pthread_join(vcpus[i].thread, NULL);
		vcpus[i].started = false;
	}
}

uint64_t vcpu_exit_count(const struct vcpu *vcpu, unsigned kind)
{
	return kind < HV_EXIT_KIND_COUNT ? __atomic_load_n(&vcpu->exit_counts[kind], __ATOMIC_RELAXED) : 0;
}

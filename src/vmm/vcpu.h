/*
 * A vCPU thread: runs its vCPU and dispatches exits until the VM stops,
 * parking outside KVM_RUN while the machine is paused.
 */
#ifndef VMON_VMM_VCPU_H
#define VMON_VMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "hv/hv.h"
#include "vmm/exit.h"

/* What a machine tells its vCPU threads: run, park, or end. One per machine. */
struct vcpu_gate {
	atomic_bool stopping;    /* set once when the VM ends */
	atomic_bool paused;      /* vCPUs park; changed under `lock`, read without it between runs */
	/* Protects `parked` and each vCPU's `running`; `changed` waits on it. */
	pthread_mutex_t lock;
	pthread_cond_t changed;  /* paused or stopping changed, or a vCPU parked or left */
	unsigned parked;         /* vCPU threads waiting in the gate */
};

struct vcpu {
	struct hv_vcpu *hv;
	struct exit_context exits;
	const struct vm_control *control;
	struct vcpu_gate *gate;

	pthread_t thread;
	bool started;            /* only the thread that starts and joins it touches this */
	bool running;            /* under gate->lock: the thread is in its loop and can be kicked */
	/* Written only by the vCPU thread, as relaxed atomics: vcpu_exit_count reads them. */
	uint64_t exit_counts[HV_EXIT_KIND_COUNT];
};

/* Installs the (empty) signal handler used to kick vCPUs out of KVM_RUN. */
int vcpu_install_kick_handler(void);

void vcpu_gate_init(struct vcpu_gate *gate);
void vcpu_gate_destroy(struct vcpu_gate *gate);

/*
 * Starts the vCPU's thread from any thread: it takes no asynchronous signal
 * but the kick (the stop signals stay with the thread reading the signalfd).
 */
int vcpu_start(struct vcpu *vcpu);

/*
 * Parks the n vCPUs sharing `gate` outside KVM_RUN and returns once every
 * running one waits (vCPUs started later park at once). Idempotent.
 */
void vcpu_gate_pause(struct vcpu_gate *gate, struct vcpu *vcpus, unsigned n);
/* Lets parked vCPUs run again. Idempotent. */
void vcpu_gate_resume(struct vcpu_gate *gate);
/* Ends the n vCPU threads, parked or running, and joins them. */
void vcpus_stop(struct vcpu_gate *gate, struct vcpu *vcpus, unsigned n);

/* Exits of `kind` so far; any thread, while the vCPU runs. */
uint64_t vcpu_exit_count(const struct vcpu *vcpu, unsigned kind);

#endif

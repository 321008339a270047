/* A vCPU thread: runs its vCPU and dispatches exits until the VM stops. */
#ifndef VMON_VMM_VCPU_H
#define VMON_VMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "hv/hv.h"
#include "vmm/exit.h"

struct vcpu {
	struct hv_vcpu *hv;
	struct exit_context exits;
	const struct vm_control *control;
	const atomic_bool *stopping; /* set once by the machine when the VM ends */

	pthread_t thread;
	bool started;
	/* Written only by the vCPU thread; read after vcpu_join. */
	uint64_t exit_counts[HV_EXIT_KIND_COUNT];
};

/* Installs the (empty) signal handler used to kick vCPUs out of KVM_RUN. */
int vcpu_install_kick_handler(void);

int vcpu_start(struct vcpu *vcpu);
/* Makes the vCPU leave KVM_RUN soon; it then sees *stopping. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

#endif

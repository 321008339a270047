#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

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

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	unsigned index = hv_vcpu_index(vcpu->hv);

	while (!atomic_load(vcpu->stopping)) {
		struct hv_exit exit;
		int ret = hv_vcpu_run(vcpu->hv, &exit);
		if (ret < 0) {
			log_error("vCPU %u: KVM_RUN failed: %s", index, strerror(-ret));
			vm_request_stop(vcpu->control, VM_STOP_ERROR);
			break;
		}
		vcpu->exit_counts[exit.kind]++;
		struct exit_verdict v = exit_dispatch(&vcpu->exits, &exit);
		if (v.dump_registers)
			hv_vcpu_dump(vcpu->hv, stderr);
		if (v.stop) {
			vm_request_stop(vcpu->control, v.reason);
			break;
		}
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret != 0)
		return -ret;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", hv_vcpu_index(vcpu->hv));
	pthread_setname_np(vcpu->thread, name);
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return; /* never ran, or failed half-way through creation */
	hv_vcpu_request_exit(vcpu->hv);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started)
		pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

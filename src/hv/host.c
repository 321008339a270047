/*
 * Which virtualization the host's KVM stands on.
 *
 * KVM's supported CPUID looks the same on every backend (the "KVMKVMKVM"
 * signature at 0x40000000 and no VMX/SVM bits for the guest), so the kind is
 * read from the loaded KVM vendor module and the host CPU's own flags.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hv/hv.h"

static bool module_loaded(const char *sys_module_dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", sys_module_dir, name);
	return access(path, F_OK) == 0;
}

/* True if the "flags" line of /proc/cpuinfo lists `flag` as a whole word. */
static bool cpu_has_flag(const char *cpuinfo_path, const char *flag)
{
	FILE *f = fopen(cpuinfo_path, "r");
	if (!f)
		return false;

	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "flags", 5) != 0 || !colon)
			continue;
		char *save = NULL;
		for (char *tok = strtok_r(colon + 1, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			found |= strcmp(tok, flag) == 0;
		break;
	}
	fclose(f);
	return found;
}

enum hv_host_kind hv_detect_host_kind(const char *sys_module_dir,
				      const char *cpuinfo_path)
{
	if (module_loaded(sys_module_dir, "kvm_pvm"))
		return HV_HOST_SOFTWARE;
	if (module_loaded(sys_module_dir, "kvm_intel") && cpu_has_flag(cpuinfo_path, "vmx"))
		return HV_HOST_VTX;
	if (module_loaded(sys_module_dir, "kvm_amd") && cpu_has_flag(cpuinfo_path, "svm"))
		return HV_HOST_SVM;
	return HV_HOST_UNKNOWN;
}

const char *hv_host_kind_name(enum hv_host_kind kind)
{
	switch (kind) {
	case HV_HOST_VTX:
		return "Intel VT-x";
	case HV_HOST_SVM:
		return "AMD-V (SVM)";
	case HV_HOST_SOFTWARE:
		return "software-only KVM (PVM)";
	default:
		return "unknown KVM backend";
	}
}

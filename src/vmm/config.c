#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vm_config_init(struct vm_config *cfg)
{
	*cfg = (struct vm_config){ .nr_cpus = 1, .mem_size = VM_DEFAULT_MEMORY };
}

void vm_config_free(struct vm_config *cfg)
{
	free(cfg->kernel_path);
	free(cfg->initrd_path);
	free(cfg->cmdline);
	free(cfg->logger.path);
	free(cfg->logger.level);
	free(cfg->metrics_path);
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		free(cfg->disks[i].path);
		free(cfg->disks[i].serial);
	}
	vm_config_init(cfg);
}

int vm_config_set_string(char **field, const char *value)
{
	char *copy = NULL;
	if (value && !(copy = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* Only disks[0] may be the root device: the guest names it /dev/vda. */
static bool root_disk_is_first(const struct vm_config *cfg)
{
	for (unsigned i = 1; i < cfg->nr_disks; i++)
		if (cfg->disks[i].root)
			return false;
	return true;
}

int vm_config_boot_cmdline(const struct vm_config *cfg, char **out)
{
	*out = NULL;
	if (!root_disk_is_first(cfg))
		return -EINVAL;
	const char *base = cfg->cmdline ? cfg->cmdline
			 : cfg->console == CONSOLE_VIRTIO ? VM_DEFAULT_CMDLINE_HVC : VM_DEFAULT_CMDLINE;
	const char *root = "";
	if (cfg->nr_disks > 0 && cfg->disks[0].root)
		root = cfg->disks[0].readonly ? " root=/dev/vda ro" : " root=/dev/vda rw";
	if (asprintf(out, "%s%s", base, root) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

#include "vmm/config.h"

#include <errno.h>
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

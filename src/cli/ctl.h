/*
 * `vmon ctl --api-sock PATH ACTION` and `vmon snapshot`: the API for
 * people at a terminal. pause, resume and ctrl-alt-del print nothing on
 * success; info, config and migrate print the JSON answer, indented. A
 * fault prints its message; exit 1.
 */
#ifndef VMON_CLI_CTL_H
#define VMON_CLI_CTL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether name is one of the actions (pause, resume, info, config, ctrl-alt-del, migrate). */
bool ctl_action_known(const char *name);
/* "pause, resume, info, config, ctrl-alt-del or migrate", for a message. */
void ctl_action_names(char *buf, size_t size);

/* ctl migrate's options. */
struct ctl_migrate {
	const char *to;            /* --to ADDR:PORT */
	unsigned max_downtime_ms;  /* --max-downtime-ms; 0: the API's default */
};

/* 0 on success, 1 (after one line on stderr) otherwise. */
int ctl_run(const char *sock_path, const char *action, const struct ctl_migrate *migrate);

/*
 * `vmon snapshot`: pauses the VM if it runs, snapshots it into the two
 * files, resumes it if it ran; one line on stdout says where. 0, or 1
 * after saying why on stderr.
 */
int ctl_snapshot(const char *sock_path, const char *state_path, const char *mem_path);

#endif

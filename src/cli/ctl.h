/*
 * `vmon ctl --api-sock PATH ACTION`: the API for people at a terminal.
 * pause, resume and ctrl-alt-del print nothing on success; info and config
 * print the JSON answer, indented. A fault prints its message; exit 1.
 */
#ifndef VMON_CLI_CTL_H
#define VMON_CLI_CTL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether name is one of the actions (pause, resume, info, config, ctrl-alt-del). */
bool ctl_action_known(const char *name);
/* "pause, resume, info, config or ctrl-alt-del", for a message. */
void ctl_action_names(char *buf, size_t size);

/* 0 on success, 1 (after one line on stderr) otherwise. */
int ctl_run(const char *sock_path, const char *action);

#endif

/*
 * `vmon ctl --api-sock PATH ACTION`: the API for people at a terminal.
 * pause, resume and ctrl-alt-del print nothing on success; info and config
 * print the JSON answer, indented. A fault prints its message; exit 1.
 */
#ifndef VMON_CLI_CTL_H
#define VMON_CLI_CTL_H

/* 0 on success, 1 (after one line on stderr) otherwise. */
int ctl_run(const char *sock_path, const char *action);

#endif

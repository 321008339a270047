/* Small helpers around system calls shared by the layers that make them. */
#ifndef VMON_UTIL_SYS_H
#define VMON_UTIL_SYS_H

/* ioctl(2), again after EINTR: its result, or -errno. */
int ioctl_retry(int fd, unsigned long req, void *arg);

/* Sets *why (when why is not NULL) to msg, a sentence for the user; returns err. */
int fail_why(const char **why, const char *msg, int err);

/*
 * Blocks the signals that end vmon politely (SIGINT, SIGTERM, SIGHUP) in
 * the calling thread, and so in the threads it starts later, and returns a
 * signalfd that reads them, or -errno.
 */
int stop_signals_fd(void);

#endif

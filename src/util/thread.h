#ifndef VMON_UTIL_THREAD_H
#define VMON_UTIL_THREAD_H

#include <pthread.h>

/*
 * Starts an I/O thread that takes no asynchronous signals (they belong to
 * the main thread, and a write to a closed pipe then fails with EPIPE),
 * while faults stay deliverable: a blocked SIGSEGV would kill the process
 * without running the handler that restores the terminal. 0 or -errno.
 */
int thread_start_io(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif

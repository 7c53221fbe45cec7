/* The master of the multi-process back-ends (prefork, hybrid): fork the
 * workers, replace any that dies, forward SIGINT/SIGTERM, wait for them. */
#ifndef FTPD_ARCH_SUPERVISOR_H
#define FTPD_ARCH_SUPERVISOR_H

#include "arch/limits.h"
#include "ftpd/arch.h"

/* Runs in a fresh worker process; returns its exit status. Signals are
 * blocked as main() left them; the master's signalfd is already closed, so
 * the worker makes its own (stop_signalfd()). */
typedef int (*worker_main)(const struct ftpd_server *srv, int index, void *arg);

/* Fork nworkers workers and supervise them until stopped; started(arg), if
 * not NULL, runs in the master once the first workers are forked. A worker that
 * dies is logged with its status and replaced (its limits slots freed, if
 * limits is not NULL). The first SIGINT/SIGTERM is forwarded as SIGTERM and
 * the master waits for its workers; a second one is forwarded too (workers
 * then stop at once), a third sends SIGKILL. Returns the
 * exit status for main(). */
int supervise(const struct ftpd_server *srv, int nworkers, worker_main fn, void *arg,
              struct conn_limits *limits, void (*started)(void *arg));

/* cfg->workers, or the number of online CPUs when it is 0. */
int worker_count(const struct ftpd_config *cfg);

#endif

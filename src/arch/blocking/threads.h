/* What thread and threadpool share: small-stack thread attributes, and the
 * main thread's side of a stop: it alone reads the process's control
 * events and fans a stop out to the session threads (stop_broadcast). */
#ifndef FTPD_ARCH_BLOCKING_THREADS_H
#define FTPD_ARCH_BLOCKING_THREADS_H

#include <pthread.h>
#include <stdbool.h>

#include "arch/common/events.h"

/* Explicit stack so thousands of session threads fit: sessions keep their
 * buffers on the heap, the deepest stack use is a few path buffers. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SESSION_THREAD_STACK (1024 * 1024)
#else
#define SESSION_THREAD_STACK (128 * 1024)
#endif

int thread_attr_init(pthread_attr_t *attr, bool detached);

/* Main thread: read the events until a stop; reload, upgrade and reopen
 * are reported as not supported yet. Returns when a stop (or an error)
 * arrived; events->fd must be readable or blocking is fine: it polls. */
void wait_for_stop(struct ctl_events *events);

/* Main thread, stopping: wait until done(arg) is true, reading the events;
 * a second stop returns at once (the process then exits, ending the
 * threads). Returns true when done. */
bool wait_for_drain(struct ctl_events *events, bool (*done)(void *arg), void *arg);

/* Main thread, after the accept loop: when a new generation took the
 * listeners over (live upgrade, events->handed_over) and no stop came,
 * wait until done(arg) (the sessions here ended) or a stop (the drain
 * timer, a signal), with the sessions left alone. Returns true when done;
 * false at once when there was no hand-over. */
bool wait_for_handover(struct ctl_events *events, bool (*done)(void *arg), void *arg);

/* Read the pending events without waiting; true if a stop or a drain was
 * among them. */
bool stop_pending(struct ctl_events *events);

#endif

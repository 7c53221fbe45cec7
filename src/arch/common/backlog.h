/* Saying no from the listen queue. In the patterns whose workers accept for
 * themselves (prefork, threadpool with dispatch = accept), nobody calls
 * accept() while every worker is busy: a new client would wait unanswered
 * in the kernel's listen queue. The pool's watcher (the prefork master, the
 * threadpool's main thread) samples the queues' length (TCP_INFO) and the
 * count of connections the workers took off them, and refuses with 421 the
 * connections that have waited longer than BACKLOG_WAIT_MS
 * (backlog_overdue in pool.h): a busy pool that frees a worker soon still
 * serves everyone, a full one says no within a second. */
#ifndef FTPD_ARCH_COMMON_BACKLOG_H
#define FTPD_ARCH_COMMON_BACKLOG_H

#include <stdatomic.h>

#include "arch/common/acceptor.h"
#include "arch/common/admission.h"
#include "arch/common/pool.h"

/* Longest wait in a listen queue before a 421, and how often to look:
 * together well under the one second a refused client may wait. */
#define BACKLOG_WAIT_MS 500
#define BACKLOG_TICK_MS 100

/* Connections waiting in the accept queues of these listeners. */
uint64_t listen_queue_length(const struct listener *l, int n);

struct backlog_guard {
    const struct listener *listeners;
    int nlisteners;
    struct acceptor *acc;  /* the watcher's own; its taken counter is *taken */
    atomic_ulong *taken;   /* shared with the workers' acceptors */
    struct admission *adm; /* refusals are counted there */
    const struct ftpd_config *cfg;
    struct backlog_watch watch;
};

/* Sample the queues; refuse (REFUSE_BUSY) the connections that waited too
 * long. Call every BACKLOG_TICK_MS while the pool is full; returns how many
 * were refused. */
int backlog_guard_tick(struct backlog_guard *g, int64_t now);

/* The pool is not full: forget the samples (a new full period starts
 * afresh). */
void backlog_guard_idle(struct backlog_guard *g);

#endif

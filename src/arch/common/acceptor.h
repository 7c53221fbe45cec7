/* accept() for every back-end, blocking or evented: the EMFILE/ENFILE guard
 * and its log lines, and a listener shut down on purpose told apart from an
 * error.
 *
 * Special problem: EMFILE on accept. The pending connection stays queued
 * and the listener stays readable, so a level-triggered loop would spin at
 * 100% CPU. The acceptor keeps one spare descriptor (/dev/null): on EMFILE
 * it closes it, accepts the pending connection, closes that, and takes the
 * spare back, so every wake-up makes progress (one connection dropped).
 * With no spare left to sacrifice (another thread holds the last fds) it
 * says ACCEPT_PAUSE and the caller stops accepting for ACCEPT_PAUSE_MS.
 * Logged once per burst, with the count dropped when it ends.
 *
 * Special problem: a listener shut down for a graceful stop
 * (net_stop_listening, by a master for all its workers) stays readable and
 * accept() fails with EINVAL: that is ACCEPT_CLOSED, an event, and the
 * caller stops watching that listener. */
#ifndef FTPD_ARCH_COMMON_ACCEPTOR_H
#define FTPD_ARCH_COMMON_ACCEPTOR_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "ftpd/net.h"

#define ACCEPT_PAUSE_MS 100

/* Shared by the threads of a pool (one spare for the process); its lock is
 * taken on the EMFILE path only. */
struct acceptor {
    int spare_fd;
    atomic_bool shortage; /* inside an EMFILE burst */
    atomic_ulong dropped; /* connections dropped in this burst */
    pthread_mutex_t lock;
    /* NULL, or a counter of the connections this acceptor took off the
     * listen queues (accepted or dropped), shared with whoever watches
     * those queues for connections waiting too long (backlog.h). */
    atomic_ulong *taken;
};

int acceptor_init(struct acceptor *a);
void acceptor_close(struct acceptor *a);

enum accept_result {
    ACCEPT_OK,      /* *fd is a new connection (non-blocking, cloexec) */
    ACCEPT_NONE,    /* nothing pending (another worker or thread won it) */
    ACCEPT_DROPPED, /* out of descriptors: one pending connection dropped */
    ACCEPT_PAUSE,   /* out of descriptors, no spare: wait ACCEPT_PAUSE_MS */
    ACCEPT_CLOSED,  /* the listener was shut down: stop watching it */
    ACCEPT_FAILED,  /* another error (logged); try again on readiness */
};

/* One accept4() on the non-blocking listener lfd. */
enum accept_result acceptor_take(struct acceptor *a, int lfd, int *fd, union sockaddr_any *peer);

/* The pull-style accept of the blocking patterns: one per accepting thread
 * or process, over the listeners and one event fd (signals or a stop
 * broadcast). */
struct accept_poll {
    struct acceptor *acc;
    struct pollfd pfd[FTPD_LISTEN_MAX + 1]; /* listeners, then the event fd */
    int nlisteners;
    int tick_ms; /* -1 (accept_poll_init): wait forever; else NEXT_TICK after that long */
};

void accept_poll_init(struct accept_poll *p, struct acceptor *acc, const struct listener *l, int n,
                      int event_fd);

enum accept_next {
    NEXT_CONN,  /* *fd, *peer: a new connection */
    NEXT_EVENT, /* the event fd is readable */
    NEXT_FAIL,  /* poll failed (logged) */
    NEXT_TICK,  /* tick_ms passed with nothing to do */
};

/* Wait for the next connection or event. */
enum accept_next acceptor_next(struct accept_poll *p, int *fd, union sockaddr_any *peer);

#endif

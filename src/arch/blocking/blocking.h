/* What the five blocking patterns share: the connection loop that serves
 * one session to its end on the calling thread or process, and how that
 * loop learns the server is stopping. */
#ifndef FTPD_ARCH_BLOCKING_BLOCKING_H
#define FTPD_ARCH_BLOCKING_BLOCKING_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/common/admission.h"
#include "arch/common/events.h"
#include "arch/common/prologue.h"
#include "ftpd/arch.h"

/* How a blocking loop learns the server is stopping: from its process's
 * control events (serial, a process child, a prefork worker: a first stop
 * is graceful, a second immediate), or from a broadcast fd that the thread
 * reading the events closes for every thread at once (thread, threadpool:
 * it stays readable; a second signal ends the process there). */
struct stop_state {
    int fd;                    /* poll it; -1: nothing to watch */
    struct ctl_events *events; /* NULL: fd is a broadcast */
    bool stopping;             /* graceful: finish the transfer, then 421 */
    bool hard;                 /* stop now */
    int64_t deadline;          /* clock_ms() when the grace runs out */
    int grace_ms;
    /* Listeners to stop (net_stop_listening) on the first notice: set only
     * by a process that owns them alone (serial). */
    const struct ftpd_server *owner;
    /* Called by stop_notice before anything else: fd may be a set that
     * also wakes for other reasons (the serial back-end's listeners while
     * it serves a session). NULL: none. */
    void (*on_notice)(void *arg);
    void *notice_arg;
};

void stop_init_events(struct stop_state *st, struct ctl_events *events, int grace_seconds);
void stop_init_broadcast(struct stop_state *st, int fd, int grace_seconds);
/* st->fd is readable: update the state. Reload, upgrade and reopen are
 * reported as not supported yet. */
void stop_notice(struct stop_state *st);

/* A stop broadcast for the threads of one process: closing the write end
 * makes the read end readable for all of them at once. */
struct stop_broadcast {
    int rd, wr;
};

int stop_broadcast_open(struct stop_broadcast *b);
void stop_broadcast_fire(struct stop_broadcast *b);
void stop_broadcast_close(struct stop_broadcast *b);

/* Step 3 of the prologue and the session to its end: greet, read commands,
 * run transfers, then close the connection and release its slot. */
void serve_blocking(const struct ftpd_server *srv, struct admission *adm, struct arrival *a,
                    struct stop_state *stop);

#endif

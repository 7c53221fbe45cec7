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
#include "ftpd/limits.h"

/* How a blocking loop learns the server is stopping: from its process's
 * control events (serial, a process child, a prefork worker: a first stop
 * is graceful, a second immediate), or from a broadcast fd that the thread
 * reading the events closes for every thread at once (thread, threadpool:
 * it stays readable; a second signal ends the process there). */
struct stop_state {
    int fd;                    /* poll it; -1: nothing to watch */
    struct ctl_events *events; /* NULL: fd is a broadcast */
    bool stopping;             /* graceful: finish the transfer, then 421 */
    bool draining;             /* live upgrade (CTL_DRAIN): accept no more,
                                  sessions go on to their end */
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
/* st->fd is readable: update the state. Reload and reopen are reported as
 * not supported yet; an upgrade is started, and its hand-over drains. */
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

/* The same loop cut into resumable steps, for a thread pool that parks a
 * session between commands (threadpool_dispatch = event): the thread that
 * takes a ready session runs one step, then hands it back to be watched.
 * Whoever holds a conn is the only one touching it. */
struct conn;

/* The lines of one step; a pool thread lends its own to each session it
 * serves, so a parked session holds none. */
struct conn_scratch {
    char line[FTPD_LINE_MAX + 1];
    char deferred[FTPD_LINE_MAX + 1]; /* a command that arrived mid-transfer */
};

enum conn_next {
    CONN_PARK,  /* nothing held: step again when the control fd is readable */
    CONN_CLOSE, /* over (QUIT, error, stop): conn_end(CONN_END_DONE) */
    CONN_DELAY, /* a failed login's 530 waits conn_delay_ms(), then
                   conn_delay_done(); read nothing meanwhile (steps only) */
    CONN_WORK,  /* a password check: conn_work_run() on any thread, then
                   conn_work_done(); read nothing meanwhile (steps only) */
};

enum conn_end {
    CONN_END_DONE,     /* the session said its last word */
    CONN_END_IDLE,     /* parked past idle_timeout: 421 first */
    CONN_END_STOPPING, /* the server stops: 421 first */
    CONN_END_HUNG_UP,  /* the client went while its login was checked: logged, no reply */
};

/* An admitted arrival, taken over (copied) by the new conn. own_scratch:
 * the conn carries its step's lines (the blocking loop); otherwise
 * conn_step() is given them. NULL: out of memory, the arrival is still the
 * caller's. */
struct conn *conn_new(const struct ftpd_server *srv, struct admission *adm, const struct arrival *a,
                      bool own_scratch);
/* Step 3 of the prologue: the session and its 220. */
enum conn_next conn_greet(struct conn *c);
/* Serve what is ready: read the control connection (non-blocking), run
 * every complete line (a pipelined batch, transfers included), and go on
 * while the stream holds bytes (stream_pending). A stop noticed in stop
 * gets the 421 and CONN_CLOSE. scratch: NULL with own_scratch. */
enum conn_next conn_step(struct conn *c, struct stop_state *stop, struct conn_scratch *scratch);
/* After CONN_DELAY: the 530, then what conn_step() does. */
enum conn_next conn_delay_done(struct conn *c, struct stop_state *stop,
                               struct conn_scratch *scratch);
int conn_delay_ms(const struct conn *c);
/* After CONN_WORK: the check (touches nothing but its job), then on a
 * thread that owns c the reply and what conn_step() does. */
void conn_work_run(struct conn *c);
enum conn_next conn_work_done(struct conn *c, struct stop_state *stop,
                              struct conn_scratch *scratch);
int conn_fd(const struct conn *c);
/* About to wait: give back what an idle session needs not hold. */
void conn_park(struct conn *c);
/* The end: a 421 if why says so, the prologue's end, the conn freed. */
void conn_end(struct conn *c, enum conn_end why);
/* A conn never greeted: release its slot, 421 why, free it. */
void conn_refuse(struct conn *c, enum refusal why);

#endif

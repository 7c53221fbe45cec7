/* The event half of the thread pool's half-sync/half-async dispatch
 * (threadpool_dispatch = event; Apache's event MPM, MySQL's thread pool):
 * sessions waiting for their next command are parked in one event thread's
 * epoll set, and a pool thread takes a session only when it has something
 * to do (a command arrived, it must be greeted, it timed out, the server
 * stops). When the pool thread is done with it, it hands it back.
 *
 * Ownership is the whole synchronisation: a session is in exactly one
 * place at a time, and every move between places takes the one lock.
 *
 *     parked (epoll set) --readable/idle/stop--> run queue   (event thread)
 *     run queue --parking_next()--> a pool thread (conn_greet, conn_step ...)
 *     pool thread --parking_park()--> parked (re-armed EPOLLONESHOT)
 *     pool thread --parking_drop()--> gone
 *
 * While its password check or its failed login's 530 waits, a session is
 * watched for a hang-up alone, and ended at once if its client went.
 *
 * A command thus costs two wake-ups: the event thread's (epoll) and a pool
 * thread's (its condition variable). A parked session costs 48 bytes here
 * (struct parked) and an epoll entry in the kernel, plus its conn and
 * session. */
#ifndef FTPD_ARCH_BLOCKING_PARKING_H
#define FTPD_ARCH_BLOCKING_PARKING_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/blocking/blocking.h"

struct parking;
struct parked;

/* Why a pool thread got a session. */
enum wake {
    WAKE_NEW,     /* just admitted: greet it (conn_greet) */
    WAKE_READY,   /* its control connection is readable: conn_step */
    WAKE_IDLE,    /* parked for idle_timeout: conn_end(CONN_END_IDLE) */
    WAKE_STOP,    /* the server stops: conn_end(CONN_END_STOPPING) */
    WAKE_DELAY,   /* its failed login's delay is over: conn_delay_done */
    WAKE_WORK,    /* its password check ran: conn_work_done */
    WAKE_HUNG_UP, /* it hung up while its check or its 530 waited:
                     conn_end(CONN_END_HUNG_UP) */
};

/* Starts the event thread. NULL on failure (logged). */
struct parking *parking_new(const struct ftpd_config *cfg);

/* The acceptor: a new session, queued for a pool thread to greet. false:
 * out of memory (the conn is still the caller's). */
bool parking_add(struct parking *pk, struct conn *c);

/* A pool thread: wait for the next session that needs a thread. NULL: the
 * pool is stopping and every session has ended; the thread exits. */
struct parked *parking_next(struct parking *pk, enum wake *why);
struct conn *parked_conn(const struct parked *s);

/* A pool thread is done with s for now (conn_park() was called): watch it
 * again. */
void parking_park(struct parking *pk, struct parked *s);
/* A pool thread: s waits ms for its failed login's 530 (CONN_DELAY),
 * holding no thread and watched for nothing but the time. */
void parking_delay(struct parking *pk, struct parked *s, int ms);
/* A pool thread: s's password check (CONN_WORK) goes to the hashing
 * threads, which run below the pool's priority (nice 10) so a burst of
 * logins does not slow every other session's commands. */
void parking_work(struct parking *pk, struct parked *s);
/* The acceptor: new sessions queued wait_ms or more for a thread to greet
 * them (every pool thread busy) leave the run queue: up to max of their
 * conns go to out, for the caller to refuse (conn_refuse, REFUSE_BUSY).
 * Returns how many; *left says whether new ones still wait. */
int parking_expire_new(struct parking *pk, int64_t now, int wait_ms, struct conn **out, int max,
                       bool *left);
/* A pool thread ended s's conn (conn_end/conn_refuse): forget it. */
void parking_drop(struct parking *pk, struct parked *s);

/* Graceful stop: every parked session (and every one handed back from now
 * on) goes to a pool thread as WAKE_STOP. */
void parking_stop(struct parking *pk);
bool parking_stopping(struct parking *pk);
/* Sessions alive (parked, queued or running). */
int parking_sessions(struct parking *pk);

/* After the last session ended (or on a forced exit, never): join the
 * event thread and free. */
void parking_free(struct parking *pk);

#endif

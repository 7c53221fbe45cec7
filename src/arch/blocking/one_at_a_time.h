/* The serial back-end's newcomers. While serial serves its one session, a
 * second client would wait unanswered in the listen backlog. Instead the
 * session's stop fd becomes an epoll set of the signal fd, the listeners
 * and a timer (the blocking loop and the transfer engine poll the stop fd
 * anyway), and each wake-up runs one_at_a_time_notice(): it accepts the
 * newcomers and holds them, unanswered, for at most BACKLOG_WAIT_MS. If the
 * session ends by then, the oldest held one is served next (a client that
 * reconnects right after its QUIT is not turned away); otherwise it gets
 * "421 Serial server: one session at a time" and is closed. At most
 * HOLD_MAX are held; more are refused at once. */
#ifndef FTPD_ARCH_BLOCKING_ONE_AT_A_TIME_H
#define FTPD_ARCH_BLOCKING_ONE_AT_A_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/common/acceptor.h"
#include "arch/common/admission.h"
#include "ftpd/arch.h"

#define HOLD_MAX 16

struct one_at_a_time {
    const struct ftpd_server *srv;
    struct admission *adm;
    struct acceptor *acc;
    int epfd;    /* -1: not in use (newcomers wait in the backlog) */
    int timerfd; /* fires when the oldest held connection is due */
    struct {
        int fd;
        union sockaddr_any peer;
        int64_t since; /* clock_ms() of its accept */
    } held[HOLD_MAX];
    int head, len;
    /* Live upgrade: true once a new generation serves on the listeners;
     * from then on newcomers are its own (NULL: never). */
    const bool *handed_over;
};

/* 0, or -1 (logged; o->epfd stays -1). */
int one_at_a_time_open(struct one_at_a_time *o, const struct ftpd_server *srv,
                       struct admission *adm, struct acceptor *acc, int events_fd);
/* A reload changed the listeners: watch srv's, no longer the removed ones
 * (still open). No-op if not open. */
void one_at_a_time_listen(struct one_at_a_time *o, const struct ftpd_server *srv,
                          const struct listener *removed, int nremoved);
/* stop_state.on_notice: hold or refuse the newcomers, refuse the overdue. */
void one_at_a_time_notice(void *arg);
/* The oldest held connection, to serve next; false when none. */
bool one_at_a_time_next(struct one_at_a_time *o, int *fd, union sockaddr_any *peer);
/* Refuse every held connection (why) and release what was opened. */
void one_at_a_time_close(struct one_at_a_time *o, enum refusal why);

#endif

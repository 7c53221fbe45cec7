/* Live upgrade, the old generation's side (SIGUSR2), reached through the
 * control events (events.h) of the process main() started:
 *
 *   SIGUSR2      -> upgrade_begin: fork + exec the program (ftpd/upgrade.h)
 *                   with the listeners and a socketpair; the ready timer
 *                   (FTPD_UPGRADE_READY_TIMEOUT) starts;
 *   MSG_UPG_READY on the socketpair -> CTL_DRAIN: the caller stops
 *                   accepting, never shutting its listeners down (the new
 *                   generation accepts on the very same sockets: no
 *                   connection attempt is refused or reset), and lets its
 *                   sessions finish; the drain timer
 *                   (upgrade_drain_timeout) starts;
 *   drain timer  -> CTL_STOP: the ordinary graceful stop (421 to idle
 *                   sessions, transfers get shutdown_grace), still without
 *                   touching the listeners;
 *   EOF, MSG_UPG_FAILED or the ready timer first -> rollback: logged, the
 *                   child killed and reaped, the old generation serves on.
 *
 * A second SIGUSR2 while one runs (starting or draining) is logged and
 * ignored. A process that cannot start one (a worker, a per-connection
 * child) reads SIGUSR2 as CTL_DRAIN: its master tells it to drain that way
 * (hybrid). */
#ifndef FTPD_ARCH_COMMON_UPGRADE_H
#define FTPD_ARCH_COMMON_UPGRADE_H

#include <stdbool.h>
#include <sys/types.h>

#include "arch/common/events.h"
#include "ftpd/arch.h"
#include "ftpd/listen_adopt.h"
#include "ftpd/msg.h"

enum upgrade_state {
    UPGRADE_IDLE,     /* none running */
    UPGRADE_STARTING, /* child forked, waiting for its ready report */
    UPGRADE_DRAINING, /* the new generation serves; we drain */
};

struct upgrade {
    const struct ftpd_server *srv;
    enum upgrade_state state;
    pid_t child;
    int channel; /* our end of the socketpair; -1 */
    struct msg_reader reader;
    int timer;   /* timerfd: the ready timeout, then the drain timeout */
    pid_t owner; /* the process that may start and end the child */
};

/* Descriptors an upgrade passes at most: listeners, hybrid's worker sets
 * (what the new generation adopts at most). */
#define ADOPT_PASS_MAX ADOPT_MAX

/* Attach an upgrade to the events of the process main() started (after
 * ctl_events_open and the back-end's set-up, before anything copies
 * ev->fd: the fd becomes an epoll set of the signals, the channel and the
 * timer). A process started by an upgrade reports ready here first
 * (exec_plan.ready_channel). 0, or -1 (logged). */
int ctl_events_enable_upgrade(struct ctl_events *ev, const struct ftpd_server *srv);

/* For events.c. */
void upgrade_begin(struct upgrade *u, struct ctl_events *ev);
enum ctl_event upgrade_poll(struct upgrade *u, struct ctl_events *ev);
void upgrade_free(struct upgrade *u);

#endif

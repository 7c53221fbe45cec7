/* Entry points of the seven patterns, for the registry, and the loops one
 * pattern lends another: a prefork worker and a threadpool thread each run
 * the serial loop, a hybrid worker runs the reactor. */
#ifndef FTPD_ARCH_BACKENDS_H
#define FTPD_ARCH_BACKENDS_H

#include "arch/common/acceptor.h"
#include "arch/common/admission.h"
#include <stdbool.h>
#include <sys/types.h>
#include "ftpd/arch.h"

struct evserver;
struct stop_state;

int arch_serial_run(const struct ftpd_server *srv);
int arch_process_run(const struct ftpd_server *srv);
int arch_thread_run(const struct ftpd_server *srv);
int arch_prefork_run(const struct ftpd_server *srv);
int arch_threadpool_run(const struct ftpd_server *srv);
int arch_reactor_run(const struct ftpd_server *srv);
int arch_hybrid_run(const struct ftpd_server *srv);

/* serial.c: accept, serve to the end, repeat, until stop says so. */
struct scoreboard;
struct serial_opts {
    /* A prefork worker: report busy/idle in slot `index` of sb, and leave
     * between sessions once the master sets the slot's retire flag. */
    struct scoreboard *sb;
    int index;
    bool retirable; /* check the retire flag (a prefork worker) */
    /* The serial back-end: while a session runs, accept newcomers and
     * refuse them with 421 (REFUSE_ONE_AT_A_TIME) instead of leaving them
     * in the backlog. */
    bool one_at_a_time;
};
/* opts: NULL for neither (a threadpool thread). */
void serial_loop(const struct ftpd_server *srv, struct admission *adm, struct acceptor *acc,
                 struct stop_state *stop, const struct serial_opts *opts);

/* reactor.c: one event loop over these listeners until stopped. */
struct reactor_opts {
    const struct listener *listeners;
    int nlisteners;
    struct admission *adm; /* shared across processes when forked */
    unsigned events;       /* ctl_events_open flags: CTL_WITH_SIGINT or 0 */
    /* On the first stop, net_stop_listening() (the reactor; never a hybrid
     * worker on shared sockets: the master does it for all). */
    bool stop_listeners;
    /* Live upgrade, the old generation (upgrade.h): once the new one is
     * ready, hand every idle session over to it (successor: its main
     * process) before draining the rest; the "move" helper's
     * handover_start (evented/handover.h). NULL: every session drains
     * here. Returns 0, or -1 (logged: they all drain). */
    int (*hand_over)(struct evserver *es, pid_t successor);
    /* SIGUSR2 starts a live upgrade (the reactor); false: it drains (a
     * hybrid worker, told by its master). */
    bool upgrade;
    /* Live upgrade, the new generation (evented/handover.h): the handover
     * socket on which the loop takes sessions from the generation it
     * replaces, made by this generation's main process; -1: none. */
    int handover_fd;
    /* A SIGHUP means: stop accepting, finish the sessions, end the loop (a
     * hybrid worker, replaced by its master on a reload); else reload in
     * place (the reactor). */
    bool drain_on_reload;
};
int reactor_loop(const struct ftpd_server *srv, const struct reactor_opts *opts);

#endif

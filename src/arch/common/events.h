/* Control events: how a process learns it must stop, reload, upgrade or
 * reopen its logs, and (for masters) that a child exited. One mechanism for
 * every back-end and every worker process: the signals are blocked by
 * main() before any thread or child exists, and each process reads them
 * from one signalfd made here (a reactor watches that fd with an ev_io, a
 * blocking loop polls it). Threads of one process never read it: the
 * thread that owns it fans a stop out to the others (blocking/stop.h).
 *
 * The stop signals count: the first SIGINT/SIGTERM is a graceful stop
 * (stop accepting, let sessions finish up to shutdown_grace), the second
 * stops at once (sessions get 426/421), a third asks a master to kill. */
#ifndef FTPD_ARCH_COMMON_EVENTS_H
#define FTPD_ARCH_COMMON_EVENTS_H

#include <stdbool.h>
#include <sys/types.h>

enum ctl_event {
    CTL_NONE,        /* nothing (more) pending */
    CTL_DRAIN,       /* a new generation serves on our listeners (live
                        upgrade, upgrade.h), or a worker's SIGUSR2: stop
                        accepting without shutting the listeners down, let
                        the sessions finish, exit when none is left */
    CTL_STOP,        /* first SIGINT/SIGTERM: graceful stop */
    CTL_STOP_NOW,    /* second: stop at once */
    CTL_KILL,        /* third and later: a master kills what is left */
    CTL_RELOAD,      /* SIGHUP: re-read the configuration */
    CTL_UPGRADE,     /* SIGUSR2: start a new binary, hand over (for its
                        name only: events.c starts the upgrade itself) */
    CTL_REOPEN_LOGS, /* SIGUSR1: reopen log files */
    CTL_CHILD,       /* SIGCHLD: a child exited (masters only) */
    CTL_ERROR,       /* the fd failed: treat as CTL_STOP_NOW */
};

/* What a process listens to, besides SIGTERM, SIGHUP, SIGUSR1, SIGUSR2. */
enum {
    CTL_WITH_SIGINT = 1, /* a process a terminal's Ctrl-C should stop: the
                            one main() started. Workers and per-connection
                            children leave SIGINT out, since Ctrl-C reaches
                            the whole process group and their master
                            forwards it: counted twice it would turn a
                            graceful stop into an immediate one. */
    CTL_WITH_CHILD = 2,  /* SIGCHLD, for processes that fork */
};

struct upgrade;

struct ctl_events {
    int fd;    /* poll it for POLLIN, or watch it with EV_READ */
    int stops; /* stop signals received so far */
    /* Log reopens (SIGUSR1) done by ctl_events_drain so far: a master that
     * sees it grow passes SIGUSR1 on to its workers or children. */
    unsigned reopens;
    bool main_process; /* opened with CTL_WITH_SIGINT: sends STOPPING=1 */
    /* Live upgrade (upgrade.h): in the process main() started, fd is an
     * epoll set of the signalfd and the upgrade's descriptors; elsewhere
     * upgrade is NULL and fd is sigfd. */
    int sigfd;
    struct upgrade *upgrade;
    /* CTL_DRAIN came: the listeners are the new generation's too, so no
     * stop of ours may shut them down (net_stop_listening). */
    bool handed_over;
    /* The main process of the generation that took over (CTL_DRAIN): the
     * upgrade's child, or in a worker the pid its master sent along with
     * SIGUSR2 (sigqueue); 0: unknown. */
    pid_t successor;
    bool reload; /* a SIGHUP was read and not yet acted on (ctl_events_take_reload) */
};

/* 0, or -1 (logged). */
int ctl_events_open(struct ctl_events *ev, unsigned with);
void ctl_events_close(struct ctl_events *ev);

/* The next pending event, without waiting; CTL_NONE when there is none. */
enum ctl_event ctl_events_next(struct ctl_events *ev);

/* Read every pending event and return the strongest stop among them:
 * CTL_NONE, CTL_DRAIN, CTL_STOP, CTL_STOP_NOW or CTL_KILL (a failing fd
 * counts as CTL_STOP_NOW). An upgrade (SIGUSR2) is started here in the
 * process main() started (upgrade.h); a reopen (SIGUSR1) reopens the log
 * files here and counts in ev->reopens; a reload is recorded in
 * ev->reload; a child's exit is left to the caller, who reaps after every
 * wake-up anyway. */
enum ctl_event ctl_events_drain(struct ctl_events *ev);

/* A reload (SIGHUP) was read since the last call: true once, then false.
 * ctl_events_drain() records it here rather than acting on it, so the
 * loop that owns the process's state reloads where it is safe. */
bool ctl_events_take_reload(struct ctl_events *ev);

/* What to call an event in a log line ("reload (SIGHUP)"). */
const char *ctl_event_name(enum ctl_event e);

/* Log that this process does not act on e yet (reload, upgrade, reopen):
 * the signal is read and reported, never silently swallowed. */
void ctl_event_unsupported(enum ctl_event e);

#endif

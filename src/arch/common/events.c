#include "arch/common/events.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/common/upgrade.h"
#include "ftpd/log.h"
#include "ftpd/sdnotify.h"
#include "ftpd/xferlog.h"

int ctl_events_open(struct ctl_events *ev, unsigned with)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    if (with & CTL_WITH_SIGINT)
        sigaddset(&set, SIGINT);
    if (with & CTL_WITH_CHILD)
        sigaddset(&set, SIGCHLD);
    ev->stops = 0;
    ev->main_process = (with & CTL_WITH_SIGINT) != 0;
    ev->reopens = 0;
    ev->upgrade = NULL;
    ev->handed_over = false;
    ev->successor = 0;
    ev->reload = false;
    ev->fd = ev->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (ev->fd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void ctl_events_close(struct ctl_events *ev)
{
    if (ev->upgrade != NULL) {
        upgrade_free(ev->upgrade);
        ev->upgrade = NULL;
    }
    if (ev->fd >= 0 && ev->fd != ev->sigfd)
        close(ev->fd);
    if (ev->sigfd >= 0)
        close(ev->sigfd);
    ev->fd = ev->sigfd = -1;
}

enum ctl_event ctl_events_next(struct ctl_events *ev)
{
    if (ev->upgrade != NULL) {
        enum ctl_event e = upgrade_poll(ev->upgrade, ev);
        if (e != CTL_NONE)
            return e;
    }
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(ev->sigfd, &si, sizeof si);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return CTL_NONE;
            log_error("reading signals: %s", strerror(errno));
            return CTL_ERROR;
        }
        if (n != (ssize_t)sizeof si) {
            log_error("reading signals: short read");
            return CTL_ERROR;
        }
        switch (si.ssi_signo) {
        case SIGINT:
        case SIGTERM:
            /* The process main() started (the only one with SIGINT) is
             * the service's main process: it tells the manager. */
            if (ev->stops == 0 && ev->main_process)
                notify_stopping();
            ev->stops++;
            return ev->stops == 1 ? CTL_STOP : ev->stops == 2 ? CTL_STOP_NOW : CTL_KILL;
        case SIGHUP:
            return CTL_RELOAD;
        case SIGUSR2:
            if (ev->upgrade == NULL) { /* a worker: its master says drain */
                ev->handed_over = true;
                ev->successor = si.ssi_code == SI_QUEUE ? (pid_t)si.ssi_int : 0;
                return CTL_DRAIN;
            }
            upgrade_begin(ev->upgrade, ev);
            continue;
        case SIGUSR1:
            return CTL_REOPEN_LOGS;
        case SIGCHLD:
            return CTL_CHILD;
        default:
            continue; /* not in the set; cannot happen */
        }
    }
}

enum ctl_event ctl_events_drain(struct ctl_events *ev)
{
    enum ctl_event strongest = CTL_NONE, e;
    while ((e = ctl_events_next(ev)) != CTL_NONE) {
        switch (e) {
        case CTL_DRAIN:
        case CTL_STOP:
        case CTL_STOP_NOW:
        case CTL_KILL:
            strongest = e > strongest ? e : strongest;
            break;
        case CTL_ERROR:
            return strongest > CTL_STOP_NOW ? strongest : CTL_STOP_NOW;
        case CTL_CHILD:
            break;
        case CTL_REOPEN_LOGS:
            /* Every process reopens its own descriptors (dup2 onto the same
             * numbers: every thread of it sees the new files); a master
             * passes the signal on to its children (ev->reopens). */
            log_reopen();
            xferlog_reopen();
            log_info("%s: log files reopened", ctl_event_name(e));
            ev->reopens++;
            break;
        case CTL_RELOAD:
            ev->reload = true;
            break;
        default:
            ctl_event_unsupported(e);
            break;
        }
    }
    return strongest;
}

bool ctl_events_take_reload(struct ctl_events *ev)
{
    bool reload = ev->reload;
    ev->reload = false;
    return reload;
}

const char *ctl_event_name(enum ctl_event e)
{
    switch (e) {
    case CTL_NONE:
        return "nothing";
    case CTL_DRAIN:
        return "drain";
    case CTL_STOP:
        return "graceful stop";
    case CTL_STOP_NOW:
        return "immediate stop";
    case CTL_KILL:
        return "kill";
    case CTL_RELOAD:
        return "reload (SIGHUP)";
    case CTL_UPGRADE:
        return "binary upgrade (SIGUSR2)";
    case CTL_REOPEN_LOGS:
        return "reopen logs (SIGUSR1)";
    case CTL_CHILD:
        return "child exited";
    case CTL_ERROR:
        return "signal error";
    }
    return "?";
}

void ctl_event_unsupported(enum ctl_event e)
{
    log_warn("%s: not supported yet, ignored", ctl_event_name(e));
}

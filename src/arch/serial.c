/* serial: one loop accepts a connection and serves it to the end before
 * accepting the next. The baseline every other pattern is measured against.
 *
 *     for (;;) {
 *         fd = accept(listener);
 *         serve(fd);        // greet, commands, transfers, until QUIT;
 *                           // meanwhile newcomers get "421 one at a time"
 *         close(fd);
 *     }
 *
 * Saying no: a second client cannot be served until the first quits, so
 * rather than leave it waiting unanswered in the listen backlog, the loop
 * watches the listeners while it serves (blocking/one_at_a_time.c): a
 * newcomer is served next if the session ends within half a second, and
 * told "421 Serial server: one session at a time" otherwise.
 *
 * The loop is lent to prefork (each worker runs it on the shared listener,
 * reporting busy/idle on the pool's scoreboard) and to threadpool (each
 * thread runs it); they leave newcomers to an idle worker. */
#include <stdatomic.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/blocking/blocking.h"
#include "arch/blocking/one_at_a_time.h"
#include "arch/common/scoreboard.h"
#include "arch/common/upgrade.h"
#include "ftpd/generation.h"
#include "ftpd/log.h"

/* A prefork worker checks its retire flag at least this often when idle. */
#define RETIRE_CHECK_MS 250

static bool told_to_retire(const struct serial_opts *opts)
{
    return opts != NULL && opts->retirable && atomic_load(&opts->sb->slot[opts->index].retire) != 0;
}

static void set_busy(const struct serial_opts *opts, int busy)
{
    if (opts != NULL && opts->sb != NULL)
        atomic_store(&opts->sb->slot[opts->index].busy, busy);
}

/* SIGHUP, read by the loop or by the session it served, acted on between
 * sessions. A prefork worker leaves (true): its master has started a new
 * worker on the new generation in its slot. The serial back-end reloads in
 * place and watches the new listeners. */
static bool reload_between_sessions(const struct ftpd_server *srv, struct stop_state *stop,
                                    const struct serial_opts *opts, struct accept_poll *ap,
                                    struct one_at_a_time *refuser)
{
    if (stop->events == NULL || !ctl_events_take_reload(stop->events) || stop->stopping)
        return false;
    if (opts != NULL && opts->retirable) {
        log_info("reload: a new worker takes the new connections; this one leaves");
        return true;
    }
    struct reload rl;
    if (srv->gens == NULL || generation_reload(srv->gens, 0, &rl) != 0)
        return false;
    /* Both may point into the old generation: move them to the new one. */
    one_at_a_time_listen(refuser, rl.srv, rl.removed, rl.nremoved);
    if (stop->owner != NULL)
        stop->owner = rl.srv;
    if (rl.listeners_changed) {
        reload_close_removed(&rl);
        int tick_ms = ap->tick_ms;
        accept_poll_init(ap, ap->acc, rl.srv->listeners, rl.srv->nlisteners, stop->fd);
        ap->tick_ms = tick_ms;
    }
    return false;
}

void serial_loop(const struct ftpd_server *srv, struct admission *adm, struct acceptor *acc,
                 struct stop_state *stop, const struct serial_opts *opts)
{
    const struct ftpd_config *cfg = srv->cfg;
    pid_t self = getpid();
    struct accept_poll ap;
    accept_poll_init(&ap, acc, srv->listeners, srv->nlisteners, stop->fd);
    if (opts != NULL && opts->retirable)
        ap.tick_ms = RETIRE_CHECK_MS;
    struct one_at_a_time refuser = {.epfd = -1, .timerfd = -1};
    int idle_fd = stop->fd;
    if (opts != NULL && opts->one_at_a_time &&
        one_at_a_time_open(&refuser, srv, adm, acc, stop->fd) < 0)
        log_warn("newcomers wait in the backlog while a session runs");
    if (stop->events != NULL)
        refuser.handed_over = &stop->events->handed_over;
    /* Draining (live upgrade): the newcomers already held are served, then
     * the loop ends; the listeners are the new generation's. */
    while (!stop->stopping && !told_to_retire(opts) && !(stop->draining && refuser.len == 0)) {
        int fd;
        union sockaddr_any peer;
        /* A newcomer held while the last session ran goes first. */
        enum accept_next next =
            one_at_a_time_next(&refuser, &fd, &peer) ? NEXT_CONN : acceptor_next(&ap, &fd, &peer);
        switch (next) {
        case NEXT_EVENT:
            stop_notice(stop);
            if (reload_between_sessions(srv, stop, opts, &ap, &refuser))
                goto out;
            continue;
        case NEXT_TICK:
            continue;
        case NEXT_FAIL:
            goto out;
        case NEXT_CONN:
            break;
        }
        set_busy(opts, 1);
        struct arrival a;
        arrival_init(&a, fd, &peer);
        if (refuser.epfd >= 0) { /* the session's stop fd also wakes for newcomers */
            stop->fd = refuser.epfd;
            stop->on_notice = one_at_a_time_notice;
            stop->notice_arg = &refuser;
        }
        if (prologue_pregreet_blocking(&a, cfg) && prologue_admit(&a, cfg, adm, self, false))
            serve_blocking(srv, adm, &a, stop); /* to its end; closes fd */
        stop->fd = idle_fd;
        stop->on_notice = NULL;
        if (reload_between_sessions(srv, stop, opts, &ap, &refuser))
            goto out; /* busy to the end: the slot is the new worker's */
        set_busy(opts, 0);
    }
out:
    one_at_a_time_close(&refuser, REFUSE_SHUTTING_DOWN);
}

int arch_serial_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct ctl_events events;
    struct acceptor acc;
    if (ctl_events_open(&events, CTL_WITH_SIGINT) < 0)
        return 1;
    if (ctl_events_enable_upgrade(&events, srv) < 0) {
        ctl_events_close(&events);
        return 1;
    }
    struct admission *adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    status_service_attach(srv->status, adm);
    if (adm == NULL || acceptor_init(&acc) < 0) {
        status_service_attach(srv->status, NULL);
        admission_free(adm);
        ctl_events_close(&events);
        return 1;
    }
    struct stop_state stop;
    stop_init_events(&stop, &events, cfg->shutdown_grace);
    stop.owner = srv; /* the listeners are ours alone: stop them at once */
    const struct serial_opts opts = {.one_at_a_time = true};

    serial_loop(srv, adm, &acc, &stop, &opts);

    log_info("stopping");
    admission_log_refusals(adm);
    acceptor_close(&acc);
    status_service_attach(srv->status, NULL);
    admission_free(adm);
    ctl_events_close(&events);
    return 0;
}

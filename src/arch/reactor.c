/* reactor: one libev loop in one thread serves every connection: accept,
 * control I/O, data I/O (sendfile when the socket is writable) and timers,
 * never blocking on a peer.
 *
 *     loop = ev_loop_new();
 *     watch(listener, EV_READ, on_accept);   // accept -> a new connection
 *     watch(signals, EV_READ, on_events);    // stop, reload, ...
 *     ev_run(loop);                          // each connection's watchers
 *                                            // drive evented/evconn.c
 *
 * The loop is lent to hybrid, whose workers each run it. */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/common/events.h"
#include "arch/common/upgrade.h"
#include "arch/evented/evconn.h"
#include "arch/evented/handover.h"
#include "arch/evented/workpool.h"
#include "ftpd/generation.h"
#include "ftpd/limits.h"
#include "ftpd/listing_cache.h"
#include "ftpd/log.h"

/* Connections taken per wake-up of a listener: a connection storm must not
 * keep the loop from serving the sessions it already has. */
#define ACCEPT_BATCH 32

struct reactor {
    struct evserver es; /* the connections */
    const struct reactor_opts *opts;
    struct acceptor acc;
    /* The listeners watched: opts' at first, a reload's afterwards. */
    struct listener listeners[FTPD_LISTEN_MAX];
    int nlisteners;
    ev_io accept_w[FTPD_LISTEN_MAX];
    ev_timer accept_pause; /* out of descriptors: accept again later */
    struct ctl_events events;
    ev_io events_w;
    ev_timer grace; /* the shutdown grace running out */
};

static void accept_watch(struct reactor *r, bool on)
{
    for (int i = 0; i < r->nlisteners; i++) {
        if (on && r->accept_w[i].fd >= 0)
            ev_io_start(r->es.loop, &r->accept_w[i]);
        else
            ev_io_stop(r->es.loop, &r->accept_w[i]);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct reactor *r = w->data;
    for (int i = 0; i < ACCEPT_BATCH && !r->es.stopping; i++) {
        int fd;
        union sockaddr_any peer;
        switch (acceptor_take(&r->acc, w->fd, &fd, &peer)) {
        case ACCEPT_OK:
            evconn_open(&r->es, fd, &peer);
            continue;
        case ACCEPT_PAUSE:
            accept_watch(r, false);
            ev_timer_set(&r->accept_pause, ACCEPT_PAUSE_MS / 1000., 0.);
            ev_timer_start(loop, &r->accept_pause);
            return;
        case ACCEPT_CLOSED:
            /* Shut down for a graceful stop (a hybrid master does it for
             * all its workers): an event, not an error to retry. */
            ev_io_stop(loop, w);
            return;
        default: /* nothing pending (another worker won), dropped, failed */
            return;
        }
    }
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reactor *r = w->data;
    if (!r->es.stopping && !r->es.draining)
        accept_watch(r, true);
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reactor *r = w->data;
    log_info("shutdown grace over: closing %d connections", r->es.nconns);
    evconn_close_all(&r->es);
}

static void stop_gracefully(struct reactor *r)
{
    log_info("stopping");
    r->es.stopping = true;
    /* No new connections from now on. The reactor stops its listeners so
     * new clients are refused at once; a hybrid worker leaves that to its
     * master, which owns the shared sockets (a worker recycled alone must
     * not stop the others' listener). */
    accept_watch(r, false);
    ev_timer_stop(r->es.loop, &r->accept_pause);
    /* Never the listeners a new generation serves on (live upgrade). */
    if (r->opts->stop_listeners && !r->events.handed_over)
        net_stop_listening(r->listeners, r->nlisteners);
    if (r->es.nconns > 0) {
        ev_timer_set(&r->grace, (ev_tstamp)r->es.srv->cfg->shutdown_grace, 0.);
        ev_timer_start(r->es.loop, &r->grace);
    }
    /* Idle sessions get 421 and close; those in a transfer finish it first,
     * for shutdown_grace seconds at most. */
    evconn_stop_idle(&r->es);
}

/* Live upgrade: a new generation serves on our listeners (we started it,
 * or our master says so). Accept no more, without touching the sockets;
 * hand the idle sessions over when that is on (opts->hand_over); the rest
 * go on here, and the loop ends with the last one (or at the drain timer's
 * graceful stop). */
static void drain(struct reactor *r)
{
    if (r->es.stopping || r->es.draining)
        return;
    log_info("draining: %d sessions finish here, new ones go to the new generation (pid %ld)",
             r->es.nconns, (long)r->events.successor);
    accept_watch(r, false);
    ev_timer_stop(r->es.loop, &r->accept_pause);
    if (r->opts->hand_over != NULL && r->events.successor > 0)
        r->opts->hand_over(&r->es, r->events.successor);
    evconn_drain(&r->es);
}

/* Watch these listeners (every accept watcher stopped). */
static void set_listeners(struct reactor *r, const struct listener *l, int n)
{
    r->nlisteners = n;
    for (int i = 0; i < n; i++) {
        r->listeners[i] = l[i];
        /* accept4(SOCK_NONBLOCK) needs a non-blocking listener as well, or
         * a connection reset between readiness and accept would block. */
        if (l[i].fd >= 0)
            net_set_nonblock(l[i].fd, true);
        ev_io_init(&r->accept_w[i], on_accept, l[i].fd, EV_READ);
        r->accept_w[i].data = r;
    }
}

/* SIGHUP. The reactor: new sessions get a new generation (running ones
 * keep theirs), listeners are added and removed. A hybrid worker
 * (drain_on_reload): its master has started new workers on the new
 * configuration; this one stops accepting, serves its sessions to their
 * end with the settings they have, and its loop ends with the last one. */
static void on_reload(struct reactor *r)
{
    if (r->es.stopping || r->es.draining)
        return;
    if (r->opts->drain_on_reload) {
        log_info("reload: new workers take the new connections; draining %d sessions",
                 r->es.nconns);
        accept_watch(r, false);
        ev_timer_stop(r->es.loop, &r->accept_pause);
        /* The sockets are never shut down: the master keeps them for the
         * new workers (reuseport: the new worker i accepts on set i, with
         * the connections queued on it). */
        evconn_drain(&r->es);
        return;
    }
    struct reload rl;
    if (r->es.srv->gens == NULL || generation_reload(r->es.srv->gens, 0, &rl) != 0)
        return;
    if (rl.listeners_changed) {
        accept_watch(r, false);
        reload_close_removed(&rl);
        set_listeners(r, rl.srv->listeners, rl.srv->nlisteners);
        if (!ev_is_active(&r->accept_pause))
            accept_watch(r, true);
    }
}

static void on_events(struct ev_loop *loop, ev_io *w, int revents)
{
    struct reactor *r = w->data;
    enum ctl_event e = ctl_events_drain(&r->events);
    if (ctl_events_take_reload(&r->events) && e == CTL_NONE)
        on_reload(r);
    if (e == CTL_DRAIN) {
        drain(r);
    } else if (e == CTL_STOP && !r->es.stopping) {
        stop_gracefully(r);
    } else if (e != CTL_NONE) {
        log_info("stopping now");
        r->es.stopping = true;
        ev_io_stop(loop, w);
        evconn_close_all(&r->es);
        ev_break(loop, EVBREAK_ALL);
    }
}

static int reactor_init(struct reactor *r, const struct ftpd_server *srv,
                        const struct reactor_opts *opts)
{
    r->opts = opts;
    r->es.srv = srv;
    r->es.adm = opts->adm;
    r->es.pid = getpid();
    if (ctl_events_open(&r->events, opts->events) < 0)
        return -1;
    if (opts->upgrade && ctl_events_enable_upgrade(&r->events, srv) < 0) {
        ctl_events_close(&r->events);
        return -1;
    }
    if (acceptor_init(&r->acc) < 0) {
        ctl_events_close(&r->events);
        return -1;
    }
    /* A fresh loop in the calling process, after any fork (special
     * problem "fork and libev"). It handles no signal itself: they arrive
     * on the events fd like everywhere else. */
    r->es.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (r->es.loop == NULL) {
        log_error("cannot create the event loop: %s", strerror(errno));
        acceptor_close(&r->acc);
        ctl_events_close(&r->events);
        return -1;
    }
    log_debug("event loop backend %#x", ev_backend(r->es.loop));
    /* One listing cache per loop: single-threaded, so no locks. */
    const struct ftpd_config *cfg = srv->cfg;
    r->es.listing_cache = listing_cache_new(cfg->listing_cache_ttl);
    if (r->es.listing_cache == NULL && cfg->listing_cache_ttl > 0)
        log_warn("listing cache off: %s", strerror(errno));
    /* Password checks off the loop (special problem "password hashing in
     * the reactor"); its threads start at the first check, in this
     * process: a hybrid worker makes its own after the fork. Without it
     * the checks would run on the loop. */
    r->es.pool = workpool_new(r->es.loop, FTPD_WORK_THREADS, FTPD_WORK_QUEUE_MAX);
    if (r->es.pool == NULL)
        log_warn("work pool off, password checks run on the loop: %s", strerror(errno));
    return 0;
}

static void reactor_fini(struct reactor *r)
{
    handover_rx_stop(&r->es);
    evconn_close_all(&r->es); /* nothing is left after a normal stop; be sure */
    handover_stop(&r->es);    /* after close_all let go of the parked sessions */
    accept_watch(r, false);
    ev_timer_stop(r->es.loop, &r->accept_pause);
    ev_timer_stop(r->es.loop, &r->grace);
    ev_io_stop(r->es.loop, &r->events_w);
    /* After close_all, which cancelled every check still running: this
     * waits for the running ones and joins the threads. */
    workpool_free(r->es.pool);
    ev_loop_destroy(r->es.loop);
    listing_cache_free(r->es.listing_cache); /* after close_all: no listing uses it */
    acceptor_close(&r->acc);
    ctl_events_close(&r->events);
}

int reactor_loop(const struct ftpd_server *srv, const struct reactor_opts *opts)
{
    if (opts->nlisteners > FTPD_LISTEN_MAX)
        return 1;
    struct reactor *r = calloc(1, sizeof *r);
    if (r == NULL || reactor_init(r, srv, opts) < 0) {
        log_error("reactor set-up failed");
        free(r);
        return 1;
    }
    struct ev_loop *loop = r->es.loop;
    set_listeners(r, opts->listeners, opts->nlisteners);
    accept_watch(r, true);
    ev_init(&r->accept_pause, on_accept_pause);
    r->accept_pause.data = r;
    ev_init(&r->grace, on_grace);
    r->grace.data = r;
    ev_io_init(&r->events_w, on_events, r->events.fd, EV_READ);
    r->events_w.data = r;
    ev_io_start(loop, &r->events_w);
    if (opts->handover_fd >= 0 && handover_rx_start(&r->es, opts->handover_fd) < 0)
        log_warn("cannot take sessions from an older generation: %s", strerror(errno));

    ev_run(loop, 0);

    reactor_fini(r);
    free(r);
    return 0;
}

int arch_reactor_run(const struct ftpd_server *srv)
{
    /* One process: the table need not be shared, but the same code serves
     * hybrid, where it must. */
    struct admission *adm = admission_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    status_service_attach(srv->status, adm);
    if (adm == NULL)
        return 1;
    struct reactor_opts opts = {
        .listeners = srv->listeners,
        .nlisteners = srv->nlisteners,
        .adm = adm,
        .events = CTL_WITH_SIGINT,
        .stop_listeners = true,
        .upgrade = true,
        .hand_over = handover_start, /* idle sessions move to the new generation */
        .handover_fd = handover_listen_logged(),
    };
    int rc = reactor_loop(srv, &opts);
    if (opts.handover_fd >= 0)
        close(opts.handover_fd);
    admission_log_refusals(adm);
    status_service_attach(srv->status, NULL);
    admission_free(adm);
    return rc;
}

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
 * watches the listeners while it serves (one epoll set of the listeners
 * and the signal fd stands in for the stop fd the blocking loop and the
 * transfer engine already poll) and refuses each newcomer at once with
 * "421 Serial server: one session at a time".
 *
 * The loop is lent to prefork (each worker runs it on the shared listener,
 * reporting busy/idle on the pool's scoreboard) and to threadpool (each
 * thread runs it); they leave newcomers to an idle worker. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking/blocking.h"
#include "arch/common/scoreboard.h"
#include "ftpd/log.h"

/* A prefork worker checks its retire flag at least this often when idle. */
#define RETIRE_CHECK_MS 250

/* The serial back-end's refuser: listeners + signal fd in one epoll set. */
struct one_at_a_time {
    const struct ftpd_server *srv;
    struct admission *adm;
    struct acceptor *acc;
    int epfd;
};

static void refuse_newcomers(void *arg)
{
    struct one_at_a_time *o = arg;
    for (int i = 0; i < o->srv->nlisteners; i++) {
        int lfd = o->srv->listeners[i].fd, fd;
        union sockaddr_any peer;
        for (;;) {
            enum accept_result r = acceptor_take(o->acc, lfd, &fd, &peer);
            if (r == ACCEPT_OK) {
                admission_refuse_fd(o->adm, o->srv->cfg, fd, REFUSE_ONE_AT_A_TIME, &peer);
                continue;
            }
            if (r == ACCEPT_CLOSED) /* stopping: the listener is shut down */
                epoll_ctl(o->epfd, EPOLL_CTL_DEL, lfd, NULL);
            if (r != ACCEPT_DROPPED)
                break;
        }
    }
}

static int one_at_a_time_open(struct one_at_a_time *o, int events_fd)
{
    o->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (o->epfd < 0) {
        log_error("epoll_create1: %s", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = events_fd};
    if (epoll_ctl(o->epfd, EPOLL_CTL_ADD, events_fd, &ev) < 0)
        goto fail;
    for (int i = 0; i < o->srv->nlisteners; i++) {
        ev.data.fd = o->srv->listeners[i].fd;
        if (epoll_ctl(o->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
            goto fail;
    }
    return 0;
fail:
    log_error("epoll_ctl: %s", strerror(errno));
    close(o->epfd);
    o->epfd = -1;
    return -1;
}

static bool told_to_retire(const struct serial_opts *opts)
{
    return opts != NULL && opts->retirable && atomic_load(&opts->sb->slot[opts->index].retire) != 0;
}

static void set_busy(const struct serial_opts *opts, int busy)
{
    if (opts != NULL && opts->sb != NULL)
        atomic_store(&opts->sb->slot[opts->index].busy, busy);
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
    struct one_at_a_time refuser = {.srv = srv, .adm = adm, .acc = acc, .epfd = -1};
    int idle_fd = stop->fd;
    if (opts != NULL && opts->one_at_a_time && one_at_a_time_open(&refuser, stop->fd) < 0)
        log_warn("newcomers wait in the backlog while a session runs");
    while (!stop->stopping && !told_to_retire(opts)) {
        int fd;
        union sockaddr_any peer;
        switch (acceptor_next(&ap, &fd, &peer)) {
        case NEXT_EVENT:
            stop_notice(stop);
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
            stop->on_notice = refuse_newcomers;
            stop->notice_arg = &refuser;
        }
        if (prologue_pregreet_blocking(&a, cfg) && prologue_admit(&a, cfg, adm, self, false))
            serve_blocking(srv, adm, &a, stop); /* to its end; closes fd */
        stop->fd = idle_fd;
        stop->on_notice = NULL;
        set_busy(opts, 0);
    }
out:
    if (refuser.epfd >= 0)
        close(refuser.epfd);
}

int arch_serial_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct ctl_events events;
    struct acceptor acc;
    if (ctl_events_open(&events, CTL_WITH_SIGINT) < 0)
        return 1;
    struct admission *adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    if (adm == NULL || acceptor_init(&acc) < 0) {
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
    admission_free(adm);
    ctl_events_close(&events);
    return 0;
}

/* The evented connection state machine and its loop, shared by reactor and
 * hybrid (see evconn.h). The protocol is all in the core; this file moves
 * control bytes, keeps time, and runs transfers with net/xfer_evented.c.
 *
 * One struct evconn per control connection, with its watchers embedded:
 *   io    the control socket, started only while there is something to do:
 *         EV_WRITE while replies are pending, else EV_READ unless the
 *         connection is closing or holds a deferred command;
 *   idle  the idle timeout, restarted with ev_timer_again on activity and
 *         stopped while a transfer runs (the data timeout applies then).
 * An idle connection holds only this struct and its session: the line
 * buffer and the reply buffer give their memory back when empty, lines are
 * taken into one per-loop scratch buffer, and a transfer engine exists only
 * while a transfer runs.
 *
 * Special problem: blocking filesystem calls in the reactor. The core's
 * open/stat/opendir (and the engine's pread, listing_fill's readdir) run on
 * the loop's thread, so a slow disk stalls every session of the loop. On a
 * local disk each is microseconds and acceptable; the door stays open for
 * handing session_command() of file commands to a small thread pool (the
 * EventMachine `defer` pattern) with the line held as a deferred one is. */
#include "arch/evconn.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/limits.h"
#include "ftpd/linebuf.h"
#include "ftpd/listing_cache.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "net/xfer_evented.h"

/* Connections taken per wake-up of a listener: a connection storm must not
 * keep the loop from serving the sessions it already has. */
#define ACCEPT_BATCH 32

/* How long accepting pauses when file descriptors run out and no spare is
 * left to sacrifice. */
#define ACCEPT_PAUSE 0.1

struct evconn;

struct evserver {
    const struct ftpd_server *srv;
    const struct evserver_opts *opts;
    const struct ftpd_config *cfg;
    struct conn_limits *limits;
    struct ev_loop *loop;
    pid_t pid;

    ev_io accept_w[FTPD_LISTEN_MAX];
    int naccept;
    ev_timer accept_pause; /* EMFILE without a spare: accept again later */
    int spare_fd;          /* /dev/null, sacrificed on EMFILE */
    bool fd_shortage;      /* inside an EMFILE burst (logged once) */
    unsigned long dropped; /* connections dropped in this burst */

    ev_signal sigterm_w, sigint_w;
    ev_timer grace; /* the shutdown grace running out */
    bool stopping;  /* graceful stop: no new connections or commands */
    bool stopped;   /* the loop is ending */

    struct evconn *conns; /* every open connection (for the stop) */
    int nconns;
    char line[FTPD_LINE_MAX + 1];        /* linebuf_take's output, one per loop */
    struct listing_cache *listing_cache; /* shared by the loop's sessions; NULL: off */
};

struct evconn {
    struct evserver *es;
    struct evconn *prev, *next;
    ev_io io;
    ev_timer idle;
    int fd;
    int events; /* what io watches now (0: stopped) */
    int slot;   /* in the limits table */
    struct session *session;
    struct xfer_ev *xfer; /* the transfer running, or NULL */
    struct linebuf in;
    struct buf out;
    char *deferred; /* a command that arrived mid-transfer, run after it */
    size_t deferred_len;
    bool closing;    /* close once the replies are written */
    bool hold_reply; /* a transfer just started: see conn_start_transfer */
};

/* ---- connection lifetime ---------------------------------------------- */

static void server_maybe_done(struct evserver *es)
{
    if (es->stopping && es->nconns == 0 && !es->stopped) {
        es->stopped = true;
        ev_break(es->loop, EVBREAK_ALL);
    }
}

/* Stop the running transfer and let the core write its reply. */
static void conn_end_transfer(struct evconn *c, enum xfer_result res)
{
    if (c->xfer == NULL)
        return;
    uint64_t bytes = xfer_ev_cancel(c->xfer);
    c->xfer = NULL;
    c->hold_reply = false;
    session_transfer_done(c->session, res, bytes, &c->out);
}

static void conn_close(struct evconn *c)
{
    struct evserver *es = c->es;
    /* The control connection is gone mid-transfer (EOF, error, timeout):
     * the blocking loop reports that as an abort too. */
    conn_end_transfer(c, XFER_ABORTED);
    ev_io_stop(es->loop, &c->io);
    ev_timer_stop(es->loop, &c->idle);
    log_info("%s disconnected", session_peer_name(c->session));
    session_free(c->session);
    linebuf_free(&c->in);
    buf_free(&c->out);
    free(c->deferred);
    close(c->fd);
    limits_release(es->limits, c->slot);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        es->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    es->nconns--;
    server_maybe_done(es);
}

/* Watch the control socket for exactly what the connection waits for. A
 * held reply is written at a lower priority: after the other events of the
 * same loop round, its transfer's among them. */
static void conn_watch(struct evconn *c, int events)
{
    int pri = c->hold_reply ? EV_MINPRI : 0;
    if (events == c->events && pri == ev_priority(&c->io))
        return;
    struct ev_loop *loop = c->es->loop;
    ev_io_stop(loop, &c->io);
    ev_set_priority(&c->io, pri);
    if (events != 0) {
        ev_io_set(&c->io, c->fd, events);
        ev_io_start(loop, &c->io);
    }
    c->events = events;
}

static void conn_touch(struct evconn *c)
{
    if (c->xfer == NULL)
        ev_timer_again(c->es->loop, &c->idle);
}

/* Write what the replies buffer holds, as far as the socket takes it.
 * Returns -1 when the connection failed. */
static int conn_flush(struct evconn *c)
{
    bool moved = false;
    while (c->out.len > 0) {
        size_t n;
        enum io_status st = net_write(c->fd, buf_head(&c->out), c->out.len, &n);
        if (st == IO_AGAIN)
            break;
        if (st != IO_OK) {
            log_info("%s control write failed: %s", session_peer_name(c->session), strerror(errno));
            return -1;
        }
        /* Special problem: short writes; the rest waits for EV_WRITE. */
        buf_consume(&c->out, n);
        moved = true;
    }
    if (c->out.len == 0) {
        c->out.overflow = false;
        buf_shrink(&c->out); /* an idle connection keeps no reply buffer */
    }
    if (moved)
        conn_touch(c);
    return 0;
}

/* ---- commands and transfers ------------------------------------------- */

static void conn_run(struct evconn *c);

static void on_transfer_done(void *arg, enum xfer_result res, uint64_t bytes)
{
    struct evconn *c = arg;
    c->xfer = NULL;
    c->hold_reply = false;
    session_transfer_done(c->session, res, bytes, &c->out);
    ev_timer_again(c->es->loop, &c->idle); /* idle time counts again */
    conn_run(c);
}

static void conn_start_transfer(struct evconn *c)
{
    struct transfer *t = session_transfer(c->session);
    if (t == NULL)
        return;
    ev_timer_stop(c->es->loop, &c->idle); /* the data timeout rules now */
    c->xfer = xfer_ev_start(c->es->loop, t, on_transfer_done, c);
    /* The 150 waits for the next loop round, where it is written after the
     * engine's events: a client that connected before sending RETR (the
     * usual order in passive mode) has a small file sent and done by then,
     * and 150 and 226 leave in one segment instead of two. A slower
     * transfer only has its 150 written a round later, still before any
     * other reply. */
    c->hold_reply = c->xfer != NULL;
    if (c->xfer == NULL) {
        log_error("%s cannot start the transfer: %s", session_peer_name(c->session),
                  strerror(errno));
        session_transfer_done(c->session, XFER_LOCAL_ERROR, 0, &c->out);
        ev_timer_again(c->es->loop, &c->idle);
    }
}

/* Run one command line through the core. */
static void conn_line(struct evconn *c, const char *line, size_t len)
{
    enum step step = session_command(c->session, line, len, &c->out);
    switch (step) {
    case STEP_CONTINUE:
        break;
    case STEP_TRANSFER:
        conn_start_transfer(c);
        break;
    case STEP_ABORT:
        conn_end_transfer(c, XFER_ABORTED); /* the core writes 426, 226 */
        break;
    case STEP_DEFER:
        /* Mid-transfer command that must wait: keep it, and stop reading
         * the control connection until the transfer ends. */
        c->deferred = malloc(len + 1);
        if (c->deferred == NULL) {
            log_error("%s out of memory", session_peer_name(c->session));
            c->closing = true;
            conn_end_transfer(c, XFER_ABORTED);
            break;
        }
        memcpy(c->deferred, line, len);
        c->deferred[len] = '\0';
        c->deferred_len = len;
        break;
    case STEP_CLOSE:
        c->closing = true;
        conn_end_transfer(c, XFER_ABORTED); /* as the blocking loop does */
        break;
    }
}

/* Drive the connection as far as it can go without waiting: write replies,
 * run the held and the buffered command lines, close when done. Called
 * last by every callback: it may free c. */
static void conn_run(struct evconn *c)
{
    struct evserver *es = c->es;
    for (;;) {
        if (!c->hold_reply && conn_flush(c) < 0) {
            conn_close(c);
            return;
        }
        /* A client that does not read its replies gets no more of them:
         * the buffer cannot grow, and the idle timer ends the wait. */
        if (c->out.len > 0)
            break;
        if (c->closing) {
            conn_close(c);
            return;
        }
        if (es->stopping && c->xfer == NULL) {
            /* Graceful stop: idle now, or its transfer just ended. The
             * commands it sent meanwhile are not run. */
            session_shutdown(c->session, &c->out);
            c->closing = true;
            continue;
        }
        if (c->deferred != NULL) {
            if (c->xfer != NULL)
                break; /* held until the transfer ends */
            char *line = c->deferred;
            c->deferred = NULL;
            conn_line(c, line, c->deferred_len);
            free(line);
            continue;
        }
        size_t len;
        enum line_status ls = linebuf_take(&c->in, es->line, &len);
        if (ls == LINE_NONE)
            break;
        if (ls == LINE_TOO_LONG)
            session_line_too_long(c->session, &c->out);
        else
            conn_line(c, es->line, len);
    }
    int events = 0;
    if (c->out.len > 0)
        events = EV_WRITE;
    else if (!c->closing && c->deferred == NULL)
        events = EV_READ;
    conn_watch(c, events);
}

/* ---- control connection events ---------------------------------------- */

static void on_control(struct ev_loop *loop, ev_io *w, int revents)
{
    struct evconn *c = w->data;
    c->hold_reply = false; /* its loop round has come */
    if (revents & EV_READ) {
        size_t avail, n;
        char *space = linebuf_space(&c->in, &avail);
        if (space == NULL) {
            /* conn_run takes every complete line before reading again, so
             * the buffer is never full here: this is ENOMEM. */
            log_error("%s out of memory", session_peer_name(c->session));
            conn_close(c);
            return;
        }
        enum io_status st = net_read(c->fd, space, avail, &n);
        if (st == IO_AGAIN)
            return;
        if (st != IO_OK) {
            if (st == IO_ERR)
                log_info("%s control read failed: %s", session_peer_name(c->session),
                         strerror(errno));
            conn_close(c);
            return;
        }
        linebuf_commit(&c->in, n);
        conn_touch(c);
    }
    conn_run(c);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct evconn *c = w->data;
    if (c->xfer != NULL)
        return; /* not armed during a transfer; be safe */
    if (c->closing || c->out.len > 0) {
        /* The client has not read its replies for the idle timeout. */
        log_info("%s control write failed: %s", session_peer_name(c->session), strerror(ETIMEDOUT));
        conn_close(c);
        return;
    }
    session_idle_timeout(c->session, &c->out);
    c->closing = true;
    ev_timer_again(loop, &c->idle); /* bounds the wait for the 421 to drain */
    conn_run(c);
}

static void conn_open(struct evserver *es, int fd, const union sockaddr_any *peer, int slot)
{
    union sockaddr_any local;
    socklen_t len = sizeof local;
    struct evconn *c = calloc(1, sizeof *c);
    if (c == NULL || getsockname(fd, &local.sa, &len) < 0) {
        char name[SOCKADDR_STR_MAX];
        sockaddr_str(peer, name, sizeof name);
        log_error("%s cannot set up connection: %s", name, strerror(errno));
        free(c);
        close(fd);
        limits_release(es->limits, slot);
        return;
    }
    net_control_socket(fd);
    c->session = session_new(es->cfg, es->srv->root_fd, &local, peer);
    if (c->session == NULL) {
        struct buf out;
        buf_init(&out, 0);
        session_refuse(es->cfg, REFUSE_NO_MEMORY, &out);
        size_t n;
        net_write(fd, buf_head(&out), out.len, &n); /* best effort */
        buf_free(&out);
        free(c);
        close(fd);
        limits_release(es->limits, slot);
        return;
    }
    session_set_listing_cache(c->session, es->listing_cache);
    c->es = es;
    c->fd = fd;
    c->slot = slot;
    linebuf_init(&c->in);
    buf_init(&c->out, 0);
    ev_io_init(&c->io, on_control, fd, EV_READ);
    c->io.data = c;
    ev_init(&c->idle, on_idle);
    c->idle.repeat = (ev_tstamp)es->cfg->idle_timeout;
    c->idle.data = c;
    ev_timer_again(es->loop, &c->idle);
    c->next = es->conns;
    if (es->conns != NULL)
        es->conns->prev = c;
    es->conns = c;
    es->nconns++;
    log_info("%s connected", session_peer_name(c->session));
    session_greet(c->session, &c->out);
    conn_run(c);
}

/* ---- accepting ---------------------------------------------------------- */

static void accept_watch(struct evserver *es, bool on)
{
    for (int i = 0; i < es->naccept; i++) {
        if (on)
            ev_io_start(es->loop, &es->accept_w[i]);
        else
            ev_io_stop(es->loop, &es->accept_w[i]);
    }
}

/* Special problem: EMFILE/ENFILE on accept. The pending connection stays in
 * the queue and the listener stays readable, so a level-triggered loop
 * would spin at 100% CPU. Give up the spare fd, take the connection off the
 * queue, close it, take the spare back: each wake-up then makes progress
 * (one connection dropped). With no spare left to sacrifice, stop the
 * accept watchers for ACCEPT_PAUSE instead. Logged once per burst. */
static void accept_exhausted(struct evserver *es, int lfd, int err)
{
    if (!es->fd_shortage) {
        log_warn("accept: %s: dropping new connections", strerror(err));
        es->fd_shortage = true;
    }
    if (es->spare_fd >= 0) {
        close(es->spare_fd);
        es->spare_fd = -1;
        union sockaddr_any dropped;
        int victim = net_accept(lfd, &dropped, true);
        if (victim >= 0) {
            close(victim);
            es->dropped++;
        }
        es->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (es->spare_fd < 0) {
        accept_watch(es, false);
        ev_timer_set(&es->accept_pause, ACCEPT_PAUSE, 0.);
        ev_timer_start(es->loop, &es->accept_pause);
    }
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct evserver *es = w->data;
    if (es->spare_fd < 0)
        es->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!es->stopping)
        accept_watch(es, true);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct evserver *es = w->data;
    for (int i = 0; i < ACCEPT_BATCH && !es->stopping; i++) {
        union sockaddr_any peer;
        int fd = net_accept(w->fd, &peer, true);
        if (fd < 0) {
            int err = errno;
            /* EAGAIN is normal: in hybrid another worker won the race. */
            if (err == EAGAIN || err == EWOULDBLOCK)
                return;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                accept_exhausted(es, w->fd, err);
                return;
            }
            log_warn("accept: %s", strerror(err));
            return;
        }
        if (es->fd_shortage) {
            log_warn("file descriptors available again (%lu connections dropped)", es->dropped);
            es->fd_shortage = false;
            es->dropped = 0;
        }
        enum refusal why;
        int slot = limits_admit(es->limits, &peer, es->pid, &why);
        if (slot < 0) {
            limits_turn_away(es->cfg, fd, why, &peer);
            continue;
        }
        conn_open(es, fd, &peer, slot);
    }
}

/* ---- stopping ----------------------------------------------------------- */

/* Close every connection now: transfers still running are cancelled with
 * XFER_SHUTDOWN, everyone gets the 421, written if the socket takes it. */
static void close_all(struct evserver *es)
{
    struct evconn *next;
    for (struct evconn *c = es->conns; c != NULL; c = next) {
        next = c->next;
        if (c->xfer != NULL) {
            conn_end_transfer(c, XFER_SHUTDOWN);
            if (!c->closing)
                session_shutdown(c->session, &c->out);
        }
        conn_flush(c);
        conn_close(c);
    }
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct evserver *es = w->data;
    log_info("shutdown grace over: closing %d connections", es->nconns);
    close_all(es);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct evserver *es = w->data;
    if (es->stopping) {
        log_info("%s: stopping now", strsignal(w->signum));
        close_all(es);
        return;
    }
    log_info("%s: stopping", strsignal(w->signum));
    es->stopping = true;
    /* No new connections from now on. The reactor stops its listeners so
     * new clients are refused at once; a hybrid worker leaves that to its
     * master, which owns the shared sockets (a worker recycled alone must
     * not stop the others' listener). */
    accept_watch(es, false);
    if (es->opts->stop_listeners)
        net_stop_listening(es->opts->listeners, es->opts->nlisteners);
    ev_timer_stop(loop, &es->accept_pause);
    /* Idle sessions get 421 and close; those in a transfer finish it first
     * (conn_run decides), for shutdown_grace seconds at most. */
    struct evconn *next;
    for (struct evconn *c = es->conns; c != NULL; c = next) {
        next = c->next;
        if (c->xfer == NULL)
            conn_run(c);
    }
    if (es->nconns > 0) {
        ev_timer_set(&es->grace, (ev_tstamp)es->cfg->shutdown_grace, 0.);
        ev_timer_start(loop, &es->grace);
    }
    server_maybe_done(es);
}

/* ---- the loop ----------------------------------------------------------- */

int evserver_run(const struct ftpd_server *srv, const struct evserver_opts *opts)
{
    if (opts->nlisteners > FTPD_LISTEN_MAX)
        return 1;
    struct evserver *es = calloc(1, sizeof *es);
    if (es == NULL) {
        log_error("out of memory");
        return 1;
    }
    es->srv = srv;
    es->cfg = srv->cfg;
    es->limits = opts->limits;
    es->pid = getpid();
    /* A fresh loop in the calling process (after any fork: special problem
     * "fork and libev"). EVFLAG_SIGNALFD: SIGINT and SIGTERM are blocked by
     * main(), and libev then reads them from a signalfd and keeps them
     * blocked; without signalfd it would install a handler and unblock them,
     * which works too, but changes the mask behind everyone's back. */
    es->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD);
    es->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (es->loop == NULL || es->spare_fd < 0) {
        log_error("cannot create the event loop: %s", strerror(errno));
        if (es->loop != NULL)
            ev_loop_destroy(es->loop);
        if (es->spare_fd >= 0)
            close(es->spare_fd);
        free(es);
        return 1;
    }
    log_debug("event loop backend %#x", ev_backend(es->loop));
    /* One listing cache per loop: single-threaded, so no locks. */
    es->listing_cache = listing_cache_new(es->cfg->listing_cache_ttl);
    if (es->listing_cache == NULL && es->cfg->listing_cache_ttl > 0)
        log_warn("listing cache off: %s", strerror(errno));

    es->opts = opts;
    es->naccept = opts->nlisteners;
    for (int i = 0; i < es->naccept; i++) {
        /* accept4(SOCK_NONBLOCK) needs a non-blocking listener as well, or
         * a connection reset between readiness and accept would block. */
        net_set_nonblock(opts->listeners[i].fd, true);
        ev_io_init(&es->accept_w[i], on_accept, opts->listeners[i].fd, EV_READ);
        es->accept_w[i].data = es;
    }
    accept_watch(es, true);
    ev_init(&es->accept_pause, on_accept_pause);
    es->accept_pause.data = es;
    ev_init(&es->grace, on_grace);
    es->grace.data = es;
    ev_signal_init(&es->sigterm_w, on_signal, SIGTERM);
    es->sigterm_w.data = es;
    ev_signal_start(es->loop, &es->sigterm_w);
    if (opts->watch_sigint) {
        ev_signal_init(&es->sigint_w, on_signal, SIGINT);
        es->sigint_w.data = es;
        ev_signal_start(es->loop, &es->sigint_w);
    }

    ev_run(es->loop, 0);

    close_all(es); /* nothing is left after a normal stop; be sure */
    accept_watch(es, false);
    ev_timer_stop(es->loop, &es->accept_pause);
    ev_timer_stop(es->loop, &es->grace);
    ev_signal_stop(es->loop, &es->sigterm_w);
    if (opts->watch_sigint)
        ev_signal_stop(es->loop, &es->sigint_w);
    ev_loop_destroy(es->loop);
    listing_cache_free(es->listing_cache); /* after close_all: no listing uses it */
    close(es->spare_fd);
    free(es);
    return 0;
}

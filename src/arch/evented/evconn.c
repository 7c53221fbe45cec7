/* The evented connection state machine (see evconn.h). The protocol is all
 * in the core; this file moves control bytes, keeps time, and runs
 * transfers with the evented engine.
 *
 * One struct evconn per control connection, with its watchers embedded:
 *   io    the control socket, started only while there is something to do:
 *         EV_WRITE while replies are pending, else EV_READ unless the
 *         connection is closing or holds a deferred command;
 *   idle  the idle timeout, restarted with ev_timer_again on activity and
 *         stopped while a transfer runs (the data timeout applies then);
 *         a failed login's delay borrows it (one timer fewer per
 *         connection): its repeat becomes the delay until it fires.
 * A password check (STEP_WORK) runs on the loop's work pool (workpool.h),
 * never on the loop: ~20 ms of yescrypt would stall every session. While
 * it runs, and while a failed login waits out its delay, the connection
 * reads no command, as with a command deferred during a transfer; but it
 * watches for a hang-up (on_control): a client that gives up meanwhile is
 * closed at once, and its check, when still queued, never runs, so a
 * flood of logins that time out does not keep the pool hashing for
 * nobody while live clients wait.
 * An idle connection holds only this struct and its session: the line
 * buffer and the reply buffer give their memory back when empty, lines are
 * taken into one per-loop scratch buffer, and a transfer engine exists only
 * while a transfer runs.
 *
 * Until its session exists (session == NULL) a connection is in the
 * prologue's pre-greeting phase: io waits for what that phase asked for.
 *
 * Special problem: blocking filesystem calls in the reactor. The core's
 * open/stat/opendir (and the engine's pread, listing_fill's readdir) run on
 * the loop's thread, so a slow disk stalls every session of the loop. On a
 * local disk each is microseconds and acceptable; the door stays open for
 * handing session_command() of file commands to a small thread pool (the
 * EventMachine `defer` pattern) with the line held as a deferred one is. */
#include "arch/evented/evconn.h"

#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/common/prologue.h"
#include "arch/evented/handover.h"
#include "arch/evented/workpool.h"
#include "ftpd/generation.h"
#include "ftpd/limits.h"
#include "ftpd/linebuf.h"
#include "ftpd/listing_cache.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/session.h"
#include "ftpd/session_record.h"
#include "ftpd/stream.h"
#include "ftpd/tls.h"
#include "ftpd/xfer_evented.h"

struct evconn {
    struct evserver *es;
    const struct ftpd_server *srv; /* the generation it started under, counted */
    struct evconn *prev, *next;
    ev_io io;
    ev_timer idle;
    struct arrival arrival; /* the control stream, the peer, the slot */
    /* Small fields together: an idle connection is mostly this struct. */
    uint16_t deferred_len;   /* of deferred (a line: at most FTPD_LINE_MAX) */
    unsigned char events;    /* what io watches now (0: stopped) */
    unsigned char write_ev;  /* what a pending reply waits for: EV_WRITE (TLS: maybe EV_READ) */
    unsigned char read_ev;   /* what the next read waits for: EV_READ (TLS: maybe EV_WRITE) */
    bool delaying;           /* a failed login's delay runs on idle */
    bool closing;            /* close once the replies are written */
    bool hold_reply;         /* a transfer just started: see conn_start_transfer */
    bool start_tls;          /* AUTH TLS answered: wrap once the 234 is out */
    bool tls_handshaking;    /* after AUTH TLS: idle holds tls_handshake_timeout */
    bool moving;             /* sent to a new generation, its answer awaited: parked */
    bool staying;            /* cannot move to the new generation: drains here */
    bool input_waits;        /* sent more during a check or a delay: unwatched till its end */
    struct session *session; /* NULL: still in the pre-greeting phase */
    struct xfer_ev *xfer;    /* the transfer running, or NULL */
    struct wp_item *job;     /* the password check on the pool, or NULL */
    struct linebuf in;
    struct buf out;
    char *deferred; /* a command that arrived mid-transfer, run after it */
};
_Static_assert(FTPD_LINE_MAX <= UINT16_MAX, "deferred_len holds a line's length");

/* ---- connection lifetime ---------------------------------------------- */

static void evserver_maybe_done(struct evserver *es)
{
    if ((es->stopping || es->draining) && es->nconns == 0 && !es->stopped) {
        es->stopped = true;
        ev_break(es->loop, EVBREAK_ALL);
    }
}

/* Take c off its loop's list and free it: the last step of every end. */
static void conn_unlink(struct evconn *c)
{
    struct evserver *es = c->es;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        es->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    generation_release(c->srv);
    free(c);
    es->nconns--;
    evserver_maybe_done(es);
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
    if (c->moving)
        handover_forget(es, c); /* its answer will find nobody */
    /* The control connection is gone mid-transfer (EOF, error, timeout):
     * the blocking loop reports that as an abort too. */
    conn_end_transfer(c, XFER_ABORTED);
    if (c->job != NULL)
        workpool_cancel(es->pool, c->job); /* the pool frees the job */
    c->job = NULL;
    ev_io_stop(es->loop, &c->io);
    ev_timer_stop(es->loop, &c->idle);
    if (c->session != NULL)
        prologue_end(&c->arrival, c->session, es->adm);
    else
        stream_close(&c->arrival.ctrl);
    linebuf_free(&c->in);
    buf_free(&c->out);
    free(c->deferred);
    conn_unlink(c);
}

/* The libev events a stream result waits for (dir: the call's own). */
static int ev_events(enum stream_status st, short dir)
{
    return stream_poll_events(st, dir) & POLLIN ? EV_READ : EV_WRITE;
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
        ev_io_set(&c->io, c->arrival.ctrl.fd, events);
        ev_io_start(loop, &c->io);
    }
    c->events = events;
}

static void conn_touch(struct evconn *c)
{
    if (c->xfer == NULL && !c->delaying)
        ev_timer_again(c->es->loop, &c->idle);
}

/* Write what the replies buffer holds, as far as the socket takes it.
 * Returns -1 when the connection failed. */
static int conn_flush(struct evconn *c)
{
    bool moved = false;
    c->write_ev = EV_WRITE;
    while (c->out.len > 0) {
        size_t n;
        enum stream_status st = stream_write(&c->arrival.ctrl, buf_head(&c->out), c->out.len, &n);
        if (st == STREAM_AGAIN || st == STREAM_WANT_READ || st == STREAM_WANT_WRITE) {
            c->write_ev = ev_events(st, POLLOUT);
            break;
        }
        if (st != STREAM_OK) {
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
static int conn_read(struct evconn *c);

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

/* What a step asks of the connection; line and len: the command that
 * returned it (STEP_DEFER keeps it), or NULL and 0. */
static void conn_step(struct evconn *c, enum step step, const char *line, size_t len);

/* The failed login's delay is over (or cut short by a stop): the 530. */
static void conn_end_delay(struct evconn *c)
{
    c->delaying = false;
    c->idle.repeat = (ev_tstamp)c->srv->cfg->idle_timeout;
    ev_timer_again(c->es->loop, &c->idle);
    conn_step(c, session_delay_done(c->session, &c->out), NULL, 0);
}

static void conn_start_delay(struct evconn *c)
{
    c->delaying = true;
    c->idle.repeat = session_delay_ms(c->session) / 1000.;
    ev_timer_again(c->es->loop, &c->idle);
}

static void job_run(void *job)
{
    work_run(job);
}

/* On the loop's thread: the check is done; arg NULL: the connection is gone. */
static void on_work_done(void *arg, void *job)
{
    struct evconn *c = arg;
    if (c == NULL) {
        work_free(job);
        return;
    }
    c->job = NULL;
    conn_step(c, session_work_done(c->session, job, &c->out), NULL, 0);
    conn_run(c);
}

static void conn_start_work(struct evconn *c)
{
    struct work *w = session_work_take(c->session);
    if (w == NULL)
        return;
    if (c->es->pool == NULL) { /* no pool (it could not be made): in place */
        work_run(w);
        conn_step(c, session_work_done(c->session, w, &c->out), NULL, 0);
        return;
    }
    if (workpool_submit(c->es->pool, job_run, w, on_work_done, c, &c->job) != 0) {
        c->job = NULL;
        conn_step(c, session_work_refused(c->session, w, &c->out), NULL, 0);
    }
}

/* Run one command line through the core. */
static void conn_line(struct evconn *c, const char *line, size_t len)
{
    conn_step(c, session_command(c->session, line, len, &c->out), line, len);
}

static void conn_step(struct evconn *c, enum step step, const char *line, size_t len)
{
    switch (step) {
    case STEP_CONTINUE:
        break;
    case STEP_TRANSFER:
        conn_start_transfer(c);
        break;
    case STEP_ABORT:
        conn_end_transfer(c, XFER_ABORTED); /* the core writes 426, 226 */
        break;
    case STEP_WORK:
        conn_start_work(c);
        break;
    case STEP_DELAY:
        conn_start_delay(c);
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
        c->deferred_len = (uint16_t)len;
        break;
    case STEP_CLOSE:
        c->closing = true;
        conn_end_transfer(c, XFER_ABORTED); /* as the blocking loop does */
        break;
    case STEP_TLS:
        c->start_tls = true;
        break;
    }
}

/* AUTH TLS: the 234 is out. Wrap the control stream; its handshake runs
 * inside the next reads (WANT_* become watcher changes), bounded by
 * tls_handshake_timeout on the idle timer. What the client sent in clear
 * after AUTH is dropped, never run as a command. */
static int conn_start_tls(struct evconn *c)
{
    const struct ftpd_config *cfg = c->srv->cfg;
    c->start_tls = false;
    linebuf_free(&c->in);
    linebuf_init(&c->in);
    if (tls_wrap_control(&c->arrival.ctrl, c->srv->tls) < 0) {
        log_info("%s TLS: %s", session_peer_name(c->session), strerror(errno));
        return -1;
    }
    session_tls_started(c->session, &c->arrival.ctrl, false);
    c->tls_handshaking = true;
    c->idle.repeat =
        (ev_tstamp)(cfg->tls_handshake_timeout < cfg->idle_timeout ? cfg->tls_handshake_timeout
                                                                   : cfg->idle_timeout);
    ev_timer_again(c->es->loop, &c->idle);
    return 0;
}

/* The control handshake after AUTH TLS is done: the idle timeout again. */
static void conn_tls_check_done(struct evconn *c)
{
    if (!c->tls_handshaking || stream_handshake(&c->arrival.ctrl) != STREAM_OK)
        return;
    c->tls_handshaking = false;
    c->idle.repeat = (ev_tstamp)c->srv->cfg->idle_timeout;
    ev_timer_again(c->es->loop, &c->idle);
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
        if (c->start_tls && !c->closing && conn_start_tls(c) < 0)
            c->closing = true;
        if (c->closing) {
            conn_close(c);
            return;
        }
        if (c->job != NULL)
            break; /* a password check runs: no command meanwhile */
        if (c->delaying) {
            if (!es->stopping)
                break;         /* a failed login's 530 waits out its delay */
            conn_end_delay(c); /* a stop cuts it short */
            continue;
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
        if (ls == LINE_NONE && stream_pending(&c->arrival.ctrl) > 0) {
            /* Bytes the stream holds (TLS) make no fd readable. */
            if (conn_read(c) < 0) {
                conn_close(c);
                return;
            }
            continue;
        }
        if (ls == LINE_NONE) {
            /* Idle: while a new generation takes sessions, offer it. */
            if (es->handover != NULL && !c->staying && handover_offer(es, c))
                return; /* parked until the new generation answers */
            break;
        }
        if (ls == LINE_TOO_LONG)
            session_line_too_long(c->session, &c->out);
        else
            conn_line(c, es->line, len);
    }
    bool login_wait = c->job != NULL || c->delaying;
    if (!login_wait)
        c->input_waits = false;
    int events = 0;
    if (c->out.len > 0)
        events = c->write_ev;
    else if (!c->closing && c->deferred == NULL && !login_wait)
        events = c->read_ev;
    else if (!c->closing && login_wait && !c->input_waits)
        events = EV_READ; /* only to see a hang-up: on_control */
    conn_watch(c, events);
}

/* ---- control connection events ---------------------------------------- */

/* Read what the control stream has into the line buffer. Returns -1 when
 * the connection is over (EOF, error). */
static int conn_read(struct evconn *c)
{
    size_t avail, n;
    char *space = linebuf_space(&c->in, &avail);
    if (space == NULL) {
        /* conn_run takes every complete line before reading again, so
         * the buffer is never full here: this is ENOMEM. */
        log_error("%s out of memory", session_peer_name(c->session));
        return -1;
    }
    enum stream_status st = stream_read(&c->arrival.ctrl, space, avail, &n);
    conn_tls_check_done(c);
    c->read_ev = EV_READ;
    if (st == STREAM_AGAIN || st == STREAM_WANT_READ || st == STREAM_WANT_WRITE) {
        c->read_ev = ev_events(st, POLLIN);
        return 0;
    }
    if (st != STREAM_OK) {
        if (st == STREAM_ERR)
            log_info("%s control read failed: %s", session_peer_name(c->session), strerror(errno));
        return -1;
    }
    linebuf_commit(&c->in, n);
    conn_touch(c);
    return 0;
}

static void conn_prologue(struct evconn *c);

static void on_control(struct ev_loop *loop, ev_io *w, int revents)
{
    struct evconn *c = w->data;
    if (c->session == NULL) {
        conn_prologue(c);
        return;
    }
    c->hold_reply = false; /* its loop round has come */
    if ((c->job != NULL || c->delaying) && c->out.len == 0 && (revents & EV_READ)) {
        if (net_peer_hung_up(c->arrival.ctrl.fd)) {
            log_info("%s hung up while its login was checked", session_peer_name(c->session));
            conn_close(c); /* cancels a check still queued */
            return;
        }
        c->input_waits = true; /* it sent a command early: read after the check */
    }
    bool reading =
        c->out.len == 0 && !c->closing && c->deferred == NULL && c->job == NULL && !c->delaying;
    if (reading && (revents & c->read_ev) && conn_read(c) < 0) {
        conn_close(c);
        return;
    }
    conn_run(c);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct evconn *c = w->data;
    if (c->xfer != NULL)
        return; /* not armed during a transfer; be safe */
    if (c->delaying) {
        conn_end_delay(c);
        conn_run(c);
        return;
    }
    if (c->job != NULL)
        return; /* the check ends soon, and restarts the idle time */
    if (c->tls_handshaking) {
        log_info("%s TLS handshake failed: %s", session_peer_name(c->session), strerror(ETIMEDOUT));
        conn_close(c);
        return;
    }
    if (c->session == NULL || c->closing || c->out.len > 0) {
        /* Still in the pre-greeting phase, or the client has not read its
         * replies for the idle timeout. */
        if (c->session == NULL)
            prologue_log_timeout(&c->arrival, c->srv->cfg);
        else
            log_info("%s control write failed: %s", session_peer_name(c->session),
                     strerror(ETIMEDOUT));
        conn_close(c);
        return;
    }
    session_idle_timeout(c->session, &c->out);
    c->closing = true;
    ev_timer_again(loop, &c->idle); /* bounds the wait for the 421 to drain */
    conn_run(c);
}

static void conn_free_early(struct evconn *c)
{
    struct evserver *es = c->es;
    ev_io_stop(es->loop, &c->io);
    ev_timer_stop(es->loop, &c->idle);
    buf_free(&c->out);
    conn_unlink(c);
}

static int evconn_pregreet_timeout(const struct ftpd_config *cfg);

/* The prologue, as far as the peer lets it go: the pre-greeting phase,
 * admission, the session and its 220. */
static void conn_prologue(struct evconn *c)
{
    struct evserver *es = c->es;
    const struct ftpd_config *cfg = c->srv->cfg;
    bool header_awaited = prologue_proxy_pending(&c->arrival, cfg);
    enum prologue_step pre = prologue_pregreet(&c->arrival, cfg);
    if (pre == PROLOGUE_DONE && header_awaited) {
        /* The PROXY header is in (within proxy_timeout): what follows it
         * gets the usual pre-greeting time. */
        c->idle.repeat = (ev_tstamp)evconn_pregreet_timeout(cfg);
        ev_timer_again(es->loop, &c->idle);
    }
    if (pre == PROLOGUE_DONE)
        pre = prologue_implicit_tls(&c->arrival, c->srv);
    switch (pre) {
    case PROLOGUE_DONE:
        break;
    case PROLOGUE_WANT_READ:
        conn_watch(c, EV_READ);
        return;
    case PROLOGUE_WANT_WRITE:
        conn_watch(c, EV_WRITE);
        return;
    case PROLOGUE_FAILED:
        stream_close(&c->arrival.ctrl);
        conn_free_early(c);
        return;
    }
    if (!prologue_admit(&c->arrival, cfg, es->adm, es->pid, es->stopping)) {
        conn_free_early(c); /* refused: the 421 is written, the stream closed */
        return;
    }
    c->session = prologue_session(&c->arrival, c->srv, es->srv->stats_row, es->adm, &c->out);
    if (c->session == NULL) {
        conn_free_early(c);
        return;
    }
    session_set_listing_cache(c->session, es->listing_cache);
    linebuf_init(&c->in);
    if (c->idle.repeat != (ev_tstamp)cfg->idle_timeout) { /* the pre-greeting timeout ran */
        c->idle.repeat = (ev_tstamp)cfg->idle_timeout;
        ev_timer_again(es->loop, &c->idle);
    }
    conn_run(c);
}

/* Seconds the pre-greeting phase may take: an implicit TLS handshake gets
 * tls_handshake_timeout (when shorter than the idle timeout). */
static int evconn_pregreet_timeout(const struct ftpd_config *cfg)
{
    if (cfg->implicit_tls_port != 0 && cfg->tls_handshake_timeout < cfg->idle_timeout)
        return cfg->tls_handshake_timeout;
    return cfg->idle_timeout;
}

/* A new connection's struct, on es's list, its watchers stopped. */
/* Reload: a connection takes the generation current now (its settings,
 * root, accounts, TLS) until it ends (conn_unlink gives it back). The
 * idle timer first times the pre-greeting phase, or a PROXY header. */
static void conn_init(struct evserver *es, struct evconn *c, int fd, const union sockaddr_any *peer)
{
    c->es = es;
    c->srv = generation_acquire(es->srv);
    const struct ftpd_config *cfg = c->srv->cfg;
    arrival_init(&c->arrival, fd, peer);
    buf_init(&c->out, 0);
    c->write_ev = EV_WRITE;
    c->read_ev = EV_READ;
    ev_io_init(&c->io, on_control, fd, EV_READ);
    c->io.data = c;
    ev_init(&c->idle, on_idle);
    c->idle.repeat =
        (ev_tstamp)(prologue_proxy_pending(&c->arrival, cfg) ? cfg->proxy_timeout
                                                             : evconn_pregreet_timeout(cfg));
    c->idle.data = c;
    c->next = es->conns;
    if (es->conns != NULL)
        es->conns->prev = c;
    es->conns = c;
    es->nconns++;
}

void evconn_open(struct evserver *es, int fd, const union sockaddr_any *peer)
{
    struct evconn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        char name[SOCKADDR_STR_MAX];
        sockaddr_str(peer, name, sizeof name);
        log_error("%s cannot set up connection: %s", name, strerror(errno));
        close(fd);
        return;
    }
    conn_init(es, c, fd, peer);
    ev_timer_again(es->loop, &c->idle);
    conn_prologue(c);
}

/* ---- stopping ----------------------------------------------------------- */

void evconn_stop_idle(struct evserver *es)
{
    struct evconn *next;
    for (struct evconn *c = es->conns; c != NULL; c = next) {
        next = c->next;
        if (c->session == NULL)
            conn_close(c);
        else if (c->xfer == NULL)
            conn_run(c);
    }
    evserver_maybe_done(es);
}

void evconn_drain(struct evserver *es)
{
    es->draining = true;
    evserver_maybe_done(es);
}

void evconn_close_all(struct evserver *es)
{
    struct evconn *next;
    for (struct evconn *c = es->conns; c != NULL; c = next) {
        next = c->next;
        if (c->moving) { /* the new generation may be serving it: no word */
            handover_forget(es, c);
            evconn_let_go(c, "stopped while moving");
            continue;
        }
        if (c->xfer != NULL)
            conn_end_transfer(c, XFER_SHUTDOWN);
        if (c->session != NULL && !c->closing)
            session_shutdown(c->session, &c->out); /* as the blocking loop says it */
        if (c->session != NULL)
            conn_flush(c);
        conn_close(c);
    }
}

/* ---- live upgrade: sessions moving between generations (handover.h) ---- */

int evconn_export(struct evconn *c, struct session_record *r, int fds[2], int *nfds,
                  const char **why)
{
    bool idle = c->session != NULL && !c->closing && c->xfer == NULL && c->job == NULL &&
                !c->delaying && c->deferred == NULL && c->out.len == 0 && !c->hold_reply &&
                !c->start_tls && !linebuf_pending(&c->in) && stream_pending(&c->arrival.ctrl) == 0;
    if (!idle)
        return 0;
    if (session_record_export(c->session, r, why) < 0)
        return -1;
    fds[0] = c->arrival.ctrl.fd;
    *nfds = 1;
    if (r->have_pasv)
        fds[(*nfds)++] = session_record_pasv_fd(c->session);
    return 1;
}

void evconn_park(struct evconn *c)
{
    c->moving = true;
    conn_watch(c, 0);
    ev_timer_stop(c->es->loop, &c->idle);
}

void evconn_unpark(struct evconn *c, bool staying)
{
    c->moving = false;
    c->staying = staying;
    ev_timer_again(c->es->loop, &c->idle);
    conn_run(c);
}

void evconn_let_go(struct evconn *c, const char *why)
{
    struct evserver *es = c->es;
    c->moving = false;
    log_info("%s %s", session_peer_name(c->session), why);
    session_free(c->session);       /* closes our copy of a passive listener */
    stream_close(&c->arrival.ctrl); /* plain: our copy of the descriptor, no word */
    admission_release(es->adm, c->arrival.slot);
    ev_io_stop(es->loop, &c->io);
    ev_timer_stop(es->loop, &c->idle);
    linebuf_free(&c->in);
    buf_free(&c->out);
    conn_unlink(c);
}

struct evconn *evconn_adopt(struct evserver *es, int fd, const union sockaddr_any *peer, int slot,
                            struct session *s)
{
    struct evconn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    conn_init(es, c, fd, peer);
    c->idle.repeat = (ev_tstamp)c->srv->cfg->idle_timeout; /* a session already */
    c->arrival.slot = slot;
    c->session = s;
    session_set_listing_cache(s, es->listing_cache);
    linebuf_init(&c->in);
    c->moving = true; /* parked until evconn_unpark */
    return c;
}

struct evconn *evconn_next(const struct evconn *c)
{
    return c->next;
}

const char *evconn_name(const struct evconn *c)
{
    return session_peer_name(c->session);
}

void evconn_kick(struct evconn *c)
{
    if (c->session != NULL && c->xfer == NULL && !c->moving)
        conn_run(c);
}

void evconn_stays(struct evconn *c, const char *why)
{
    c->staying = true;
    log_info("%s stays in this generation: %s", session_peer_name(c->session), why);
}

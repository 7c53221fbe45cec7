/* The connection loop of the five blocking back-ends: one control
 * connection, served to its end by the calling thread or process. All the
 * protocol is in the core; this file only moves bytes and keeps time. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/blocking/blocking.h"
#include "ftpd/clock.h"
#include "ftpd/generation.h"
#include "ftpd/limits.h"
#include "ftpd/linebuf.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/session.h"
#include "ftpd/stream.h"
#include "ftpd/tls.h"

struct conn {
    const struct ftpd_server *srv; /* the generation it started under, counted */
    int stats_row;                 /* this process's counters (--status) */
    struct admission *adm;
    struct stream *ctrl; /* &arrival.ctrl */
    struct session *session;
    struct linebuf in;
    struct buf out;
    struct stop_state *stop; /* of the thread serving the current step */
    bool closing;            /* close after the reply is written */
    bool has_deferred;       /* a command that arrived mid-transfer, run after it */
    /* Steps (conn_step): a password check and a failed login's delay are
     * the caller's (CONN_WORK, CONN_DELAY), so no thread waits for them. */
    bool park_delays;
    bool delaying;     /* a delay is pending: conn_delay_done() */
    struct work *work; /* a password check is pending: conn_work_done() */
    size_t deferred_len;
    /* FTPD_LINE_MAX + 1 bytes each, lent by the thread serving the current
     * step (conn_step), or the conn's own scratch (own_scratch). */
    char *line;
    char *deferred;
    struct arrival arrival; /* the control stream, the peer, the slot */
    /* Last, and never zeroed: an idle session touches only the first bytes
     * of these, so their pages cost no memory (the thread back-end keeps
     * one conn per idle session). Present only with own_scratch. */
    struct conn_scratch own[];
};

/* Write the pending replies. A client that does not read its replies for
 * the idle timeout is dropped. */
static int flush(struct conn *c)
{
    if (c->out.len == 0)
        return 0;
    enum stream_status st =
        stream_write_all(c->ctrl, buf_head(&c->out), c->out.len, c->srv->cfg->idle_timeout * 1000);
    buf_clear(&c->out);
    if (st != STREAM_OK) {
        log_info("%s control write failed: %s", session_peer_name(c->session), strerror(errno));
        c->closing = true;
        return -1;
    }
    return 0;
}

/* Read what the control connection has into the line buffer. Returns -1
 * when the client closed it or it failed. */
static int read_control(struct conn *c)
{
    size_t avail, n;
    char *space = linebuf_space(&c->in, &avail);
    if (space == NULL)
        return 0; /* full of complete lines: take them first */
    enum stream_status st = stream_read(c->ctrl, space, avail, &n);
    if (st == STREAM_AGAIN || st == STREAM_WANT_READ || st == STREAM_WANT_WRITE)
        return 0; /* the poll loop waits; WANT_WRITE resolves on the next write */
    if (st != STREAM_OK) {
        if (st == STREAM_ERR)
            log_info("%s control read failed: %s", session_peer_name(c->session), strerror(errno));
        return -1;
    }
    linebuf_commit(&c->in, n);
    return 0;
}

static enum step run_transfer(struct conn *c);

/* A failed login's delay, waited in place: only a stop cuts it short (the
 * 530 is written either way, then the loop says 421 if stopping). */
static void wait_delay(struct conn *c, int ms)
{
    int64_t deadline = clock_ms() + ms;
    while (!c->stop->stopping) {
        int64_t left = deadline - clock_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {.fd = c->stop->fd, .events = POLLIN};
        int n = poll(&pfd, c->stop->fd >= 0 ? 1 : 0, (int)left);
        if (n < 0 && errno != EINTR) {
            log_error("%s poll: %s", session_peer_name(c->session), strerror(errno));
            return;
        }
        if (n > 0)
            stop_notice(c->stop);
    }
}

/* AUTH TLS: the 234 is out. Wrap the control stream and finish the
 * handshake (within tls_handshake_timeout) before another byte is read as a
 * command; what the client sent in clear after AUTH is dropped. */
static enum step start_tls(struct conn *c)
{
    linebuf_free(&c->in);
    linebuf_init(&c->in);
    if (tls_wrap_control(c->ctrl, c->srv->tls) < 0 ||
        tls_handshake_blocking(c->ctrl, c->srv->cfg->tls_handshake_timeout * 1000) != STREAM_OK) {
        log_info("%s TLS handshake failed: %s", session_peer_name(c->session), strerror(errno));
        return STEP_CLOSE;
    }
    session_tls_started(c->session, c->ctrl, false);
    return STEP_CONTINUE;
}

/* Run one command line through the core, and what it asks for: a
 * transfer, a password check (run here: this thread or process serves
 * nobody else), a failed login's delay. */
static void run_line(struct conn *c, const char *line, size_t len)
{
    enum step step = session_command(c->session, line, len, &c->out);
    if (flush(c) < 0)
        return;
    if (step == STEP_TLS)
        step = start_tls(c);
    if (step == STEP_TRANSFER)
        step = run_transfer(c);
    if (step == STEP_WORK && c->park_delays) {
        c->work = session_work_take(c->session); /* conn_step says CONN_WORK */
        return;
    }
    if (step == STEP_WORK) {
        struct work *w = session_work_take(c->session);
        work_run(w);
        step = session_work_done(c->session, w, &c->out);
        if (flush(c) < 0)
            return;
    }
    if (step == STEP_DELAY && c->park_delays) {
        c->delaying = true; /* no thread waits: conn_step says CONN_DELAY */
        return;
    }
    if (step == STEP_DELAY) {
        wait_delay(c, session_delay_ms(c->session));
        step = session_delay_done(c->session, &c->out);
        if (flush(c) < 0)
            return;
    }
    if (step == STEP_CLOSE)
        c->closing = true;
}

/* Mid-transfer: answer what may be answered (ABOR, STAT, NOOP) from the
 * lines already held; hold the first command that must wait, and stop
 * reading until the transfer ends. */
static enum ctl_action control_lines(struct conn *c, struct xfer_watch *w)
{
    for (;;) {
        size_t len;
        enum line_status ls = linebuf_take(&c->in, c->line, &len);
        if (ls == LINE_NONE)
            return CTL_CONTINUE;
        if (ls == LINE_TOO_LONG) {
            session_line_too_long(c->session, &c->out);
            if (flush(c) < 0)
                return CTL_ABORT;
            continue;
        }
        enum step step = session_command(c->session, c->line, len, &c->out);
        if (flush(c) < 0)
            return CTL_ABORT;
        switch (step) {
        case STEP_DEFER:
            memcpy(c->deferred, c->line, len + 1);
            c->deferred_len = len;
            c->has_deferred = true;
            w->ctrl = NULL;
            return CTL_PAUSE;
        case STEP_ABORT:
            return CTL_ABORT;
        case STEP_CLOSE:
            c->closing = true;
            return CTL_ABORT;
        default:
            break;
        }
    }
}

static enum ctl_action on_control(struct xfer_watch *w)
{
    struct conn *c = w->arg;
    if (read_control(c) < 0) {
        c->closing = true;
        return CTL_ABORT;
    }
    return control_lines(c, w);
}

static enum ctl_action on_stop(struct xfer_watch *w)
{
    struct conn *c = w->arg;
    stop_notice(c->stop);
    w->stop_fd = c->stop->fd;
    w->deadline = c->stop->deadline;
    return c->stop->hard ? CTL_ABORT : CTL_CONTINUE;
}

static enum step run_transfer(struct conn *c)
{
    struct transfer *t = session_transfer(c->session);
    struct xfer_watch w = {
        .ctrl = c->ctrl,
        .stop_fd = c->stop->fd,
        .deadline = c->stop->stopping ? c->stop->deadline : 0,
        .on_control = on_control,
        .on_stop = on_stop,
        .arg = c,
    };
    uint64_t bytes = 0;
    /* Lines pipelined behind the transfer command (RETR x, ABOR in one
     * segment) are already in the buffer, where poll() cannot see them. */
    enum xfer_result r = XFER_ABORTED;
    if (control_lines(c, &w) != CTL_ABORT)
        r = xfer_run_blocking(t, &w, &bytes);
    if (r == XFER_ABORTED && c->stop->hard)
        r = XFER_SHUTDOWN;
    session_transfer_done(c->session, r, bytes, &c->out);
    flush(c);
    return c->closing ? STEP_CLOSE : STEP_CONTINUE;
}

/* Take and run every complete line held, the one deferred during a transfer
 * first. */
static void run_pending_lines(struct conn *c)
{
    while (!c->closing) {
        if (c->has_deferred) {
            c->has_deferred = false;
            run_line(c, c->deferred, c->deferred_len);
            if (c->delaying || c->work != NULL)
                return;
            continue;
        }
        size_t len;
        enum line_status ls = linebuf_take(&c->in, c->line, &len);
        if (ls == LINE_NONE)
            return;
        if (ls == LINE_TOO_LONG) {
            session_line_too_long(c->session, &c->out);
            flush(c);
            continue;
        }
        run_line(c, c->line, len);
        if (c->stop->stopping || c->delaying || c->work != NULL)
            return;
    }
}

/* A 421 for an event the loop detected (idle timeout, stop), written before
 * the connection closes. */
static void say_goodbye(struct conn *c, void (*reply)(struct session *, struct buf *))
{
    reply(c->session, &c->out);
    flush(c);
    c->closing = true;
}

enum conn_next conn_step(struct conn *c, struct stop_state *stop, struct conn_scratch *scratch)
{
    c->stop = stop;
    if (scratch != NULL) {
        c->line = scratch->line;
        c->deferred = scratch->deferred;
    }
    for (;;) {
        if (c->stop->stopping) {
            say_goodbye(c, session_shutdown);
            return CONN_CLOSE;
        }
        if (read_control(c) < 0)
            return CONN_CLOSE;
        run_pending_lines(c);
        if (c->closing)
            return CONN_CLOSE;
        if (c->work != NULL)
            return CONN_WORK;
        if (c->delaying)
            return CONN_DELAY;
        /* Bytes a stream already holds (TLS) make no fd readable. */
        if (stream_pending(c->ctrl) == 0 && !c->stop->stopping)
            return CONN_PARK;
    }
}

/* The blocking modes: wait for the next command here, then step. */
static void serve(struct conn *c)
{
    const struct ftpd_config *cfg = c->srv->cfg;
    int64_t idle_deadline = clock_ms() + (int64_t)cfg->idle_timeout * 1000;
    while (!c->closing) {
        if (c->stop->stopping) {
            say_goodbye(c, session_shutdown);
            return;
        }
        int64_t wait = idle_deadline - clock_ms();
        if (wait <= 0) {
            say_goodbye(c, session_idle_timeout);
            return;
        }
        struct pollfd pfd[2] = {{.fd = c->ctrl->fd, .events = POLLIN},
                                {.fd = c->stop->fd, .events = POLLIN}};
        int n = poll(pfd, 2, wait > 60000 ? 60000 : (int)wait);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s poll: %s", session_peer_name(c->session), strerror(errno));
            return;
        }
        if (pfd[1].revents)
            stop_notice(c->stop);
        if (pfd[0].revents) {
            if (conn_step(c, c->stop, NULL) == CONN_CLOSE)
                return;
            idle_deadline = clock_ms() + (int64_t)cfg->idle_timeout * 1000;
        }
    }
}

struct conn *conn_new(const struct ftpd_server *srv, struct admission *adm, const struct arrival *a,
                      bool own_scratch)
{
    size_t size = sizeof(struct conn) + (own_scratch ? sizeof(struct conn_scratch) : 0);
    struct conn *c = malloc(size);
    if (c == NULL)
        return NULL;
    memset(c, 0, offsetof(struct conn, own));
    /* Reload: the session keeps the settings of the generation current
     * now until it ends, whatever reloads happen meanwhile. */
    c->srv = generation_acquire(srv);
    c->stats_row = srv->stats_row;
    c->adm = adm;
    c->arrival = *a;
    c->ctrl = &c->arrival.ctrl;
    if (own_scratch) {
        c->line = c->own->line;
        c->deferred = c->own->deferred;
    }
    c->park_delays = !own_scratch;
    buf_init(&c->out, 0);
    linebuf_init(&c->in);
    return c;
}

enum conn_next conn_greet(struct conn *c)
{
    if (prologue_implicit_tls_blocking(&c->arrival, c->srv, c->adm))
        c->session = prologue_session(&c->arrival, c->srv, c->stats_row, c->adm, &c->out);
    if (c->session == NULL) {
        c->closing = true;
        return CONN_CLOSE;
    }
    return flush(c) < 0 ? CONN_CLOSE : CONN_PARK;
}

int conn_delay_ms(const struct conn *c)
{
    return session_delay_ms(c->session);
}

/* The 530 after a failed login's delay (cut short by a stop, as in
 * wait_delay()). */
static void end_delay(struct conn *c)
{
    c->delaying = false;
    if (session_delay_done(c->session, &c->out) == STEP_CLOSE)
        c->closing = true;
    flush(c);
}

enum conn_next conn_delay_done(struct conn *c, struct stop_state *stop,
                               struct conn_scratch *scratch)
{
    end_delay(c);
    if (c->closing)
        return CONN_CLOSE;
    return conn_step(c, stop, scratch); /* the lines that waited behind it */
}

void conn_work_run(struct conn *c)
{
    work_run(c->work);
}

enum conn_next conn_work_done(struct conn *c, struct stop_state *stop, struct conn_scratch *scratch)
{
    struct work *w = c->work;
    c->work = NULL;
    enum step step = session_work_done(c->session, w, &c->out);
    if (flush(c) < 0 || step == STEP_CLOSE)
        return CONN_CLOSE;
    if (step == STEP_DELAY) {
        c->delaying = true;
        return CONN_DELAY;
    }
    return conn_step(c, stop, scratch); /* the lines that waited behind it */
}

int conn_fd(const struct conn *c)
{
    return c->ctrl->fd;
}

void conn_park(struct conn *c)
{
    buf_shrink(&c->out); /* the line buffer gave its memory back when emptied */
}

void conn_end(struct conn *c, enum conn_end why)
{
    work_free(c->work); /* a check nobody will hear of (NULL: none) */
    if (c->session != NULL) {
        if (why == CONN_END_HUNG_UP)
            log_info("%s hung up while its login was checked", session_peer_name(c->session));
        else if (c->delaying)
            end_delay(c);
        if (why == CONN_END_IDLE)
            say_goodbye(c, session_idle_timeout);
        else if (why == CONN_END_STOPPING)
            say_goodbye(c, session_shutdown);
        prologue_end(&c->arrival, c->session, c->adm);
    }
    linebuf_free(&c->in);
    buf_free(&c->out);
    generation_release(c->srv);
    free(c);
}

void conn_refuse(struct conn *c, enum refusal why)
{
    admission_release(c->adm, c->arrival.slot);
    admission_refuse(c->adm, c->srv->cfg, c->ctrl, why, &c->arrival.peer);
    buf_free(&c->out);
    generation_release(c->srv);
    free(c);
}

void serve_blocking(const struct ftpd_server *srv, struct admission *adm, struct arrival *a,
                    struct stop_state *stop)
{
    struct conn *c = conn_new(srv, adm, a, true);
    if (c == NULL) {
        log_error("out of memory");
        admission_release(adm, a->slot);
        admission_refuse(adm, srv->cfg, &a->ctrl, REFUSE_NO_MEMORY, &a->peer);
        return;
    }
    c->stop = stop;
    if (conn_greet(c) == CONN_PARK)
        serve(c);
    conn_end(c, CONN_END_DONE);
}

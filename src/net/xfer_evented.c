/* The evented transfer engine (see xfer_evented.h for the contract).
 *
 * One job is a small state machine driven by two watchers: an ev_io on the
 * socket it waits for (the passive listener, the connecting socket, then the
 * data connection) and an ev_timer for the data timeout, restarted with
 * ev_timer_again on progress. Phases:
 *
 *   ACCEPT / CONNECT  -> MOVE  -> finish (OK or an error)
 *
 * MOVE does what the blocking engine does, a bounded slice per wake-up:
 * sendfile for binary RETR, pread (+ LF->CRLF) and write for TYPE A or a file
 * sendfile cannot read, listing_fill into a bounded buffer for listings,
 * read + pwrite for STOR. Every data byte goes through the data
 * connection's stream (stream.h): the ev_io waits for what the last result
 * asked (stream_poll_events: a TLS write may need the socket readable), and
 * bytes the stream holds (stream_pending) are read without waiting.
 *
 * Under a bandwidth cap (throttle_grant) a slice is at most what the cap
 * grants; when it grants nothing yet, the ev_io is stopped and a third
 * watcher, an ev_timer, wakes the job when a slice has accrued. */
#include "ftpd/xfer_evented.h"

#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/buf.h"
#include "ftpd/clock.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/proxy_header.h"
#include "ftpd/rate.h"
#include "ftpd/stats.h"
#include "ftpd/tls.h"

/* listing_fill adds whole lines until about FTPD_LISTING_CHUNK bytes, so a
 * chunk can overshoot by one line (a long name plus its facts). */
#define LISTING_BUF_LIMIT (2 * FTPD_LISTING_CHUNK + FTPD_PATH_MAX + 1024)

enum phase {
    PH_FAILED,  /* failed at start: the timer reports it from the loop */
    PH_ACCEPT,  /* passive: waiting for the client on t->pasv_fd */
    PH_PROXY,   /* passive, proxy_protocol_data: the balancer's header on dfd */
    PH_CONNECT, /* active: our connect is in progress */
    PH_MOVE,    /* the data connection is up */
    PH_CLOSING, /* all moved; waiting for the client's TLS close_notify */
};

enum mode {
    MODE_SENDFILE, /* binary RETR: zero copy */
    MODE_COPY,     /* RETR through user space (TYPE A, or no sendfile) */
    MODE_LISTING,  /* LIST/NLST/MLSD */
    MODE_RECV,     /* STOR */
};

struct xfer_ev {
    struct ev_loop *loop;
    const struct transfer *t;
    xfer_ev_done_fn done;
    void *arg;
    ev_io io;
    ev_timer timer;
    enum phase phase;
    enum mode mode;
    enum xfer_result failed;   /* PH_FAILED: what to report */
    int dfd;                   /* PH_CONNECT: the connecting socket; PH_PROXY:
                                  the accepted one */
    struct proxy_parser proxy; /* PH_PROXY */
    struct stream ds;          /* PH_MOVE: the data connection (fd -1 before) */
    short want;                /* poll events the last move result waits for */
    int watch_fd;              /* what x->io is started on (events 0: stopped) */
    int watch_events;
    uint64_t bytes;     /* crossed the data connection */
    uint64_t off, left; /* file position and bytes still to read */
    bool last_cr;       /* TYPE A state across chunks (STOR: a CR held) */
    bool listing_more;  /* listing_fill said more remains */
    bool started;       /* the stream's handshake (TLS) is done */
    /* MODE_COPY / MODE_RECV: a chunk read from the file (or the socket) and,
     * for TYPE A, its encoded form; pend..pend+pend_len is still to write. */
    char *mem;
    char *pend;
    size_t pend_len;
    struct buf list; /* MODE_LISTING: lines still to write */
    /* Bandwidth caps (throttle_grant); limited false: none, no cost. */
    struct rate_limit rate;
    bool limited;
    bool paused;     /* throttled: io stopped until `resume` fires */
    ev_timer resume; /* throttled: when the next slice will have accrued */
    size_t slice;    /* bytes this wake-up may move (SIZE_MAX: no cap) */
};

static void finish(struct xfer_ev *x, enum xfer_result res);
static void watch(struct xfer_ev *x, int fd, int events);
static bool move_slice(struct xfer_ev *x);

/* Stop everything and release what the engine owns (not the session's fds). */
static uint64_t teardown(struct xfer_ev *x)
{
    ev_io_stop(x->loop, &x->io);
    ev_timer_stop(x->loop, &x->timer);
    ev_timer_stop(x->loop, &x->resume);
    /* A plain close: unsent bytes still drain to the client in the
     * background (no SO_LINGER), and the client sees EOF after them. */
    if (x->dfd >= 0)
        close(x->dfd);
    stream_close(&x->ds);
    uint64_t bytes = x->bytes;
    free(x->mem);
    buf_free(&x->list);
    free(x);
    return bytes;
}

/* One step of the data stream's orderly end. Returns true while it waits
 * (the watcher and a FTPD_DATA_CLOSE_WAIT_MS timer are armed), false when
 * there is nothing (more) to wait for. Plain TCP: false at once. */
static bool closing_step(struct xfer_ev *x)
{
    enum stream_status st = stream_shutdown(&x->ds);
    int events = st == STREAM_WANT_READ ? EV_READ : st == STREAM_WANT_WRITE ? EV_WRITE : 0;
    if (events == 0)
        return false;
    if (x->phase != PH_CLOSING) {
        x->phase = PH_CLOSING;
        x->paused = false;
        ev_timer_stop(x->loop, &x->resume);
        ev_timer_stop(x->loop, &x->timer);
        ev_timer_set(&x->timer, FTPD_DATA_CLOSE_WAIT_MS / 1000.0, 0.);
        ev_timer_start(x->loop, &x->timer);
    }
    if (x->watch_fd != x->ds.fd || x->watch_events != events)
        watch(x, x->ds.fd, events);
    return true;
}

static void finish(struct xfer_ev *x, enum xfer_result res)
{
    res = xfer_data_result(&x->ds, res); /* a refused TLS data connection: 522 */
    /* A complete transfer ends the TLS stream both ways before the reply
     * (tls_shutdown says why); a failed one is cut. */
    if (res == XFER_OK && x->phase == PH_MOVE && x->ds.fd >= 0 && closing_step(x))
        return;
    xfer_ev_done_fn done = x->done;
    void *arg = x->arg;
    uint64_t bytes = teardown(x);
    done(arg, res, bytes); /* last: the handle is gone */
}

uint64_t xfer_ev_cancel(struct xfer_ev *x)
{
    return teardown(x);
}

/* Wait for events on fd (0: wait for nothing). */
static void watch(struct xfer_ev *x, int fd, int events)
{
    ev_io_stop(x->loop, &x->io);
    if (events != 0) {
        ev_io_set(&x->io, fd, events);
        ev_io_start(x->loop, &x->io);
    }
    x->watch_fd = fd;
    x->watch_events = events;
}

/* Wait on the data stream for what the last move result asked (x->want).
 * The watcher is re-armed only when that changes, so a plain transfer
 * costs no epoll_ctl per wake-up. */
static void await(struct xfer_ev *x)
{
    if (x->paused)
        return; /* throttled: the resume timer comes back */
    int events = (x->want & POLLIN ? EV_READ : 0) | (x->want & POLLOUT ? EV_WRITE : 0);
    if (x->watch_fd != x->ds.fd || x->watch_events != events)
        watch(x, x->ds.fd, events);
    /* Special problem: bytes the stream holds (TLS records read ahead)
     * make no fd readable. Come back on the next loop round (no syscall)
     * instead of waiting for a readiness that may never come. */
    if ((events & EV_READ) && stream_pending(&x->ds) > 0)
        ev_feed_event(x->loop, &x->io, EV_READ);
}

static void progress(struct xfer_ev *x, size_t n)
{
    x->bytes += n;
    transfer_moved(x->t, n);
    if (x->timer.repeat > 0)
        ev_timer_again(x->loop, &x->timer);
}

/* ---- moving data ------------------------------------------------------ */

/* Write what is pending. Returns 1 when all of it went, 0 when the stream
 * cannot take more now (x->want says what to wait for), -1 when finish()
 * was called. */
static int write_pending(struct xfer_ev *x, const char *p, size_t len, size_t *written)
{
    *written = 0;
    while (len > 0) {
        size_t n;
        enum stream_status st = stream_write(&x->ds, p, len, &n);
        switch (st) {
        case STREAM_OK:
            /* Special problem: short writes; the rest goes next round. */
            p += n;
            len -= n;
            *written += n;
            progress(x, n);
            break;
        case STREAM_AGAIN:
        case STREAM_WANT_READ:
        case STREAM_WANT_WRITE:
            x->want = stream_poll_events(st, POLLOUT);
            return 0;
        case STREAM_EOF:
        case STREAM_ERR:
            /* EPIPE/ECONNRESET: the client went away (the plain stream
             * sends with MSG_NOSIGNAL: no SIGPIPE). */
            finish(x, XFER_CONN_LOST);
            return -1;
        }
    }
    return 1;
}

/* Binary RETR: one bounded slice of sendfile. Returns true when the caller
 * should keep waiting for EV_WRITE (or switched mode), false when finished. */
static bool move_sendfile(struct xfer_ev *x)
{
    const struct transfer *t = x->t;
    size_t budget = XFER_EV_SENDFILE_BUDGET < x->slice ? XFER_EV_SENDFILE_BUDGET : x->slice;
    while (budget > 0) {
        if (x->left == 0) {
            finish(x, XFER_OK);
            return false;
        }
        size_t want = x->left < budget ? (size_t)x->left : budget;
        /* Short counts are normal (the socket buffer filled). */
        size_t n;
        enum stream_status st = stream_sendfile(&x->ds, t->file_fd, &x->off, want, &n);
        if (st == STREAM_OK && n > 0) {
            x->left -= n;
            budget -= n;
            progress(x, n);
            continue;
        }
        if (st == STREAM_OK) {
            /* EOF before size: the file shrank since it was opened. What
             * was there has been sent; that is the file. */
            finish(x, XFER_OK);
            return false;
        }
        if (st == STREAM_ERR && (errno == EINVAL || errno == ENOSYS) && x->off == t->offset) {
            x->mode = MODE_COPY; /* a file (or stream) sendfile cannot do */
            return true;
        }
        if (st == STREAM_ERR || st == STREAM_EOF) {
            bool peer = st == STREAM_EOF || net_errno_is_peer(errno);
            finish(x, peer ? XFER_CONN_LOST : XFER_LOCAL_ERROR);
            return false;
        }
        x->want = stream_poll_events(st, POLLOUT); /* AGAIN or WANT_* */
        return true;
    }
    return true;
}

/* RETR through user space: pread a chunk, encode it for TYPE A, write. */
static bool move_copy(struct xfer_ev *x)
{
    const struct transfer *t = x->t;
    if (x->mem == NULL) {
        x->mem = malloc(t->ascii ? 3 * FTPD_XFER_CHUNK : FTPD_XFER_CHUNK);
        if (x->mem == NULL) {
            finish(x, XFER_LOCAL_ERROR);
            return false;
        }
    }
    size_t budget = XFER_EV_BUDGET < x->slice ? XFER_EV_BUDGET : x->slice;
    while (budget > 0) {
        if (x->pend_len > 0) {
            size_t n;
            int r = write_pending(x, x->pend, x->pend_len < budget ? x->pend_len : budget, &n);
            if (r < 0)
                return false;
            x->pend += n;
            x->pend_len -= n;
            budget = n < budget ? budget - n : 0;
            if (r == 0)
                return true;
            continue;
        }
        if (x->left == 0) {
            finish(x, XFER_OK);
            return false;
        }
        size_t want = x->left < FTPD_XFER_CHUNK ? (size_t)x->left : FTPD_XFER_CHUNK;
        ssize_t n = pread(t->file_fd, x->mem, want, (off_t)x->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            finish(x, XFER_LOCAL_ERROR);
            return false;
        }
        if (n == 0) {
            finish(x, XFER_OK); /* the file shrank: see move_sendfile */
            return false;
        }
        x->off += (uint64_t)n;
        x->left -= (uint64_t)n;
        x->pend = x->mem;
        x->pend_len = (size_t)n;
        if (t->ascii) {
            /* in: one chunk; out: twice that, a chunk of nothing but LFs. */
            x->pend = x->mem + FTPD_XFER_CHUNK;
            x->pend_len = xfer_ascii_encode(x->mem, (size_t)n, x->pend, &x->last_cr);
        }
    }
    return true;
}

static bool move_listing(struct xfer_ev *x)
{
    if (x->t->listing == NULL) {
        finish(x, XFER_LOCAL_ERROR);
        return false;
    }
    size_t budget = XFER_EV_BUDGET < x->slice ? XFER_EV_BUDGET : x->slice;
    while (budget > 0) {
        if (x->list.len > 0) {
            size_t n;
            size_t len = x->list.len < budget ? x->list.len : budget;
            int r = write_pending(x, buf_head(&x->list), len, &n);
            if (r < 0)
                return false;
            buf_consume(&x->list, n);
            budget = n < budget ? budget - n : 0;
            if (r == 0)
                return true;
            continue;
        }
        if (!x->listing_more) {
            finish(x, XFER_OK);
            return false;
        }
        buf_clear(&x->list);
        int more = listing_fill(x->t->listing, &x->list);
        if (more < 0) {
            finish(x, XFER_LOCAL_ERROR);
            return false;
        }
        x->listing_more = more > 0;
    }
    return true;
}

/* Write n bytes of an upload; on failure finish() with a result that
 * tells disk full and quota apart (xfer_write_error). */
static bool write_file(struct xfer_ev *x, const char *p, size_t n)
{
    if (net_pwrite_all(x->t->file_fd, p, n, &x->off) == 0)
        return true;
    log_warn("data connection: writing the file: %s", strerror(errno));
    finish(x, xfer_write_error(errno));
    return false;
}

/* STOR: data connection to file_fd from t->offset (pwrite: REST needs no
 * lseek; a file opened O_APPEND appends whatever the offset). One buffer per
 * upload; TYPE A decodes in place as the blocking engine does (recv_file
 * there). A slow client costs nothing: the watcher waits for EV_READ. */
static bool move_recv(struct xfer_ev *x)
{
    if (x->mem == NULL) {
        x->mem = malloc(FTPD_XFER_CHUNK + 1);
        if (x->mem == NULL) {
            finish(x, XFER_LOCAL_ERROR);
            return false;
        }
    }
    size_t budget = XFER_EV_BUDGET < x->slice ? XFER_EV_BUDGET : x->slice;
    while (budget > 0) {
        size_t n;
        size_t want = budget < FTPD_XFER_CHUNK ? budget : FTPD_XFER_CHUNK;
        enum stream_status st = stream_read(&x->ds, x->mem + 1, want, &n);
        switch (st) {
        case STREAM_OK:
            break;
        case STREAM_AGAIN:
        case STREAM_WANT_READ:
        case STREAM_WANT_WRITE:
            x->want = stream_poll_events(st, POLLIN);
            return true;
        case STREAM_EOF:
            /* The client closed: that is the end of the file (and a CR it
             * ended with was a byte of it). */
            if (x->last_cr && !write_file(x, "\r", 1))
                return false;
            finish(x, XFER_OK);
            return false;
        case STREAM_ERR:
            finish(x, XFER_CONN_LOST);
            return false;
        }
        progress(x, n);
        budget = n < budget ? budget - n : 0;
        const char *p = x->mem + 1;
        if (x->t->ascii) {
            n = xfer_ascii_decode(x->mem + 1, n, x->mem, &x->last_cr);
            p = x->mem;
        }
        if (!write_file(x, p, n))
            return false;
    }
    return true;
}

/* ---- bandwidth (max_rate_download, max_rate_upload, max_rate_total) ----- */

/* May this wake-up move bytes, and how many (x->slice)? When the caps
 * grant none yet: stop the data watcher (an upload's socket is then not
 * read, and TCP flow control slows the sender) and arm the resume timer
 * for when a slice will have accrued (ftpd/rate.h: half a burst, about
 * 50 ms of the rate): one wake-up per slice, never one per byte. The
 * control connection is another watcher: ABOR and STAT are answered
 * meanwhile. Returns false when paused. */
static bool throttle_grant(struct xfer_ev *x)
{
    x->slice = SIZE_MAX;
    /* What is left to send, so the last slice waits for no more than
     * that; unknown for uploads and a listing still being made. Nothing
     * left: the move only finishes the job. */
    uint64_t want = UINT32_MAX;
    if (x->mode == MODE_SENDFILE || x->mode == MODE_COPY)
        want = x->left + x->pend_len;
    else if (x->mode == MODE_LISTING && !x->listing_more)
        want = x->list.len;
    if (!x->limited || want == 0)
        return true;
    int64_t wait_ms;
    uint64_t n = rate_limit_grant(&x->rate, clock_ms(), want, &wait_ms);
    if (n > 0) {
        x->slice = n < SIZE_MAX ? (size_t)n : SIZE_MAX;
        return true;
    }
    x->paused = true;
    watch(x, x->watch_fd, 0);
    ev_timer_stop(x->loop, &x->timer); /* no data timeout while throttled */
    ev_timer_set(&x->resume, (ev_tstamp)wait_ms / 1000., 0.);
    ev_timer_start(x->loop, &x->resume);
    return false;
}

static bool move(struct xfer_ev *x);

static void on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct xfer_ev *x = w->data;
    x->paused = false;
    /* Time spent throttled is no stall of the client's: the data timeout
     * starts afresh. */
    if (x->timer.repeat > 0)
        ev_timer_again(x->loop, &x->timer);
    if (move(x))
        await(x);
}

/* The data socket is ready: move one bounded slice. Returns false when the
 * transfer finished (x is gone); else x->want says what to wait for. */
static bool move(struct xfer_ev *x)
{
    if (!throttle_grant(x))
        return true;
    uint64_t before = x->bytes;
    bool more = move_slice(x);
    if (more && x->limited)
        rate_limit_charge(&x->rate, x->bytes - before);
    return more;
}

/* One slice of at most x->slice bytes. Returns as move() does. */
static bool move_slice(struct xfer_ev *x)
{
    x->want = x->mode == MODE_RECV ? POLLIN : POLLOUT; /* unless a result says */
    /* The stream's start (a TLS handshake) before any byte, even for a
     * transfer of none: WANT_* become watcher changes like any result. */
    if (!x->started) {
        enum stream_status st = stream_handshake(&x->ds);
        if (st == STREAM_ERR || st == STREAM_EOF) {
            log_debug("data connection: %s handshake: %s", x->ds.ops->name, strerror(errno));
            finish(x, XFER_CONN_LOST);
            return false;
        }
        if (st != STREAM_OK) {
            x->want = stream_poll_events(st, x->want);
            return true;
        }
        x->started = true;
    }
    switch (x->mode) {
    case MODE_SENDFILE:
        if (!move_sendfile(x))
            return false;
        if (x->mode == MODE_SENDFILE)
            return true;
        /* sendfile cannot read this file: go on with pread + write */
        /* fall through */
    case MODE_COPY:
        return move_copy(x);
    case MODE_LISTING:
        return move_listing(x);
    case MODE_RECV:
        return move_recv(x);
    }
    return true;
}

/* ---- making the data connection --------------------------------------- */

/* fd (the accepted or connected data connection) is now the engine's. */
static void connected(struct xfer_ev *x, int fd)
{
    x->dfd = -1;
    if (xfer_data_stream(x->t, fd, &x->ds) < 0) {
        log_warn("data connection: %s", strerror(errno));
        finish(x, XFER_NO_CONN);
        return;
    }
    x->phase = PH_MOVE;
    /* The data timeout starts afresh once the connection is up. */
    if (x->timer.repeat > 0)
        ev_timer_again(x->loop, &x->timer);
    if (x->mode == MODE_RECV) {
        x->want = POLLIN;
        await(x);
        return;
    }
    /* A new connection has an empty send buffer: send now rather than
     * after a loop round (and an epoll_ctl) that would only say so. A
     * small file is then sent and done in this one callback. */
    if (move(x))
        await(x);
}

/* proxy_protocol_data: the header, as far as the balancer has sent it. A
 * refused connection sends us back to waiting for the next one. */
static void on_proxy_header(struct xfer_ev *x)
{
    int r = dataconn_proxy_step(x->dfd, x->t, &x->proxy);
    if (r == 0)
        return;
    int fd = x->dfd;
    x->dfd = -1;
    if (r > 0) {
        connected(x, fd);
        return;
    }
    x->phase = PH_ACCEPT;
    watch(x, x->t->pasv_fd, EV_READ);
}

static void on_accept(struct xfer_ev *x)
{
    const struct transfer *t = x->t;
    for (;;) {
        int fd = dataconn_accept_for(t);
        if (fd >= 0 && t->pasv_proxy != 0) {
            x->dfd = fd;
            x->phase = PH_PROXY;
            proxy_parser_init(&x->proxy, t->pasv_proxy);
            watch(x, fd, EV_READ);
            on_proxy_header(x); /* it is usually there already */
            return;
        }
        if (fd >= 0) {
            connected(x, fd);
            return;
        }
        /* EPERM: another host's connection, already closed and logged; keep
         * waiting for our client (the data timeout keeps running, so a
         * flood of strangers cannot hold the session). */
        if (errno == EPERM)
            continue;
        /* EAGAIN: gone before we got to it (reset), keep waiting. */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        /* EMFILE and friends: the listener stays readable, so waiting again
         * would spin the loop. Give up on this transfer (425); the session
         * lives. */
        log_warn("data connection: accept: %s", strerror(errno));
        finish(x, XFER_NO_CONN);
        return;
    }
}

static void on_connect(struct xfer_ev *x)
{
    int err = dataconn_connect_result(x->dfd);
    if (err != 0) {
        log_debug("data connection: connect: %s", strerror(err));
        finish(x, XFER_NO_CONN);
        return;
    }
    connected(x, x->dfd);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct xfer_ev *x = w->data;
    switch (x->phase) {
    case PH_ACCEPT:
        on_accept(x);
        break;
    case PH_CONNECT:
        on_connect(x);
        break;
    case PH_PROXY:
        on_proxy_header(x);
        break;
    case PH_MOVE:
        /* EV_ERROR is not expected on a valid fd; the next syscall reports
         * any socket error. */
        if (move(x))
            await(x);
        break;
    case PH_CLOSING:
        if (!closing_step(x))
            finish(x, XFER_OK);
        break;
    case PH_FAILED:
        break;
    }
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct xfer_ev *x = w->data;
    switch (x->phase) {
    case PH_FAILED:
        finish(x, x->failed);
        break;
    case PH_ACCEPT:
    case PH_PROXY:
    case PH_CONNECT:
        log_debug("data connection: none within %d s", x->t->data_timeout);
        finish(x, XFER_NO_CONN);
        break;
    case PH_MOVE:
        log_debug("data connection: no progress for %d s", x->t->data_timeout);
        finish(x, XFER_CONN_LOST);
        break;
    case PH_CLOSING:
        log_debug("data connection: no close_notify within %d ms", FTPD_DATA_CLOSE_WAIT_MS);
        finish(x, XFER_OK); /* every byte went: the transfer is complete */
        break;
    }
}

/* Report a failure from the loop, never from inside xfer_ev_start: the
 * caller is in the middle of handling a command. */
static void fail_soon(struct xfer_ev *x, enum xfer_result res)
{
    x->phase = PH_FAILED;
    x->failed = res;
    ev_io_stop(x->loop, &x->io);
    ev_timer_stop(x->loop, &x->timer);
    ev_timer_set(&x->timer, 0., 0.);
    ev_timer_start(x->loop, &x->timer);
}

struct xfer_ev *xfer_ev_start(struct ev_loop *loop, const struct transfer *t, xfer_ev_done_fn done,
                              void *arg)
{
    struct xfer_ev *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->loop = loop;
    x->t = t;
    x->done = done;
    x->arg = arg;
    x->dfd = -1;
    x->ds = (struct stream){.ops = NULL, .fd = -1};
    x->watch_fd = -1;
    x->off = t->offset;
    x->left = t->size;
    x->listing_more = true;
    buf_init(&x->list, LISTING_BUF_LIMIT);
    switch (t->kind) {
    case XFER_SEND_FILE:
        x->mode = t->ascii ? MODE_COPY : MODE_SENDFILE;
        break;
    case XFER_SEND_LISTING:
        x->mode = MODE_LISTING;
        break;
    case XFER_RECV_FILE:
        x->mode = MODE_RECV;
        break;
    }
    ev_init(&x->io, on_io);
    x->io.data = x;
    ev_init(&x->timer, on_timer);
    x->timer.data = x;
    ev_init(&x->resume, on_resume);
    x->resume.data = x;
    rate_limit_init(&x->rate, t->max_rate, t->rate_total, clock_ms());
    x->limited = rate_limit_on(&x->rate);
    x->slice = SIZE_MAX;
    x->timer.repeat = t->data_timeout > 0 ? (ev_tstamp)t->data_timeout : 0.;
    if (x->timer.repeat > 0)
        ev_timer_again(loop, &x->timer);

    if (t->kind != XFER_SEND_FILE && t->kind != XFER_SEND_LISTING && t->kind != XFER_RECV_FILE) {
        fail_soon(x, XFER_LOCAL_ERROR);
    } else if (t->pasv_fd >= 0) {
        x->phase = PH_ACCEPT; /* pasv_fd is non-blocking (transfer.h) */
        watch(x, t->pasv_fd, EV_READ);
    } else {
        int fd = dataconn_connect_start(t);
        if (fd < 0) {
            log_debug("data connection: connect: %s", strerror(errno));
            fail_soon(x, XFER_NO_CONN);
        } else {
            x->dfd = fd;
            x->phase = PH_CONNECT;
            watch(x, fd, EV_WRITE);
        }
    }
    return x;
}

/* The blocking transfer engine: runs one transfer job to the end on the
 * calling thread, for the serial/process/thread/prefork/threadpool
 * back-ends.
 *
 * "Blocking" is the thread's point of view only: every socket here is
 * non-blocking and all waiting happens in one poll() (engine_wait), which
 * also watches the control connection (ABOR, STAT) and the server's stop
 * fd. Nothing is allocated on the stack beyond a few words: worker threads
 * run with small stacks, so the transfer buffer comes from malloc.
 *
 * Every data byte goes through the data connection's stream (stream.h):
 * the engine waits for what a result asks (stream_poll_events: a TLS write
 * may need the socket readable), and bytes a stream already holds
 * (stream_pending) count as readable without a poll, on the data stream
 * and on w->ctrl alike.
 *
 * Contract for struct xfer_watch (net.h):
 *   - the engine reads w->ctrl, w->stop_fd and w->deadline afresh before
 *     every poll, so a callback may change them (e.g. on_stop sets a grace
 *     deadline and stop_fd = -1);
 *   - a callback returning CTL_CONTINUE must have consumed what made its fd
 *     readable and the bytes its stream holds (or set ctrl = NULL / the fd
 *     to -1), or it is called again at once;
 *   - CTL_PAUSE makes the engine stop polling that fd until this transfer
 *     ends; the engine never writes to *w, so the same watch serves the next
 *     transfer unchanged;
 *   - CTL_ABORT ends the transfer: XFER_ABORTED from on_control,
 *     XFER_SHUTDOWN from on_stop. A NULL on_control means CTL_PAUSE, a NULL
 *     on_stop means CTL_ABORT.
 * The engine never closes t->file_fd, t->pasv_fd, t->listing or w->ctrl:
 * the session owns them. It only closes the data connection it made. */
#include "ftpd/net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/buf.h"
#include "ftpd/clock.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/log.h"
#include "ftpd/proxy_header.h"
#include "ftpd/rate.h"
#include "ftpd/stats.h"
#include "ftpd/tls.h"

/* Largest sendfile() per round. A non-blocking socket takes only what fits
 * in its buffer anyway; the cap bounds how long ctrl and stop go unpolled
 * on loopback, where the receiver drains as fast as we send (16 MiB is
 * about 2.5 ms there). Fewer, larger calls cost less per byte: see
 * XFER_EV_SENDFILE_BUDGET in xfer_evented.h. */
#define SENDFILE_CHUNK (16 * 1024 * 1024)

/* listing_fill adds whole lines until about FTPD_LISTING_CHUNK bytes, so a
 * chunk can overshoot by one line (a long name plus its facts). */
#define LISTING_BUF_LIMIT (2 * FTPD_LISTING_CHUNK + FTPD_PATH_MAX + 1024)

struct engine {
    const struct transfer *t;
    struct xfer_watch *w;
    bool poll_ctrl;        /* cleared by CTL_PAUSE from on_control */
    bool poll_stop;        /* cleared by CTL_PAUSE from on_stop */
    int64_t timeout_ms;    /* data timeout; 0 = none */
    int64_t last_progress; /* clock_ms() of the last byte moved */
    uint64_t *bytes;
    /* Bandwidth caps (throttle below); limited false: none, no cost. */
    struct rate_limit rate;
    bool limited;
    int64_t sleep_until; /* clock_ms() a throttled engine_wait ends; 0: not asleep */
};

enum wait_status {
    WAIT_READY,   /* the data fd has the events asked for (or an error) */
    WAIT_TIMEOUT, /* no progress for the data timeout */
    WAIT_END,     /* stop now, the result is set */
};

static int clamp_ms(int64_t ms)
{
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* The one poll loop both phases share: wait until fd has `events` (or at
 * once when `held`: the data stream holds bytes), while answering the
 * control connection and the stop fd, and enforcing the data timeout and
 * the shutdown deadline. On WAIT_END *res says why (ABORTED, SHUTDOWN,
 * LOCAL_ERROR). */
static enum wait_status engine_wait(struct engine *e, int fd, short events, bool held,
                                    enum xfer_result *res)
{
    struct xfer_watch *w = e->w;
    for (;;) {
        int64_t now = clock_ms();
        int wait_ms = -1;
        if (w->deadline > 0) {
            if (now >= w->deadline) {
                *res = XFER_SHUTDOWN;
                return WAIT_END;
            }
            wait_ms = clamp_ms(w->deadline - now);
        }
        if (e->sleep_until > 0) {
            /* Throttled (fd is -1): the wait is the rest of the sleep, and
             * no data timeout runs, as no progress is expected. */
            if (now >= e->sleep_until)
                return WAIT_READY;
            int64_t left = e->sleep_until - now;
            if (wait_ms < 0 || left < wait_ms)
                wait_ms = clamp_ms(left);
        } else if (e->timeout_ms > 0) {
            int64_t left = e->last_progress + e->timeout_ms - now;
            if (left <= 0)
                return WAIT_TIMEOUT;
            if (wait_ms < 0 || left < wait_ms)
                wait_ms = clamp_ms(left);
        }

        /* Special problem: bytes a stream holds (TLS records read ahead)
         * make no fd readable. Poll without waiting, so ABOR and the stop
         * still come first, and count them as ready. */
        bool ctrl_held = e->poll_ctrl && w->ctrl != NULL && stream_pending(w->ctrl) > 0;
        if (held || ctrl_held)
            wait_ms = 0;

        struct pollfd pfd[3] = {{.fd = fd, .events = events}};
        nfds_t n = 1;
        int ci = -1, si = -1;
        if (e->poll_ctrl && w->ctrl != NULL) {
            ci = (int)n;
            pfd[n++] = (struct pollfd){.fd = w->ctrl->fd, .events = POLLIN};
        }
        if (e->poll_stop && w->stop_fd >= 0) {
            si = (int)n;
            pfd[n++] = (struct pollfd){.fd = w->stop_fd, .events = POLLIN};
        }
        int r = poll(pfd, n, wait_ms);
        if (r < 0) {
            /* Special problem: EINTR. A signal (SIGCHLD, SIGTERM to a
             * worker) interrupts poll; just go round, the deadline and
             * timeout are recomputed from the clock. */
            if (errno == EINTR)
                continue;
            *res = XFER_LOCAL_ERROR;
            return WAIT_END;
        }
        if (r == 0 && !held && !ctrl_held)
            continue; /* the checks at the top decide */

        /* The server stopping outranks the client; the client's ABOR
         * outranks data that happens to be ready at the same moment. A
         * closed fd (POLLNVAL) would be reported forever: stop watching it. */
        if (si >= 0 && pfd[si].revents != 0) {
            enum ctl_action a = CTL_ABORT;
            if (pfd[si].revents & POLLNVAL)
                a = CTL_PAUSE;
            else if (w->on_stop != NULL)
                a = w->on_stop(w);
            if (a == CTL_ABORT) {
                *res = XFER_SHUTDOWN;
                return WAIT_END;
            }
            if (a == CTL_PAUSE)
                e->poll_stop = false;
        }
        if (ci >= 0 && (pfd[ci].revents != 0 || ctrl_held)) {
            enum ctl_action a = CTL_PAUSE;
            if (!(pfd[ci].revents & POLLNVAL) && w->on_control != NULL)
                a = w->on_control(w);
            if (a == CTL_ABORT) {
                *res = XFER_ABORTED;
                return WAIT_END;
            }
            if (a == CTL_PAUSE)
                e->poll_ctrl = false;
        }
        /* POLLERR/POLLHUP count as ready: the next syscall reports them. */
        if (pfd[0].revents != 0 || held)
            return WAIT_READY;
    }
}

static void progress(struct engine *e, size_t n)
{
    *e->bytes += n;
    transfer_moved(e->t, n);
    e->last_progress = clock_ms();
    if (e->limited)
        rate_limit_charge(&e->rate, n);
}

/* ---- bandwidth (max_rate_download, max_rate_upload, max_rate_total) ----- */

/* How many of want bytes may move now under the transfer's caps, in
 * *allowed (WAIT_READY; else *res says why the transfer ends). When none may yet, sleep until
 * enough have accrued for a slice (ftpd/rate.h: half a burst, about 50 ms of the rate): the sleep
 * is engine_wait's poll with no data fd in it, so ABOR, STAT and a stop are still answered at once,
 * and an upload's socket is simply not read (TCP flow control slows the sender). Every byte that
 * moves is charged in progress(). */
static enum wait_status throttle(struct engine *e, size_t want, size_t *allowed,
                                 enum xfer_result *res)
{
    *allowed = want;
    if (!e->limited)
        return WAIT_READY;
    for (;;) {
        int64_t now = clock_ms(), wait_ms;
        uint64_t n = rate_limit_grant(&e->rate, now, want, &wait_ms);
        if (n > 0) {
            *allowed = n < want ? (size_t)n : want;
            return WAIT_READY;
        }
        e->sleep_until = now + wait_ms;
        enum wait_status st = engine_wait(e, -1, 0, false, res);
        e->sleep_until = 0;
        if (st == WAIT_TIMEOUT) /* not while asleep; kept for the contract */
            *res = XFER_CONN_LOST;
        if (st != WAIT_READY)
            return st;
        /* Time spent asleep is no stall of the client's. */
        e->last_progress = clock_ms();
    }
}

/* Wait until the data connection is ready for ev (held: the stream holds
 * bytes already read). false: the transfer ends, *res says why (no
 * progress for data_timeout: XFER_CONN_LOST). */
static bool wait_data(struct engine *e, int fd, short ev, bool held, enum xfer_result *res)
{
    switch (engine_wait(e, fd, ev, held, res)) {
    case WAIT_READY:
        return true;
    case WAIT_TIMEOUT:
        *res = XFER_CONN_LOST;
        return false;
    case WAIT_END:
        break;
    }
    return false;
}

/* One slice of a moving transfer: how many of want bytes the caps let move
 * now (throttle), then the wait for the data connection (wait_data). */
static bool await_slice(struct engine *e, int fd, short ev, bool held, size_t want, size_t *allowed,
                        enum xfer_result *res)
{
    return throttle(e, want, allowed, res) == WAIT_READY && wait_data(e, fd, ev, held, res);
}

/* proxy_protocol_data: the balancer's PROXY header on the accepted data
 * connection, within the data timeout. Returns fd; -1 with errno EPERM:
 * refused (closed, logged), wait for the next; -2: the wait ended the
 * transfer (*res set, fd closed). */
static int data_proxy_header(struct engine *e, int fd, enum xfer_result *res)
{
    struct proxy_parser p;
    proxy_parser_init(&p, e->t->pasv_proxy);
    for (;;) {
        int r = dataconn_proxy_step(fd, e->t, &p);
        if (r != 0)
            return r > 0 ? fd : -1;
        switch (engine_wait(e, fd, POLLIN, false, res)) {
        case WAIT_READY:
            continue;
        case WAIT_TIMEOUT:
            *res = XFER_NO_CONN;
            break;
        case WAIT_END:
            break;
        }
        close(fd);
        return -2;
    }
}

/* Passive: the client connects to the port we announced. */
static int data_accept(struct engine *e, enum xfer_result *res)
{
    const struct transfer *t = e->t;
    /* pasv_fd is non-blocking (transfer.h): poll() may say readable for a
     * connection that is reset before accept(). */
    for (;;) {
        switch (engine_wait(e, t->pasv_fd, POLLIN, false, res)) {
        case WAIT_READY:
            break;
        case WAIT_TIMEOUT:
            *res = XFER_NO_CONN;
            return -1;
        case WAIT_END:
            return -1;
        }
        int fd = dataconn_accept_for(t);
        if (fd >= 0 && t->pasv_proxy != 0)
            fd = data_proxy_header(e, fd, res);
        if (fd >= 0)
            return fd;
        if (fd == -2)
            return -1; /* the wait for the header ended the transfer */
        /* EPERM: another host's connection, already closed and logged; keep
         * waiting for our client (the timeout keeps running, so a flood of
         * strangers cannot hold the session). EAGAIN: gone before accept. */
        if (errno == EPERM || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        /* EMFILE and friends: the listener stays readable, so waiting again
         * would spin. Give up on this transfer (425); the session lives. */
        log_warn("data connection: accept: %s", strerror(errno));
        *res = XFER_NO_CONN;
        return -1;
    }
}

/* Active: we connect to the address from PORT/EPRT. */
static int data_connect(struct engine *e, enum xfer_result *res)
{
    int fd = dataconn_connect_start(e->t);
    if (fd < 0) {
        log_debug("data connection: connect: %s", strerror(errno));
        *res = XFER_NO_CONN;
        return -1;
    }
    switch (engine_wait(e, fd, POLLOUT, false, res)) {
    case WAIT_READY:
        break;
    case WAIT_TIMEOUT:
        *res = XFER_NO_CONN;
        close(fd);
        return -1;
    case WAIT_END:
        close(fd);
        return -1;
    }
    int err = dataconn_connect_result(fd);
    if (err != 0) {
        log_debug("data connection: connect: %s", strerror(err));
        *res = XFER_NO_CONN;
        close(fd);
        return -1;
    }
    return fd;
}

/* Send all of p on the data connection. */
static enum xfer_result send_all(struct engine *e, struct stream *ds, const char *p, size_t len)
{
    short ev = POLLOUT;
    while (len > 0) {
        enum xfer_result res;
        size_t allowed;
        /* Poll before every write, not only after EAGAIN: a fast client
         * keeps the socket writable, and ABOR must still be heard. */
        if (!await_slice(e, ds->fd, ev, false, len, &allowed, &res))
            return res;
        size_t n;
        enum stream_status st = stream_write(ds, p, allowed, &n);
        switch (st) {
        case STREAM_OK:
            /* Special problem: short writes; the rest goes next round. */
            p += n;
            len -= n;
            progress(e, n);
            break;
        case STREAM_AGAIN:      /* spurious readiness: poll again */
        case STREAM_WANT_READ:  /* the stream must read first (TLS) */
        case STREAM_WANT_WRITE: /* (the poll below says which) */
            break;
        case STREAM_EOF:
        case STREAM_ERR:
            /* EPIPE/ECONNRESET: the client went away. The plain stream
             * sends with MSG_NOSIGNAL: an error code, not a SIGPIPE. */
            return XFER_CONN_LOST;
        }
        ev = stream_poll_events(st, POLLOUT);
    }
    return XFER_OK;
}

/* TYPE I with sendfile: the file's pages go to the socket without a copy
 * through user space. Returns false (nothing sent) when the file or the
 * stream does not support sendfile, so the caller falls back to
 * read+write. */
static bool send_sendfile(struct engine *e, struct stream *ds, enum xfer_result *res)
{
    const struct transfer *t = e->t;
    uint64_t off = t->offset, left = t->size;
    short ev = POLLOUT;
    while (left > 0) {
        size_t want = left < SENDFILE_CHUNK ? (size_t)left : SENDFILE_CHUNK;
        if (!await_slice(e, ds->fd, ev, false, want, &want, res))
            return true;
        /* Short counts are normal (the socket buffer filled); the offset
         * moves with them. */
        size_t n;
        enum stream_status st = stream_sendfile(ds, t->file_fd, &off, want, &n);
        if (st == STREAM_OK && n > 0) {
            left -= n;
            progress(e, n);
            ev = POLLOUT;
            continue;
        }
        if (st == STREAM_OK) {
            /* EOF before size: the file shrank since it was opened and
             * stat'ed. What was there has been sent; that is the file. */
            break;
        }
        if (st == STREAM_ERR) {
            if ((errno == EINVAL || errno == ENOSYS) && off == t->offset)
                return false;
            *res = net_errno_is_peer(errno) ? XFER_CONN_LOST : XFER_LOCAL_ERROR;
            return true;
        }
        if (st == STREAM_EOF) {
            *res = XFER_CONN_LOST;
            return true;
        }
        /* AGAIN: the readiness poll() saw was used up (or spurious);
         * WANT_*: the stream needs the other direction first. */
        ev = stream_poll_events(st, POLLOUT);
    }
    *res = XFER_OK;
    return true;
}

/* pread + write: TYPE A (LF -> CRLF on the way), or a file sendfile cannot
 * read. */
static enum xfer_result send_copy(struct engine *e, struct stream *ds, bool ascii)
{
    const struct transfer *t = e->t;
    /* in: one chunk; out: twice that, a chunk of nothing but LFs. */
    char *in = malloc(ascii ? 3 * FTPD_XFER_CHUNK : FTPD_XFER_CHUNK);
    if (in == NULL)
        return XFER_LOCAL_ERROR;
    char *out = in + FTPD_XFER_CHUNK;
    uint64_t off = t->offset, left = t->size;
    bool last_cr = false;
    enum xfer_result res = XFER_OK;
    while (left > 0) {
        size_t want = left < FTPD_XFER_CHUNK ? (size_t)left : FTPD_XFER_CHUNK;
        ssize_t n = pread(t->file_fd, in, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            res = XFER_LOCAL_ERROR;
            break;
        }
        if (n == 0)
            break; /* the file shrank: see send_sendfile */
        off += (uint64_t)n;
        left -= (uint64_t)n;
        const char *p = in;
        size_t len = (size_t)n;
        if (ascii) {
            len = xfer_ascii_encode(in, (size_t)n, out, &last_cr);
            p = out;
        }
        res = send_all(e, ds, p, len);
        if (res != XFER_OK)
            break;
    }
    free(in);
    return res;
}

static enum xfer_result send_file(struct engine *e, struct stream *ds)
{
    enum xfer_result res;
    if (!e->t->ascii && send_sendfile(e, ds, &res))
        return res;
    return send_copy(e, ds, e->t->ascii);
}

static enum xfer_result send_listing(struct engine *e, struct stream *ds)
{
    if (e->t->listing == NULL)
        return XFER_LOCAL_ERROR;
    struct buf b;
    buf_init(&b, LISTING_BUF_LIMIT);
    enum xfer_result res = XFER_OK;
    int more = 1;
    while (more > 0) {
        buf_clear(&b);
        more = listing_fill(e->t->listing, &b);
        if (more < 0) {
            res = XFER_LOCAL_ERROR;
            break;
        }
        res = send_all(e, ds, buf_head(&b), b.len);
        if (res != XFER_OK)
            break;
    }
    buf_free(&b);
    return res;
}

/* Write n bytes of an upload at *off; a failure is told apart by errno
 * (disk full, quota: xfer_write_error) and logged. */
static enum xfer_result write_file(const struct transfer *t, const char *p, size_t n, uint64_t *off)
{
    if (net_pwrite_all(t->file_fd, p, n, off) == 0)
        return XFER_OK;
    log_warn("data connection: writing the file: %s", strerror(errno));
    return xfer_write_error(errno);
}

/* Binary STOR on a plain stream: splice(2) socket -> pipe -> file, the
 * bytes never cross into user space. Measured against read + pwrite
 * (recv_copy) for one 256 MiB upload over loopback onto ext4, 2-core VM,
 * three runs each (scripts/splice_bench.c, 256 KiB per call):
 *     read + pwrite     0.157 0.193 0.186 s   (1.4 - 1.7 GB/s)
 *     splice via pipe   0.104 0.114 0.152 s   (1.8 - 2.6 GB/s)
 * splice wins by about 1.5x, so it is the default; read + pwrite stays for
 * TYPE A (CRLF -> LF needs the bytes), a stream whose bytes are not the
 * socket's (TLS), and a file opened O_APPEND (splice refuses it: APPE).
 * Returns false, nothing read, when splice cannot be used. One pipe (two
 * fds, FTPD_XFER_CHUNK of kernel buffer) per upload. */
static bool recv_splice(struct engine *e, struct stream *ds, enum xfer_result *res)
{
    const struct transfer *t = e->t;
    if (t->ascii || !stream_raw_bytes(ds) || stream_pending(ds) > 0)
        return false;
    int fl = fcntl(t->file_fd, F_GETFL);
    if (fl < 0 || (fl & O_APPEND))
        return false;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return false;
    /* A larger pipe means fewer calls; the default (64 KiB) still works. */
    (void)fcntl(p[1], F_SETPIPE_SZ, FTPD_XFER_CHUNK);
    loff_t off = (loff_t)t->offset;
    bool first = true;
    for (;;) {
        size_t want;
        if (!await_slice(e, ds->fd, POLLIN, false, FTPD_XFER_CHUNK, &want, res))
            goto out;
        ssize_t n = splice(ds->fd, NULL, p[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (first && (errno == EINVAL || errno == ENOSYS)) {
                close(p[0]);
                close(p[1]);
                return false;
            }
            *res = XFER_CONN_LOST;
            goto out;
        }
        first = false;
        if (n == 0) {
            *res = XFER_OK; /* the client closed: that is the end of file */
            goto out;
        }
        progress(e, (size_t)n);
        /* The pipe holds n bytes: each call moves some to the file. */
        while (n > 0) {
            ssize_t w = splice(p[0], NULL, t->file_fd, &off, (size_t)n, SPLICE_F_MOVE);
            if (w < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (w <= 0) {
                if (w == 0)
                    errno = ENOSPC;
                log_warn("data connection: writing the file: %s", strerror(errno));
                *res = xfer_write_error(errno);
                goto out;
            }
            n -= w;
        }
    }
out:
    close(p[0]);
    close(p[1]);
    return true;
}

/* STOR through user space: data connection to file_fd from t->offset (pwrite, so REST needs
 * no lseek; a file opened O_APPEND appends whatever the offset). One buffer
 * per upload, whatever the client sends. TYPE A turns CRLF into LF in place:
 * the chunk is read one byte into the buffer, and the decoded bytes (at most
 * one more, a CR held from the previous chunk) start at its beginning. */
static enum xfer_result recv_copy(struct engine *e, struct stream *ds)
{
    const struct transfer *t = e->t;
    char *mem = malloc(FTPD_XFER_CHUNK + 1);
    if (mem == NULL)
        return XFER_LOCAL_ERROR;
    uint64_t off = t->offset;
    bool held_cr = false;
    enum xfer_result res = XFER_OK;
    short ev = POLLIN;
    for (;;) {
        size_t want;
        bool held = ev == POLLIN && stream_pending(ds) > 0;
        if (!await_slice(e, ds->fd, ev, held, FTPD_XFER_CHUNK, &want, &res))
            goto out;
        size_t n;
        enum stream_status st = stream_read(ds, mem + 1, want, &n);
        ev = stream_poll_events(st, POLLIN);
        switch (st) {
        case STREAM_OK:
            break;
        case STREAM_AGAIN:
        case STREAM_WANT_READ:
        case STREAM_WANT_WRITE:
            continue;
        case STREAM_EOF:
            /* The client closed: that is the end of the file (and a CR it
             * ended with was a byte of it). */
            res = held_cr ? write_file(t, "\r", 1, &off) : XFER_OK;
            goto out;
        case STREAM_ERR:
            res = XFER_CONN_LOST;
            goto out;
        }
        progress(e, n);
        const char *p = mem + 1;
        if (t->ascii) {
            n = xfer_ascii_decode(mem + 1, n, mem, &held_cr);
            p = mem;
        }
        res = write_file(t, p, n, &off);
        if (res != XFER_OK)
            goto out;
    }
out:
    free(mem);
    return res;
}

/* The data stream's start (a TLS handshake) before any byte, even for a
 * transfer of none, waited like every other step: ABOR, the stop and the
 * data timeout apply. */
static enum xfer_result start_stream(struct engine *e, struct stream *ds)
{
    for (;;) {
        enum stream_status st = stream_handshake(ds);
        if (st == STREAM_OK)
            return XFER_OK;
        if (st == STREAM_ERR || st == STREAM_EOF) {
            log_debug("data connection: %s handshake: %s", ds->ops->name, strerror(errno));
            return XFER_CONN_LOST;
        }
        enum xfer_result res;
        if (!wait_data(e, ds->fd, stream_poll_events(st, POLLIN), false, &res))
            return res;
    }
}

/* Move the job's bytes over the started data stream. */
static enum xfer_result move_data(struct engine *e, struct stream *ds)
{
    enum xfer_result res;
    switch (e->t->kind) {
    case XFER_SEND_FILE:
        res = send_file(e, ds);
        break;
    case XFER_SEND_LISTING:
        res = send_listing(e, ds);
        break;
    case XFER_RECV_FILE:
        if (!recv_splice(e, ds, &res))
            res = recv_copy(e, ds);
        break;
    default:
        res = XFER_LOCAL_ERROR;
        break;
    }
    return res;
}

enum xfer_result xfer_run_blocking(const struct transfer *t, struct xfer_watch *w, uint64_t *bytes)
{
    struct xfer_watch none = {.ctrl = NULL, .stop_fd = -1};
    struct engine e = {
        .t = t,
        .w = w != NULL ? w : &none,
        .poll_ctrl = true,
        .poll_stop = true,
        .timeout_ms = t->data_timeout > 0 ? (int64_t)t->data_timeout * 1000 : 0,
        .last_progress = clock_ms(),
        .bytes = bytes,
    };
    *bytes = 0;
    rate_limit_init(&e.rate, t->max_rate, t->rate_total, clock_ms());
    e.limited = rate_limit_on(&e.rate);

    enum xfer_result res;
    int dfd = t->pasv_fd >= 0 ? data_accept(&e, &res) : data_connect(&e, &res);
    if (dfd < 0)
        return res;
    struct stream ds;
    if (xfer_data_stream(t, dfd, &ds) < 0) {
        log_warn("data connection: %s", strerror(errno));
        return XFER_NO_CONN;
    }
    e.last_progress = clock_ms(); /* the data timeout starts afresh */

    res = start_stream(&e, &ds);
    if (res == XFER_OK)
        res = move_data(&e, &ds);
    res = xfer_data_result(&ds, res); /* a refused TLS data connection: 522 */
    if (res == XFER_OK)
        (void)stream_shutdown_wait(&ds, FTPD_DATA_CLOSE_WAIT_MS); /* TLS: see tls_shutdown */
    /* A plain close: unsent bytes still drain to the client in the
     * background (no SO_LINGER), and the client sees EOF after them. */
    stream_close(&ds);
    return res;
}

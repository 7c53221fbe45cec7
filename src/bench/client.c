/* One virtual client: an FTP session as a state machine over non-blocking
 * sockets, driven by the bench's libev loop.
 *
 * Session: connect -> 220 -> USER (331) -> PASS (230) -> then by scenario
 *   (--tls: 220 -> AUTH TLS (234), the handshake, PBSZ 0 (200), PROT P (200)
 *   -> USER ...; every data connection is TLS, resuming the control
 *   connection's session; see tls.h)
 *   login            QUIT (221)                         one op = the session
 *   retr-small/slow  TYPE I, PASV|EPSV, RETR, QUIT      one op = the session
 *   retr-persistent  TYPE I, then PASV|EPSV + RETR ...  one op = a transfer
 *   retr-big, list   the same (list: no TYPE, LIST)     one op = a transfer
 *   stor-small       TYPE I, PASV|EPSV, STOR, QUIT      one op = the session
 *   stor-big         TYPE I, then PASV|EPSV + STOR ...  one op = a transfer
 *   idle             held; NOOP on request              NOOP round trips
 *   (background)     idle's background logins: QUIT     counted apart
 * A transfer: after 227/229 the data connection is connected at once and the
 * command sent right behind it (as real clients do); it ends when 150, the
 * data to EOF, and 226 were all seen, in whatever order data and 226 come.
 * A STOR sends its --size bytes (from memory) once 150 came, closes the data
 * connection, and ends with the 226 that follows; a final reply before every
 * byte was sent is an error. Each STOR names a new file in --dir:
 * ftpbench.PID.CLIENT.SEQ.
 * After QUIT's 221 the client waits for the server to close first, so the
 * TIME_WAIT lands on the server side and client ports stay free.
 *
 * Every reply code is checked; anything unexpected (or malformed, or a
 * timeout, or a wrong byte count) ends the session as an error, and the
 * client starts a new one after a short back-off.
 *
 * With a pacer (--rate for the measured clients, --background-logins for
 * the background ones) a client waits its turn in the pacer's queue before
 * it connects; the wait is not part of the session's latency. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/sock.h"
#include "bench/tls.h"
#include "ftpd/net.h"

/* Back-off before reconnecting after an error, so a refusing server is not
 * hammered; longer when local ports ran out (they free up with time). */
#define BACKOFF_S       0.01
#define BACKOFF_PORTS_S 0.1

/* Fast clients read at most this much per wake-up of a data connection,
 * so one fast transfer cannot starve the other clients of the loop. */
#define DATA_BURST (1024 * 1024)

/* Slow clients: a command byte and SLOW_READ data bytes per tick of
 * 50..100 ms (or --slow-tick, spread over 51 ms so they do not all wake at
 * once), on a data socket with a small receive buffer. */
#define SLOW_TICK_MIN_S 0.05
#define SLOW_TICK_SPAN  51 /* ms of spread over the clients */
#define SLOW_READ       2048
#define SLOW_RCVBUF     4096

static void on_control(struct ev_loop *loop, ev_io *w, int revents);
static void on_data(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_pace(struct ev_loop *loop, ev_timer *w, int revents);
static void next_session(struct client *c);

void client_init(struct client *c, struct bench *b, unsigned id, enum role role)
{
    memset(c, 0, sizeof *c);
    c->b = b;
    c->id = id;
    c->role = role;
    c->st = CS_IDLE;
    c->cfd = c->dfd = -1;
    ev_init(&c->cw, on_control);
    ev_init(&c->dw, on_data);
    ev_init(&c->tw, on_timer);
    double base = b->o.slow_tick > 0 ? b->o.slow_tick : SLOW_TICK_MIN_S;
    double tick = base + (double)(id % SLOW_TICK_SPAN) / 1000.0;
    ev_timer_init(&c->pace, on_pace, tick, tick);
    c->cw.data = c->dw.data = c->tw.data = c->pace.data = c;
    linebuf_init(&c->in);
    reply_reset(&c->rp);
}

/* ---- lifetime ------------------------------------------------------------ */

static bool session_is_op(const struct client *c)
{
    if (c->role == ROLE_BG)
        return true;
    return (c->role == ROLE_FAST || c->role == ROLE_SLOW) && scenario_session_op(c->b->o.scenario);
}

/* The client sends files (stor-*) rather than receiving them. */
static bool uploads(const struct client *c)
{
    return c->role == ROLE_FAST && scenario_stor(c->b->o.scenario);
}

static void data_close(struct client *c)
{
    ev_io_stop(c->b->loop, &c->dw);
    if (c->dssl != NULL) {
        tls_close(c->dssl);
        c->dssl = NULL;
    }
    if (c->dfd >= 0) {
        sock_close(c->dfd);
        c->dfd = -1;
    }
}

static void session_close(struct client *c)
{
    struct ev_loop *loop = c->b->loop;
    ev_io_stop(loop, &c->cw);
    ev_timer_stop(loop, &c->tw);
    ev_timer_stop(loop, &c->pace);
    if (c->cssl != NULL) {
        tls_close(c->cssl);
        c->cssl = NULL;
    }
    tls_session_clear(&c->sess);
    if (c->cfd >= 0) {
        sock_close(c->cfd);
        c->cfd = -1;
    }
    data_close(c);
    linebuf_free(&c->in); /* a held idle session keeps no buffer */
    linebuf_init(&c->in);
    reply_reset(&c->rp);
    c->out_len = c->out_off = 0;
    c->gen++;
}

void client_close(struct client *c)
{
    session_close(c);
    c->in_op = false;
    c->st = CS_IDLE;
}

static void done(struct client *c)
{
    c->st = CS_IDLE;
    run_client_done(c->b, c);
}

/* The session failed: count it, close it, and start over after a pause
 * (idle and probe clients do not start over). */
static void fail(struct client *c, enum err_kind kind)
{
    struct bench *b = c->b;
    bool in_op = c->in_op;
    c->in_op = false;
    session_close(c);
    run_error(b, c, kind, in_op);
    if (c->role == ROLE_IDLE || c->role == ROLE_PROBE || b->finished) {
        done(c);
        return;
    }
    c->st = CS_BACKOFF;
    ev_timer_set(&c->tw, kind == ERR_PORTS ? BACKOFF_PORTS_S : BACKOFF_S, 0.);
    ev_timer_start(b->loop, &c->tw);
}

static enum err_kind connect_error(int err)
{
    if (err == EPROTO)
        return ERR_TLS; /* tls.c's errno for a TLS-level failure */
    if (err == EADDRNOTAVAIL || err == EADDRINUSE)
        return ERR_PORTS;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
        return ERR_LOCAL;
    return ERR_CONNECT;
}

/* An operation starts: a measured one only while the run wants more. */
static bool op_begin(struct client *c)
{
    struct bench *b = c->b;
    if (c->role == ROLE_SLOW ? b->stopping
        : c->role == ROLE_BG ? !idle_bg_wanted(b)
                             : !run_may_start(b))
        return false;
    c->in_op = true;
    c->t_op = mono_ns();
    return true;
}

static void op_end(struct client *c)
{
    c->in_op = false;
    run_op_done(c->b, c, mono_ns() - c->t_op);
}

/* ---- timeouts ------------------------------------------------------------ */

/* libev's "be smart about timeouts": progress only stores the time; the
 * timer, when it fires, re-arms itself for the rest of the interval. */
static void progress(struct client *c)
{
    c->last = ev_now(c->b->loop);
}

static void arm_timeout(struct client *c)
{
    progress(c);
    ev_timer_stop(c->b->loop, &c->tw);
    ev_timer_set(&c->tw, c->b->o.timeout, 0.);
    ev_timer_start(c->b->loop, &c->tw);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *c = w->data;
    if (c->st == CS_BACKOFF) {
        c->st = CS_IDLE;
        next_session(c);
        return;
    }
    ev_tstamp left = c->last + c->b->o.timeout - ev_now(loop);
    if (left > 0) {
        ev_timer_set(w, left, 0.);
        ev_timer_start(loop, w);
        return;
    }
    fail(c, ERR_TIMEOUT);
}

/* ---- commands ------------------------------------------------------------ */

static void watch_control(struct client *c, int events)
{
    if (ev_is_active(&c->cw) && (c->cw.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(c->b->loop, &c->cw);
    ev_io_set(&c->cw, c->cfd, events);
    ev_io_start(c->b->loop, &c->cw);
}

static void watch_data(struct client *c, int events)
{
    if (ev_is_active(&c->dw) && (c->dw.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(c->b->loop, &c->dw);
    ev_io_set(&c->dw, c->dfd, events);
    ev_io_start(c->b->loop, &c->dw);
}

/* Write what is left of the command. 0, or -1 when the session failed. */
static int flush(struct client *c)
{
    while (c->out_off < c->out_len) {
        size_t n;
        enum io_status st;
        int wait = EV_WRITE;
        if (c->cssl != NULL) {
            /* TLS: the same bytes again after IO_AGAIN (SSL_write's rule);
             * a write may wait for a read (the handshake). */
            enum tls_wait tw;
            st = tls_write(c->cssl, c->out + c->out_off, c->out_len - c->out_off, &n, &tw);
            if (st == IO_AGAIN && tw == TLS_WAIT_READ)
                wait = 0;
        } else {
            st = net_write(c->cfd, c->out + c->out_off, c->out_len - c->out_off, &n);
        }
        if (st == IO_AGAIN) {
            watch_control(c, EV_READ | wait);
            return 0;
        }
        if (st != IO_OK) {
            fail(c, errno == EPROTO ? ERR_TLS : ERR_CLOSED);
            return -1;
        }
        c->out_off += n;
    }
    watch_control(c, EV_READ);
    return 0;
}

static void send_cmd(struct client *c, const struct cmd *cmd, enum cstate next)
{
    c->out = cmd->s;
    c->out_len = cmd->len;
    c->out_off = 0;
    c->st = next;
    if (c->role != ROLE_SLOW)
        (void)flush(c); /* a failure has ended the session; nothing follows */
    /* slow: the pace timer sends it, a byte per tick */
}

/* ---- sessions ------------------------------------------------------------ */

static void session_open(struct client *c)
{
    struct bench *b = c->b;
    int fd = sock_connect(&b->server, bench_source(b, c->id), 0, true);
    if (fd < 0) {
        fail(c, connect_error(errno));
        return;
    }
    c->cfd = fd;
    c->got_bytes = false;
    c->st = CS_GREET;
    ev_io_set(&c->cw, fd, EV_READ);
    ev_io_start(b->loop, &c->cw);
    arm_timeout(c);
    if (c->role == ROLE_SLOW)
        ev_timer_again(b->loop, &c->pace);
}

static void start_session(struct client *c)
{
    if (session_is_op(c) ? !op_begin(c) : !run_wants_more(c->b)) {
        done(c);
        return;
    }
    session_open(c);
}

static struct pacer *pacer_of(struct client *c)
{
    struct bench *b = c->b;
    if (c->role == ROLE_FAST && pacer_active(&b->rate))
        return &b->rate;
    if (c->role == ROLE_BG && pacer_active(&b->bg))
        return &b->bg;
    return NULL;
}

/* Another session is wanted, before taking a place in a pacer's queue. */
static bool wants_session(const struct client *c)
{
    return c->role == ROLE_BG ? idle_bg_wanted(c->b) : run_wants_more(c->b);
}

static void next_session(struct client *c)
{
    struct pacer *p = pacer_of(c);
    if (p != NULL) {
        if (!wants_session(c)) {
            done(c);
            return;
        }
        if (!pacer_admit(p, c))
            return; /* client_paced() when its turn comes */
    }
    start_session(c);
}

void client_paced(struct client *c)
{
    c->st = CS_IDLE;
    start_session(c);
}

void client_begin(struct client *c)
{
    /* idle --rate: the ramp's logins start on the pacer's schedule too. */
    if (c->role == ROLE_IDLE && pacer_active(&c->b->rate) && !pacer_admit(&c->b->rate, c))
        return; /* client_paced() when its turn comes */
    if (c->role == ROLE_IDLE || c->role == ROLE_PROBE)
        session_open(c);
    else
        next_session(c);
}

/* The server closed after 221: the session ended well. */
static void session_end(struct client *c)
{
    session_close(c);
    if (c->role == ROLE_PROBE) {
        done(c);
        return;
    }
    next_session(c);
}

static void send_user(struct client *c)
{
    send_cmd(c, c->role == ROLE_BG ? &c->b->bg_user : &c->b->cmd.user, CS_USER);
}

static void quit(struct client *c)
{
    send_cmd(c, &c->b->cmd.quit, CS_QUIT);
}

/* persistent: the next transfer, or QUIT when the run wants no more. */
static void next_transfer(struct client *c)
{
    if (!op_begin(c)) {
        quit(c);
        return;
    }
    send_cmd(c, &c->b->cmd.pasv, CS_PASV);
}

static void logged_in(struct client *c)
{
    struct bench *b = c->b;
    if (c->role == ROLE_IDLE) {
        c->st = CS_HELD;
        c->held = true;
        ev_timer_stop(b->loop, &c->tw); /* nothing outstanding: no timeout */
        idle_held(b, c);
        return;
    }
    if (c->role == ROLE_BG || (c->role != ROLE_PROBE && b->o.scenario == SC_LOGIN))
        quit(c);
    else if (c->role != ROLE_PROBE && b->o.scenario == SC_LIST)
        next_transfer(c);
    else
        send_cmd(c, &b->cmd.type, CS_TYPE);
}

static void after_type(struct client *c)
{
    struct bench *b = c->b;
    if (c->role == ROLE_PROBE)
        send_cmd(c, &b->cmd.size, CS_SIZE);
    else if (session_is_op(c))
        send_cmd(c, &b->cmd.pasv, CS_PASV); /* the op began at connect */
    else
        next_transfer(c);
}

/* ---- transfers ----------------------------------------------------------- */

static int data_open(struct client *c, int port)
{
    struct bench *b = c->b;
    union sockaddr_any to = b->server;
    sockaddr_set_port(&to, port);
    /* The same source address as the control connection: servers refuse a
     * data connection from another IP (PASV theft). */
    int fd =
        sock_connect(&to, bench_source(b, c->id), c->role == ROLE_SLOW ? SLOW_RCVBUF : 0, false);
    if (fd < 0) {
        fail(c, connect_error(errno));
        return -1;
    }
    c->dfd = fd;
    c->data_bytes = 0;
    c->data_eof = c->got_prelim = c->got_final = false;
    if (b->tls != NULL) {
        /* Resuming the control session; the handshake starts once the
         * connect completes (writable), in data_read_tls. A ticket the
         * server issues on this resumed connection (vsftpd does; ftpd
         * does not) is of the same session and replaces the one in the
         * slot for the next data connection, as curl's session cache
         * does: a server whose tickets resume once only is served too. */
        c->dssl = tls_client_new(b->tls, fd, b->tls_host, &c->sess, c->sess);
        if (c->dssl == NULL) {
            fail(c, ERR_LOCAL);
            return -1;
        }
        watch_data(c, EV_WRITE);
        return 0;
    }
    /* An upload waits for 150 before it writes (data_send). */
    if (c->role != ROLE_SLOW && !uploads(c)) {
        ev_io_set(&c->dw, fd, EV_READ);
        ev_io_start(b->loop, &c->dw);
    }
    return 0;
}

/* 150, the data to EOF and 226 all seen: check the count, go on. */
static void transfer_check(struct client *c)
{
    struct bench *b = c->b;
    if (!c->got_final || !c->data_eof)
        return;
    if (scenario_retr(b->o.scenario) && b->size >= 0 && c->data_bytes != (uint64_t)b->size) {
        fail(c, ERR_SHORT_DATA);
        return;
    }
    if (session_is_op(c)) {
        quit(c);
        return;
    }
    op_end(c);
    next_transfer(c);
}

/* Read (and discard) up to budget bytes of the data connection. */
static void data_read(struct client *c, size_t budget)
{
    struct bench *b = c->b;
    size_t got = 0;
    while (got < budget) {
        size_t n, want = budget - got < b->scratch_len ? budget - got : b->scratch_len;
        enum io_status st = sock_discard(c->dfd, b->scratch, want, &n);
        if (st == IO_AGAIN)
            return;
        if (st == IO_EOF) {
            data_close(c);
            c->data_eof = true;
            progress(c);
            transfer_check(c);
            return;
        }
        if (st == IO_ERR) {
            fail(c, c->data_bytes == 0 ? connect_error(errno) : ERR_CLOSED);
            return;
        }
        c->data_bytes += n;
        if (c->role == ROLE_FAST && !b->finished)
            b->bytes += n;
        got += n;
        progress(c);
    }
}

/* data_read over TLS: the handshake first (inside SSL_read), then records
 * until the budget is spent or OpenSSL waits for the socket. Bytes OpenSSL
 * has buffered (read ahead) do not make the socket readable again: when the
 * budget ends with some, the watcher is fed an event for the next loop
 * iteration. */
static void data_read_tls(struct client *c, size_t budget)
{
    struct bench *b = c->b;
    size_t got = 0;
    while (got < budget) {
        size_t n, want = budget - got < b->scratch_len ? budget - got : b->scratch_len;
        enum tls_wait tw;
        enum io_status st = tls_read(c->dssl, b->scratch, want, &n, &tw);
        if (st == IO_AGAIN) {
            watch_data(c, tw == TLS_WAIT_WRITE ? EV_WRITE : EV_READ);
            return;
        }
        if (st == IO_EOF) {
            tls_close_notify(c->dssl);
            data_close(c);
            c->data_eof = true;
            progress(c);
            transfer_check(c);
            return;
        }
        if (st == IO_ERR) {
            fail(c, c->data_bytes == 0 ? connect_error(errno)
                    : errno == EPROTO  ? ERR_TLS
                                       : ERR_CLOSED);
            return;
        }
        c->data_bytes += n;
        if (c->role == ROLE_FAST && !b->finished)
            b->bytes += n;
        got += n;
        progress(c);
    }
    if (tls_has_pending(c->dssl))
        ev_feed_event(b->loop, &c->dw, EV_READ);
}

/* Send up to budget bytes of the upload; close the data connection when
 * every byte went (the server's EOF). The bytes are the scratch buffer's,
 * over and over: no file is read. */
static void data_send(struct client *c, size_t budget)
{
    struct bench *b = c->b;
    uint64_t size = (uint64_t)b->size;
    size_t sent = 0;
    while (sent < budget && c->data_bytes < size) {
        size_t n, want = budget - sent;
        if (want > b->scratch_len)
            want = b->scratch_len;
        if (want > size - c->data_bytes)
            want = (size_t)(size - c->data_bytes);
        enum io_status st = net_write(c->dfd, b->scratch, want, &n);
        if (st == IO_AGAIN)
            return;
        if (st != IO_OK) {
            fail(c, c->data_bytes == 0 ? connect_error(errno) : ERR_CLOSED);
            return;
        }
        c->data_bytes += n;
        if (!b->finished)
            b->bytes += n;
        sent += n;
        progress(c);
    }
    if (c->data_bytes < size)
        return; /* the rest at the next EV_WRITE */
    data_close(c);
    c->data_eof = true;
    transfer_check(c);
}

static void on_data(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = w->data;
    if (c->dssl != NULL)
        data_read_tls(c, DATA_BURST);
    else if (uploads(c))
        data_send(c, DATA_BURST);
    else
        data_read(c, DATA_BURST);
}

/* This client's next STOR command: a new name in --dir. */
static const struct cmd *stor_cmd(struct client *c)
{
    struct bench *b = c->b;
    const char *dir = b->o.dir;
    size_t dl = strlen(dir);
    int n = snprintf(c->stor.s, b->stor_cap, "STOR %s%sftpbench.%ld.%u.%u\r\n", dir,
                     dl > 0 && dir[dl - 1] == '/' ? "" : "/", (long)b->pid, c->id, c->seq++);
    c->stor.len = n > 0 && (size_t)n < b->stor_cap ? (size_t)n : 0;
    return &c->stor;
}

/* ---- replies ------------------------------------------------------------- */

/* What a client in state ST waits for, to name it beside a bad reply. */
static const char *waits_for(enum cstate st)
{
    static const char *const names[] = {
        [CS_GREET] = "greeting", [CS_AUTH] = "AUTH",     [CS_PBSZ] = "PBSZ",    [CS_PROT] = "PROT",
        [CS_USER] = "USER",      [CS_PASS] = "PASS",     [CS_TYPE] = "TYPE",    [CS_SIZE] = "SIZE",
        [CS_PASV] = "PASV/EPSV", [CS_XFER] = "transfer", [CS_HELD] = "nothing", [CS_NOOP] = "NOOP",
        [CS_QUIT] = "QUIT",      [CS_CLOSING] = "close",
    };
    return (unsigned)st < sizeof names / sizeof names[0] && names[st] != NULL ? names[st] : "?";
}

/* Keep the run's first unexpected reply (printable bytes only) for the
 * report: a count alone cannot tell a 421 from a 425. */
static void bad_reply(struct client *c, const char *line, size_t len)
{
    struct bench *b = c->b;
    if (b->bad_reply[0] == '\0') {
        int n = snprintf(b->bad_reply, sizeof b->bad_reply, "to %s: \"", waits_for(c->st));
        size_t at = n > 0 ? (size_t)n : 0, room = sizeof b->bad_reply - 2; /* '"' and NUL */
        for (size_t i = 0; i < len && at < room; i++) {
            unsigned char ch = (unsigned char)line[i];
            b->bad_reply[at++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
        }
        b->bad_reply[at++] = '"';
        b->bad_reply[at] = '\0';
    }
    fail(c, ERR_BAD_REPLY);
}

static void on_reply(struct client *c, int code, const char *text)
{
    struct bench *b = c->b;
    int port;
    int64_t size;
    switch (c->st) {
    case CS_GREET:
        if (code != 220)
            break;
        if (b->tls != NULL)
            send_cmd(c, &b->cmd.auth, CS_AUTH);
        else
            send_user(c);
        return;
    case CS_AUTH:
        if (code != 234)
            break;
        /* The handshake starts with PBSZ's write. */
        c->cssl = tls_client_new(b->tls, c->cfd, b->tls_host, &c->sess, NULL);
        if (c->cssl == NULL) {
            fail(c, ERR_LOCAL);
            return;
        }
        send_cmd(c, &b->cmd.pbsz, CS_PBSZ);
        return;
    case CS_PBSZ:
        if (code != 200)
            break;
        send_cmd(c, &b->cmd.prot, CS_PROT);
        return;
    case CS_PROT:
        if (code != 200)
            break;
        send_user(c);
        return;
    case CS_USER:
        if (code == 230) {
            logged_in(c);
            return;
        }
        if (code != 331)
            break;
        send_cmd(c, c->role == ROLE_BG ? &b->bg_pass : &b->cmd.pass, CS_PASS);
        return;
    case CS_PASS:
        if (code != 230 && code != 202)
            break;
        logged_in(c);
        return;
    case CS_TYPE:
        if (code != 200)
            break;
        after_type(c);
        return;
    case CS_SIZE:
        if (code != 213 || reply_size(text, &size) < 0)
            break;
        run_size_known(b, size);
        quit(c);
        return;
    case CS_PASV:
        if (b->o.epsv ? code != 229 || reply_epsv_port(text, &port) < 0
                      : code != 227 || reply_pasv_port(text, &port) < 0)
            break;
        if (data_open(c, port) == 0)
            send_cmd(c, uploads(c) ? stor_cmd(c) : &b->cmd.xfer, CS_XFER);
        return;
    case CS_XFER:
        if (!c->got_prelim) {
            if (code != 150 && code != 125)
                break;
            c->got_prelim = true;
            if (uploads(c)) {
                ev_io_set(&c->dw, c->dfd, EV_WRITE);
                ev_io_start(b->loop, &c->dw);
            }
            return;
        }
        if (code != 226 && code != 250)
            break;
        if (uploads(c) && !c->data_eof) {
            fail(c, ERR_SHORT_DATA); /* the server ended it before our EOF */
            return;
        }
        c->got_final = true;
        transfer_check(c);
        return;
    case CS_NOOP:
        if (code != 200)
            break;
        c->st = CS_HELD;
        ev_timer_stop(b->loop, &c->tw);
        idle_noop_done(b, mono_ns() - c->t_noop);
        return;
    case CS_QUIT:
        if (code != 221)
            break;
        if (c->in_op)
            op_end(c);
        c->st = CS_CLOSING; /* the timeout still bounds the wait for EOF */
        return;
    default:
        break; /* unsolicited, e.g. "421 Timeout." on a held session */
    }
    bad_reply(c, text, strlen(text));
}

/* The control connection failed or closed at the wrong time. */
static void control_lost(struct client *c, enum io_status st, int err)
{
    if (!c->got_bytes && st == IO_ERR)
        fail(c, connect_error(err)); /* refused or reset before the greeting */
    else if (st == IO_ERR && err == EPROTO)
        fail(c, ERR_TLS);
    else if (st == IO_EOF || err == ECONNRESET || err == EPIPE)
        fail(c, ERR_CLOSED);
    else
        fail(c, ERR_LOCAL);
}

static void on_control(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = w->data;
    struct bench *b = c->b;
    unsigned gen = c->gen;
    if (c->cssl != NULL) {
        /* TLS: a write may have waited for a read, and a read may find
         * bytes without the socket being readable (buffered records). */
        if (c->out_off < c->out_len && (flush(c) < 0 || c->gen != gen))
            return;
    } else {
        if ((revents & EV_WRITE) && flush(c) < 0)
            return;
        if (!(revents & EV_READ))
            return;
    }
    size_t avail, n;
    char *space = linebuf_space(&c->in, &avail);
    if (space == NULL) {
        fail(c, ERR_LOCAL); /* out of memory: lines are taken as they come */
        return;
    }
    enum io_status st;
    if (c->cssl != NULL) {
        enum tls_wait tw;
        st = tls_read(c->cssl, space, avail, &n, &tw);
        /* With a command going out, flush() chose the events; else a read
         * that waits for a write (rare: a key update) adds EV_WRITE until
         * it went, and only then: a socket is nearly always writable. */
        if (c->out_off >= c->out_len)
            watch_control(c, st == IO_AGAIN && tw == TLS_WAIT_WRITE ? EV_READ | EV_WRITE : EV_READ);
    } else {
        st = net_read(c->cfd, space, avail, &n);
    }
    if (st == IO_AGAIN)
        return;
    if (st == IO_EOF && c->st == CS_CLOSING) {
        session_end(c);
        return;
    }
    if (st != IO_OK) {
        control_lost(c, st, errno);
        return;
    }
    c->got_bytes = true;
    progress(c);
    linebuf_commit(&c->in, n);
    for (;;) {
        size_t len;
        int code;
        enum line_status ls = linebuf_take(&c->in, b->line, &len);
        if (ls == LINE_NONE) {
            if (c->cssl != NULL && tls_has_pending(c->cssl))
                ev_feed_event(loop, &c->cw, EV_READ); /* read on next time round */
            return;
        }
        enum reply_status rs = ls == LINE_OK ? reply_feed(&c->rp, b->line, len, &code) : REPLY_BAD;
        if (rs == REPLY_MORE)
            continue;
        if (rs == REPLY_BAD) {
            bad_reply(c, b->line, ls == LINE_OK ? len : 0);
            return;
        }
        on_reply(c, code, b->line);
        if (c->gen != gen)
            return; /* the session ended under the reply */
    }
}

/* ---- slow clients -------------------------------------------------------- */

static void on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *c = w->data;
    unsigned gen = c->gen;
    if (c->out_off < c->out_len) {
        size_t n;
        enum io_status st = net_write(c->cfd, c->out + c->out_off, 1, &n);
        if (st == IO_OK) {
            c->out_off += n;
            progress(c);
        } else if (st != IO_AGAIN) {
            fail(c, ERR_CLOSED);
            return;
        }
    }
    if (c->gen == gen && c->dfd >= 0 && !c->data_eof)
        data_read(c, SLOW_READ);
}

/* ---- idle ---------------------------------------------------------------- */

bool client_noop(struct client *c)
{
    if (c->st != CS_HELD)
        return false;
    c->t_noop = mono_ns();
    arm_timeout(c);
    send_cmd(c, &c->b->cmd.noop, CS_NOOP);
    return true;
}

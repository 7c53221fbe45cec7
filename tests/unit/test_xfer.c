/* The blocking transfer engine against real loopback sockets: passive and
 * active data connections, TYPE I and TYPE A, listings, uploads, and every
 * way a transfer ends early (ABOR, stop, deadline, timeout, client gone).
 * The engine runs on the test's thread; a client thread plays the FTP
 * client's data side. Every socket has a receive/send timeout, every test a
 * tcase timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/buf.h"
#include "ftpd/clock.h"
#include "ftpd/listing.h"
#include "ftpd/net.h"
#include "unit.h"

/* A few MiB, not a multiple of any chunk size. */
#define FILE_SIZE  (3 * 1024 * 1024 + 12345)
#define CLIENT_CAP (2 * FILE_SIZE + 64)
#define SMALL_BUF  (16 * 1024)
#define TEST_SECS  20
#define IO_TIMEOUT 10 /* seconds, client side */
#define SOME_BYTES (256 * 1024)
#define LIST_FILES 1500

static char tmpdir[64];
static char file_path[128];
static unsigned char *file_data;
static int file_fd = -1;

/* Pseudo-random bytes with plenty of LF, CR and CRLF, and CRLF pairs split
 * across the engine's chunk boundaries. */
static void make_data(unsigned char *p, size_t n)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned v = x % 64;
        p[i] = v == 0 ? '\n' : v == 1 ? '\r' : (unsigned char)(x >> 8);
    }
    for (size_t k = 1; k * FTPD_XFER_CHUNK < n; k++) {
        p[k * FTPD_XFER_CHUNK - 1] = '\r';
        p[k * FTPD_XFER_CHUNK] = k % 2 ? '\n' : 'x';
    }
}

static void setup(void)
{
    /* sendfile has no MSG_NOSIGNAL: like main(), ignore SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ftpd-xfer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(file_path, sizeof file_path, "%s/data", tmpdir);
    file_data = malloc(FILE_SIZE);
    ck_assert_ptr_nonnull(file_data);
    make_data(file_data, FILE_SIZE);
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, file_data, FILE_SIZE), FILE_SIZE);
    close(fd);
    file_fd = open(file_path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(file_fd, 0);
}

static void teardown(void)
{
    if (file_fd >= 0)
        close(file_fd);
    file_fd = -1;
    free(file_data);
    file_data = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (tmpdir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static union sockaddr_any addr_of(const char *ip, int port)
{
    union sockaddr_any a;
    ck_assert_int_eq(sockaddr_parse(ip, port, &a), 0);
    return a;
}

/* A listener on ip:0 (the PASV socket, or the client's PORT socket). A
 * small send buffer is inherited by accepted sockets, so the engine's data
 * socket cannot swallow the whole file. */
static int listen_on(const char *ip, int sndbuf, int rcvbuf, union sockaddr_any *out)
{
    *out = addr_of(ip, 0);
    /* Non-blocking, as transfer.h requires of pasv_fd. */
    int fd = socket(out->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ck_assert_int_eq(bind(fd, &out->sa, sockaddr_len(out)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof *out;
    ck_assert_int_eq(getsockname(fd, &out->sa, &len), 0);
    return fd;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* ---- the client's side of the data connection, on its own thread ---- */

enum then {
    THEN_READ_ON,    /* keep reading to EOF */
    THEN_CLOSE,      /* close with data unread: the engine sees a reset */
    THEN_STALL,      /* stop reading until released */
    THEN_CTRL,       /* send a byte on the control socket, read on */
    THEN_CTRL_STALL, /* send a byte on the control socket, stop reading */
};

struct client {
    /* what to do */
    union sockaddr_any target; /* passive: connect here */
    const char *src_ip;        /* bind to this IP before connecting */
    const char *bad_src_ip;    /* first connect from this IP, expect refusal */
    int listen_fd;             /* active: accept here instead (>= 0) */
    int rcvbuf;
    size_t after; /* bytes to read before `then` (0: right away) */
    enum then then;
    int ctrl_fd;    /* THEN_CTRL*: write one byte here */
    int release_fd; /* THEN_STALL*: wait until readable */
    const unsigned char *send;
    size_t send_len; /* upload: send this, then close */
    /* what happened */
    pthread_t thread;
    unsigned char *got;
    size_t len;
    bool bad_refused;
    union sockaddr_any seen_peer; /* active: where the engine came from */
    int err;
};

static int dial(const union sockaddr_any *to, const char *src_ip, int rcvbuf)
{
    int fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_timeouts(fd);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src_ip != NULL) {
        union sockaddr_any from;
        if (sockaddr_parse(src_ip, 0, &from) < 0 || bind(fd, &from.sa, sockaddr_len(&from)) < 0)
            goto fail;
    }
    if (connect(fd, &to->sa, sockaddr_len(to)) < 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

static void wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, IO_TIMEOUT * 1000);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    if (c->bad_src_ip != NULL) {
        /* A stranger connects first: the engine must hang up on it. */
        int b = dial(&c->target, c->bad_src_ip, 0);
        if (b < 0) {
            c->err = errno;
            return NULL;
        }
        char x;
        ssize_t n = read(b, &x, 1);
        c->bad_refused = n == 0 || (n < 0 && errno == ECONNRESET);
        close(b);
    }
    int fd;
    if (c->listen_fd >= 0) {
        wait_readable(c->listen_fd);
        socklen_t alen = sizeof c->seen_peer;
        fd = accept4(c->listen_fd, &c->seen_peer.sa, &alen, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            net_set_nonblock(fd, false);
            set_timeouts(fd);
        }
    } else {
        fd = dial(&c->target, c->src_ip, c->rcvbuf);
    }
    if (fd < 0) {
        c->err = errno;
        return NULL;
    }
    if (c->send != NULL) {
        size_t off = 0;
        while (off < c->send_len) {
            ssize_t n = write(fd, c->send + off, c->send_len - off);
            if (n <= 0) {
                c->err = errno;
                break;
            }
            off += (size_t)n;
        }
        close(fd);
        return NULL;
    }
    bool done_then = false;
    for (;;) {
        if (!done_then && c->len >= c->after) {
            done_then = true;
            if (c->then == THEN_CTRL || c->then == THEN_CTRL_STALL) {
                if (write(c->ctrl_fd, "A", 1) != 1)
                    c->err = errno;
            }
            if (c->then == THEN_CLOSE)
                break;
            if (c->then == THEN_STALL || c->then == THEN_CTRL_STALL) {
                wait_readable(c->release_fd);
                break;
            }
        }
        size_t room = CLIENT_CAP - c->len;
        if (!done_then && c->after - c->len < room)
            room = c->after - c->len;
        ssize_t n = read(fd, c->got + c->len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                c->err = errno;
            break;
        }
        c->len += (size_t)n;
    }
    close(fd);
    return NULL;
}

static void client_start(struct client *c)
{
    c->got = malloc(CLIENT_CAP);
    ck_assert_ptr_nonnull(c->got);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static void client_join(struct client *c)
{
    pthread_join(c->thread, NULL);
}

static void client_free(struct client *c)
{
    free(c->got);
    c->got = NULL;
}

static struct client client_for(const union sockaddr_any *target)
{
    struct client c = {.listen_fd = -1, .ctrl_fd = -1, .release_fd = -1};
    if (target != NULL)
        c.target = *target;
    return c;
}

/* ---- the watch: control connection and stop fd ---- */

struct watch_ctx {
    int ctrl_calls, stop_calls;
    bool consume;             /* on_control reads what arrived */
    enum ctl_action ctrl_ans; /* what on_control answers */
    enum ctl_action stop_ans;
    int grace_ms;       /* on_stop: set a deadline this far ahead and stop_fd = -1 */
    struct stream ctrl; /* a view of the test's control socket (never closed) */
};

static enum ctl_action on_ctrl(struct xfer_watch *w)
{
    struct watch_ctx *x = w->arg;
    x->ctrl_calls++;
    if (x->consume) {
        char b[16];
        size_t n;
        if (stream_read(w->ctrl, b, sizeof b, &n) != STREAM_OK)
            return CTL_ABORT;
    }
    return x->ctrl_ans;
}

static enum ctl_action on_stop(struct xfer_watch *w)
{
    struct watch_ctx *x = w->arg;
    x->stop_calls++;
    if (x->grace_ms > 0) {
        w->deadline = clock_ms() + x->grace_ms;
        w->stop_fd = -1;
    }
    return x->stop_ans;
}

static struct xfer_watch watch_with(struct watch_ctx *x, int ctrl_fd, int stop_fd)
{
    stream_plain(&x->ctrl, ctrl_fd);
    return (struct xfer_watch){
        .ctrl = ctrl_fd >= 0 ? &x->ctrl : NULL,
        .stop_fd = stop_fd,
        .on_control = on_ctrl,
        .on_stop = on_stop,
        .arg = x,
    };
}

/* ---- jobs ---- */

static struct transfer passive_job(int pasv_fd, const char *peer_ip)
{
    return (struct transfer){
        .kind = XFER_SEND_FILE,
        .pasv_fd = pasv_fd,
        .peer_addr = addr_of(peer_ip, 40000),
        .data_timeout = 10,
        .file_fd = file_fd,
        .size = FILE_SIZE,
    };
}

/* TYPE A on the wire, computed byte by byte (independently of
 * xfer_ascii_encode). */
static size_t ascii_reference(const unsigned char *p, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = p[i];
    }
    return o;
}

static void check_retr(const char *ip, uint64_t offset, bool ascii)
{
    union sockaddr_any pa;
    int pasv = listen_on(ip, 0, 0, &pa);
    struct transfer t = passive_job(pasv, ip);
    t.offset = offset;
    t.size = FILE_SIZE - offset;
    t.ascii = ascii;
    struct client c = client_for(&pa);
    client_start(&c);
    uint64_t bytes = 0;
    struct watch_ctx x = {0};
    struct xfer_watch w = watch_with(&x, -1, -1);
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_int_eq(c.err, 0);

    unsigned char *want = file_data + offset;
    size_t want_len = t.size;
    unsigned char *conv = NULL;
    if (ascii) {
        conv = malloc(2 * t.size);
        want_len = ascii_reference(want, t.size, conv);
        want = conv;
        ck_assert_uint_gt(want_len, t.size);
    }
    ck_assert_uint_eq(bytes, want_len);
    ck_assert_uint_eq(c.len, want_len);
    ck_assert_msg(memcmp(c.got, want, want_len) == 0, "content differs");
    free(conv);
    client_free(&c);
    close(pasv);
}

START_TEST(passive_binary)
{
    check_retr("127.0.0.1", 0, false);
}
END_TEST

START_TEST(passive_binary_offset)
{
    check_retr("127.0.0.1", 1000003, false);
}
END_TEST

START_TEST(passive_binary_v6)
{
    check_retr("::1", 0, false);
}
END_TEST

START_TEST(passive_ascii)
{
    check_retr("127.0.0.1", 0, true);
}
END_TEST

START_TEST(passive_ascii_offset)
{
    check_retr("127.0.0.1", 77777, true);
}
END_TEST

START_TEST(passive_empty_file)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.size = 0;
    struct client c = client_for(&pa);
    client_start(&c);
    uint64_t bytes = 99;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_uint_eq(c.len, 0);
    client_free(&c);
    close(pasv);
}
END_TEST

/* The file shrank after the core stat'ed it: send what there is, OK. */
START_TEST(passive_file_shrank)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.size = FILE_SIZE + 5000;
    struct client c = client_for(&pa);
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_uint_eq(bytes, FILE_SIZE);
    ck_assert_uint_eq(c.len, FILE_SIZE);
    ck_assert_int_eq(memcmp(c.got, file_data, FILE_SIZE), 0);
    client_free(&c);
    close(pasv);
}
END_TEST

/* A v4 client on a peer address recorded as ::ffff:127.0.0.1 is the same
 * host. */
START_TEST(passive_mapped_peer)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "::ffff:127.0.0.1");
    t.size = 1000;
    struct client c = client_for(&pa);
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_uint_eq(c.len, 1000);
    client_free(&c);
    close(pasv);
}
END_TEST

/* PASV theft: a connection from 127.0.0.2 is hung up on, the engine keeps
 * waiting, and the real client (127.0.0.1) gets the file. */
START_TEST(passive_wrong_ip_refused)
{
    union sockaddr_any pa;
    int pasv = listen_on("0.0.0.0", 0, 0, &pa);
    union sockaddr_any target = addr_of("127.0.0.1", sockaddr_port(&pa));
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct client c = client_for(&target);
    c.bad_src_ip = "127.0.0.2";
    c.src_ip = "127.0.0.1";
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_int_eq(c.err, 0);
    ck_assert(c.bad_refused);
    ck_assert_uint_eq(bytes, FILE_SIZE);
    ck_assert_uint_eq(c.len, FILE_SIZE);
    ck_assert_int_eq(memcmp(c.got, file_data, FILE_SIZE), 0);
    client_free(&c);
    close(pasv);
}
END_TEST

/* Only a stranger connects: refused, and the data timeout still ends the
 * wait (strangers do not reset it). */
START_TEST(passive_only_wrong_ip_times_out)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.data_timeout = 1;
    struct client c = client_for(&pa);
    c.bad_src_ip = "127.0.0.2";
    c.listen_fd = -1;
    c.target = pa;
    /* after the refusal the client connects from 127.0.0.2 again */
    c.src_ip = "127.0.0.2";
    client_start(&c);
    uint64_t bytes = 0;
    int64_t t0 = clock_ms();
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_NO_CONN);
    int64_t took = clock_ms() - t0;
    client_join(&c);
    ck_assert(c.bad_refused);
    ck_assert_uint_eq(c.len, 0);
    ck_assert_int_ge(took, 900);
    ck_assert_int_lt(took, 5000);
    client_free(&c);
    close(pasv);
}
END_TEST

START_TEST(passive_nobody_connects)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.data_timeout = 1;
    uint64_t bytes = 99;
    int64_t t0 = clock_ms();
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_NO_CONN);
    int64_t took = clock_ms() - t0;
    ck_assert_uint_eq(bytes, 0);
    ck_assert_int_ge(took, 900);
    ck_assert_int_lt(took, 3000);
    /* The session's fds are still open: the engine closes none of them. */
    ck_assert_int_ne(fcntl(pasv, F_GETFD), -1);
    ck_assert_int_ne(fcntl(file_fd, F_GETFD), -1);
    close(pasv);
}
END_TEST

/* Active: the client listens, the engine connects from local_addr's IP. */
START_TEST(active_binary)
{
    union sockaddr_any la;
    int lfd = listen_on("127.0.0.1", 0, 0, &la);
    struct transfer t = passive_job(-1, "127.0.0.1");
    t.port_addr = la;
    t.local_addr = addr_of("127.0.0.3", 21);
    struct client c = client_for(NULL);
    c.listen_fd = lfd;
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_int_eq(c.err, 0);
    ck_assert_uint_eq(bytes, FILE_SIZE);
    ck_assert_uint_eq(c.len, FILE_SIZE);
    ck_assert_int_eq(memcmp(c.got, file_data, FILE_SIZE), 0);
    union sockaddr_any want = addr_of("127.0.0.3", 0);
    ck_assert(sockaddr_same_ip(&c.seen_peer, &want));
    ck_assert_int_ne(sockaddr_port(&c.seen_peer), 21);
    client_free(&c);
    close(lfd);
}
END_TEST

START_TEST(active_v6)
{
    union sockaddr_any la;
    int lfd = listen_on("::1", 0, 0, &la);
    struct transfer t = passive_job(-1, "::1");
    t.port_addr = la;
    t.local_addr = addr_of("::1", 21);
    t.size = 100000;
    struct client c = client_for(NULL);
    c.listen_fd = lfd;
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_uint_eq(c.len, 100000);
    ck_assert_int_eq(memcmp(c.got, file_data, 100000), 0);
    client_free(&c);
    close(lfd);
}
END_TEST

START_TEST(active_refused)
{
    union sockaddr_any la;
    int lfd = listen_on("127.0.0.1", 0, 0, &la);
    close(lfd); /* nobody listens there now */
    struct transfer t = passive_job(-1, "127.0.0.1");
    t.port_addr = la;
    t.local_addr = addr_of("127.0.0.1", 21);
    uint64_t bytes = 99;
    int64_t t0 = clock_ms();
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_NO_CONN);
    ck_assert_int_lt(clock_ms() - t0, 2000);
    ck_assert_uint_eq(bytes, 0);
}
END_TEST

/* ABOR mid-transfer: the client reads some, sends a command on the control
 * connection and stops reading; on_control answers CTL_ABORT. */
static void check_abort(bool ascii)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", SMALL_BUF, 0, &pa);
    int ctrl[2], rel[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctrl), 0);
    ck_assert_int_eq(pipe2(rel, O_CLOEXEC), 0);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.ascii = ascii;
    struct client c = client_for(&pa);
    c.rcvbuf = SMALL_BUF;
    c.after = SOME_BYTES;
    c.then = THEN_CTRL_STALL;
    c.ctrl_fd = ctrl[1];
    c.release_fd = rel[0];
    client_start(&c);
    struct watch_ctx x = {.consume = true, .ctrl_ans = CTL_ABORT};
    struct xfer_watch w = watch_with(&x, ctrl[0], -1);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_ABORTED);
    ck_assert_int_eq(write(rel[1], "x", 1), 1);
    client_join(&c);
    ck_assert_int_eq(x.ctrl_calls, 1);
    ck_assert_uint_ge(bytes, SOME_BYTES);
    ck_assert_uint_lt(bytes, FILE_SIZE);
    ck_assert_ptr_eq(w.ctrl, &x.ctrl); /* the engine leaves *w alone */
    client_free(&c);
    close(ctrl[0]);
    close(ctrl[1]);
    close(rel[0]);
    close(rel[1]);
    close(pasv);
}

START_TEST(abort_binary)
{
    check_abort(false);
}
END_TEST

START_TEST(abort_ascii)
{
    check_abort(true);
}
END_TEST

/* ABOR while still waiting for the data connection. */
START_TEST(abort_before_connection)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    int ctrl[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctrl), 0);
    ck_assert_int_eq(write(ctrl[1], "A", 1), 1);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct watch_ctx x = {.consume = true, .ctrl_ans = CTL_ABORT};
    struct xfer_watch w = watch_with(&x, ctrl[0], -1);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_ABORTED);
    ck_assert_int_eq(x.ctrl_calls, 1);
    close(ctrl[0]);
    close(ctrl[1]);
    close(pasv);
}
END_TEST

/* A command that is not ABOR (STAT, NOOP): answered, transfer goes on. */
START_TEST(control_continue)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", SMALL_BUF, 0, &pa);
    int ctrl[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctrl), 0);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct client c = client_for(&pa);
    c.rcvbuf = SMALL_BUF;
    c.after = SOME_BYTES;
    c.then = THEN_CTRL;
    c.ctrl_fd = ctrl[1];
    client_start(&c);
    struct watch_ctx x = {.consume = true, .ctrl_ans = CTL_CONTINUE};
    struct xfer_watch w = watch_with(&x, ctrl[0], -1);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_int_eq(x.ctrl_calls, 1);
    ck_assert_uint_eq(c.len, FILE_SIZE);
    ck_assert_int_eq(memcmp(c.got, file_data, FILE_SIZE), 0);
    client_free(&c);
    close(ctrl[0]);
    close(ctrl[1]);
    close(pasv);
}
END_TEST

/* CTL_PAUSE without reading: the engine stops polling ctrl (else it would
 * call on_control in a loop) and finishes. */
START_TEST(control_pause)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    int ctrl[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctrl), 0);
    ck_assert_int_eq(write(ctrl[1], "QUIT\r\n", 6), 6);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct client c = client_for(&pa);
    client_start(&c);
    struct watch_ctx x = {.consume = false, .ctrl_ans = CTL_PAUSE};
    struct xfer_watch w = watch_with(&x, ctrl[0], -1);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_int_eq(x.ctrl_calls, 1);
    ck_assert_uint_eq(c.len, FILE_SIZE);
    client_free(&c);
    close(ctrl[0]);
    close(ctrl[1]);
    close(pasv);
}
END_TEST

/* The server stops hard (on_stop answers CTL_ABORT) while we wait for the
 * data connection. */
START_TEST(stop_abort)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    int stop[2];
    ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
    ck_assert_int_eq(write(stop[1], "s", 1), 1);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct watch_ctx x = {.stop_ans = CTL_ABORT};
    struct xfer_watch w = watch_with(&x, -1, stop[0]);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_SHUTDOWN);
    ck_assert_int_eq(x.stop_calls, 1);
    close(stop[0]);
    close(stop[1]);
    close(pasv);
}
END_TEST

/* Graceful stop: on_stop grants 300 ms; a stalled client runs out of it. */
START_TEST(stop_grace_runs_out)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", SMALL_BUF, 0, &pa);
    int stop[2], rel[2];
    ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(rel, O_CLOEXEC), 0);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct client c = client_for(&pa);
    c.rcvbuf = SMALL_BUF;
    c.after = SOME_BYTES;
    c.then = THEN_STALL;
    c.release_fd = rel[0];
    client_start(&c);
    /* The stop pipe stays readable, like a server-wide stop signal. */
    ck_assert_int_eq(write(stop[1], "s", 1), 1);
    struct watch_ctx x = {.stop_ans = CTL_CONTINUE, .grace_ms = 300};
    struct xfer_watch w = watch_with(&x, -1, stop[0]);
    uint64_t bytes = 0;
    int64_t t0 = clock_ms();
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_SHUTDOWN);
    int64_t took = clock_ms() - t0;
    ck_assert_int_eq(write(rel[1], "x", 1), 1);
    client_join(&c);
    ck_assert_int_eq(x.stop_calls, 1);
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 5000);
    client_free(&c);
    close(stop[0]);
    close(stop[1]);
    close(rel[0]);
    close(rel[1]);
    close(pasv);
}
END_TEST

START_TEST(deadline_already_passed)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    struct xfer_watch w = {.ctrl = NULL, .stop_fd = -1, .deadline = clock_ms() - 1};
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_SHUTDOWN);
    close(pasv);
}
END_TEST

/* The client hangs up mid-file (RST: it leaves data unread). */
static void check_client_closes(bool ascii)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", SMALL_BUF, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.ascii = ascii;
    struct client c = client_for(&pa);
    c.rcvbuf = SMALL_BUF;
    c.after = SOME_BYTES;
    c.then = THEN_CLOSE;
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_CONN_LOST);
    client_join(&c);
    ck_assert_uint_ge(bytes, SOME_BYTES);
    ck_assert_uint_lt(bytes, FILE_SIZE);
    client_free(&c);
    close(pasv);
}

START_TEST(client_closes_binary)
{
    check_client_closes(false);
}
END_TEST

START_TEST(client_closes_ascii)
{
    check_client_closes(true);
}
END_TEST

/* Connected but never reads: 1 s without progress ends it. */
START_TEST(data_timeout_mid_transfer)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", SMALL_BUF, 0, &pa);
    int rel[2];
    ck_assert_int_eq(pipe2(rel, O_CLOEXEC), 0);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.data_timeout = 1;
    struct client c = client_for(&pa);
    c.rcvbuf = SMALL_BUF;
    c.then = THEN_STALL;
    c.release_fd = rel[0];
    client_start(&c);
    uint64_t bytes = 0;
    int64_t t0 = clock_ms();
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_CONN_LOST);
    int64_t took = clock_ms() - t0;
    ck_assert_int_eq(write(rel[1], "x", 1), 1);
    client_join(&c);
    ck_assert_int_ge(took, 900);
    ck_assert_int_lt(took, 5000);
    ck_assert_uint_lt(bytes, FILE_SIZE);
    client_free(&c);
    close(rel[0]);
    close(rel[1]);
    close(pasv);
}
END_TEST

/* A file that cannot be read (a directory: sendfile says EINVAL, the
 * fallback pread says EISDIR) is 451, not a lost connection. */
START_TEST(local_read_error)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    int dir = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dir, 0);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.file_fd = dir; /* pread on a directory: EISDIR */
    struct client c = client_for(&pa);
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_LOCAL_ERROR);
    client_join(&c);
    ck_assert_uint_eq(bytes, 0);
    client_free(&c);
    close(dir);
    close(pasv);
}
END_TEST

static void check_recv(uint64_t offset)
{
    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    char up[160];
    snprintf(up, sizeof up, "%s/upload", tmpdir);
    int fd = open(up, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    unsigned char *prefix = malloc(offset + 1);
    memset(prefix, 'P', offset);
    ck_assert_int_eq(write(fd, prefix, offset), (ssize_t)offset);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.kind = XFER_RECV_FILE;
    t.file_fd = fd;
    t.offset = offset;
    t.size = 0;
    struct client c = client_for(&pa);
    c.send = file_data;
    c.send_len = FILE_SIZE;
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_int_eq(c.err, 0);
    ck_assert_uint_eq(bytes, FILE_SIZE);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)(offset + FILE_SIZE));
    unsigned char *back = malloc(offset + FILE_SIZE);
    ck_assert_int_eq(pread(fd, back, offset + FILE_SIZE, 0), (ssize_t)(offset + FILE_SIZE));
    ck_assert_int_eq(memcmp(back, prefix, offset), 0);
    ck_assert_int_eq(memcmp(back + offset, file_data, FILE_SIZE), 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD), -1); /* still open: the session's */
    free(back);
    free(prefix);
    client_free(&c);
    close(fd);
    close(pasv);
}

START_TEST(recv_file)
{
    check_recv(0);
}
END_TEST

START_TEST(recv_file_offset)
{
    check_recv(100);
}
END_TEST

/* A listing big enough for many listing_fill rounds; the engine must send
 * exactly what listing_fill produces. */
static void check_listing(enum listing_format format)
{
    char path[256];
    for (int i = 0; i < LIST_FILES; i++) {
        snprintf(path, sizeof path, "%s/file-%04d-with-a-longish-name.txt", tmpdir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    int root = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root, 0);
    struct listing_opts opts = {.format = format, .now = time(NULL)};

    struct listing *ref = listing_open(root, "/", "", &opts);
    ck_assert_ptr_nonnull(ref);
    struct buf want;
    buf_init(&want, 8 * 1024 * 1024);
    int more;
    do {
        more = listing_fill(ref, &want);
    } while (more > 0);
    ck_assert_int_eq(more, 0);
    listing_close(ref);
    ck_assert_uint_gt(want.len, 2 * FTPD_LISTING_CHUNK);

    union sockaddr_any pa;
    int pasv = listen_on("127.0.0.1", 0, 0, &pa);
    struct transfer t = passive_job(pasv, "127.0.0.1");
    t.kind = XFER_SEND_LISTING;
    t.file_fd = -1;
    t.listing = listing_open(root, "/", "", &opts);
    ck_assert_ptr_nonnull(t.listing);
    struct client c = client_for(&pa);
    client_start(&c);
    uint64_t bytes = 0;
    ck_assert_int_eq(xfer_run_blocking(&t, NULL, &bytes), XFER_OK);
    client_join(&c);
    ck_assert_uint_eq(bytes, want.len);
    ck_assert_uint_eq(c.len, want.len);
    ck_assert_int_eq(memcmp(c.got, buf_head(&want), want.len), 0);
    listing_close(t.listing); /* the engine does not: the session owns it */
    buf_free(&want);
    client_free(&c);
    close(root);
    close(pasv);
}

START_TEST(listing_nlst)
{
    check_listing(LISTING_NLST);
}
END_TEST

START_TEST(listing_list)
{
    check_listing(LISTING_LIST);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, TEST_SECS);
    return tc;
}

Suite *unit_suite(void)
{
    Suite *s = suite_create("xfer");
    TCase *tc = tcase("passive");
    tcase_add_test(tc, passive_binary);
    tcase_add_test(tc, passive_binary_offset);
    tcase_add_test(tc, passive_binary_v6);
    tcase_add_test(tc, passive_ascii);
    tcase_add_test(tc, passive_ascii_offset);
    tcase_add_test(tc, passive_empty_file);
    tcase_add_test(tc, passive_file_shrank);
    tcase_add_test(tc, passive_mapped_peer);
    tcase_add_test(tc, passive_wrong_ip_refused);
    tcase_add_test(tc, passive_only_wrong_ip_times_out);
    tcase_add_test(tc, passive_nobody_connects);
    suite_add_tcase(s, tc);

    tc = tcase("active");
    tcase_add_test(tc, active_binary);
    tcase_add_test(tc, active_v6);
    tcase_add_test(tc, active_refused);
    suite_add_tcase(s, tc);

    tc = tcase("control");
    tcase_add_test(tc, abort_binary);
    tcase_add_test(tc, abort_ascii);
    tcase_add_test(tc, abort_before_connection);
    tcase_add_test(tc, control_continue);
    tcase_add_test(tc, control_pause);
    tcase_add_test(tc, stop_abort);
    tcase_add_test(tc, stop_grace_runs_out);
    tcase_add_test(tc, deadline_already_passed);
    suite_add_tcase(s, tc);

    tc = tcase("errors");
    tcase_add_test(tc, client_closes_binary);
    tcase_add_test(tc, client_closes_ascii);
    tcase_add_test(tc, data_timeout_mid_transfer);
    tcase_add_test(tc, local_read_error);
    suite_add_tcase(s, tc);

    tc = tcase("recv");
    tcase_add_test(tc, recv_file);
    tcase_add_test(tc, recv_file_offset);
    suite_add_tcase(s, tc);

    tc = tcase("listing");
    tcase_add_test(tc, listing_nlst);
    tcase_add_test(tc, listing_list);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

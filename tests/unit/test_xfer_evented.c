/* The evented transfer engine (net/xfer_evented.c) on a real libev loop and
 * loopback sockets: passive and active, TYPE I and TYPE A, listings,
 * uploads, and every early end (nobody connects, connect refused, data
 * timeout, cancel). A client thread plays the FTP client's data side; every
 * socket has a timeout and every loop a guard timer. */
#include <errno.h>
#include <ev.h>
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
#include "ftpd/listing.h"
#include "ftpd/net.h"
#include "ftpd/xfer_evented.h"
#include "unit.h"

#define FILE_SIZE  (3 * 1024 * 1024 + 12345) /* not a multiple of any chunk */
#define CLIENT_CAP (2 * FILE_SIZE + 64)
#define TEST_SECS  20
#define IO_TIMEOUT 10 /* seconds, client side */
#define LIST_FILES 1500

static char tmpdir[64];
static unsigned char *file_data;
static int file_fd = -1;

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
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as main() does: sendfile has no MSG_NOSIGNAL */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ftpd-evx-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof path, "%s/data", tmpdir);
    file_data = malloc(FILE_SIZE);
    ck_assert_ptr_nonnull(file_data);
    make_data(file_data, FILE_SIZE);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, file_data, FILE_SIZE), FILE_SIZE);
    file_fd = fd;
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

/* A listener on ip:0 (the PASV socket, or the client's PORT socket). */
static int listen_on(const char *ip, union sockaddr_any *out)
{
    *out = addr_of(ip, 0);
    /* Non-blocking, as transfer.h requires of pasv_fd. */
    int fd = socket(out->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    /* Small buffers on what the engine accepts: a stalled client must
     * stall it quickly. */
    int sndbuf = 16 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    ck_assert_int_eq(bind(fd, &out->sa, sockaddr_len(out)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof *out;
    ck_assert_int_eq(getsockname(fd, &out->sa, &len), 0);
    return fd;
}

/* ---- the client's side of the data connection, on its own thread ---- */

struct client {
    union sockaddr_any target; /* passive: connect here */
    int listen_fd;             /* active: accept here instead (>= 0) */
    bool stall;                /* connect, read nothing until release_fd */
    int release_fd;
    const unsigned char *send; /* upload this, then close */
    size_t send_len;
    pthread_t thread;
    unsigned char *got;
    size_t len;
    int err;
};

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, IO_TIMEOUT * 1000);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    int fd;
    if (c->listen_fd >= 0) {
        wait_readable(c->listen_fd);
        fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    } else {
        fd = socket(c->target.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int rcvbuf = 16 * 1024;
            if (c->stall)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
            if (connect(fd, &c->target.sa, sockaddr_len(&c->target)) < 0) {
                close(fd);
                fd = -1;
            }
        }
    }
    if (fd < 0) {
        c->err = errno;
        return NULL;
    }
    set_timeouts(fd);
    if (c->stall) {
        wait_readable(c->release_fd);
    } else if (c->send != NULL) {
        size_t off = 0;
        while (off < c->send_len) {
            ssize_t n = write(fd, c->send + off, c->send_len - off);
            if (n <= 0) {
                c->err = errno;
                break;
            }
            off += (size_t)n;
        }
    } else {
        for (;;) {
            ssize_t n = read(fd, c->got + c->len, CLIENT_CAP - c->len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (n < 0)
                    c->err = errno;
                break;
            }
            c->len += (size_t)n;
        }
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

static void client_finish(struct client *c)
{
    pthread_join(c->thread, NULL);
    free(c->got);
    c->got = NULL;
}

static struct client client_for(const union sockaddr_any *target)
{
    struct client c = {.listen_fd = -1, .release_fd = -1};
    if (target != NULL)
        c.target = *target;
    return c;
}

/* ---- running a job on a loop ---- */

struct run {
    struct ev_loop *loop;
    bool starting; /* inside xfer_ev_start: the callback must not run */
    int calls;
    bool early; /* called from inside xfer_ev_start */
    enum xfer_result result;
    uint64_t bytes;
};

static void on_done(void *arg, enum xfer_result result, uint64_t bytes)
{
    struct run *r = arg;
    r->calls++;
    r->early |= r->starting;
    r->result = result;
    r->bytes = bytes;
    ev_break(r->loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until r's job has reported (or the guard fires). */
static void run_until_done(struct run *r)
{
    ev_timer guard;
    ev_timer_init(&guard, on_guard, TEST_SECS, 0.);
    ev_timer_start(r->loop, &guard);
    if (r->calls == 0)
        ev_run(r->loop, 0);
    ev_timer_stop(r->loop, &guard);
}

static struct xfer_ev *start(struct run *r, const struct transfer *t)
{
    r->starting = true;
    struct xfer_ev *x = xfer_ev_start(r->loop, t, on_done, r);
    r->starting = false;
    ck_assert_ptr_nonnull(x);
    return x;
}

static struct transfer passive_job(int pasv_fd)
{
    return (struct transfer){
        .kind = XFER_SEND_FILE,
        .pasv_fd = pasv_fd,
        .peer_addr = addr_of("127.0.0.1", 40000),
        .data_timeout = 10,
        .file_fd = file_fd,
        .size = FILE_SIZE,
    };
}

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

static void check_retr(uint64_t offset, bool ascii, bool active)
{
    struct run r = {.loop = ev_loop_new(EVFLAG_AUTO)};
    union sockaddr_any a;
    int lfd = listen_on("127.0.0.1", &a);
    struct transfer t = passive_job(active ? -1 : lfd);
    if (active) {
        t.port_addr = a;
        t.local_addr = addr_of("127.0.0.1", 0);
    }
    t.offset = offset;
    t.size = FILE_SIZE - offset;
    t.ascii = ascii;
    struct client c = client_for(&a);
    if (active)
        c.listen_fd = lfd;
    client_start(&c);
    start(&r, &t);
    run_until_done(&r);
    pthread_join(c.thread, NULL);
    ck_assert_int_eq(r.calls, 1);
    ck_assert(!r.early);
    ck_assert_int_eq(r.result, XFER_OK);
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
    ck_assert_uint_eq(r.bytes, want_len);
    ck_assert_uint_eq(c.len, want_len);
    ck_assert_msg(memcmp(c.got, want, want_len) == 0, "content differs");
    free(conv);
    free(c.got);
    close(lfd);
    ev_loop_destroy(r.loop);
}

START_TEST(passive_binary)
{
    check_retr(0, false, false);
}
END_TEST

START_TEST(passive_binary_offset)
{
    check_retr(1000001, false, false);
}
END_TEST

START_TEST(passive_ascii_offset)
{
    check_retr(77, true, false);
}
END_TEST

START_TEST(active_binary)
{
    check_retr(0, false, true);
}
END_TEST

START_TEST(active_ascii)
{
    check_retr(0, true, true);
}
END_TEST

START_TEST(nobody_connects)
{
    struct run r = {.loop = ev_loop_new(EVFLAG_AUTO)};
    union sockaddr_any a;
    int lfd = listen_on("127.0.0.1", &a);
    struct transfer t = passive_job(lfd);
    t.data_timeout = 1;
    start(&r, &t);
    run_until_done(&r);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.result, XFER_NO_CONN);
    ck_assert_uint_eq(r.bytes, 0);
    close(lfd);
    ev_loop_destroy(r.loop);
}
END_TEST

START_TEST(active_refused)
{
    struct run r = {.loop = ev_loop_new(EVFLAG_AUTO)};
    union sockaddr_any a;
    int lfd = listen_on("127.0.0.1", &a);
    close(lfd); /* nobody listens there now */
    struct transfer t = passive_job(-1);
    t.port_addr = a;
    start(&r, &t);
    ck_assert_int_eq(r.calls, 0);
    run_until_done(&r);
    ck_assert_int_eq(r.calls, 1);
    ck_assert(!r.early);
    ck_assert_int_eq(r.result, XFER_NO_CONN);
    ev_loop_destroy(r.loop);
}
END_TEST

/* A client that connects and never reads: the data timeout ends the job. */
START_TEST(stalled_times_out)
{
    struct run r = {.loop = ev_loop_new(EVFLAG_AUTO)};
    union sockaddr_any a;
    int lfd = listen_on("127.0.0.1", &a);
    int rel[2];
    ck_assert_int_eq(pipe(rel), 0);
    struct transfer t = passive_job(lfd);
    t.data_timeout = 1;
    struct client c = client_for(&a);
    c.stall = true;
    c.release_fd = rel[0];
    client_start(&c);
    start(&r, &t);
    run_until_done(&r);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.result, XFER_CONN_LOST);
    ck_assert_uint_gt(r.bytes, 0);
    ck_assert_uint_lt(r.bytes, FILE_SIZE);
    ck_assert_int_eq(write(rel[1], "x", 1), 1);
    client_finish(&c);
    close(rel[0]);
    close(rel[1]);
    close(lfd);
    ev_loop_destroy(r.loop);
}
END_TEST

/* One stalled download must not delay another job on the same loop; cancel
 * then ends the stalled one without a callback. */
START_TEST(stalled_does_not_block_others)
{
    struct run r1 = {.loop = ev_loop_new(EVFLAG_AUTO)};
    struct run r2 = {.loop = r1.loop};
    union sockaddr_any a1, a2;
    int l1 = listen_on("127.0.0.1", &a1), l2 = listen_on("127.0.0.1", &a2);
    int rel[2];
    ck_assert_int_eq(pipe(rel), 0);
    struct transfer t1 = passive_job(l1), t2 = passive_job(l2);
    struct client c1 = client_for(&a1), c2 = client_for(&a2);
    c1.stall = true;
    c1.release_fd = rel[0];
    client_start(&c1);
    client_start(&c2);
    struct xfer_ev *x1 = start(&r1, &t1);
    start(&r2, &t2);
    run_until_done(&r2);
    ck_assert_int_eq(r2.calls, 1);
    ck_assert_int_eq(r2.result, XFER_OK);
    ck_assert_int_eq(r1.calls, 0);
    uint64_t b1 = xfer_ev_cancel(x1);
    ck_assert_uint_lt(b1, FILE_SIZE);
    /* Nothing left on the loop: a run returns at once, no callback. */
    ev_run(r1.loop, 0);
    ck_assert_int_eq(r1.calls, 0);
    ck_assert_int_eq(write(rel[1], "x", 1), 1);
    pthread_join(c2.thread, NULL);
    ck_assert_uint_eq(c2.len, FILE_SIZE);
    ck_assert(memcmp(c2.got, file_data, FILE_SIZE) == 0);
    free(c2.got);
    client_finish(&c1);
    close(rel[0]);
    close(rel[1]);
    close(l1);
    close(l2);
    ev_loop_destroy(r1.loop);
}
END_TEST

START_TEST(recv_file)
{
    struct run r = {.loop = ev_loop_new(EVFLAG_AUTO)};
    union sockaddr_any a;
    int lfd = listen_on("127.0.0.1", &a);
    char path[128];
    snprintf(path, sizeof path, "%s/upload", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    struct transfer t = passive_job(lfd);
    t.kind = XFER_RECV_FILE;
    t.file_fd = fd;
    t.size = 0;
    struct client c = client_for(&a);
    c.send = file_data;
    c.send_len = FILE_SIZE;
    client_start(&c);
    start(&r, &t);
    run_until_done(&r);
    client_finish(&c);
    ck_assert_int_eq(r.result, XFER_OK);
    ck_assert_uint_eq(r.bytes, FILE_SIZE);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, FILE_SIZE);
    unsigned char *back = malloc(FILE_SIZE);
    ck_assert_int_eq(pread(fd, back, FILE_SIZE, 0), FILE_SIZE);
    ck_assert(memcmp(back, file_data, FILE_SIZE) == 0);
    free(back);
    close(fd);
    close(lfd);
    ev_loop_destroy(r.loop);
}
END_TEST

START_TEST(listing_nlst)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/list", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    for (int i = 0; i < LIST_FILES; i++) {
        char p[192];
        snprintf(p, sizeof p, "%s/a_long_enough_file_name_%04d", dir, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    int root = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root, 0);
    struct listing_opts o = {.format = LISTING_NLST, .now = time(NULL)};
    struct listing *l = listing_open(root, "/list", "", &o);
    ck_assert_ptr_nonnull(l);

    struct run r = {.loop = ev_loop_new(EVFLAG_AUTO)};
    union sockaddr_any a;
    int lfd = listen_on("127.0.0.1", &a);
    struct transfer t = passive_job(lfd);
    t.kind = XFER_SEND_LISTING;
    t.file_fd = -1;
    t.listing = l;
    struct client c = client_for(&a);
    client_start(&c);
    start(&r, &t);
    run_until_done(&r);
    pthread_join(c.thread, NULL);
    ck_assert_int_eq(r.result, XFER_OK);
    ck_assert_uint_eq(r.bytes, c.len);
    size_t lines = 0;
    for (size_t i = 0; i + 1 < c.len; i++)
        lines += c.got[i] == '\r' && c.got[i + 1] == '\n';
    ck_assert_uint_eq(lines, LIST_FILES);
    free(c.got);
    listing_close(l);
    close(root);
    close(lfd);
    ev_loop_destroy(r.loop);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("xfer_evented");
    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, TEST_SECS + 10);
    tcase_add_test(tc, passive_binary);
    tcase_add_test(tc, passive_binary_offset);
    tcase_add_test(tc, passive_ascii_offset);
    tcase_add_test(tc, active_binary);
    tcase_add_test(tc, active_ascii);
    tcase_add_test(tc, nobody_connects);
    tcase_add_test(tc, active_refused);
    tcase_add_test(tc, stalled_times_out);
    tcase_add_test(tc, stalled_does_not_block_others);
    tcase_add_test(tc, recv_file);
    tcase_add_test(tc, listing_nlst);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

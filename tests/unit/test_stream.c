/* Streams: the plain TCP stream over a socketpair and a loopback TCP pair,
 * the shared helpers (poll events, write-all, close, detach), and a fake
 * "TLS-like" stream driven through both transfer engines to prove that
 * they honour WANT_READ / WANT_WRITE and pending bytes.
 *
 * The fake reaches the engine through a link seam: this file defines
 * xfer_data_stream, so the library's one-function datastream.o is left
 * out of this test binary. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/clock.h"
#include "ftpd/net.h"
#include "ftpd/stream.h"
#include "ftpd/xfer_evented.h"
#include "unit.h"

#define TEST_SECS  20
#define IO_TIMEOUT 5 /* seconds, for a helper thread's blocking calls */

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A listener on 127.0.0.1:0, non-blocking (as transfer.h wants pasv_fd). */
static int listen_local(union sockaddr_any *addr)
{
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 0, addr), 0);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, &addr->sa, sockaddr_len(addr)), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(l, &addr->sa, &len), 0);
    return l;
}

static int dial(const union sockaddr_any *to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_timeouts(fd);
    if (connect(fd, &to->sa, sockaddr_len(to)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* sv[0]: the server side, non-blocking (the stream's); sv[1]: the peer,
 * blocking with timeouts. */
static void tcp_pair(int sv[2])
{
    union sockaddr_any a;
    int l = listen_local(&a);
    sv[1] = dial(&a);
    ck_assert_int_ge(sv[1], 0);
    struct pollfd pfd = {.fd = l, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
    sv[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ck_assert_int_ge(sv[0], 0);
    close(l);
}

static void unix_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(net_set_nonblock(sv[0], true), 0);
    set_timeouts(sv[1]);
}

/* A regular file of n pattern bytes, unlinked: only the fd remains. */
static int temp_file(const unsigned char *data, size_t n)
{
    char path[] = "/tmp/ftpd-stream-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    if (n > 0)
        ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    return fd;
}

static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + (i >> 11));
    return p;
}

/* ---- the plain stream ---- */

static void check_read_write_eof(void (*make_pair)(int sv[2]))
{
    int sv[2];
    make_pair(sv);
    struct stream s;
    stream_plain(&s, sv[0]);
    ck_assert_str_eq(s.ops->name, "tcp");
    ck_assert_int_eq(s.fd, sv[0]);
    ck_assert_uint_eq(stream_pending(&s), 0);

    size_t n = 99;
    char b[16];
    ck_assert_int_eq(stream_read(&s, b, sizeof b, &n), STREAM_AGAIN);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(stream_write(&s, "hello", 5, &n), STREAM_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(read(sv[1], b, sizeof b), 5);
    ck_assert_int_eq(memcmp(b, "hello", 5), 0);

    ck_assert_int_eq(write(sv[1], "world", 5), 5);
    struct pollfd pfd = {.fd = sv[0], .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
    ck_assert_int_eq(stream_read(&s, b, sizeof b, &n), STREAM_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "world", 5), 0);
    ck_assert_int_eq(stream_write(&s, "", 0, &n), STREAM_OK);
    ck_assert_uint_eq(n, 0);

    close(sv[1]);
    ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
    ck_assert_int_eq(stream_read(&s, b, sizeof b, &n), STREAM_EOF);
    ck_assert_int_eq(s.ops->shutdown(&s), STREAM_OK);
    stream_close(&s);
    ck_assert_int_eq(s.fd, -1);
}

START_TEST(plain_socketpair_read_write_eof)
{
    check_read_write_eof(unix_pair);
}
END_TEST

START_TEST(plain_tcp_read_write_eof)
{
    check_read_write_eof(tcp_pair);
}
END_TEST

/* A socket nobody reads fills up: the write says AGAIN, having moved
 * nothing. */
START_TEST(plain_write_again_when_full)
{
    int sv[2];
    tcp_pair(sv);
    struct stream s;
    stream_plain(&s, sv[0]);
    static char chunk[64 * 1024];
    size_t n, total = 0;
    enum stream_status st;
    int rounds = 0;
    while ((st = stream_write(&s, chunk, sizeof chunk, &n)) == STREAM_OK) {
        total += n;
        ck_assert_int_lt(++rounds, 10000);
    }
    ck_assert_int_eq(st, STREAM_AGAIN);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_gt(total, 0);
    stream_close(&s);
    close(sv[1]);
}
END_TEST

/* SIGPIPE is at its default here: a write to a closed peer must be an
 * error code (MSG_NOSIGNAL), or the test process dies. */
START_TEST(plain_write_closed_peer_epipe)
{
    signal(SIGPIPE, SIG_DFL);
    int sv[2];
    unix_pair(sv);
    struct stream s;
    stream_plain(&s, sv[0]);
    close(sv[1]);
    size_t n = 99;
    errno = 0;
    ck_assert_int_eq(stream_write(&s, "x", 1, &n), STREAM_ERR);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_uint_eq(n, 0);
    stream_close(&s);

    /* TCP: the first write after the peer's close may still be taken; the
     * reset that answers it turns the next into EPIPE. */
    tcp_pair(sv);
    stream_plain(&s, sv[0]);
    close(sv[1]);
    enum stream_status st = STREAM_OK;
    for (int i = 0; i < 200 && st == STREAM_OK; i++) {
        errno = 0;
        st = stream_write(&s, "x", 1, &n);
        if (st == STREAM_OK)
            sleep_ms(5);
    }
    ck_assert_int_eq(st, STREAM_ERR);
    ck_assert_msg(errno == EPIPE || errno == ECONNRESET, "errno %d", errno);
    stream_close(&s);
}
END_TEST

#define SF_SIZE (700 * 1000 + 3)

START_TEST(plain_sendfile_regular_file)
{
    unsigned char *data = pattern(SF_SIZE);
    int file = temp_file(data, SF_SIZE);
    int sv[2];
    tcp_pair(sv);
    ck_assert_int_eq(net_set_nonblock(sv[1], true), 0);
    struct stream s;
    stream_plain(&s, sv[0]);
    unsigned char *got = malloc(SF_SIZE + 1);
    size_t got_len = 0;
    uint64_t off = 1000; /* as after REST 1000 */
    int64_t until = clock_ms() + 10000;
    /* One thread: send what fits, drain the peer, again. */
    while (off < SF_SIZE || got_len < SF_SIZE - 1000) {
        ck_assert_int_lt(clock_ms(), until);
        if (off < SF_SIZE) {
            size_t n = 0;
            uint64_t before = off;
            enum stream_status st = stream_sendfile(&s, file, &off, SF_SIZE - off, &n);
            ck_assert_msg(st == STREAM_OK || st == STREAM_AGAIN, "status %d", st);
            ck_assert_uint_eq(off, before + n);
        }
        ssize_t r = read(sv[1], got + got_len, SF_SIZE + 1 - got_len);
        if (r > 0)
            got_len += (size_t)r;
        else
            ck_assert(r < 0 && errno == EAGAIN);
    }
    ck_assert_uint_eq(got_len, SF_SIZE - 1000);
    ck_assert_int_eq(memcmp(got, data + 1000, got_len), 0);
    /* At the end of the file: OK with nothing sent. */
    size_t n = 99;
    ck_assert_int_eq(stream_sendfile(&s, file, &off, 100, &n), STREAM_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(off, SF_SIZE);
    stream_close(&s);
    close(sv[1]);
    close(file);
    free(got);
    free(data);
}
END_TEST

/* Files sendfile cannot read: ERR with EINVAL (or ENOSYS), nothing sent,
 * the offset unmoved: the caller's signal to fall back to a copy. */
START_TEST(plain_sendfile_unsupported_file)
{
    static const char *const paths[] = {"/proc/self/stat", "/tmp"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int file = open(paths[i], O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        int sv[2];
        tcp_pair(sv);
        struct stream s;
        stream_plain(&s, sv[0]);
        uint64_t off = 0;
        size_t n = 99;
        errno = 0;
        ck_assert_int_eq(stream_sendfile(&s, file, &off, 100, &n), STREAM_ERR);
        ck_assert_msg(errno == EINVAL || errno == ENOSYS, "%s: errno %d", paths[i], errno);
        ck_assert_uint_eq(n, 0);
        ck_assert_uint_eq(off, 0);
        char b[8];
        ck_assert_int_eq(net_set_nonblock(sv[1], true), 0);
        ck_assert_int_eq(read(sv[1], b, sizeof b), -1);
        ck_assert_int_eq(errno, EAGAIN);
        stream_close(&s);
        close(sv[1]);
        close(file);
    }
}
END_TEST

/* ---- shared helpers ---- */

struct poll_case {
    enum stream_status st;
    short dir, want;
};

static const struct poll_case poll_cases[] = {
    {STREAM_OK, POLLIN, POLLIN},
    {STREAM_OK, POLLOUT, POLLOUT},
    {STREAM_AGAIN, POLLIN, POLLIN},
    {STREAM_AGAIN, POLLOUT, POLLOUT},
    {STREAM_WANT_READ, POLLIN, POLLIN},
    {STREAM_WANT_READ, POLLOUT, POLLIN},
    {STREAM_WANT_WRITE, POLLIN, POLLOUT},
    {STREAM_WANT_WRITE, POLLOUT, POLLOUT},
    {STREAM_EOF, POLLIN, 0},
    {STREAM_ERR, POLLOUT, 0},
};

START_TEST(poll_events_table)
{
    const struct poll_case *c = &poll_cases[_i];
    ck_assert_int_eq(stream_poll_events(c->st, c->dir), c->want);
}
END_TEST

#define SLOW_TOTAL (2 * 1024 * 1024)

struct slow_reader {
    int fd;
    unsigned char *got;
    size_t len;
};

/* Reads in small bites with pauses, so the writer meets a full buffer many
 * times. */
static void *slow_reader_main(void *arg)
{
    struct slow_reader *r = arg;
    int round = 0;
    while (r->len < SLOW_TOTAL) {
        ssize_t n = read(r->fd, r->got + r->len, 16 * 1024);
        if (n <= 0)
            break;
        r->len += (size_t)n;
        if (++round % 16 == 0)
            sleep_ms(2);
    }
    return NULL;
}

START_TEST(write_all_short_writes)
{
    int sv[2];
    tcp_pair(sv);
    int small = 8192;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    unsigned char *data = pattern(SLOW_TOTAL);
    struct slow_reader r = {.fd = sv[1], .got = malloc(SLOW_TOTAL)};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_reader_main, &r), 0);
    struct stream s;
    stream_plain(&s, sv[0]);
    ck_assert_int_eq(stream_write_all(&s, data, SLOW_TOTAL, 5000), STREAM_OK);
    pthread_join(th, NULL);
    ck_assert_uint_eq(r.len, SLOW_TOTAL);
    ck_assert_int_eq(memcmp(r.got, data, SLOW_TOTAL), 0);
    stream_close(&s);
    close(sv[1]);
    free(r.got);
    free(data);
}
END_TEST

START_TEST(write_all_times_out)
{
    int sv[2];
    unix_pair(sv);
    struct stream s;
    stream_plain(&s, sv[0]);
    size_t big = 4 * 1024 * 1024; /* far more than a socketpair buffers */
    char *data = calloc(1, big);
    int64_t t0 = clock_ms();
    errno = 0;
    ck_assert_int_eq(stream_write_all(&s, data, big, 300), STREAM_ERR);
    ck_assert_int_eq(errno, ETIMEDOUT);
    int64_t took = clock_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 3000);
    free(data);
    stream_close(&s);
    close(sv[1]);
}
END_TEST

/* ---- a fake stream with TLS-like results ---- */

struct fake {
    /* reads: hand out at most `bite` bytes of what was read ahead */
    size_t bite;
    bool want_write_once; /* the first read says WANT_WRITE, holding what it read */
    /* when set, what a socket read "decrypts" to (what it read is dropped):
     * far more held bytes than the socket ever showed */
    const unsigned char *expand;
    size_t expand_len;
    unsigned char buf[64 * 1024];
    const unsigned char *hold; /* buf or expand */
    size_t head, len;
    size_t total_in;
    int read_want;  /* 0 not yet, 1 said WANT_WRITE, 2 read again after it */
    int held_reads; /* reads served while pending() said > 0 */
    /* writes: at most `wbite` bytes; once `want_read_after` bytes went,
     * say WANT_READ until the peer sends one byte ('R') */
    size_t wbite;
    size_t want_read_after;
    size_t total_out;
    int write_want; /* 0 not yet, 1 said WANT_READ, 2 took the byte */
    int violations; /* called again before the fd was readable */
    int sendfile_calls, shutdown_calls, release_calls;
    size_t ctrl_pending;   /* pending() for a control stream */
    atomic_int resumed;    /* read_want reached 2 */
    atomic_int asked_read; /* write_want reached 1 */
};

static enum stream_status fake_read(struct stream *s, void *p, size_t cap, size_t *n)
{
    struct fake *f = s->ctx;
    *n = 0;
    if (f->read_want == 1) {
        f->read_want = 2;
        atomic_store(&f->resumed, 1);
    }
    if (f->len > 0)
        f->held_reads++;
    if (f->len == 0) {
        ssize_t r = read(s->fd, f->buf, sizeof f->buf);
        if (r == 0)
            return STREAM_EOF;
        if (r < 0)
            return errno == EAGAIN ? STREAM_AGAIN : STREAM_ERR;
        f->hold = f->buf;
        f->head = 0;
        f->len = (size_t)r;
        if (f->expand != NULL) {
            f->hold = f->expand;
            f->len = f->expand_len;
            f->expand = NULL;
        }
        f->total_in += f->len;
        /* Like a TLS record that needs an answer written first: the bytes
         * are held, and the socket shows nothing more to read. */
        if (f->want_write_once && f->read_want == 0) {
            f->read_want = 1;
            return STREAM_WANT_WRITE;
        }
    }
    size_t k = f->len < f->bite ? f->len : f->bite;
    k = k < cap ? k : cap;
    memcpy(p, f->hold + f->head, k);
    f->head += k;
    f->len -= k;
    *n = k;
    return STREAM_OK;
}

static enum stream_status fake_write(struct stream *s, const void *p, size_t len, size_t *n)
{
    struct fake *f = s->ctx;
    *n = 0;
    if (f->write_want == 0 && f->want_read_after > 0 && f->total_out >= f->want_read_after) {
        f->write_want = 1;
        atomic_store(&f->asked_read, 1);
        return STREAM_WANT_READ;
    }
    if (f->write_want == 1) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) != 1) {
            f->violations++; /* the caller did not wait for POLLIN */
            return STREAM_WANT_READ;
        }
        char b;
        if (read(s->fd, &b, 1) != 1 || b != 'R')
            return STREAM_ERR;
        f->write_want = 2;
    }
    size_t k = len < f->wbite ? len : f->wbite;
    ssize_t r = send(s->fd, p, k, MSG_NOSIGNAL);
    if (r < 0)
        return errno == EAGAIN ? STREAM_AGAIN : STREAM_ERR;
    f->total_out += (size_t)r;
    *n = (size_t)r;
    return STREAM_OK;
}

/* Like TLS without kernel offload: no zero-copy path. */
static enum stream_status fake_sendfile(struct stream *s, int file_fd, uint64_t *off, size_t len,
                                        size_t *n)
{
    struct fake *f = s->ctx;
    f->sendfile_calls++;
    *n = 0;
    errno = ENOSYS;
    return STREAM_ERR;
}

static size_t fake_pending(const struct stream *s)
{
    const struct fake *f = s->ctx;
    if (f->read_want == 1)
        return 0; /* mid "handshake": nothing readable until the write */
    return f->len + f->ctrl_pending;
}

static enum stream_status fake_shutdown(struct stream *s)
{
    struct fake *f = s->ctx;
    f->shutdown_calls++;
    return STREAM_OK;
}

static void fake_release(struct stream *s)
{
    struct fake *f = s->ctx;
    f->release_calls++;
}

static const struct stream_ops fake_ops = {
    .name = "fake",
    .read = fake_read,
    .write = fake_write,
    .sendfile = fake_sendfile,
    .pending = fake_pending,
    .shutdown = fake_shutdown,
    .release = fake_release,
};

static struct fake *new_fake(void)
{
    struct fake *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    f->bite = SIZE_MAX;
    f->wbite = SIZE_MAX;
    return f;
}

static void fake_stream(struct stream *s, int fd, struct fake *f)
{
    *s = (struct stream){.ops = &fake_ops, .fd = fd, .ctx = f};
}

/* The engines' data stream: the fake when a test set one up. */
static struct fake *next_data_fake;

int xfer_data_stream(const struct transfer *t, int fd, struct stream *out)
{
    if (next_data_fake != NULL)
        fake_stream(out, fd, next_data_fake);
    else
        stream_plain(out, fd);
    return 0;
}

START_TEST(close_twice)
{
    int sv[2];
    unix_pair(sv);
    struct fake *f = new_fake();
    struct stream s;
    fake_stream(&s, sv[0], f);
    stream_close(&s);
    ck_assert_int_eq(s.fd, -1);
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1); /* closed */
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(f->shutdown_calls, 1);
    ck_assert_int_eq(f->release_calls, 1);
    stream_close(&s);
    ck_assert_int_eq(f->shutdown_calls, 1);
    ck_assert_int_eq(f->release_calls, 1);

    struct stream never = {.ops = NULL, .fd = -1};
    stream_close(&never);
    stream_plain(&s, sv[1]);
    stream_close(&s);
    stream_close(&s);
    ck_assert_int_eq(fcntl(sv[1], F_GETFD), -1);
    free(f);
}
END_TEST

START_TEST(detach_keeps_fd)
{
    int sv[2];
    unix_pair(sv);
    struct fake *f = new_fake();
    struct stream s;
    fake_stream(&s, sv[0], f);
    ck_assert_int_eq(stream_detach(&s), sv[0]);
    ck_assert_int_eq(s.fd, -1);
    ck_assert_int_eq(f->release_calls, 1);
    ck_assert_int_eq(f->shutdown_calls, 0); /* the new owner speaks on it */
    stream_close(&s);                       /* nothing left to close */
    ck_assert_int_eq(f->release_calls, 1);
    ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
    ck_assert_int_eq(write(sv[0], "x", 1), 1);
    close(sv[0]);
    close(sv[1]);
    free(f);
}
END_TEST

struct late_byte {
    int fd;
    int delay_ms;
};

static void *late_byte_main(void *arg)
{
    struct late_byte *lb = arg;
    sleep_ms(lb->delay_ms);
    if (write(lb->fd, "R", 1) != 1)
        perror("late byte");
    return NULL;
}

/* A write that says WANT_READ: stream_write_all waits for POLLIN (the peer
 * writes a byte 100 ms later), not for POLLOUT, which would be true at
 * once. */
START_TEST(write_all_waits_for_want_read)
{
    int sv[2];
    unix_pair(sv);
    struct fake *f = new_fake();
    f->want_read_after = 3;
    f->wbite = 3;
    struct stream s;
    fake_stream(&s, sv[0], f);
    struct late_byte lb = {.fd = sv[1], .delay_ms = 100};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, late_byte_main, &lb), 0);
    int64_t t0 = clock_ms();
    ck_assert_int_eq(stream_write_all(&s, "abcdefgh", 8, 3000), STREAM_OK);
    ck_assert_int_ge(clock_ms() - t0, 80);
    pthread_join(th, NULL);
    ck_assert_int_eq(f->violations, 0);
    ck_assert_int_eq(f->write_want, 2);
    char b[16];
    ck_assert_int_eq(read(sv[1], b, sizeof b), 8);
    ck_assert_int_eq(memcmp(b, "abcdefgh", 8), 0);
    stream_close(&s);
    close(sv[1]);
    free(f);
}
END_TEST

/* ---- the blocking engine through the fake stream ---- */

static struct transfer passive_job(int pasv_fd, enum xfer_kind kind, int file_fd, uint64_t size)
{
    struct transfer t = {
        .kind = kind,
        .pasv_fd = pasv_fd,
        .data_timeout = 3,
        .file_fd = file_fd,
        .size = size,
    };
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 40000, &t.peer_addr), 0);
    return t;
}

/* Wait (bounded) until *flag is set. */
static bool wait_flag(atomic_int *flag)
{
    for (int i = 0; i < IO_TIMEOUT * 1000 && atomic_load(flag) == 0; i++)
        sleep_ms(1);
    return atomic_load(flag) != 0;
}

struct ev_job {
    struct ev_loop *loop;
    int calls;
    enum xfer_result result;
    uint64_t bytes;
};

static void ev_job_done(void *arg, enum xfer_result result, uint64_t bytes)
{
    struct ev_job *j = arg;
    j->calls++;
    j->result = result;
    j->bytes = bytes;
    ev_break(j->loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Run t with the blocking engine, or the evented one on a loop of its own. */
static enum xfer_result run_job(bool evented, const struct transfer *t, uint64_t *bytes)
{
    if (!evented)
        return xfer_run_blocking(t, NULL, bytes);
    struct ev_job j = {.loop = ev_loop_new(EVFLAG_AUTO)};
    ck_assert_ptr_nonnull(j.loop);
    ck_assert_ptr_nonnull(xfer_ev_start(j.loop, t, ev_job_done, &j));
    ev_timer guard;
    ev_timer_init(&guard, on_guard, TEST_SECS / 2, 0.);
    ev_timer_start(j.loop, &guard);
    ev_run(j.loop, 0);
    ev_timer_stop(j.loop, &guard);
    ev_loop_destroy(j.loop);
    ck_assert_int_eq(j.calls, 1);
    *bytes = j.bytes;
    return j.result;
}

#define UP_PART1 1000
#define UP_PART2 20000
/* More than the evented engine moves per wake-up (XFER_EV_BUDGET). */
#define UP_EXPANDED (3 * XFER_EV_BUDGET + 123)

struct uploader {
    union sockaddr_any target;
    const unsigned char *data; /* part1 + part2 bytes */
    size_t part1, part2;       /* part2 0: send part1 only */
    size_t file_size;          /* close once the file is this big */
    int file_fd;               /* where the engine writes */
    struct fake *f;
    pthread_t thread;
    bool ok;
};

/* Part 1; then part 2 only once the engine read again after WANT_WRITE
 * (had it waited for POLLIN instead, nothing would come); then the close
 * only once every byte is in the file (had it waited for the socket while
 * the fake held bytes, nothing more would come). */
static void *uploader_main(void *arg)
{
    struct uploader *u = arg;
    int fd = dial(&u->target);
    if (fd < 0)
        return NULL;
    if (write(fd, u->data, u->part1) != (ssize_t)u->part1)
        goto out;
    if (u->part2 > 0) {
        if (!wait_flag(&u->f->resumed))
            goto out;
        if (write(fd, u->data + u->part1, u->part2) != (ssize_t)u->part2)
            goto out;
    }
    for (int i = 0; i < IO_TIMEOUT * 1000; i++) {
        struct stat st;
        if (fstat(u->file_fd, &st) == 0 && (size_t)st.st_size == u->file_size) {
            u->ok = true;
            break;
        }
        sleep_ms(1);
    }
out:
    close(fd);
    return NULL;
}

static void check_recv_want_write_and_pending(bool evented)
{
    union sockaddr_any pa;
    int pasv = listen_local(&pa);
    unsigned char *data = pattern(UP_PART1 + UP_PART2);
    int file = temp_file(NULL, 0);
    struct fake *f = new_fake();
    f->bite = 7;
    f->want_write_once = true;
    next_data_fake = f;
    struct uploader u = {.target = pa,
                         .data = data,
                         .part1 = UP_PART1,
                         .part2 = UP_PART2,
                         .file_size = UP_PART1 + UP_PART2,
                         .file_fd = file,
                         .f = f};
    ck_assert_int_eq(pthread_create(&u.thread, NULL, uploader_main, &u), 0);
    struct transfer t = passive_job(pasv, XFER_RECV_FILE, file, 0);
    uint64_t bytes = 0;
    ck_assert_int_eq(run_job(evented, &t, &bytes), XFER_OK);
    pthread_join(u.thread, NULL);
    next_data_fake = NULL;
    ck_assert(u.ok);
    ck_assert_int_eq(f->read_want, 2);
    ck_assert_int_gt(f->held_reads, UP_PART2 / 7 / 2);
    ck_assert_uint_eq(bytes, UP_PART1 + UP_PART2);
    unsigned char *back = malloc(UP_PART1 + UP_PART2);
    ck_assert_int_eq(pread(file, back, UP_PART1 + UP_PART2, 0), UP_PART1 + UP_PART2);
    ck_assert_int_eq(memcmp(back, data, UP_PART1 + UP_PART2), 0);
    /* The complete transfer's orderly end, then stream_close's try. */
    ck_assert_int_eq(f->shutdown_calls, 2);
    ck_assert_int_eq(f->release_calls, 1);
    free(back);
    free(f);
    free(data);
    close(file);
    close(pasv);
}

START_TEST(blocking_recv_honours_want_write_and_pending)
{
    check_recv_want_write_and_pending(false);
}
END_TEST

START_TEST(evented_recv_honours_want_write_and_pending)
{
    check_recv_want_write_and_pending(true);
}
END_TEST

/* One byte on the socket becomes more held bytes than one wake-up of the
 * evented engine moves: it must come back for them without the socket
 * ever becoming readable again. */
static void check_recv_held_beyond_budget(bool evented)
{
    union sockaddr_any pa;
    int pasv = listen_local(&pa);
    unsigned char *data = pattern(UP_EXPANDED);
    int file = temp_file(NULL, 0);
    struct fake *f = new_fake();
    f->bite = 4096;
    f->expand = data;
    f->expand_len = UP_EXPANDED;
    next_data_fake = f;
    struct uploader u = {.target = pa,
                         .data = (const unsigned char *)"T",
                         .part1 = 1,
                         .file_size = UP_EXPANDED,
                         .file_fd = file,
                         .f = f};
    ck_assert_int_eq(pthread_create(&u.thread, NULL, uploader_main, &u), 0);
    struct transfer t = passive_job(pasv, XFER_RECV_FILE, file, 0);
    uint64_t bytes = 0;
    ck_assert_int_eq(run_job(evented, &t, &bytes), XFER_OK);
    pthread_join(u.thread, NULL);
    next_data_fake = NULL;
    ck_assert(u.ok);
    ck_assert_uint_eq(bytes, UP_EXPANDED);
    unsigned char *back = malloc(UP_EXPANDED);
    ck_assert_int_eq(pread(file, back, UP_EXPANDED, 0), UP_EXPANDED);
    ck_assert_int_eq(memcmp(back, data, UP_EXPANDED), 0);
    free(back);
    free(f);
    free(data);
    close(file);
    close(pasv);
}

START_TEST(blocking_recv_held_beyond_budget)
{
    check_recv_held_beyond_budget(false);
}
END_TEST

START_TEST(evented_recv_held_beyond_budget)
{
    check_recv_held_beyond_budget(true);
}
END_TEST

#define DOWN_SIZE (300 * 1000 + 17)

struct downloader {
    union sockaddr_any target;
    struct fake *f;
    unsigned char *got;
    size_t len;
    pthread_t thread;
};

/* Reads to EOF; sends the one byte the fake's WANT_READ waits for once it
 * asked. */
static void *downloader_main(void *arg)
{
    struct downloader *d = arg;
    int fd = dial(&d->target);
    if (fd < 0)
        return NULL;
    bool sent = false;
    int64_t until = clock_ms() + IO_TIMEOUT * 1000;
    while (clock_ms() < until) {
        if (!sent && atomic_load(&d->f->asked_read)) {
            if (write(fd, "R", 1) != 1)
                break;
            sent = true;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5) <= 0)
            continue;
        ssize_t n = read(fd, d->got + d->len, DOWN_SIZE + 1 - d->len);
        if (n <= 0)
            break;
        d->len += (size_t)n;
    }
    close(fd);
    return NULL;
}

/* Binary RETR over a stream without sendfile: the engine falls back to
 * pread + write, and a write that says WANT_READ waits for POLLIN. */
static void check_send_want_read_and_no_sendfile(bool evented)
{
    union sockaddr_any pa;
    int pasv = listen_local(&pa);
    unsigned char *data = pattern(DOWN_SIZE);
    int file = temp_file(data, DOWN_SIZE);
    struct fake *f = new_fake();
    f->wbite = 4096;
    f->want_read_after = 100000;
    next_data_fake = f;
    struct downloader d = {.target = pa, .f = f, .got = malloc(DOWN_SIZE + 1)};
    ck_assert_int_eq(pthread_create(&d.thread, NULL, downloader_main, &d), 0);
    struct transfer t = passive_job(pasv, XFER_SEND_FILE, file, DOWN_SIZE);
    uint64_t bytes = 0;
    ck_assert_int_eq(run_job(evented, &t, &bytes), XFER_OK);
    pthread_join(d.thread, NULL);
    next_data_fake = NULL;
    ck_assert_int_eq(f->sendfile_calls, 1);
    ck_assert_int_eq(f->write_want, 2);
    ck_assert_int_eq(f->violations, 0);
    ck_assert_uint_eq(bytes, DOWN_SIZE);
    ck_assert_uint_eq(d.len, DOWN_SIZE);
    ck_assert_int_eq(memcmp(d.got, data, DOWN_SIZE), 0);
    ck_assert_int_eq(f->release_calls, 1);
    free(d.got);
    free(f);
    free(data);
    close(file);
    close(pasv);
}

START_TEST(blocking_send_honours_want_read_and_no_sendfile)
{
    check_send_want_read_and_no_sendfile(false);
}
END_TEST

START_TEST(evented_send_honours_want_read_and_no_sendfile)
{
    check_send_want_read_and_no_sendfile(true);
}
END_TEST

static enum ctl_action abort_on_control(struct xfer_watch *w)
{
    struct fake *f = w->ctrl->ctx;
    f->ctrl_pending = 0; /* consumed: "ABOR" */
    return CTL_ABORT;
}

/* The control stream holds a command its socket no longer shows (read
 * ahead): the engine calls on_control without waiting for the socket. */
START_TEST(blocking_control_pending_without_readable_fd)
{
    union sockaddr_any pa;
    int pasv = listen_local(&pa);
    int ctrl[2];
    unix_pair(ctrl);
    struct fake *f = new_fake();
    f->ctrl_pending = 6;
    struct stream cs;
    fake_stream(&cs, ctrl[0], f);
    struct xfer_watch w = {.ctrl = &cs, .stop_fd = -1, .on_control = abort_on_control};
    struct transfer t = passive_job(pasv, XFER_SEND_FILE, -1, 0);
    t.data_timeout = 10;
    uint64_t bytes = 0;
    int64_t t0 = clock_ms();
    ck_assert_int_eq(xfer_run_blocking(&t, &w, &bytes), XFER_ABORTED);
    ck_assert_int_lt(clock_ms() - t0, 2000);
    ck_assert_uint_eq(f->ctrl_pending, 0);
    ck_assert_int_eq(f->release_calls, 0); /* the engine leaves ctrl alone */
    ck_assert_int_ne(fcntl(ctrl[0], F_GETFD), -1);
    close(ctrl[0]);
    close(ctrl[1]);
    free(f);
    close(pasv);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, TEST_SECS);
    return tc;
}

Suite *unit_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase("plain");
    tcase_add_test(tc, plain_socketpair_read_write_eof);
    tcase_add_test(tc, plain_tcp_read_write_eof);
    tcase_add_test(tc, plain_write_again_when_full);
    tcase_add_test(tc, plain_write_closed_peer_epipe);
    tcase_add_test(tc, plain_sendfile_regular_file);
    tcase_add_test(tc, plain_sendfile_unsupported_file);
    suite_add_tcase(s, tc);

    tc = tcase("shared");
    tcase_add_loop_test(tc, poll_events_table, 0, sizeof poll_cases / sizeof poll_cases[0]);
    tcase_add_test(tc, write_all_short_writes);
    tcase_add_test(tc, write_all_times_out);
    tcase_add_test(tc, write_all_waits_for_want_read);
    tcase_add_test(tc, close_twice);
    tcase_add_test(tc, detach_keeps_fd);
    suite_add_tcase(s, tc);

    tc = tcase("engine");
    tcase_add_test(tc, blocking_recv_honours_want_write_and_pending);
    tcase_add_test(tc, blocking_recv_held_beyond_budget);
    tcase_add_test(tc, blocking_send_honours_want_read_and_no_sendfile);
    tcase_add_test(tc, blocking_control_pending_without_readable_fd);
    tcase_add_test(tc, evented_recv_honours_want_write_and_pending);
    tcase_add_test(tc, evented_recv_held_beyond_budget);
    tcase_add_test(tc, evented_send_honours_want_read_and_no_sendfile);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The evented connection state machine (arch/evented/evconn.c) on a fresh
 * libev loop and loopback control connections: the test thread hands the
 * server end to evconn_open() and drives the loop in small steps, reading
 * its non-blocking client end between them. Commands, pipelining, an
 * over-long line, disconnects, admission, the graceful and the immediate
 * stop, the idle timeout and a passive RETR on the evented engine. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/common/admission.h"
#include "arch/evented/evconn.h"
#include "arch/evented/workpool.h"
#include "ftpd/clock.h"
#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/sockaddr.h"
#include "unit.h"

#define STEP_MS  3000 /* the longest wait for one reply or one close */
#define GUARD_S  5.   /* a full ev_run must end within this */
#define FILE_LEN 3000
#define NCLIENTS 4

static char tmpdir[64];
static unsigned char file_data[FILE_LEN];

/* ---- the served tree: once per test case, in the parent process ---- */

static void tree_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ftpd-evc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    for (size_t i = 0; i < FILE_LEN; i++)
        file_data[i] = (unsigned char)(i * 13 + i / 241);
    char path[128];
    snprintf(path, sizeof path, "%s/small.bin", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, file_data, FILE_LEN), FILE_LEN);
    close(fd);
}

static void tree_teardown(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/small.bin", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

/* ---- the loop, the server, and the clients ---- */

struct client {
    int fd; /* non-blocking; -1 when closed */
    char buf[16384];
    size_t len;
    bool eof;
};

static struct {
    struct ftpd_config cfg;
    struct ftpd_server srv;
    struct evserver *es;
    int listen_fd;
    int data_fd;    /* a data connection, closed by teardown if a test fails */
    ev_timer tick;  /* bounds every EVRUN_ONCE */
    ev_timer guard; /* bounds every full ev_run */
    bool guard_fired;
    ev_timer later; /* runs a test's action from inside the loop */
    void (*later_fn)(void);
    struct client cl[NCLIENTS];
} F;

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    F.guard_fired = true;
    ev_break(loop, EVBREAK_ALL);
}

static void on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    F.later_fn();
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    memset(&F, 0, sizeof F);
    F.listen_fd = F.data_fd = -1;
    for (int i = 0; i < NCLIENTS; i++)
        F.cl[i].fd = -1;
    config_defaults(&F.cfg);
    snprintf(F.cfg.root, sizeof F.cfg.root, "%s", tmpdir);
    F.srv.cfg = &F.cfg;
    F.srv.root_fd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(F.srv.root_fd, 0);
    F.srv.nlisteners = 0;

    F.es = calloc(1, sizeof *F.es);
    ck_assert_ptr_nonnull(F.es);
    F.es->srv = &F.srv;
    F.es->adm = admission_new(F.cfg.max_clients, F.cfg.max_per_ip);
    ck_assert_ptr_nonnull(F.es->adm);
    F.es->loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(F.es->loop);
    F.es->pid = getpid();
    F.es->listing_cache = NULL;
    F.es->pool = workpool_new(F.es->loop, 2, 8);
    ck_assert_ptr_nonnull(F.es->pool);

    ev_timer_init(&F.tick, on_tick, 0.01, 0.01);
    ev_timer_start(F.es->loop, &F.tick);
    ev_timer_init(&F.guard, on_guard, GUARD_S, 0.);
    ev_timer_init(&F.later, on_later, 0., 0.);

    union sockaddr_any addr;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 0, &addr), 0);
    F.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(F.listen_fd, 0);
    ck_assert_int_eq(bind(F.listen_fd, &addr.sa, sockaddr_len(&addr)), 0);
    ck_assert_int_eq(listen(F.listen_fd, NCLIENTS), 0);
}

static void teardown(void)
{
    if (F.es != NULL) {
        evconn_close_all(F.es);
        workpool_free(F.es->pool);
        ev_timer_stop(F.es->loop, &F.tick);
        ev_timer_stop(F.es->loop, &F.guard);
        ev_timer_stop(F.es->loop, &F.later);
        ev_loop_destroy(F.es->loop);
        admission_free(F.es->adm);
        free(F.es);
        F.es = NULL;
    }
    for (int i = 0; i < NCLIENTS; i++) {
        if (F.cl[i].fd >= 0)
            close(F.cl[i].fd);
        F.cl[i].fd = -1;
    }
    if (F.data_fd >= 0)
        close(F.data_fd);
    F.data_fd = -1;
    if (F.listen_fd >= 0)
        close(F.listen_fd);
    F.listen_fd = -1;
    if (F.srv.root_fd >= 0)
        close(F.srv.root_fd);
    F.srv.root_fd = -1;
}

/* Client i connects; the server end goes to evconn_open. */
static struct client *open_client(int i)
{
    struct client *c = &F.cl[i];
    union sockaddr_any addr;
    socklen_t len = sizeof addr;
    ck_assert_int_eq(getsockname(F.listen_fd, &addr.sa, &len), 0);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    ck_assert_int_eq(connect(c->fd, &addr.sa, sockaddr_len(&addr)), 0);
    ck_assert_int_eq(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
    c->len = 0;
    c->eof = false;
    union sockaddr_any peer;
    len = sizeof peer;
    int sfd = accept4(F.listen_fd, &peer.sa, &len, SOCK_CLOEXEC);
    ck_assert_int_ge(sfd, 0);
    evconn_open(F.es, sfd, &peer);
    return c;
}

static void client_close(struct client *c)
{
    close(c->fd);
    c->fd = -1;
}

/* Take what the socket has, without waiting. */
static void pump(struct client *c)
{
    while (!c->eof && c->len < sizeof c->buf) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            c->eof = true;
        else
            ck_assert_msg(errno == EAGAIN || errno == EINTR, "client recv: %s", strerror(errno));
        return;
    }
}

/* One loop round, at most ~10 ms (the tick). */
static void step(void)
{
    ev_run(F.es->loop, EVRUN_ONCE);
}

static bool take_line(struct client *c, char *line, size_t cap)
{
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl == NULL)
        return false;
    size_t n = (size_t)(nl - c->buf) + 1;
    size_t keep = n >= 2 && nl[-1] == '\r' ? n - 2 : n - 1;
    ck_assert_uint_lt(keep, cap);
    memcpy(line, c->buf, keep);
    line[keep] = '\0';
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return true;
}

static bool is_final(const char *line)
{
    return line[0] >= '1' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
           line[2] <= '9' && line[3] == ' ';
}

/* Run the loop until c has a complete reply; it must have code. Its last
 * line goes to line. */
static void expect_into(struct client *c, int code, char *line, size_t cap)
{
    int64_t end = clock_ms() + STEP_MS;
    for (;;) {
        pump(c);
        while (take_line(c, line, cap)) {
            if (is_final(line)) {
                ck_assert_msg(atoi(line) == code, "expected %d, got \"%s\"", code, line);
                return;
            }
        }
        ck_assert_msg(!c->eof, "EOF while waiting for %d", code);
        ck_assert_msg(clock_ms() < end, "no %d within %d ms", code, STEP_MS);
        step();
    }
}

static void expect(struct client *c, int code)
{
    char line[1024];
    expect_into(c, code, line, sizeof line);
}

/* Run the loop until the server has closed c, with nothing more said. */
static void expect_eof(struct client *c)
{
    int64_t end = clock_ms() + STEP_MS;
    for (;;) {
        pump(c);
        ck_assert_msg(c->len == 0, "unexpected bytes before EOF: %.*s", (int)c->len, c->buf);
        if (c->eof)
            return;
        ck_assert_msg(clock_ms() < end, "no EOF within %d ms", STEP_MS);
        step();
    }
}

/* Run the loop for ms; c receives nothing meanwhile. */
static void expect_silence(struct client *c, int ms)
{
    int64_t end = clock_ms() + ms;
    while (clock_ms() < end) {
        step();
        pump(c);
        ck_assert_msg(c->len == 0 && !c->eof, "unexpected: %.*s%s", (int)c->len, c->buf,
                      c->eof ? " EOF" : "");
    }
}

static void send_str(struct client *c, const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(send(c->fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void login(struct client *c)
{
    expect(c, 220);
    send_str(c, "USER anonymous\r\n");
    expect(c, 331);
    send_str(c, "PASS x\r\n");
    expect(c, 230);
}

/* Run the loop until the connection count is n. */
static void run_until_nconns(int n)
{
    int64_t end = clock_ms() + STEP_MS;
    while (F.es->nconns != n) {
        ck_assert_msg(clock_ms() < end, "nconns %d, want %d", F.es->nconns, n);
        step();
    }
}

/* ---- the session ---- */

START_TEST(commands_then_quit)
{
    struct client *c = open_client(0);
    ck_assert_int_eq(F.es->nconns, 1);
    ck_assert_int_eq(admission_active(F.es->adm), 1);
    /* The greeting is written by evconn_open itself, before any loop round. */
    pump(c);
    char line[1024];
    ck_assert(take_line(c, line, sizeof line));
    ck_assert_str_eq(line, "220 ftpd ready.");
    send_str(c, "USER anonymous\r\n");
    expect(c, 331);
    send_str(c, "PASS x\r\n");
    expect(c, 230);
    send_str(c, "PWD\r\n");
    expect_into(c, 257, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "\"/\""));
    send_str(c, "NOOP\r\n");
    expect(c, 200);
    ck_assert_int_eq(F.es->nconns, 1);
    send_str(c, "QUIT\r\n");
    expect(c, 221);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_ptr_null(F.es->conns);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    ck_assert(!F.es->stopped);
}
END_TEST

START_TEST(pipelined_in_order)
{
    struct client *c = open_client(0);
    expect(c, 220);
    send_str(c, "USER anonymous\r\nPASS x\r\nPWD\r\nSYST\r\nNOOP\r\n");
    expect(c, 331);
    expect(c, 230);
    expect(c, 257);
    expect(c, 215);
    expect(c, 200);
    /* QUIT with a command behind it: the connection closes, the command
     * is not answered. */
    send_str(c, "QUIT\r\nNOOP\r\n");
    expect(c, 221);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
}
END_TEST

/* An idle connection gives its line and reply buffers back (evconn.c);
 * they must come back whole for whatever arrives next: a line split over
 * several reads, pipelined lines, a partial line left pending. */
START_TEST(buffers_come_back_after_idle)
{
    struct client *c = open_client(0);
    login(c); /* idle now: both buffers released */
    for (int round = 0; round < 3; round++) {
        send_str(c, "NO");
        expect_silence(c, 50); /* half a line: held, no reply */
        send_str(c, "OP\r\nSYST\r\nPWD\r\nSY");
        expect(c, 200);
        expect(c, 215);
        expect(c, 257);
        expect_silence(c, 50);
        send_str(c, "ST\r\n");
        expect(c, 215);
    }
    /* A burst bigger than one read, after idling. */
    char burst[64 * 7 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(burst, "NOOP\r\n");
    send_str(c, burst);
    for (int i = 0; i < 64; i++)
        expect(c, 200);
    send_str(c, "QUIT\r\n");
    expect(c, 221);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
}
END_TEST

START_TEST(long_line_survives)
{
    struct client *c = open_client(0);
    login(c);
    static char big[5000 + 3];
    memset(big, 'A', 5000);
    memcpy(big + 5000, "\r\n", 3);
    send_str(c, big);
    expect(c, 500);
    send_str(c, "NOOP\r\n");
    expect(c, 200);
    static char both[5000 + 9];
    memset(both, 'B', 5000);
    memcpy(both + 5000, "\nNOOP\r\n", 8);
    send_str(c, both);
    expect(c, 500);
    expect(c, 200);
    expect_silence(c, 50);
    ck_assert_int_eq(F.es->nconns, 1);
    send_str(c, "QUIT\r\n");
    expect(c, 221);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
}
END_TEST

START_TEST(client_sends_then_closes)
{
    struct client *a = open_client(0);
    struct client *b = open_client(1);
    ck_assert_int_eq(F.es->nconns, 2);
    login(a);
    expect(b, 220);
    send_str(a, "NOOP\r\n");
    client_close(a); /* before reading the reply */
    run_until_nconns(1);
    ck_assert_int_eq(admission_active(F.es->adm), 1);
    /* The other connection is untouched. */
    send_str(b, "PWD\r\n");
    expect(b, 530); /* not logged in: b's own session */
    client_close(b);
    run_until_nconns(0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    ck_assert_ptr_null(F.es->conns);
}
END_TEST

START_TEST(admission_refuses)
{
    admission_free(F.es->adm);
    F.es->adm = admission_new(1, 0);
    ck_assert_ptr_nonnull(F.es->adm);
    struct client *a = open_client(0);
    expect(a, 220);
    struct client *b = open_client(1);
    ck_assert_int_eq(F.es->nconns, 1);
    char line[1024];
    expect_into(b, 421, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "Too many"));
    expect_eof(b);
    ck_assert_int_eq(F.es->nconns, 1);
    ck_assert_int_eq(admission_active(F.es->adm), 1);
    /* The admitted one still serves, and its slot frees a place. */
    send_str(a, "USER anonymous\r\n");
    expect(a, 331);
    send_str(a, "QUIT\r\n");
    expect(a, 221);
    expect_eof(a);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    struct client *c = open_client(2);
    expect(c, 220);
    ck_assert_int_eq(F.es->nconns, 1);
}
END_TEST

/* ---- stops ---- */

static void stop_gracefully(void)
{
    F.es->stopping = true;
    evconn_stop_idle(F.es);
}

/* Run the loop in full (ev_run(loop, 0)) with fn called from inside it;
 * it must end by ev_break before the guard. */
static void run_full_with(void (*fn)(void))
{
    F.later_fn = fn;
    ev_timer_start(F.es->loop, &F.later);
    ev_timer_start(F.es->loop, &F.guard);
    ev_run(F.es->loop, 0);
    ev_timer_stop(F.es->loop, &F.guard);
    ck_assert_msg(!F.guard_fired, "the loop did not break");
}

START_TEST(graceful_stop_idle)
{
    struct client *a = open_client(0);
    struct client *b = open_client(1);
    login(a);
    expect(b, 220); /* b never logs in */
    run_full_with(stop_gracefully);
    ck_assert(F.es->stopped);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    char line[1024];
    expect_into(a, 421, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "shutting down"));
    expect_eof(a);
    expect(b, 421);
    expect_eof(b);
}
END_TEST

/* "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)." -> the address. */
static union sockaddr_any parse_pasv(const char *line)
{
    const char *p = strchr(line, '(');
    ck_assert_ptr_nonnull(p);
    unsigned h1, h2, h3, h4, p1, p2;
    ck_assert_int_eq(sscanf(p, "(%u,%u,%u,%u,%u,%u)", &h1, &h2, &h3, &h4, &p1, &p2), 6);
    char ip[32];
    snprintf(ip, sizeof ip, "%u.%u.%u.%u", h1, h2, h3, h4);
    ck_assert_str_eq(ip, "127.0.0.1");
    union sockaddr_any a;
    ck_assert_int_eq(sockaddr_parse(ip, (int)(p1 * 256 + p2), &a), 0);
    return a;
}

/* PASV on c; returns the data address. */
static union sockaddr_any pasv(struct client *c)
{
    char line[1024];
    send_str(c, "PASV\r\n");
    expect_into(c, 227, line, sizeof line);
    return parse_pasv(line);
}

static int data_connect(const union sockaddr_any *to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, &to->sa, sockaddr_len(to)), 0);
    F.data_fd = fd;
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static void data_close(void)
{
    close(F.data_fd);
    F.data_fd = -1;
}

/* Run the loop until the data connection ends; the bytes must be the file. */
static void read_data(int dfd)
{
    static unsigned char got[FILE_LEN + 16];
    size_t len = 0;
    int64_t end = clock_ms() + STEP_MS;
    for (;;) {
        ssize_t n = recv(dfd, got + len, sizeof got - len, MSG_DONTWAIT);
        if (n > 0) {
            len += (size_t)n;
            ck_assert_uint_le(len, FILE_LEN);
            continue;
        }
        if (n == 0)
            break;
        ck_assert_msg(errno == EAGAIN || errno == EINTR, "data recv: %s", strerror(errno));
        ck_assert_msg(clock_ms() < end, "data not done within %d ms (%zu bytes)", STEP_MS, len);
        step();
    }
    ck_assert_uint_eq(len, FILE_LEN);
    ck_assert(memcmp(got, file_data, FILE_LEN) == 0);
}

START_TEST(passive_retr)
{
    struct client *c = open_client(0);
    login(c);
    send_str(c, "TYPE I\r\n");
    expect(c, 200);
    for (int round = 0; round < 2; round++) {
        /* Round 0: connect before RETR (the usual order); round 1: after. */
        union sockaddr_any data = pasv(c);
        int dfd = -1;
        if (round == 0)
            dfd = data_connect(&data);
        send_str(c, "RETR small.bin\r\n");
        if (round == 1) {
            expect(c, 150);
            dfd = data_connect(&data);
        }
        read_data(dfd);
        data_close();
        if (round == 0)
            expect(c, 150);
        expect(c, 226);
    }
    send_str(c, "NOOP\r\n");
    expect(c, 200);
    send_str(c, "QUIT\r\n");
    expect(c, 221);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
}
END_TEST

START_TEST(graceful_stop_waits_for_transfer)
{
    struct client *a = open_client(0);
    struct client *b = open_client(1);
    login(a);
    login(b);
    send_str(a, "TYPE I\r\n");
    expect(a, 200);
    union sockaddr_any data = pasv(a);
    send_str(a, "RETR small.bin\r\n");
    expect(a, 150); /* the transfer waits for its data connection */
    ck_assert_int_eq(F.es->nconns, 2);

    stop_gracefully(); /* b is idle: 421 and closed; a is in a transfer */
    ck_assert(F.es->stopping);
    ck_assert_int_eq(F.es->nconns, 1);
    ck_assert(!F.es->stopped);
    expect(b, 421);
    expect_eof(b);

    /* a's transfer finishes, then a gets its 421 too, and the loop ends. */
    int dfd = data_connect(&data);
    F.guard_fired = false;
    ev_timer_start(F.es->loop, &F.guard);
    ev_run(F.es->loop, 0);
    ev_timer_stop(F.es->loop, &F.guard);
    ck_assert_msg(!F.guard_fired, "the loop did not break");
    ck_assert(F.es->stopped);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    read_data(dfd);
    data_close();
    expect(a, 226);
    expect(a, 421);
    expect_eof(a);
}
END_TEST

START_TEST(close_all_mid_transfer)
{
    struct client *a = open_client(0);
    login(a);
    send_str(a, "TYPE I\r\n");
    expect(a, 200);
    pasv(a);
    send_str(a, "RETR small.bin\r\n");
    expect(a, 150); /* nobody connects: the transfer is running */
    evconn_close_all(F.es);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_ptr_null(F.es->conns);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    pump(a);
    char line[1024];
    expect_into(a, 426, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "shutting down"));
    expect(a, 421);
    expect_eof(a);
}
END_TEST

/* evconn.h: "everyone gets the 421", as the blocking loop's immediate
 * stop gives one to an idle session. */
START_TEST(close_all_idle)
{
    struct client *a = open_client(0);
    struct client *b = open_client(1);
    login(a);
    expect(b, 220);
    ck_assert_int_eq(F.es->nconns, 2);
    evconn_close_all(F.es);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_ptr_null(F.es->conns);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
    expect(a, 421);
    expect_eof(a);
    expect(b, 421);
    expect_eof(b);
}
END_TEST

/* ---- the connection ends on its own ---- */

START_TEST(idle_timeout)
{
    F.cfg.idle_timeout = 1;
    struct client *c = open_client(0);
    login(c);
    int64_t t0 = clock_ms();
    char line[1024];
    expect_into(c, 421, line, sizeof line);
    int64_t waited = clock_ms() - t0;
    ck_assert_ptr_nonnull(strstr(line, "Timeout"));
    ck_assert_int_ge(waited, 800);
    ck_assert_int_le(waited, 2000);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
    ck_assert_int_eq(admission_active(F.es->adm), 0);
}
END_TEST

START_TEST(idle_timeout_restarts_on_activity)
{
    F.cfg.idle_timeout = 1;
    struct client *c = open_client(0);
    login(c);
    /* Commands every 0.5 s for 2 s keep the connection. */
    for (int i = 0; i < 4; i++) {
        expect_silence(c, 500);
        send_str(c, "NOOP\r\n");
        expect(c, 200);
    }
    expect(c, 421);
    expect_eof(c);
    ck_assert_int_eq(F.es->nconns, 0);
}
END_TEST

/* ---- password checks (deferred work) and the failed login's delay ---- */

/* USER bob has no account: its PASS is checked against the dummy yescrypt
 * hash on the pool, then waits login_fail_delay for its 530. The loop
 * serves another session meanwhile, and the command pipelined behind the
 * PASS waits for the 530. */
START_TEST(failed_login_off_loop)
{
    F.cfg.login_fail_delay = 1;
    struct client *a = open_client(0);
    struct client *b = open_client(1);
    expect(a, 220);
    login(b);
    int64_t t0 = clock_ms();
    send_str(a, "USER bob\r\nPASS nope\r\nNOOP\r\n");
    expect(a, 331);
    for (int i = 0; i < 5; i++) {
        int64_t t = clock_ms();
        send_str(b, "NOOP\r\n");
        expect(b, 200);
        ck_assert_int_lt(clock_ms() - t, 200);
    }
    char line[1024];
    expect_into(a, 530, line, sizeof line);
    ck_assert_str_eq(line, "530 Login incorrect.");
    ck_assert_int_ge(clock_ms() - t0, 950);
    expect(a, 200); /* the pipelined NOOP, after the 530 */
}
END_TEST

/* max_login_fails (3) failures close the connection after the third 530. */
START_TEST(failed_logins_close_evented)
{
    F.cfg.login_fail_delay = 0;
    struct client *a = open_client(0);
    expect(a, 220);
    for (int i = 0; i < 3; i++) {
        send_str(a, "USER bob\r\nPASS nope\r\n");
        expect(a, 331);
        expect(a, 530);
    }
    expect_eof(a);
}
END_TEST

/* A graceful stop cuts a failed login's delay short: 530, then 421. */
START_TEST(graceful_stop_during_delay)
{
    F.cfg.login_fail_delay = 30;
    struct client *a = open_client(0);
    expect(a, 220);
    send_str(a, "USER bob\r\nPASS nope\r\n");
    expect(a, 331);
    int64_t end = clock_ms() + STEP_MS;
    while (workpool_pending(F.es->pool) > 0 || F.es->conns == NULL) {
        ck_assert(clock_ms() < end);
        step();
    }
    expect_silence(a, 100); /* in its delay */
    run_full_with(stop_gracefully);
    ck_assert_int_eq(F.es->nconns, 0);
    expect(a, 530);
    expect(a, 421);
    expect_eof(a);
}
END_TEST

/* Closing everything while checks run: their results are dropped. */
static void close_all_now(void)
{
    evconn_close_all(F.es);
    ev_break(F.es->loop, EVBREAK_ALL);
}

START_TEST(close_all_during_check)
{
    struct client *c[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        c[i] = open_client(i);
        expect(c[i], 220);
        send_str(c[i], "USER bob\r\nPASS nope\r\n");
        expect(c[i], 331);
    }
    run_full_with(close_all_now);
    ck_assert_int_eq(F.es->nconns, 0);
    for (int i = 0; i < NCLIENTS; i++) {
        expect(c[i], 421);
        expect_eof(c[i]);
    }
}
END_TEST

/* A full queue: the login gets the core's 421 and the connection closes. */
START_TEST(full_queue_refuses)
{
    workpool_free(F.es->pool);
    F.es->pool = workpool_new(F.es->loop, 1, 0); /* no job may wait */
    ck_assert_ptr_nonnull(F.es->pool);
    struct client *a = open_client(0);
    expect(a, 220);
    send_str(a, "USER bob\r\nPASS nope\r\n");
    expect(a, 331);
    char line[1024];
    expect_into(a, 421, line, sizeof line);
    ck_assert_str_eq(line, "421 Too many logins in progress, please try again later.");
    expect_eof(a);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("evconn");
    TCase *tc = tcase_create("evconn");
    tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, commands_then_quit);
    tcase_add_test(tc, pipelined_in_order);
    tcase_add_test(tc, buffers_come_back_after_idle);
    tcase_add_test(tc, long_line_survives);
    tcase_add_test(tc, client_sends_then_closes);
    tcase_add_test(tc, admission_refuses);
    tcase_add_test(tc, graceful_stop_idle);
    tcase_add_test(tc, passive_retr);
    tcase_add_test(tc, graceful_stop_waits_for_transfer);
    tcase_add_test(tc, close_all_mid_transfer);
    tcase_add_test(tc, close_all_idle);
    tcase_add_test(tc, idle_timeout);
    tcase_add_test(tc, idle_timeout_restarts_on_activity);
    tcase_add_test(tc, failed_login_off_loop);
    tcase_add_test(tc, failed_logins_close_evented);
    tcase_add_test(tc, graceful_stop_during_delay);
    tcase_add_test(tc, close_all_during_check);
    tcase_add_test(tc, full_queue_refuses);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

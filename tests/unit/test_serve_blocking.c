/* The blocking connection loop (arch/blocking/serve.c) and its stop
 * (arch/blocking/stop.c) on a real loopback control connection:
 * serve_blocking() runs on a thread, the test thread plays the client with
 * blocking reads that time out. Commands, pipelining, an over-long line, a
 * passive RETR, a stop by broadcast and by signal, the idle timeout and an
 * abrupt disconnect; and stop_notice's counting on its own. */
#include <errno.h>
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

#include "arch/blocking/blocking.h"
#include "arch/common/admission.h"
#include "arch/common/events.h"
#include "arch/common/prologue.h"
#include "ftpd/clock.h"
#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/sockaddr.h"
#include "unit.h"

#define IO_TIMEOUT_MS 5000 /* every client read and write */
#define JOIN_MS       5000 /* serve_blocking must return within this */
#define FILE_LEN      3000
#define GRACE_S       7

static char tmpdir[64];
static unsigned char file_data[FILE_LEN];

/* ---- the served tree: once per test case, in the parent process ---- */

static void tree_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ftpd-sb-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    for (size_t i = 0; i < FILE_LEN; i++)
        file_data[i] = (unsigned char)(i * 7 + i / 251);
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

/* ---- one server and one client per test ---- */

enum stop_kind { STOP_BROADCAST, STOP_EVENTS };

static struct {
    struct ftpd_config cfg;
    struct ftpd_server srv;
    struct admission *adm;
    struct stop_broadcast bc;
    struct ctl_events ev;
    struct stop_state stop;
    struct arrival arrival;
    int server_fd; /* the control fd serve_blocking owns */
    int client_fd;
    int data_fd;
    pthread_t thread;
    bool started;
    atomic_bool returned;
    char rbuf[16384];
    size_t rlen;
    sigset_t old_mask;
    bool masked;
} F;

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    memset(&F, 0, sizeof F);
    F.client_fd = F.server_fd = F.data_fd = -1;
    F.bc.rd = F.bc.wr = -1;
    F.ev.fd = -1;
    config_defaults(&F.cfg);
    snprintf(F.cfg.root, sizeof F.cfg.root, "%s", tmpdir);
    F.cfg.shutdown_grace = GRACE_S;
    F.srv.cfg = &F.cfg;
    F.srv.root_fd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(F.srv.root_fd, 0);
    F.srv.nlisteners = 0;
    F.adm = admission_new(F.cfg.max_clients, F.cfg.max_per_ip);
    ck_assert_ptr_nonnull(F.adm);
}

static void teardown(void)
{
    if (F.client_fd >= 0)
        close(F.client_fd);
    F.client_fd = -1;
    if (F.data_fd >= 0)
        close(F.data_fd);
    F.data_fd = -1;
    if (F.started) {
        /* A failed test may leave the server waiting: end it. */
        stop_broadcast_fire(&F.bc);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        pthread_timedjoin_np(F.thread, NULL, &ts);
        F.started = false;
    }
    stop_broadcast_close(&F.bc);
    if (F.masked) {
        /* Drop a signal left pending before unblocking it. */
        while (F.ev.fd >= 0 && ctl_events_next(&F.ev) != CTL_NONE)
            ;
        pthread_sigmask(SIG_SETMASK, &F.old_mask, NULL);
        F.masked = false;
    }
    ctl_events_close(&F.ev);
    admission_free(F.adm);
    F.adm = NULL;
    if (F.srv.root_fd >= 0)
        close(F.srv.root_fd);
    F.srv.root_fd = -1;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000, .tv_usec = (IO_TIMEOUT_MS % 1000) * 1000};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
}

static int connect_to(const union sockaddr_any *to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    set_timeouts(fd);
    ck_assert_int_eq(connect(fd, &to->sa, sockaddr_len(to)), 0);
    return fd;
}

static void *serve_main(void *arg)
{
    serve_blocking(&F.srv, F.adm, &F.arrival, &F.stop);
    atomic_store(&F.returned, true);
    return NULL;
}

/* A loopback control connection, admitted, served on a thread. */
static void start(enum stop_kind kind)
{
    union sockaddr_any addr;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 0, &addr), 0);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, &addr.sa, sockaddr_len(&addr)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    socklen_t len = sizeof addr;
    ck_assert_int_eq(getsockname(lfd, &addr.sa, &len), 0);
    F.client_fd = connect_to(&addr);
    union sockaddr_any peer;
    len = sizeof peer;
    F.server_fd = accept4(lfd, &peer.sa, &len, SOCK_CLOEXEC);
    ck_assert_int_ge(F.server_fd, 0);
    close(lfd);

    if (kind == STOP_EVENTS) {
        ck_assert_int_eq(ctl_events_open(&F.ev, 0), 0);
        stop_init_events(&F.stop, &F.ev, GRACE_S);
    } else {
        ck_assert_int_eq(stop_broadcast_open(&F.bc), 0);
        stop_init_broadcast(&F.stop, F.bc.rd, GRACE_S);
    }
    arrival_init(&F.arrival, F.server_fd, &peer);
    ck_assert(prologue_admit(&F.arrival, &F.cfg, F.adm, getpid(), false));
    ck_assert_int_ge(F.arrival.slot, 0);
    ck_assert_int_eq(admission_active(F.adm), 1);
    ck_assert_int_eq(pthread_create(&F.thread, NULL, serve_main, NULL), 0);
    F.started = true;
}

/* serve_blocking returned within JOIN_MS; its slot and fd are released. */
static void join_server(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += JOIN_MS / 1000;
    ck_assert_msg(pthread_timedjoin_np(F.thread, NULL, &ts) == 0,
                  "serve_blocking did not return within %d ms", JOIN_MS);
    F.started = false;
    ck_assert(atomic_load(&F.returned));
    ck_assert_int_eq(admission_active(F.adm), 0);
    errno = 0;
    ck_assert_int_eq(fcntl(F.server_fd, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
}

static void send_str(const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(send(F.client_fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* One reply line (CRLF stripped) into line; fails on timeout or EOF. */
static void read_line(char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(F.rbuf, '\n', F.rlen);
        if (nl != NULL) {
            size_t n = (size_t)(nl - F.rbuf) + 1;
            size_t keep = n >= 2 && nl[-1] == '\r' ? n - 2 : n - 1;
            ck_assert_uint_lt(keep, cap);
            memcpy(line, F.rbuf, keep);
            line[keep] = '\0';
            memmove(F.rbuf, F.rbuf + n, F.rlen - n);
            F.rlen -= n;
            return;
        }
        ck_assert_uint_lt(F.rlen, sizeof F.rbuf);
        ssize_t r = recv(F.client_fd, F.rbuf + F.rlen, sizeof F.rbuf - F.rlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r > 0, "no reply line: %s", r == 0 ? "EOF" : strerror(errno));
        F.rlen += (size_t)r;
    }
}

static bool is_final(const char *line)
{
    return line[0] >= '1' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
           line[2] <= '9' && line[3] == ' ';
}

/* The next complete reply must have code; its last line goes to line. */
static void expect_into(int code, char *line, size_t cap)
{
    do
        read_line(line, cap);
    while (!is_final(line));
    ck_assert_msg(atoi(line) == code, "expected %d, got \"%s\"", code, line);
}

static void expect(int code)
{
    char line[1024];
    expect_into(code, line, sizeof line);
}

/* The server closed the connection, with nothing more said. */
static void expect_eof(void)
{
    ck_assert_msg(F.rlen == 0, "unexpected bytes before EOF: %.*s", (int)F.rlen, F.rbuf);
    char c;
    ssize_t r;
    do
        r = recv(F.client_fd, &c, 1, 0);
    while (r < 0 && errno == EINTR);
    ck_assert_msg(r == 0 || (r < 0 && errno == ECONNRESET), "expected EOF, got %zd (%s)", r,
                  r < 0 ? strerror(errno) : "data");
}

static void login(void)
{
    expect(220);
    send_str("USER anonymous\r\n");
    expect(331);
    send_str("PASS x\r\n");
    expect(230);
}

/* ---- the session ---- */

START_TEST(commands_then_quit)
{
    start(STOP_BROADCAST);
    char line[1024];
    expect_into(220, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "ftpd ready."));
    send_str("USER anonymous\r\n");
    expect(331);
    send_str("PASS x\r\n");
    expect(230);
    send_str("PWD\r\n");
    expect_into(257, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "\"/\""));
    send_str("NOOP\r\n");
    expect(200);
    ck_assert(!atomic_load(&F.returned));
    send_str("QUIT\r\n");
    expect(221);
    expect_eof();
    join_server();
}
END_TEST

START_TEST(pipelined_in_order)
{
    start(STOP_BROADCAST);
    expect(220);
    /* Login and two commands in one segment: every reply, in order. */
    send_str("USER anonymous\r\nPASS x\r\nPWD\r\nSYST\r\nNOOP\r\n");
    expect(331);
    expect(230);
    expect(257);
    expect(215);
    expect(200);
    send_str("QUIT\r\n");
    expect(221);
    expect_eof();
    join_server();
}
END_TEST

START_TEST(long_line_survives)
{
    start(STOP_BROADCAST);
    login();
    static char big[5000 + 3];
    memset(big, 'A', 5000);
    memcpy(big + 5000, "\r\n", 3);
    send_str(big);
    expect(500);
    /* Exactly one 500, then the connection still serves. */
    send_str("NOOP\r\n");
    expect(200);
    /* The over-long line and a command behind it in one write. */
    char both[5000 + 9];
    memset(both, 'B', 5000);
    memcpy(both + 5000, "\nNOOP\r\n", 8);
    send_str(both);
    expect(500);
    expect(200);
    send_str("QUIT\r\n");
    expect(221);
    expect_eof();
    join_server();
}
END_TEST

/* Read the data connection to its end; it must carry the file. */
static void read_file_from(int dfd)
{
    static unsigned char got[FILE_LEN + 16];
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(dfd, got + len, sizeof got - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r >= 0, "data read: %s", strerror(errno));
        if (r == 0)
            break;
        len += (size_t)r;
        ck_assert_uint_le(len, FILE_LEN);
    }
    ck_assert_uint_eq(len, FILE_LEN);
    ck_assert(memcmp(got, file_data, FILE_LEN) == 0);
}

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

START_TEST(passive_retr)
{
    start(STOP_BROADCAST);
    login();
    send_str("TYPE I\r\n");
    expect(200);
    for (int round = 0; round < 2; round++) {
        char line[1024];
        send_str("PASV\r\n");
        expect_into(227, line, sizeof line);
        union sockaddr_any data = parse_pasv(line);
        F.data_fd = connect_to(&data);
        send_str("RETR small.bin\r\n");
        expect(150);
        read_file_from(F.data_fd);
        close(F.data_fd);
        F.data_fd = -1;
        expect(226);
    }
    /* The loop reads commands again after the transfer. */
    send_str("NOOP\r\n");
    expect(200);
    send_str("QUIT\r\n");
    expect(221);
    expect_eof();
    join_server();
}
END_TEST

/* ---- stops ---- */

START_TEST(stop_by_broadcast_idle)
{
    start(STOP_BROADCAST);
    login();
    send_str("NOOP\r\n");
    expect(200);
    ck_assert(!atomic_load(&F.returned));
    stop_broadcast_fire(&F.bc);
    char line[1024];
    expect_into(421, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "shutting down"));
    expect_eof();
    join_server();
    ck_assert(F.stop.stopping);
    ck_assert(!F.stop.hard);
}
END_TEST

static void block_sigterm(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, &F.old_mask), 0);
    F.masked = true;
}

START_TEST(stop_by_events_idle)
{
    block_sigterm(); /* before the server thread exists: it inherits the mask */
    start(STOP_EVENTS);
    login();
    send_str("NOOP\r\n");
    expect(200);
    ck_assert(!atomic_load(&F.returned));
    int64_t t0 = clock_ms();
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    char line[1024];
    expect_into(421, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "shutting down"));
    expect_eof();
    join_server();
    ck_assert(F.stop.stopping);
    ck_assert(!F.stop.hard);
    ck_assert_int_ge(F.stop.deadline, t0 + GRACE_S * 1000);
    ck_assert_int_le(F.stop.deadline, clock_ms() + GRACE_S * 1000);
}
END_TEST

static void wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, IO_TIMEOUT_MS) == 1, "fd %d never became readable", fd);
}

START_TEST(stop_notice_counts)
{
    block_sigterm();
    ck_assert_int_eq(ctl_events_open(&F.ev, 0), 0);
    struct stop_state st;
    stop_init_events(&st, &F.ev, GRACE_S);
    ck_assert_int_eq(st.fd, F.ev.fd);
    ck_assert(!st.stopping && !st.hard);
    ck_assert_int_eq(st.deadline, 0);

    /* A reload is reported, not acted on. */
    ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
    wait_readable(st.fd);
    stop_notice(&st);
    ck_assert(!st.stopping);
    ck_assert(!st.hard);
    ck_assert_int_eq(st.deadline, 0);
    ck_assert_int_eq(st.fd, F.ev.fd);

    /* The first stop is graceful, with the grace from now. */
    int64_t t0 = clock_ms();
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    wait_readable(st.fd);
    stop_notice(&st);
    int64_t t1 = clock_ms();
    ck_assert(st.stopping);
    ck_assert(!st.hard);
    ck_assert_int_ge(st.deadline, t0 + GRACE_S * 1000);
    ck_assert_int_le(st.deadline, t1 + GRACE_S * 1000);
    int64_t deadline = st.deadline;

    /* The second is immediate; the deadline does not move. */
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    wait_readable(st.fd);
    stop_notice(&st);
    ck_assert(st.stopping);
    ck_assert(st.hard);
    ck_assert_int_eq(st.deadline, deadline);
    ck_assert_int_eq(ctl_events_next(&F.ev), CTL_NONE);
}
END_TEST

START_TEST(stop_notice_broadcast)
{
    ck_assert_int_eq(stop_broadcast_open(&F.bc), 0);
    struct stop_state st;
    stop_init_broadcast(&st, F.bc.rd, GRACE_S);
    ck_assert(!st.stopping && !st.hard);
    stop_broadcast_fire(&F.bc);
    wait_readable(F.bc.rd);
    int64_t t0 = clock_ms();
    stop_notice(&st);
    ck_assert(st.stopping);
    ck_assert(!st.hard);
    ck_assert_int_eq(st.fd, -1); /* noticed once: no more polling it */
    ck_assert_int_ge(st.deadline, t0 + GRACE_S * 1000);
    ck_assert_int_le(st.deadline, clock_ms() + GRACE_S * 1000);
}
END_TEST

/* RETR whose data connection is not made yet: the loop is in the engine. */
static union sockaddr_any retr_waiting(void)
{
    char line[1024];
    send_str("TYPE I\r\n");
    expect(200);
    send_str("PASV\r\n");
    expect_into(227, line, sizeof line);
    union sockaddr_any data = parse_pasv(line);
    send_str("RETR small.bin\r\n");
    expect(150);
    return data;
}

START_TEST(graceful_stop_finishes_transfer)
{
    start(STOP_BROADCAST);
    login();
    union sockaddr_any data = retr_waiting();
    stop_broadcast_fire(&F.bc);
    /* The transfer goes on within the grace: connect, get it all, 226;
     * then the 421 and the close. */
    struct pollfd p = {.fd = F.client_fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 200), 0); /* nothing said yet */
    F.data_fd = connect_to(&data);
    read_file_from(F.data_fd);
    close(F.data_fd);
    F.data_fd = -1;
    expect(226);
    expect(421);
    expect_eof();
    join_server();
    ck_assert(F.stop.stopping);
    ck_assert(!F.stop.hard);
}
END_TEST

START_TEST(second_signal_stops_transfer)
{
    block_sigterm();
    start(STOP_EVENTS);
    login();
    retr_waiting();
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    struct pollfd p = {.fd = F.client_fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 200), 0); /* graceful: the transfer waits on */
    ck_assert(!atomic_load(&F.returned));
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    char line[1024];
    expect_into(426, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "shutting down"));
    expect(421);
    expect_eof();
    join_server();
    ck_assert(F.stop.stopping);
    ck_assert(F.stop.hard);
}
END_TEST

/* ---- the connection ends on its own ---- */

START_TEST(idle_timeout)
{
    F.cfg.idle_timeout = 1;
    start(STOP_BROADCAST);
    login();
    int64_t t0 = clock_ms();
    char line[1024];
    expect_into(421, line, sizeof line);
    int64_t waited = clock_ms() - t0;
    ck_assert_ptr_nonnull(strstr(line, "Timeout"));
    ck_assert_int_ge(waited, 800);
    ck_assert_int_le(waited, 2000);
    expect_eof();
    join_server();
}
END_TEST

START_TEST(client_disconnects)
{
    start(STOP_BROADCAST);
    login();
    send_str("NOOP\r\n");
    expect(200);
    close(F.client_fd); /* no QUIT */
    F.client_fd = -1;
    join_server();
}
END_TEST

START_TEST(client_disconnects_mid_line)
{
    start(STOP_BROADCAST);
    login();
    send_str("NOOP\r\nPWD"); /* a partial line, then gone */
    expect(200);
    shutdown(F.client_fd, SHUT_WR);
    expect_eof();
    join_server();
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("serve_blocking");
    TCase *tc = tcase_create("loop");
    tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, commands_then_quit);
    tcase_add_test(tc, pipelined_in_order);
    tcase_add_test(tc, long_line_survives);
    tcase_add_test(tc, passive_retr);
    tcase_add_test(tc, stop_by_broadcast_idle);
    tcase_add_test(tc, stop_by_events_idle);
    tcase_add_test(tc, stop_notice_counts);
    tcase_add_test(tc, stop_notice_broadcast);
    tcase_add_test(tc, graceful_stop_finishes_transfer);
    tcase_add_test(tc, second_signal_stops_transfer);
    tcase_add_test(tc, idle_timeout);
    tcase_add_test(tc, client_disconnects);
    tcase_add_test(tc, client_disconnects_mid_line);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

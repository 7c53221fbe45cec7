/* Idle sessions moving between two generations (arch/evented/handover.c):
 * an old and a new evented server, each on its own libev loop in this
 * process, the new one taking sessions on its real handover socket, and
 * real loopback control connections whose clients go on talking after the
 * move. Checked: idle sessions move with their state and are answered by
 * the new server (the old one holds none); a session the new server
 * refuses stays and is served on by the old one; a new generation that
 * never answers leaves every session served by the old one; one that binds
 * its socket late is waited for; a session mid-RETR finishes it in the
 * old one, then moves. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/common/admission.h"
#include "arch/evented/evconn.h"
#include "arch/evented/handover.h"
#include "ftpd/clock.h"
#include "ftpd/config.h"
#include "ftpd/limits.h"
#include "ftpd/log.h"
#include "ftpd/sockaddr.h"
#include "unit.h"

#define STEP_MS  3000 /* the longest wait for one reply or one move */
#define NCLIENTS 80   /* more than FTPD_HANDOVER_WINDOW */
#define BIG_LEN  (8 << 20)

static char tmpdir[64];

static void tree_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ftpd-ho-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof path, "%s/dir", tmpdir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/dir/f.txt", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "0123456789", 10), 10);
    close(fd);
    /* Big enough not to fit the socket buffers of a data connection. */
    snprintf(path, sizeof path, "%s/big.bin", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, BIG_LEN), 0);
    close(fd);
}

static void tree_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* One generation: its config, server and loop. */
struct gen {
    struct ftpd_config cfg;
    struct ftpd_server srv;
    struct evserver es;
    ev_timer tick; /* bounds every EVRUN_NOWAIT round's wait */
    int handover_fd;
};

static struct {
    struct gen old, new;
    int listen_fd;
    int cl[NCLIENTS];
} F;

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void gen_init(struct gen *g)
{
    config_defaults(&g->cfg);
    g->cfg.max_per_ip = 0; /* every client is 127.0.0.1 */
    snprintf(g->cfg.root, sizeof g->cfg.root, "%s", tmpdir);
    g->srv.cfg = &g->cfg;
    g->srv.root_fd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(g->srv.root_fd, 0);
    g->es.srv = &g->srv;
    g->es.adm = admission_new(g->cfg.max_clients, g->cfg.max_per_ip);
    ck_assert_ptr_nonnull(g->es.adm);
    g->es.loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(g->es.loop);
    g->es.pid = getpid();
    ev_timer_init(&g->tick, on_tick, 0.001, 0.001);
    ev_timer_start(g->es.loop, &g->tick);
    g->handover_fd = -1;
}

static void gen_fini(struct gen *g)
{
    handover_rx_stop(&g->es);
    evconn_close_all(&g->es);
    handover_stop(&g->es);
    ev_timer_stop(g->es.loop, &g->tick);
    ev_loop_destroy(g->es.loop);
    admission_free(g->es.adm);
    close(g->srv.root_fd);
    if (g->handover_fd >= 0)
        close(g->handover_fd);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERROR);
    memset(&F, 0, sizeof F);
    for (int i = 0; i < NCLIENTS; i++)
        F.cl[i] = -1;
    gen_init(&F.old);
    gen_init(&F.new);
    /* The new generation's socket, named after this process (each test
     * runs in a process of its own). */
    F.new.handover_fd = handover_listen(getpid());
    ck_assert_int_ge(F.new.handover_fd, 0);
    ck_assert_int_eq(handover_rx_start(&F.new.es, F.new.handover_fd), 0);

    union sockaddr_any addr;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 0, &addr), 0);
    F.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(F.listen_fd, 0);
    ck_assert_int_eq(bind(F.listen_fd, &addr.sa, sockaddr_len(&addr)), 0);
    ck_assert_int_eq(listen(F.listen_fd, NCLIENTS), 0);
}

static void teardown(void)
{
    gen_fini(&F.old);
    gen_fini(&F.new);
    for (int i = 0; i < NCLIENTS; i++) {
        if (F.cl[i] >= 0)
            close(F.cl[i]);
    }
    close(F.listen_fd);
}

/* One round of each loop, without waiting on either. */
static void step(void)
{
    ev_run(F.old.es.loop, EVRUN_NOWAIT);
    ev_run(F.new.es.loop, EVRUN_NOWAIT);
    usleep(1000);
}

/* Client i connects to the old generation. */
static int open_client(int i)
{
    union sockaddr_any addr;
    socklen_t len = sizeof addr;
    ck_assert_int_eq(getsockname(F.listen_fd, &addr.sa, &len), 0);
    F.cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(F.cl[i], 0);
    ck_assert_int_eq(connect(F.cl[i], &addr.sa, sockaddr_len(&addr)), 0);
    union sockaddr_any peer;
    len = sizeof peer;
    int sfd = accept4(F.listen_fd, &peer.sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ck_assert_int_ge(sfd, 0);
    evconn_open(&F.old.es, sfd, &peer);
    return F.cl[i];
}

/* Running both loops, read client fd's reply (one line) into line. */
static void read_reply(int fd, char *line, size_t cap)
{
    size_t len = 0;
    int64_t end = clock_ms() + STEP_MS;
    while (len == 0 || line[len - 1] != '\n') {
        ck_assert_msg(clock_ms() < end, "no reply within %d ms", STEP_MS);
        step();
        ssize_t n = recv(fd, line + len, cap - 1 - len, MSG_DONTWAIT);
        ck_assert_msg(n != 0, "EOF");
        if (n < 0) {
            ck_assert_msg(errno == EAGAIN || errno == EINTR, "recv: %s", strerror(errno));
            continue;
        }
        len += (size_t)n;
        ck_assert_uint_lt(len, cap - 1);
    }
    line[len] = '\0';
}

/* Send line, expect a reply starting with want. */
static void chat(int fd, const char *line, const char *want)
{
    char cmd[256], reply[1024];
    int n = snprintf(cmd, sizeof cmd, "%s\r\n", line);
    ck_assert_int_eq(send(fd, cmd, (size_t)n, MSG_NOSIGNAL), n);
    read_reply(fd, reply, sizeof reply);
    ck_assert_msg(strncmp(reply, want, strlen(want)) == 0, "%s: got \"%s\", want \"%s\"", line,
                  reply, want);
}

/* Run both loops until old and new hold these many connections. */
static void wait_counts(int old_n, int new_n)
{
    int64_t end = clock_ms() + STEP_MS;
    while (F.old.es.nconns != old_n || F.new.es.nconns != new_n) {
        ck_assert_msg(clock_ms() < end, "old %d new %d connections, want %d and %d",
                      F.old.es.nconns, F.new.es.nconns, old_n, new_n);
        step();
    }
}

static int data_connect(const char *reply);

START_TEST(idle_sessions_move_and_carry_on)
{
    char greeting[256], line[256];
    int a = open_client(0), b = open_client(1), c = open_client(2);
    read_reply(a, greeting, sizeof greeting);
    read_reply(b, greeting, sizeof greeting);
    read_reply(c, greeting, sizeof greeting);
    ck_assert_int_eq(strncmp(greeting, "220 ", 4), 0);
    chat(a, "USER anonymous", "331 ");
    chat(a, "PASS x@y", "230 ");
    chat(a, "CWD dir", "250 ");
    chat(a, "TYPE A", "200 ");
    char pasv[256];
    static const char pasv_cmd[] = "PASV\r\n";
    ck_assert_int_eq(send(a, pasv_cmd, sizeof pasv_cmd - 1, MSG_NOSIGNAL),
                     (ssize_t)sizeof pasv_cmd - 1);
    read_reply(a, pasv, sizeof pasv);
    ck_assert_int_eq(strncmp(pasv, "227 ", 4), 0);
    chat(b, "USER ftp", "331 "); /* between USER and PASS */
    /* c: greeted, nothing else */

    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    wait_counts(0, 3);
    ck_assert_int_eq(admission_active(F.old.es.adm), 0);
    ck_assert_int_eq(admission_active(F.new.es.adm), 3);

    /* The new generation answers, with no greeting in between, and the
     * state came along: login, cwd, TYPE, the passive listener. */
    chat(a, "PWD", "257 \"/dir\"");
    chat(a, "SIZE f.txt", "213 10");
    /* The passive listener came along: the new generation serves on it. */
    int data = data_connect(pasv);
    static const char retr[] = "RETR f.txt\r\n";
    ck_assert_int_eq(send(a, retr, sizeof retr - 1, MSG_NOSIGNAL), (ssize_t)sizeof retr - 1);
    char got[64];
    size_t n = 0;
    int64_t end = clock_ms() + STEP_MS;
    for (;;) {
        ssize_t r = recv(data, got + n, sizeof got - n, MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
        else
            ck_assert_msg(errno == EAGAIN || errno == EINTR, "data recv: %s", strerror(errno));
        ck_assert_msg(clock_ms() < end, "no EOF on the data connection");
        step();
    }
    close(data);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(memcmp(got, "0123456789", 10), 0);
    read_reply(a, line, sizeof line); /* "150 ...", and "226 ..." with it or next */
    ck_assert_msg(strncmp(line, "150 ", 4) == 0, "%s", line);
    if (strstr(line, "\n226 ") == NULL) {
        read_reply(a, line, sizeof line);
        ck_assert_msg(strncmp(line, "226 ", 4) == 0, "%s", line);
    }
    chat(b, "PASS x", "230 ");
    chat(b, "PWD", "257 \"/\"");
    chat(c, "PWD", "530 ");
    chat(c, "QUIT", "221 ");
    wait_counts(0, 2);
}
END_TEST

START_TEST(more_sessions_than_the_window_move)
{
    char line[256];
    for (int i = 0; i < NCLIENTS; i++)
        read_reply(open_client(i), line, sizeof line);
    ck_assert_int_gt(NCLIENTS, FTPD_HANDOVER_WINDOW);
    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    wait_counts(0, NCLIENTS);
    for (int i = 0; i < NCLIENTS; i++)
        chat(F.cl[i], "NOOP", "200 ");
}
END_TEST

START_TEST(a_refused_session_stays_and_is_served)
{
    char line[256];
    int a = open_client(0);
    read_reply(a, line, sizeof line);
    chat(a, "USER anonymous", "331 ");
    chat(a, "PASS x@y", "230 ");
    chat(a, "CWD dir", "250 ");
    F.new.cfg.anonymous = false; /* the new config has no anonymous login */

    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    int64_t end = clock_ms() + 300;
    while (clock_ms() < end) /* time for an answer to come back */
        step();
    ck_assert_int_eq(F.new.es.nconns, 0);
    ck_assert_int_eq(F.old.es.nconns, 1);
    chat(a, "PWD", "257 \"/dir\"");
    /* Idle again: it is not offered a second time. */
    chat(a, "NOOP", "200 ");
    ck_assert_int_eq(F.old.es.nconns, 1);
    ck_assert_int_eq(F.new.es.nconns, 0);
}
END_TEST

START_TEST(sessions_stay_when_the_new_generation_goes)
{
    char line[256];
    int a = open_client(0), b = open_client(1);
    read_reply(a, line, sizeof line);
    read_reply(b, line, sizeof line);
    chat(a, "USER anonymous", "331 ");
    chat(a, "PASS x@y", "230 ");

    /* Sent, never answered: the new generation dies before accepting
     * (its listener closes, the queued connection is reset). */
    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    ev_run(F.old.es.loop, EVRUN_NOWAIT);
    handover_rx_stop(&F.new.es);
    close(F.new.handover_fd);
    F.new.handover_fd = -1;
    chat(a, "PWD", "257 \"/\"");
    chat(b, "USER ftp", "331 ");
    ck_assert_int_eq(F.old.es.nconns, 2);
    ck_assert_int_eq(F.new.es.nconns, 0);
    chat(b, "PASS x", "230 ");
}
END_TEST

/* The data connection of a "227 ... (h1,h2,h3,h4,p1,p2)" reply. */
static int data_connect(const char *reply)
{
    unsigned h1, h2, h3, h4, p1, p2;
    const char *p = strchr(reply, '(');
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "(%u,%u,%u,%u,%u,%u)", &h1, &h2, &h3, &h4, &p1, &p2), 6);
    union sockaddr_any addr;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", (int)(p1 * 256 + p2), &addr), 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int rcvbuf = 64 * 1024; /* the file cannot fit in the buffers */
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    ck_assert_int_eq(connect(fd, &addr.sa, sockaddr_len(&addr)), 0);
    return fd;
}

START_TEST(a_session_mid_transfer_moves_once_it_ends)
{
    char line[256];
    int a = open_client(0);
    read_reply(a, line, sizeof line);
    chat(a, "USER anonymous", "331 ");
    chat(a, "PASS x@y", "230 ");
    chat(a, "TYPE I", "200 ");
    static const char pasv[] = "PASV\r\n";
    ck_assert_int_eq(send(a, pasv, sizeof pasv - 1, MSG_NOSIGNAL), (ssize_t)sizeof pasv - 1);
    read_reply(a, line, sizeof line);
    int data = data_connect(line);
    chat(a, "RETR big.bin", "150 ");

    /* The data connection is not read yet: the transfer is running. */
    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    for (int i = 0; i < 50; i++)
        step();
    ck_assert_int_eq(F.old.es.nconns, 1);
    ck_assert_int_eq(F.new.es.nconns, 0);

    size_t got = 0;
    static char chunk[65536];
    int64_t end = clock_ms() + STEP_MS;
    for (;;) {
        ssize_t n = recv(data, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n > 0)
            got += (size_t)n;
        else
            ck_assert_msg(errno == EAGAIN || errno == EINTR, "data recv: %s", strerror(errno));
        ck_assert_msg(clock_ms() < end, "RETR not done within %d ms", STEP_MS);
        step();
    }
    close(data);
    ck_assert_uint_eq(got, BIG_LEN);
    read_reply(a, line, sizeof line);
    ck_assert_msg(strncmp(line, "226 ", 4) == 0, "%s", line);
    /* Idle now: it moves, and carries on in the new generation. */
    wait_counts(0, 1);
    chat(a, "SIZE big.bin", "213 8388608");
}
END_TEST

START_TEST(a_stop_while_moving_leaves_it_to_the_new_generation)
{
    char line[256];
    int a = open_client(0);
    read_reply(a, line, sizeof line);
    chat(a, "USER anonymous", "331 ");
    chat(a, "PASS x@y", "230 ");
    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    /* Sent and parked, then the old generation closes everything before
     * the answer: no 421 on a connection the new one may serve, and the
     * late answer finds nobody. */
    ck_assert_int_eq(F.old.es.nconns, 1);
    evconn_close_all(&F.old.es);
    ck_assert_int_eq(F.old.es.nconns, 0);
    wait_counts(0, 1);
    chat(a, "PWD", "257 \"/\"");
}
END_TEST

START_TEST(a_late_new_generation_is_waited_for)
{
    char line[256];
    int a = open_client(0);
    read_reply(a, line, sizeof line);
    chat(a, "USER anonymous", "331 ");
    chat(a, "PASS x@y", "230 ");
    /* Its handover socket is not there yet (it binds it after reporting
     * ready): the old one retries, serving its sessions meanwhile (it
     * drains: no 421). */
    handover_rx_stop(&F.new.es);
    close(F.new.handover_fd);
    F.new.handover_fd = -1;
    F.old.es.draining = true;
    ck_assert_int_eq(handover_start(&F.old.es, getpid()), 0);
    chat(a, "CWD dir", "250 ");
    ck_assert_int_eq(F.old.es.nconns, 1);
    F.new.handover_fd = handover_listen(getpid());
    ck_assert_int_ge(F.new.handover_fd, 0);
    ck_assert_int_eq(handover_rx_start(&F.new.es, F.new.handover_fd), 0);
    wait_counts(0, 1);
    chat(a, "PWD", "257 \"/dir\"");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("handover");
    TCase *tc = tcase_create("generations");
    tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idle_sessions_move_and_carry_on);
    tcase_add_test(tc, more_sessions_than_the_window_move);
    tcase_add_test(tc, a_refused_session_stays_and_is_served);
    tcase_add_test(tc, sessions_stay_when_the_new_generation_goes);
    tcase_add_test(tc, a_late_new_generation_is_waited_for);
    tcase_add_test(tc, a_stop_while_moving_leaves_it_to_the_new_generation);
    tcase_add_test(tc, a_session_mid_transfer_moves_once_it_ends);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The master/worker channel (arch/common/channel.c) through the
 * supervisor's pieces, with real forks: a worker reports ready, a DRAIN
 * reaches it as the SIGTERM its loop reads, a worker whose master's end
 * closes (the master died) stops by itself, and so does one whose master
 * was gone before it could listen. */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/common/supervisor.h"
#include "ftpd/clock.h"
#include "ftpd/config.h"
#include "unit.h"

static struct ftpd_config cfg;
static struct ftpd_server srv;
static sigset_t old_mask;

static void setup(void)
{
    config_defaults(&cfg);
    srv = (struct ftpd_server){.cfg = &cfg, .root_fd = -1};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &old_mask), 0);
}

static void teardown(void)
{
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

/* Serves until SIGTERM (blocked, read with sigwait as a signalfd would):
 * exits 0 on SIGTERM, 7 on SIGHUP. */
static int until_signal(const struct ftpd_server *s, int index, void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    sigwait(&set, &sig);
    return sig == SIGTERM ? 0 : 7;
}

static struct supervisor start_one(void)
{
    struct supervisor s = {.srv = &srv, .worker = until_signal, .events = {.fd = -1}};
    ck_assert_int_eq(workers_resize(&s, 1), 0);
    workers_respawn(&s, clock_ms());
    ck_assert_int_gt(s.w[0].pid, 0);
    return s;
}

/* Read the worker's channel until it said ready, or 5 s. */
static bool wait_ready(struct supervisor *s)
{
    int64_t deadline = clock_ms() + 5000;
    while (!s->w[0].ch.ready && s->w[0].ch.fd >= 0 && clock_ms() < deadline) {
        struct pollfd p = {.fd = s->w[0].ch.fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            channel_receive(&s->w[0].ch, 0);
    }
    return s->w[0].ch.ready;
}

/* The worker's exit status, waiting at most 5 s (-1: still running). */
static int wait_exit(pid_t pid)
{
    int64_t deadline = clock_ms() + 5000;
    while (clock_ms() < deadline) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(10 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

START_TEST(ready_then_drain)
{
    struct supervisor s = start_one();
    pid_t pid = s.w[0].pid;
    ck_assert(wait_ready(&s));
    ck_assert_int_eq(workers_tell(&s, 0, MSG_CH_DRAIN), 0);
    ck_assert_int_eq(wait_exit(pid), 0); /* the SIGTERM path */
    workers_free(&s);
}
END_TEST

START_TEST(master_gone_stops_the_worker)
{
    struct supervisor s = start_one();
    pid_t pid = s.w[0].pid;
    ck_assert(wait_ready(&s));
    /* As if the master died: its end closes. */
    channel_close(&s.w[0].ch);
    ck_assert_int_eq(wait_exit(pid), 0);
    ck_assert_int_eq(workers_tell(&s, 0, MSG_CH_DRAIN), -1);
    workers_free(&s);
}
END_TEST

START_TEST(siblings_do_not_hold_the_master_end)
{
    struct supervisor s = {.srv = &srv, .worker = until_signal, .events = {.fd = -1}};
    ck_assert_int_eq(workers_resize(&s, 2), 0);
    workers_respawn(&s, clock_ms());
    pid_t first = s.w[0].pid, second = s.w[1].pid;
    ck_assert(wait_ready(&s));
    /* Worker 1 was forked after worker 0's channel existed: closing the
     * master's end of worker 0 must still reach worker 0. */
    channel_close(&s.w[0].ch);
    ck_assert_int_eq(wait_exit(first), 0);
    ck_assert_int_eq(workers_tell(&s, 1, MSG_CH_DRAIN), 0);
    ck_assert_int_eq(wait_exit(second), 0);
    workers_free(&s);
}
END_TEST

/* SIGTERM pending within 2 s (it is blocked: read it as a signalfd would). */
static bool sigterm_comes(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    struct timespec ts = {.tv_sec = 2};
    return sigtimedwait(&set, NULL, &ts) == SIGTERM;
}

START_TEST(the_kernel_signals_the_worker)
{
    /* In this process, as the worker: the master's end says DRAIN... */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(channel_worker_start(sv[1]), 0);
    char ready[MSG_HEADER_LEN];
    ck_assert_int_eq(read(sv[0], ready, sizeof ready), (ssize_t)sizeof ready);
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert(!sigismember(&pending, SIGTERM)); /* READY going out signals nothing */
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_DRAIN, NULL, 0, NULL, 0), 0);
    ck_assert(sigterm_comes());
    /* ...then goes away. */
    close(sv[0]);
    ck_assert(sigterm_comes());
    close(sv[1]);

    /* A master gone before the worker could listen. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[0]);
    ck_assert_int_eq(channel_worker_start(sv[1]), 0);
    ck_assert(sigterm_comes());
    close(sv[1]);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("channel");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ready_then_drain);
    tcase_add_test(tc, master_gone_stops_the_worker);
    tcase_add_test(tc, siblings_do_not_hold_the_master_end);
    tcase_add_test(tc, the_kernel_signals_the_worker);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

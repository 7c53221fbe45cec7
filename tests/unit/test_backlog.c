/* Saying no from the listen queue (arch/common/backlog.c), on a real
 * loopback listener: the queue's length read from TCP_INFO, and the
 * connections that waited BACKLOG_WAIT_MS refused with 421 while those the
 * workers keep taking are left alone. The clock is an argument: no sleep. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/common/backlog.h"
#include "ftpd/config.h"
#include "unit.h"

static struct listener listener;
static int clients[8];
static int nclients;

static void setup(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    memset(&listener, 0, sizeof listener);
    listener.fd = fd;
    socklen_t len = sizeof listener.addr;
    ck_assert_int_eq(getsockname(fd, &listener.addr.sa, &len), 0);
    nclients = 0;
}

static void teardown(void)
{
    for (int i = 0; i < nclients; i++)
        close(clients[i]);
    close(listener.fd);
}

/* A client whose connection waits in the listener's accept queue. */
static int connect_one(void)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(connect(c, &listener.addr.sa, sizeof(struct sockaddr_in)), 0);
    clients[nclients++] = c;
    return c;
}

START_TEST(queue_length_from_tcp_info)
{
    ck_assert_uint_eq(listen_queue_length(&listener, 1), 0);
    for (int i = 0; i < 3; i++)
        connect_one();
    ck_assert_uint_eq(listen_queue_length(&listener, 1), 3);
    struct listener closed = {.fd = -1};
    ck_assert_uint_eq(listen_queue_length(&closed, 1), 0);
}
END_TEST

START_TEST(stuck_queue_refused_after_the_wait)
{
    struct ftpd_config cfg;
    config_defaults(&cfg);
    struct admission *adm = admission_new(8, 0);
    struct acceptor acc;
    ck_assert_int_eq(acceptor_init(&acc), 0);
    atomic_ulong taken;
    atomic_init(&taken, 0);
    acc.taken = &taken;
    struct backlog_guard g = {.listeners = &listener,
                              .nlisteners = 1,
                              .acc = &acc,
                              .taken = &taken,
                              .adm = adm,
                              .cfg = &cfg};
    int a = connect_one(), b = connect_one();
    ck_assert_int_eq(backlog_guard_tick(&g, 1000), 0);
    ck_assert_int_eq(backlog_guard_tick(&g, 1000 + BACKLOG_WAIT_MS - 1), 0);
    int c = connect_one(); /* arrives later: not overdue yet */
    ck_assert_int_eq(backlog_guard_tick(&g, 1000 + BACKLOG_WAIT_MS), 2);
    char reply[256];
    ssize_t n = read(a, reply, sizeof reply - 1);
    ck_assert_int_gt(n, 0);
    reply[n] = '\0';
    ck_assert_msg(strncmp(reply, "421 Server busy", 15) == 0, "%s", reply);
    ck_assert_int_gt(read(b, reply, sizeof reply), 0);
    ck_assert_uint_eq(admission_refused(adm, REFUSE_BUSY), 2);
    ck_assert_uint_eq(listen_queue_length(&listener, 1), 1);

    /* c is taken by a worker (here: accepted by hand, counted): nothing
     * is left to refuse. */
    int fd;
    union sockaddr_any peer;
    ck_assert_int_eq(acceptor_take(&acc, listener.fd, &fd, &peer), ACCEPT_OK);
    ck_assert_int_eq(backlog_guard_tick(&g, 1000 + 3 * BACKLOG_WAIT_MS), 0);
    close(fd);
    (void)c;
    acceptor_close(&acc);
    admission_free(adm);
}
END_TEST

START_TEST(moving_queue_left_alone)
{
    struct ftpd_config cfg;
    config_defaults(&cfg);
    struct admission *adm = admission_new(8, 0);
    struct acceptor acc;
    ck_assert_int_eq(acceptor_init(&acc), 0);
    atomic_ulong taken;
    atomic_init(&taken, 0);
    struct backlog_guard g = {.listeners = &listener,
                              .nlisteners = 1,
                              .acc = &acc,
                              .taken = &taken,
                              .adm = adm,
                              .cfg = &cfg};
    connect_one();
    connect_one();
    ck_assert_int_eq(backlog_guard_tick(&g, 0), 0);
    /* Meanwhile the workers took as many as were waiting (and two more
     * arrived): everyone waiting then was served. */
    atomic_store(&taken, 2);
    ck_assert_int_eq(backlog_guard_tick(&g, BACKLOG_WAIT_MS), 0);
    ck_assert_uint_eq(admission_refused(adm, REFUSE_BUSY), 0);
    acceptor_close(&acc);
    admission_free(adm);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("backlog");
    TCase *tc = tcase_create("backlog");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, queue_length_from_tcp_info);
    tcase_add_test(tc, stuck_queue_refused_after_the_wait);
    tcase_add_test(tc, moving_queue_left_alone);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

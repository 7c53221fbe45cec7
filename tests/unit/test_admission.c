/* Admission (arch/common/admission.c): max_clients, max_per_ip, slots
 * across processes, and the refusal: its 421 and the reason it logs. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/common/admission.h"
#include "ftpd/config.h"
#include "ftpd/stream.h"
#include "unit.h"

static union sockaddr_any ip(const char *addr)
{
    union sockaddr_any a;
    ck_assert_int_eq(sockaddr_parse(addr, 40000, &a), 0);
    return a;
}

START_TEST(max_clients)
{
    struct admission *a = admission_new(2, 0);
    ck_assert_ptr_nonnull(a);
    union sockaddr_any p = ip("127.0.0.1");
    enum refusal why;
    int s1 = admission_admit(a, &p, getpid(), &why);
    int s2 = admission_admit(a, &p, getpid(), &why);
    ck_assert_int_ge(s1, 0);
    ck_assert_int_ge(s2, 0);
    ck_assert_int_ne(s1, s2);
    ck_assert_int_eq(admission_admit(a, &p, getpid(), &why), -1);
    ck_assert_int_eq(why, REFUSE_MAX_CLIENTS);
    ck_assert_int_eq(admission_active(a), 2);
    admission_release(a, s1);
    admission_release(a, s1); /* twice: counted once */
    ck_assert_int_eq(admission_active(a), 1);
    ck_assert_int_ge(admission_admit(a, &p, getpid(), &why), 0);
    admission_free(a);
}
END_TEST

START_TEST(max_per_ip)
{
    struct admission *a = admission_new(10, 2);
    union sockaddr_any p1 = ip("127.0.0.1"), p2 = ip("127.0.0.2"), v6 = ip("::1");
    enum refusal why;
    ck_assert_int_ge(admission_admit(a, &p1, 1, &why), 0);
    int s = admission_admit(a, &p1, 1, &why);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(admission_admit(a, &p1, 1, &why), -1);
    ck_assert_int_eq(why, REFUSE_MAX_PER_IP);
    /* Other addresses are counted apart; the port does not matter. */
    ck_assert_int_ge(admission_admit(a, &p2, 1, &why), 0);
    ck_assert_int_ge(admission_admit(a, &v6, 1, &why), 0);
    admission_release(a, s);
    ck_assert_int_ge(admission_admit(a, &p1, 1, &why), 0);
    admission_free(a);
}
END_TEST

/* A process that dies holding slots: its master frees them by pid. */
START_TEST(release_owner_and_hand_over)
{
    struct admission *a = admission_new(4, 0);
    union sockaddr_any p = ip("127.0.0.1");
    enum refusal why;
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        /* The table is MAP_SHARED: slots taken here count for the parent. */
        admission_admit(a, &p, getpid(), &why);
        admission_admit(a, &p, getpid(), &why);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_int_eq(admission_active(a), 2);
    admission_release_owner(a, child);
    ck_assert_int_eq(admission_active(a), 0);

    /* process: the parent admits, then hands the slot to its child. */
    int slot = admission_admit(a, &p, getpid(), &why);
    admission_hand_over(a, slot, getpid(), 4242);
    admission_release_owner(a, getpid());
    ck_assert_int_eq(admission_active(a), 1);
    admission_release_owner(a, 4242);
    ck_assert_int_eq(admission_active(a), 0);
    /* A slot released before the hand-over is not taken back. */
    slot = admission_admit(a, &p, getpid(), &why);
    admission_release(a, slot);
    admission_hand_over(a, slot, getpid(), 4242);
    ck_assert_int_eq(admission_active(a), 0);
    admission_free(a);
}
END_TEST

START_TEST(reasons)
{
    ck_assert_str_eq(refusal_reason(REFUSE_MAX_CLIENTS), "max_clients reached");
    ck_assert_str_eq(refusal_reason(REFUSE_MAX_PER_IP), "max_per_ip reached");
    ck_assert_str_eq(refusal_reason(REFUSE_SHUTTING_DOWN), "shutting down");
    ck_assert_str_eq(refusal_reason(REFUSE_NO_MEMORY), "out of memory");
}
END_TEST

/* Refuse a connection for why; return what the client read and what the
 * server logged. */
static void refuse(enum refusal why, char *reply, size_t rcap, char *logged, size_t lcap)
{
    struct ftpd_config cfg;
    config_defaults(&cfg);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char path[] = "/tmp/ftpd-adm-log-XXXXXX";
    int logfd = mkstemp(path);
    ck_assert_int_ge(logfd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(dup2(logfd, STDERR_FILENO), 0);

    struct stream ctrl;
    stream_plain(&ctrl, sv[0]);
    union sockaddr_any p = ip("127.0.0.9");
    admission_refuse(NULL, &cfg, &ctrl, why, &p);

    fflush(stderr);
    ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    ssize_t n = pread(logfd, logged, lcap - 1, 0);
    ck_assert_int_ge(n, 0);
    logged[n] = '\0';
    close(logfd);
    n = read(sv[1], reply, rcap - 1);
    ck_assert_int_gt(n, 0);
    reply[n] = '\0';
    /* The server side is closed: the client reads EOF next. */
    char more;
    ck_assert_int_eq(read(sv[1], &more, 1), 0);
    close(sv[1]);
}

START_TEST(refuse_logs_its_reason)
{
    static const enum refusal all[] = {REFUSE_MAX_CLIENTS, REFUSE_MAX_PER_IP, REFUSE_SHUTTING_DOWN,
                                       REFUSE_NO_MEMORY};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char reply[512], logged[1024];
        refuse(all[i], reply, sizeof reply, logged, sizeof logged);
        ck_assert_msg(strncmp(reply, "421 ", 4) == 0, "reply %s", reply);
        ck_assert_msg(strstr(logged, "127.0.0.9") != NULL, "log %s", logged);
        ck_assert_msg(strstr(logged, refusal_reason(all[i])) != NULL, "log for %d: %s", (int)all[i],
                      logged);
        /* Only the max_clients refusal says max_clients. */
        ck_assert_msg((strstr(logged, "max_clients") != NULL) == (all[i] == REFUSE_MAX_CLIENTS),
                      "log for %d: %s", (int)all[i], logged);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("admission");
    TCase *tc = tcase_create("admission");
    tcase_add_test(tc, max_clients);
    tcase_add_test(tc, max_per_ip);
    tcase_add_test(tc, release_owner_and_hand_over);
    tcase_add_test(tc, reasons);
    tcase_add_test(tc, refuse_logs_its_reason);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* src/net/listen_adopt.c: which passed socket serves which configured
 * listener, and what happens to the rest. Loopback only. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/listen_adopt.h"
#include "ftpd/sock.h"
#include "unit.h"

static int listen_on(const char *ip, int port, union sockaddr_any *addr)
{
    ck_assert_int_eq(sockaddr_parse(ip, port, addr), 0);
    int fd;
    ck_assert_int_eq(sock_listen(addr, 8, 0, &fd), SOCK_OK);
    return fd;
}

static void add(struct adopted *a, int fd, const char *name)
{
    a->fd[a->n] = fd;
    snprintf(a->name[a->n], sizeof a->name[0], "%s", name);
    a->n++;
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* Port 0 in the config matches the passed socket's port; the implicit FTPS
 * socket (named) goes to the implicit slot; a stray socket is closed; the
 * configured address nobody passed is bound fresh. */
START_TEST(adopt_matches_by_address_and_name)
{
    union sockaddr_any plain, tls, stray;
    int fplain = listen_on("127.0.0.1", 0, &plain);
    int ftls = listen_on("127.0.0.1", 0, &tls);
    int fstray = listen_on("127.0.0.2", 0, &stray);
    struct ftpd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nlisten = 2;
    snprintf(cfg.listen[0], sizeof cfg.listen[0], "127.0.0.1");
    snprintf(cfg.listen[1], sizeof cfg.listen[1], "127.0.0.3");
    cfg.port = 0;
    cfg.implicit_tls_port = sockaddr_port(&tls);
    struct adopted a = {0};
    add(&a, ftls, "ftps"); /* first, to prove the name and port decide */
    add(&a, fstray, "");
    add(&a, fplain, "ftp");
    struct listener l[FTPD_LISTEN_MAX];
    char err[256] = "";
    int n = net_listen_adopt(&cfg, false, &a, l, NULL, 0, NULL, err, sizeof err);
    ck_assert_msg(n == 4, "%d: %s", n, err);
    ck_assert_int_eq(l[0].fd, fplain);
    ck_assert_int_eq(sockaddr_port(&l[0].addr), sockaddr_port(&plain));
    ck_assert_int_eq(l[2].fd, ftls);
    ck_assert_int_eq(l[3].fd >= 0 && l[1].fd >= 0, 1); /* 127.0.0.3: bound fresh */
    ck_assert_int_ne(sockaddr_port(&l[1].addr), 0);
    /* Closed: its number is free, or reused by a fresh listener. */
    ck_assert(!is_open(fstray) || fstray == l[1].fd || fstray == l[3].fd);
    ck_assert_int_ne(fcntl(l[0].fd, F_GETFL) & O_NONBLOCK, 0);
    for (int i = 0; i < a.n; i++)
        ck_assert_int_eq(a.fd[i], -1);
    net_close_all(l, n);
}
END_TEST

/* Under reuseport, a second socket on a matched address is an extra set. */
START_TEST(adopt_keeps_reuseport_sets)
{
    union sockaddr_any a0, a1;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 0, &a0), 0);
    int f0, f1;
    ck_assert_int_eq(sock_listen(&a0, 8, SOCK_LISTEN_REUSEPORT, &f0), SOCK_OK);
    a1 = a0;
    ck_assert_int_eq(sock_listen(&a1, 8, SOCK_LISTEN_REUSEPORT, &f1), SOCK_OK);
    struct ftpd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nlisten = 1;
    snprintf(cfg.listen[0], sizeof cfg.listen[0], "127.0.0.1");
    cfg.port = sockaddr_port(&a0);
    struct adopted a = {0};
    add(&a, f0, "ftp");
    add(&a, f1, "ftp");
    struct listener l[FTPD_LISTEN_MAX], extra[4];
    int nextra = -1;
    char err[256] = "";
    ck_assert_int_eq(net_listen_adopt(&cfg, true, &a, l, extra, 4, &nextra, err, sizeof err), 1);
    ck_assert_int_eq(l[0].fd, f0);
    ck_assert_int_eq(nextra, 1);
    ck_assert_int_eq(extra[0].fd, f1);
    net_close_all(l, 1);
    net_close_all(extra, 1);
}
END_TEST

/* LISTEN_PID of another process: nothing adopted, the variables gone. */
START_TEST(take_ignores_another_pid)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_FDNAMES", "ftp", 1);
    struct adopted a;
    char err[256] = "";
    ck_assert_int_eq(listen_adopt_take(&a, err, sizeof err), 0);
    ck_assert_int_eq(a.n, 0);
    ck_assert_ptr_null(getenv("LISTEN_PID"));
    ck_assert_ptr_null(getenv("LISTEN_FDS"));
    ck_assert_ptr_null(getenv("LISTEN_FDNAMES"));
}
END_TEST

/* Our pid, but descriptor 3 is not a listening socket: an error naming it. */
START_TEST(take_refuses_a_non_listener)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int saved = fcntl(3, F_DUPFD_CLOEXEC, 100); /* whatever 3 is, keep it */
    ck_assert_int_eq(dup2(p[0], 3), 3);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    struct adopted a;
    char err[256] = "";
    ck_assert_int_eq(listen_adopt_take(&a, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "descriptor 3: not a socket") != NULL, "%s", err);
    ck_assert(!is_open(3)); /* closed with the rest */
    if (saved >= 0)
        dup2(saved, 3);
    close(p[0]);
    close(p[1]);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("listen_adopt");
    TCase *tc = tcase_create("adopt");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, adopt_matches_by_address_and_name);
    tcase_add_test(tc, adopt_keeps_reuseport_sets);
    tcase_add_test(tc, take_ignores_another_pid);
    tcase_add_test(tc, take_refuses_a_non_listener);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* src/net: listeners, the I/O wrappers and the ASCII encoder. Loopback
 * only; every test is bounded by the tcase timeout. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/clock.h"
#include "ftpd/net.h"
#include "ftpd/stream.h"
#include "unit.h"

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void config_with(struct ftpd_config *cfg, int port, int n, const char *const *addrs)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = port;
    cfg->nlisten = n;
    for (int i = 0; i < n; i++)
        snprintf(cfg->listen[i], sizeof cfg->listen[i], "%s", addrs[i]);
}

/* Connect to l and check that the listener accepts it. */
static void check_listener_works(const struct listener *l)
{
    int c = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(connect(c, &l->addr.sa, sockaddr_len(&l->addr)), 0);
    struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
    union sockaddr_any peer;
    int s = net_accept(l->fd, &peer, true);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(peer.sa.sa_family, l->addr.sa.sa_family);
    ck_assert_int_ne(fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_ne(fcntl(s, F_GETFD) & FD_CLOEXEC, 0);
    close(s);
    close(c);
}

START_TEST(listen_v4_v6_port0)
{
    static const char *const addrs[] = {"127.0.0.1", "::1"};
    struct ftpd_config cfg;
    config_with(&cfg, 0, 2, addrs);
    struct listener l[FTPD_LISTEN_MAX];
    char err[256] = "";
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), 2);
    ck_assert_int_eq(l[0].addr.sa.sa_family, AF_INET);
    ck_assert_int_eq(l[1].addr.sa.sa_family, AF_INET6);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_gt(sockaddr_port(&l[i].addr), 0);
        ck_assert_int_ne(fcntl(l[i].fd, F_GETFL) & O_NONBLOCK, 0);
        ck_assert_int_ne(fcntl(l[i].fd, F_GETFD) & FD_CLOEXEC, 0);
        check_listener_works(&l[i]);
    }
    int v6only = 0;
    socklen_t len = sizeof v6only;
    ck_assert_int_eq(getsockopt(l[1].fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
    ck_assert_int_eq(v6only, 1);
    net_close_all(l, 2);
    ck_assert_int_eq(l[0].fd, -1);
    ck_assert_int_eq(l[1].fd, -1);
}
END_TEST

START_TEST(listen_reuseport)
{
    static const char *const addrs[] = {"127.0.0.1"};
    struct ftpd_config cfg;
    config_with(&cfg, 0, 1, addrs);
    struct listener a[1], b[1];
    char err[256] = "";
    ck_assert_int_eq(net_listen_all(&cfg, true, a, err, sizeof err), 1);
    /* A second set on the same port, as each hybrid worker opens. */
    cfg.port = sockaddr_port(&a[0].addr);
    ck_assert_msg(net_listen_all(&cfg, true, b, err, sizeof err) == 1, "%s", err);
    ck_assert_int_eq(sockaddr_port(&b[0].addr), cfg.port);
    net_close_all(a, 1);
    net_close_all(b, 1);
}
END_TEST

START_TEST(listen_errors_name_the_address)
{
    struct listener l[FTPD_LISTEN_MAX];
    struct ftpd_config cfg;
    char err[256];
    int before = count_open_fds();

    static const char *const bad[] = {"127.0.0.1", "not-an-ip"};
    config_with(&cfg, 0, 2, bad);
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), -1);
    ck_assert_str_eq(err, "cannot listen on not-an-ip:0: not a numeric IPv4 or IPv6 address");
    ck_assert_int_eq(count_open_fds(), before); /* the first one was closed */

    config_with(&cfg, 70000, 1, bad);
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), -1);
    ck_assert_str_eq(err, "cannot listen on 127.0.0.1:70000: port out of range");

    /* 192.0.2.1 (TEST-NET-1) is not ours: EADDRNOTAVAIL. */
    static const char *const foreign[] = {"127.0.0.1", "192.0.2.1"};
    config_with(&cfg, 0, 2, foreign);
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), -1);
    char want[256];
    snprintf(want, sizeof want, "cannot listen on 192.0.2.1:0: %s", strerror(EADDRNOTAVAIL));
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(count_open_fds(), before);

    /* A port somebody listens on: EADDRINUSE, v6 address in brackets. */
    static const char *const v6[] = {"::1"};
    config_with(&cfg, 0, 1, v6);
    struct listener busy[1];
    ck_assert_int_eq(net_listen_all(&cfg, false, busy, err, sizeof err), 1);
    cfg.port = sockaddr_port(&busy[0].addr);
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), -1);
    snprintf(want, sizeof want, "cannot listen on [::1]:%d: %s", cfg.port, strerror(EADDRINUSE));
    ck_assert_str_eq(err, want);
    net_close_all(busy, 1);

    config_with(&cfg, 0, 0, NULL);
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), -1);
    ck_assert_int_eq(count_open_fds(), before);
}
END_TEST

START_TEST(accept_eagain_when_empty)
{
    static const char *const addrs[] = {"127.0.0.1"};
    struct ftpd_config cfg;
    config_with(&cfg, 0, 1, addrs);
    struct listener l[1];
    char err[256];
    ck_assert_int_eq(net_listen_all(&cfg, false, l, err, sizeof err), 1);
    union sockaddr_any peer;
    errno = 0;
    ck_assert_int_eq(net_accept(l[0].fd, &peer, true), -1);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    net_close_all(l, 1);
}
END_TEST

START_TEST(read_write_status)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char b[16];
    size_t n = 99;
    ck_assert_int_eq(net_read(sv[0], b, sizeof b, &n), IO_AGAIN);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(net_write(sv[1], "hello", 5, &n), IO_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(net_read(sv[0], b, sizeof b, &n), IO_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "hello", 5), 0);
    close(sv[1]);
    ck_assert_int_eq(net_read(sv[0], b, sizeof b, &n), IO_EOF);
    /* SIGPIPE is left at its default here: MSG_NOSIGNAL must make this a
     * plain EPIPE, or the test process dies. */
    errno = 0;
    ck_assert_int_eq(net_write(sv[0], "x", 1, &n), IO_ERR);
    ck_assert_int_eq(errno, EPIPE);
    close(sv[0]);
}
END_TEST

/* Hung up: end of stream next in the queue; unread data before it is not
 * (the command must still be read); nothing yet is not. Both a plain
 * socket pair and a TCP reset (SO_LINGER 0). */
START_TEST(peer_hung_up_peeks_without_reading)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert(!net_peer_hung_up(sv[0]));
    size_t n;
    ck_assert_int_eq(net_write(sv[1], "NOOP\r\n", 6, &n), IO_OK);
    close(sv[1]);
    ck_assert(!net_peer_hung_up(sv[0]));
    char b[16];
    ck_assert_int_eq(net_read(sv[0], b, sizeof b, &n), IO_OK);
    ck_assert_uint_eq(n, 6); /* the peek took nothing */
    ck_assert(net_peer_hung_up(sv[0]));
    close(sv[0]);

    union sockaddr_any a;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 0, &a), 0);
    int lfd = net_listen_one(&a, false);
    ck_assert_int_ge(lfd, 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(cfd, 0);
    ck_assert_int_eq(connect(cfd, &a.sa, sockaddr_len(&a)), 0);
    union sockaddr_any peer;
    int sfd = -1;
    for (int i = 0; i < 100 && sfd < 0; i++) {
        sfd = net_accept(lfd, &peer, true);
        if (sfd < 0)
            usleep(10000);
    }
    ck_assert_int_ge(sfd, 0);
    ck_assert(!net_peer_hung_up(sfd));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(cfd); /* RST */
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    ck_assert(net_peer_hung_up(sfd));
    close(sfd);
    close(lfd);
}
END_TEST

START_TEST(write_to_pipe_falls_back)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    size_t n;
    ck_assert_int_eq(net_write(p[1], "abc", 3, &n), IO_OK);
    ck_assert_uint_eq(n, 3);
    struct stream s;
    stream_plain(&s, p[1]);
    ck_assert_int_eq(stream_write_all(&s, "def", 3, 1000), STREAM_OK);
    char b[8];
    ck_assert_int_eq(net_read(p[0], b, sizeof b, &n), IO_OK);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(memcmp(b, "abcdef", 6), 0);
    close(p[0]);
    close(p[1]);
}
END_TEST

#define SLOW_TOTAL (2 * 1024 * 1024)

struct slow_reader {
    int fd;
    unsigned char *got;
    size_t len;
};

/* Reads in small bites with pauses, so the writer meets a full buffer many
 * times. Bounded: blocking reads with a receive timeout. */
static void *slow_reader_main(void *arg)
{
    struct slow_reader *r = arg;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int round = 0;
    while (r->len < SLOW_TOTAL) {
        ssize_t n = read(r->fd, r->got + r->len, 16 * 1024);
        if (n <= 0)
            break;
        r->len += (size_t)n;
        if (++round % 16 == 0)
            usleep(2000);
    }
    return NULL;
}

START_TEST(write_all_slow_reader)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(net_set_nonblock(sv[0], true), 0);
    int small = 8192;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    unsigned char *data = malloc(SLOW_TOTAL);
    for (size_t i = 0; i < SLOW_TOTAL; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 11));
    struct slow_reader r = {.fd = sv[1], .got = malloc(SLOW_TOTAL)};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_reader_main, &r), 0);
    struct stream s;
    stream_plain(&s, sv[0]);
    ck_assert_int_eq(stream_write_all(&s, data, SLOW_TOTAL, 5000), STREAM_OK);
    pthread_join(th, NULL);
    ck_assert_uint_eq(r.len, SLOW_TOTAL);
    ck_assert_int_eq(memcmp(r.got, data, SLOW_TOTAL), 0);
    free(r.got);
    free(data);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(write_all_times_out)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    size_t big = 4 * 1024 * 1024; /* far more than a socketpair buffers */
    char *data = calloc(1, big);
    int64_t t0 = clock_ms();
    errno = 0;
    struct stream s;
    stream_plain(&s, sv[0]);
    ck_assert_int_eq(stream_write_all(&s, data, big, 300), STREAM_ERR);
    ck_assert_int_eq(errno, ETIMEDOUT);
    int64_t took = clock_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 3000);
    free(data);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

struct ascii_case {
    const char *name;
    const char *in[3]; /* successive chunks, NULL-terminated */
    const char *out;
    bool last_cr;
};

static const struct ascii_case ascii_cases[] = {
    {"empty", {"", NULL}, "", false},
    {"no line end", {"abc", NULL}, "abc", false},
    {"LF", {"a\nb\n", NULL}, "a\r\nb\r\n", false},
    {"only LFs", {"\n\n\n", NULL}, "\r\n\r\n\r\n", false},
    {"CRLF kept", {"a\r\nb\r\n", NULL}, "a\r\nb\r\n", false},
    {"CR alone", {"a\rb\r", NULL}, "a\rb\r", true},
    {"CR CR LF", {"\r\r\n", NULL}, "\r\r\n", false},
    {"LF then CR", {"\n\r", NULL}, "\r\n\r", true},
    {"CR|LF split", {"a\r", "\nb", NULL}, "a\r\nb", false},
    {"CR|empty|LF", {"a\r", "", "\n"}, "a\r\n", false},
    {"LF|LF split", {"a\n", "\nb", NULL}, "a\r\n\r\nb", false},
    {"CR then text|LF", {"\rx", "\n", NULL}, "\rx\r\n", false},
};

START_TEST(ascii_encode_table)
{
    const struct ascii_case *c = &ascii_cases[_i];
    char out[64];
    size_t len = 0;
    bool cr = false;
    for (int k = 0; k < 3 && c->in[k] != NULL; k++) {
        size_t n = strlen(c->in[k]);
        char dst[32];
        memset(dst, '#', sizeof dst);
        size_t m = xfer_ascii_encode(c->in[k], n, dst, &cr);
        ck_assert_msg(m <= 2 * n, "%s: wrote %zu for %zu", c->name, m, n);
        memcpy(out + len, dst, m);
        len += m;
    }
    out[len] = '\0';
    ck_assert_msg(strcmp(out, c->out) == 0, "%s", c->name);
    ck_assert_msg(cr == c->last_cr, "%s: last_cr", c->name);
}
END_TEST

/* Regression: a TCP self-connect (source port == destination port) must
 * count as a failed active data connection, not a working one. */
START_TEST(connect_result_refuses_self_connect)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    /* Linux completes this by simultaneous open: the socket talks to itself. */
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(dataconn_connect_result(fd), ECONNREFUSED);
    close(fd);

    /* and a real connection is fine */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in l = {.sin_family = AF_INET};
    l.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&l, sizeof l), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    len = sizeof l;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&l, &len), 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&l, sizeof l), 0);
    ck_assert_int_eq(dataconn_connect_result(cfd), 0);
    close(cfd);
    close(lfd);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("listen");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, listen_v4_v6_port0);
    tcase_add_test(tc, connect_result_refuses_self_connect);
    tcase_add_test(tc, listen_reuseport);
    tcase_add_test(tc, listen_errors_name_the_address);
    tcase_add_test(tc, accept_eagain_when_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("io");
    tcase_set_timeout(tc, 15);
    tcase_add_test(tc, read_write_status);
    tcase_add_test(tc, peer_hung_up_peeks_without_reading);
    tcase_add_test(tc, write_to_pipe_falls_back);
    tcase_add_test(tc, write_all_slow_reader);
    tcase_add_test(tc, write_all_times_out);
    suite_add_tcase(s, tc);

    tc = tcase_create("ascii");
    tcase_add_loop_test(tc, ascii_encode_table, 0,
                        (int)(sizeof ascii_cases / sizeof ascii_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* Reading a PROXY header off a socket (net/proxy_read.c): exactly the
 * header's bytes, whatever follows it in the same segment, and a header
 * that arrives in pieces. A TCP pair on loopback (MSG_PEEK as on the real
 * thing). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/proxy_read.h"
#include "unit.h"

#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"

/* fds[0]: the sender; fds[1]: the receiver, non-blocking. */
static void tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    fds[1] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    ck_assert_int_ge(fds[1], 0);
    close(l);
}

/* The bytes waiting on fd after the header (waits briefly for them). */
static size_t rest(int fd, char *out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 200 && n < cap; i++) {
        ssize_t r = recv(fd, out + n, cap - n, 0);
        if (r > 0)
            n += (size_t)r;
        else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break;
        else if (n > 0)
            break;
        else
            usleep(1000);
    }
    return n;
}

START_TEST(v1_then_command_in_one_segment)
{
    int fds[2];
    tcp_pair(fds);
    static const char in[] = "PROXY TCP4 192.0.2.1 127.0.0.1 40000 21\r\nUSER anonymous\r\n";
    ck_assert_int_eq(send(fds[0], in, sizeof in - 1, 0), (ssize_t)(sizeof in - 1));
    usleep(10000);
    struct proxy_parser p;
    struct proxy_header h;
    proxy_parser_init(&p, PROXY_ACCEPT_ANY);
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_OK);
    ck_assert(h.has_addresses);
    ck_assert_int_eq(sockaddr_port(&h.src), 40000);
    char after[64];
    size_t n = rest(fds[1], after, sizeof after);
    ck_assert_uint_eq(n, 16);
    ck_assert(memcmp(after, "USER anonymous\r\n", 16) == 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(v2_in_pieces_then_tls_bytes)
{
    int fds[2];
    tcp_pair(fds);
    static const char hdr[] = V2_SIG "\x21\x11\x00\x0c"
                                     "\xc0\x00\x02\x01\x7f\x00\x00\x01\x9c\x40\x00\x15";
    static const char hello[] = "\x16\x03\x01\x00\x05hello";
    struct proxy_parser p;
    struct proxy_header h;
    proxy_parser_init(&p, PROXY_ACCEPT_V2);
    /* Nothing yet, then 5 bytes, then the rest with what follows. */
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_AGAIN);
    ck_assert_int_eq(send(fds[0], hdr, 5, 0), 5);
    usleep(10000);
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_AGAIN);
    /* The 5 bytes were taken: the fd is not left readable (no busy loop). */
    char probe;
    ck_assert_int_eq(recv(fds[1], &probe, 1, MSG_PEEK | MSG_DONTWAIT), -1);
    char more[sizeof hdr - 1 - 5 + sizeof hello - 1];
    memcpy(more, hdr + 5, sizeof hdr - 1 - 5);
    memcpy(more + sizeof hdr - 1 - 5, hello, sizeof hello - 1);
    ck_assert_int_eq(send(fds[0], more, sizeof more, 0), (ssize_t)sizeof more);
    usleep(10000);
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_OK);
    ck_assert_int_eq(sockaddr_port(&h.src), 40000);
    char after[64];
    ck_assert_uint_eq(rest(fds[1], after, sizeof after), sizeof hello - 1);
    ck_assert(memcmp(after, hello, sizeof hello - 1) == 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(bad_header_and_early_close)
{
    int fds[2];
    tcp_pair(fds);
    struct proxy_parser p;
    struct proxy_header h;
    proxy_parser_init(&p, PROXY_ACCEPT_ANY);
    ck_assert_int_eq(send(fds[0], "USER x\r\n", 8, 0), 8);
    usleep(10000);
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_ERR);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_ptr_nonnull(p.error);
    close(fds[0]);
    close(fds[1]);

    tcp_pair(fds);
    proxy_parser_init(&p, PROXY_ACCEPT_ANY);
    ck_assert_int_eq(send(fds[0], "PROXY TCP4 ", 11, 0), 11);
    close(fds[0]);
    usleep(10000);
    /* The 11 bytes are taken first; the end is seen on the next call (the
     * fd stays readable for it). */
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_AGAIN);
    ck_assert_int_eq(proxy_read(fds[1], &p, &h), STREAM_EOF);
    close(fds[1]);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("proxy_read");
    TCase *tc = tcase_create("socket");
    tcase_add_test(tc, v1_then_command_in_one_segment);
    tcase_add_test(tc, v2_in_pieces_then_tls_bytes);
    tcase_add_test(tc, bad_header_and_early_close);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

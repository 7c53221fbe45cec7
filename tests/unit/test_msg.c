/* Message framing (ftpd/msg.h): partial reads, several messages per read,
 * oversize, descriptors passed and never leaked, EOF inside a message. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftpd/msg.h"
#include "unit.h"

static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Number of open descriptors of this process. */
static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fd_is_open(fd);
    return n;
}

/* The bytes msg_send would write, captured from one end of a pair. */
static size_t encode(uint16_t type, const void *p, size_t len, unsigned char *out, size_t cap)
{
    int sv[2];
    pair(sv);
    ck_assert_int_eq(msg_send(sv[0], type, p, len, NULL, 0), 0);
    ssize_t n = read(sv[1], out, cap);
    ck_assert_int_eq(n, (ssize_t)(MSG_HEADER_LEN + len));
    close(sv[0]);
    close(sv[1]);
    return (size_t)n;
}

START_TEST(byte_by_byte)
{
    unsigned char wire[64];
    size_t n = encode(MSG_CH_COUNTERS, "hello", 5, wire, sizeof wire);
    int sv[2];
    pair(sv);
    struct msg_reader r;
    msg_reader_init(&r, 0);
    struct msg m;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_AGAIN);
        ck_assert_int_eq(write(sv[0], wire + i, 1), 1);
    }
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_CH_COUNTERS);
    ck_assert_uint_eq(m.len, 5);
    ck_assert_mem_eq(m.payload, "hello", 5);
    ck_assert_int_eq(m.nfds, 0);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_AGAIN);
    close(sv[0]);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_EOF);
    msg_reader_free(&r);
    close(sv[1]);
}
END_TEST

START_TEST(several_in_one_read)
{
    int sv[2];
    pair(sv);
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_READY, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_REPORT, "ab", 2, NULL, 0), 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_CTL_STATUS, "xyz", 3, NULL, 0), 0);
    close(sv[0]);
    struct msg_reader r;
    msg_reader_init(&r, 0);
    struct msg m;
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_CH_READY);
    ck_assert_uint_eq(m.len, 0);
    /* All three came in with the first read: nothing is left in the socket. */
    char probe;
    ck_assert_int_eq(recv(sv[1], &probe, 1, MSG_PEEK | MSG_DONTWAIT), 0);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_CH_REPORT);
    ck_assert_mem_eq(m.payload, "ab", 2);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_CTL_STATUS);
    ck_assert_mem_eq(m.payload, "xyz", 3);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_EOF);
    msg_reader_free(&r);
    close(sv[1]);
}
END_TEST

START_TEST(large_payload_across_reads)
{
    /* Bigger than a socket buffer: the sender waits, the reader grows. */
    static unsigned char big[600 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7);
    int sv[2];
    pair(sv);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(sv[1]);
        _exit(msg_send(sv[0], MSG_CTL_STATUS_REPLY, big, sizeof big, NULL, 0) == 0 ? 0 : 1);
    }
    close(sv[0]);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, 0), 0); /* blocking: reads wait */
    struct msg_reader r;
    msg_reader_init(&r, 0);
    struct msg m;
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.len, sizeof big);
    ck_assert_mem_eq(m.payload, big, sizeof big);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_EOF);
    msg_reader_free(&r);
    close(sv[1]);
}
END_TEST

START_TEST(oversize_rejected)
{
    int sv[2];
    pair(sv);
    struct msg_reader r;
    msg_reader_init(&r, 16);
    char payload[17] = {0};
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_COUNTERS, payload, 16, NULL, 0), 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_COUNTERS, payload, 17, NULL, 0), 0);
    struct msg m;
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.len, 16);
    errno = 0;
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_ERR);
    ck_assert_int_eq(errno, EMSGSIZE);
    /* Sticky: the stream is out of step. */
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_ERR);
    ck_assert_int_eq(errno, EMSGSIZE);
    msg_reader_free(&r);

    /* An announced length is refused from the header alone, before any
     * buffer of that size is allocated. */
    unsigned char header[MSG_HEADER_LEN] = {0x7f, 0xff, 0xff, 0xff, 0x01, 0x01, 0, 0};
    int sv2[2];
    pair(sv2);
    msg_reader_init(&r, 0);
    ck_assert_int_eq(write(sv2[0], header, sizeof header), (ssize_t)sizeof header);
    ck_assert_int_eq(msg_read(&r, sv2[1], &m), MSG_ERR);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_uint_lt(r.cap, 64 * 1024);
    msg_reader_free(&r);

    /* The sender refuses what it could not frame. */
    int fds[MSG_MAX_FDS + 1] = {0};
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_READY, NULL, 0, fds, MSG_MAX_FDS + 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    for (int i = 0; i < 2; i++) {
        close(sv[i]);
        close(sv2[i]);
    }
}
END_TEST

START_TEST(descriptors_passed)
{
    int before = open_fds();
    int sv[2];
    pair(sv);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    /* Two messages with descriptors and one without, read in one go. */
    ck_assert_int_eq(msg_send(sv[0], MSG_HO_SESSION, "rec", 3, p, 2), 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_READY, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_HO_SESSION, "r2", 2, &p[1], 1), 0);
    close(p[0]);
    close(p[1]);
    struct msg_reader r;
    msg_reader_init(&r, 0);
    struct msg m;
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_HO_SESSION);
    ck_assert_int_eq(m.nfds, 2);
    ck_assert_int_ne(fcntl(m.fds[0], F_GETFD) & FD_CLOEXEC, 0);
    int rd = m.fds[0], wr = m.fds[1];
    ck_assert_int_eq(write(wr, "!", 1), 1);
    char c = 0;
    ck_assert_int_eq(read(rd, &c, 1), 1);
    ck_assert_int_eq(c, '!');
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_CH_READY);
    ck_assert_int_eq(m.nfds, 0);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_int_eq(m.nfds, 1);
    ck_assert_int_eq(write(m.fds[0], "?", 1), 1);
    ck_assert_int_eq(read(rd, &c, 1), 1);
    ck_assert_int_eq(c, '?');
    msg_close_fds(&m);
    close(rd);
    close(wr);
    msg_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
    ck_assert_int_eq(open_fds(), before);
}
END_TEST

START_TEST(descriptors_closed_on_errors)
{
    int before = open_fds();
    int p[2];
    ck_assert_int_eq(pipe(p), 0);

    /* EOF inside a message that carried descriptors. */
    int sv[2];
    pair(sv);
    unsigned char wire[64];
    size_t n = encode(MSG_HO_SESSION, "record", 6, wire, sizeof wire);
    wire[6] = 2; /* the header announces the two descriptors sent with it */
    struct iovec iov = {.iov_base = wire, .iov_len = n - 3};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 2)];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * 2);
    memcpy(CMSG_DATA(cm), p, sizeof(int) * 2);
    ck_assert_int_eq(sendmsg(sv[0], &mh, 0), (ssize_t)(n - 3));
    close(sv[0]);
    struct msg_reader r;
    msg_reader_init(&r, 0);
    struct msg m;
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_ERR);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(r.nfds, 0);
    msg_reader_free(&r);
    close(sv[1]);

    /* A header announcing more descriptors than came. */
    pair(sv);
    msg_reader_init(&r, 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_HO_SESSION, "x", 1, p, 1), 0);
    n = encode(MSG_HO_SESSION, "y", 1, wire, sizeof wire);
    wire[6] = 2;
    ck_assert_int_eq(write(sv[0], wire, n), (ssize_t)n);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_int_eq(m.nfds, 1);
    msg_close_fds(&m);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_ERR);
    ck_assert_int_eq(errno, EPROTO);
    msg_reader_free(&r);
    close(sv[0]);
    close(sv[1]);

    /* Descriptors received but not yet handed out when the reader goes. */
    pair(sv);
    msg_reader_init(&r, 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_READY, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(msg_send(sv[0], MSG_HO_SESSION, "x", 1, p, 2), 0);
    ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_OK);
    ck_assert_uint_eq(m.type, MSG_CH_READY);
    ck_assert_int_eq(r.nfds, 2); /* read with the first message, held */
    msg_reader_free(&r);
    close(sv[0]);
    close(sv[1]);

    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(open_fds(), before);
}
END_TEST

START_TEST(eof_mid_message)
{
    unsigned char wire[64];
    size_t n = encode(MSG_CH_COUNTERS, "0123456789", 10, wire, sizeof wire);
    for (size_t cut = 1; cut < n; cut += 3) {
        int sv[2];
        pair(sv);
        ck_assert_int_eq(write(sv[0], wire, cut), (ssize_t)cut);
        close(sv[0]);
        struct msg_reader r;
        msg_reader_init(&r, 0);
        struct msg m;
        ck_assert_int_eq(msg_read(&r, sv[1], &m), MSG_ERR);
        ck_assert_int_eq(errno, EPROTO);
        msg_reader_free(&r);
        close(sv[1]);
    }
}
END_TEST

START_TEST(send_to_closed_peer)
{
    int sv[2];
    pair(sv);
    close(sv[1]);
    ck_assert_int_eq(msg_send(sv[0], MSG_CH_READY, NULL, 0, NULL, 0), -1);
    ck_assert_int_eq(errno, EPIPE); /* and no SIGPIPE killed the test */
    close(sv[0]);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, several_in_one_read);
    tcase_add_test(tc, large_payload_across_reads);
    tcase_add_test(tc, oversize_rejected);
    tcase_add_test(tc, descriptors_passed);
    tcase_add_test(tc, descriptors_closed_on_errors);
    tcase_add_test(tc, eof_mid_message);
    tcase_add_test(tc, send_to_closed_peer);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

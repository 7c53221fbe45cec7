#include "bench/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2+; older headers lack it */
#endif

int sock_connect(const union sockaddr_any *to, const union sockaddr_any *from, int rcvbuf,
                 bool nodelay)
{
    int saved, one = 1;
    int fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        goto fail;
    /* Nagle's algorithm would hold a slow client's next trickled byte until
     * the previous one is acknowledged, merging bytes the scenario means to
     * send one by one. Stock clients (curl) set TCP_NODELAY too. Data
     * connections, which the client only reads, skip the syscall: the
     * client's CPU is half of what a loopback benchmark has. */
    if (nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        goto fail;
    if (from != NULL) {
        /* Special problem: ephemeral ports in benchmarks. A bind() with
         * port 0 reserves a port for the address alone, so a source address
         * would be good for ~28000 connections in all (TIME_WAIT included)
         * whatever the destination. IP_BIND_ADDRESS_NO_PORT defers the
         * choice to connect(), which may reuse a port towards another
         * destination port (each PASV port is one): the 4-tuple is what
         * must be unique. Failure of the option only costs that reuse. */
        if (from->sa.sa_family == AF_INET)
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, &from->sa, sockaddr_len(from)) < 0)
            goto fail;
    }
    /* EINTR: the connect goes on in the background, as with EINPROGRESS. */
    if (connect(fd, &to->sa, sockaddr_len(to)) == 0 || errno == EINPROGRESS || errno == EINTR)
        return fd;
fail:
    saved = errno;
    sock_close(fd);
    errno = saved;
    return -1;
}

enum io_status sock_discard(int fd, void *buf, size_t cap, size_t *n)
{
    *n = 0;
    for (;;) {
        /* MSG_TRUNC on a TCP socket (Linux 2.4+, tcp(7)) drops the bytes in
         * the kernel instead of copying them out: the client's CPU stays
         * out of a throughput measurement it would otherwise share. */
        ssize_t r = recv(fd, buf, cap, MSG_TRUNC);
        if (r > 0) {
            *n = (size_t)r;
            return IO_OK;
        }
        if (r == 0)
            return IO_EOF;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
    }
}

void sock_close(int fd)
{
    /* Nothing useful follows a failed close of a socket: on Linux the
     * descriptor is released even on EINTR, so it is never retried. */
    (void)close(fd);
}

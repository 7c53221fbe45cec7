/* The syscall wrapper layer for sockets (nginx's ngx_recv.c habit): EINTR is
 * retried here and EAGAIN becomes IO_AGAIN here, so no caller scatters errno
 * checks around. */
#include "ftpd/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/log.h"

int net_set_nonblock(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    int want = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    if (want == flags)
        return 0;
    return fcntl(fd, F_SETFL, want);
}

int net_accept(int lfd, union sockaddr_any *peer, bool nonblock)
{
    int flags = SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    for (;;) {
        socklen_t len = sizeof *peer;
        int fd = accept4(lfd, &peer->sa, &len, flags);
        if (fd >= 0)
            return fd;
        /* Special problem: ECONNABORTED is a client that connected and reset
         * before we got to it; it says nothing about the listener, so take
         * the next one (EAGAIN ends the loop on a non-blocking listener). */
        if (errno != EINTR && errno != ECONNABORTED)
            return -1;
    }
}

enum io_status net_read(int fd, void *p, size_t cap, size_t *n)
{
    *n = 0;
    for (;;) {
        ssize_t r = read(fd, p, cap);
        if (r > 0) {
            *n = (size_t)r;
            return IO_OK;
        }
        if (r == 0)
            return cap == 0 ? IO_OK : IO_EOF;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
    }
}

enum io_status net_write(int fd, const void *p, size_t len, size_t *n)
{
    *n = 0;
    bool is_socket = true;
    for (;;) {
        /* Special problem: SIGPIPE. A write to a connection the peer closed
         * raises SIGPIPE, which kills the process by default. MSG_NOSIGNAL
         * turns it into a plain EPIPE (main ignores SIGPIPE as well; this
         * keeps the wrapper safe on its own). Pipes (tests) are not sockets:
         * send() fails with ENOTSOCK and write() takes over. */
        ssize_t r = is_socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (r >= 0) {
            *n = (size_t)r;
            return IO_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == ENOTSOCK && is_socket) {
            is_socket = false;
            continue;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
    }
}

int net_pwrite_all(int fd, const void *p, size_t len, uint64_t *off)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = pwrite(fd, c, len, (off_t)*off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ENOSPC;
            return -1;
        }
        c += n;
        len -= (size_t)n;
        *off += (uint64_t)n;
    }
    return 0;
}

bool net_peer_hung_up(int fd)
{
    char byte;
    ssize_t r;
    do {
        r = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return true;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && net_errno_is_peer(errno);
}

bool net_errno_is_peer(int err)
{
    switch (err) {
    case EPIPE:
    case ECONNRESET:
    case ECONNABORTED:
    case ENOTCONN:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
        return true;
    default:
        return false;
    }
}

void net_control_socket(int fd)
{
    int on = 1;
    /* Telnet "urgent" bytes (IAC DM sent with ABOR) stay in the stream,
     * where the line framing drops them. */
    if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on) < 0)
        log_debug("SO_OOBINLINE: %s", strerror(errno));
    /* Special problem: Nagle. A reply batch is written at once, but the 226
     * after a 150 is a second small segment while the 150 is unacknowledged;
     * Nagle holds it until the client's delayed ACK (~40 ms), which capped
     * every transfer at ~22 per second per client. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        log_debug("TCP_NODELAY: %s", strerror(errno));
}

/* Reading a PROXY header off a socket: see ftpd/proxy_read.h.
 *
 * Peek, parse, then consume what the parser took. A v1 header has no
 * length field: only the CRLF ends it, so reading ahead into a buffer
 * would swallow the client's first command or its TLS ClientHello. With
 * MSG_PEEK the bytes after the header never leave the socket. Every byte
 * the parser took is consumed at once, so a header that arrives in pieces
 * leaves nothing behind to make the fd readable again (no busy loop). */
#include "ftpd/proxy_read.h"

#include <errno.h>
#include <sys/socket.h>

/* Peeked at a time: a whole v1 line, and v2 with short TLVs; longer v2
 * blocks are taken in several rounds. */
#define PEEK_MAX 256

/* Drop n bytes known to be waiting in the socket. */
static int consume(int fd, size_t n)
{
    uint8_t sink[PEEK_MAX];
    while (n > 0) {
        ssize_t r = recv(fd, sink, n, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) /* cannot happen: they were peeked */
            errno = EIO;
        if (r <= 0)
            return -1;
        n -= (size_t)r;
    }
    return 0;
}

enum stream_status proxy_read(int fd, struct proxy_parser *p, struct proxy_header *out)
{
    for (;;) {
        uint8_t peek[PEEK_MAX];
        ssize_t r = recv(fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? STREAM_AGAIN : STREAM_ERR;
        if (r == 0)
            return STREAM_EOF;
        size_t used;
        enum proxy_status st = proxy_parse(p, peek, (size_t)r, &used, out);
        if (st == PROXY_BAD) {
            errno = EPROTO;
            return STREAM_ERR;
        }
        if (consume(fd, used) < 0)
            return STREAM_ERR;
        if (st == PROXY_DONE)
            return STREAM_OK;
        if ((size_t)r < sizeof peek)
            return STREAM_AGAIN; /* all there was is taken: wait for more */
    }
}

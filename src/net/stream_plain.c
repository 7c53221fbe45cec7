/* The plain TCP stream: each op is one wrapper call (io.c) or one
 * sendfile(2), so a plain stream costs an indirect call and nothing else. */
#include "ftpd/stream.h"

#include <errno.h>
#include <sys/sendfile.h>

#include "ftpd/net.h"

static enum stream_status from_io(enum io_status st)
{
    switch (st) {
    case IO_OK:
        return STREAM_OK;
    case IO_AGAIN:
        return STREAM_AGAIN;
    case IO_EOF:
        return STREAM_EOF;
    case IO_ERR:
        break;
    }
    return STREAM_ERR;
}

static enum stream_status plain_read(struct stream *s, void *p, size_t cap, size_t *n)
{
    return from_io(net_read(s->fd, p, cap, n));
}

static enum stream_status plain_write(struct stream *s, const void *p, size_t len, size_t *n)
{
    /* net_write sends with MSG_NOSIGNAL: a closed peer is EPIPE. */
    return from_io(net_write(s->fd, p, len, n));
}

static enum stream_status plain_sendfile(struct stream *s, int file_fd, uint64_t *off, size_t len,
                                         size_t *n)
{
    *n = 0;
    for (;;) {
        off_t o = (off_t)*off;
        /* Special problem: SIGPIPE. sendfile has no MSG_NOSIGNAL; a client
         * that closed early raises SIGPIPE, which main() ignores process-
         * wide, so we get EPIPE here. Short counts are normal (the socket
         * buffer filled); 0 for len > 0 is the end of the file. */
        ssize_t r = sendfile(s->fd, file_fd, &o, len);
        if (r >= 0) {
            *off = (uint64_t)o;
            *n = (size_t)r;
            return STREAM_OK;
        }
        if (errno == EINTR)
            continue;
        /* EINVAL / ENOSYS (a file sendfile cannot read) stay in errno: the
         * caller falls back to pread + write. */
        return errno == EAGAIN || errno == EWOULDBLOCK ? STREAM_AGAIN : STREAM_ERR;
    }
}

static size_t plain_pending(const struct stream *s)
{
    return 0;
}

static bool plain_raw_bytes(const struct stream *s)
{
    return true;
}

static enum stream_status plain_shutdown(struct stream *s)
{
    return STREAM_OK;
}

static void plain_release(struct stream *s)
{
}

static const struct stream_ops plain_ops = {
    .name = "tcp",
    .read = plain_read,
    .write = plain_write,
    .sendfile = plain_sendfile,
    .pending = plain_pending,
    .raw_bytes = plain_raw_bytes,
    .shutdown = plain_shutdown,
    .release = plain_release,
};

void stream_plain(struct stream *s, int fd)
{
    *s = (struct stream){.ops = &plain_ops, .fd = fd, .ctx = NULL};
}

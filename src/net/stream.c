/* What every stream shares on top of its ops: readiness, write-all with a
 * timeout, close and detach. */
#include "ftpd/stream.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/clock.h"
#include "ftpd/log.h"

short stream_poll_events(enum stream_status st, short dir)
{
    switch (st) {
    case STREAM_OK:
    case STREAM_AGAIN:
        return dir;
    case STREAM_WANT_READ:
        return POLLIN;
    case STREAM_WANT_WRITE:
        return POLLOUT;
    case STREAM_EOF:
    case STREAM_ERR:
        break;
    }
    return 0;
}

enum stream_status stream_write_all(struct stream *s, const void *p, size_t len, int timeout_ms)
{
    const char *c = p;
    int64_t last_progress = clock_ms();
    while (len > 0) {
        size_t n;
        enum stream_status st = stream_write(s, c, len, &n);
        if (st == STREAM_ERR)
            return STREAM_ERR;
        if (st == STREAM_EOF) {
            errno = EPIPE; /* not a write result; never mistake it for progress */
            return STREAM_ERR;
        }
        if (st == STREAM_OK && n > 0) {
            /* Special problem: short writes. A socket takes what fits in its
             * buffer; keep the rest for the next round. */
            c += n;
            len -= n;
            last_progress = clock_ms();
            continue;
        }
        /* AGAIN: the buffer is full, wait for room; WANT_*: wait for what
         * the stream needs first. The timeout counts time without
         * progress, so a slow but moving peer is fine. */
        int wait_ms = -1;
        if (timeout_ms >= 0) {
            int64_t left = last_progress + timeout_ms - clock_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return STREAM_ERR;
            }
            wait_ms = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd pfd = {.fd = s->fd, .events = stream_poll_events(st, POLLOUT)};
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
            return STREAM_ERR;
        /* Ready, timed out (checked on the next round), EINTR, or POLLERR /
         * POLLHUP, which the next write turns into its errno. */
    }
    return STREAM_OK;
}

enum stream_status stream_shutdown_wait(struct stream *s, int timeout_ms)
{
    int64_t deadline = clock_ms() + timeout_ms;
    for (;;) {
        enum stream_status st = stream_shutdown(s);
        short events = st == STREAM_WANT_READ ? POLLIN : st == STREAM_WANT_WRITE ? POLLOUT : 0;
        if (events == 0)
            return STREAM_OK;
        int64_t left = deadline - clock_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return STREAM_ERR;
        }
        struct pollfd pfd = {.fd = s->fd, .events = events};
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return STREAM_ERR;
    }
}

void stream_close(struct stream *s)
{
    if (s->ops == NULL || s->fd < 0)
        return;
    /* One try: a TLS close_notify that does not fit now is not worth a
     * wait; the peer sees the TCP close either way. */
    (void)s->ops->shutdown(s);
    s->ops->release(s);
    s->ctx = NULL;
    /* close() is not retried on EINTR: on Linux the fd is gone anyway. */
    if (close(s->fd) < 0)
        log_debug("close (%s stream): %s", s->ops->name, strerror(errno));
    s->fd = -1;
}

int stream_detach(struct stream *s)
{
    int fd = s->fd;
    if (s->ops != NULL && fd >= 0)
        s->ops->release(s);
    s->ctx = NULL;
    s->fd = -1;
    return fd;
}

/* Streams: every control and data byte passes through one of these, in both
 * transfer engines and both connection loops. Plain TCP is the first
 * implementation (net/stream_plain.c); TLS will be the second, with no
 * change to the callers.
 *
 * Results:
 *   STREAM_OK          *n bytes moved (n > 0, or 0 for a 0-byte request)
 *   STREAM_AGAIN       nothing moved: wait until the fd is ready in the
 *                      call's own direction (readable for read, writable
 *                      for write and sendfile)
 *   STREAM_WANT_READ   nothing moved: wait until the fd is readable, even
 *                      for a write (TLS renegotiation, a handshake step)
 *   STREAM_WANT_WRITE  nothing moved: wait until the fd is writable, even
 *                      for a read
 *   STREAM_EOF         the peer closed its side (read only)
 *   STREAM_ERR         failed; errno says why (EPIPE, ECONNRESET, ...)
 * EINTR is retried inside; a caller never sees it.
 *
 * Readiness: a stream may hold bytes already read from the socket that
 * poll/epoll cannot see (TLS records decrypted ahead). Before waiting for
 * readability, a caller checks stream_pending(); when it is non-zero it
 * reads again at once instead of waiting. */
#ifndef FTPD_STREAM_H
#define FTPD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stream_status {
    STREAM_OK,
    STREAM_AGAIN,
    STREAM_WANT_READ,
    STREAM_WANT_WRITE,
    STREAM_EOF,
    STREAM_ERR,
};

struct stream;

struct stream_ops {
    const char *name; /* "tcp", "tls": for log lines */
    enum stream_status (*read)(struct stream *s, void *p, size_t cap, size_t *n);
    enum stream_status (*write)(struct stream *s, const void *p, size_t len, size_t *n);
    /* Send up to len bytes of file_fd from *off (advanced by what was sent)
     * without a copy where the stream can. STREAM_OK with *n == 0 for
     * len > 0: the file ended before *off + len. STREAM_ERR with errno
     * EINVAL or ENOSYS means "this file or stream cannot do it": the caller
     * falls back to pread + write, nothing was sent by this call. */
    enum stream_status (*sendfile)(struct stream *s, int file_fd, uint64_t *off, size_t len,
                                   size_t *n);
    /* Bytes readable now without the fd being readable. */
    size_t (*pending)(const struct stream *s);
    /* The stream's bytes are the socket's bytes (plain TCP): a receiver may
     * splice(2) them straight from s->fd. NULL or false: read them through
     * read() (TLS decrypts). */
    bool (*raw_bytes)(const struct stream *s);
    /* Orderly end of the stream before close (TLS close_notify); plain TCP
     * has nothing to say. STREAM_OK when done, AGAIN/WANT_* to call again. */
    enum stream_status (*shutdown)(struct stream *s);
    /* Release the implementation's state (not the fd). */
    void (*release)(struct stream *s);
    /* Finish what the stream must do before its first byte (TLS: the
     * handshake, and a data connection's binding check). STREAM_OK when
     * ready, WANT_* to call again, ERR. NULL: nothing to do (TCP). The
     * first read or write would do it too; a transfer engine calls it
     * first so that a transfer of 0 bytes completes the handshake. */
    enum stream_status (*handshake)(struct stream *s);
};

/* Held by value in a connection or a transfer engine: a plain stream costs
 * no allocation. */
struct stream {
    const struct stream_ops *ops;
    int fd;    /* the socket; -1 once closed */
    void *ctx; /* the implementation's state (TLS: its SSL); NULL for TCP */
};

/* A plain TCP stream over fd (which it now owns). */
void stream_plain(struct stream *s, int fd);

static inline enum stream_status stream_read(struct stream *s, void *p, size_t cap, size_t *n)
{
    return s->ops->read(s, p, cap, n);
}

static inline enum stream_status stream_write(struct stream *s, const void *p, size_t len,
                                              size_t *n)
{
    return s->ops->write(s, p, len, n);
}

static inline enum stream_status stream_sendfile(struct stream *s, int file_fd, uint64_t *off,
                                                 size_t len, size_t *n)
{
    return s->ops->sendfile(s, file_fd, off, len, n);
}

static inline size_t stream_pending(const struct stream *s)
{
    return s->ops->pending(s);
}

static inline enum stream_status stream_handshake(struct stream *s)
{
    return s->ops->handshake != NULL ? s->ops->handshake(s) : STREAM_OK;
}

static inline bool stream_raw_bytes(const struct stream *s)
{
    return s->ops->raw_bytes != NULL && s->ops->raw_bytes(s);
}

/* poll() events to wait for after a result st of a call whose own direction
 * is `dir` (POLLIN for reads, POLLOUT for writes): OK and AGAIN wait in dir,
 * WANT_READ for POLLIN, WANT_WRITE for POLLOUT; EOF and ERR give 0 (there
 * is nothing to wait for). */
short stream_poll_events(enum stream_status st, short dir);

/* Write all of p, waiting (poll) up to timeout_ms without progress; for
 * the blocking loop and for short best-effort replies. STREAM_OK, or
 * STREAM_ERR (errno ETIMEDOUT, EPIPE, ...). */
enum stream_status stream_write_all(struct stream *s, const void *p, size_t len, int timeout_ms);

/* Orderly shutdown (best effort, never blocks), release, close the fd. Safe
 * to call twice, and on a stream that was detached or never made (ops NULL
 * or fd -1). */
void stream_close(struct stream *s);

/* Give up the fd without closing it (a descriptor handed to another
 * process): release the state, return the fd. */
int stream_detach(struct stream *s);

#endif

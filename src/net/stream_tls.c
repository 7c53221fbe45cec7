/* The TLS stream (OpenSSL 3 over the socket fd), and how a data connection
 * is bound to its control connection.
 *
 * Data-channel binding (tls_require_reuse, vsftpd's require_ssl_reuse):
 * a PROT P data connection must resume the TLS session of its own control
 * connection, so that a third party who guessed or sniffed the passive
 * port cannot take the transfer: it would need that session's secret.
 *   - Each control connection draws a random 16-byte binding id when it is
 *     wrapped. It becomes the SSL's session id context, so every session
 *     the control connection creates records it (sid_ctx is part of the
 *     session, and of every ticket made from it).
 *   - The ticket callbacks: a ticket issued on the control connection also
 *     carries the id as ticket application data
 *     (SSL_SESSION_set1_ticket_appdata in the generate callback). On a
 *     data connection, the decrypt callback uses a ticket only if its
 *     application data is that data connection's control id; another
 *     session's ticket is ignored (a full handshake follows, then 522).
 *     On a control connection every ticket is ignored (a full handshake
 *     with a fresh session for the new id), so a ticket from an earlier
 *     control connection can never stand for this one.
 *   - The data SSL gets the control's id as its session id context too:
 *     OpenSSL then resumes from its server cache (TLS 1.2 clients that
 *     resume by session id) only a session created under that id.
 *   - After the data handshake: the session must be resumed and carry the
 *     control's id (its sid_ctx), else the stream refuses: STREAM_ERR,
 *     errno EKEYREJECTED, and xfer_data_result() makes the reply 522.
 *     No data byte is read or written before that check.
 * Both TLS 1.2 and TLS 1.3 work this way. In TLS 1.3 the ticket arrives
 * after the handshake, so a client has it once it has read a reply on the
 * secured control connection. A TLS 1.3 client uses a ticket once (OpenSSL
 * marks a resumed session not resumable), so a data connection that sends
 * (RETR, listings) issues one fresh ticket, carrying the same control id,
 * for the next transfer: curl takes it and resumes with it. A data
 * connection that receives (STOR) issues none: a client that only writes
 * never reads it, and closing with it unread would reset the connection
 * under the last bytes of the upload. Each data connection also queues a
 * fresh ticket on its control connection (tls_wrap_data), which goes out
 * with the next reply: every client reads those. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/tls.h"
#include "tls_impl.h"

/* RETR without kernel TLS: bytes read from the file per round, written
 * with one SSL_write as four full 16 KiB records. */
#define TLS_COPY_CHUNK (4 * 16384)

static const struct stream_ops tls_ops;

static struct tls_conn *conn_of(const struct stream *s)
{
    return s->ctx;
}

bool stream_is_tls(const struct stream *s)
{
    return s->ops == &tls_ops;
}

/* The OpenSSL reason of a failure, for a debug line. */
static void log_ssl_error(const char *what)
{
    unsigned long e = ERR_get_error();
    if (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        log_debug("TLS %s: %s", what, buf);
    }
    ERR_clear_error();
}

/* An SSL_* call returned failure r: what the caller sees. errno says why
 * on STREAM_ERR. */
static enum stream_status from_ssl(struct tls_conn *t, int r, const char *what)
{
    int saved = errno;
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return STREAM_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return STREAM_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return STREAM_EOF; /* close_notify: the orderly end */
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        errno = saved != 0 ? saved : ECONNRESET;
        return STREAM_ERR;
    default: {
        unsigned long e = ERR_peek_error();
        log_ssl_error(what);
        /* The peer closed the TCP connection without close_notify: a
         * truncation attack or a crash, never a clean end. */
        errno = ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING ? ECONNRESET : EPROTO;
        return STREAM_ERR;
    }
    }
}

/* ---- binding (see the top of this file) --------------------------------- */

int tls_ticket_gen_cb(SSL *ssl, void *arg)
{
    struct tls_conn *t = SSL_get_app_data(ssl);
    if (t == NULL)
        return 1;
    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), t->id, sizeof t->id);
}

SSL_TICKET_RETURN tls_ticket_dec_cb(SSL *ssl, SSL_SESSION *ss, const unsigned char *keyname,
                                    size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
    struct tls_conn *t = SSL_get_app_data(ssl);
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
        return SSL_TICKET_RETURN_IGNORE_RENEW; /* none, or not ours: full handshake */
    if (t == NULL || !t->data)
        return SSL_TICKET_RETURN_IGNORE_RENEW; /* a control connection starts afresh */
    /* USE_RENEW: a fresh ticket follows the handshake (a sending data
     * connection, SSL_set_num_tickets 1); plain USE would send none. */
    SSL_TICKET_RETURN use =
        SSL_get_num_tickets(ssl) > 0 ? SSL_TICKET_RETURN_USE_RENEW : SSL_TICKET_RETURN_USE;
    if (!t->tc->require_reuse)
        return use;
    void *data;
    size_t len;
    if (SSL_SESSION_get0_ticket_appdata(ss, &data, &len) == 1 && len == sizeof t->id &&
        memcmp(data, t->id, len) == 0)
        return use;
    return SSL_TICKET_RETURN_IGNORE;
}

/* The data handshake is done: did it resume its control's session? */
static bool bound_to_control(const struct tls_conn *t)
{
    if (!t->tc->require_reuse)
        return true;
    if (!SSL_session_reused(t->ssl))
        return false;
    unsigned int len;
    const unsigned char *ctx = SSL_SESSION_get0_id_context(SSL_get0_session(t->ssl), &len);
    return len == sizeof t->id && memcmp(ctx, t->id, len) == 0;
}

enum stream_status tls_handshake(struct stream *s)
{
    if (!stream_is_tls(s))
        return STREAM_OK;
    struct tls_conn *t = conn_of(s);
    if (t->handshake_done)
        return STREAM_OK;
    if (t->refused) {
        errno = EKEYREJECTED;
        return STREAM_ERR;
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        enum stream_status st = from_ssl(t, r, "handshake");
        if (st == STREAM_EOF) {
            errno = ECONNRESET;
            st = STREAM_ERR;
        }
        return st;
    }
    if (t->data && !bound_to_control(t)) {
        t->refused = true;
        log_debug("TLS data connection: %s the control connection's session",
                  SSL_session_reused(t->ssl) ? "resumed a session other than" : "did not resume");
        errno = EKEYREJECTED;
        return STREAM_ERR;
    }
    t->handshake_done = true;
    log_debug("TLS %s handshake done: %s %s%s", t->data ? "data" : "control",
              SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
              SSL_session_reused(t->ssl) ? " (resumed)" : "");
    return STREAM_OK;
}

enum stream_status tls_handshake_blocking(struct stream *s, int timeout_ms)
{
    int64_t deadline = clock_ms() + timeout_ms;
    for (;;) {
        enum stream_status st = tls_handshake(s);
        if (st == STREAM_OK || st == STREAM_ERR)
            return st;
        int64_t left = deadline - clock_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return STREAM_ERR;
        }
        struct pollfd pfd = {.fd = s->fd, .events = stream_poll_events(st, POLLIN)};
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return STREAM_ERR;
    }
}

enum xfer_result xfer_data_result(const struct stream *ds, enum xfer_result res)
{
    if (stream_is_tls(ds) && conn_of(ds) != NULL && conn_of(ds)->refused)
        return XFER_TLS_REFUSED;
    return res;
}

/* ---- the stream ops ---------------------------------------------------- */

static enum stream_status tls_read(struct stream *s, void *p, size_t cap, size_t *n)
{
    struct tls_conn *t = conn_of(s);
    *n = 0;
    enum stream_status st = tls_handshake(s);
    if (st != STREAM_OK)
        return st;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(t->ssl, p, cap, n) == 1)
        return STREAM_OK;
    return from_ssl(t, 0, "read");
}

static enum stream_status tls_write(struct stream *s, const void *p, size_t len, size_t *n)
{
    struct tls_conn *t = conn_of(s);
    *n = 0;
    enum stream_status st = tls_handshake(s);
    if (st != STREAM_OK)
        return st;
    if (len == 0)
        return STREAM_OK;
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(t->ssl, p, len, n) == 1)
        return STREAM_OK;
    st = from_ssl(t, 0, "write");
    if (st == STREAM_EOF) { /* the peer said close_notify: no more writing */
        errno = EPIPE;
        st = STREAM_ERR;
    }
    return st;
}

/* RETR with the kernel's TLS offload: the file's pages go to the socket,
 * encrypted by the kernel. */
static enum stream_status ktls_sendfile(struct tls_conn *t, int file_fd, uint64_t *off, size_t len,
                                        size_t *n)
{
    ERR_clear_error();
    errno = 0;
    ossl_ssize_t r = SSL_sendfile(t->ssl, file_fd, (off_t)*off, len, 0);
    if (r >= 0) {
        *off += (uint64_t)r;
        *n = (size_t)r;
        return STREAM_OK;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return STREAM_AGAIN;
    return from_ssl(t, (int)r, "sendfile");
}

/* RETR without it: pread a chunk, SSL_write it as full records. A chunk
 * written in part (the socket filled) is kept, and its rest written first
 * on the next call, whose *off is where it stopped. */
static enum stream_status copy_sendfile(struct tls_conn *t, int file_fd, uint64_t *off, size_t len,
                                        size_t *n)
{
    if (t->copy == NULL) {
        t->copy = malloc(TLS_COPY_CHUNK);
        if (t->copy == NULL)
            return STREAM_ERR;
    }
    if (t->copy_pos == t->copy_len || t->copy_off != *off) {
        size_t want = len < TLS_COPY_CHUNK ? len : TLS_COPY_CHUNK;
        ssize_t r;
        do
            r = pread(file_fd, t->copy, want, (off_t)*off);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            return STREAM_ERR; /* a local error (errno from pread) */
        t->copy_pos = 0;
        t->copy_len = (size_t)r;
        t->copy_off = *off;
        if (r == 0)
            return STREAM_OK; /* the file ended: *n == 0 */
    }
    size_t chunk = t->copy_len - t->copy_pos;
    if (chunk > len)
        chunk = len;
    ERR_clear_error();
    errno = 0;
    size_t w;
    if (SSL_write_ex(t->ssl, t->copy + t->copy_pos, chunk, &w) != 1) {
        enum stream_status st = from_ssl(t, 0, "write");
        if (st == STREAM_EOF) {
            errno = EPIPE;
            st = STREAM_ERR;
        }
        return st;
    }
    t->copy_pos += w;
    t->copy_off += w;
    *off += w;
    *n = w;
    return STREAM_OK;
}

static enum stream_status tls_sendfile(struct stream *s, int file_fd, uint64_t *off, size_t len,
                                       size_t *n)
{
    struct tls_conn *t = conn_of(s);
    *n = 0;
    enum stream_status st = tls_handshake(s);
    if (st != STREAM_OK)
        return st;
    bool ktls = BIO_get_ktls_send(SSL_get_wbio(t->ssl)) == 1;
    if (!t->path_logged) {
        t->path_logged = true;
        log_debug("TLS RETR: %s", ktls ? "SSL_sendfile (kernel TLS)"
                                       : "pread + SSL_write, 64 KiB chunks (no kernel TLS)");
    }
    if (len == 0)
        return STREAM_OK;
    return ktls ? ktls_sendfile(t, file_fd, off, len, n) : copy_sendfile(t, file_fd, off, len, n);
}

static size_t tls_pending(const struct stream *s)
{
    const struct tls_conn *t = conn_of(s);
    int n = t->handshake_done ? SSL_pending(t->ssl) : 0;
    return n > 0 ? (size_t)n : 0;
}

static bool tls_raw_bytes(const struct stream *s)
{
    return false;
}

/* Our close_notify (once, then a TCP FIN), then the peer's: STREAM_OK when
 * the peer's close_notify or its TCP close has arrived (or the connection
 * failed: there is nothing left to wait for), WANT_READ while it has not.
 * Why wait at all: a client answers our close_notify with its own, and if
 * our socket were closed by then the kernel would answer that with a
 * reset. OpenSSL treats the reset as a fatal error and marks the session
 * not resumable, so the client's next data connection (curl's second file
 * of a command line) would get 522. vsftpd waits for it the same way. */
static enum stream_status tls_shutdown(struct stream *s)
{
    struct tls_conn *t = conn_of(s);
    if (!t->handshake_done)
        return STREAM_OK;
    ERR_clear_error();
    errno = 0;
    int r = SSL_shutdown(t->ssl);
    if (r == 1)
        return STREAM_OK;
    if (r == 0) {
        /* Ours is written; a FIN behind it tells clients that read to
         * end of stream rather than to close_notify. */
        if (!t->fin_sent && shutdown(s->fd, SHUT_WR) < 0)
            return STREAM_OK;
        t->fin_sent = true;
        return STREAM_WANT_READ;
    }
    enum stream_status st = from_ssl(t, r, "shutdown");
    return st == STREAM_WANT_READ || st == STREAM_WANT_WRITE ? st : STREAM_OK;
}

static void tls_release(struct stream *s)
{
    struct tls_conn *t = conn_of(s);
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    free(t->copy);
    free(t);
    s->ctx = NULL;
}

static const struct stream_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .sendfile = tls_sendfile,
    .pending = tls_pending,
    .raw_bytes = tls_raw_bytes,
    .shutdown = tls_shutdown,
    .release = tls_release,
    .handshake = tls_handshake,
};

/* ---- wrapping ------------------------------------------------------------ */

static int wrap(struct stream *s, const struct tls_context *tc, const unsigned char *id, bool data,
                bool data_tickets)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->tc = tc;
    t->data = data;
    t->ssl = SSL_new(tc->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, s->fd) != 1) {
        log_ssl_error("new connection");
        SSL_free(t->ssl);
        free(t);
        errno = ENOMEM;
        return -1;
    }
    if (id != NULL)
        memcpy(t->id, id, sizeof t->id);
    else if (RAND_bytes(t->id, sizeof t->id) != 1) {
        log_ssl_error("random binding id");
        SSL_free(t->ssl);
        free(t);
        errno = EIO;
        return -1;
    }
    SSL_set_app_data(t->ssl, t);
    SSL_set_session_id_context(t->ssl, t->id, sizeof t->id);
    if (data)
        SSL_set_num_tickets(t->ssl, data_tickets ? 1 : 0);
    SSL_set_accept_state(t->ssl);
    s->ops->release(s); /* the plain stream's state (none) */
    s->ops = &tls_ops;
    s->ctx = t;
    return 0;
}

int tls_wrap_control(struct stream *s, const struct tls_context *tc)
{
    return wrap(s, tc, NULL, false, false);
}

int tls_wrap_data(struct stream *s, const struct stream *ctrl, bool tickets)
{
    if (!stream_is_tls(ctrl) || conn_of(ctrl) == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* Special problem: Nagle and TLS records. Each record is one write of
     * 16 KiB + 29 bytes, less than a loopback segment (64 KiB): with Nagle
     * on, every record waits for the ACK of the one before, which the
     * client delays (delayed ACK), and a transfer crawls at a tenth of its
     * speed with both ends idle. sendfile fills whole segments and never
     * meets it. */
    int on = 1;
    if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        log_debug("TCP_NODELAY: %s", strerror(errno));
    const struct tls_conn *c = conn_of(ctrl);
    /* A fresh ticket on the control connection too, sent with its next
     * reply: a client that did not read the one of its last data
     * connection (an upload: curl -T then a download) resumes with it. */
    if (SSL_version(c->ssl) >= TLS1_3_VERSION && SSL_new_session_ticket(c->ssl) != 1)
        log_ssl_error("new control ticket");
    return wrap(s, c->tc, c->id, true, tickets);
}

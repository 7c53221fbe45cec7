/* ftpbench's TLS client: see tls.h. */
#include "bench/tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>

/* OpenSSL reads ahead into a buffer this large: a few records per recv(2)
 * rather than two calls (header, body) per record. The bench shares the
 * CPU with the server it measures, so its own syscalls count. */
#define READ_BUFFER_LEN (64 * 1024)

/* The control connection's sessions (tickets) land in the slot of its
 * client; other connections have no slot and their sessions are dropped. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_app_data(ssl);
    if (slot == NULL)
        return 0; /* not kept: OpenSSL frees it */
    if (*slot != NULL)
        SSL_SESSION_free(*slot);
    *slot = sess; /* 1: the reference is ours now */
    return 1;
}

static void ssl_error(const char *what, char *err, size_t errlen)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, e != 0 ? buf : "failed");
    ERR_clear_error();
}

SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_error("SSL_CTX_new", err, errlen);
        return NULL;
    }
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            ssl_error(ca_file, err, errlen);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    /* A TCP close without close_notify reads as EOF: the transfer's byte
     * count, checked against the size, tells a truncation. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* The client cache calls on_new_session; the sessions are kept per
     * client (the slot), not in OpenSSL's cache. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, READ_BUFFER_LEN);
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

SSL *tls_client_new(SSL_CTX *ctx, int fd, const char *verify_host, SSL_SESSION **slot,
                    SSL_SESSION *resume)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    /* A copy of the session: OpenSSL marks the session of a connection
     * that fails or is freed without a shutdown both ways (a close_notify
     * written to a server that already closed) as not resumable, and the
     * original serves every data connection of the FTP session (servers
     * that issue no ticket on data connections, as ftpd, never give a
     * fresh one). */
    SSL_SESSION *copy = resume != NULL ? SSL_SESSION_dup(resume) : NULL;
    if (SSL_set_fd(ssl, fd) != 1 || (resume != NULL && copy == NULL) ||
        (copy != NULL && SSL_set_session(ssl, copy) != 1)) {
        SSL_SESSION_free(copy);
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    SSL_SESSION_free(copy); /* ssl holds its own reference */
    if (verify_host != NULL) {
        /* An IP literal is checked against the certificate's IP SANs, a
         * name against its DNS names. */
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, verify_host) != 1) {
            ERR_clear_error();
            if (SSL_set1_host(ssl, verify_host) != 1) {
                SSL_free(ssl);
                ERR_clear_error();
                return NULL;
            }
        }
    }
    SSL_set_app_data(ssl, slot);
    SSL_set_connect_state(ssl);
    return ssl;
}

/* After a failed SSL_read or SSL_write (r <= 0). */
static enum io_status failure(SSL *ssl, int r, enum tls_wait *wait)
{
    int saved = errno;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *wait = TLS_WAIT_READ;
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *wait = TLS_WAIT_WRITE;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return IO_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        errno = saved != 0 ? saved : ECONNRESET;
        return IO_ERR;
    default:
        /* An alert, a failed handshake or verification, a bad record. */
        ERR_clear_error();
        errno = EPROTO;
        return IO_ERR;
    }
}

enum io_status tls_read(SSL *ssl, void *buf, size_t cap, size_t *n, enum tls_wait *wait)
{
    *n = 0;
    errno = 0;
    int r = SSL_read(ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0) {
        *n = (size_t)r;
        return IO_OK;
    }
    return failure(ssl, r, wait);
}

enum io_status tls_write(SSL *ssl, const void *buf, size_t len, size_t *n, enum tls_wait *wait)
{
    *n = 0;
    if (len == 0)
        return IO_OK;
    errno = 0;
    int r = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (r > 0) {
        *n = (size_t)r;
        return IO_OK;
    }
    return failure(ssl, r, wait);
}

bool tls_has_pending(SSL *ssl)
{
    return SSL_has_pending(ssl) == 1;
}

void tls_close_notify(SSL *ssl)
{
    if ((SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0)
        (void)SSL_shutdown(ssl); /* 1, or a full socket buffer: no retry */
    ERR_clear_error();
}

void tls_close(SSL *ssl)
{
    SSL_free(ssl);
}

void tls_session_clear(SSL_SESSION **slot)
{
    if (*slot != NULL) {
        SSL_SESSION_free(*slot);
        *slot = NULL;
    }
}

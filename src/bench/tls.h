/* ftpbench's TLS client (--tls): explicit FTPS (AUTH TLS, PBSZ 0, PROT P)
 * over OpenSSL 3, non-blocking. A read or write that cannot go on says
 * which readiness it waits for (TLS_WAIT_READ / TLS_WAIT_WRITE): the caller
 * turns that into a watcher change, never a retry loop.
 *
 * Sessions: the control connection's TLS session is caught by the
 * context's new-session callback (with TLS 1.3 it arrives in a ticket after
 * the handshake, read with the first reply) into the slot the caller gave
 * tls_client_new; every data connection resumes it (SSL_set_session), as
 * servers that bind data to their control session (vsftpd's
 * require_ssl_reuse) demand. A data connection may be given the same slot:
 * a ticket issued on it then serves the next one. */
#ifndef FTPBENCH_TLS_H
#define FTPBENCH_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "ftpd/net.h"

/* What an IO_AGAIN waits for. */
enum tls_wait { TLS_WAIT_READ = 1, TLS_WAIT_WRITE = 2 };

/* A client context: certificates are not verified unless ca_file names the
 * PEM file of the CA to verify them against (benchmarks use self-signed
 * ones). NULL with err filled on failure. */
SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

/* A client connection on the connected (or connecting) socket fd.
 * verify_host: the name or IP literal the certificate must be for (when the
 * context verifies), else NULL. slot: where the sessions the server issues
 * on this connection go (the control connection's), or NULL to ignore
 * them. resume: a session to resume, or NULL. The handshake happens in the
 * first tls_read or tls_write. NULL when out of memory. */
SSL *tls_client_new(SSL_CTX *ctx, int fd, const char *verify_host, SSL_SESSION **slot,
                    SSL_SESSION *resume);

/* Up to cap bytes. IO_OK with *n > 0; IO_AGAIN with *wait; IO_EOF (the
 * peer's close_notify or its TCP close: the byte counts tell a truncation);
 * IO_ERR. */
enum io_status tls_read(SSL *ssl, void *buf, size_t cap, size_t *n, enum tls_wait *wait);
/* All of len bytes or nothing (OpenSSL's default): IO_OK with *n = len;
 * IO_AGAIN with *wait, to be called again with the same buf and len;
 * IO_ERR. */
enum io_status tls_write(SSL *ssl, const void *buf, size_t len, size_t *n, enum tls_wait *wait);
/* Bytes that arrived and are buffered inside OpenSSL: the socket will not
 * signal them again. */
bool tls_has_pending(SSL *ssl);
/* After IO_EOF: answer the server's close_notify with ours (one write, not
 * waited for). Servers that wait for it (vsftpd) otherwise see a TCP close
 * as a failure and drop the session from their cache: the tickets issued
 * on that connection stop resuming. Nothing is sent when the server closed
 * without close_notify (a write would only draw a reset). */
void tls_close_notify(SSL *ssl);
/* Free ssl (the socket stays the caller's; NULL is fine). Nothing is sent:
 * the control connection is closed by the server after 221. */
void tls_close(SSL *ssl);
/* Free a session kept in a slot, and clear the slot. */
void tls_session_clear(SSL_SESSION **slot);

#endif

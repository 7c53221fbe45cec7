/* FTPS: the TLS context and the TLS stream (OpenSSL 3).
 *
 * The context is built once at start from the config (certificate chain,
 * key, versions, ciphers) and read-only afterwards: an SSL_CTX is safe to
 * share between threads, and a forked worker inherits it (with its ticket
 * keys, so any worker accepts a ticket another issued).
 *
 * A TLS stream implements struct stream_ops (ftpd/stream.h) over an SSL on
 * the socket. Its handshake is a stream step: tls_handshake() once, or
 * implicitly on the first read or write, returning WANT_READ / WANT_WRITE
 * like any other step, so the evented loops wait on watchers and the
 * blocking ones on poll (tls_handshake_blocking). */
#ifndef FTPD_TLS_H
#define FTPD_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "ftpd/config.h"
#include "ftpd/stream.h"
#include "ftpd/transfer.h"

struct tls_context;

/* Build the context from cfg (cfg->tls must not be TLS_OFF). NULL with a
 * message in err naming the file (unreadable, not a certificate, a key
 * that does not match it) or the bad setting. */
struct tls_context *tls_context_new(const struct ftpd_config *cfg, char *err, size_t errlen);
void tls_context_free(struct tls_context *tc);

/* Wrap the plain stream s (a control connection, after AUTH TLS's 234 or
 * on an implicit TLS port) in a server-side TLS stream, with a new random
 * binding id its data connections must prove (see stream_tls.c). No I/O.
 * 0, or -1 (errno ENOMEM; s is unchanged). */
int tls_wrap_control(struct stream *s, const struct tls_context *tc);

/* Wrap the data connection s for a PROT P transfer of the control stream
 * ctrl. No I/O. 0, or -1 (s unchanged). */
int tls_wrap_data(struct stream *s, const struct stream *ctrl);

bool stream_is_tls(const struct stream *s);

/* One handshake step: STREAM_OK when the handshake is done (at once for a
 * stream whose handshake is done or that is not TLS), WANT_READ/WANT_WRITE
 * to call again, ERR (logged at debug; errno EPROTO, ECONNRESET, or
 * EKEYREJECTED for a data connection that did not resume its control
 * connection's session). */
enum stream_status tls_handshake(struct stream *s);

/* The handshake to its end, waiting with poll up to timeout_ms in total.
 * STREAM_OK or STREAM_ERR (errno ETIMEDOUT or tls_handshake's). */
enum stream_status tls_handshake_blocking(struct stream *s, int timeout_ms);

/* The data stream refused its peer (no resumption of the control
 * connection's session): the transfer's result is XFER_TLS_REFUSED (522),
 * whatever the engine saw. Otherwise res. */
enum xfer_result xfer_data_result(const struct stream *ds, enum xfer_result res);

#endif

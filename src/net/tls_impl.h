/* Inside the TLS code (tls_context.c, stream_tls.c): the context and the
 * per-connection state. Nothing outside src/net includes this. */
#ifndef FTPD_TLS_IMPL_H
#define FTPD_TLS_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* A control connection's binding id: random, 16 bytes (at most 32 fit in
 * an SSL session id context). */
#define TLS_BIND_ID_LEN 16

struct tls_context {
    SSL_CTX *ctx;
    bool require_reuse;
};

/* The state of one TLS stream (struct stream's ctx). */
struct tls_conn {
    SSL *ssl;
    const struct tls_context *tc;
    /* Control: its own id. Data: the id of its control connection, which
     * the resumed session must carry. */
    unsigned char id[TLS_BIND_ID_LEN];
    bool data;
    bool handshake_done;
    bool refused;     /* data: did not resume its control's session */
    bool path_logged; /* data: the RETR path (kTLS or copy) is logged */
    /* The RETR copy path: file bytes read ahead and not yet written. */
    char *copy;
    size_t copy_pos, copy_len;
    uint64_t copy_off; /* file offset of copy[copy_pos] */
};

/* The session ticket callbacks (stream_tls.c), set on the context. */
int tls_ticket_gen_cb(SSL *ssl, void *arg);
SSL_TICKET_RETURN tls_ticket_dec_cb(SSL *ssl, SSL_SESSION *ss, const unsigned char *keyname,
                                    size_t keyname_len, SSL_TICKET_STATUS status, void *arg);

#endif

/* The TLS context: built once at start from the config, read-only after.
 * Every error names the file or the key it comes from. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509err.h>

#include "ftpd/tls.h"
#include "tls_impl.h"

__attribute__((format(printf, 3, 4))) static struct tls_context *fail(char *err, size_t errlen,
                                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* OpenSSL's own words for the last error, when it has some. */
    unsigned long e = ERR_peek_last_error();
    char why[256] = "";
    if (e != 0)
        ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    if (why[0] != '\0')
        snprintf(err, errlen, "%s (%s)", msg, why);
    else
        snprintf(err, errlen, "%s", msg);
    return NULL;
}

/* The file can be opened for reading: a clear "No such file" or
 * "Permission denied" before OpenSSL's less direct message. */
static int readable(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        fail(err, errlen, "%s '%s': cannot open: %s", key, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

static struct tls_context *load(struct tls_context *tc, const struct ftpd_config *cfg, char *err,
                                size_t errlen)
{
    const char *cert = cfg->tls_cert_file;
    const char *key = cfg->tls_key_file[0] != '\0' ? cfg->tls_key_file : cfg->tls_cert_file;
    const char *key_name = cfg->tls_key_file[0] != '\0' ? "tls_key_file" : "tls_cert_file";
    SSL_CTX *ctx = tc->ctx;
    if (!SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_13 ? TLS1_3_VERSION : TLS1_2_VERSION))
        return fail(err, errlen, "tls_min_version: not supported by this OpenSSL");
    if (!SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers))
        return fail(err, errlen, "tls_ciphers: no usable cipher in '%s'", cfg->tls_ciphers);
    if (readable("tls_cert_file", cert, err, errlen) < 0)
        return NULL;
    if (!SSL_CTX_use_certificate_chain_file(ctx, cert))
        return fail(err, errlen, "tls_cert_file '%s': not a usable PEM certificate chain", cert);
    if (readable(key_name, key, err, errlen) < 0)
        return NULL;
    /* OpenSSL checks the key against the certificate as it loads it. */
    if (!SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return fail(err, errlen, "%s '%s': not a usable PEM private key", key_name, key);
    if (ERR_peek_last_error() != 0 || !SSL_CTX_check_private_key(ctx))
        return fail(err, errlen, "%s '%s' does not match the certificate in tls_cert_file '%s'",
                    key_name, key, cert);
    return tc;
}

struct tls_context *tls_context_new(const struct ftpd_config *cfg, char *err, size_t errlen)
{
    struct tls_context *tc = calloc(1, sizeof *tc);
    if (tc == NULL)
        return fail(err, errlen, "TLS context: %s", strerror(errno));
    tc->require_reuse = cfg->tls_require_reuse;
    tc->ctx = SSL_CTX_new(TLS_server_method());
    if (tc->ctx == NULL) {
        free(tc);
        return fail(err, errlen, "TLS context: cannot create");
    }
    if (load(tc, cfg, err, errlen) == NULL) {
        tls_context_free(tc);
        return NULL;
    }
    SSL_CTX *ctx = tc->ctx;
    /* No compression (CRIME), no renegotiation (a client-driven CPU cost
     * and a WANT_* source mid-transfer), the server's cipher order. An
     * EOF without close_notify stays an error (SSL_OP_IGNORE_UNEXPECTED_EOF
     * off): an upload cut short must not pass for a complete one. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Partial writes: a write moves what fits (whole records), like a
     * socket. Release buffers: an idle TLS session holds no 34 KiB of
     * record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Sessions: stateless tickets (the keys live in this context, so every
     * thread and forked worker accepts them) carry the binding id; the
     * server cache serves TLS 1.2 clients that resume by session id. One
     * ticket per control connection is enough for its data connections. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* A session must outlive its control connection's longest life, or a
     * transfer late in a long session would find it expired (522): the
     * lifetime TLS 1.3 allows at most, 7 days. Nothing else can use it:
     * control connections never resume, data connections only their own
     * control's session. */
    SSL_CTX_set_timeout(ctx, 7 * 24 * 3600);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_session_ticket_cb(ctx, tls_ticket_gen_cb, tls_ticket_dec_cb, NULL);
    return tc;
}

void tls_context_free(struct tls_context *tc)
{
    if (tc == NULL)
        return;
    SSL_CTX_free(tc->ctx);
    free(tc);
}

/* FTPS: the AUTH/PBSZ/PROT/CCC state machine through the session core, the
 * config and certificate errors of the TLS context, and the TLS stream
 * against a real OpenSSL client over a socketpair: handshake steps,
 * close_notify against an unclean end, and the data connection's binding
 * to its control connection's session. Certificates are made at test time
 * with the openssl command. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ftpd/config.h"
#include "ftpd/config_file.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "ftpd/stream.h"
#include "ftpd/tls.h"
#include "unit.h"

static char dir[64];
static int root_fd = -1;
static struct ftpd_config cfg;

/* Run a shell command made from a format and its arguments. */
#define RUN(...)                                                                                   \
    do {                                                                                           \
        char cmd_[1024];                                                                           \
        snprintf(cmd_, sizeof cmd_, __VA_ARGS__);                                                  \
        ck_assert_msg(system(cmd_) == 0, "%s", cmd_);                                              \
    } while (0)

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void setup(void)
{
    strcpy(dir, "/tmp/ftpd-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* A certificate with its key, a second key that matches nothing, and a
     * file that is no certificate. */
    RUN("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "
        "%s/key.pem -out %s/cert.pem -days 2 -subj /CN=localhost 2>/dev/null",
        dir, dir);
    RUN("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out %s/other.pem "
        "2>/dev/null",
        dir);
    RUN("echo 'not a certificate' > %s/bad.pem", dir);
    root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
    config_defaults(&cfg);
    cfg.tls = TLS_OPTIONAL;
    path_of(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "cert.pem");
    path_of(cfg.tls_key_file, sizeof cfg.tls_key_file, "key.pem");
    log_set_level(LOG_LVL_ERROR);
}

static void teardown(void)
{
    close(root_fd);
    RUN("rm -rf '%s'", dir);
}

/* ---- the state machine --------------------------------------------------- */

static struct session *new_session(void)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 40000, &peer), 0);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    return s;
}

static const char *cmd(struct session *s, const char *line, enum step *step)
{
    static char text[4096];
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    if (step != NULL)
        *step = st;
    ck_assert_uint_lt(out.len, sizeof text);
    memcpy(text, buf_head(&out), out.len);
    text[out.len] = '\0';
    buf_free(&out);
    return text;
}

#define REPLY(s, line, want) ck_assert_str_eq(cmd(s, line, NULL), want)

/* Any non-NULL pointer stands for the control stream: the core never
 * looks inside. */
static const struct stream *const fake_ctrl = (const struct stream *)&cfg;

START_TEST(auth_off)
{
    cfg.tls = TLS_OFF;
    struct session *s = new_session();
    REPLY(s, "AUTH TLS", "502 AUTH not supported (TLS is off).\r\n");
    ck_assert_ptr_null(strstr(cmd(s, "FEAT", NULL), "AUTH TLS"));
    REPLY(s, "PBSZ 0", "503 PBSZ needs AUTH TLS first.\r\n");
    session_free(s);
}
END_TEST

START_TEST(auth_pbsz_prot_sequence)
{
    struct session *s = new_session();
    const char *feat = cmd(s, "FEAT", NULL);
    ck_assert_ptr_nonnull(strstr(feat, " AUTH TLS\r\n"));
    ck_assert_ptr_nonnull(strstr(feat, " PBSZ\r\n"));
    ck_assert_ptr_nonnull(strstr(feat, " PROT\r\n"));
    REPLY(s, "PBSZ 0", "503 PBSZ needs AUTH TLS first.\r\n");
    REPLY(s, "PROT P", "503 PROT needs AUTH TLS first.\r\n");
    REPLY(s, "AUTH KERBEROS", "504 AUTH KERBEROS not supported; use AUTH TLS.\r\n");
    REPLY(s, "AUTH", "501 AUTH needs an argument.\r\n");
    enum step st;
    ck_assert_str_eq(cmd(s, "AUTH TLS", &st), "234 Proceed with negotiation.\r\n");
    ck_assert_int_eq(st, STEP_TLS);
    session_tls_started(s, fake_ctrl, false);
    REPLY(s, "AUTH TLS", "503 Already using TLS.\r\n");
    REPLY(s, "PROT P", "503 PROT needs PBSZ first.\r\n");
    REPLY(s, "PBSZ x", "501 PBSZ needs a decimal number.\r\n");
    REPLY(s, "PBSZ 0", "200 PBSZ=0\r\n");
    REPLY(s, "PROT S", "536 PROT S not supported; use P or C.\r\n");
    REPLY(s, "PROT E", "536 PROT E not supported; use P or C.\r\n");
    REPLY(s, "PROT Q", "504 Unknown protection level.\r\n");
    REPLY(s, "PROT P", "200 Protection level set to Private.\r\n");
    REPLY(s, "CCC", "534 CCC not allowed.\r\n");
    REPLY(s, "PROT C", "200 Protection level set to Clear.\r\n");
    session_free(s);
}
END_TEST

START_TEST(auth_ssl_is_tls)
{
    struct session *s = new_session();
    enum step st;
    ck_assert_str_eq(cmd(s, "AUTH SSL", &st), "234 Proceed with negotiation.\r\n");
    ck_assert_int_eq(st, STEP_TLS);
    session_free(s);
}
END_TEST

/* Log in anonymously and open a passive data channel. */
static void login_pasv(struct session *s)
{
    REPLY(s, "USER anonymous", "331 Please specify the password.\r\n");
    ck_assert_int_eq(strncmp(cmd(s, "PASS x", NULL), "230", 3), 0);
    ck_assert_int_eq(strncmp(cmd(s, "PASV", NULL), "227", 3), 0);
}

START_TEST(prot_p_marks_the_job)
{
    RUN("echo hello > %s/f.txt", dir);
    struct session *s = new_session();
    cmd(s, "AUTH TLS", NULL);
    session_tls_started(s, fake_ctrl, false);
    REPLY(s, "PBSZ 0", "200 PBSZ=0\r\n");
    REPLY(s, "PROT P", "200 Protection level set to Private.\r\n");
    login_pasv(s);
    enum step st;
    cmd(s, "RETR f.txt", &st);
    ck_assert_int_eq(st, STEP_TRANSFER);
    const struct transfer *t = session_transfer(s);
    ck_assert(t->tls_protect);
    ck_assert_ptr_eq(t->tls_control, fake_ctrl);
    /* The data connection did not resume the control's session: 522. */
    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, XFER_TLS_REFUSED, 0, &out);
    ck_assert_int_eq(strncmp(buf_head(&out), "522 ", 4), 0);
    buf_free(&out);
    /* PROT C: the next job is plain. */
    REPLY(s, "PROT C", "200 Protection level set to Clear.\r\n");
    ck_assert_int_eq(strncmp(cmd(s, "PASV", NULL), "227", 3), 0);
    cmd(s, "RETR f.txt", &st);
    ck_assert_int_eq(st, STEP_TRANSFER);
    ck_assert(!session_transfer(s)->tls_protect);
    session_free(s);
}
END_TEST

START_TEST(implicit_implies_prot_p)
{
    RUN("echo hello > %s/f.txt", dir);
    struct session *s = new_session();
    session_tls_started(s, fake_ctrl, true);
    REPLY(s, "AUTH TLS", "503 Already using TLS.\r\n");
    login_pasv(s);
    enum step st;
    cmd(s, "RETR f.txt", &st);
    ck_assert_int_eq(st, STEP_TRANSFER);
    ck_assert(session_transfer(s)->tls_protect);
    session_free(s);
}
END_TEST

START_TEST(required_refuses_clear_login)
{
    cfg.tls = TLS_REQUIRED;
    struct session *s = new_session();
    REPLY(s, "USER anonymous", "530 TLS required: send AUTH TLS before USER and PASS.\r\n");
    REPLY(s, "PASS secret", "530 TLS required: send AUTH TLS before USER and PASS.\r\n");
    cmd(s, "AUTH TLS", NULL);
    session_tls_started(s, fake_ctrl, false);
    REPLY(s, "USER anonymous", "331 Please specify the password.\r\n");
    session_free(s);
}
END_TEST

START_TEST(data_required_refuses_prot_c)
{
    cfg.tls_data_required = true;
    struct session *s = new_session();
    cmd(s, "AUTH TLS", NULL);
    session_tls_started(s, fake_ctrl, false);
    login_pasv(s);
    const char *want = "521 Data connections must be protected: send PBSZ 0 and PROT P.\r\n";
    REPLY(s, "LIST", want);
    REPLY(s, "RETR f.txt", want);
    REPLY(s, "PBSZ 0", "200 PBSZ=0\r\n");
    REPLY(s, "PROT P", "200 Protection level set to Private.\r\n");
    enum step st;
    cmd(s, "LIST", &st);
    ck_assert_int_eq(st, STEP_TRANSFER);
    session_free(s);
}
END_TEST

/* ---- the context: config and certificate errors -------------------------- */

static void context_fails(const char *want_in_error)
{
    char err[1024] = "";
    struct tls_context *tc = tls_context_new(&cfg, err, sizeof err);
    ck_assert_ptr_null(tc);
    ck_assert_msg(strstr(err, want_in_error) != NULL, "error '%s' lacks '%s'", err, want_in_error);
}

START_TEST(context_ok)
{
    char err[1024] = "";
    struct tls_context *tc = tls_context_new(&cfg, err, sizeof err);
    ck_assert_msg(tc != NULL, "%s", err);
    tls_context_free(tc);
}
END_TEST

START_TEST(context_missing_cert)
{
    path_of(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "nope.pem");
    context_fails("nope.pem': cannot open: No such file or directory");
}
END_TEST

START_TEST(context_bad_cert)
{
    path_of(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "bad.pem");
    context_fails("tls_cert_file '");
    context_fails("bad.pem': not a usable PEM certificate chain");
}
END_TEST

START_TEST(context_key_mismatch)
{
    path_of(cfg.tls_key_file, sizeof cfg.tls_key_file, "other.pem");
    context_fails("other.pem' does not match the certificate in tls_cert_file");
}
END_TEST

START_TEST(context_bad_ciphers)
{
    strcpy(cfg.tls_ciphers, "NOSUCHCIPHER");
    context_fails("tls_ciphers: no usable cipher in 'NOSUCHCIPHER'");
}
END_TEST

START_TEST(config_keys)
{
    struct ftpd_config c;
    config_defaults(&c);
    char err[256];
    ck_assert_int_eq(c.tls, TLS_OFF);
    ck_assert(c.tls_require_reuse);
    ck_assert_int_eq(config_set(&c, "tls", "maybe", err, sizeof err), -1);
    ck_assert_str_eq(err, "key 'tls': 'maybe' is not off, optional or required");
    ck_assert_int_eq(config_set(&c, "tls", "required", err, sizeof err), 0);
    ck_assert_int_eq(c.tls, TLS_REQUIRED);
    ck_assert_int_eq(config_validate(&c, err, sizeof err), -1);
    ck_assert_str_eq(err, "tls = required needs tls_cert_file");
    ck_assert_int_eq(config_set(&c, "tls_min_version", "1.1", err, sizeof err), -1);
    ck_assert_int_eq(config_set(&c, "tls_min_version", "1.3", err, sizeof err), 0);
    ck_assert(c.tls_min_13);
    ck_assert_int_eq(config_set(&c, "tls_data", "required", err, sizeof err), 0);
    ck_assert(c.tls_data_required);
    ck_assert_int_eq(config_set(&c, "tls_cert_file", "/x.pem", err, sizeof err), 0);
    ck_assert_int_eq(config_set(&c, "implicit_tls_port", "990", err, sizeof err), 0);
    ck_assert_int_eq(config_validate(&c, err, sizeof err), 0);
    ck_assert_int_eq(config_set(&c, "implicit_tls_port", "2121", err, sizeof err), 0);
    ck_assert_int_eq(config_validate(&c, err, sizeof err), -1);
    ck_assert_int_eq(config_set(&c, "tls", "off", err, sizeof err), 0);
    ck_assert_int_eq(config_set(&c, "implicit_tls_port", "990", err, sizeof err), 0);
    ck_assert_int_eq(config_validate(&c, err, sizeof err), -1);
    ck_assert_str_eq(err, "implicit_tls_port = 990 needs tls = optional or required");
}
END_TEST

/* ---- the stream against an OpenSSL client --------------------------------- */

struct peer {
    int fds[2]; /* [0] server (our stream), [1] client */
    struct stream srv;
    SSL *cli;
};

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(c);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    return c;
}

static void peer_open(struct peer *p, SSL_CTX *cctx)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds), 0);
    stream_plain(&p->srv, p->fds[0]);
    p->cli = SSL_new(cctx);
    SSL_set_fd(p->cli, p->fds[1]);
    SSL_set_connect_state(p->cli);
}

static void peer_close(struct peer *p)
{
    stream_close(&p->srv);
    SSL_free(p->cli);
    close(p->fds[1]);
}

/* Step both sides until the server's handshake ends; its result. */
static enum stream_status handshake(struct peer *p)
{
    for (int i = 0; i < 200; i++) {
        enum stream_status st = tls_handshake(&p->srv);
        if (st == STREAM_OK || st == STREAM_ERR)
            return st;
        ERR_clear_error();
        (void)SSL_do_handshake(p->cli);
    }
    ck_abort_msg("handshake did not end");
    return STREAM_ERR;
}

/* Server writes msg; the client reads it (and the tickets before it). */
static void server_says(struct peer *p, const char *msg)
{
    size_t n;
    ck_assert_int_eq(stream_write(&p->srv, msg, strlen(msg), &n), STREAM_OK);
    ck_assert_uint_eq(n, strlen(msg));
    char buf[256];
    size_t got = 0;
    for (int i = 0; i < 100 && got < strlen(msg); i++) {
        size_t r;
        if (SSL_read_ex(p->cli, buf + got, sizeof buf - got, &r) == 1)
            got += r;
    }
    ck_assert_uint_eq(got, strlen(msg));
    ck_assert_int_eq(memcmp(buf, msg, got), 0);
}

static struct tls_context *context(void)
{
    char err[1024];
    struct tls_context *tc = tls_context_new(&cfg, err, sizeof err);
    ck_assert_msg(tc != NULL, "%s", err);
    return tc;
}

START_TEST(stream_roundtrip_and_close_notify)
{
    struct tls_context *tc = context();
    SSL_CTX *cctx = client_ctx();
    struct peer p;
    peer_open(&p, cctx);
    ck_assert_int_eq(tls_wrap_control(&p.srv, tc), 0);
    ck_assert(stream_is_tls(&p.srv));
    ck_assert(!stream_raw_bytes(&p.srv));
    ck_assert_int_eq(handshake(&p), STREAM_OK);
    server_says(&p, "220 hello\r\n");
    /* Two records from the client: the first read takes part of one, the
     * rest is pending (no fd readiness would show it). */
    ck_assert_int_eq(SSL_write(p.cli, "NOOP\r\n", 6), 6);
    ck_assert_int_eq(SSL_write(p.cli, "QUIT\r\n", 6), 6);
    char buf[64];
    size_t n;
    ck_assert_int_eq(stream_read(&p.srv, buf, 2, &n), STREAM_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(stream_pending(&p.srv), 4);
    ck_assert_int_eq(stream_read(&p.srv, buf, sizeof buf, &n), STREAM_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(stream_read(&p.srv, buf, sizeof buf, &n), STREAM_OK);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(stream_read(&p.srv, buf, sizeof buf, &n), STREAM_WANT_READ);
    /* close_notify from the client: an orderly EOF. */
    ck_assert_int_eq(SSL_shutdown(p.cli), 0);
    ck_assert_int_eq(stream_read(&p.srv, buf, sizeof buf, &n), STREAM_EOF);
    peer_close(&p);
    SSL_CTX_free(cctx);
    tls_context_free(tc);
}
END_TEST

START_TEST(stream_unclean_end_is_an_error)
{
    struct tls_context *tc = context();
    SSL_CTX *cctx = client_ctx();
    struct peer p;
    peer_open(&p, cctx);
    ck_assert_int_eq(tls_wrap_control(&p.srv, tc), 0);
    ck_assert_int_eq(handshake(&p), STREAM_OK);
    ck_assert_int_eq(SSL_write(p.cli, "data", 4), 4);
    shutdown(p.fds[1], SHUT_WR); /* TCP FIN, no close_notify: truncation */
    char buf[64];
    size_t n;
    ck_assert_int_eq(stream_read(&p.srv, buf, sizeof buf, &n), STREAM_OK);
    ck_assert_uint_eq(n, 4);
    errno = 0;
    ck_assert_int_eq(stream_read(&p.srv, buf, sizeof buf, &n), STREAM_ERR);
    ck_assert_int_eq(errno, ECONNRESET);
    peer_close(&p);
    SSL_CTX_free(cctx);
    tls_context_free(tc);
}
END_TEST

START_TEST(stream_garbage_fails_the_handshake)
{
    struct tls_context *tc = context();
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    struct stream s;
    stream_plain(&s, fds[0]);
    ck_assert_int_eq(tls_wrap_control(&s, tc), 0);
    ck_assert_int_eq(tls_handshake(&s), STREAM_WANT_READ);
    ck_assert_int_eq(write(fds[1], "GET / HTTP/1.0\r\n\r\n", 18), 18);
    ck_assert_int_eq(tls_handshake(&s), STREAM_ERR);
    /* A stalled peer: the blocking handshake gives up at its timeout. */
    struct stream s2;
    int fds2[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds2), 0);
    stream_plain(&s2, fds2[0]);
    ck_assert_int_eq(tls_wrap_control(&s2, tc), 0);
    errno = 0;
    ck_assert_int_eq(tls_handshake_blocking(&s2, 100), STREAM_ERR);
    ck_assert_int_eq(errno, ETIMEDOUT);
    stream_close(&s);
    stream_close(&s2);
    close(fds[1]);
    close(fds2[1]);
    tls_context_free(tc);
}
END_TEST

/* A control connection, secured, with the client's session after the first
 * reply (TLS 1.3 tickets come after the handshake). */
static SSL_SESSION *control(struct peer *c, struct tls_context *tc, SSL_CTX *cctx)
{
    peer_open(c, cctx);
    ck_assert_int_eq(tls_wrap_control(&c->srv, tc), 0);
    ck_assert_int_eq(handshake(c), STREAM_OK);
    server_says(c, "234 ok\r\n");
    SSL_SESSION *sess = SSL_get1_session(c->cli);
    ck_assert_ptr_nonnull(sess);
    return sess;
}

/* A data connection of control ctrl, the client offering sess (or none). */
static enum stream_status data_handshake(const struct peer *ctrl, SSL_CTX *cctx, SSL_SESSION *sess,
                                         enum xfer_result *res)
{
    struct peer d;
    peer_open(&d, cctx);
    if (sess != NULL)
        SSL_set_session(d.cli, sess);
    ck_assert_int_eq(tls_wrap_data(&d.srv, &ctrl->srv), 0);
    enum stream_status st = handshake(&d);
    if (st == STREAM_ERR)
        ck_assert_int_eq(errno, EKEYREJECTED);
    *res = xfer_data_result(&d.srv, XFER_CONN_LOST);
    peer_close(&d);
    return st;
}

static void binding(int max_version, bool tickets)
{
    struct tls_context *tc = context();
    SSL_CTX *cctx = client_ctx();
    SSL_CTX_set_max_proto_version(cctx, max_version);
    if (!tickets) /* TLS 1.2 resumption by session id, from the server's cache */
        SSL_CTX_set_options(cctx, SSL_OP_NO_TICKET);
    struct peer a, b;
    SSL_SESSION *sa = control(&a, tc, cctx);
    SSL_SESSION *sb = control(&b, tc, cctx);
    enum xfer_result res;
    /* Its own control's session: resumed, accepted. */
    ck_assert_int_eq(data_handshake(&a, cctx, sa, &res), STREAM_OK);
    ck_assert_int_eq(res, XFER_CONN_LOST);
    ck_assert_int_eq(data_handshake(&b, cctx, sb, &res), STREAM_OK);
    /* No session: refused, 522. */
    ck_assert_int_eq(data_handshake(&a, cctx, NULL, &res), STREAM_ERR);
    ck_assert_int_eq(res, XFER_TLS_REFUSED);
    /* Another control connection's session: refused too. */
    ck_assert_int_eq(data_handshake(&a, cctx, sb, &res), STREAM_ERR);
    ck_assert_int_eq(res, XFER_TLS_REFUSED);
    ck_assert_int_eq(data_handshake(&b, cctx, sa, &res), STREAM_ERR);
    SSL_SESSION_free(sa);
    SSL_SESSION_free(sb);
    peer_close(&a);
    peer_close(&b);
    SSL_CTX_free(cctx);
    tls_context_free(tc);
}

START_TEST(binding_tls13)
{
    binding(TLS1_3_VERSION, true);
}
END_TEST

START_TEST(binding_tls12)
{
    binding(TLS1_2_VERSION, true);
}
END_TEST

START_TEST(binding_tls12_session_ids)
{
    binding(TLS1_2_VERSION, false);
}
END_TEST

START_TEST(binding_off_accepts_any)
{
    cfg.tls_require_reuse = false;
    struct tls_context *tc = context();
    SSL_CTX *cctx = client_ctx();
    struct peer a;
    SSL_SESSION *sa = control(&a, tc, cctx);
    enum xfer_result res;
    ck_assert_int_eq(data_handshake(&a, cctx, NULL, &res), STREAM_OK);
    SSL_SESSION_free(sa);
    peer_close(&a);
    SSL_CTX_free(cctx);
    tls_context_free(tc);
}
END_TEST

START_TEST(sendfile_copy_path)
{
    /* 200 KiB through the stream's sendfile: no kernel TLS here, so the
     * pread + SSL_write path; the client gets every byte in order. */
    char path[128];
    path_of(path, sizeof path, "big.bin");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    static unsigned char want[200 * 1024], got[200 * 1024];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (unsigned char)(i * 7 + i / 1000);
    ck_assert_int_eq(write(fd, want, sizeof want), (ssize_t)sizeof want);
    struct tls_context *tc = context();
    SSL_CTX *cctx = client_ctx();
    struct peer p;
    peer_open(&p, cctx);
    ck_assert_int_eq(tls_wrap_control(&p.srv, tc), 0);
    ck_assert_int_eq(handshake(&p), STREAM_OK);
    uint64_t off = 0;
    size_t have = 0;
    for (int i = 0; i < 10000 && have < sizeof got; i++) {
        size_t n;
        if (off < sizeof want) {
            enum stream_status st = stream_sendfile(&p.srv, fd, &off, sizeof want - off, &n);
            ck_assert(st == STREAM_OK || st == STREAM_WANT_WRITE);
        }
        size_t r;
        while (SSL_read_ex(p.cli, got + have, sizeof got - have, &r) == 1)
            have += r;
    }
    ck_assert_uint_eq(have, sizeof want);
    ck_assert_int_eq(memcmp(got, want, sizeof want), 0);
    /* At the end of the file: 0 bytes, STREAM_OK. */
    size_t n;
    ck_assert_int_eq(stream_sendfile(&p.srv, fd, &off, 100, &n), STREAM_OK);
    ck_assert_uint_eq(n, 0);
    close(fd);
    peer_close(&p);
    SSL_CTX_free(cctx);
    tls_context_free(tc);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, auth_off);
    tcase_add_test(tc, auth_pbsz_prot_sequence);
    tcase_add_test(tc, auth_ssl_is_tls);
    tcase_add_test(tc, prot_p_marks_the_job);
    tcase_add_test(tc, implicit_implies_prot_p);
    tcase_add_test(tc, required_refuses_clear_login);
    tcase_add_test(tc, data_required_refuses_prot_c);
    suite_add_tcase(s, tc);
    tc = tcase_create("context");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, context_ok);
    tcase_add_test(tc, context_missing_cert);
    tcase_add_test(tc, context_bad_cert);
    tcase_add_test(tc, context_key_mismatch);
    tcase_add_test(tc, context_bad_ciphers);
    tcase_add_test(tc, config_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("stream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stream_roundtrip_and_close_notify);
    tcase_add_test(tc, stream_unclean_end_is_an_error);
    tcase_add_test(tc, stream_garbage_fails_the_handshake);
    tcase_add_test(tc, binding_tls13);
    tcase_add_test(tc, binding_tls12);
    tcase_add_test(tc, binding_tls12_session_ids);
    tcase_add_test(tc, binding_off_accepts_any);
    tcase_add_test(tc, sendfile_copy_path);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The session state record of a live upgrade (ftpd/session_record.h):
 * every field survives encode and decode, a session survives export and
 * import with its login, cwd, TYPE, REST, RNFR and data channel, and
 * decode rejects another version, every truncation, oversize input, bad
 * lengths and paths that leave the root. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "ftpd/session_record.h"
#include "ftpd/users.h"
#include "unit.h"

static char tree[64];
static int root_fd = -1;
static struct ftpd_config cfg;

static void setup(void)
{
    strcpy(tree, "/tmp/ftpd-record-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tree));
    char path[256];
    snprintf(path, sizeof path, "%s/dir", tree);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/dir/f.txt", tree);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("0123456789\n", f);
    fclose(f);
    root_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
    config_defaults(&cfg);
    log_set_level(LOG_LVL_ERROR);
}

static void teardown(void)
{
    char cmd[128];
    close(root_fd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
    ck_assert_int_eq(system(cmd), 0);
}

static struct session *new_session(void)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse("127.0.0.2", 40000, &peer), 0);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Run one line (a PASS's check in place); the reply, NUL-terminated. */
static const char *cmd(struct session *s, const char *line, enum step *step)
{
    static char text[4096];
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    if (st == STEP_WORK) {
        struct work *w = session_work_take(s);
        work_run(w);
        st = session_work_done(s, w, &out);
    }
    if (step)
        *step = st;
    ck_assert_uint_lt(out.len, sizeof text);
    memcpy(text, buf_head(&out), out.len);
    text[out.len] = '\0';
    buf_free(&out);
    return text;
}

static void assert_same_addr(const union sockaddr_any *a, const union sockaddr_any *b)
{
    ck_assert_int_eq(a->sa.sa_family, b->sa.sa_family);
    ck_assert_int_eq(memcmp(a, b, sockaddr_len(a)), 0);
}

static void assert_same(const struct session_record *a, const struct session_record *b)
{
    ck_assert_int_eq(a->logged_in, b->logged_in);
    ck_assert_int_eq(a->anonymous, b->anonymous);
    ck_assert_int_eq(a->user_given, b->user_given);
    ck_assert_int_eq(a->user_anon, b->user_anon);
    ck_assert_int_eq(a->have_user_name, b->have_user_name);
    ck_assert_int_eq(a->type_ascii, b->type_ascii);
    ck_assert_int_eq(a->epsv_all, b->epsv_all);
    ck_assert_int_eq(a->have_port, b->have_port);
    ck_assert_int_eq(a->have_pasv, b->have_pasv);
    ck_assert_uint_eq(a->prelogin_commands, b->prelogin_commands);
    ck_assert_uint_eq(a->login_failures, b->login_failures);
    ck_assert_uint_eq(a->rest, b->rest);
    ck_assert_uint_eq(a->pasv_rng, b->pasv_rng);
    ck_assert_uint_eq(a->files_sent, b->files_sent);
    ck_assert_uint_eq(a->bytes_sent, b->bytes_sent);
    ck_assert_uint_eq(a->files_received, b->files_received);
    ck_assert_uint_eq(a->bytes_received, b->bytes_received);
    assert_same_addr(&a->local, &b->local);
    assert_same_addr(&a->peer, &b->peer);
    if (a->have_port)
        assert_same_addr(&a->port_addr, &b->port_addr);
    ck_assert_str_eq(a->user, b->user);
    ck_assert_str_eq(a->cwd, b->cwd);
    ck_assert_str_eq(a->rnfr, b->rnfr);
}

/* A record with every field set to something other than its default. */
static void full_record(struct session_record *r)
{
    memset(r, 0, sizeof *r);
    r->logged_in = true;
    r->user_anon = true;
    r->type_ascii = true;
    r->epsv_all = true;
    r->have_port = true;
    r->have_pasv = true;
    r->prelogin_commands = 7;
    r->login_failures = 2;
    r->rest = 0x0102030405060708ull;
    r->pasv_rng = 0xfedcba9876543210ull;
    r->files_sent = 11;
    r->bytes_sent = 1ull << 40;
    r->files_received = 13;
    r->bytes_received = (1ull << 33) + 5;
    ck_assert_int_eq(sockaddr_parse("::1", 2121, &r->local), 0);
    ck_assert_int_eq(sockaddr_parse("fe80::1:2", 40001, &r->peer), 0);
    r->peer.in6.sin6_scope_id = 3;
    r->peer.in6.sin6_flowinfo = htonl(0x12345);
    ck_assert_int_eq(sockaddr_parse("10.1.2.3", 50001, &r->port_addr), 0);
    strcpy(r->user, "alice");
    strcpy(r->cwd, "/a dir/b\"c");
    strcpy(r->rnfr, "/a dir/old name");
}

static size_t encode_full(uint8_t *buf)
{
    struct session_record r;
    full_record(&r);
    return session_record_encode(&r, buf);
}

START_TEST(every_field_round_trips)
{
    static uint8_t buf[SESSION_RECORD_MAX];
    struct session_record r, back;
    const char *why = "";
    full_record(&r);
    size_t len = session_record_encode(&r, buf);
    ck_assert_uint_eq(len, SESSION_RECORD_MIN + 5 + strlen(r.cwd) + strlen(r.rnfr));
    ck_assert_msg(session_record_decode(buf, len, &back, &why) == 0, "%s", why);
    assert_same(&r, &back);

    /* The other login states: a USER awaiting PASS, and nothing yet. */
    memset(&r, 0, sizeof r);
    r.user_given = true;
    r.have_user_name = true;
    strcpy(r.user, "bob smith");
    strcpy(r.cwd, "/");
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 21, &r.local), 0);
    ck_assert_int_eq(sockaddr_parse("127.0.0.9", 1, &r.peer), 0);
    len = session_record_encode(&r, buf);
    ck_assert_msg(session_record_decode(buf, len, &back, &why) == 0, "%s", why);
    assert_same(&r, &back);
    r.user_given = false;
    r.have_user_name = false;
    r.user[0] = '\0';
    len = session_record_encode(&r, buf);
    ck_assert_uint_eq(len, SESSION_RECORD_MIN + 1);
    ck_assert_msg(session_record_decode(buf, len, &back, &why) == 0, "%s", why);
    assert_same(&r, &back);

    /* The longest strings fit SESSION_RECORD_MAX exactly. */
    memset(r.user, 'u', FTPD_USER_NAME_MAX);
    r.user[FTPD_USER_NAME_MAX] = '\0';
    r.have_user_name = true;
    memset(r.cwd + 1, 'c', FTPD_PATH_MAX - 2);
    r.cwd[FTPD_PATH_MAX - 1] = '\0';
    strcpy(r.rnfr, r.cwd);
    len = session_record_encode(&r, buf);
    ck_assert_uint_eq(len, SESSION_RECORD_MAX);
    ck_assert_msg(session_record_decode(buf, len, &back, &why) == 0, "%s", why);
    assert_same(&r, &back);
}
END_TEST

START_TEST(another_version_is_rejected)
{
    uint8_t buf[SESSION_RECORD_MAX];
    struct session_record r;
    const char *why = "";
    size_t len = encode_full(buf);
    buf[5] = SESSION_RECORD_VERSION + 1;
    ck_assert_int_eq(session_record_decode(buf, len, &r, &why), -1);
    ck_assert_str_eq(why, "session record of another version");
    buf[4] = 1; /* version 0x0101: no wrap to an accepted one */
    buf[5] = SESSION_RECORD_VERSION;
    ck_assert_int_eq(session_record_decode(buf, len, &r, &why), -1);
    buf[4] = 0;
    buf[0] ^= 0x20; /* the magic */
    ck_assert_int_eq(session_record_decode(buf, len, &r, &why), -1);
    ck_assert_str_eq(why, "not a session record");
}
END_TEST

START_TEST(every_truncation_and_oversize_is_rejected)
{
    uint8_t buf[SESSION_RECORD_MAX + 1];
    struct session_record r;
    const char *why;
    size_t len = encode_full(buf);
    for (size_t n = 0; n < len; n++) {
        /* A copy of exactly n bytes, so that an over-read is ASan's. */
        uint8_t *cut = malloc(n > 0 ? n : 1);
        ck_assert_ptr_nonnull(cut);
        memcpy(cut, buf, n);
        why = NULL;
        ck_assert_msg(session_record_decode(cut, n, &r, &why) == -1, "accepted %zu bytes", n);
        ck_assert_ptr_nonnull(why);
        free(cut);
    }
    buf[len] = 'x';
    ck_assert_int_eq(session_record_decode(buf, len + 1, &r, &why), -1);
    ck_assert_str_eq(why, "oversize record");
}
END_TEST

/* The header's offsets of the three lengths and the first address. */
#define OFF_FLAGS    6
#define OFF_USER_LEN 12
#define OFF_CWD_LEN  14
#define OFF_RNFR_LEN 16
#define OFF_PEER     (SESSION_RECORD_MIN - 2 * SESSION_RECORD_ADDR)

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

START_TEST(bad_lengths_flags_and_addresses_are_rejected)
{
    uint8_t buf[SESSION_RECORD_MAX], bad[SESSION_RECORD_MAX];
    struct session_record r;
    const char *why;
    size_t len = encode_full(buf);
    static const struct {
        size_t off;
        unsigned value;
    } cases[] = {
        {OFF_USER_LEN, FTPD_USER_NAME_MAX + 1},
        {OFF_CWD_LEN, 0},
        {OFF_CWD_LEN, FTPD_PATH_MAX},
        {OFF_RNFR_LEN, FTPD_PATH_MAX},
        {OFF_USER_LEN, 4},
        {OFF_RNFR_LEN, 0xffff},
        {OFF_FLAGS, 0x8000},
        {OFF_PEER, 5},
        {OFF_PEER, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(bad, buf, len);
        put16(bad + cases[i].off, cases[i].value);
        ck_assert_msg(session_record_decode(bad, len, &r, &why) == -1, "case %zu accepted", i);
    }
    /* A NUL or a line end inside a string. */
    memcpy(bad, buf, len);
    bad[SESSION_RECORD_MIN + 2] = '\0';
    ck_assert_int_eq(session_record_decode(bad, len, &r, &why), -1);
    bad[SESSION_RECORD_MIN + 2] = '\n';
    ck_assert_int_eq(session_record_decode(bad, len, &r, &why), -1);
    ck_assert_str_eq(why, "bad string in session record");
}
END_TEST

START_TEST(paths_leaving_the_root_are_rejected)
{
    static const char *const cwds[] = {"/..", "/a/../..", "relative", "/a/./b", "//a", "/a/"};
    uint8_t buf[SESSION_RECORD_MAX];
    struct session_record r, back;
    const char *why;
    for (size_t i = 0; i < sizeof cwds / sizeof cwds[0]; i++) {
        full_record(&r);
        strcpy(r.cwd, cwds[i]);
        size_t len = session_record_encode(&r, buf);
        ck_assert_msg(session_record_decode(buf, len, &back, &why) == -1, "cwd %s", cwds[i]);
        ck_assert_str_eq(why, "path outside the root in session record");
        full_record(&r);
        strcpy(r.rnfr, cwds[i]);
        len = session_record_encode(&r, buf);
        ck_assert_msg(session_record_decode(buf, len, &back, &why) == -1, "rnfr %s", cwds[i]);
    }
    /* Login states a session cannot be in. */
    full_record(&r);
    r.anonymous = true; /* anonymous, yet an account's name */
    size_t len = session_record_encode(&r, buf);
    ck_assert_int_eq(session_record_decode(buf, len, &back, &why), -1);
    full_record(&r);
    r.logged_in = false;
    r.user_given = true; /* USER given, but no name */
    r.user[0] = '\0';
    len = session_record_encode(&r, buf);
    ck_assert_int_eq(session_record_decode(buf, len, &back, &why), -1);
    ck_assert_str_eq(why, "inconsistent login state in session record");
}
END_TEST

/* Export, encode, decode, import: the new session is the old one. */
static struct session *move(struct session *s, struct session_record *first,
                            const struct users *users)
{
    static uint8_t buf[SESSION_RECORD_MAX];
    struct session_record back;
    const char *why = "";
    ck_assert_msg(session_record_export(s, first, &why) == 0, "%s", why);
    int pasv = -1;
    if (first->have_pasv) {
        pasv = dup(session_record_pasv_fd(s)); /* as SCM_RIGHTS would */
        ck_assert_int_ge(pasv, 0);
    }
    size_t len = session_record_encode(first, buf);
    ck_assert_msg(session_record_decode(buf, len, &back, &why) == 0, "%s", why);
    assert_same(first, &back);
    session_free(s);
    struct session *moved = session_record_import(&back, &cfg, root_fd, users, pasv, &why);
    ck_assert_msg(moved != NULL, "%s", why);
    struct session_record again;
    ck_assert_int_eq(session_record_export(moved, &again, &why), 0);
    assert_same(first, &again);
    return moved;
}

START_TEST(anonymous_session_carries_on)
{
    cfg.write_enable = true;
    cfg.anonymous_write = true;
    struct session *s = new_session();
    cmd(s, "USER anonymous", NULL);
    ck_assert_str_eq(cmd(s, "PASS x@y", NULL), "230 Login successful.\r\n");
    ck_assert_str_eq(cmd(s, "CWD dir", NULL), "250 Directory successfully changed.\r\n");
    cmd(s, "TYPE A", NULL);
    cmd(s, "REST 3", NULL);
    ck_assert_str_eq(cmd(s, "PORT 127,0,0,2,200,1", NULL),
                     "200 PORT command successful. Consider using PASV.\r\n");
    struct session_record r;
    s = move(s, &r, NULL);
    ck_assert(r.logged_in && r.anonymous && r.type_ascii && r.have_port && !r.have_pasv);
    ck_assert_str_eq(r.cwd, "/dir");
    ck_assert_uint_eq(r.rest, 3);
    ck_assert_str_eq(session_peer_name(s), "127.0.0.2:40000 anonymous");
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/dir\" is the current directory\r\n");
    ck_assert_str_eq(cmd(s, "SIZE f.txt", NULL), "213 11\r\n");

    /* A passive listener travels beside the record and still listens. */
    ck_assert_int_eq(strncmp(cmd(s, "PASV", NULL), "227 ", 4), 0);
    s = move(s, &r, NULL);
    ck_assert(r.have_pasv && !r.have_port);
    int pasv = session_record_pasv_fd(s);
    int accepting = 0;
    socklen_t optlen = sizeof accepting;
    ck_assert_int_eq(getsockopt(pasv, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &optlen), 0);
    ck_assert_int_eq(accepting, 1);
    session_free(s);

    /* Anonymous turned off in the new generation: it does not come in. */
    s = new_session();
    cmd(s, "USER ftp", NULL);
    cmd(s, "PASS x", NULL);
    ck_assert_int_eq(session_record_export(s, &r, &(const char *){NULL}), 0);
    cfg.anonymous = false;
    const char *why = NULL;
    ck_assert_ptr_null(session_record_import(&r, &cfg, root_fd, NULL, -1, &why));
    ck_assert_str_eq(why, "anonymous login is off now");
    session_free(s);
}
END_TEST

START_TEST(pending_user_carries_on)
{
    cfg.write_enable = true;
    cfg.anonymous_write = true;
    struct session *s = new_session();
    ck_assert_str_eq(cmd(s, "USER anonymous", NULL), "331 Please specify the password.\r\n");
    struct session_record r;
    s = move(s, &r, NULL);
    ck_assert(!r.logged_in && r.user_given && r.user_anon && r.have_user_name);
    ck_assert_uint_eq(r.prelogin_commands, 1);
    ck_assert_str_eq(cmd(s, "PASS x", NULL), "230 Login successful.\r\n");
    session_free(s);
}
END_TEST

START_TEST(account_session_carries_on)
{
    char home[128], ufile[128], hash[USERS_HASH_MAX], text[1024], err[256] = "";
    snprintf(home, sizeof home, "%s/dir", tree);
    snprintf(ufile, sizeof ufile, "%s/users", tree);
    ck_assert_int_eq(users_hash_password("secret", hash, sizeof hash), 0);
    FILE *f = fopen(ufile, "w");
    ck_assert_ptr_nonnull(f);
    snprintf(text, sizeof text, "alice:%s:%s:rwdf\n", hash, home);
    fputs(text, f);
    fclose(f);
    struct users *users = users_load(ufile, err, sizeof err);
    ck_assert_msg(users != NULL, "%s", err);
    cfg.write_enable = true;

    struct session *s = new_session();
    session_set_users(s, users);
    cmd(s, "USER alice", NULL);
    ck_assert_str_eq(cmd(s, "PASS secret", NULL), "230 Login successful.\r\n");
    ck_assert_str_eq(cmd(s, "RNFR f.txt", NULL), "350 Ready for RNTO.\r\n");
    struct session_record r;
    s = move(s, &r, users);
    ck_assert(r.logged_in && !r.anonymous);
    ck_assert_str_eq(r.user, "alice");
    ck_assert_str_eq(r.rnfr, "/f.txt");
    /* The home is the account's root again, and the RNFR still holds. */
    ck_assert_str_eq(cmd(s, "RNTO g.txt", NULL), "250 Rename successful.\r\n");
    ck_assert_str_eq(cmd(s, "SIZE g.txt", NULL), "213 11\r\n");
    session_free(s);

    /* The account is gone from the new generation's table. */
    const char *why = NULL;
    ck_assert_ptr_null(session_record_import(&r, &cfg, root_fd, NULL, -1, &why));
    ck_assert_str_eq(why, "the account is gone");
    users_free(users);
}
END_TEST

START_TEST(busy_and_tls_sessions_do_not_move)
{
    struct session *s = new_session();
    cmd(s, "USER anonymous", NULL);
    cmd(s, "PASS x", NULL);
    cmd(s, "PASV", NULL);
    enum step step;
    cmd(s, "RETR dir/f.txt", &step);
    ck_assert_int_eq(step, STEP_TRANSFER);
    struct session_record r;
    const char *why = NULL;
    ck_assert_int_eq(session_record_export(s, &r, &why), -1);
    ck_assert_str_eq(why, "transfer running");
    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, XFER_OK, 11, &out);
    buf_free(&out);
    ck_assert_int_eq(session_record_export(s, &r, &why), 0);
    ck_assert_uint_eq(r.files_sent, 1);
    ck_assert_uint_eq(r.bytes_sent, 11);

    int opaque;
    session_tls_started(s, (const struct stream *)&opaque, false);
    ck_assert_int_eq(session_record_export(s, &r, &why), -1);
    ck_assert_str_eq(why, "TLS session");
    session_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *su = suite_create("session_record");
    TCase *tc = tcase_create("record");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_field_round_trips);
    tcase_add_test(tc, another_version_is_rejected);
    tcase_add_test(tc, every_truncation_and_oversize_is_rejected);
    tcase_add_test(tc, bad_lengths_flags_and_addresses_are_rejected);
    tcase_add_test(tc, paths_leaving_the_root_are_rejected);
    tcase_add_test(tc, anonymous_session_carries_on);
    tcase_add_test(tc, pending_user_carries_on);
    tcase_add_test(tc, account_session_carries_on);
    tcase_add_test(tc, busy_and_tls_sessions_do_not_move);
    suite_add_tcase(su, tc);
    return su;
}

UNIT_MAIN()

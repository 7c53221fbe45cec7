/* Accounts: the users file (good files, each error with its file, line and
 * field, the limits), the three hash schemes, and the PASS state machine
 * of the core (STEP_WORK, STEP_DELAY, max_login_fails, the permission
 * letters, the home served as "/", STAT and the log name). */
#include <crypt.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftpd/config.h"
#include "ftpd/limits.h"
#include "ftpd/log.h"
#include "ftpd/perm.h"
#include "ftpd/rate.h"
#include "ftpd/session.h"
#include "ftpd/users.h"
#include "unit.h"

static char dir[64];     /* the test's temporary directory */
static char home[128];   /* dir/home: alice's home */
static char anon[128];   /* dir/anon: the anonymous root */
static char ufile[128];  /* dir/users */
static char hash_y[256]; /* "secret" in each scheme */
static char hash_6[256];
static char hash_2b[256];
static int anon_fd = -1;
static struct ftpd_config cfg;

static void make_hash(const char *prefix, const char *pw, char *out)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    ck_assert_ptr_nonnull(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof setting));
    struct crypt_data *cd = calloc(1, sizeof *cd);
    ck_assert_ptr_nonnull(cd);
    const char *h = crypt_rn(pw, setting, cd, sizeof *cd);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_lt(strlen(h), 256);
    strcpy(out, h);
    free(cd);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup_once(void)
{
    make_hash("$y$", "secret", hash_y);
    make_hash("$6$", "secret", hash_6);
    make_hash("$2b$", "secret", hash_2b);
}

static void setup(void)
{
    strcpy(dir, "/tmp/ftpd-accounts-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(anon, sizeof anon, "%s/anon", dir);
    snprintf(ufile, sizeof ufile, "%s/users", dir);
    ck_assert_int_eq(mkdir(home, 0755), 0);
    ck_assert_int_eq(mkdir(anon, 0755), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/mine.txt", home);
    put_file(path, "alice's\n");
    snprintf(path, sizeof path, "%s/public.txt", anon);
    put_file(path, "everyone's\n");
    snprintf(path, sizeof path, "%s/escape", home);
    ck_assert_int_eq(symlink(anon, path), 0);
    anon_fd = open(anon, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(anon_fd, 0);
    config_defaults(&cfg);
    log_set_level(LOG_LVL_ERROR);
}

static void teardown(void)
{
    close(anon_fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Write the users file from printf-style lines; load it. */
static struct users *load(const char *text, char *err, size_t errlen)
{
    put_file(ufile, text);
    return users_load(ufile, err, errlen);
}

/* ---- the users file ---- */

START_TEST(good_file)
{
    char text[4096], err[512] = "";
    snprintf(text, sizeof text,
             "# accounts\n"
             "\n"
             "alice:%s:%s:rwm\n"
             "bob:%s:%s:\n"
             "carol:%s:%s:rwmdfc\r\n",
             hash_y, home, hash_6, home, hash_2b, anon);
    struct users *u = load(text, err, sizeof err);
    ck_assert_msg(u != NULL, "%s", err);
    ck_assert_uint_eq(users_count(u), 3);
    const struct user *a = users_find(u, "alice");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->home, home);
    ck_assert_uint_eq(a->perms, PERM_READ | PERM_UPLOAD | PERM_MKDIR);
    ck_assert_uint_eq(users_find(u, "bob")->perms, 0);
    ck_assert_uint_eq(users_find(u, "carol")->perms, PERM_ALL);
    ck_assert_str_eq(users_find(u, "carol")->hash, hash_2b); /* CR stripped */
    ck_assert_ptr_null(users_find(u, "Alice"));
    ck_assert_ptr_null(users_find(u, "dave"));
    ck_assert_ptr_null(users_find(NULL, "alice"));
    /* No options: the server's caps (-1). */
    ck_assert_int_eq(a->max_rate_download, -1);
    ck_assert_int_eq(a->max_rate_upload, -1);
    users_free(u);

    /* The optional fifth field: per-user caps; 0 is "unlimited". */
    snprintf(text, sizeof text,
             "fast:%s:%s:r:max_rate_download=4M,max_rate_upload=0\n"
             "slow:%s:%s:rw:max_rate_upload=64Ki\n"
             "plain:%s:%s:r:\n",
             hash_y, home, hash_y, home, hash_y, home);
    u = load(text, err, sizeof err);
    ck_assert_msg(u != NULL, "%s", err);
    ck_assert_int_eq(users_find(u, "fast")->max_rate_download, 4000000);
    ck_assert_int_eq(users_find(u, "fast")->max_rate_upload, 0);
    ck_assert_int_eq(users_find(u, "slow")->max_rate_download, -1);
    ck_assert_int_eq(users_find(u, "slow")->max_rate_upload, 64 * 1024);
    ck_assert_uint_eq(users_find(u, "slow")->perms, PERM_READ | PERM_UPLOAD);
    ck_assert_int_eq(users_find(u, "plain")->max_rate_download, -1);
    users_free(u);

    u = load("# nobody\n\n", err, sizeof err);
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(users_count(u), 0);
    users_free(u);
}
END_TEST

/* Each malformed line: the error names the file, the line and the field. */
static const struct {
    const char *line; /* {H}: a good hash, {D}: a good home */
    const char *want; /* after "FILE:2: " */
} bad_lines[] = {
    {"x:{H}:{D}:rx", "field 'permissions': unknown letter 'x'"},
    {"x:secret:{D}:r", "field 'password-hash': not a $y$, $6$ or $2b$ crypt hash"},
    {"x:$1$abc$def:{D}:r", "field 'password-hash':"},
    {"x:$6$salt$short:{D}:r", "field 'password-hash':"},
    {"x:$y$j9T$salt:{D}:r", "field 'password-hash':"},
    {"x::{D}:r", "field 'password-hash':"},
    {"x:{H}:relative/home:r", "field 'home': 'relative/home' is not an absolute path"},
    {"x:{H}:/nonexistent-ftpd-home:r", "field 'home': '/nonexistent-ftpd-home': No such file"},
    {"x:{H}:/etc/passwd:r", "field 'home': '/etc/passwd': Not a directory"},
    {":{H}:{D}:r", "field 'name': empty"},
    {"a b:{H}:{D}:r", "field 'name': byte 0x20 not allowed"},
    {"x:{H}:{D}", "expected name:password-hash:home:permissions[:options], got 3 fields"},
    {"x:{H}:{D}:r:o:p", "expected name:password-hash:home:permissions[:options], got 6 fields"},
    {"x:{H}:{D}:r:extra", "field 'options': unknown option 'extra' (max_rate_download"},
    {"x:{H}:{D}:r:max_rate_upload", "field 'options': max_rate_upload: '' is not a rate"},
    {"x:{H}:{D}:r:max_rate_download=fast", "field 'options': max_rate_download: 'fast' is not"},
    {"alice:{H}:{D}:r", "field 'name': 'alice' already defined on line 1"},
};

/* line with {H} and {D} replaced by hash_y and home. */
static void expand(const char *tmpl, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tmpl; *p != '\0';) {
        const char *put = NULL;
        if (strncmp(p, "{H}", 3) == 0)
            put = hash_y;
        else if (strncmp(p, "{D}", 3) == 0)
            put = home;
        if (put != NULL) {
            size_t len = strlen(put);
            ck_assert_uint_lt(n + len, cap);
            memcpy(out + n, put, len);
            n += len;
            p += 3;
        } else {
            ck_assert_uint_lt(n + 1, cap);
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

START_TEST(bad_line)
{
    char line[1024], text[2048], err[512] = "", want[512];
    expand(bad_lines[_i].line, line, sizeof line);
    snprintf(text, sizeof text, "alice:%s:%s:r\n%s\n", hash_y, home, line);
    ck_assert_ptr_null(load(text, err, sizeof err));
    snprintf(want, sizeof want, "%s:2: %s", ufile, bad_lines[_i].want);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got '%s', want '%s...'", err, want);
}
END_TEST

START_TEST(limits)
{
    char err[512] = "";
    /* A name one byte too long. */
    char name[FTPD_USER_NAME_MAX + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    char text[4096];
    snprintf(text, sizeof text, "%s:%s:%s:r\n", name, hash_y, home);
    ck_assert_ptr_null(load(text, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, ":1: field 'name': longer than 64 bytes"));
    /* A line longer than FTPD_USERS_LINE_MAX. */
    char *big = malloc(FTPD_USERS_LINE_MAX + 100);
    ck_assert_ptr_nonnull(big);
    memset(big, '#', FTPD_USERS_LINE_MAX + 50);
    strcpy(big + FTPD_USERS_LINE_MAX + 50, "\n");
    ck_assert_ptr_null(load(big, err, sizeof err));
    free(big);
    ck_assert_ptr_nonnull(strstr(err, ":1: line too long (at most 1024 characters)"));
    /* A missing file. */
    ck_assert_ptr_null(users_load("/nonexistent-ftpd-users", err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent-ftpd-users: cannot open: No such file or directory");
}
END_TEST

START_TEST(too_many_users)
{
    FILE *f = fopen(ufile, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i <= FTPD_USERS_MAX; i++)
        fprintf(f, "u%d:%s:%s:r\n", i, hash_6, home);
    ck_assert_int_eq(fclose(f), 0);
    char err[512] = "";
    ck_assert_ptr_null(users_load(ufile, err, sizeof err));
    ck_assert_msg(strstr(err, ":100001: too many users (at most 100000)") != NULL, "%s", err);
}
END_TEST

/* ---- hashes ---- */

START_TEST(hash_schemes)
{
    const char *hashes[] = {hash_y, hash_6, hash_2b, users_dummy_hash};
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(users_hash_supported(hashes[i]), "%s", hashes[i]);
    for (size_t i = 0; i < 3; i++) {
        ck_assert(users_check_password(hashes[i], "secret"));
        ck_assert(!users_check_password(hashes[i], "Secret"));
        ck_assert(!users_check_password(hashes[i], ""));
    }
    ck_assert(!users_check_password(users_dummy_hash, "secret"));
    ck_assert(!users_check_password(users_dummy_hash, ""));
    char made[USERS_HASH_MAX];
    ck_assert_int_eq(users_hash_password("pässword", made, sizeof made), 0);
    ck_assert_int_eq(strncmp(made, "$y$", 3), 0);
    ck_assert(users_hash_supported(made));
    ck_assert(users_check_password(made, "pässword"));
    ck_assert(!users_check_password(made, "password"));
    ck_assert(!users_hash_supported("secret"));
    ck_assert(!users_hash_supported(""));
}
END_TEST

/* ---- the PASS state machine ---- */

static struct users *table(const char *perms)
{
    char text[2048], err[512] = "";
    snprintf(text, sizeof text, "alice:%s:%s:%s\nbob:%s:%s:r\n", hash_y, home, perms, hash_6, home);
    struct users *u = load(text, err, sizeof err);
    ck_assert_msg(u != NULL, "%s", err);
    return u;
}

static struct session *new_session(const struct users *u)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 40000, &peer), 0);
    struct session *s = session_new(&cfg, anon_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    session_set_users(s, u);
    return s;
}

static const char *text_of(struct buf *out)
{
    static char text[8192];
    ck_assert_uint_lt(out->len, sizeof text);
    memcpy(text, buf_head(out), out->len);
    text[out->len] = '\0';
    buf_clear(out);
    return text;
}

static const char *cmd(struct session *s, const char *line, enum step *step)
{
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    if (step != NULL)
        *step = st;
    const char *t = text_of(&out);
    buf_free(&out);
    return t;
}

/* USER name, PASS pw: the steps a back-end sees and the final reply. */
static const char *login(struct session *s, const char *name, const char *pw, enum step *last)
{
    char line[256];
    snprintf(line, sizeof line, "USER %s", name);
    ck_assert_str_eq(cmd(s, line, NULL), "331 Please specify the password.\r\n");
    snprintf(line, sizeof line, "PASS %s", pw);
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    ck_assert_int_eq(st, STEP_WORK);
    ck_assert_uint_eq(out.len, 0); /* nothing before the check */
    struct work *w = session_work_take(s);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_null(session_work_take(s)); /* taken once */
    work_run(w);
    st = session_work_done(s, w, &out);
    if (st == STEP_DELAY) {
        ck_assert_uint_eq(out.len, 0); /* the 530 waits for the delay */
        ck_assert_int_eq(session_delay_ms(s), cfg.login_fail_delay * 1000);
        st = session_delay_done(s, &out);
    }
    *last = st;
    const char *t = text_of(&out);
    buf_free(&out);
    return t;
}

START_TEST(user_logs_in_each_scheme)
{
    struct users *u = table("r");
    enum step st;
    const char *names[] = {"alice", "bob"}; /* $y$, $6$ */
    for (int i = 0; i < 2; i++) {
        struct session *s = new_session(u);
        ck_assert_str_eq(login(s, names[i], "secret", &st), "230 Login successful.\r\n");
        ck_assert_int_eq(st, STEP_CONTINUE);
        char want[128];
        snprintf(want, sizeof want, "127.0.0.1:40000 %s", names[i]);
        ck_assert_str_eq(session_peer_name(s), want);
        /* The home is "/": its file is there, the anonymous root's is not,
         * and neither .. nor a symlink leaves it. */
        ck_assert_str_eq(cmd(s, "SIZE /mine.txt", NULL), "213 8\r\n");
        ck_assert_str_eq(cmd(s, "SIZE /public.txt", NULL), "550 Could not get file size.\r\n");
        ck_assert_str_eq(cmd(s, "SIZE ../anon/public.txt", NULL),
                         "550 Could not get file size.\r\n");
        ck_assert_str_eq(cmd(s, "SIZE escape/public.txt", NULL),
                         "550 Could not get file size.\r\n");
        const char *stat = cmd(s, "STAT", NULL);
        snprintf(want, sizeof want, " Logged in as %s\r\n", names[i]);
        ck_assert_msg(strstr(stat, want) != NULL, "%s", stat);
        session_free(s);
    }
    users_free(u);
}
END_TEST

/* The bandwidth caps a transfer job carries: the account's own (users
 * file options) where it has them, else the server's, per direction, and
 * the server's shared total as the back-end handed it to the session. */
static uint64_t job_rate(struct session *s, const char *command, struct rate_share **total)
{
    enum step st;
    ck_assert_int_eq(strncmp(cmd(s, "PASV", &st), "227 ", 4), 0);
    const char *r = cmd(s, command, &st);
    ck_assert_msg(st == STEP_TRANSFER, "%s: %s", command, r);
    struct transfer *t = session_transfer(s);
    ck_assert_ptr_nonnull(t);
    uint64_t rate = t->max_rate;
    *total = t->rate_total;
    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, XFER_OK, 0, &out);
    buf_free(&out);
    return rate;
}

START_TEST(transfer_carries_the_caps)
{
    char text[2048], err[512] = "";
    snprintf(text, sizeof text,
             "alice:%s:%s:rw:max_rate_download=4M,max_rate_upload=0\nbob:%s:%s:rw\n", hash_y, home,
             hash_6, home);
    struct users *u = load(text, err, sizeof err);
    ck_assert_msg(u != NULL, "%s", err);
    cfg.write_enable = true;
    cfg.max_rate_download = 1000000;
    cfg.max_rate_upload = 2000000;
    struct rate_share *shared = rate_share_new(8000000), *total;
    ck_assert_ptr_nonnull(shared);
    enum step st;

    struct session *s = new_session(u);
    session_set_rate_share(s, shared);
    ck_assert_str_eq(login(s, "alice", "secret", &st), "230 Login successful.\r\n");
    ck_assert_uint_eq(job_rate(s, "RETR mine.txt", &total), 4000000);
    ck_assert_ptr_eq(total, shared);
    ck_assert_uint_eq(job_rate(s, "LIST", &total), 4000000);  /* a listing is a download */
    ck_assert_uint_eq(job_rate(s, "STOR up.txt", &total), 0); /* her own: unlimited */
    session_free(s);

    s = new_session(u); /* no total given: none */
    ck_assert_str_eq(login(s, "bob", "secret", &st), "230 Login successful.\r\n");
    ck_assert_uint_eq(job_rate(s, "RETR mine.txt", &total), 1000000);
    ck_assert_ptr_null(total);
    ck_assert_uint_eq(job_rate(s, "STOR up2.txt", &total), 2000000);
    session_free(s);

    s = new_session(u); /* anonymous: the server's */
    ck_assert_str_eq(cmd(s, "USER anonymous", &st), "331 Please specify the password.\r\n");
    ck_assert_int_eq(strncmp(cmd(s, "PASS x@", &st), "230 ", 4), 0);
    ck_assert_uint_eq(job_rate(s, "RETR public.txt", &total), 1000000);
    session_free(s);

    rate_share_free(shared);
    users_free(u);
}
END_TEST

/* An unknown user and a wrong password: the same steps, the same reply. */
START_TEST(unknown_user_like_wrong_password)
{
    struct users *u = table("r");
    enum step st1, st2;
    struct session *s1 = new_session(u), *s2 = new_session(u);
    char r1[128], r2[128];
    snprintf(r1, sizeof r1, "%s", login(s1, "alice", "wrong", &st1));
    snprintf(r2, sizeof r2, "%s", login(s2, "mallory", "wrong", &st2));
    ck_assert_str_eq(r1, "530 Login incorrect.\r\n");
    ck_assert_str_eq(r1, r2);
    ck_assert_int_eq(st1, st2);
    ck_assert_str_eq(session_peer_name(s2), "127.0.0.1:40000");
    ck_assert_str_eq(cmd(s2, "PWD", NULL), "530 Please login with USER and PASS.\r\n");
    session_free(s1);
    session_free(s2);
    /* Without a users file every name is unknown. */
    s1 = new_session(NULL);
    ck_assert_str_eq(login(s1, "alice", "secret", &st1), "530 Login incorrect.\r\n");
    session_free(s1);
    users_free(u);
}
END_TEST

START_TEST(delay_and_max_fails)
{
    struct users *u = table("r");
    cfg.login_fail_delay = 2;
    cfg.max_login_fails = 2;
    struct session *s = new_session(u);
    enum step st;
    ck_assert_str_eq(login(s, "alice", "x", &st), "530 Login incorrect.\r\n");
    ck_assert_int_eq(st, STEP_CONTINUE);
    ck_assert_str_eq(login(s, "alice", "y", &st), "530 Login incorrect.\r\n");
    ck_assert_int_eq(st, STEP_CLOSE);
    session_free(s);

    /* login_fail_delay = 0: the 530 comes with the check's result. */
    cfg.login_fail_delay = 0;
    s = new_session(u);
    cmd(s, "USER alice", NULL);
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(session_command(s, "PASS x", 6, &out), STEP_WORK);
    struct work *w = session_work_take(s);
    work_run(w);
    ck_assert_int_eq(session_work_done(s, w, &out), STEP_CONTINUE);
    ck_assert_str_eq(text_of(&out), "530 Login incorrect.\r\n");
    /* A job whose session is gone is freed by the back-end. */
    cmd(s, "USER alice", NULL);
    ck_assert_int_eq(session_command(s, "PASS secret", 11, &out), STEP_WORK);
    work_free(session_work_take(s));
    /* A job refused (full queue): 421 and close. */
    cmd(s, "USER alice", NULL);
    ck_assert_int_eq(session_command(s, "PASS secret", 11, &out), STEP_WORK);
    ck_assert_int_eq(session_work_refused(s, session_work_take(s), &out), STEP_CLOSE);
    ck_assert_str_eq(text_of(&out), "421 Too many logins in progress, please try again later.\r\n");
    /* A job never taken is freed with its session. */
    cmd(s, "USER alice", NULL);
    ck_assert_int_eq(session_command(s, "PASS secret", 11, &out), STEP_WORK);
    buf_free(&out);
    session_free(s);
    users_free(u);
}
END_TEST

START_TEST(permission_letters)
{
    enum step st;
    /* r only: reads work, MKD is refused. */
    struct users *u = table("r");
    struct session *s = new_session(u);
    login(s, "alice", "secret", &st);
    ck_assert_str_eq(cmd(s, "SIZE mine.txt", NULL), "213 8\r\n");
    ck_assert_str_eq(cmd(s, "MKD new", NULL), "550 Permission denied.\r\n");
    session_free(s);
    users_free(u);

    /* No r: no RETR, LIST, SIZE. */
    u = table("");
    s = new_session(u);
    login(s, "alice", "secret", &st);
    ck_assert_str_eq(cmd(s, "RETR mine.txt", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "LIST", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "SIZE mine.txt", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/\" is the current directory\r\n");
    session_free(s);
    users_free(u);

    /* rwmdfc with write_enable = no: the write letters are stripped. The
     * log line names what is left. */
    u = table("rwmdfc");
    s = new_session(u);
    login(s, "alice", "secret", &st);
    ck_assert_str_eq(cmd(s, "MKD new", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "DELE mine.txt", NULL), "550 Permission denied.\r\n");
    session_free(s);
    users_free(u);
}
END_TEST

START_TEST(anonymous_still_works)
{
    struct users *u = table("r");
    struct session *s = new_session(u);
    ck_assert_str_eq(cmd(s, "USER ftp", NULL), "331 Please specify the password.\r\n");
    ck_assert_str_eq(cmd(s, "PASS x", NULL), "230 Login successful.\r\n");
    ck_assert_str_eq(cmd(s, "SIZE public.txt", NULL), "213 11\r\n");
    ck_assert_str_eq(session_peer_name(s), "127.0.0.1:40000 anonymous");
    ck_assert_ptr_nonnull(strstr(cmd(s, "STAT", NULL), " Logged in as anonymous\r\n"));
    session_free(s);
    /* anonymous = no: "anonymous" is just another unknown name. */
    cfg.anonymous = false;
    s = new_session(u);
    enum step st;
    ck_assert_str_eq(login(s, "anonymous", "x", &st), "530 Login incorrect.\r\n");
    session_free(s);
    users_free(u);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("accounts");
    TCase *tc = tcase_create("accounts");
    tcase_add_unchecked_fixture(tc, setup_once, NULL);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, good_file);
    tcase_add_loop_test(tc, bad_line, 0, (int)(sizeof bad_lines / sizeof bad_lines[0]));
    tcase_add_test(tc, limits);
    tcase_add_test(tc, too_many_users);
    tcase_add_test(tc, hash_schemes);
    tcase_add_test(tc, user_logs_in_each_scheme);
    tcase_add_test(tc, unknown_user_like_wrong_password);
    tcase_add_test(tc, delay_and_max_fails);
    tcase_add_test(tc, permission_letters);
    tcase_add_test(tc, anonymous_still_works);
    tcase_add_test(tc, transfer_carries_the_caps);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

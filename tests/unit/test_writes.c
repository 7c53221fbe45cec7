/* The write commands without sockets: STOR/STOU/APPE jobs and what
 * session_transfer_done makes of them for every result, DELE, MKD, RMD,
 * RNFR/RNTO, MFMT, SITE CHMOD, the overwrite rule, and confinement: nothing
 * outside the root is created, written, renamed or deleted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session_impl.h"
#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "unit.h"

static char base[64];  /* holds root/ and outside/ */
static char tree[128]; /* the served root */
static int root_fd = -1;
static struct ftpd_config cfg;

static void path_of(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", tree, rel);
}

static void put(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

/* Content of base/rel, or "<none>". */
static const char *get(const char *rel)
{
    static char text[4096];
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    int fd = open(p, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return "<none>";
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    text[n < 0 ? 0 : n] = '\0';
    return text;
}

static bool exists(const char *rel)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", base, rel);
    return lstat(p, &st) == 0;
}

/* Number of upload temp files left in the root. */
static int temps(void)
{
    DIR *d = opendir(tree);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, ".ftpd-upload.", 13) == 0;
    closedir(d);
    return n;
}

static void setup(void)
{
    strcpy(base, "/tmp/ftpd-writes-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(tree, sizeof tree, "%s/root", base);
    char p[512];
    ck_assert_int_eq(mkdir(tree, 0755), 0);
    snprintf(p, sizeof p, "%s/outside", base);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    put("outside/secret.txt", "secret\n");
    put("root/hello.txt", "hello\nworld\n");
    path_of(p, sizeof p, "dir");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    path_of(p, sizeof p, "empty");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    put("root/dir/inner.txt", "inner\n");
    path_of(p, sizeof p, "escape");
    ck_assert_int_eq(symlink("../outside/secret.txt", p), 0);
    path_of(p, sizeof p, "escdir");
    ck_assert_int_eq(symlink("../outside", p), 0);
    path_of(p, sizeof p, "absdir");
    char target[256];
    snprintf(target, sizeof target, "%s/outside", base);
    ck_assert_int_eq(symlink(target, p), 0);
    root_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
    config_defaults(&cfg);
    cfg.write_enable = true;
    cfg.anonymous_write = true;
    log_set_level(LOG_LVL_ERROR);
}

static void teardown(void)
{
    char c[128];
    close(root_fd);
    snprintf(c, sizeof c, "rm -rf '%s'", base);
    ck_assert_int_eq(system(c), 0);
}

/* Run one line; the reply as a static string. */
static const char *cmd(struct session *s, const char *line, enum step *step)
{
    static char text[8192];
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    if (step)
        *step = st;
    ck_assert_uint_lt(out.len, sizeof text);
    if (out.len > 0)
        memcpy(text, buf_head(&out), out.len);
    text[out.len] = '\0';
    buf_free(&out);
    return text;
}

static const char *done(struct session *s, enum xfer_result r, uint64_t bytes)
{
    static char text[1024];
    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, r, bytes, &out);
    ck_assert_uint_lt(out.len, sizeof text);
    if (out.len > 0)
        memcpy(text, buf_head(&out), out.len);
    text[out.len] = '\0';
    buf_free(&out);
    return text;
}

/* Logged in as anonymous (r w m with anonymous_write), then given perms. */
static struct session *login(unsigned perms)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 40000, &peer), 0);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    cmd(s, "USER anonymous", NULL);
    ck_assert_str_eq(cmd(s, "PASS a@b", NULL), "230 Login successful.\r\n");
    if (perms != 0)
        s->perms = perms; /* 0: what login granted */
    return s;
}

#define ANON_W (PERM_READ | PERM_UPLOAD | PERM_MKDIR)

/* Start an upload (with a data channel); the job's file fd. */
static int start(struct session *s, const char *line, const char *want_150)
{
    enum step st;
    ck_assert_str_eq(cmd(s, "PORT 127,0,0,1,200,1", NULL),
                     "200 PORT command successful. Consider using PASV.\r\n");
    const char *r = cmd(s, line, &st);
    if (want_150 != NULL)
        ck_assert_str_eq(r, want_150);
    ck_assert_int_eq(st, STEP_TRANSFER);
    struct transfer *t = session_transfer(s);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->kind, XFER_RECV_FILE);
    ck_assert_int_ge(t->file_fd, 0);
    return t->file_fd;
}

static void engine_writes(struct session *s, const char *data)
{
    struct transfer *t = session_transfer(s);
    ck_assert_int_eq(pwrite(t->file_fd, data, strlen(data), (off_t)t->offset),
                     (ssize_t)strlen(data));
}

/* The state only some commands need is allocated on demand and given back:
 * an idle logged-in session holds no job, no USER name and no cwd string. */
START_TEST(idle_session_holds_no_job)
{
    struct session *s = login(ANON_W);
    ck_assert_ptr_null(s->job);
    ck_assert_ptr_null(s->user_name); /* the login is over */
    ck_assert_ptr_null(s->cwd);       /* the root */
    ck_assert_str_eq(session_peer_name(s), "127.0.0.1:40000 anonymous");
    ck_assert_ptr_nonnull(strstr(cmd(s, "STAT", NULL), " Connected to 127.0.0.1:2121 from "
                                                       "127.0.0.1:40000\r\n"));
    /* Transfer commands that fail before their transfer starts. */
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    ck_assert_str_eq(cmd(s, "RETR missing", NULL), "550 Failed to open file.\r\n");
    ck_assert_ptr_null(s->job);
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    ck_assert_str_eq(cmd(s, "APPE dir", NULL), "553 Could not create file: it is a directory.\r\n");
    ck_assert_ptr_null(s->job);
    ck_assert_str_eq(cmd(s, "LIST missing", NULL), "550 No such file or directory.\r\n");
    ck_assert_ptr_null(s->job);
    ck_assert_int_eq(temps(), 0);
    /* A transfer holds its job until it is done; STAT shows its path. */
    start(s, "STOR j.txt", "150 Ok to send data.\r\n");
    ck_assert_ptr_nonnull(s->job);
    ck_assert_ptr_nonnull(strstr(cmd(s, "STAT", NULL), " Transfer in progress: /j.txt\r\n"));
    engine_writes(s, "j");
    ck_assert_str_eq(done(s, XFER_OK, 1), "226 Transfer complete.\r\n");
    ck_assert_ptr_null(s->job);
    ck_assert_str_eq(get("root/j.txt"), "j");
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    enum step st;
    cmd(s, "RETR j.txt", &st);
    ck_assert_int_eq(st, STEP_TRANSFER);
    ck_assert_ptr_nonnull(s->job);
    ck_assert_str_eq(done(s, XFER_OK, 1), "226 Transfer complete.\r\n");
    ck_assert_ptr_null(s->job);
    /* The cwd: a string below the root, none at the root. */
    ck_assert_str_eq(cmd(s, "CWD dir", NULL), "250 Directory successfully changed.\r\n");
    ck_assert_str_eq(s->cwd, "/dir");
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/dir\" is the current directory\r\n");
    ck_assert_str_eq(cmd(s, "CDUP", NULL), "250 Directory successfully changed.\r\n");
    ck_assert_ptr_null(s->cwd);
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/\" is the current directory\r\n");
    /* Freed mid-upload: the job goes with it, and the temporary file is
     * settled as for an abort (ASan checks that nothing leaks). */
    start(s, "STOR gone.txt", NULL);
    ck_assert_int_eq(temps(), 1);
    session_free(s);
    ck_assert_int_eq(temps(), 0);
}
END_TEST

START_TEST(user_name_held_until_login)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse("::1", 40001, &peer), 0);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(session_peer_name(s), "[::1]:40001");
    ck_assert_ptr_null(s->user_name);
    cmd(s, "USER bob", NULL);
    ck_assert_str_eq(s->user_name, "bob");
    cmd(s, "USER alice", NULL); /* replaces it */
    ck_assert_str_eq(s->user_name, "alice");
    char longname[FTPD_USER_NAME_MAX + 8];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    char line[sizeof longname + 8];
    snprintf(line, sizeof line, "USER %s", longname);
    ck_assert_str_eq(cmd(s, line, NULL), "331 Please specify the password.\r\n");
    ck_assert_str_eq(s->user_name, ""); /* matches no account */
    cmd(s, "USER ftp", NULL);
    ck_assert_str_eq(cmd(s, "PASS x", NULL), "230 Login successful.\r\n");
    ck_assert_ptr_null(s->user_name);
    ck_assert_str_eq(session_peer_name(s), "[::1]:40001 anonymous");
    session_free(s);
}
END_TEST

START_TEST(stor_new_name_commits_on_ok)
{
    struct session *s = login(ANON_W);
    start(s, "STOR new.txt", "150 Ok to send data.\r\n");
    ck_assert(!exists("root/new.txt")); /* hidden until complete */
    ck_assert_int_eq(temps(), 1);
    engine_writes(s, "fresh");
    ck_assert_str_eq(done(s, XFER_OK, 5), "226 Transfer complete.\r\n");
    ck_assert_str_eq(get("root/new.txt"), "fresh");
    ck_assert_int_eq(temps(), 0);
    struct stat st;
    char p[512];
    path_of(p, sizeof p, "new.txt");
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0644); /* 0666 & ~umask 022, never x */
    session_free(s);
}
END_TEST

/* Every result, for an existing target and a new name, with upload_partial
 * keep and delete. */
static const struct {
    enum xfer_result r;
    const char *reply;
} results[] = {
    {XFER_OK, "226 Transfer complete.\r\n"},
    {XFER_NO_CONN, "425 Failed to establish data connection.\r\n"},
    {XFER_ABORTED, "426 Connection closed; transfer aborted.\r\n"},
    {XFER_CONN_LOST, "426 Connection closed; transfer aborted.\r\n"},
    {XFER_LOCAL_ERROR, "451 Local error writing file.\r\n"},
    {XFER_SHUTDOWN, "426 Server shutting down; transfer aborted.\r\n"},
    {XFER_NO_SPACE, "452 Insufficient storage space.\r\n"},
    {XFER_QUOTA, "552 Exceeded storage allocation.\r\n"},
};

START_TEST(stor_every_result)
{
    for (int keep = 0; keep < 2; keep++) {
        cfg.upload_keep_partial = keep;
        for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
            put("root/old.txt", "previous");
            char np[512];
            path_of(np, sizeof np, "new.txt");
            unlink(np);
            struct session *s = login(PERM_ALL);
            start(s, "STOR old.txt", NULL);
            engine_writes(s, "partial");
            ck_assert_str_eq(done(s, results[i].r, 7), results[i].reply);
            bool ok = results[i].r == XFER_OK;
            /* an existing target: replaced only on success */
            ck_assert_str_eq(get("root/old.txt"), ok ? "partial" : "previous");
            ck_assert_int_eq(temps(), 0);

            start(s, "STOR new.txt", NULL);
            engine_writes(s, "prefix");
            ck_assert_str_eq(done(s, results[i].r, 6), results[i].reply);
            /* a new name: kept on failure with upload_partial = keep */
            ck_assert_str_eq(get("root/new.txt"), ok || keep ? "prefix" : "<none>");
            ck_assert_int_eq(temps(), 0);
            session_free(s);
        }
    }
}
END_TEST

START_TEST(abort_reply_order)
{
    struct session *s = login(ANON_W);
    start(s, "STOR new.txt", NULL);
    enum step st;
    ck_assert_str_eq(cmd(s, "ABOR", &st), "");
    ck_assert_int_eq(st, STEP_ABORT);
    ck_assert_str_eq(done(s, XFER_ABORTED, 0),
                     "426 Connection closed; transfer aborted.\r\n226 Abort successful.\r\n");
    session_free(s);
}
END_TEST

START_TEST(session_freed_mid_upload_rolls_back)
{
    struct session *s = login(PERM_ALL);
    start(s, "STOR hello.txt", NULL);
    engine_writes(s, "half");
    session_free(s); /* control connection gone, no transfer_done */
    ck_assert_str_eq(get("root/hello.txt"), "hello\nworld\n");
    ck_assert_int_eq(temps(), 0);
}
END_TEST

START_TEST(overwrite_needs_delete_letter)
{
    struct session *s = login(ANON_W);
    ck_assert_str_eq(cmd(s, "PORT 127,0,0,1,200,1", NULL),
                     "200 PORT command successful. Consider using PASV.\r\n");
    ck_assert_str_eq(cmd(s, "STOR hello.txt", NULL),
                     "550 Permission denied: cannot overwrite an existing file.\r\n");
    ck_assert_str_eq(cmd(s, "STOR escape", NULL),
                     "550 Permission denied: cannot overwrite an existing file.\r\n");
    cmd(s, "REST 3", NULL);
    ck_assert_str_eq(cmd(s, "STOR hello.txt", NULL),
                     "550 Permission denied: cannot overwrite existing bytes.\r\n");
    ck_assert_str_eq(get("root/hello.txt"), "hello\nworld\n");
    /* at the end of the file nothing is overwritten: a resume */
    cmd(s, "REST 12", NULL);
    start(s, "STOR hello.txt", "150 Ok to send data.\r\n");
    ck_assert_uint_eq(session_transfer(s)->offset, 12);
    engine_writes(s, "more\n");
    ck_assert_str_eq(done(s, XFER_OK, 5), "226 Transfer complete.\r\n");
    ck_assert_str_eq(get("root/hello.txt"), "hello\nworld\nmore\n");
    /* APPE adds: allowed */
    start(s, "APPE hello.txt", NULL);
    engine_writes(s, "tail\n");
    ck_assert_str_eq(done(s, XFER_OK, 5), "226 Transfer complete.\r\n");
    ck_assert_str_eq(get("root/hello.txt"), "hello\nworld\nmore\ntail\n");
    /* and no delete, rename, chmod */
    ck_assert_str_eq(cmd(s, "DELE hello.txt", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "RNFR hello.txt", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "SITE CHMOD 600 hello.txt", NULL), "550 Permission denied.\r\n");
    ck_assert_str_eq(cmd(s, "MFMT 20200102030405 hello.txt", NULL), "550 Permission denied.\r\n");
    session_free(s);

    s = login(PERM_ALL);
    start(s, "STOR hello.txt", NULL);
    engine_writes(s, "new");
    ck_assert_str_eq(done(s, XFER_OK, 3), "226 Transfer complete.\r\n");
    ck_assert_str_eq(get("root/hello.txt"), "new");
    session_free(s);
}
END_TEST

START_TEST(write_enable_off_refuses_all)
{
    cfg.write_enable = false; /* anonymous_write stays on: still nothing */
    struct session *s = login(0);
    ck_assert_uint_eq(s->perms, PERM_READ);
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    const char *lines[] = {"STOR x",
                           "STOU",
                           "APPE hello.txt",
                           "DELE hello.txt",
                           "MKD x",
                           "RMD empty",
                           "RNFR hello.txt",
                           "RNTO y",
                           "SITE CHMOD 600 hello.txt",
                           "MFMT 20200102030405 hello.txt"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_str_eq(cmd(s, lines[i], NULL), "550 Permission denied.\r\n");
    session_free(s);
    /* anonymous_write alone: w and m, nothing else */
    cfg.write_enable = true;
    s = login(0);
    ck_assert_uint_eq(s->perms, ANON_W);
    session_free(s);
}
END_TEST

START_TEST(rest_stor_resumes_in_place)
{
    struct session *s = login(PERM_ALL);
    cmd(s, "REST 6", NULL);
    start(s, "STOR hello.txt", NULL);
    ck_assert_uint_eq(session_transfer(s)->offset, 6);
    ck_assert_str_eq(get("root/hello.txt"), "hello\n"); /* cut at the offset */
    ck_assert_int_eq(temps(), 0);                       /* in place */
    engine_writes(s, "WORLD");
    /* a failure keeps what arrived: the next resume starts there */
    ck_assert_str_eq(done(s, XFER_CONN_LOST, 5), "426 Connection closed; transfer aborted.\r\n");
    ck_assert_str_eq(get("root/hello.txt"), "hello\nWORLD");
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    cmd(s, "REST 99", NULL);
    ck_assert_str_eq(cmd(s, "STOR hello.txt", NULL),
                     "554 Restart offset 99 is beyond the end of the file.\r\n");
    cmd(s, "REST 1", NULL);
    ck_assert_str_eq(cmd(s, "STOR missing.txt", NULL),
                     "554 Restart offset 1: the file does not exist.\r\n");
    /* REST applies to one command only */
    start(s, "STOR hello.txt", NULL);
    ck_assert_uint_eq(session_transfer(s)->offset, 0);
    ck_assert_int_eq(temps(), 1);
    done(s, XFER_ABORTED, 0);
    ck_assert_str_eq(get("root/hello.txt"), "hello\nWORLD");
    session_free(s);
}
END_TEST

START_TEST(appe_creates_and_appends)
{
    struct session *s = login(ANON_W);
    start(s, "APPE log.txt", NULL);
    ck_assert(exists("root/log.txt")); /* in place */
    engine_writes(s, "one\n");
    ck_assert_str_eq(done(s, XFER_OK, 4), "226 Transfer complete.\r\n");
    start(s, "APPE log.txt", NULL);
    ck_assert_uint_eq(session_transfer(s)->offset, 4);
    engine_writes(s, "two\n");
    done(s, XFER_OK, 4);
    ck_assert_str_eq(get("root/log.txt"), "one\ntwo\n");
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    ck_assert_str_eq(cmd(s, "APPE dir", NULL), "553 Could not create file: it is a directory.\r\n");
    session_free(s);
}
END_TEST

START_TEST(stou_names)
{
    struct session *s = login(ANON_W);
    start(s, "STOU", NULL);
    struct upload *up = &s->job->up;
    ck_assert_int_eq(strncmp(up->name, "ftpd.", 5), 0);
    char want[64], rel[64];
    snprintf(rel, sizeof rel, "root/%s", up->name);
    done(s, XFER_OK, 0);
    ck_assert(exists(rel));
    start(s, "STOU hello.txt", "150 FILE: hello.txt.1\r\n");
    done(s, XFER_OK, 0);
    start(s, "STOU hello.txt", "150 FILE: hello.txt.2\r\n");
    engine_writes(s, "x");
    done(s, XFER_OK, 1);
    ck_assert_str_eq(get("root/hello.txt.2"), "x");
    ck_assert_str_eq(get("root/hello.txt"), "hello\nworld\n");
    start(s, "STOU fresh", "150 FILE: fresh\r\n");
    done(s, XFER_OK, 0);
    (void)want;
    session_free(s);
}
END_TEST

START_TEST(mkd_rmd_dele)
{
    struct session *s = login(PERM_ALL);
    ck_assert_str_eq(cmd(s, "MKD a\"b", NULL), "257 \"/a\"\"b\" created\r\n");
    ck_assert_str_eq(cmd(s, "XMKD dir/sub", NULL), "257 \"/dir/sub\" created\r\n");
    char p[512];
    struct stat st;
    path_of(p, sizeof p, "dir/sub");
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0755);
    ck_assert_str_eq(cmd(s, "MKD dir/sub", NULL), "550 Create directory operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "MKD /", NULL), "550 Create directory operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "RMD dir", NULL), "550 Remove directory operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "XRMD dir/sub", NULL),
                     "250 Remove directory operation successful.\r\n");
    ck_assert_str_eq(cmd(s, "DELE dir", NULL), "550 Delete operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "DELE dir/inner.txt", NULL), "250 Delete operation successful.\r\n");
    ck_assert(!exists("root/dir/inner.txt"));
    ck_assert_str_eq(cmd(s, "DELE dir/inner.txt", NULL), "550 Delete operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "RMD dir", NULL), "250 Remove directory operation successful.\r\n");
    session_free(s);
}
END_TEST

START_TEST(rnfr_rnto_sequence)
{
    struct session *s = login(PERM_READ | PERM_RENAME);
    ck_assert_str_eq(cmd(s, "RNTO x", NULL), "503 RNFR required first.\r\n");
    ck_assert_str_eq(cmd(s, "RNFR missing", NULL), "550 RNFR command failed.\r\n");
    ck_assert_str_eq(cmd(s, "RNFR hello.txt", NULL), "350 Ready for RNTO.\r\n");
    ck_assert_str_eq(cmd(s, "RNTO dir/moved.txt", NULL), "250 Rename successful.\r\n");
    ck_assert_str_eq(get("root/dir/moved.txt"), "hello\nworld\n");
    /* any other command in between cancels the RNFR */
    ck_assert_str_eq(cmd(s, "RNFR dir/moved.txt", NULL), "350 Ready for RNTO.\r\n");
    ck_assert_str_eq(cmd(s, "NOOP", NULL), "200 NOOP ok.\r\n");
    ck_assert_str_eq(cmd(s, "RNTO back.txt", NULL), "503 RNFR required first.\r\n");
    ck_assert_str_eq(cmd(s, "RNFR dir/moved.txt", NULL), "350 Ready for RNTO.\r\n");
    ck_assert_str_eq(cmd(s, "BOGUS", NULL), "500 Unknown command.\r\n");
    ck_assert_str_eq(cmd(s, "RNTO back.txt", NULL), "503 RNFR required first.\r\n");
    /* RNTO consumes it */
    cmd(s, "RNFR dir/moved.txt", NULL);
    ck_assert_str_eq(cmd(s, "RNTO dir/inner.txt", NULL),
                     "550 Rename failed: the target exists.\r\n"); /* no d: no overwrite */
    ck_assert_str_eq(cmd(s, "RNTO dir/inner.txt", NULL), "503 RNFR required first.\r\n");
    ck_assert_str_eq(get("root/dir/inner.txt"), "inner\n");
    session_free(s);
    s = login(PERM_READ | PERM_RENAME | PERM_DELETE);
    cmd(s, "RNFR dir/moved.txt", NULL);
    ck_assert_str_eq(cmd(s, "RNTO dir/inner.txt", NULL), "250 Rename successful.\r\n");
    ck_assert_str_eq(get("root/dir/inner.txt"), "hello\nworld\n");
    cmd(s, "RNFR dir", NULL);
    ck_assert_str_eq(cmd(s, "RNTO dir/inside", NULL), "550 Rename failed.\r\n");
    session_free(s);
}
END_TEST

/* Regression (fuzz_session): "MKD new\rx" made a directory whose 257
 * reply carried a bare CR into the reply line. Names with CR or LF are
 * refused by every command that makes a name; one made outside FTP is
 * quoted with CR NUL (RFC 2640 3.1). */
START_TEST(names_with_cr_refused_fuzz_session)
{
    struct session *s = login(PERM_ALL);
    ck_assert_str_eq(cmd(s, "MKD new\rx", NULL), "550 Create directory operation failed.\r\n");
    ck_assert(!exists("root/new\rx"));
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    enum step st;
    ck_assert_str_eq(cmd(s, "STOR up\rx", &st), "553 Could not create file.\r\n");
    ck_assert_int_eq(st, STEP_CONTINUE);
    ck_assert(!exists("root/up\rx"));
    ck_assert_str_eq(cmd(s, "RNFR hello.txt", NULL), "350 Ready for RNTO.\r\n");
    ck_assert_str_eq(cmd(s, "RNTO h\rx", NULL), "550 Rename failed.\r\n");
    ck_assert(exists("root/hello.txt"));
    ck_assert_int_eq(temps(), 0);

    char p[512];
    path_of(p, sizeof p, "a\rb");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    ck_assert_str_eq(cmd(s, "CWD a\rb", NULL), "250 Directory successfully changed.\r\n");
    struct buf out;
    buf_init(&out, 0);
    session_command(s, "PWD", 3, &out);
    static const char want[] = "257 \"/a\r\0b\" is the current directory\r\n";
    ck_assert_uint_eq(out.len, sizeof want - 1);
    ck_assert_int_eq(memcmp(buf_head(&out), want, out.len), 0);
    buf_free(&out);
    session_free(s);
}
END_TEST

START_TEST(mfmt_and_chmod)
{
    struct session *s = login(PERM_ALL);
    ck_assert_str_eq(cmd(s, "MFMT 20200102030405 hello.txt", NULL),
                     "213 Modify=20200102030405; hello.txt\r\n");
    ck_assert_str_eq(cmd(s, "MDTM hello.txt", NULL), "213 20200102030405\r\n");
    ck_assert_str_eq(cmd(s, "MFMT 2020010203040 hello.txt", NULL),
                     "501 MFMT needs YYYYMMDDHHMMSS and a path.\r\n");
    ck_assert_str_eq(cmd(s, "MFMT 20201302030405 hello.txt", NULL),
                     "501 MFMT needs YYYYMMDDHHMMSS and a path.\r\n");
    ck_assert_str_eq(cmd(s, "MFMT 20200102030405 nope", NULL),
                     "550 Could not set the modification time.\r\n");
    ck_assert_str_eq(cmd(s, "SITE CHMOD 600 hello.txt", NULL), "200 SITE CHMOD command ok.\r\n");
    char p[512];
    struct stat st;
    path_of(p, sizeof p, "hello.txt");
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_str_eq(cmd(s, "SITE CHMOD 4755 hello.txt", NULL),
                     "501 SITE CHMOD: only permission bits (at most 777).\r\n");
    ck_assert_str_eq(cmd(s, "SITE CHMOD 9 hello.txt", NULL),
                     "501 SITE CHMOD needs an octal mode and a path.\r\n");
    ck_assert_str_eq(cmd(s, "SITE CHMOD 644", NULL),
                     "501 SITE CHMOD needs an octal mode and a path.\r\n");
    session_free(s);
}
END_TEST

/* What must not change outside the root. */
static void assert_outside_intact(void)
{
    ck_assert_str_eq(get("outside/secret.txt"), "secret\n");
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/outside/secret.txt", base);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0644);
    ck_assert_int_ne(st.st_mtime, 1577934245);
    snprintf(p, sizeof p, "%s/outside", base);
    DIR *d = opendir(p);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n++;
    closedir(d);
    ck_assert_int_eq(n, 3); /* . .. secret.txt */
}

/* Every write command against every way out: "..", absolute paths,
 * symlinks to the outside (relative and absolute, as a directory on the way
 * and as the final component). None may touch outside/. */
START_TEST(confinement)
{
    const char *paths[] = {"../outside/secret.txt", "/../outside/secret.txt",
                           "../../outside/new",     "escape",
                           "escdir/secret.txt",     "escdir/new",
                           "absdir/secret.txt",     "absdir/new",
                           "dir/../../outside/new", "escdir"};
    const char *verbs[] = {"STOR", "APPE", "STOU", "DELE",  "MKD",
                           "RMD",  "RNFR", "MFMT", "CHMOD", "REST"};
    for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++) {
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            struct session *s = login(PERM_ALL);
            cmd(s, "PORT 127,0,0,1,200,1", NULL);
            char line[256];
            enum step st = STEP_CONTINUE;
            if (strcmp(verbs[v], "MFMT") == 0) {
                snprintf(line, sizeof line, "MFMT 20200102030405 %s", paths[i]);
                cmd(s, line, &st);
            } else if (strcmp(verbs[v], "CHMOD") == 0) {
                snprintf(line, sizeof line, "SITE CHMOD 777 %s", paths[i]);
                cmd(s, line, &st);
            } else if (strcmp(verbs[v], "REST") == 0) {
                cmd(s, "REST 2", NULL);
                snprintf(line, sizeof line, "STOR %s", paths[i]);
                cmd(s, line, &st);
            } else if (strcmp(verbs[v], "RNFR") == 0) {
                /* out of the root, and into it */
                snprintf(line, sizeof line, "RNFR %s", paths[i]);
                cmd(s, line, NULL);
                cmd(s, "RNTO stolen", NULL);
                cmd(s, "RNFR hello.txt", NULL);
                snprintf(line, sizeof line, "RNTO %s", paths[i]);
                cmd(s, line, NULL);
            } else {
                snprintf(line, sizeof line, "%s %s", verbs[v], paths[i]);
                cmd(s, line, &st);
            }
            if (st == STEP_TRANSFER) {
                engine_writes(s, "PWNED");
                done(s, XFER_OK, 5);
            }
            session_free(s);
            assert_outside_intact();
            /* Put back what a command may legitimately have changed inside
             * (a replaced or removed link). */
            char p[512];
            path_of(p, sizeof p, "escape");
            unlink(p);
            ck_assert_int_eq(symlink("../outside/secret.txt", p), 0);
            path_of(p, sizeof p, "escdir");
            unlink(p);
            rmdir(p);
            ck_assert_int_eq(symlink("../outside", p), 0);
            if (!exists("root/hello.txt"))
                put("root/hello.txt", "hello\nworld\n");
        }
    }
}
END_TEST

/* The directory the session is in is swapped for a symlink to the outside
 * after CWD: the next write resolves it again, inside the root. */
START_TEST(symlink_swapped_in_after_cwd)
{
    struct session *s = login(PERM_ALL);
    ck_assert_str_eq(cmd(s, "CWD dir", NULL), "250 Directory successfully changed.\r\n");
    char p[512], q[512];
    path_of(p, sizeof p, "dir");
    path_of(q, sizeof q, "dir.old");
    ck_assert_int_eq(rename(p, q), 0);
    ck_assert_int_eq(symlink("../outside", p), 0);
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    ck_assert_str_eq(cmd(s, "STOR new.txt", NULL), "553 Could not create file.\r\n");
    ck_assert_str_eq(cmd(s, "APPE secret.txt", NULL), "553 Could not create file.\r\n");
    ck_assert_str_eq(cmd(s, "STOU", NULL), "553 Could not create file.\r\n");
    ck_assert_str_eq(cmd(s, "DELE secret.txt", NULL), "550 Delete operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "MKD x", NULL), "550 Create directory operation failed.\r\n");
    ck_assert_str_eq(cmd(s, "RNFR secret.txt", NULL), "550 RNFR command failed.\r\n");
    ck_assert_str_eq(cmd(s, "SITE CHMOD 777 secret.txt", NULL),
                     "550 SITE CHMOD command failed.\r\n");
    /* an absolute symlink the same */
    unlink(p);
    char target[256];
    snprintf(target, sizeof target, "%s/outside", base);
    ck_assert_int_eq(symlink(target, p), 0);
    ck_assert_str_eq(cmd(s, "STOR new.txt", NULL), "553 Could not create file.\r\n");
    ck_assert_str_eq(cmd(s, "DELE secret.txt", NULL), "550 Delete operation failed.\r\n");
    session_free(s);
    assert_outside_intact();
}
END_TEST

/* A final component that is a symlink to the outside: STOR replaces the
 * link (never writes its target), APPE and REST+STOR refuse it, DELE
 * removes the link, CHMOD refuses it. */
START_TEST(final_component_symlink)
{
    struct session *s = login(PERM_ALL);
    cmd(s, "PORT 127,0,0,1,200,1", NULL);
    ck_assert_str_eq(cmd(s, "APPE escape", NULL), "553 Could not open file for appending.\r\n");
    cmd(s, "REST 1", NULL);
    ck_assert_str_eq(cmd(s, "STOR escape", NULL), "553 Could not open file.\r\n");
    ck_assert_str_eq(cmd(s, "SITE CHMOD 777 escape", NULL), "550 SITE CHMOD command failed.\r\n");
    start(s, "STOR escape", NULL);
    engine_writes(s, "mine");
    ck_assert_str_eq(done(s, XFER_OK, 4), "226 Transfer complete.\r\n");
    ck_assert_str_eq(get("root/escape"), "mine"); /* a regular file now */
    assert_outside_intact();
    ck_assert_str_eq(cmd(s, "DELE escdir", NULL), "250 Delete operation successful.\r\n");
    assert_outside_intact();
    session_free(s);
}
END_TEST

/* TYPE A uploads: CRLF -> LF, a CR at a chunk end carried over. */
START_TEST(ascii_decode_chunks)
{
    const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"a\r\nb\r\n", "a\nb\n"},
        {"a\nb", "a\nb"},
        {"a\rb", "a\rb"},
        {"\r\r\n", "\r\n"},
        {"x\r", "x\r"},
        {"\r\n\r\n", "\n\n"},
        {"", ""},
        {"no line end", "no line end"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = strlen(cases[c].in);
        /* every split point, and one byte at a time */
        for (size_t cut = 0; cut <= n; cut++) {
            char buf[64], out[64];
            size_t len = 0;
            bool cr = false;
            const char *parts[2] = {cases[c].in, cases[c].in + cut};
            size_t sizes[2] = {cut, n - cut};
            for (int k = 0; k < 2; k++) {
                /* in place: the chunk one byte into the buffer */
                memcpy(buf + 1, parts[k], sizes[k]);
                size_t m = xfer_ascii_decode(buf + 1, sizes[k], buf, &cr);
                memcpy(out + len, buf, m);
                len += m;
            }
            if (cr)
                out[len++] = '\r'; /* the end of the data */
            out[len] = '\0';
            ck_assert_msg(strcmp(out, cases[c].want) == 0, "case %zu cut %zu", c, cut);
        }
    }
}
END_TEST

START_TEST(write_errors_are_told_apart)
{
    ck_assert_int_eq(xfer_write_error(ENOSPC), XFER_NO_SPACE);
    ck_assert_int_eq(xfer_write_error(EDQUOT), XFER_QUOTA);
    ck_assert_int_eq(xfer_write_error(EFBIG), XFER_QUOTA);
    ck_assert_int_eq(xfer_write_error(EIO), XFER_LOCAL_ERROR);
}
END_TEST

START_TEST(feat_and_mlst_perms)
{
    struct session *s = login(ANON_W);
    ck_assert_ptr_nonnull(strstr(cmd(s, "FEAT", NULL), " MFMT\r\n"));
    ck_assert_ptr_nonnull(strstr(cmd(s, "MLST hello.txt", NULL), ";perm=ra;"));
    ck_assert_ptr_nonnull(strstr(cmd(s, "MLST dir", NULL), ";perm=elcm;"));
    s->perms = PERM_ALL;
    ck_assert_ptr_nonnull(strstr(cmd(s, "MLST hello.txt", NULL), ";perm=radfw;"));
    session_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("writes");
    TCase *tc = tcase_create("writes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stor_new_name_commits_on_ok);
    tcase_add_test(tc, stor_every_result);
    tcase_add_test(tc, abort_reply_order);
    tcase_add_test(tc, session_freed_mid_upload_rolls_back);
    tcase_add_test(tc, overwrite_needs_delete_letter);
    tcase_add_test(tc, write_enable_off_refuses_all);
    tcase_add_test(tc, rest_stor_resumes_in_place);
    tcase_add_test(tc, appe_creates_and_appends);
    tcase_add_test(tc, stou_names);
    tcase_add_test(tc, mkd_rmd_dele);
    tcase_add_test(tc, names_with_cr_refused_fuzz_session);
    tcase_add_test(tc, rnfr_rnto_sequence);
    tcase_add_test(tc, mfmt_and_chmod);
    tcase_add_test(tc, confinement);
    tcase_add_test(tc, symlink_swapped_in_after_cwd);
    tcase_add_test(tc, final_component_symlink);
    tcase_add_test(tc, ascii_decode_chunks);
    tcase_add_test(tc, write_errors_are_told_apart);
    tcase_add_test(tc, feat_and_mlst_perms);
    tcase_add_test(tc, idle_session_holds_no_job);
    tcase_add_test(tc, user_name_held_until_login);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The whole command dispatcher: the input is a sequence of command lines
 * (split at LF, a CR before it dropped, at most MAX_LINES) fed to one
 * session over a small temporary tree with writes enabled, as a back-end
 * would: password checks run in place, a transfer job is run at once
 * (a listing is read to its end, an upload gets a few bytes) or, when the
 * first input byte says so, stays open while the next line arrives
 * (ABOR, STAT, deferred commands), and ends with a result the input picks.
 * Invariants: every reply is well-formed RFC 959 (fuzz_check_replies),
 * every command gets one, and nothing outside the tree is touched (the
 * tree has symlinks pointing out of it; the outside directory and its file
 * must keep their entries, content and times).
 * The tree is rebuilt before each input that follows one able to change
 * it (a write command anywhere in it), so runs are reproducible.
 * Password hashing is not what this harness tests: crypt_rn is wrapped to
 * fail yescrypt checks (the unknown user's dummy hash, ~80 ms) at once,
 * and to answer for the accounts' own SHA-512 hash by comparing the
 * password, as crypt would but without its thousand rounds (a quarter of
 * the harness's time once inputs log in often).
 * Needs: src/core/session.c
 * Link: -Wl,--wrap=crypt_rn */
#include <crypt.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ftpd/config.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "ftpd/transfer.h"
#include "ftpd/users.h"

#define MAX_LINES 64

static char base[64];     /* holds root/, outside/ and the users file */
static char root[128];    /* the served tree */
static char outside[128]; /* must never change */
static struct stat outside_st, secret_st;
static struct ftpd_config cfg;
static struct users *users;

char *__real_crypt_rn(const char *phrase, const char *setting, void *data, int size);
char *__wrap_crypt_rn(const char *phrase, const char *setting, void *data, int size);

static char pw_hash[CRYPT_OUTPUT_SIZE]; /* the accounts' hash of "pw" */
static char not_pw[CRYPT_OUTPUT_SIZE];  /* what crypt gives for another password */

char *__wrap_crypt_rn(const char *phrase, const char *setting, void *data, int size)
{
    if (strncmp(setting, "$y$", 3) == 0) {
        static char failed[] = "*0"; /* crypt's "no match possible" */
        return failed;
    }
    if (pw_hash[0] != '\0' && strcmp(setting, pw_hash) == 0)
        return strcmp(phrase, "pw") == 0 ? pw_hash : not_pw;
    return __real_crypt_rn(phrase, setting, data, size);
}

/* A write command anywhere in the input (any case), so the tree may have
 * changed: STOR STOU APPE DELE RMD XRMD MKD XMKD RNFR RNTO SITE MFMT. */
static bool may_write(const uint8_t *data, size_t size)
{
    static const char *const verbs[] = {"STOR", "STOU", "APPE", "DELE", "RMD",
                                        "MKD",  "RNFR", "RNTO", "SITE", "MFMT"};
    for (size_t i = 0; i < size; i++) {
        for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++) {
            size_t n = strlen(verbs[v]);
            if (i + n <= size && strncasecmp((const char *)data + i, verbs[v], n) == 0)
                return true;
        }
    }
    return false;
}

static void die(const char *what)
{
    perror(what);
    abort();
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        die(path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (ftw->level == 0)
        return 0; /* keep root itself */
    if (remove(path) != 0 && chmod(path, 0700) == 0 && remove(path) != 0)
        die(path);
    return 0;
}

/* The served tree as each input finds it. */
static void build_tree(void)
{
    if (nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        die("nftw");
    char p[512], target[256];
    snprintf(p, sizeof p, "%s/hello.txt", root);
    put(p, "hello\nworld\n");
    snprintf(p, sizeof p, "%s/dir", root);
    if (mkdir(p, 0755) != 0)
        die(p);
    snprintf(p, sizeof p, "%s/dir/inner.txt", root);
    put(p, "inner\n");
    snprintf(p, sizeof p, "%s/empty", root);
    if (mkdir(p, 0755) != 0)
        die(p);
    snprintf(p, sizeof p, "%s/escape", root);
    if (symlink("../outside/secret.txt", p) != 0)
        die(p);
    snprintf(p, sizeof p, "%s/escdir", root);
    if (symlink("../outside", p) != 0)
        die(p);
    snprintf(p, sizeof p, "%s/absdir", root);
    snprintf(target, sizeof target, "%s", outside);
    if (symlink(target, p) != 0)
        die(p);
}

static void check_outside(void)
{
    struct stat st;
    char p[256];
    FUZZ_ASSERT(lstat(outside, &st) == 0 && S_ISDIR(st.st_mode), "outside/ is gone");
    FUZZ_ASSERT(st.st_mtim.tv_sec == outside_st.st_mtim.tv_sec &&
                    st.st_mtim.tv_nsec == outside_st.st_mtim.tv_nsec &&
                    st.st_mode == outside_st.st_mode && st.st_nlink == outside_st.st_nlink,
                "outside/ changed (an entry made, removed or renamed, or its mode)");
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    FUZZ_ASSERT(lstat(p, &st) == 0 && st.st_size == secret_st.st_size &&
                    st.st_mtim.tv_sec == secret_st.st_mtim.tv_sec &&
                    st.st_mtim.tv_nsec == secret_st.st_mtim.tv_nsec &&
                    st.st_mode == secret_st.st_mode && st.st_ino == secret_st.st_ino,
                "outside/secret.txt changed");
    /* base holds root, outside and users only */
    DIR *d = opendir(base);
    FUZZ_ASSERT(d != NULL, "base is gone");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        FUZZ_ASSERT(strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "root") == 0 ||
                        strcmp(n, "outside") == 0 || strcmp(n, "users") == 0,
                    "'%s' appeared next to the tree", n);
    }
    closedir(d);
}

static void cleanup(void)
{
    char c[128];
    snprintf(c, sizeof c, "chmod -R u+rwx '%s'; rm -rf '%s'", base, base);
    if (system(c) != 0)
        fprintf(stderr, "could not remove %s\n", base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_mkdtemp(base, sizeof base, "session");
    atexit(cleanup);
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    if (mkdir(root, 0755) != 0 || mkdir(outside, 0755) != 0)
        die("mkdir");
    char p[512];
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    put(p, "secret\n");
    if (lstat(outside, &outside_st) != 0 || lstat(p, &secret_st) != 0)
        die("lstat");

    /* "u" / "pw" with every permission; SHA-512 at its lowest cost, so a
     * login costs ~1 ms, not yescrypt's 20 */
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    static struct crypt_data cd;
    if (crypt_gensalt_rn("$6$", 1000, NULL, 0, setting, sizeof setting) == NULL)
        die("crypt_gensalt_rn");
    const char *hash = __real_crypt_rn("pw", setting, &cd, sizeof cd);
    if (hash == NULL)
        die("crypt_rn");
    snprintf(pw_hash, sizeof pw_hash, "%s", hash);
    snprintf(not_pw, sizeof not_pw, "%s", hash);
    size_t last = strlen(not_pw) - 1;
    not_pw[last] = not_pw[last] == 'A' ? 'B' : 'A';
    char ufile[256], line[1024], err[512];
    snprintf(ufile, sizeof ufile, "%s/users", base);
    snprintf(line, sizeof line, "u:%s:%s:rwmdfc\nr:%s:%s:r\n", hash, root, hash, root);
    put(ufile, line);
    users = users_load(ufile, err, sizeof err);
    if (users == NULL) {
        fprintf(stderr, "users_load: %s\n", err);
        abort();
    }

    config_defaults(&cfg);
    cfg.write_enable = true;
    cfg.anonymous_write = true;
    cfg.login_fail_delay = 0;
    cfg.max_login_fails = 1000;
    log_set_level(LOG_LVL_ERROR);
    return 0;
}

/* The steps a back-end takes after a command, for the replies. */
struct run {
    struct session *s;
    struct buf out;
    unsigned results; /* input bits choosing transfer results */
    bool closed;
};

static enum xfer_result pick_result(struct run *r)
{
    static const enum xfer_result results[] = {XFER_OK,        XFER_OK,          XFER_NO_CONN,
                                               XFER_CONN_LOST, XFER_LOCAL_ERROR, XFER_NO_SPACE,
                                               XFER_QUOTA,     XFER_OK};
    enum xfer_result res = results[r->results % 8];
    r->results = r->results / 8 | (r->results % 8) << 29;
    return res;
}

/* What the engine would do with the job, without a data connection. */
static uint64_t run_job(struct transfer *t)
{
    uint64_t bytes = 0;
    if (t->kind == XFER_SEND_LISTING) {
        struct buf b;
        buf_init(&b, 0);
        int more;
        int rounds = 0;
        do {
            more = listing_fill(t->listing, &b);
            FUZZ_ASSERT(more >= -1 && more <= 1, "listing_fill returned %d", more);
            bytes += b.len;
            /* whole CRLF-terminated lines only */
            FUZZ_ASSERT(b.len == 0 ||
                            (b.len >= 2 && memcmp(buf_head(&b) + b.len - 2, "\r\n", 2) == 0),
                        "listing chunk not ending in CRLF");
            buf_clear(&b);
        } while (more == 1 && ++rounds < 1000);
        buf_free(&b);
    } else if (t->kind == XFER_RECV_FILE) {
        FUZZ_ASSERT(t->file_fd >= 0, "upload job without a file");
        ssize_t w = pwrite(t->file_fd, "data\n", 5, (off_t)t->offset);
        bytes = w > 0 ? (uint64_t)w : 0;
    } else {
        FUZZ_ASSERT(t->file_fd >= 0, "download job without a file");
        bytes = t->size;
    }
    return bytes;
}

static void finish_transfer(struct run *r, enum xfer_result res)
{
    struct transfer *t = session_transfer(r->s);
    FUZZ_ASSERT(t != NULL, "no job to finish");
    uint64_t bytes = res == XFER_OK ? run_job(t) : 0;
    session_transfer_done(r->s, res, bytes, &r->out);
}

/* One line and everything it leads to, until the session waits for the
 * next line. pending: a transfer is running (the job was not finished). */
static void feed(struct run *r, const char *line, size_t len, bool *pending, bool hold)
{
    enum step st = session_command(r->s, line, len, &r->out);
    for (;;) {
        switch (st) {
        case STEP_WORK: {
            struct work *w = session_work_take(r->s);
            FUZZ_ASSERT(w != NULL, "STEP_WORK without work");
            work_run(w);
            st = session_work_done(r->s, w, &r->out);
            continue;
        }
        case STEP_DELAY:
            st = session_delay_done(r->s, &r->out);
            continue;
        case STEP_TRANSFER:
            FUZZ_ASSERT(!*pending, "a second transfer while one runs");
            if (hold) {
                *pending = true;
            } else {
                finish_transfer(r, pick_result(r));
            }
            return;
        case STEP_ABORT:
            FUZZ_ASSERT(*pending, "STEP_ABORT without a transfer");
            *pending = false;
            finish_transfer(r, XFER_ABORTED);
            return;
        case STEP_DEFER:
            FUZZ_ASSERT(*pending, "STEP_DEFER without a transfer");
            *pending = false;
            finish_transfer(r, pick_result(r));
            st = session_command(r->s, line, len, &r->out);
            continue;
        case STEP_CLOSE:
            r->closed = true;
            return;
        case STEP_TLS:
            FUZZ_ASSERT(false, "STEP_TLS with tls off");
            return;
        case STEP_CONTINUE:
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool tree_dirty = true;
    if (size < 1)
        return 0;
    if (tree_dirty)
        build_tree();
    tree_dirty = may_write(data, size);
    int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    FUZZ_ASSERT(root_fd >= 0, "open root");
    union sockaddr_any local, peer;
    sockaddr_parse("127.0.0.1", 2121, &local);
    sockaddr_parse("127.0.0.1", 40000, &peer);

    struct run r = {.results = data[0] * 0x9e3779b9u};
    bool hold = data[0] & 1; /* leave transfers running across lines */
    data++;
    size--;
    r.s = session_new(&cfg, root_fd, &local, &peer);
    FUZZ_ASSERT(r.s != NULL, "session_new");
    session_set_users(r.s, users);
    buf_init(&r.out, 0);
    session_greet(r.s, &r.out);
    fuzz_check_replies(buf_head(&r.out), r.out.len);
    buf_clear(&r.out);

    bool pending = false;
    size_t off = 0;
    for (int n = 0; n < MAX_LINES && off < size && !r.closed; n++) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t end = nl != NULL ? (size_t)(nl - data) : size;
        size_t len = end - off;
        if (len > 0 && data[off + len - 1] == '\r')
            len--;
        if (len > FTPD_LINE_MAX)
            len = FTPD_LINE_MAX; /* linebuf never passes more */
        char *line = fuzz_strndup(data + off, len);
        off = end + 1;
        feed(&r, line, len, &pending, hold);
        free(line);
        FUZZ_ASSERT(r.out.len > 0 || pending, "line %d got no reply", n);
        FUZZ_ASSERT(!r.out.overflow, "reply overflowed its buffer");
        fuzz_check_replies(buf_head(&r.out), r.out.len);
        buf_clear(&r.out);
    }
    if (pending && !r.closed) {
        finish_transfer(&r, pick_result(&r));
        fuzz_check_replies(buf_head(&r.out), r.out.len);
    }
    buf_free(&r.out);
    session_free(r.s); /* releases a job left running after a close */
    close(root_fd);
    check_outside();
    return 0;
}

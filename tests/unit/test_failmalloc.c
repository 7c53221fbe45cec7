/* Allocation failure, nghttp2 failmalloc style: one scenario drives the
 * session core through login, CWD, long paths, LIST/NLST/MLSD/STAT (the
 * listing code, with a listing cache), RETR/STOR/APPE/STOU jobs, RNFR/RNTO,
 * MKD/RMD/DELE and QUIT, with the N-th allocation failing, for every N
 * until a run makes fewer than N allocations. Every reply must stay
 * well-formed (RFC 959: code, text, CRLF, multi-line closed; a command
 * that cannot be answered closes the connection), nothing may crash, and
 * under ASan nothing may leak. A second pass makes every allocation from
 * the N-th on fail (memory exhausted for good).
 *
 * The seam: this test is linked with -Wl,--wrap=malloc,calloc,realloc,
 * strdup,strndup,fdopendir (CMakeLists.txt), so every call the project's
 * code makes to them reaches the __wrap_ functions below, which count and
 * fail them; libc's own internal allocations are not affected. Production
 * code carries no hook and pays nothing.
 *
 * FAILMALLOC_VERBOSE=1 prints the number of runs, FAILMALLOC_TRACE=1 every
 * command and its reply. */
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h" /* tests/fuzz: fuzz_check_replies, fuzz_mkdtemp */
#include "ftpd/config.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/listing_cache.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "ftpd/transfer.h"
#include "ftpd/users.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- the seam ---------------------------------------------------------- */

/* Test-only counters (one thread: the session core never starts one). */
static long allocs;       /* allocations counted since the run began */
static long fail_at;      /* 0: never fail; else the allocation to fail */
static bool fail_onwards; /* and every one after it */
static bool injected;     /* an allocation was injected in this run */

static bool inject(void)
{
    if (fail_at == 0)
        return false;
    allocs++;
    if (allocs == fail_at || (fail_onwards && allocs > fail_at)) {
        injected = true;
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
DIR *__real_fdopendir(int fd);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
DIR *__wrap_fdopendir(int fd);

void *__wrap_malloc(size_t n)
{
    return inject() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return inject() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return inject() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return inject() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return inject() ? NULL : __real_strndup(s, n);
}

/* A DIR is an allocation libc makes for us: fail it like one. */
DIR *__wrap_fdopendir(int fd)
{
    return inject() ? NULL : __real_fdopendir(fd);
}

/* ---- the tree and the scenario ----------------------------------------- */

static char base[64];
static char root[128];
static struct ftpd_config cfg;
static struct users *users;

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return ftw->level == 0 ? 0 : remove(path);
}

static void build_tree(void)
{
    ck_assert_int_eq(nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    char p[512];
    put("hello.txt", "hello\nworld\n");
    put("b.txt", "b\n");
    snprintf(p, sizeof p, "%s/dir", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    put("dir/inner.txt", "inner\n");
}

static void setup(void)
{
    fuzz_mkdtemp(base, sizeof base, "failmalloc");
    snprintf(root, sizeof root, "%s/root", base);
    ck_assert_int_eq(mkdir(root, 0755), 0);
    /* "u" / "pw", every permission; SHA-512 at its lowest cost */
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    static struct crypt_data cd;
    ck_assert_ptr_nonnull(crypt_gensalt_rn("$6$", 1000, NULL, 0, setting, sizeof setting));
    const char *hash = crypt_rn("pw", setting, &cd, sizeof cd);
    ck_assert_ptr_nonnull(hash);
    char ufile[256], text[1024], err[512];
    snprintf(ufile, sizeof ufile, "%s/users", base);
    snprintf(text, sizeof text, "u:%s:%s:rwmdfc\n", hash, root);
    FILE *f = fopen(ufile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    users = users_load(ufile, err, sizeof err);
    ck_assert_msg(users != NULL, "%s", err);
    config_defaults(&cfg);
    cfg.write_enable = true;
    cfg.login_fail_delay = 0;
    log_set_level(LOG_LVL_ERROR);
}

static void teardown(void)
{
    users_free(users);
    char c[160];
    snprintf(c, sizeof c, "rm -rf '%s'", base);
    ck_assert_int_eq(system(c), 0);
}

/* While allocations fail, checks abort (FUZZ_ASSERT): Check's own
 * ck_assert allocates, and its library is linked in, wrapped too. */
struct run {
    struct session *s;
    struct buf out;
    bool closed;
};

/* What an engine does with a job, without a data connection. */
static void run_job(struct run *r)
{
    struct transfer *t = session_transfer(r->s);
    FUZZ_ASSERT(t != NULL, "no job");
    uint64_t bytes = 0;
    enum xfer_result res = XFER_OK;
    if (t->kind == XFER_SEND_LISTING) {
        struct buf b;
        buf_init(&b, 0);
        int more;
        do {
            more = listing_fill(t->listing, &b);
            bytes += b.len;
            buf_clear(&b);
        } while (more == 1);
        buf_free(&b);
        if (more < 0)
            res = XFER_LOCAL_ERROR;
    } else if (t->kind == XFER_RECV_FILE) {
        if (pwrite(t->file_fd, "up\n", 3, (off_t)t->offset) != 3)
            res = XFER_LOCAL_ERROR;
        bytes = 3;
    } else {
        bytes = t->size;
    }
    session_transfer_done(r->s, res, bytes, &r->out);
}

/* One line as a back-end runs it; its replies checked. */
static void line(struct run *r, const char *text)
{
    if (r->closed)
        return;
    enum step st = session_command(r->s, text, strlen(text), &r->out);
    for (bool again = true; again;) {
        again = false;
        if (st == STEP_WORK) {
            struct work *w = session_work_take(r->s);
            FUZZ_ASSERT(w != NULL, "no work");
            work_run(w);
            st = session_work_done(r->s, w, &r->out);
            again = true;
        } else if (st == STEP_DELAY) {
            st = session_delay_done(r->s, &r->out);
            again = true;
        } else if (st == STEP_TRANSFER) {
            run_job(r);
        } else if (st == STEP_CLOSE) {
            r->closed = true;
        } else {
            FUZZ_ASSERT(st == STEP_CONTINUE, "'%s': step %d", text, (int)st);
        }
    }
    /* A command that could not be answered closes the connection (what
     * it wrote is not sent); every other one has a well-formed reply. */
    if (getenv("FAILMALLOC_TRACE") != NULL)
        fprintf(stderr, "%s -> %.*s", text, (int)r->out.len, buf_head(&r->out));
    if (!r->closed || r->out.len > 0) {
        FUZZ_ASSERT(r->out.len > 0, "'%s' got no reply", text);
        fuzz_check_replies(buf_head(&r->out), r->out.len);
    }
    buf_clear(&r->out);
}

/* The scenario; returns with the session freed. */
static void scenario(struct listing_cache *cache)
{
    union sockaddr_any local, peer;
    sockaddr_parse("127.0.0.1", 2121, &local);
    sockaddr_parse("127.0.0.1", 40000, &peer);
    int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    FUZZ_ASSERT(root_fd >= 0, "open root");
    struct run r = {0};
    buf_init(&r.out, 0);
    r.s = session_new(&cfg, root_fd, &local, &peer);
    if (r.s == NULL) {
        /* the back-end refuses the connection: 421 from a fixed buffer */
        session_refuse(&cfg, REFUSE_NO_MEMORY, &r.out);
        if (r.out.len > 0)
            fuzz_check_replies(buf_head(&r.out), r.out.len);
        buf_free(&r.out);
        close(root_fd);
        return;
    }
    session_set_users(r.s, users);
    session_set_listing_cache(r.s, cache);
    session_greet(r.s, &r.out);
    if (r.out.len > 0)
        fuzz_check_replies(buf_head(&r.out), r.out.len);
    buf_clear(&r.out);

    static char long_path[FTPD_PATH_MAX + 64];
    if (long_path[0] == '\0') {
        strcpy(long_path, "CWD ");
        for (size_t i = 4; i + 2 < sizeof long_path - 1; i += 2)
            memcpy(long_path + i, "a/", 2);
    }
    static const char *const lines[] = {"USER u",
                                        "PASS pw",
                                        "PWD",
                                        "CWD dir",
                                        "PWD",
                                        "CDUP",
                                        "TYPE I",
                                        "PASV",
                                        "LIST",
                                        "PASV",
                                        "LIST -a dir",
                                        "PASV",
                                        "NLST *.txt",
                                        "PASV",
                                        "MLSD",
                                        "STAT",
                                        "STAT dir",
                                        "MLST hello.txt",
                                        "SIZE hello.txt",
                                        "PORT 127,0,0,1,200,1",
                                        "RETR hello.txt",
                                        "PORT 127,0,0,1,200,1",
                                        "STOR new.txt",
                                        "PORT 127,0,0,1,200,1",
                                        "APPE new.txt",
                                        "PORT 127,0,0,1,200,1",
                                        "STOU",
                                        "RNFR new.txt",
                                        "RNTO moved.txt",
                                        "MKD newdir",
                                        "MKD newdir/sub",
                                        "RMD newdir/sub",
                                        "RMD newdir",
                                        "DELE moved.txt",
                                        "SITE CHMOD 600 b.txt",
                                        "FEAT",
                                        "HELP",
                                        "LIST",
                                        NULL};
    for (size_t i = 0; lines[i] != NULL; i++) {
        line(&r, lines[i]);
        if (i == 4)
            line(&r, long_path); /* a path longer than FTPD_PATH_MAX: 550 */
    }
    line(&r, "QUIT");
    buf_free(&r.out);
    session_free(r.s);
    close(root_fd);
}

/* Every N from 1 until a run makes fewer than N allocations. */
static long run_all(bool onwards)
{
    fail_onwards = onwards;
    long n;
    for (n = 1;; n++) {
        build_tree();
        struct listing_cache *cache = listing_cache_new(60);
        FUZZ_ASSERT(cache != NULL, "listing_cache_new");
        allocs = 0;
        injected = false;
        fail_at = n;
        scenario(cache);
        fail_at = 0;
        listing_cache_free(cache);
        if (!injected)
            break;
    }
#ifdef HAVE_LSAN
    ck_assert_msg(__lsan_do_recoverable_leak_check() == 0, "leaks (see above)");
#endif
    if (getenv("FAILMALLOC_VERBOSE") != NULL)
        fprintf(stderr, "failmalloc: %ld runs (%s)\n", n, onwards ? "from N on" : "the N-th only");
    return n;
}

START_TEST(every_allocation_fails_once)
{
    long n = run_all(false);
    /* the seam works: the scenario allocates (and so was injected) often */
    ck_assert_int_gt(n, 50);
}
END_TEST

START_TEST(allocations_fail_from_n_on)
{
    ck_assert_int_gt(run_all(true), 50);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("failmalloc");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_allocation_fails_once);
    tcase_add_test(tc, allocations_fail_from_n_on);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

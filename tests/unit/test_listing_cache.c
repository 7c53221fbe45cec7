/* The listing cache: a hit gives exactly the bytes of an uncached listing
 * in the same chunks; a change of the directory's entries invalidates at
 * once; the TTL expires (injected clock, no sleeps); formats and flags are
 * separate keys; bounds hold (one listing, all bytes, entry count, LRU);
 * an evicted or orphaned blob still streams; globs, single files and NLST
 * with an argument never go near the cache. Run under ASan in CI: the
 * streaming-after-eviction cases are use-after-free traps. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/buf.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/listing_cache.h"
#include "ftpd/perm.h"
#include "unit.h"

#define NOW ((time_t)1700000000)
#define TTL 2
#define SEC 1000000000LL

/* What the transfer engines give listing_fill (net/xfer_*.c). */
#define ENGINE_LIMIT (2 * FTPD_LISTING_CHUNK + FTPD_PATH_MAX + 1024)
/* Longest line in these trees (a 200-byte name and LIST's fields). */
#define LINE_MAX_HERE 512

static char tree[PATH_MAX];
static int tree_fd = -1;
static int root_fd = -1;

/* ---- the injected clock --------------------------------------------------- */

/* CLOCK_MONOTONIC is ours to move; CLOCK_REALTIME is the real one shifted,
 * by default a minute ahead so the tree just made counts as old enough to
 * cache (see the racy test for the real rule). */
struct fake_clock {
    int64_t mono;
    int64_t real_shift;
};
static struct fake_clock clk;

static int64_t fake_now(void *arg, clockid_t which)
{
    struct fake_clock *fc = arg;
    if (which == CLOCK_MONOTONIC)
        return fc->mono;
    struct timespec ts;
    ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec + fc->real_shift;
}

static struct listing_cache *new_cache(void)
{
    struct listing_cache *c = listing_cache_new(TTL);
    ck_assert_ptr_nonnull(c);
    clk.mono = 1000 * SEC;
    clk.real_shift = 60 * SEC;
    listing_cache_set_clock(c, fake_now, &clk);
    return c;
}

static struct listing_cache_stats stats(const struct listing_cache *c)
{
    struct listing_cache_stats st;
    listing_cache_get_stats(c, &st);
    ck_assert_uint_le(st.bytes, FTPD_LISTING_CACHE_BYTES);
    ck_assert_uint_le(st.entries, FTPD_LISTING_CACHE_ENTRIES);
    return st;
}

/* ---- the tree ------------------------------------------------------------- */

static void touch(const char *rel)
{
    int fd = openat(tree_fd, rel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", rel, strerror(errno));
    ck_assert_int_eq(close(fd), 0);
}

/* dir/ with n files named prefix + a number. */
static void make_dir(const char *dir, int n, const char *prefix)
{
    ck_assert_int_eq(mkdirat(tree_fd, dir, 0755), 0);
    char name[PATH_MAX];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s/%s%05d.txt", dir, prefix, i);
        touch(name);
    }
}

/* Names of 245 bytes: big listings from few files (creating files is
 * slow on a busy disk). */
static const char *long_prefix(void)
{
    static char p[236];
    memset(p, 'n', sizeof p - 1);
    return p;
}

#define BIG_FILES 1800 /* LIST ~540 KB (over the per-entry cap), NLST ~440 KB */
#define BIG_LINKS 14   /* /big00.. -> big: 14 keys of NLST, ~6.2 MB in all */

/* One tree for the whole run (tests that change a directory make their
 * own):  d/ 300 files and a dot file (LIST ~20 KB: more than one chunk),
 * dln -> d, big/ and its links. */
static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/ftpd-lcache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tree));
    tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tree_fd, 0);
    make_dir("d", 300, "f-");
    touch("d/.dot");
    ck_assert_int_eq(symlinkat("d", tree_fd, "dln"), 0);
    make_dir("big", BIG_FILES, long_prefix());
    for (int i = 0; i < BIG_LINKS; i++) {
        char name[16];
        snprintf(name, sizeof name, "big%02d", i);
        ck_assert_int_eq(symlinkat("big", tree_fd, name), 0);
    }
    root_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void teardown(void)
{
    close(root_fd);
    close(tree_fd);
    nftw(tree, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* After changing dir's entries: on a file system with coarse timestamps
 * the change may carry the recorded time (the cache's racy rule covers
 * that in real use, and the injected clock turns it off here), so make
 * sure the test sees a new time. */
static void changed(const char *dir, const struct stat *before)
{
    struct stat now;
    ck_assert_int_eq(fstatat(tree_fd, dir, &now, 0), 0);
    if (now.st_mtim.tv_sec == before->st_mtim.tv_sec &&
        now.st_mtim.tv_nsec == before->st_mtim.tv_nsec) {
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = before->st_mtim.tv_sec + 1}};
        ck_assert_int_eq(utimensat(tree_fd, dir, ts, 0), 0);
    }
}

static struct stat dir_stat(const char *dir)
{
    struct stat st;
    ck_assert_int_eq(fstatat(tree_fd, dir, &st, 0), 0);
    return st;
}

/* ---- listing helpers ------------------------------------------------------ */

struct req {
    const char *vpath;
    const char *shown;
    enum listing_format format;
    bool all;
    unsigned perms;
};

static struct listing *open_req(struct listing_cache *c, struct req r)
{
    struct listing_opts o = {
        .format = r.format, .all = r.all, .perms = r.perms, .now = NOW, .cache = c};
    struct listing *l = listing_open(root_fd, r.vpath, r.shown ? r.shown : "", &o);
    ck_assert_msg(l != NULL, "listing_open(%s): %s", r.vpath, strerror(errno));
    return l;
}

/* One listing_fill as the engines call it, checking the contract: whole
 * lines, at least a chunk (or what fits in limit) unless it is the last,
 * never more than a chunk plus a line. Appends to *acc. */
static int fill_once(struct listing *l, struct buf *b, char **acc, size_t *n)
{
    buf_clear(b);
    int r = listing_fill(l, b);
    ck_assert_int_ge(r, 0);
    size_t limit = b->limit;
    ck_assert_uint_le(b->len, FTPD_LISTING_CHUNK + LINE_MAX_HERE);
    if (r == 1) {
        size_t want = limit < FTPD_LISTING_CHUNK ? limit - LINE_MAX_HERE : FTPD_LISTING_CHUNK;
        ck_assert_uint_ge(b->len, want);
    }
    if (b->len > 0)
        ck_assert(b->len >= 2 && memcmp(buf_head(b) + b->len - 2, "\r\n", 2) == 0);
    *acc = realloc(*acc, *n + b->len + 1);
    ck_assert_ptr_nonnull(*acc);
    if (b->len > 0)
        memcpy(*acc + *n, buf_head(b), b->len);
    *n += b->len;
    (*acc)[*n] = '\0';
    return r;
}

struct got {
    char *bytes;
    size_t len;
    bool cached;
};

static struct got drain(struct listing *l, size_t limit)
{
    struct got g = {.cached = listing_cached(l)};
    struct buf b;
    buf_init(&b, limit);
    while (fill_once(l, &b, &g.bytes, &g.len) == 1)
        ;
    ck_assert_int_eq(listing_fill(l, &b), 0); /* stays at the end */
    buf_free(&b);
    listing_close(l);
    if (g.bytes == NULL)
        g.bytes = calloc(1, 1);
    return g;
}

static struct got list(struct listing_cache *c, struct req r)
{
    return drain(open_req(c, r), ENGINE_LIMIT);
}

static void assert_same(struct got a, struct got b)
{
    ck_assert_uint_eq(a.len, b.len);
    ck_assert(memcmp(a.bytes, b.bytes, a.len) == 0);
}

static void release(struct got *g)
{
    free(g->bytes);
    g->bytes = NULL;
}

static const struct req D_LIST = {"/d", "", LISTING_LIST, false, false};

/* ---- tests ------------------------------------------------------------------ */

START_TEST(ttl_zero_is_no_cache)
{
    ck_assert_ptr_null(listing_cache_new(0));
    listing_cache_free(NULL);
}
END_TEST

START_TEST(hit_gives_the_same_bytes)
{
    struct listing_cache *c = new_cache();
    const enum listing_format formats[] = {LISTING_LIST, LISTING_NLST, LISTING_MLSD};
    for (size_t i = 0; i < 3; i++) {
        struct req r = {"/d", "", formats[i], formats[i] == LISTING_MLSD, false};
        struct got plain = list(NULL, r);
        struct got first = list(c, r);
        struct got second = list(c, r);
        ck_assert(!plain.cached && !first.cached);
        ck_assert(second.cached);
        ck_assert_uint_gt(plain.len, 300 * 10); /* every entry is there */
        assert_same(plain, first);
        assert_same(plain, second);
        release(&plain);
        release(&first);
        release(&second);
    }
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_eq(st.stores, 3);
    ck_assert_uint_eq(st.hits, 3);
    ck_assert_uint_eq(st.misses, 3);
    ck_assert_uint_eq(st.entries, 3);
    listing_cache_free(c);
}
END_TEST

START_TEST(empty_dir_cached)
{
    ck_assert_int_eq(mkdirat(tree_fd, "empty", 0755), 0);
    const struct req r = {"/empty", "", LISTING_MLSD, true, false};
    struct listing_cache *c = new_cache();
    struct got g = list(c, r);
    ck_assert(!g.cached);
    ck_assert_uint_eq(g.len, 0);
    release(&g);
    g = list(c, r);
    ck_assert(g.cached);
    ck_assert_uint_eq(g.len, 0);
    release(&g);
    ck_assert_uint_eq(stats(c).stores, 1);
    listing_cache_free(c);
}
END_TEST

START_TEST(hit_keeps_the_fill_contract)
{
    struct listing_cache *c = new_cache();
    struct got plain = list(NULL, D_LIST);
    release(&plain);
    struct got warm = list(c, D_LIST);
    release(&warm);

    /* A buffer smaller than a chunk: as many whole lines as fit. */
    struct got small = drain(open_req(c, D_LIST), 1000);
    ck_assert(small.cached);
    plain = list(NULL, D_LIST);
    assert_same(plain, small);
    release(&small);
    release(&plain);

    /* No room for one line in an empty buffer: ENOMEM, as uncached. */
    struct listing *l = open_req(c, D_LIST);
    ck_assert(listing_cached(l));
    struct buf b;
    buf_init(&b, 8);
    errno = 0;
    ck_assert_int_eq(listing_fill(l, &b), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
    /* A buffer the caller has not drained: nothing added, "more". */
    buf_init(&b, 40);
    ck_assert_int_eq(buf_append(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 30), 0);
    ck_assert_int_eq(listing_fill(l, &b), 1);
    ck_assert_uint_eq(b.len, 30);
    ck_assert(!b.overflow);
    buf_free(&b);
    listing_close(l);
    listing_cache_free(c);
}
END_TEST

START_TEST(new_removed_renamed_entry_shows_at_once)
{
    make_dir("m", 20, "f-");
    const struct req M_LIST = {"/m", "", LISTING_LIST, false, false};
    struct listing_cache *c = new_cache();
    struct got g = list(c, M_LIST);
    release(&g);
    g = list(c, M_LIST);
    ck_assert(g.cached);
    release(&g);

    struct stat before = dir_stat("m");
    touch("m/brand-new.txt");
    changed("m", &before);
    g = list(c, M_LIST);
    ck_assert(!g.cached);
    ck_assert_ptr_nonnull(strstr(g.bytes, " brand-new.txt\r\n"));
    release(&g);
    g = list(c, M_LIST); /* the new listing was cached in turn */
    ck_assert(g.cached);
    ck_assert_ptr_nonnull(strstr(g.bytes, " brand-new.txt\r\n"));
    release(&g);

    before = dir_stat("m");
    ck_assert_int_eq(renameat(tree_fd, "m/brand-new.txt", tree_fd, "m/renamed.txt"), 0);
    changed("m", &before);
    g = list(c, M_LIST);
    ck_assert(!g.cached);
    ck_assert_ptr_null(strstr(g.bytes, "brand-new.txt"));
    ck_assert_ptr_nonnull(strstr(g.bytes, " renamed.txt\r\n"));
    release(&g);

    before = dir_stat("m");
    ck_assert_int_eq(unlinkat(tree_fd, "m/renamed.txt", 0), 0);
    changed("m", &before);
    g = list(c, M_LIST);
    ck_assert(!g.cached);
    ck_assert_ptr_null(strstr(g.bytes, "renamed.txt"));
    release(&g);
    listing_cache_free(c);
}
END_TEST

START_TEST(ttl_expires)
{
    struct listing_cache *c = new_cache();
    int64_t filled = clk.mono;
    struct got g = list(c, D_LIST);
    release(&g);
    clk.mono = filled + TTL * SEC - 1;
    g = list(c, D_LIST);
    ck_assert(g.cached);
    release(&g);
    clk.mono = filled + TTL * SEC;
    g = list(c, D_LIST);
    ck_assert(!g.cached); /* expired: read again, and cached again */
    release(&g);
    g = list(c, D_LIST);
    ck_assert(g.cached);
    release(&g);
    listing_cache_free(c);
}
END_TEST

START_TEST(formats_and_flags_are_separate_keys)
{
    struct listing_cache *c = new_cache();
    const struct req reqs[] = {
        {"/d", "", LISTING_LIST, false, false},   /* LIST */
        {"/d", "", LISTING_LIST, true, false},    /* LIST -a */
        {"/d", "", LISTING_MLSD, true, 0},        /* MLSD */
        {"/d", "", LISTING_MLSD, true, PERM_ALL}, /* MLSD, other letters: other perm facts */
        {"/d", "", LISTING_MLSD, true, PERM_READ | PERM_UPLOAD}, /* and others again */
        {"/d", "", LISTING_NLST, false, false},                  /* NLST */
        {"/dln", "", LISTING_LIST, false, false},                /* same directory, other path */
    };
    const size_t n = sizeof reqs / sizeof reqs[0];
    for (size_t i = 0; i < n; i++) {
        struct got g = list(c, reqs[i]);
        ck_assert_msg(!g.cached, "request %zu was served from another key", i);
        release(&g);
    }
    for (size_t i = 0; i < n; i++) {
        struct got plain = list(NULL, reqs[i]);
        struct got hit = list(c, reqs[i]);
        ck_assert(hit.cached);
        assert_same(plain, hit);
        release(&plain);
        release(&hit);
    }
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_eq(st.stores, n);
    ck_assert_uint_eq(st.hits, n);
    ck_assert_uint_eq(st.entries, n);

    /* And they do differ: -a shows the dot file. */
    struct got a = list(c, reqs[0]), b = list(c, reqs[1]);
    ck_assert_ptr_null(strstr(a.bytes, " .dot\r\n"));
    ck_assert_ptr_nonnull(strstr(b.bytes, " .dot\r\n"));
    release(&a);
    release(&b);
    listing_cache_free(c);
}
END_TEST

START_TEST(too_big_is_sent_whole_and_not_cached)
{
    struct listing_cache *c = new_cache();
    struct req r = {"/big", "", LISTING_LIST, false, false};
    struct got plain = list(NULL, r);
    ck_assert_uint_gt(plain.len, FTPD_LISTING_CACHE_ENTRY_MAX);
    for (int i = 0; i < 2; i++) {
        struct got g = list(c, r);
        ck_assert(!g.cached);
        assert_same(plain, g);
        release(&g);
    }
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_eq(st.stores, 0);
    ck_assert_uint_eq(st.abandoned, 2);
    ck_assert_uint_eq(st.bytes, 0); /* the partial captures were given back */
    release(&plain);
    listing_cache_free(c);
}
END_TEST

START_TEST(bytes_bounded_lru_evicted)
{
    /* 14 keys (one directory through 14 paths) of ~440 KB each: far more
     * than the 4 MiB bound. big00 is listed between every two others and
     * so stays; big01 is the least recently used and goes first. */
    enum { DIRS = BIG_LINKS };
    char vpaths[DIRS][16];
    for (int i = 0; i < DIRS; i++)
        snprintf(vpaths[i], sizeof vpaths[i], "/big%02d", i);
    struct listing_cache *c = new_cache();
    struct req hot = {vpaths[0], "", LISTING_NLST, false, false};
    struct got g = list(c, hot);
    ck_assert_uint_gt(g.len, FTPD_LISTING_CACHE_BYTES / DIRS);
    ck_assert_uint_le(g.len, FTPD_LISTING_CACHE_ENTRY_MAX);
    release(&g);
    for (int i = 1; i < DIRS; i++) {
        struct req r = {vpaths[i], "", LISTING_NLST, false, false};
        g = list(c, r);
        ck_assert(!g.cached);
        release(&g);
        (void)stats(c); /* asserts the byte and entry bounds */
        g = list(c, hot);
        ck_assert_msg(g.cached, "the most recently used entry was evicted");
        release(&g);
    }
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_lt(st.entries, DIRS);
    ck_assert_uint_gt(st.bytes, FTPD_LISTING_CACHE_BYTES / 2);
    struct req oldest = {vpaths[1], "", LISTING_NLST, false, false};
    g = list(c, oldest);
    ck_assert(!g.cached);
    release(&g);
    g = list(c, hot);
    ck_assert(g.cached);
    release(&g);
    listing_cache_free(c);
}
END_TEST

START_TEST(entry_count_bounded)
{
    enum { DIRS = FTPD_LISTING_CACHE_ENTRIES + 6 };
    struct listing_cache *c = new_cache();
    for (int i = 0; i < DIRS; i++) {
        char dir[16], vpath[24];
        snprintf(dir, sizeof dir, "s%02d", i);
        make_dir(dir, 2, "f-");
        snprintf(vpath, sizeof vpath, "/%s", dir);
        struct got g = list(c, (struct req){vpath, "", LISTING_NLST, false, false});
        release(&g);
    }
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_eq(st.entries, FTPD_LISTING_CACHE_ENTRIES);
    ck_assert_uint_eq(st.evictions, 6);
    ck_assert_uint_eq(st.stores, DIRS);
    struct got g = list(c, (struct req){"/s00", "", LISTING_NLST, false, false});
    ck_assert(!g.cached); /* the first one went first */
    release(&g);
    listing_cache_free(c);
}
END_TEST

/* Make c drop everything it holds by filling it with other listings. */
static void evict_all(struct listing_cache *c)
{
    for (int i = 0; i < FTPD_LISTING_CACHE_ENTRIES; i++) {
        char dir[16], vpath[24];
        snprintf(dir, sizeof dir, "e%02d", i);
        make_dir(dir, 1, "f-");
        snprintf(vpath, sizeof vpath, "/%s", dir);
        struct got g = list(c, (struct req){vpath, "", LISTING_NLST, false, false});
        release(&g);
    }
}

START_TEST(evicted_blob_streams_to_the_end)
{
    struct listing_cache *c = new_cache();
    struct got plain = list(NULL, D_LIST);
    struct got g = list(c, D_LIST);
    release(&g);

    struct listing *l = open_req(c, D_LIST);
    ck_assert(listing_cached(l));
    struct buf b;
    buf_init(&b, ENGINE_LIMIT);
    char *acc = NULL;
    size_t n = 0;
    ck_assert_int_eq(fill_once(l, &b, &acc, &n), 1); /* one chunk sent... */
    size_t pinned = stats(c).bytes;

    evict_all(c); /* ...then the entry is evicted */
    g = list(c, D_LIST);
    ck_assert(!g.cached); /* gone from the index */
    release(&g);
    ck_assert_uint_ge(stats(c).bytes, plain.len); /* still counted */

    while (fill_once(l, &b, &acc, &n) == 1)
        ;
    ck_assert_uint_eq(n, plain.len);
    ck_assert(memcmp(acc, plain.bytes, n) == 0);
    buf_free(&b);
    free(acc);
    listing_close(l);
    ck_assert_uint_gt(pinned, 0);
    release(&plain);
    listing_cache_free(c);
}
END_TEST

START_TEST(cache_freed_while_listings_run)
{
    struct listing_cache *c = new_cache();
    struct got plain = list(NULL, D_LIST);
    struct got g = list(c, D_LIST);
    release(&g);
    struct listing *hit = open_req(c, D_LIST);
    ck_assert(listing_cached(hit));
    struct listing *miss = open_req(c, (struct req){"/d", "", LISTING_NLST, false, false});
    ck_assert(!listing_cached(miss));

    listing_cache_free(c); /* the last of them frees what is left */

    struct got a = drain(hit, ENGINE_LIMIT);
    assert_same(plain, a);
    struct got b = drain(miss, ENGINE_LIMIT); /* its capture is dropped */
    ck_assert_uint_gt(b.len, 0);
    release(&a);
    release(&b);
    release(&plain);
}
END_TEST

START_TEST(aborted_listing_not_cached)
{
    struct listing_cache *c = new_cache();
    struct listing *l = open_req(c, D_LIST);
    struct buf b;
    buf_init(&b, ENGINE_LIMIT);
    ck_assert_int_eq(listing_fill(l, &b), 1);
    buf_free(&b);
    listing_close(l); /* ABOR: closed before the end */
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_eq(st.stores, 0);
    ck_assert_uint_eq(st.abandoned, 1);
    ck_assert_uint_eq(st.bytes, 0);
    struct got g = list(c, D_LIST);
    ck_assert(!g.cached);
    release(&g);
    listing_cache_free(c);
}
END_TEST

START_TEST(globs_files_and_nlst_args_never_cached)
{
    struct listing_cache *c = new_cache();
    const struct req reqs[] = {
        {"/d/f-0001*", "", LISTING_LIST, false, false},          /* glob */
        {"/d/f-0001*", "d/f-0001*", LISTING_NLST, false, false}, /* glob, NLST */
        {"/d", "d", LISTING_NLST, false, false},                 /* NLST with an argument */
        {"/d/f-00001.txt", "", LISTING_LIST, false, false},      /* a single file */
        {"/d/f-00001.txt", "", LISTING_NLST, false, false},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        for (int round = 0; round < 2; round++) {
            struct got plain = list(NULL, reqs[i]);
            struct got g = list(c, reqs[i]);
            ck_assert(!g.cached);
            assert_same(plain, g);
            ck_assert_uint_gt(g.len, 0);
            release(&plain);
            release(&g);
        }
    }
    struct listing_cache_stats st = stats(c);
    ck_assert_uint_eq(st.hits + st.misses + st.stores + st.abandoned, 0);
    ck_assert_uint_eq(st.bytes, 0);
    listing_cache_free(c);
}
END_TEST

START_TEST(recently_changed_dir_not_cached)
{
    make_dir("fresh", 3, "f-");
    const struct req r = {"/fresh", "", LISTING_LIST, false, false};
    struct listing_cache *c = new_cache();
    clk.real_shift = 0; /* the real clock: "fresh" was made a moment ago */
    struct got g = list(c, r);
    release(&g);
    g = list(c, r);
    ck_assert(!g.cached);
    release(&g);
    ck_assert_uint_eq(stats(c).stores, 0);
    clk.real_shift = FTPD_LISTING_CACHE_RACY_SEC * SEC + SEC; /* later on */
    g = list(c, r);
    release(&g);
    g = list(c, r);
    ck_assert(g.cached);
    release(&g);
    listing_cache_free(c);
}
END_TEST

START_TEST(path_resolved_every_time)
{
    make_dir("gone", 3, "f-");
    const struct req r = {"/gone", "", LISTING_LIST, false, false};
    struct listing_cache *c = new_cache();
    struct got g = list(c, r);
    release(&g);
    g = list(c, r);
    ck_assert(g.cached);
    release(&g);
    /* The cached directory moves away: its path no longer lists. */
    ck_assert_int_eq(renameat(tree_fd, "gone", tree_fd, "moved"), 0);
    struct listing_opts o = {.format = LISTING_LIST, .now = NOW, .cache = c};
    errno = 0;
    ck_assert_ptr_null(listing_open(root_fd, "/gone", "", &o));
    ck_assert_int_eq(errno, ENOENT);
    listing_cache_free(c);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("listing_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ttl_zero_is_no_cache);
    tcase_add_test(tc, hit_gives_the_same_bytes);
    tcase_add_test(tc, empty_dir_cached);
    tcase_add_test(tc, hit_keeps_the_fill_contract);
    tcase_add_test(tc, new_removed_renamed_entry_shows_at_once);
    tcase_add_test(tc, ttl_expires);
    tcase_add_test(tc, formats_and_flags_are_separate_keys);
    tcase_add_test(tc, too_big_is_sent_whole_and_not_cached);
    tcase_add_test(tc, bytes_bounded_lru_evicted);
    tcase_add_test(tc, entry_count_bounded);
    tcase_add_test(tc, evicted_blob_streams_to_the_end);
    tcase_add_test(tc, cache_freed_while_listings_run);
    tcase_add_test(tc, aborted_listing_not_cached);
    tcase_add_test(tc, globs_files_and_nlst_args_never_cached);
    tcase_add_test(tc, recently_changed_dir_not_cached);
    tcase_add_test(tc, path_resolved_every_time);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

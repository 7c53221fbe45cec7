/* Listings: exact LIST / NLST / MLSD lines, the symlink and dot-file rules,
 * globbing, single entries, and that a big directory comes out in bounded
 * chunks. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftpd/buf.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/perm.h"
#include "unit.h"

/* 2023-11-14 22:13:20 UTC */
#define NOW     ((time_t)1700000000)
#define RECENT  (NOW - 3600)         /* Nov 14 21:13:20 2023 */
#define OLD     ((time_t)1577934245) /* Jan  2 03:04:05 2020 */
#define SUBTIME ((time_t)1690000000) /* Jul 22 04:26:40 2023 */

/* ---- formatting a single entry ------------------------------------------ */

static struct stat fake(mode_t mode, nlink_t nlink, off_t size, time_t mtime)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = mode;
    st.st_nlink = nlink;
    st.st_uid = 1000;
    st.st_gid = 1000;
    st.st_size = size;
    st.st_mtime = mtime;
    st.st_dev = 0x803;
    st.st_ino = 0x1234;
    return st;
}

static const char *fmt_list(const struct stat *st, const char *name, const char *target, time_t now)
{
    static struct buf b;
    buf_free(&b);
    buf_init(&b, 0);
    ck_assert_int_eq(listing_format_list(&b, name, st, target, now), 0);
    ck_assert_int_eq(buf_append(&b, "", 1), 0);
    return buf_head(&b);
}

static const struct {
    mode_t mode;
    nlink_t nlink;
    off_t size;
    time_t mtime;
    const char *target;
    const char *want;
} list_cases[] = {
    {S_IFREG | 0644, 1, 5, RECENT, NULL,
     "-rw-r--r--    1 1000     1000            5 Nov 14 21:13 name\r\n"},
    {S_IFREG | 0644, 1, 123456789012, OLD, NULL,
     "-rw-r--r--    1 1000     1000     123456789012 Jan  2  2020 name\r\n"},
    {S_IFREG | 04755, 1, 0, NOW, NULL,
     "-rwsr-xr-x    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFREG | 04644, 1, 0, NOW, NULL,
     "-rwSr--r--    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFREG | 02755, 1, 0, NOW, NULL,
     "-rwxr-sr-x    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFREG | 02644, 1, 0, NOW, NULL,
     "-rw-r-Sr--    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFDIR | 01777, 12, 0, NOW, NULL,
     "drwxrwxrwt   12 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFDIR | 01770, 12345, 0, NOW, NULL,
     "drwxrwx--T 12345 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFIFO | 0600, 1, 0, NOW, NULL,
     "prw-------    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFSOCK | 0777, 1, 0, NOW, NULL,
     "srwxrwxrwx    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFCHR | 0666, 1, 0, NOW, NULL,
     "crw-rw-rw-    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFBLK | 0660, 1, 0, NOW, NULL,
     "brw-rw----    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    {S_IFLNK | 0777, 1, 11, OLD, "/etc/passwd",
     "lrwxrwxrwx    1 1000     1000           11 Jan  2  2020 name -> /etc/passwd\r\n"},
    {S_IFREG | 0000, 1, 0, NOW, NULL,
     "----------    1 1000     1000            0 Nov 14 22:13 name\r\n"},
    /* The 6-month window: 200 days ago shows the year... */
    {S_IFREG | 0644, 1, 1, NOW - 200 * 86400, NULL,
     "-rw-r--r--    1 1000     1000            1 Apr 28  2023 name\r\n"},
    /* ...an hour in the future is still recent, two days is not. */
    {S_IFREG | 0644, 1, 1, NOW + 3600, NULL,
     "-rw-r--r--    1 1000     1000            1 Nov 14 23:13 name\r\n"},
    {S_IFREG | 0644, 1, 1, NOW + 2 * 86400, NULL,
     "-rw-r--r--    1 1000     1000            1 Nov 16  2023 name\r\n"},
    {S_IFREG | 0644, 1, 1, SUBTIME, NULL,
     "-rw-r--r--    1 1000     1000            1 Jul 22 04:26 name\r\n"},
};

START_TEST(format_list_table)
{
    struct stat st =
        fake(list_cases[_i].mode, list_cases[_i].nlink, list_cases[_i].size, list_cases[_i].mtime);
    ck_assert_str_eq(fmt_list(&st, "name", list_cases[_i].target, NOW), list_cases[_i].want);
}
END_TEST

START_TEST(format_list_name_kept_verbatim)
{
    /* The example every client parser knows. */
    struct stat d = fake(S_IFDIR | 0755, 2, 4096, 1700547960);
    ck_assert_str_eq(fmt_list(&d, "name", NULL, 1700600000),
                     "drwxr-xr-x    2 1000     1000         4096 Nov 21 06:26 name\r\n");

    struct stat st = fake(S_IFREG | 0644, 1, 3, RECENT);
    ck_assert_str_eq(fmt_list(&st, "a b  c", NULL, NOW),
                     "-rw-r--r--    1 1000     1000            3 Nov 14 21:13 a b  c\r\n");
    ck_assert_str_eq(fmt_list(&st, "\xe6\x97\xa5\xe6\x9c\xac", NULL, NOW),
                     "-rw-r--r--    1 1000     1000            3 Nov 14 21:13 "
                     "\xe6\x97\xa5\xe6\x9c\xac\r\n");
    ck_assert_str_eq(fmt_list(&st, "%s%n", NULL, NOW),
                     "-rw-r--r--    1 1000     1000            3 Nov 14 21:13 %s%n\r\n");
}
END_TEST

static const char *fmt_facts(const struct stat *st, unsigned perms)
{
    static struct buf b;
    buf_free(&b);
    buf_init(&b, 0);
    ck_assert_int_eq(listing_format_facts(&b, st, perms), 0);
    ck_assert_int_eq(buf_append(&b, "", 1), 0);
    return buf_head(&b);
}

START_TEST(format_facts)
{
    struct stat st = fake(S_IFREG | 0644, 1, 42, OLD);
    ck_assert_str_eq(fmt_facts(&st, PERM_READ),
                     "type=file;size=42;modify=20200102030405;perm=r;unique=803U1234;");
    ck_assert_str_eq(fmt_facts(&st, PERM_ALL),
                     "type=file;size=42;modify=20200102030405;perm=radfw;unique=803U1234;");
    /* upload-only (anonymous_write): append, but no w (overwrite needs d) */
    ck_assert_str_eq(fmt_facts(&st, PERM_READ | PERM_UPLOAD | PERM_MKDIR),
                     "type=file;size=42;modify=20200102030405;perm=ra;unique=803U1234;");
    ck_assert_str_eq(fmt_facts(&st, PERM_RENAME),
                     "type=file;size=42;modify=20200102030405;perm=f;unique=803U1234;");
    st = fake(S_IFDIR | 0755, 2, 4096, NOW);
    ck_assert_str_eq(fmt_facts(&st, PERM_READ),
                     "type=dir;modify=20231114221320;perm=el;unique=803U1234;");
    ck_assert_str_eq(fmt_facts(&st, PERM_ALL),
                     "type=dir;modify=20231114221320;perm=elcmpfd;unique=803U1234;");
    ck_assert_str_eq(fmt_facts(&st, PERM_READ | PERM_UPLOAD | PERM_MKDIR),
                     "type=dir;modify=20231114221320;perm=elcm;unique=803U1234;");
    ck_assert_str_eq(fmt_facts(&st, PERM_DELETE),
                     "type=dir;modify=20231114221320;perm=elpd;unique=803U1234;");
    st = fake(S_IFLNK | 0777, 1, 11, NOW);
    ck_assert_str_eq(fmt_facts(&st, PERM_ALL),
                     "type=OS.unix=symlink;modify=20231114221320;unique=803U1234;");
}
END_TEST

START_TEST(format_refused_by_full_buffer)
{
    struct buf b;
    buf_init(&b, 10);
    struct stat st = fake(S_IFREG | 0644, 1, 42, OLD);
    errno = 0;
    ck_assert_int_eq(listing_format_list(&b, "name", &st, NULL, NOW), -1);
    ck_assert_int_eq(errno, ENOMEM);
    buf_clear(&b);
    errno = 0;
    ck_assert_int_eq(listing_format_facts(&b, &st, false), -1);
    ck_assert_int_eq(errno, ENOMEM);
    buf_free(&b);
}
END_TEST

/* ---- listings of a temp tree -------------------------------------------- */

static char tree[PATH_MAX];
static int tree_fd = -1;
static int root_fd = -1;

static void set_mtime(const char *rel, time_t t)
{
    struct timespec ts[2] = {{.tv_sec = t}, {.tv_sec = t}};
    ck_assert_int_eq(utimensat(tree_fd, rel, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void put(const char *rel, size_t size, time_t mtime)
{
    int fd = openat(tree_fd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    for (size_t i = 0; i < size; i++)
        ck_assert_int_eq(write(fd, "x", 1), 1);
    close(fd);
    set_mtime(rel, mtime);
}

static void link_at(const char *target, const char *rel, time_t mtime)
{
    ck_assert_int_eq(symlinkat(target, tree_fd, rel), 0);
    set_mtime(rel, mtime);
}

#define UTF8_NAME "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.txt" /* 日本語.txt */

static void tree_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/ftpd-listing-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tree));
    tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tree_fd, 0);

    put("a.txt", 5, RECENT);
    put("b.dat", 1234, OLD);
    put(".hidden", 1, RECENT);
    put("with space.txt", 2, RECENT);
    put(UTF8_NAME, 3, RECENT);
    put("nl\nname.txt", 4, RECENT);
    ck_assert_int_eq(mkdirat(tree_fd, "sub", 0755), 0);
    ck_assert_int_eq(fchmodat(tree_fd, "sub", 0755, 0), 0);
    put("sub/a.txt", 3, OLD);
    put("sub/b.txt", 4, OLD);
    put("sub/c.dat", 5, OLD);
    set_mtime("sub", SUBTIME);
    link_at("a.txt", "good", OLD);      /* inside: shown as a.txt */
    link_at("sub", "subln", OLD);       /* inside: shown as a dir */
    link_at("/etc/passwd", "esc", OLD); /* absolute, leaves the root */
    link_at("../../../../../../etc/passwd", "esc2", OLD);
    link_at("nowhere", "dangling", RECENT);

    ck_assert_int_eq(mkdirat(tree_fd, "big", 0755), 0);
    for (int i = 0; i < 3000; i++) {
        char name[32];
        snprintf(name, sizeof name, "big/file-%04d", i);
        int fd = openat(tree_fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }

    root_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void tree_teardown(void)
{
    close(root_fd);
    close(tree_fd);
    nftw(tree, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole listing as one NUL-terminated string (fine for small dirs). */
static char *run(const char *vpath, const char *shown, enum listing_format format, bool all)
{
    struct listing_opts o = {.format = format, .all = all, .perms = PERM_READ, .now = NOW};
    struct listing *l = listing_open(root_fd, vpath, shown, &o);
    ck_assert_msg(l != NULL, "listing_open(%s): %s", vpath, strerror(errno));
    struct buf b;
    buf_init(&b, 0);
    int r;
    while ((r = listing_fill(l, &b)) == 1)
        ;
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(listing_fill(l, &b), 0); /* stays at the end */
    listing_close(l);
    ck_assert_int_eq(buf_append(&b, "", 1), 0);
    char *s = strdup(buf_head(&b));
    buf_free(&b);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare the CRLF lines of got with want[] regardless of order (readdir
 * order is unspecified). */
static void same_lines(char *got, const char **want, size_t n)
{
    char *lines[64];
    size_t k = 0;
    char *p = got;
    while (*p != '\0') {
        char *e = strstr(p, "\r\n");
        ck_assert_msg(e != NULL, "line without CRLF: %s", p);
        *e = '\0';
        ck_assert_msg(strchr(p, '\n') == NULL && strchr(p, '\r') == NULL, "stray LF: %s", p);
        ck_assert_uint_lt(k, 64);
        lines[k++] = p;
        p = e + 2;
    }
    const char *sorted_want[64];
    ck_assert_uint_le(n, 64);
    memcpy(sorted_want, want, n * sizeof *want);
    qsort(lines, k, sizeof *lines, cmp_str);
    qsort(sorted_want, n, sizeof *sorted_want, cmp_str);
    for (size_t i = 0; i < k && i < n; i++)
        ck_assert_str_eq(lines[i], sorted_want[i]);
    ck_assert_uint_eq(k, n);
}

#define SAME(got, ...)                                                                             \
    do {                                                                                           \
        const char *want_[] = {__VA_ARGS__};                                                       \
        char *got_ = (got);                                                                        \
        same_lines(got_, want_, sizeof want_ / sizeof want_[0]);                                   \
        free(got_);                                                                                \
    } while (0)

#define EMPTY(got)                                                                                 \
    do {                                                                                           \
        char *got_ = (got);                                                                        \
        ck_assert_str_eq(got_, "");                                                                \
        free(got_);                                                                                \
    } while (0)

/* An expected LIST line for an entry of the tree (owned by us). */
static const char *L(const char *mode, unsigned nlink, long long size, const char *date,
                     const char *name)
{
    static char lines[32][512];
    static int next;
    char *s = lines[next++ % 32];
    snprintf(s, sizeof lines[0], "%s %4u %-8u %-8u %8lld %s %s", mode, nlink, (unsigned)getuid(),
             (unsigned)getgid(), size, date, name);
    return s;
}

static struct stat lst(const char *rel)
{
    struct stat st;
    ck_assert_int_eq(fstatat(tree_fd, rel, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st;
}

START_TEST(list_root)
{
    struct stat sub = lst("sub"), big = lst("big");
    const char *base[] = {
        L("-rw-r--r--", 1, 5, "Nov 14 21:13", "a.txt"),
        L("-rw-r--r--", 1, 1234, "Jan  2  2020", "b.dat"),
        L("-rw-r--r--", 1, 2, "Nov 14 21:13", "with space.txt"),
        L("-rw-r--r--", 1, 3, "Nov 14 21:13", UTF8_NAME),
        L("drwxr-xr-x", (unsigned)sub.st_nlink, (long long)sub.st_size, "Jul 22 04:26", "sub"),
        L("drwxr-xr-x", (unsigned)big.st_nlink, (long long)big.st_size, "Nov 14 22:13", "big"),
        /* symlinks inside the root show their target's type and size */
        L("-rw-r--r--", 1, 5, "Nov 14 21:13", "good"),
        L("drwxr-xr-x", (unsigned)sub.st_nlink, (long long)sub.st_size, "Jul 22 04:26", "subln"),
        /* the others are shown as links, never followed outside */
        L("lrwxrwxrwx", 1, 11, "Jan  2  2020", "esc -> /etc/passwd"),
        L("lrwxrwxrwx", 1, 28, "Jan  2  2020", "esc2 -> ../../../../../../etc/passwd"),
        L("lrwxrwxrwx", 1, 7, "Nov 14 21:13", "dangling -> nowhere"),
        L("-rw-r--r--", 1, 1, "Nov 14 21:13", ".hidden"),
    };
    /* "big" was just created: give it a fixed mtime for the date column */
    set_mtime("big", NOW);
    size_t n = sizeof base / sizeof base[0];
    char *got = run("/", "", LISTING_LIST, false);
    same_lines(got, base, n - 1); /* no .hidden */
    free(got);
    got = run("/", "", LISTING_LIST, true);
    same_lines(got, base, n);
    free(got);
}
END_TEST

START_TEST(list_sub_and_single)
{
    SAME(run("/sub", "", LISTING_LIST, false), L("-rw-r--r--", 1, 3, "Jan  2  2020", "a.txt"),
         L("-rw-r--r--", 1, 4, "Jan  2  2020", "b.txt"),
         L("-rw-r--r--", 1, 5, "Jan  2  2020", "c.dat"));
    /* through a symlinked directory */
    SAME(run("/subln", "", LISTING_LIST, false), L("-rw-r--r--", 1, 3, "Jan  2  2020", "a.txt"),
         L("-rw-r--r--", 1, 4, "Jan  2  2020", "b.txt"),
         L("-rw-r--r--", 1, 5, "Jan  2  2020", "c.dat"));
    /* a file lists itself, by its last component */
    SAME(run("/sub/b.txt", "sub/b.txt", LISTING_LIST, false),
         L("-rw-r--r--", 1, 4, "Jan  2  2020", "b.txt"));
    SAME(run("/good", "", LISTING_LIST, false), L("-rw-r--r--", 1, 5, "Nov 14 21:13", "good"));
    SAME(run("/esc", "", LISTING_LIST, false),
         L("lrwxrwxrwx", 1, 11, "Jan  2  2020", "esc -> /etc/passwd"));
    SAME(run("/dangling", "", LISTING_LIST, false),
         L("lrwxrwxrwx", 1, 7, "Nov 14 21:13", "dangling -> nowhere"));
    /* asking for a dot file by name shows it */
    SAME(run("/.hidden", "", LISTING_LIST, false),
         L("-rw-r--r--", 1, 1, "Nov 14 21:13", ".hidden"));
}
END_TEST

START_TEST(nlst_rules)
{
    SAME(run("/", "", LISTING_NLST, false), "a.txt", "b.dat", "with space.txt", UTF8_NAME, "sub",
         "big", "good", "subln", "esc", "esc2", "dangling");
    SAME(run("/", "", LISTING_NLST, true), "a.txt", "b.dat", "with space.txt", UTF8_NAME, "sub",
         "big", "good", "subln", "esc", "esc2", "dangling", ".hidden");
    SAME(run("/sub", "sub", LISTING_NLST, false), "sub/a.txt", "sub/b.txt", "sub/c.dat");
    SAME(run("/sub", "sub/", LISTING_NLST, false), "sub/a.txt", "sub/b.txt", "sub/c.dat");
    SAME(run("/sub", "/sub", LISTING_NLST, false), "/sub/a.txt", "/sub/b.txt", "/sub/c.dat");
    SAME(run("/", "/", LISTING_NLST, false), "/a.txt", "/b.dat", "/with space.txt", "/" UTF8_NAME,
         "/sub", "/big", "/good", "/subln", "/esc", "/esc2", "/dangling");
    SAME(run("/sub", "", LISTING_NLST, false), "a.txt", "b.txt", "c.dat");
    /* a file: the argument as written, or its name */
    SAME(run("/sub/a.txt", "sub/a.txt", LISTING_NLST, false), "sub/a.txt");
    SAME(run("/sub/a.txt", "", LISTING_NLST, false), "a.txt");
}
END_TEST

START_TEST(glob_filters)
{
    SAME(run("/sub/*.txt", "sub/*.txt", LISTING_NLST, false), "sub/a.txt", "sub/b.txt");
    SAME(run("/sub/*.txt", "", LISTING_NLST, false), "a.txt", "b.txt");
    SAME(run("/*.txt", "*.txt", LISTING_NLST, false), "a.txt", "with space.txt", UTF8_NAME);
    SAME(run("/*.txt", "/*.txt", LISTING_NLST, false), "/a.txt", "/with space.txt", "/" UTF8_NAME);
    SAME(run("/sub/?.dat", "sub/?.dat", LISTING_NLST, false), "sub/c.dat");
    SAME(run("/sub/[ab].txt", "sub/[ab].txt", LISTING_NLST, false), "sub/a.txt", "sub/b.txt");
    SAME(run("/sub/*.dat", "", LISTING_LIST, false),
         L("-rw-r--r--", 1, 5, "Jan  2  2020", "c.dat"));
    /* a leading dot must be matched explicitly */
    EMPTY(run("/*hidden", "", LISTING_NLST, false));
    SAME(run("/.h*", "", LISTING_NLST, false), ".hidden");
    SAME(run("/.*", "", LISTING_NLST, false), ".hidden"); /* never . or .. */
    EMPTY(run("/sub/*.none", "", LISTING_NLST, false));
}
END_TEST

START_TEST(mlsd_facts)
{
    struct stat a = lst("a.txt"), sub = lst("sub"), hid = lst(".hidden"), esc = lst("esc");
    char la[256], ls[256], lg[256], lh[256], le[256], lsl[256];
    snprintf(la, sizeof la, "type=file;size=5;modify=20231114211320;perm=r;unique=%jxU%jx; a.txt",
             (uintmax_t)a.st_dev, (uintmax_t)a.st_ino);
    snprintf(lg, sizeof lg, "type=file;size=5;modify=20231114211320;perm=r;unique=%jxU%jx; good",
             (uintmax_t)a.st_dev, (uintmax_t)a.st_ino);
    snprintf(ls, sizeof ls, "type=dir;modify=20230722042640;perm=el;unique=%jxU%jx; sub",
             (uintmax_t)sub.st_dev, (uintmax_t)sub.st_ino);
    snprintf(lsl, sizeof lsl, "type=dir;modify=20230722042640;perm=el;unique=%jxU%jx; subln",
             (uintmax_t)sub.st_dev, (uintmax_t)sub.st_ino);
    snprintf(lh, sizeof lh, "type=file;size=1;modify=20231114211320;perm=r;unique=%jxU%jx; .hidden",
             (uintmax_t)hid.st_dev, (uintmax_t)hid.st_ino);
    snprintf(le, sizeof le, "type=OS.unix=symlink;modify=20200102030405;unique=%jxU%jx; esc",
             (uintmax_t)esc.st_dev, (uintmax_t)esc.st_ino);

    /* Pick out the lines we know exactly; the rest are checked by count. */
    char *got = run("/", "", LISTING_MLSD, false);
    int seen = 0, lines = 0;
    for (char *p = got; *p != '\0';) {
        char *e = strstr(p, "\r\n");
        ck_assert_ptr_nonnull(e);
        *e = '\0';
        lines++;
        const char *mine[] = {la, lg, ls, lsl, lh, le};
        for (size_t i = 0; i < 6; i++)
            if (strcmp(p, mine[i]) == 0)
                seen |= 1 << i;
        ck_assert_msg(strstr(p, "passwd") == NULL, "leaked: %s", p);
        p = e + 2;
    }
    free(got);
    ck_assert_int_eq(seen, 0x3f);
    ck_assert_int_eq(lines, 12); /* dot files always, never . .. or the LF name */

    struct listing_opts o = {.format = LISTING_MLSD, .perms = PERM_ALL, .now = NOW};
    struct listing *l = listing_open(root_fd, "/sub/a.txt", "", &o);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(errno, ENOTDIR); /* RFC 3659: MLSD needs a directory */
    errno = 0;
    ck_assert_ptr_null(listing_open(root_fd, "/sub/*.txt", "", &o));
    ck_assert_int_eq(errno, ENOENT); /* and does no globbing */

    struct stat sa = lst("sub/a.txt");
    char want[256];
    snprintf(want, sizeof want,
             "type=file;size=3;modify=20200102030405;perm=radfw;unique=%jxU%jx; a.txt",
             (uintmax_t)sa.st_dev, (uintmax_t)sa.st_ino);
    l = listing_open(root_fd, "/sub", "", &o);
    ck_assert_ptr_nonnull(l);
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(listing_fill(l, &b), 0);
    listing_close(l);
    ck_assert_int_eq(buf_append(&b, "", 1), 0);
    ck_assert_ptr_nonnull(strstr(buf_head(&b), want));
    buf_free(&b);
}
END_TEST

START_TEST(open_errors)
{
    struct listing_opts o = {.format = LISTING_LIST, .now = NOW};
    errno = 0;
    ck_assert_ptr_null(listing_open(root_fd, "/nope", "", &o));
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_ptr_null(listing_open(root_fd, "/nope/x", "", &o));
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_ptr_null(listing_open(root_fd, "/nope/*.txt", "", &o));
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_ptr_null(listing_open(root_fd, "/a.txt/x", "", &o));
    ck_assert_int_eq(errno, ENOTDIR);
    /* the newline name exists but can't be listed: empty, not an error */
    EMPTY(run("/nl\nname.txt", "", LISTING_LIST, false));
    listing_close(NULL);
}
END_TEST

/* Every fill ends on a line end, adds at least a chunk unless it is the last,
 * and never more than a chunk plus one line. */
static void check_big(enum listing_format format, size_t limit, size_t chunk_min)
{
    struct listing_opts o = {.format = format, .now = NOW};
    struct listing *l = listing_open(root_fd, "/big", "big", &o);
    ck_assert_ptr_nonnull(l);
    static char seen[3000];
    memset(seen, 0, sizeof seen);
    struct buf b;
    buf_init(&b, limit);
    int r, chunks = 0, total = 0;
    const size_t max_line = 128;
    do {
        r = listing_fill(l, &b);
        ck_assert_int_ge(r, 0);
        chunks++;
        ck_assert_uint_le(b.len, chunk_min + max_line);
        if (r == 1)
            ck_assert_uint_ge(b.len, chunk_min);
        if (b.len > 0)
            ck_assert(b.len >= 2 && memcmp(buf_head(&b) + b.len - 2, "\r\n", 2) == 0);
        ck_assert_int_eq(buf_append(&b, "", 1), 0);
        for (char *p = b.data + b.off; *p != '\0';) {
            char *e = strstr(p, "\r\n");
            ck_assert_ptr_nonnull(e);
            *e = '\0';
            char *name = strstr(p, "file-");
            ck_assert_ptr_nonnull(name);
            int i = atoi(name + 5);
            ck_assert_int_eq(seen[i], 0);
            seen[i] = 1;
            total++;
            p = e + 2;
        }
        buf_clear(&b);
    } while (r == 1);
    listing_close(l);
    buf_free(&b);
    ck_assert_int_eq(total, 3000);
    ck_assert_int_ge(chunks, 3);
}

START_TEST(big_dir_in_chunks)
{
    check_big(LISTING_LIST, 0, FTPD_LISTING_CHUNK);
    check_big(LISTING_NLST, 0, FTPD_LISTING_CHUNK);
    check_big(LISTING_MLSD, 0, FTPD_LISTING_CHUNK);
    /* A buffer smaller than a chunk gets as many whole lines as fit. */
    check_big(LISTING_LIST, 1000, 1000 - 128);
}
END_TEST

START_TEST(line_waits_for_drain)
{
    struct listing_opts o = {.format = LISTING_NLST, .now = NOW};
    struct listing *l = listing_open(root_fd, "/sub", "sub", &o);
    ck_assert_ptr_nonnull(l);
    struct buf b;
    buf_init(&b, 8); /* "sub/a.txt\r\n" is 11 bytes */
    errno = 0;
    ck_assert_int_eq(listing_fill(l, &b), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
    listing_close(l);

    l = listing_open(root_fd, "/sub", "sub", &o);
    buf_init(&b, 20); /* one line at a time */
    ck_assert_int_eq(buf_append(&b, "xxxxxxxxxxxxxxx", 15), 0);
    ck_assert_int_eq(listing_fill(l, &b), 1); /* full: nothing added, wait */
    ck_assert_uint_eq(b.len, 15);
    ck_assert(!b.overflow);
    int lines = 0, r;
    do {
        buf_clear(&b);
        r = listing_fill(l, &b);
        ck_assert_int_ge(r, 0);
        if (b.len > 0) {
            ck_assert_uint_eq(b.len, 11);
            lines++;
        }
    } while (r == 1);
    ck_assert_int_eq(lines, 3);
    buf_free(&b);
    listing_close(l);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("listing");
    TCase *tc = tcase_create("format");
    tcase_add_loop_test(tc, format_list_table, 0, (int)(sizeof list_cases / sizeof list_cases[0]));
    tcase_add_test(tc, format_list_name_kept_verbatim);
    tcase_add_test(tc, format_facts);
    tcase_add_test(tc, format_refused_by_full_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("tree");
    tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_test(tc, list_root);
    tcase_add_test(tc, list_sub_and_single);
    tcase_add_test(tc, nlst_rules);
    tcase_add_test(tc, glob_filters);
    tcase_add_test(tc, mlsd_facts);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, big_dir_in_chunks);
    tcase_add_test(tc, line_waits_for_drain);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

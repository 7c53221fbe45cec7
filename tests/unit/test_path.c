/* path_join (lexical normalisation) and path_open/path_stat (openat2 inside
 * the root), including the classic ways out of a served tree. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/path.h"
#include "ftpd/limits.h"
#include "unit.h"

/* ---- path_join ---------------------------------------------------------- */

static const struct {
    const char *cwd, *arg, *want;
} join_cases[] = {
    {"/", "", "/"},
    {"/a/b", "", "/a/b"},
    {"/", "a", "/a"},
    {"/a", "b/c", "/a/b/c"},
    {"/a/b", "/x", "/x"},
    {"/a/b", "/", "/"},
    {"/a/b", "/x/../y", "/y"},
    {"/a/b", "..", "/a"},
    {"/a/b", "../..", "/"},
    {"/a/b", "../../../..", "/"},
    {"/", "..", "/"},
    {"/", "../../../etc/passwd", "/etc/passwd"},
    {"/a", "/../../etc/passwd", "/etc/passwd"},
    {"/a", "b/../../c", "/c"},
    {"/a/b", "c/../../d", "/a/d"},
    {"/a", ".", "/a"},
    {"/a", "./", "/a"},
    {"/a", "./b/./c/.", "/a/b/c"},
    {"/a", "b//c///d", "/a/b/c/d"},
    {"/", "//", "/"},
    {"/", "//x//", "/x"},
    {"/a", "b/", "/a/b"},
    {"/a", "b/c/", "/a/b/c"},
    {"/a", "b c/ d ", "/a/b c/ d "},
    {"/", " ", "/ "},
    {"/", "h\xc3\xa9llo/\xe6\x97\xa5\xe6\x9c\xac", "/h\xc3\xa9llo/\xe6\x97\xa5\xe6\x9c\xac"},
    {"/a", "...", "/a/..."},
    {"/a", "..b", "/a/..b"},
    {"/a", "b..", "/a/b.."},
    {"/a", ".hidden", "/a/.hidden"},
    {"/a", "~", "/a/~"},
    {"/a", "b\\..\\c", "/a/b\\..\\c"},
};

START_TEST(join_table)
{
    char out[FTPD_PATH_MAX];
    const char *cwd = join_cases[_i].cwd, *arg = join_cases[_i].arg;
    int r = path_join(cwd, arg, out, sizeof out);
    ck_assert_msg(r == 0, "path_join(\"%s\", \"%s\") failed", cwd, arg);
    ck_assert_msg(strcmp(out, join_cases[_i].want) == 0,
                  "path_join(\"%s\", \"%s\") = \"%s\", want \"%s\"", cwd, arg, out,
                  join_cases[_i].want);
}
END_TEST

START_TEST(join_exact_fit)
{
    char out[16];
    memset(out, 'X', sizeof out);
    /* "/ab/cd" needs 7 bytes with its NUL. */
    ck_assert_int_eq(path_join("/ab", "cd", out, 7), 0);
    ck_assert_str_eq(out, "/ab/cd");
    memset(out, 'X', sizeof out);
    errno = 0;
    ck_assert_int_eq(path_join("/ab", "cd", out, 6), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
    ck_assert_int_eq(out[0], 'X'); /* nothing half-written */
    ck_assert_int_eq(path_join("/", "", out, 2), 0);
    ck_assert_str_eq(out, "/");
    ck_assert_int_eq(path_join("/", "..", out, 1), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

START_TEST(join_too_long)
{
    static char arg[3 * FTPD_PATH_MAX];
    char out[FTPD_PATH_MAX];
    memset(arg, 'a', 2 * FTPD_PATH_MAX);
    arg[2 * FTPD_PATH_MAX] = '\0';
    errno = 0;
    ck_assert_int_eq(path_join("/", arg, out, sizeof out), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);

    /* Exactly FTPD_PATH_MAX - 1 characters fit, one more does not. */
    memset(arg, 'b', FTPD_PATH_MAX - 2);
    arg[FTPD_PATH_MAX - 2] = '\0';
    ck_assert_int_eq(path_join("/", arg, out, sizeof out), 0);
    ck_assert_uint_eq(strlen(out), FTPD_PATH_MAX - 1);
    ck_assert_int_eq(path_join("/x", arg, out, sizeof out), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);

    /* Only the result counts: a long detour that comes back fits. */
    memset(arg, 'c', 2 * FTPD_PATH_MAX);
    strcpy(arg + 2 * FTPD_PATH_MAX, "/../d");
    ck_assert_int_eq(path_join("/e", arg, out, sizeof out), 0);
    ck_assert_str_eq(out, "/e/d");
}
END_TEST

/* ---- path_open / path_stat on a temp tree ------------------------------- */

static char tree[PATH_MAX];
static int tree_fd = -1; /* the test's own handle on the tree */
static int root_fd = -1; /* what the daemon would hold */

static void put(const char *rel, const char *content)
{
    int fd = openat(tree_fd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

static void link_at(const char *target, const char *rel)
{
    ck_assert_int_eq(symlinkat(target, tree_fd, rel), 0);
}

static void tree_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/ftpd-path-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tree));
    tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(tree_fd, 0);
    ck_assert_int_eq(mkdirat(tree_fd, "sub", 0755), 0);
    put("file.txt", "hello");
    put("sub/inner.txt", "inner");
    link_at("/etc/passwd", "abs-passwd");
    link_at("../../../../../../../../etc/passwd", "rel-passwd");
    link_at("../../..", "up");
    link_at("file.txt", "good");
    link_at("/sub/inner.txt", "abs-inside");
    link_at("sub", "subln");
    link_at("nowhere", "dangling");
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

static ino_t ino_of(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return st.st_ino;
}

/* True when fd is the host's real /etc/passwd. */
static bool is_real_passwd(int fd)
{
    struct stat a, b;
    if (stat("/etc/passwd", &b) < 0)
        return false;
    ck_assert_int_eq(fstat(fd, &a), 0);
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void read_is(int fd, const char *want)
{
    char got[64];
    ssize_t n = read(fd, got, sizeof got - 1);
    ck_assert_int_ge(n, 0);
    got[n] = '\0';
    ck_assert_str_eq(got, want);
}

START_TEST(open_plain_and_root)
{
    int fd = path_open(root_fd, "/file.txt", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    read_is(fd, "hello");
    close(fd);

    struct stat st, rst;
    ck_assert_int_eq(path_stat(root_fd, "/", &st), 0);
    ck_assert_int_eq(stat(tree, &rst), 0);
    ck_assert_uint_eq(st.st_ino, rst.st_ino);
    ck_assert(S_ISDIR(st.st_mode));

    fd = path_open(root_fd, "/sub", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    close(fd);

    errno = 0;
    ck_assert_int_eq(path_open(root_fd, "/missing", O_RDONLY), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(path_open(root_fd, "/file.txt", O_RDONLY | O_DIRECTORY), -1);
    ck_assert_int_eq(errno, ENOTDIR);
    ck_assert_int_eq(path_stat(root_fd, "/file.txt/x", &st), -1);
    ck_assert_int_eq(errno, ENOTDIR);
}
END_TEST

START_TEST(open_dotdot_clamped)
{
    char v[FTPD_PATH_MAX];
    ck_assert_int_eq(path_join("/sub", "../../../etc/passwd", v, sizeof v), 0);
    ck_assert_str_eq(v, "/etc/passwd");
    errno = 0;
    ck_assert_int_eq(path_open(root_fd, v, O_RDONLY), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* Even a path nobody normalised stays inside: the kernel clamps "..". */
    errno = 0;
    ck_assert_int_eq(path_open(root_fd, "/../../etc/passwd", O_RDONLY), -1);
    ck_assert_int_eq(errno, ENOENT);
    int fd = path_open(root_fd, "/../../..", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    struct stat rst;
    ck_assert_int_eq(stat(tree, &rst), 0);
    ck_assert_uint_eq(ino_of(fd), rst.st_ino);
    close(fd);
}
END_TEST

START_TEST(open_absolute_symlink_out)
{
    errno = 0;
    int fd = path_open(root_fd, "/abs-passwd", O_RDONLY);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(errno, ENOENT);
    struct stat st;
    ck_assert_int_eq(path_stat(root_fd, "/abs-passwd", &st), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* With an etc/passwd inside the tree, the link resolves to that one. */
    ck_assert_int_eq(mkdirat(tree_fd, "etc", 0755), 0);
    put("etc/passwd", "fake");
    fd = path_open(root_fd, "/abs-passwd", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert(!is_real_passwd(fd));
    read_is(fd, "fake");
    close(fd);
    fd = path_open(root_fd, "/rel-passwd", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert(!is_real_passwd(fd));
    close(fd);
    ck_assert_int_eq(unlinkat(tree_fd, "etc/passwd", 0), 0);
    ck_assert_int_eq(unlinkat(tree_fd, "etc", AT_REMOVEDIR), 0);
}
END_TEST

START_TEST(open_relative_symlink_out)
{
    errno = 0;
    int fd = path_open(root_fd, "/rel-passwd", O_RDONLY);
    if (fd >= 0) {
        ck_assert(!is_real_passwd(fd));
        close(fd);
    } else {
        ck_assert_int_eq(errno, ENOENT);
    }
    /* "up" -> ../../.. lands on the root itself, not above it. */
    fd = path_open(root_fd, "/up", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    struct stat rst;
    ck_assert_int_eq(stat(tree, &rst), 0);
    ck_assert_uint_eq(ino_of(fd), rst.st_ino);
    close(fd);
    fd = path_open(root_fd, "/up/up/etc/passwd", O_RDONLY);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(errno, ENOENT);
    fd = path_open(root_fd, "/up/file.txt", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    read_is(fd, "hello");
    close(fd);
}
END_TEST

START_TEST(open_symlinks_inside)
{
    int fd = path_open(root_fd, "/good", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    read_is(fd, "hello");
    close(fd);
    fd = path_open(root_fd, "/abs-inside", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    read_is(fd, "inner");
    close(fd);
    fd = path_open(root_fd, "/subln/inner.txt", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    read_is(fd, "inner");
    close(fd);
    fd = path_open(root_fd, "/subln", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    close(fd);
    errno = 0;
    ck_assert_int_eq(path_open(root_fd, "/dangling", O_RDONLY), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(open_create)
{
    int fd = path_open(root_fd, "/sub/new.txt", O_WRONLY | O_CREAT | O_EXCL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    close(fd);
    struct stat st;
    ck_assert_int_eq(fstatat(tree_fd, "sub/new.txt", &st, 0), 0);
    ck_assert_int_eq(st.st_size, 1);
    ck_assert_int_eq(unlinkat(tree_fd, "sub/new.txt", 0), 0);
    /* Creating through an escaping link stays inside (or fails). */
    fd = path_open(root_fd, "/up/created", O_WRONLY | O_CREAT | O_EXCL);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(unlinkat(tree_fd, "created", 0), 0);
}
END_TEST

START_TEST(open_magic_link_refused)
{
    /* /proc/self/exe is a magic link: with "/" as the root it must still be
     * refused rather than followed. */
    if (access("/proc/self/exe", F_OK) != 0)
        return;
    int slash = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(slash, 0);
    errno = 0;
    ck_assert_int_eq(path_open(slash, "/proc/self/exe", O_RDONLY), -1);
    ck_assert_int_eq(errno, ELOOP);
    close(slash);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("join");
    tcase_add_loop_test(tc, join_table, 0, (int)(sizeof join_cases / sizeof join_cases[0]));
    tcase_add_test(tc, join_exact_fit);
    tcase_add_test(tc, join_too_long);
    suite_add_tcase(s, tc);

    tc = tcase_create("open");
    tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_test(tc, open_plain_and_root);
    tcase_add_test(tc, open_dotdot_clamped);
    tcase_add_test(tc, open_absolute_symlink_out);
    tcase_add_test(tc, open_relative_symlink_out);
    tcase_add_test(tc, open_symlinks_inside);
    tcase_add_test(tc, open_create);
    tcase_add_test(tc, open_magic_link_refused);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

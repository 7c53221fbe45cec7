/* The system-daemon helpers (issue 13): xferlog(5) lines, the sd_notify
 * protocol, the pid file, and the privilege drop's decisions. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/pidfile.h"
#include "ftpd/privdrop.h"
#include "ftpd/sdnotify.h"
#include "ftpd/xferlog.h"
#include "unit.h"

/* ---- xferlog(5) ------------------------------------------------------ */

/* 2026-12-03 09:05:07 UTC, a Thursday, with a one-digit day. */
static const time_t WHEN = 1796288707;

START_TEST(xferlog_lines_as_vsftpd_writes_them)
{
    setenv("TZ", "UTC", 1);
    tzset();
    static const struct {
        struct xferlog_entry e;
        const char *want;
    } cases[] = {
        {{WHEN, 0, "127.0.0.1", 1000, "/pub/a file.txt", false, false, true, "me@x", true},
         "Thu Dec  3 09:05:07 2026 1 127.0.0.1 1000 /pub/a_file.txt b _ o a me@x ftp 0 * c\n"},
        {{WHEN, 42, "::1", 0, "/up/x.bin", true, true, false, "alice", false},
         "Thu Dec  3 09:05:07 2026 42 ::1 0 /up/x.bin a _ i r alice ftp 0 * i\n"},
        /* Control bytes never make a second line; an empty user is '*'. */
        {{WHEN, 3, "10.0.0.1", 7, "/a\nb\tc", false, false, true, "", true},
         "Thu Dec  3 09:05:07 2026 3 10.0.0.1 7 /a?b?c b _ o a * ftp 0 * c\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[512];
        size_t n = xferlog_format(&cases[i].e, line, sizeof line);
        ck_assert_str_eq(line, cases[i].want);
        ck_assert_uint_eq(n, strlen(cases[i].want));
    }
}
END_TEST

START_TEST(xferlog_long_path_is_cut_not_the_fields)
{
    setenv("TZ", "UTC", 1);
    tzset();
    char path[300];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    struct xferlog_entry e = {WHEN, 1, "127.0.0.1", 5, path, false, true, false, "bob", true};
    char line[160];
    size_t n = xferlog_format(&e, line, sizeof line);
    ck_assert_uint_lt(n, sizeof line);
    ck_assert_uint_eq(strlen(line), n);
    const char *tail = " b _ i r bob ftp 0 * c\n";
    ck_assert_str_eq(line + n - strlen(tail), tail);
}
END_TEST

START_TEST(xferlog_appends_one_line_per_write)
{
    char dir[] = "/tmp/ftpd-xferlog-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/xferlog", dir);
    char err[256];
    ck_assert_int_eq(xferlog_open(path, err, sizeof err), 0);
    ck_assert(xferlog_enabled());
    struct xferlog_entry e = {WHEN, 1, "127.0.0.1", 1, "/f", false, false, true, "a@b", true};
    xferlog_write(&e);
    /* Rotated away, then reopened: the next line goes to a new file. */
    char moved[160];
    snprintf(moved, sizeof moved, "%s.1", path);
    ck_assert_int_eq(rename(path, moved), 0);
    xferlog_reopen();
    xferlog_write(&e);
    xferlog_write(&e);
    struct stat st1, st2;
    ck_assert_int_eq(stat(moved, &st1), 0);
    ck_assert_int_eq(stat(path, &st2), 0);
    char line[256];
    size_t len = xferlog_format(&e, line, sizeof line);
    ck_assert_int_eq(st1.st_size, (off_t)len);
    ck_assert_int_eq(st2.st_size, (off_t)(2 * len));
    unlink(moved);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- sd_notify --------------------------------------------------------- */

static int bind_dgram(const char *name, struct sockaddr_un *sun, socklen_t *len)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    *sun = (struct sockaddr_un){.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sun->sun_path, name, n);
    if (name[0] == '@')
        sun->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)sun, *len), 0);
    return fd;
}

static void expect_message(int fd, const char *prefix)
{
    char buf[256];
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strncmp(buf, prefix, strlen(prefix)) == 0, "got '%s', want '%s...'", buf, prefix);
}

START_TEST(notify_to_abstract_and_path_sockets)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(sd_notify_send("READY=1"), 0); /* no manager: nothing */

    char abstract[64];
    snprintf(abstract, sizeof abstract, "@ftpd-unit-%ld", (long)getpid());
    struct sockaddr_un sun;
    socklen_t len;
    int fd = bind_dgram(abstract, &sun, &len);
    setenv("NOTIFY_SOCKET", abstract, 1);
    notify_ready();
    expect_message(fd, "READY=1\n");
    notify_reloading();
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "RELOADING=1\n"));
    /* MONOTONIC_USEC is now on CLOCK_MONOTONIC, in microseconds. */
    const char *usec = strstr(buf, "MONOTONIC_USEC=");
    ck_assert_ptr_nonnull(usec);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    long long sent = atoll(usec + strlen("MONOTONIC_USEC="));
    ck_assert(sent <= now && now - sent < 5000000);
    notify_stopping();
    expect_message(fd, "STOPPING=1\n");
    notify_mainpid(1234);
    expect_message(fd, "MAINPID=1234\nREADY=1");
    close(fd);

    char path[64];
    snprintf(path, sizeof path, "/tmp/ftpd-unit-notify-%ld", (long)getpid());
    unlink(path);
    fd = bind_dgram(path, &sun, &len);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(sd_notify_send("READY=1"), 1);
    expect_message(fd, "READY=1");
    close(fd);
    unlink(path);

    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1); /* not ours to speak */
    ck_assert_int_eq(sd_notify_send("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}
END_TEST

/* ---- pid file ------------------------------------------------------------ */

START_TEST(pidfile_written_whole_and_removed_by_its_writer)
{
    char dir[] = "/tmp/ftpd-pid-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/ftpd.pid", dir);
    char err[256];
    ck_assert_int_eq(pidfile_write(path, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long pid = 0;
    ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    ck_assert_int_eq(pid, (long)getpid());
    /* A child returning through main() leaves it alone. */
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        pidfile_remove(path);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_int_eq(access(path, F_OK), 0);
    pidfile_remove(path);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* No temporary file left beside it. */
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- privilege drop ------------------------------------------------------ */

START_TEST(privdrop_plan_rules)
{
    struct privdrop p;
    char err[512];
    if (geteuid() != 0) {
        /* Not root: no change unless another user is asked for. */
        ck_assert_int_eq(privdrop_plan("", &p, err, sizeof err), 0);
        ck_assert(!p.drop);
        struct passwd *me = getpwuid(geteuid());
        if (me != NULL) {
            ck_assert_int_eq(privdrop_plan(me->pw_name, &p, err, sizeof err), 0);
            ck_assert(!p.drop);
        }
        ck_assert_int_eq(privdrop_plan("root", &p, err, sizeof err), -1);
        ck_assert_ptr_nonnull(strstr(err, "only root"));
        return;
    }
    /* Root: root only when asked for by name; no such user is an error. */
    ck_assert_int_eq(privdrop_plan("root", &p, err, sizeof err), 0);
    ck_assert(!p.drop);
    ck_assert_int_eq(privdrop_plan("no-such-user-ftpd", &p, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no such user"));
    struct passwd *ftp = getpwnam(PRIVDROP_DEFAULT_USER);
    int rc = privdrop_plan("", &p, err, sizeof err);
    if (ftp == NULL) {
        ck_assert_int_eq(rc, -1);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert(p.drop);
    ck_assert_str_eq(p.name, PRIVDROP_DEFAULT_USER);
    ck_assert_int_eq(p.uid, ftp->pw_uid);
    ck_assert_int_eq(p.gid, ftp->pw_gid);
}
END_TEST

START_TEST(privdrop_apply_leaves_no_way_back)
{
    struct passwd *ftp = getpwnam(PRIVDROP_DEFAULT_USER);
    if (geteuid() != 0 || ftp == NULL)
        return; /* needs root and the ftp user (scripts/lib.sh makes it) */
    struct privdrop p;
    char err[512];
    ck_assert_int_eq(privdrop_plan("", &p, err, sizeof err), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        /* Exit codes say which check failed. */
        if (privdrop_apply(&p, err, sizeof err) != 0)
            _exit(1);
        if (getuid() != ftp->pw_uid || geteuid() != ftp->pw_uid || getgid() != ftp->pw_gid)
            _exit(2);
        if (setuid(0) == 0 || setgid(0) == 0 || setgroups(0, NULL) == 0)
            _exit(3);
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
            _exit(4);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("daemon_util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, xferlog_lines_as_vsftpd_writes_them);
    tcase_add_test(tc, xferlog_long_path_is_cut_not_the_fields);
    tcase_add_test(tc, xferlog_appends_one_line_per_write);
    tcase_add_test(tc, notify_to_abstract_and_path_sockets);
    tcase_add_test(tc, pidfile_written_whole_and_removed_by_its_writer);
    tcase_add_test(tc, privdrop_plan_rules);
    tcase_add_test(tc, privdrop_apply_leaves_no_way_back);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

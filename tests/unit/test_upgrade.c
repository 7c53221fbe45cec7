/* The live upgrade's old side (arch/common/upgrade.c) with real children:
 * a program that reports ready the way ftpd does (a shell printf of the
 * message header), one that exits at once, and the path resolution. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/common/upgrade.h"
#include "ftpd/config.h"
#include "ftpd/upgrade.h"
#include "unit.h"

static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGINT);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
}

/* The next event within 5 s, CTL_NONE after that. */
static enum ctl_event next_event(struct ctl_events *ev)
{
    for (int i = 0; i < 50; i++) {
        struct pollfd p = {.fd = ev->fd, .events = POLLIN};
        poll(&p, 1, 100);
        enum ctl_event e = ctl_events_drain(ev);
        if (e != CTL_NONE)
            return e;
        if (ev->upgrade->state == UPGRADE_IDLE)
            return CTL_NONE; /* rolled back */
    }
    return CTL_NONE;
}

/* A script at dir/name: the program an upgrade executes. */
static void write_script(char *path, size_t cap, const char *name, const char *body)
{
    char dir[] = "/tmp/test_upgrade.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0755), 0);
}

struct fixture {
    struct ftpd_config cfg;
    struct exec_plan plan;
    char *argv[2];
    struct ftpd_server srv;
    struct ctl_events ev;
};

/* The script and its directory go. */
static void finish(struct fixture *f)
{
    ctl_events_close(&f->ev);
    unlink(f->plan.path);
    *strrchr(f->plan.path, '/') = '\0';
    rmdir(f->plan.path);
}

static void start(struct fixture *f, const char *body, int drain_timeout)
{
    memset(f, 0, sizeof *f);
    config_defaults(&f->cfg);
    f->cfg.upgrade_drain_timeout = drain_timeout;
    write_script(f->plan.path, sizeof f->plan.path, "ftpd", body);
    f->argv[0] = f->plan.path;
    f->plan.argv = f->argv;
    f->plan.ready_channel = -1;
    f->srv = (struct ftpd_server){.cfg = &f->cfg, .root_fd = -1, .exec = &f->plan};
    block_signals();
    ck_assert_int_eq(ctl_events_open(&f->ev, CTL_WITH_SIGINT), 0);
    ck_assert_int_eq(ctl_events_enable_upgrade(&f->ev, &f->srv), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    struct pollfd p = {.fd = f->ev.fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 1000), 1);
    ck_assert_int_eq(ctl_events_drain(&f->ev), CTL_NONE); /* started */
    ck_assert_int_eq(f->ev.upgrade->state, UPGRADE_STARTING);
}

/* Ready (an 8-byte header: length 0, type 0x0300, no descriptors) on
 * FTPD_UPGRADE_FD, which is 3 with no listener; then the hand-over, the
 * successor's pid, a second SIGUSR2 ignored, the drain timer's stop. */
START_TEST(ready_child_takes_over)
{
    struct fixture f;
    start(&f,
          "[ \"$FTPD_UPGRADE_FD\" = 3 ] && [ \"$LISTEN_FDS\" = 0 ] && [ \"$LISTEN_PID\" = $$ ] "
          "|| exit 9\nprintf '\\000\\000\\000\\000\\003\\000\\000\\000' >&3\nsleep 1",
          1);
    pid_t child = f.ev.upgrade->child;
    ck_assert_int_eq(next_event(&f.ev), CTL_DRAIN);
    ck_assert(f.ev.handed_over);
    ck_assert_int_eq(f.ev.successor, child);
    ck_assert_int_eq(f.ev.upgrade->state, UPGRADE_DRAINING);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);  /* ignored while draining */
    ck_assert_int_eq(next_event(&f.ev), CTL_STOP); /* upgrade_drain_timeout */
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    finish(&f);
}
END_TEST

/* Exits before ready: rolled back and reaped; a new SIGUSR2 may start again. */
START_TEST(failing_child_rolls_back)
{
    struct fixture f;
    start(&f, "exit 3", 5);
    pid_t child = f.ev.upgrade->child;
    ck_assert_int_eq(next_event(&f.ev), CTL_NONE);
    ck_assert_int_eq(f.ev.upgrade->state, UPGRADE_IDLE);
    ck_assert(!f.ev.handed_over);
    ck_assert_int_eq(waitpid(child, NULL, WNOHANG), -1); /* reaped already */
    finish(&f);
}
END_TEST

START_TEST(plan_resolves_argv0)
{
    struct exec_plan p;
    char *abs[] = {"/usr/sbin/ftpd", NULL};
    ck_assert_int_eq(upgrade_plan_init(&p, abs), 0);
    ck_assert_str_eq(p.path, "/usr/sbin/ftpd");
    char cwd[PATH_MAX], want[PATH_MAX + 16];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    char *rel[] = {"build/ftpd", NULL};
    ck_assert_int_eq(upgrade_plan_init(&p, rel), 0);
    snprintf(want, sizeof want, "%s/build/ftpd", cwd);
    ck_assert_str_eq(p.path, want); /* made absolute, never resolved further */
    char *bare[] = {"sh", NULL};
    ck_assert_int_eq(upgrade_plan_init(&p, bare), 0);
    ck_assert_int_eq(p.path[0], '/');
    ck_assert_int_eq(access(p.path, X_OK), 0);
    char *missing[] = {"no-such-program-anywhere", NULL};
    ck_assert_int_eq(upgrade_plan_init(&p, missing), -1);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("upgrade");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, ready_child_takes_over);
    tcase_add_test(tc, failing_child_rolls_back);
    tcase_add_test(tc, plan_resolves_argv0);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

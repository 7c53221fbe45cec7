/* The syscall filter (src/util/sandbox.c): in a child, installed with
 * seccomp = yes, a forbidden syscall (ptrace) kills the process with
 * SIGSYS after a line naming it on fd 2, while allowed ones still work;
 * seccomp = log lets it run; seccomp = no installs nothing. */
#include "ftpd/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

/* The Seccomp: line of this process's /proc status (0 off, 2 filter). */
static int seccomp_state(void)
{
    FILE *fp = fopen("/proc/self/status", "re");
    if (fp == NULL)
        return -1;
    char line[256];
    int state = -1;
    while (fgets(line, sizeof line, fp) != NULL) {
        if (sscanf(line, "Seccomp: %d", &state) == 1)
            break;
    }
    fclose(fp);
    return state;
}

/* Fork a child that installs mode and calls ptrace; its fd 2 goes into a
 * pipe read into out. Returns the wait status. Child exits: 10 install
 * failed, 11 wrong Seccomp state, 12 getpid broken, 0 ptrace returned. */
static int run_child(enum seccomp_mode mode, int want_state, char *out, size_t outlen)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        char err[256];
        if (sandbox_install(mode, err, sizeof err) != 0)
            _exit(10);
        if (seccomp_state() != want_state)
            _exit(11);
        if (getpid() <= 0)
            _exit(12);
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < outlen && (n = read(p[0], out + len, outlen - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(n, 0);
        len += (size_t)n;
    }
    out[len] = '\0';
    close(p[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(forbidden_syscall_kills_and_is_named)
{
    if (sandbox_unavailable() != NULL)
        return; /* sanitizer build or no libseccomp: nothing to check */
    char out[512];
    int status = run_child(SECCOMP_YES, 2, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x, stderr: %s",
                  status, out);
    char want[64];
    snprintf(want, sizeof want, "forbidden syscall ptrace (%d), killed\n", (int)SYS_ptrace);
    ck_assert_msg(strstr(out, want) != NULL, "stderr: %s", out);
}
END_TEST

START_TEST(log_mode_lets_it_run)
{
    if (sandbox_unavailable() != NULL)
        return;
    char out[512];
    int status = run_child(SECCOMP_LOG, 2, out, sizeof out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
END_TEST

START_TEST(no_installs_nothing)
{
    char out[512];
    int status = run_child(SECCOMP_NO, 0, out, sizeof out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("sandbox");
    tcase_add_test(tc, forbidden_syscall_kills_and_is_named);
    tcase_add_test(tc, log_mode_lets_it_run);
    tcase_add_test(tc, no_installs_nothing);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The syscall allow-list and its installation (ftpd/sandbox.h). */
#include "ftpd/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(FTPD_SANITIZED)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif

#if defined(FTPD_HAVE_SECCOMP) && !defined(SANDBOX_SANITIZED)
#include <seccomp.h>
#include <sys/prctl.h>

/* What ftpd needs, by who needs it. Names the running architecture lacks
 * (open on aarch64, arch_prctl off x86) are skipped. */
/* clang-format off */
static const char *const allowed[] = {
    /* Memory: malloc, thread stacks, OpenSSL, max_rate_total's shared map. */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore",
    /* Threads (thread, threadpool, hybrid, the status and metrics threads)
     * and glibc's start-up of a program (a live upgrade's new binary). */
    "clone", "clone3", "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "arch_prctl", "gettid", "sched_yield", "sched_getaffinity", "sched_getparam",
    "sched_getscheduler", "nanosleep", "clock_nanosleep", "exit", "exit_group",
    /* Processes: process, prefork and hybrid workers, the supervisor, the
     * live upgrade (fork, then execve of the new binary), daemon start-up
     * of a new generation (privilege drop, PR_SET_NO_NEW_PRIVS, its own
     * filter: seccomp can only narrow what is allowed). */
    "fork", "vfork", "execve", "wait4", "waitid", "kill", "tgkill", "tkill", "getpid",
    "getppid", "getpgrp", "getpgid", "getsid", "setsid", "setpgid", "getuid", "geteuid",
    "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid", "setresuid",
    "setresgid", "setgroups", "prctl", "seccomp", "capget", "umask", "prlimit64", "getrlimit",
    "setrlimit", "getrusage", "sysinfo", "uname", "times", "getpriority",
    /* Parked sessions' threads lower their priority (blocking/parking.c). */
    "setpriority",
    /* Signals: handlers, signalfd, sigqueue() (the supervisor's
     * drain order names the new generation), the SIGSYS report below. */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "rt_sigpending", "sigaltstack", "restart_syscall", "pause", "alarm", "setitimer",
    "getitimer",
    /* Time: timestamps, timeouts, rate limits. */
    "clock_gettime", "clock_getres", "gettimeofday", "time",
    /* Files: the served tree (listing, RETR, STOR, DELE, MKD, RNFR/RNTO,
     * MDTM, SIZE), the users and config files on reload, log reopen, pid
     * file, control socket, OpenSSL's configuration. */
    "open", "openat", "openat2", "close", "close_range", "read", "write", "readv", "writev",
    "pread64", "pwrite64", "preadv", "pwritev", "lseek", "fstat", "stat", "lstat", "newfstatat",
    "statx", "fstatfs", "statfs", "getdents64", "getdents", "readlink", "readlinkat", "access",
    "faccessat", "faccessat2", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
    "renameat", "renameat2", "fcntl", "dup", "dup2", "dup3", "ftruncate", "truncate",
    "fallocate", "fsync", "fdatasync", "fchmod", "fchmodat", "chmod", "fchown", "fchownat",
    "chown", "lchown", "utimensat", "flock", "getcwd", "chdir", "fchdir", "fadvise64", "ioctl",
    "pipe", "pipe2",
    /* Transfers: sendfile and splice for RETR/STOR. */
    "sendfile", "splice", "tee", "copy_file_range",
    /* Sockets: control and data connections, PASV/PORT, the handover of
     * sessions and listeners (SCM_RIGHTS), the status socket, syslog's
     * /dev/log, /metrics, sd_notify. */
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "setsockopt", "getsockopt", "shutdown", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg",
    /* Event loops: libev (epoll), wake-ups, timers, poll in blocking I/O. */
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime",
    "timerfd_gettime", "poll", "ppoll", "select", "pselect6",
    /* Crypto: OpenSSL's and libxcrypt's randomness. */
    "getrandom",
};
/* clang-format on */

/* The SIGSYS handler can neither allocate nor ask libseccomp, so the names
 * are resolved before the filter goes in. Written once by sandbox_install
 * before any trap can fire, read-only afterwards: the one process-wide
 * object, because a signal handler takes no argument. */
#define SANDBOX_NAMES 512
static char syscall_names[SANDBOX_NAMES][24];

static void resolve_names(void)
{
    for (int nr = 0; nr < SANDBOX_NAMES; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name != NULL)
            snprintf(syscall_names[nr], sizeof syscall_names[nr], "%s", name);
        free(name);
    }
}

/* Digits of v into end's left, returned start. */
static char *format_decimal(char *end, unsigned long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

static void append(char *line, size_t *len, size_t cap, const char *s)
{
    while (*s != '\0' && *len < cap)
        line[(*len)++] = *s++;
}

/* Async-signal-safe: write(2) on fd 2, then death by SIGSYS (SA_RESETHAND
 * restored the default action, SA_NODEFER lets raise deliver it now). */
static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    int saved = errno;
    char line[160];
    size_t len = 0;
    int nr = info->si_syscall;
    char digits[24];
    char *num = format_decimal(digits + sizeof digits - 1, (unsigned long)(nr < 0 ? 0 : nr));
    digits[sizeof digits - 1] = '\0';
    append(line, &len, sizeof line - 1, "ftpd: seccomp: forbidden syscall ");
    const char *name = nr >= 0 && nr < SANDBOX_NAMES && syscall_names[nr][0] != '\0'
                           ? syscall_names[nr]
                           : "unknown";
    append(line, &len, sizeof line - 1, name);
    append(line, &len, sizeof line - 1, " (");
    append(line, &len, sizeof line - 1, num);
    append(line, &len, sizeof line - 1, "), killed\n");
    for (size_t off = 0; off < len;) {
        ssize_t n = write(STDERR_FILENO, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    errno = saved;
    raise(sig);
    _exit(128 + SIGSYS); /* not reached: SIGSYS kills */
}

static int fail(char *err, size_t errlen, const char *what, int rc)
{
    snprintf(err, errlen, "seccomp: %s: %s", what, strerror(rc < 0 ? -rc : rc));
    return -1;
}

const char *sandbox_unavailable(void)
{
    /* A kernel built without CONFIG_SECCOMP answers EINVAL. */
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
        return "kernel without seccomp";
    return NULL;
}

int sandbox_install(enum seccomp_mode mode, char *err, size_t errlen)
{
    if (mode == SECCOMP_NO)
        return 0;
    if (mode == SECCOMP_YES) {
        resolve_names();
        struct sigaction sa = {.sa_sigaction = on_sigsys,
                               .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER};
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) != 0)
            return fail(err, errlen, "SIGSYS handler", errno);
    }
    scmp_filter_ctx ctx = seccomp_init(mode == SECCOMP_YES ? SCMP_ACT_TRAP : SCMP_ACT_LOG);
    if (ctx == NULL)
        return fail(err, errlen, "seccomp_init", ENOMEM);
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    /* A binary tree instead of ~190 comparisons in a row for every
     * syscall (libseccomp >= 2.5; older ones keep the list). */
    if (rc == 0)
        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc != 0) {
        seccomp_release(ctx);
        return fail(err, errlen, "filter attributes", rc);
    }
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc != 0) {
            seccomp_release(ctx);
            snprintf(err, errlen, "seccomp: allowing %s: %s", allowed[i], strerror(-rc));
            return -1;
        }
    }
    rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0)
        return fail(err, errlen, "loading the filter", rc);
    return 0;
}

#else /* no libseccomp, or a sanitizer build */

const char *sandbox_unavailable(void)
{
#ifdef SANDBOX_SANITIZED
    return "sanitizer build";
#else
    return "built without libseccomp";
#endif
}

int sandbox_install(enum seccomp_mode mode, char *err, size_t errlen)
{
    (void)mode;
    (void)err;
    (void)errlen;
    return 0;
}

#endif

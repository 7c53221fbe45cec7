/* Live upgrade (SIGUSR2): the old generation starts the new one and hands
 * over (upgrade.h), and the few steps the new one takes in main()
 * (ftpd/upgrade.h). */
#include "arch/common/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/generation.h"
#include "ftpd/limits.h"
#include "ftpd/log.h"
#include "ftpd/sdnotify.h"
#include "ftpd/status.h"
#include "ftpd/upgrade.h"

extern char **environ;

#define UPGRADE_FD_ENV "FTPD_UPGRADE_FD"

/* ---- main(): the plan, and the new generation's side ------------------- */

int upgrade_plan_init(struct exec_plan *p, char *const *argv)
{
    p->argv = argv;
    p->path[0] = '\0';
    p->ready_channel = -1;
    const char *a0 = argv[0];
    int len = -1;
    if (a0 == NULL || a0[0] == '\0') {
        log_warn("upgrade: no argv[0]; SIGUSR2 will be ignored");
        return -1;
    }
    if (a0[0] == '/') {
        len = snprintf(p->path, sizeof p->path, "%s", a0);
    } else if (strchr(a0, '/') != NULL) {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) != NULL)
            len = snprintf(p->path, sizeof p->path, "%s/%s", cwd, a0);
    } else {
        /* Found in PATH, as the shell found it. */
        const char *path = getenv("PATH");
        for (const char *dir = path != NULL ? path : "/usr/local/bin:/usr/bin:/bin";
             *dir != '\0';) {
            size_t dlen = strcspn(dir, ":");
            len = snprintf(p->path, sizeof p->path, "%.*s/%s", (int)dlen, dir, a0);
            if (len > 0 && (size_t)len < sizeof p->path && access(p->path, X_OK) == 0)
                break;
            len = -1;
            dir += dlen;
            dir += *dir == ':';
        }
    }
    if (len < 0 || (size_t)len >= sizeof p->path) {
        p->path[0] = '\0';
        log_warn("upgrade: cannot tell the path of '%s'; SIGUSR2 will be ignored", a0);
        return -1;
    }
    return 0;
}

int upgrade_channel_take(void)
{
    const char *s = getenv(UPGRADE_FD_ENV);
    if (s == NULL)
        return -1;
    char *end;
    errno = 0;
    long fd = strtol(s, &end, 10);
    bool ok = errno == 0 && *end == '\0' && fd >= 3 && fd < 65536;
    unsetenv(UPGRADE_FD_ENV);
    if (!ok || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) {
        log_warn("upgrade: %s=%s is no descriptor: not reporting ready", UPGRADE_FD_ENV, s);
        return -1;
    }
    return (int)fd;
}

int upgrade_report_ready(int channel)
{
    char pid[24];
    int len = snprintf(pid, sizeof pid, "%ld", (long)getpid());
    log_info("upgrade: ready, telling the old generation");
    if (msg_send(channel, MSG_UPG_READY, pid, (size_t)len, NULL, 0) < 0) {
        log_error("upgrade: cannot tell the old generation we are ready: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the old generation ------------------------------------------------ */

int ctl_events_enable_upgrade(struct ctl_events *ev, const struct ftpd_server *srv)
{
    /* Started by an upgrade: this back-end is set up (its handover socket
     * too, on reactor and hybrid); the old generation may hand over. */
    if (srv->exec != NULL && srv->exec->ready_channel >= 0) {
        upgrade_report_ready(srv->exec->ready_channel);
        close(srv->exec->ready_channel);
        srv->exec->ready_channel = -1;
    }
    struct upgrade *u = calloc(1, sizeof *u);
    if (u == NULL) {
        log_error("upgrade: out of memory");
        return -1;
    }
    *u = (struct upgrade){.srv = srv, .child = -1, .channel = -1, .owner = getpid()};
    u->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event sig = {.events = EPOLLIN, .data.fd = ev->sigfd};
    struct epoll_event tim = {.events = EPOLLIN, .data.fd = u->timer};
    if (u->timer < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev->sigfd, &sig) < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, u->timer, &tim) < 0) {
        log_error("upgrade: cannot set up its events: %s", strerror(errno));
        if (ep >= 0)
            close(ep);
        if (u->timer >= 0)
            close(u->timer);
        free(u);
        return -1;
    }
    ev->fd = ep;
    ev->upgrade = u;
    return 0;
}

static void arm_timer(struct upgrade *u, int seconds)
{
    /* 0 seconds: at once (an all-zero it_value would disarm it). */
    struct itimerspec t = {.it_value = {.tv_sec = seconds, .tv_nsec = seconds == 0 ? 1 : 0}};
    if (timerfd_settime(u->timer, 0, &t, NULL) < 0)
        log_error("upgrade: timer: %s", strerror(errno));
}

static void disarm_timer(struct upgrade *u)
{
    struct itimerspec t = {{0, 0}, {0, 0}};
    timerfd_settime(u->timer, 0, &t, NULL);
}

/* Did the timer expire since the last look? */
static bool timer_expired(struct upgrade *u)
{
    uint64_t n;
    ssize_t r;
    do
        r = read(u->timer, &n, sizeof n);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof n && n > 0;
}

static void close_channel(struct upgrade *u, struct ctl_events *ev)
{
    if (u->channel < 0)
        return;
    if (ev != NULL)
        epoll_ctl(ev->fd, EPOLL_CTL_DEL, u->channel, NULL);
    close(u->channel);
    u->channel = -1;
    msg_reader_free(&u->reader);
}

/* The child's decimal pid into buf, async-signal-safe (after fork in a
 * threaded process nothing else is allowed before exec). */
static void put_pid(char *buf, size_t cap)
{
    char tmp[24];
    size_t n = 0;
    for (unsigned long v = (unsigned long)getpid(); n < sizeof tmp && (n == 0 || v > 0); v /= 10)
        tmp[n++] = (char)('0' + v % 10);
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        buf[i] = tmp[n - 1 - i];
    buf[i] = '\0';
}

/* In the forked child: descriptors 3.. (listeners, then the channel),
 * LISTEN_PID, exec. Only async-signal-safe calls. */
static _Noreturn void exec_child(const struct exec_plan *plan, const int *src, int n, char **envp,
                                 char *pid_digits, size_t pid_cap)
{
    int tmp[ADOPT_PASS_MAX + 1];
    put_pid(pid_digits, pid_cap);
    /* First above the target range, so no source is overwritten before it
     * is copied; dup2 then clears close-on-exec on the targets only. */
    for (int i = 0; i < n; i++) {
        tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3 + n);
        if (tmp[i] < 0)
            _exit(127);
    }
    for (int i = 0; i < n; i++) {
        if (dup2(tmp[i], 3 + i) < 0)
            _exit(127);
    }
    execve(plan->path, plan->argv, envp);
    _exit(127);
}

static bool is_ours(const char *var)
{
    static const char *const names[] = {
        "LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", UPGRADE_FD_ENV "="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strncmp(var, names[i], strlen(names[i])) == 0)
            return true;
    }
    return false;
}

/* The environment of the new generation: ours without the variables we
 * set, then ours. Everything in one allocation; *pid_digits is where the
 * child writes its pid. NULL: out of memory. */
static char **child_env(const struct ftpd_server *cur, int nlisteners, char **pid_digits,
                        size_t *pid_cap)
{
    size_t nenv = 0;
    while (environ[nenv] != NULL)
        nenv++;
    enum { VAR_MAX = 32 + ADOPT_PASS_MAX * 5 };
    char(*vars)[VAR_MAX] = NULL;
    char **envp = malloc((nenv + 5) * sizeof *envp + 4 * sizeof *vars);
    if (envp == NULL)
        return NULL;
    vars = (void *)(envp + nenv + 5);
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        if (!is_ours(environ[i]))
            envp[k++] = environ[i];
    }
    snprintf(vars[0], VAR_MAX, "LISTEN_FDS=%d", nlisteners);
    snprintf(vars[1], VAR_MAX, UPGRADE_FD_ENV "=%d", 3 + nlisteners);
    int used = snprintf(vars[2], VAR_MAX, "LISTEN_FDNAMES=");
    int nl = cur->nlisteners > 0 ? cur->nlisteners : 1;
    for (int i = 0; i < nlisteners && used > 0 && used < VAR_MAX; i++) {
        /* Each set (listeners[], then hybrid's worker sets) is the plain
         * addresses, then the implicit FTPS ones. */
        bool plain = i % nl < cur->cfg->nlisten;
        used += snprintf(vars[2] + used, (size_t)(VAR_MAX - used), "%s%s", i > 0 ? ":" : "",
                         plain ? "ftp" : "ftps");
    }
    snprintf(vars[3], VAR_MAX, "LISTEN_PID=");
    *pid_digits = vars[3] + strlen(vars[3]);
    *pid_cap = VAR_MAX - strlen(vars[3]);
    for (int i = 0; i < 4; i++)
        envp[k++] = vars[i];
    envp[k] = NULL;
    return envp;
}

void upgrade_begin(struct upgrade *u, struct ctl_events *ev)
{
    if (u->state != UPGRADE_IDLE) {
        log_warn("upgrade: SIGUSR2 ignored, one is already %s (new generation pid %ld)",
                 u->state == UPGRADE_STARTING ? "starting" : "draining this generation",
                 (long)u->child);
        return;
    }
    const struct exec_plan *plan = u->srv->exec;
    if (plan == NULL || plan->path[0] == '\0') {
        log_warn("upgrade: SIGUSR2 ignored, the program's path is unknown");
        return;
    }
    /* The listeners, then the channel: those of the current generation,
     * which a reload may have changed (ftpd/generation.h); hybrid's
     * worker sets never change. */
    const struct ftpd_server *cur = generation_acquire(u->srv);
    int src[ADOPT_PASS_MAX + 1], n = 0;
    for (int i = 0; i < cur->nlisteners && n < ADOPT_PASS_MAX; i++)
        src[n++] = cur->listeners[i].fd;
    for (int i = 0; i < u->srv->nworker_sets && n < ADOPT_PASS_MAX; i++)
        src[n++] = u->srv->worker_sets[i].fd;
    if (cur->nlisteners + u->srv->nworker_sets > ADOPT_PASS_MAX)
        log_warn("upgrade: only %d of %d listening sockets can be passed; the new generation "
                 "binds the rest anew",
                 ADOPT_PASS_MAX, cur->nlisteners + u->srv->nworker_sets);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("upgrade: socketpair: %s; SIGUSR2 ignored", strerror(errno));
        generation_release(cur);
        return;
    }
    src[n] = sv[1];
    char *pid_digits;
    size_t pid_cap;
    char **envp = child_env(cur, n, &pid_digits, &pid_cap);
    /* No child inherits a lock the status thread holds (ftpd/status.h). */
    status_service_fork_begin(u->srv->status);
    pid_t pid = envp != NULL ? fork() : -1;
    if (pid == 0)
        exec_child(plan, src, n + 1, envp, pid_digits, pid_cap);
    int saved = errno;
    status_service_fork_end(u->srv->status);
    generation_release(cur); /* the child has its copies of the descriptors */
    free(envp);
    close(sv[1]);
    if (pid < 0) {
        log_error("upgrade: cannot start %s: %s; SIGUSR2 ignored", plan->path, strerror(saved));
        close(sv[0]);
        return;
    }
    u->child = pid;
    u->channel = sv[0];
    msg_reader_init(&u->reader, 4096);
    struct epoll_event chan = {.events = EPOLLIN, .data.fd = u->channel};
    if (fcntl(u->channel, F_SETFL, O_NONBLOCK) < 0 ||
        epoll_ctl(ev->fd, EPOLL_CTL_ADD, u->channel, &chan) < 0)
        log_error("upgrade: watching the new generation: %s", strerror(errno));
    arm_timer(u, FTPD_UPGRADE_READY_TIMEOUT);
    u->state = UPGRADE_STARTING;
    log_info("upgrade: started %s as pid %ld with %d listening sockets; waiting for it to be "
             "ready",
             plan->path, (long)pid, n);
}

/* "exit status 1", "killed by signal 9": how the child ended, waiting up
 * to a second for it after its channel closed, then killing it. */
static void reap_child(struct upgrade *u, bool kill_first, char *how, size_t howlen)
{
    int status = 0;
    pid_t r = 0;
    if (!kill_first) {
        for (int i = 0; i < 100 && (r = waitpid(u->child, &status, WNOHANG)) == 0; i++) {
            struct timespec ten_ms = {0, 10 * 1000 * 1000};
            nanosleep(&ten_ms, NULL);
        }
    }
    if (r == 0) {
        if (kill(u->child, SIGKILL) < 0 && errno != ESRCH)
            log_warn("upgrade: kill %ld: %s", (long)u->child, strerror(errno));
        do
            r = waitpid(u->child, &status, 0);
        while (r < 0 && errno == EINTR);
    }
    if (r != u->child)
        snprintf(how, howlen, "already reaped");
    else if (WIFSIGNALED(status))
        snprintf(how, howlen, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, howlen, "exit status %d", WEXITSTATUS(status));
}

/* The new generation failed: it goes, we stay. */
static void rollback(struct upgrade *u, struct ctl_events *ev, const char *why, bool kill_first)
{
    char how[64];
    close_channel(u, ev);
    reap_child(u, kill_first, how, sizeof how);
    disarm_timer(u);
    log_error("upgrade failed: the new generation (pid %ld) %s (%s); rolled back, pid %ld goes on "
              "serving",
              (long)u->child, why, how, (long)getpid());
    u->child = -1;
    u->state = UPGRADE_IDLE;
}

static enum ctl_event hand_over(struct upgrade *u, struct ctl_events *ev)
{
    close_channel(u, ev);
    int drain = u->srv->cfg->upgrade_drain_timeout;
    arm_timer(u, drain);
    u->state = UPGRADE_DRAINING;
    ev->handed_over = true;
    ev->successor = u->child;
    /* Under systemd only the main process may name its successor. */
    notify_mainpid(u->child);
    log_info("upgrade: new generation pid %ld is ready; pid %ld stops accepting and lets its "
             "sessions finish (upgrade_drain_timeout %d s)",
             (long)u->child, (long)getpid(), drain);
    return CTL_DRAIN;
}

enum ctl_event upgrade_poll(struct upgrade *u, struct ctl_events *ev)
{
    if (u->state == UPGRADE_DRAINING) {
        if (!timer_expired(u))
            return CTL_NONE;
        log_info("upgrade: drain time over (upgrade_drain_timeout): sessions left get 421");
        ev->stops++; /* a signal after this one stops at once */
        return ev->stops == 1 ? CTL_STOP : CTL_STOP_NOW;
    }
    while (u->state == UPGRADE_STARTING) {
        struct msg m;
        switch (msg_read(&u->reader, u->channel, &m)) {
        case MSG_OK:
            msg_close_fds(&m);
            if (m.type == MSG_UPG_READY)
                return hand_over(u, ev);
            if (m.type == MSG_UPG_FAILED)
                rollback(u, ev, "reported a failure", true);
            continue; /* a type we do not know: ignored */
        case MSG_AGAIN:
            if (timer_expired(u)) {
                char why[64];
                snprintf(why, sizeof why, "was not ready within %d s", FTPD_UPGRADE_READY_TIMEOUT);
                rollback(u, ev, why, true);
            }
            return CTL_NONE;
        case MSG_EOF:
        case MSG_ERR:
            rollback(u, ev, "exited before it was ready", false);
            return CTL_NONE;
        }
    }
    return CTL_NONE;
}

void upgrade_free(struct upgrade *u)
{
    /* Only the process that started the child ends it: a worker forked
     * meanwhile closes its copies and nothing else. */
    if (u->state == UPGRADE_STARTING && u->owner == getpid()) {
        log_warn("upgrade: stopping while the new generation (pid %ld) starts: killing it",
                 (long)u->child);
        close_channel(u, NULL);
        char how[64];
        reap_child(u, true, how, sizeof how);
    }
    close_channel(u, NULL);
    if (u->timer >= 0)
        close(u->timer);
    free(u);
}

/* Master of prefork and hybrid (nginx's ngx_process_cycle.c, much smaller):
 * it holds no loop and serves no client; it forks, reaps, replaces, and
 * forwards stop signals. */
#include "arch/supervisor.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"

/* A worker dying this soon after its start counts toward a crash loop. */
#define RESPAWN_WINDOW_MS 1000
#define RESPAWN_BURST     10

struct worker {
    pid_t pid;
    int64_t started;
};

int worker_count(const struct ftpd_config *cfg)
{
    if (cfg->workers > 0)
        return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int master_signalfd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static pid_t spawn(const struct ftpd_server *srv, int index, worker_main fn, void *arg, int sigfd)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork worker %d: %s", index, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(sigfd);
        _exit(fn(srv, index, arg));
    }
    log_info("worker %d started as pid %ld", index, (long)pid);
    return pid;
}

static void log_exit(pid_t pid, int status, bool expected)
{
    enum log_level level = expected ? LOG_LVL_INFO : LOG_LVL_ERROR;
    if (WIFSIGNALED(status))
        log_msg(level, "worker pid %ld killed by signal %d (%s)", (long)pid, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    else
        log_msg(level, "worker pid %ld exited with status %d", (long)pid, WEXITSTATUS(status));
}

static void signal_all(struct worker *w, int n, int sig)
{
    for (int i = 0; i < n; i++) {
        if (w[i].pid > 0 && kill(w[i].pid, sig) < 0 && errno != ESRCH)
            log_warn("kill %ld: %s", (long)w[i].pid, strerror(errno));
    }
}

int supervise(const struct ftpd_server *srv, int nworkers, worker_main fn, void *arg,
              struct conn_limits *limits, void (*started)(void *arg))
{
    int sigfd = master_signalfd();
    if (sigfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    struct worker *w = calloc((size_t)nworkers, sizeof *w);
    if (w == NULL) {
        close(sigfd);
        return 1;
    }
    for (int i = 0; i < nworkers; i++) {
        w[i].pid = spawn(srv, i, fn, arg, sigfd);
        w[i].started = clock_ms();
    }
    if (started != NULL)
        started(arg);

    int stops = 0, alive = nworkers, quick_deaths = 0;
    int64_t paused_until = 0;
    while (alive > 0) {
        struct pollfd pfd = {.fd = sigfd, .events = POLLIN};
        /* Wake up now and then to retry a worker that could not be forked. */
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGCHLD)
                continue;
            /* Workers count signals too: a second SIGTERM makes them stop
             * at once but cleanly (426/421 to their clients); only a third
             * signal kills them outright. */
            stops++;
            log_info("%s: %s", strsignal((int)si.ssi_signo),
                     stops == 1   ? "stopping workers gracefully"
                     : stops == 2 ? "stopping workers now"
                                  : "killing workers");
            if (stops == 1)
                net_stop_listening(srv->listeners, srv->nlisteners);
            signal_all(w, nworkers, stops <= 2 ? SIGTERM : SIGKILL);
        }
        /* Reap everything that exited (SIGCHLD coalesces). A slot with
         * pid -1 waits to be respawned. */
        int64_t now = clock_ms();
        for (int i = 0; i < nworkers; i++) {
            if (w[i].pid <= 0)
                continue;
            int status;
            pid_t r = waitpid(w[i].pid, &status, WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR))
                continue;
            if (r > 0) {
                log_exit(r, status, stops > 0);
                if (limits != NULL)
                    limits_release_owner(limits, r);
            }
            w[i].pid = -1;
            if (now - w[i].started >= RESPAWN_WINDOW_MS)
                quick_deaths = 0;
            else if (++quick_deaths > RESPAWN_BURST) {
                /* A crash loop: don't fork-bomb, pause respawning a while. */
                log_error("workers keep dying at start; pausing respawn for a second");
                paused_until = now + RESPAWN_WINDOW_MS;
                quick_deaths = 0;
            }
        }
        alive = 0;
        for (int i = 0; i < nworkers; i++) {
            if (w[i].pid < 0 && stops == 0 && now >= paused_until) {
                w[i].pid = spawn(srv, i, fn, arg, sigfd);
                w[i].started = now;
            }
            alive += w[i].pid > 0 || (w[i].pid < 0 && stops == 0);
        }
    }
    free(w);
    close(sigfd);
    log_info("all workers stopped");
    return 0;
}

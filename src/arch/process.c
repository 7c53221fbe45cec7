/* process: the parent accepts and forks a child per connection. The child
 * serves the session with the blocking loop and exits; the parent closes
 * its copy of the socket, reaps children on SIGCHLD (via signalfd, so no
 * zombie outlives one loop turn) and keeps the connection table. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "arch/limits.h"
#include "ftpd/log.h"

struct process_state {
    const struct ftpd_server *srv;
    struct conn_limits *limits;
    pid_t *child; /* child[slot]: the pid serving limits slot `slot` */
    int sigfd;
    int stops; /* SIGINT/SIGTERM received */
};

static void serve_child(struct process_state *ps, int fd, const union sockaddr_any *peer)
{
    const struct ftpd_server *srv = ps->srv;
    for (int i = 0; i < srv->nlisteners; i++)
        close(srv->listeners[i].fd);
    close(ps->sigfd);
    int sigfd = stop_signalfd(false);
    if (sigfd < 0)
        _exit(1);
    struct stop_state stop;
    stop_init(&stop, sigfd, true, srv->cfg->shutdown_grace);
    serve_blocking(srv, fd, peer, &stop);
    _exit(0);
}

/* A new connection: admit it and fork its child. */
static bool start_child(void *arg, int fd, const union sockaddr_any *peer)
{
    struct process_state *ps = arg;
    enum refusal why;
    int slot = limits_admit(ps->limits, peer, getpid(), &why);
    if (slot < 0) {
        limits_turn_away(ps->srv->cfg, fd, why, peer);
        return false;
    }
    pid_t pid = fork();
    if (pid == 0)
        serve_child(ps, fd, peer);
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        limits_release(ps->limits, slot);
        limits_turn_away(ps->srv->cfg, fd, REFUSE_NO_MEMORY, peer);
        return false;
    }
    ps->child[slot] = pid;
    close(fd);
    return false;
}

/* Reap every exited child and free its slot. */
static void reap(struct process_state *ps)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (WIFSIGNALED(status))
            log_warn("child %ld killed by signal %d", (long)pid, WTERMSIG(status));
        for (int i = 0; i < ps->srv->cfg->max_clients; i++) {
            if (ps->child[i] == pid) {
                ps->child[i] = 0;
                limits_release(ps->limits, i);
                break;
            }
        }
    }
}

static void signal_children(struct process_state *ps, int sig)
{
    for (int i = 0; i < ps->srv->cfg->max_clients; i++) {
        if (ps->child[i] > 0)
            kill(ps->child[i], sig);
    }
}

/* Returns the number of SIGINT/SIGTERM read. */
static int read_signals(struct process_state *ps)
{
    int stops = 0;
    struct signalfd_siginfo si;
    while (read(ps->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo != SIGCHLD)
            stops++;
    }
    reap(ps);
    return stops;
}

/* The signalfd: reap on SIGCHLD; stop accepting on SIGINT/SIGTERM. */
static bool on_signal(void *arg)
{
    struct process_state *ps = arg;
    ps->stops += read_signals(ps);
    return ps->stops > 0;
}

int arch_process_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct process_state ps = {.srv = srv};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    ps.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    ps.limits = limits_new(cfg->max_clients, cfg->max_per_ip);
    ps.child = calloc((size_t)cfg->max_clients, sizeof *ps.child);
    struct acceptor acc;
    if (ps.sigfd < 0 || ps.limits == NULL || ps.child == NULL || acceptor_init(&acc) < 0) {
        log_error("process back-end set-up failed: %s", strerror(errno));
        return 1;
    }

    static const struct accept_ops ops = {on_signal, start_child};
    acceptor_run(srv, &acc, ps.sigfd, &ops, &ps);
    int stops = ps.stops;
    /* Graceful stop: no more accepts; children finish within the grace
     * (each enforces it); a second signal kills them. */
    log_info("stopping: waiting for %d sessions", limits_active(ps.limits));
    net_stop_listening(srv->listeners, srv->nlisteners);
    signal_children(&ps, SIGTERM);
    while (limits_active(ps.limits) > 0) {
        struct pollfd sp = {.fd = ps.sigfd, .events = POLLIN};
        if (poll(&sp, 1, 1000) < 0 && errno != EINTR)
            break;
        int more = read_signals(&ps);
        if (more > 0) {
            /* Children count signals: a second SIGTERM stops them at once
             * but cleanly (426/421); a third signal kills them. */
            stops += more;
            log_info("%s",
                     stops == 2 ? "second signal: stopping sessions now" : "killing sessions");
            signal_children(&ps, stops == 2 ? SIGTERM : SIGKILL);
        }
    }
    acceptor_close(&acc);
    limits_free(ps.limits);
    free(ps.child);
    close(ps.sigfd);
    return 0;
}

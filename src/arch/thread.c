/* thread: the main thread accepts; each connection gets a detached thread
 * with a small explicit stack that runs the blocking loop. Threads share
 * only the read-only config, the listeners and the connection table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "arch/limits.h"
#include "arch/threads.h"
#include "ftpd/log.h"

struct session_thread {
    const struct ftpd_server *srv;
    struct conn_limits *limits;
    int stop_fd;
    const pthread_attr_t *attr;
    int fd;
    int slot;
    union sockaddr_any peer;
};

static void *session_thread_main(void *arg)
{
    struct session_thread *t = arg;
    struct stop_state stop;
    stop_init(&stop, t->stop_fd, false, t->srv->cfg->shutdown_grace);
    serve_blocking(t->srv, t->fd, &t->peer, &stop);
    limits_release(t->limits, t->slot);
    free(t);
    return NULL;
}

/* A new connection: admit it and give it a thread. */
static bool start_thread(void *arg, int fd, const union sockaddr_any *peer)
{
    struct session_thread *proto = arg;
    enum refusal why;
    int slot = limits_admit(proto->limits, peer, getpid(), &why);
    if (slot < 0) {
        limits_turn_away(proto->srv->cfg, fd, why, peer);
        return false;
    }
    struct session_thread *t = malloc(sizeof *t);
    pthread_t tid;
    int rc = t ? 0 : ENOMEM;
    if (t != NULL) {
        *t = *proto;
        t->fd = fd;
        t->slot = slot;
        t->peer = *peer;
        rc = pthread_create(&tid, proto->attr, session_thread_main, t);
    }
    if (rc != 0) {
        log_error("cannot start a session thread: %s", strerror(rc));
        free(t);
        limits_release(proto->limits, slot);
        limits_turn_away(proto->srv->cfg, fd, REFUSE_NO_MEMORY, peer);
    }
    return false;
}

static bool on_stop_signal(void *arg)
{
    return true;
}

static bool no_sessions(void *arg)
{
    return limits_active(arg) == 0;
}

int arch_thread_run(const struct ftpd_server *srv)
{
    struct stop_pipe stop;
    struct acceptor acc;
    pthread_attr_t attr;
    int sigfd = stop_signalfd(true);
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (sigfd < 0 || limits == NULL || stop_pipe_open(&stop) < 0 || acceptor_init(&acc) < 0 ||
        thread_attr_init(&attr, true) < 0)
        return 1;
    struct session_thread proto = {.srv = srv, .limits = limits, .stop_fd = stop.rd, .attr = &attr};

    static const struct accept_ops ops = {on_stop_signal, start_thread};
    acceptor_run(srv, &acc, sigfd, &ops, &proto);
    /* Drain the signal that stopped us, so a second one is noticed. */
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
    net_stop_listening(srv->listeners, srv->nlisteners);
    log_info("stopping: waiting for %d sessions", limits_active(limits));
    stop_pipe_fire(&stop);
    wait_for_drain(sigfd, no_sessions, limits);
    pthread_attr_destroy(&attr);
    acceptor_close(&acc);
    if (no_sessions(limits)) {
        /* After a second signal threads may still run: then the shared state
         * stays, and the process exits right after. */
        limits_free(limits);
        stop_pipe_close(&stop);
    }
    close(sigfd);
    return 0;
}

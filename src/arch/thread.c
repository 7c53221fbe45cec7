/* thread: the main thread accepts; each connection gets a detached thread
 * with a small explicit stack that runs the blocking loop. Threads share
 * only the read-only config, the listeners and the connection table. */
#include <errno.h>
#include <poll.h>
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

static void start_thread(struct session_thread *proto, const pthread_attr_t *attr, int fd,
                         const union sockaddr_any *peer)
{
    enum refusal why;
    int slot = limits_admit(proto->limits, peer, getpid(), &why);
    if (slot < 0) {
        limits_turn_away(proto->srv->cfg, fd, why, peer);
        return;
    }
    struct session_thread *t = malloc(sizeof *t);
    pthread_t tid;
    int rc = t ? 0 : ENOMEM;
    if (t != NULL) {
        *t = *proto;
        t->fd = fd;
        t->slot = slot;
        t->peer = *peer;
        rc = pthread_create(&tid, attr, session_thread_main, t);
    }
    if (rc != 0) {
        log_error("cannot start a session thread: %s", strerror(rc));
        free(t);
        limits_release(proto->limits, slot);
        limits_turn_away(proto->srv->cfg, fd, REFUSE_NO_MEMORY, peer);
    }
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
    struct session_thread proto = {.srv = srv, .limits = limits, .stop_fd = stop.rd};

    struct pollfd pfd[FTPD_LISTEN_MAX + 1];
    int n = srv->nlisteners;
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = srv->listeners[i].fd, .events = POLLIN};
    pfd[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    for (;;) {
        if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[n].revents)
            break;
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            union sockaddr_any peer;
            int fd = acceptor_accept(&acc, pfd[i].fd, &peer);
            if (fd >= 0)
                start_thread(&proto, &attr, fd, &peer);
            else if (errno != EAGAIN && errno != EMFILE)
                log_warn("accept: %s", strerror(errno));
        }
    }
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

/* threadpool: `threads` threads started at boot, each running the blocking
 * accept loop on the shared non-blocking listeners: a connection wakes the
 * pollers, one accept() wins, the rest see EAGAIN. No queue and no hand-off
 * between threads; at most `threads` sessions run at once, the rest wait in
 * the listen backlog. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "arch/limits.h"
#include "arch/threads.h"
#include "ftpd/log.h"

struct pool {
    const struct ftpd_server *srv;
    struct conn_limits *limits;
    int stop_fd;
    struct acceptor acc; /* one spare fd for the whole pool */
    atomic_int running;
};

static void *pool_thread_main(void *arg)
{
    struct pool *p = arg;
    struct stop_state stop;
    stop_init(&stop, p->stop_fd, false, p->srv->cfg->shutdown_grace);
    accept_loop(p->srv, &stop, p->limits, &p->acc);
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

static bool pool_done(void *arg)
{
    struct pool *p = arg;
    return atomic_load(&p->running) == 0;
}

int arch_threadpool_run(const struct ftpd_server *srv)
{
    struct stop_pipe stop = {-1, -1};
    pthread_attr_t attr;
    int sigfd = stop_signalfd(true);
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    struct pool *p = calloc(1, sizeof *p);
    if (sigfd < 0 || limits == NULL || p == NULL || stop_pipe_open(&stop) < 0 ||
        acceptor_init(&p->acc) < 0 || thread_attr_init(&attr, true) < 0)
        return 1;
    p->srv = srv;
    p->limits = limits;
    p->stop_fd = stop.rd;
    int started = 0;
    for (int i = 0; i < srv->cfg->threads; i++) {
        pthread_t tid;
        atomic_fetch_add(&p->running, 1);
        int rc = pthread_create(&tid, &attr, pool_thread_main, p);
        if (rc != 0) {
            atomic_fetch_sub(&p->running, 1);
            log_error("cannot start pool thread %d: %s", i, strerror(rc));
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
    log_info("threadpool: %d threads", started);
    if (started > 0)
        wait_for_stop_signal(sigfd);
    net_stop_listening(srv->listeners, srv->nlisteners);
    log_info("stopping: waiting for %d sessions", limits_active(limits));
    stop_pipe_fire(&stop);
    wait_for_drain(sigfd, pool_done, p);
    if (pool_done(p)) {
        /* Every thread is out of the pool; after a second signal some may
         * still run, and the process exits right after without freeing. */
        acceptor_close(&p->acc);
        free(p);
        limits_free(limits);
        stop_pipe_close(&stop);
        close(sigfd);
    }
    return started > 0 ? 0 : 1;
}

/* hybrid, nginx-style: a master (supervisor.c, no event loop) forks N
 * workers, and each worker runs the reactor's loop (evconn.c) on a loop of
 * its own, created after the fork.
 *
 * Balancing. Every worker watches the same inherited non-blocking
 * listeners; when a connection arrives the kernel wakes every worker
 * sleeping in epoll on them, one wins accept() and the others get EAGAIN
 * (the thundering herd: a few wasted wake-ups per connection, which matters
 * only at high connection rates; libev offers no EPOLLEXCLUSIVE). The
 * benefit: a busy worker simply accepts less, so load follows free capacity.
 * The alternative to measure is SO_REUSEPORT: each worker binds its own
 * listeners (net_listen_all(cfg, true, ...) in the worker, passed through
 * evserver_opts.listeners), the kernel hashes connections across them with
 * no herd, but blindly: a worker stuck on a slow disk keeps receiving its
 * share, and connections queued on a dying worker's socket are lost. It
 * also needs the port to be fixed (the master's --port 0 listener cannot be
 * shared that way) and the master's own listeners opened with SO_REUSEPORT.
 * HYBRID_REUSEPORT switches the variant on for such a measurement. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/evconn.h"
#include "arch/limits.h"
#include "arch/supervisor.h"
#include "ftpd/log.h"

#ifndef HYBRID_REUSEPORT
#define HYBRID_REUSEPORT 0
#endif

static int hybrid_worker(const struct ftpd_server *srv, int index, void *arg)
{
    /* A worker whose master is gone (SIGKILL) stops gracefully instead of
     * serving on unsupervised. */
    pid_t master = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        return 0;

    struct evserver_opts opts = {
        .listeners = srv->listeners,
        .nlisteners = srv->nlisteners,
        .limits = arg, /* made by the master before forking: shared */
        .watch_sigint = false,
    };
#if HYBRID_REUSEPORT
    struct listener own[FTPD_LISTEN_MAX];
    char err[256];
    int n = net_listen_all(srv->cfg, true, own, err, sizeof err);
    if (n < 0) {
        log_error("worker %d: %s", index, err);
        return 1;
    }
    opts.listeners = own;
    opts.nlisteners = n;
    int rc = evserver_run(srv, &opts);
    net_close_all(own, n);
    return rc;
#else
    return evserver_run(srv, &opts);
#endif
}

int arch_hybrid_run(const struct ftpd_server *srv)
{
    /* Before forking: one MAP_SHARED table, so max_clients and max_per_ip
     * hold across all workers. */
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (limits == NULL)
        return 1;
    int n = worker_count(srv->cfg);
    log_info("hybrid: %d workers", n);
    int rc = supervise(srv, n, hybrid_worker, limits, limits);
    limits_free(limits);
    return rc;
}

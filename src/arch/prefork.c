/* prefork: the master binds, forks `workers` processes that each run the
 * blocking accept loop on the shared listeners, and supervises them
 * (supervisor.c). Each worker serves one client at a time, so at most
 * `workers` sessions run at once; the rest wait in the listen backlog. */
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "arch/limits.h"
#include "arch/supervisor.h"
#include "ftpd/log.h"

static int prefork_worker(const struct ftpd_server *srv, int index, void *arg)
{
    struct conn_limits *limits = arg;
    int sigfd = stop_signalfd(false);
    if (sigfd < 0)
        return 1;
    struct stop_state stop;
    stop_init(&stop, sigfd, true, srv->cfg->shutdown_grace);
    struct acceptor acc;
    if (acceptor_init(&acc) < 0)
        return 1;
    accept_loop(srv, &stop, limits, &acc);
    acceptor_close(&acc);
    close(sigfd);
    return 0;
}

int arch_prefork_run(const struct ftpd_server *srv)
{
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (limits == NULL)
        return 1;
    int n = worker_count(srv->cfg);
    log_info("prefork: %d workers", n);
    int rc = supervise(srv, n, prefork_worker, limits, limits, NULL);
    limits_free(limits);
    return rc;
}

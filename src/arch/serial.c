/* serial: one loop accepts a connection and serves it to the end before
 * accepting the next. The baseline every other pattern is measured against:
 * a second client waits in the listen backlog until the first one quits. */
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "arch/limits.h"
#include "ftpd/log.h"

int arch_serial_run(const struct ftpd_server *srv)
{
    int rc = 1;
    struct acceptor acc;
    int sigfd = stop_signalfd(true);
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (sigfd >= 0 && limits != NULL && acceptor_init(&acc) == 0) {
        struct stop_state stop;
        stop_init(&stop, sigfd, true, srv->cfg->shutdown_grace);
        stop.owner = srv;
        accept_loop(srv, &stop, limits, &acc);
        acceptor_close(&acc);
        log_info("stopping");
        rc = 0;
    }
    limits_free(limits);
    if (sigfd >= 0)
        close(sigfd);
    return rc;
}

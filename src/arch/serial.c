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
    int sigfd = stop_signalfd();
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (sigfd < 0 || limits == NULL)
        return 1;
    struct stop_state stop;
    stop_init(&stop, sigfd, true, srv->cfg->shutdown_grace);
    accept_loop(srv, &stop, limits);
    log_info("stopping");
    limits_free(limits);
    close(sigfd);
    return 0;
}

/* reactor: one libev loop in one thread serves every connection: accept,
 * control I/O, data I/O (sendfile when the socket is writable) and timers,
 * never blocking on a peer. The state machine is evconn.c, shared with
 * hybrid. */
#include <unistd.h>

#include "arch/backends.h"
#include "arch/evconn.h"
#include "arch/limits.h"

int arch_reactor_run(const struct ftpd_server *srv)
{
    /* One process: the table need not be shared, but the same code serves
     * hybrid, where it must. */
    struct conn_limits *limits = limits_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (limits == NULL)
        return 1;
    struct evserver_opts opts = {
        .listeners = srv->listeners,
        .nlisteners = srv->nlisteners,
        .limits = limits,
        .watch_sigint = true,
        .stop_listeners = true,
    };
    int rc = evserver_run(srv, &opts);
    limits_free(limits);
    return rc;
}

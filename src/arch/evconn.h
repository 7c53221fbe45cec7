/* The evented server shared by the reactor and hybrid back-ends: one libev
 * loop that accepts, runs every control connection through the protocol
 * core, runs transfers with the evented engine (net/xfer_evented.h), keeps
 * the idle and data timeouts, and stops gracefully on SIGINT/SIGTERM. It
 * never blocks on a peer; what it writes on the wire is exactly what the
 * blocking back-ends' serve_blocking() writes. */
#ifndef FTPD_ARCH_EVCONN_H
#define FTPD_ARCH_EVCONN_H

#include <stdbool.h>

#include "arch/limits.h"
#include "ftpd/arch.h"
#include "ftpd/net.h"

struct evserver_opts {
    /* Listeners to accept on (non-blocking). The reactor and the hybrid
     * workers pass srv->listeners; a SO_REUSEPORT variant of hybrid would
     * pass each worker's own set. */
    const struct listener *listeners;
    int nlisteners;
    /* max_clients / max_per_ip, shared across processes when forked. */
    struct conn_limits *limits;
    /* Stop on SIGINT as well as SIGTERM. A hybrid worker takes only
     * SIGTERM (its master forwards SIGINT as SIGTERM): a terminal's Ctrl-C
     * reaches the whole process group, and counting it twice would turn a
     * graceful stop into an immediate one. */
    bool watch_sigint;
    /* On the first stop signal, net_stop_listening() (the reactor; never a
     * hybrid worker: the master does it for all). */
    bool stop_listeners;
};

/* Make a loop (ev_loop_new, so call it after any fork), serve until
 * stopped, close every connection, destroy the loop. Returns the exit
 * status (0 after a stop by signal). */
int evserver_run(const struct ftpd_server *srv, const struct evserver_opts *opts);

#endif

/* hybrid, nginx-style: a master (common/supervisor.c, no event loop) forks
 * N workers, and each worker runs the reactor's loop (reactor.c) on a loop
 * of its own, created after the fork.
 *
 *     listen();
 *     for (i = 0; i < workers; i++)
 *         if (fork() == 0)
 *             reactor_loop(listener);   // accept + serve every connection
 *     supervise();                      // reap, respawn, forward signals
 *
 * Balancing. Every worker watches the same inherited non-blocking
 * listeners; when a connection arrives the kernel wakes every worker
 * sleeping in epoll on them, one wins accept() and the others get EAGAIN
 * (the thundering herd: a few wasted wake-ups per connection, which matters
 * only at high connection rates; libev offers no EPOLLEXCLUSIVE). The
 * benefit: a busy worker simply accepts less, so load follows free capacity.
 * hybrid_balance = reuseport is the alternative: each worker binds its own
 * SO_REUSEPORT set (net_listen_again) and the kernel hashes connections
 * across them with no herd, but blindly: a worker stuck on a slow disk
 * keeps receiving its share, and connections queued on a dying worker's
 * socket are lost. The README gives the measured difference. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/common/supervisor.h"
#include "ftpd/log.h"
#include "ftpd/stats.h"

struct hybrid {
    struct ftpd_server master; /* the master's copy: its fds closed once
                                  the first workers run (reuseport) */
    struct admission *adm;
};

static int hybrid_worker(const struct ftpd_server *from_master, int index, void *arg)
{
    struct hybrid *h = arg;
    /* This worker's sessions add to its own row of counters (--status). */
    struct ftpd_server self = *from_master;
    self.stats_row = index + 1;
    stats_row_claim(self.stats, self.stats_row);
    const struct ftpd_server *srv = &self;
    /* A worker whose master is gone (SIGKILL) stops gracefully instead of
     * serving on unsupervised. */
    pid_t master = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        return 0;

    struct reactor_opts opts = {
        .listeners = srv->listeners,
        .nlisteners = srv->nlisteners,
        .adm = h->adm,           /* made by the master before forking: shared */
        .events = 0,             /* SIGTERM only: the master forwards SIGINT */
        .stop_listeners = false, /* shared sockets: the master stops them */
    };
    if (!srv->cfg->hybrid_reuseport)
        return reactor_loop(srv, &opts);

    /* hybrid_balance = reuseport. The first worker 0 keeps main's sockets
     * (they carry SO_REUSEPORT), so the port never goes unserved at start;
     * every other worker, and a respawned worker 0, binds its own set on
     * the same addresses and ports. */
    struct listener own[FTPD_LISTEN_MAX];
    bool inherited = index == 0 && srv->listeners[0].fd >= 0;
    if (inherited) {
        memcpy(own, srv->listeners, sizeof own[0] * (size_t)srv->nlisteners);
    } else {
        for (int i = 0; i < srv->nlisteners; i++) {
            if (srv->listeners[i].fd >= 0)
                close(srv->listeners[i].fd);
        }
        if (net_listen_again(srv->listeners, srv->nlisteners, own) < 0) {
            log_error("worker %d: cannot open its SO_REUSEPORT listeners: %s", index,
                      strerror(errno));
            return 1;
        }
    }
    opts.listeners = own;
    opts.stop_listeners = true; /* ours alone */
    int rc = reactor_loop(srv, &opts);
    net_close_all(own, srv->nlisteners);
    return rc;
}

/* reuseport: the master's copies would get a share of the connections and
 * never accept them; once worker 0 holds the sockets, let them go. */
static void hybrid_started(void *arg)
{
    struct hybrid *h = arg;
    if (!h->master.cfg->hybrid_reuseport)
        return;
    for (int i = 0; i < h->master.nlisteners; i++) {
        close(h->master.listeners[i].fd);
        h->master.listeners[i].fd = -1;
    }
}

int arch_hybrid_run(const struct ftpd_server *srv)
{
    /* Before forking: one MAP_SHARED table, so max_clients and max_per_ip
     * hold across all workers. */
    struct hybrid h = {.master = *srv};
    h.adm = admission_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    status_service_attach(srv->status, h.adm);
    if (h.adm == NULL)
        return 1;
    int n = worker_count(srv->cfg);
    log_info("hybrid: %d workers, %s listeners", n,
             srv->cfg->hybrid_reuseport ? "SO_REUSEPORT" : "shared");
    struct supervisor sup = {
        .srv = &h.master,
        .worker = hybrid_worker,
        .arg = &h,
        .adm = h.adm,
        .started = hybrid_started,
    };
    int rc = supervise(&sup, n);
    admission_log_refusals(h.adm); /* every worker's, from the shared table */
    status_service_attach(srv->status, NULL);
    admission_free(h.adm);
    return rc;
}

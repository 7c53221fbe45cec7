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
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/common/supervisor.h"
#include "ftpd/generation.h"
#include "ftpd/log.h"

struct hybrid {
    struct ftpd_server master; /* the master's copy: its fds closed once
                                  the first workers run (reuseport) */
    struct admission *adm;
    /* reuseport: workers that have bound their own set so far (shared
     * memory), and the count a reload waits for before the old workers
     * close theirs (new_workers_ready). */
    atomic_uint *bound;
    unsigned bound_wanted;
    int nworkers;
};

static int hybrid_worker(const struct ftpd_server *srv, int index, void *arg)
{
    struct hybrid *h = arg;
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
        .drain_on_reload = true, /* the master starts new workers on a reload */
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
        atomic_fetch_add(h->bound, 1);
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
    if (h->master.gens != NULL)
        generations_close_listeners(h->master.gens); /* the same descriptors */
    for (int i = 0; i < h->master.nlisteners; i++) {
        if (h->master.gens == NULL)
            close(h->master.listeners[i].fd);
        h->master.listeners[i].fd = -1;
    }
}

/* Reload with reuseport: an old worker shuts its own sockets down when
 * told to drain; first every new worker must have bound its own, or the
 * kernel would refuse connections for a moment. */
static void hybrid_reloaded(void *arg, const struct ftpd_server *srv)
{
    struct hybrid *h = arg;
    h->bound_wanted = atomic_load(h->bound) + (unsigned)h->nworkers;
}

static bool hybrid_new_workers_ready(void *arg)
{
    struct hybrid *h = arg;
    return atomic_load(h->bound) >= h->bound_wanted;
}

int arch_hybrid_run(const struct ftpd_server *srv)
{
    /* Before forking: one MAP_SHARED table, so max_clients and max_per_ip
     * hold across all workers. */
    struct hybrid h = {.master = *srv};
    h.adm = admission_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    h.bound =
        mmap(NULL, sizeof *h.bound, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (h.adm == NULL || h.bound == MAP_FAILED) {
        log_error("hybrid set-up failed: %s", strerror(errno));
        admission_free(h.adm);
        return 1;
    }
    atomic_init(h.bound, 0);
    int n = worker_count(srv->cfg);
    h.nworkers = n;
    log_info("hybrid: %d workers, %s listeners", n,
             srv->cfg->hybrid_reuseport ? "SO_REUSEPORT" : "shared");
    struct supervisor sup = {
        .srv = &h.master,
        .worker = hybrid_worker,
        .arg = &h,
        .adm = h.adm,
        .started = hybrid_started,
        /* Reload: nginx-style, new workers on the new generation while the
         * old ones drain (workers_renew). With reuseport each worker binds
         * its own set, which a new worker could not take over: the
         * listeners stay as they are until a restart. */
        .reload_fixed = srv->cfg->hybrid_reuseport ? RELOAD_FIXED_LISTENERS : 0,
        .reloaded = hybrid_reloaded,
        .new_workers_ready = srv->cfg->hybrid_reuseport ? hybrid_new_workers_ready : NULL,
    };
    int rc = supervise(&sup, n);
    admission_log_refusals(h.adm); /* every worker's, from the shared table */
    admission_free(h.adm);
    munmap(h.bound, sizeof *h.bound);
    return rc;
}

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
 * hybrid_balance = reuseport is the alternative: each worker has its own
 * SO_REUSEPORT set and the kernel hashes connections across them with no
 * herd, but blindly: a worker stuck on a slow disk keeps receiving its
 * share. The master makes every worker's set before forking and keeps them
 * all (worker_sets): a respawned worker takes over its predecessor's set,
 * with the connections queued on it, and a live upgrade passes every set
 * to the new generation, whose worker i accepts on set i (special problem
 * "reuseport and restarts": closing a set would reset its queue). The
 * README gives the measured difference. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/common/supervisor.h"
#include "arch/evented/handover.h"
#include "ftpd/generation.h"
#include "ftpd/log.h"
#include "ftpd/stats.h"

struct hybrid {
    struct ftpd_server master; /* the master's copy, with worker_sets */
    struct admission *adm;
    bool reuseport;  /* hybrid_balance = reuseport, and the listeners allow it */
    int handover_fd; /* evented/handover.h: every worker takes moved sessions on it */
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
        .adm = h->adm,               /* made by the master before forking: shared */
        .events = 0,                 /* SIGTERM only: the master forwards SIGINT */
        .stop_listeners = false,     /* shared sockets: the master stops them */
        .hand_over = handover_start, /* idle sessions move to the new generation */
        .handover_fd = h->handover_fd,
        .drain_on_reload = true, /* the master starts new workers on a reload */
    };
    if (!h->reuseport)
        return reactor_loop(srv, &opts);

    /* hybrid_balance = reuseport: worker 0 accepts on main's sockets,
     * worker i on set i of the master's worker_sets. The other sets are
     * closed here (the master keeps them). */
    int nl = srv->nlisteners;
    const struct ftpd_server *m = &h->master; /* a reload's view has no sets */
    const struct listener *own =
        index == 0 ? srv->listeners : m->worker_sets + (size_t)(index - 1) * (size_t)nl;
    for (int i = 0; i < nl; i++) {
        if (index != 0)
            close(srv->listeners[i].fd);
    }
    for (int k = 0; k < m->nworker_sets; k++) {
        if (k / nl != index - 1)
            close(m->worker_sets[k].fd);
    }
    opts.listeners = own;
    opts.stop_listeners = true; /* its set: no other worker accepts on it */
    return reactor_loop(srv, &opts);
}

/* Same address and port? */
static bool same_listener(const struct listener *a, const struct listener *b)
{
    return sockaddr_same_ip(&a->addr, &b->addr) &&
           sockaddr_port(&a->addr) == sockaddr_port(&b->addr);
}

/* reuseport: the sets of workers 1..n-1, made once by the master (see the
 * top). The sets an older generation passed (srv->worker_sets, adopted at
 * start) are taken first, address by address; the rest are bound anew;
 * adopted ones left over (the old generation had more workers) are closed.
 * 0, or -1 (logged). */
static int make_worker_sets(struct hybrid *h, int nworkers)
{
    const struct ftpd_server *srv = &h->master;
    int nl = srv->nlisteners, want = (nworkers - 1) * nl;
    struct listener *sets = calloc((size_t)(want > 0 ? want : 1), sizeof *sets);
    if (sets == NULL) {
        log_error("hybrid: out of memory for the worker sets");
        return -1;
    }
    struct listener *adopted = srv->worker_sets;
    int nadopted = srv->nworker_sets;
    for (int k = 0; k < want; k++) {
        const struct listener *like = &srv->listeners[k % nl];
        sets[k].fd = -1;
        for (int j = 0; j < nadopted && sets[k].fd < 0; j++) {
            if (adopted[j].fd >= 0 && same_listener(&adopted[j], like)) {
                sets[k] = adopted[j];
                adopted[j].fd = -1;
            }
        }
        if (sets[k].fd < 0 && net_listen_again(like, 1, &sets[k]) < 0) {
            log_error("hybrid: cannot open a worker's SO_REUSEPORT listener: %s", strerror(errno));
            net_close_all(sets, k);
            free(sets);
            return -1;
        }
    }
    for (int j = 0; j < nadopted; j++) {
        if (adopted[j].fd >= 0)
            log_info("hybrid: an older generation's worker set is not needed: closed");
    }
    net_close_all(adopted, nadopted);
    h->master.worker_sets = sets;
    h->master.nworker_sets = want;
    return 0;
}

/* hybrid_balance = reuseport needs SO_REUSEPORT on main's listeners, which
 * ftpd sets when it binds them; a socket passed by systemd has it only with
 * ReusePort=yes in the unit. Without it no worker set can be bound: the
 * workers share the listeners instead, and the log says why. */
static bool listeners_allow_reuseport(const struct ftpd_server *srv)
{
    for (int i = 0; i < srv->nlisteners; i++) {
        int on = 0;
        socklen_t len = sizeof on;
        if (getsockopt(srv->listeners[i].fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) != 0 || !on) {
            log_warn("hybrid_balance = reuseport: a listening socket passed to ftpd has no "
                     "SO_REUSEPORT (systemd: ReusePort=yes in the socket unit); the workers "
                     "share the listeners instead");
            return false;
        }
    }
    return true;
}

int arch_hybrid_run(const struct ftpd_server *srv)
{
    /* Before forking: one MAP_SHARED table, so max_clients and max_per_ip
     * hold across all workers. */
    struct hybrid h = {.master = *srv};
    /* Before forking, like a listener: sessions an older generation hands
     * over go to whichever worker accepts them. */
    h.handover_fd = handover_listen_logged();
    h.adm = admission_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    status_service_attach(srv->status, h.adm);
    if (h.adm == NULL) {
        if (h.handover_fd >= 0)
            close(h.handover_fd);
        return 1;
    }
    int n = worker_count(srv->cfg);
    h.reuseport = srv->cfg->hybrid_reuseport && listeners_allow_reuseport(srv);
    if (h.reuseport && make_worker_sets(&h, n) < 0) {
        admission_free(h.adm);
        return 1;
    }
    log_info("hybrid: %d workers, %s listeners", n, h.reuseport ? "SO_REUSEPORT" : "shared");
    struct supervisor sup = {
        .srv = &h.master,
        .worker = hybrid_worker,
        .arg = &h,
        .adm = h.adm,
        /* Reload: nginx-style, new workers on the new generation while the
         * old ones drain (workers_renew). With reuseport the master's sets
         * stay as they are (worker i of either generation accepts on set
         * i): a change of listen addresses waits for a restart. */
        .reload_fixed = h.reuseport ? RELOAD_FIXED_LISTENERS : 0,
    };
    int rc = supervise(&sup, n);
    if (h.reuseport) {
        net_close_all(h.master.worker_sets, h.master.nworker_sets);
        free(h.master.worker_sets);
    }
    admission_log_refusals(h.adm); /* every worker's, from the shared table */
    status_service_attach(srv->status, NULL);
    admission_free(h.adm);
    if (h.handover_fd >= 0)
        close(h.handover_fd);
    return rc;
}

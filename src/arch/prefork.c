/* prefork, as Apache's prefork MPM: the master binds, forks `workers`
 * processes that each run the serial loop on the shared listeners, and
 * adapts the pool to the load. Each worker serves one client at a time and
 * tells the master, through a shared scoreboard, whether it is busy.
 *
 *     listen();
 *     for (i = 0; i < workers; i++)
 *         if (fork() == 0)
 *             for (;;) { fd = accept(listener); busy(); serve(fd); close(fd); idle(); }
 *     for (;;) {                                   // the master, every 100 ms:
 *         reap(); respawn();                       //   a dead worker is replaced
 *         once a second:
 *             if (idle < min_spare) spawn(rate), rate = min(2 * rate, 32);
 *             else rate = 1; if (idle > max_spare) retire(idle - max_spare);
 *         if (all max_workers busy) refuse the clients waiting > 0.5 s (421);
 *     }
 *
 * Retiring is graceful: the master flags an idle worker, which leaves
 * between sessions (it checks the flag every RETIRE_CHECK_MS while idle and
 * after each session), so no session is ever cut. The arithmetic is in
 * common/pool.c; saying no from the listen queue in common/backlog.c. */
#include <stdatomic.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/blocking/blocking.h"
#include "arch/common/backlog.h"
#include "arch/common/pool.h"
#include "arch/common/scoreboard.h"
#include "arch/common/supervisor.h"
#include "ftpd/log.h"
#include "ftpd/stats.h"

#define PREFORK_TICK_MS BACKLOG_TICK_MS

struct prefork {
    struct admission *adm; /* shared with the workers (MAP_SHARED) */
    struct scoreboard *sb; /* shared with the workers (MAP_SHARED) */
    struct pool_limits lim;
    struct pool_ramp ramp;
    struct acceptor acc; /* the master's, to refuse from the listen queue */
    struct backlog_guard guard;
    bool full; /* every worker busy at max_workers, last tick */
};

static int prefork_worker(const struct ftpd_server *master, int index, void *arg)
{
    struct prefork *pf = arg;
    /* This worker's sessions add to its own row of counters (--status). */
    struct ftpd_server own = *master;
    own.stats_row = index + 1;
    stats_row_claim(own.stats, own.stats_row);
    const struct ftpd_server *srv = &own;
    acceptor_close(&pf->acc); /* the master's spare descriptor */
    struct ctl_events events;
    struct acceptor acc;
    if (ctl_events_open(&events, 0) < 0)
        return 1;
    if (acceptor_init(&acc) < 0) {
        ctl_events_close(&events);
        return 1;
    }
    acc.taken = &pf->sb->taken;
    struct stop_state stop;
    stop_init_events(&stop, &events, srv->cfg->shutdown_grace);
    const struct serial_opts opts = {.sb = pf->sb, .index = index, .retirable = true};

    serial_loop(srv, pf->adm, &acc, &stop, &opts);

    acceptor_close(&acc);
    ctl_events_close(&events);
    return 0;
}

static void before_spawn(void *arg, int index)
{
    struct prefork *pf = arg;
    scoreboard_slot_reset(pf->sb, index); /* a dead worker may have left it busy */
}

/* Ask up to n idle workers to leave, the highest slots first. */
/* After a reload: the master refuses from the new listeners' queues. */
static void prefork_reloaded(void *arg, const struct ftpd_server *srv)
{
    struct prefork *pf = arg;
    pf->guard.listeners = srv->listeners;
    pf->guard.nlisteners = srv->nlisteners;
    backlog_guard_idle(&pf->guard); /* samples of the old queues */
}

static int retire_idle(struct supervisor *s, struct prefork *pf, int n)
{
    int retired = 0;
    for (int i = s->target - 1; i >= 0 && retired < n; i--) {
        struct worker *w = &s->w[i];
        if (w->pid > 0 && !w->retiring && atomic_load(&pf->sb->slot[i].busy) == 0) {
            atomic_store(&pf->sb->slot[i].retire, 1);
            workers_retire(s, i);
            retired++;
        }
    }
    return retired;
}

static void prefork_tick(struct supervisor *s, int64_t now)
{
    struct prefork *pf = s->arg;
    int total = 0, idle = 0, running = 0;
    for (int i = 0; i < s->target; i++) {
        const struct worker *w = &s->w[i];
        if (w->pid < 0) { /* about to be (re)spawned: idle soon */
            total++;
            idle++;
        } else if (w->pid > 0 && !w->retiring) {
            total++;
            running++;
            idle += atomic_load(&pf->sb->slot[i].busy) == 0;
        }
    }
    struct pool_decision d = pool_decide(&pf->lim, &pf->ramp, total, idle, now);
    if (d.spawn > 0) {
        int n = workers_add(s, d.spawn);
        log_info("prefork: %d of %d workers idle, starting %d", idle, total, n);
    } else if (d.retire > 0) {
        int n = retire_idle(s, pf, d.retire);
        if (n > 0)
            log_info("prefork: %d of %d workers idle, retiring %d", idle, total, n);
    }
    /* Every worker busy and no more allowed: nobody accepts, so the master
     * refuses whoever waits too long in the listen queue. */
    bool full = running >= pf->lim.max && idle == 0;
    if (full) {
        if (!pf->full)
            log_warn("prefork: all %d workers busy (max_workers); refusing clients that wait",
                     running);
        backlog_guard_tick(&pf->guard, now);
    } else {
        backlog_guard_idle(&pf->guard);
    }
    pf->full = full;
}

int arch_prefork_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    int n = worker_count(cfg);
    int max = cfg->max_workers < n ? n : cfg->max_workers;
    struct prefork pf = {
        .lim = {.min_spare = cfg->min_spare_workers,
                .max_spare = cfg->max_spare_workers,
                .max = max},
    };
    pf.adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    status_service_attach(srv->status, pf.adm);
    pf.sb = scoreboard_new(max);
    if (pf.adm == NULL || pf.sb == NULL || acceptor_init(&pf.acc) < 0) {
        status_service_attach(srv->status, NULL);
        admission_free(pf.adm);
        scoreboard_free(pf.sb);
        return 1;
    }
    pf.acc.taken = &pf.sb->taken;
    pf.guard = (struct backlog_guard){
        .listeners = srv->listeners,
        .nlisteners = srv->nlisteners,
        .acc = &pf.acc,
        .taken = &pf.sb->taken,
        .adm = pf.adm,
        .cfg = cfg,
    };
    log_info("prefork: %d workers, %d-%d spare, at most %d", n, pf.lim.min_spare, pf.lim.max_spare,
             max);
    struct supervisor sup = {
        .srv = srv,
        .worker = prefork_worker,
        .arg = &pf,
        .adm = pf.adm,
        .reserve = max,
        .tick_ms = PREFORK_TICK_MS,
        .tick = prefork_tick,
        .before_spawn = before_spawn,
        /* Reload: new workers on the new generation; the old ones leave
         * between sessions (serial_loop), as retired ones do. */
        .reloaded = prefork_reloaded,
    };
    int rc = supervise(&sup, n);
    admission_log_refusals(pf.adm);
    acceptor_close(&pf.acc);
    scoreboard_free(pf.sb);
    status_service_attach(srv->status, NULL);
    admission_free(pf.adm);
    return rc;
}

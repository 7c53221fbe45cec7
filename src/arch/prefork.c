/* prefork: the master binds, forks `workers` processes that each run the
 * serial loop on the shared listeners, and supervises them. Each worker
 * serves one client at a time, so at most `workers` sessions run at once;
 * the rest wait in the listen backlog.
 *
 *     listen();
 *     for (i = 0; i < workers; i++)
 *         if (fork() == 0)
 *             for (;;) { fd = accept(listener); serve(fd); close(fd); }
 *     supervise();      // reap, respawn, forward stop signals
 */
#include "arch/backends.h"
#include "arch/blocking/blocking.h"
#include "arch/common/supervisor.h"
#include "ftpd/log.h"

static int prefork_worker(const struct ftpd_server *srv, int index, void *arg)
{
    struct admission *adm = arg; /* made by the master before forking: shared */
    struct ctl_events events;
    struct acceptor acc;
    if (ctl_events_open(&events, 0) < 0)
        return 1;
    if (acceptor_init(&acc) < 0) {
        ctl_events_close(&events);
        return 1;
    }
    struct stop_state stop;
    stop_init_events(&stop, &events, srv->cfg->shutdown_grace);

    serial_loop(srv, adm, &acc, &stop);

    acceptor_close(&acc);
    ctl_events_close(&events);
    return 0;
}

int arch_prefork_run(const struct ftpd_server *srv)
{
    struct admission *adm = admission_new(srv->cfg->max_clients, srv->cfg->max_per_ip);
    if (adm == NULL)
        return 1;
    int n = worker_count(srv->cfg);
    log_info("prefork: %d workers", n);
    struct supervisor sup = {
        .srv = srv,
        .worker = prefork_worker,
        .arg = adm,
        .adm = adm,
    };
    int rc = supervise(&sup, n);
    admission_free(adm);
    return rc;
}

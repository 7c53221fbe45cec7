/* serial: one loop accepts a connection and serves it to the end before
 * accepting the next. The baseline every other pattern is measured against:
 * a second client waits in the listen backlog until the first one quits.
 *
 *     for (;;) {
 *         fd = accept(listener);
 *         serve(fd);        // greet, commands, transfers, until QUIT
 *         close(fd);
 *     }
 *
 * The loop is lent to prefork (each worker runs it on the shared listener)
 * and to threadpool (each thread runs it). */
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking/blocking.h"
#include "ftpd/log.h"

void serial_loop(const struct ftpd_server *srv, struct admission *adm, struct acceptor *acc,
                 struct stop_state *stop)
{
    const struct ftpd_config *cfg = srv->cfg;
    pid_t self = getpid();
    struct accept_poll ap;
    accept_poll_init(&ap, acc, srv->listeners, srv->nlisteners, stop->fd);
    while (!stop->stopping) {
        int fd;
        union sockaddr_any peer;
        switch (acceptor_next(&ap, &fd, &peer)) {
        case NEXT_EVENT:
            stop_notice(stop);
            continue;
        case NEXT_FAIL:
            return;
        case NEXT_CONN:
            break;
        }
        struct arrival a;
        arrival_init(&a, fd, &peer);
        if (prologue_pregreet_blocking(&a, cfg) && prologue_admit(&a, cfg, adm, self, false))
            serve_blocking(srv, adm, &a, stop); /* to its end; closes fd */
    }
}

int arch_serial_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct ctl_events events;
    struct acceptor acc;
    if (ctl_events_open(&events, CTL_WITH_SIGINT) < 0)
        return 1;
    struct admission *adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    if (adm == NULL || acceptor_init(&acc) < 0) {
        admission_free(adm);
        ctl_events_close(&events);
        return 1;
    }
    struct stop_state stop;
    stop_init_events(&stop, &events, cfg->shutdown_grace);
    stop.owner = srv; /* the listeners are ours alone: stop them at once */

    serial_loop(srv, adm, &acc, &stop);

    log_info("stopping");
    acceptor_close(&acc);
    admission_free(adm);
    ctl_events_close(&events);
    return 0;
}

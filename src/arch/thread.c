/* thread: the main thread accepts; each connection gets a detached thread
 * with a small explicit stack that runs the blocking loop. Threads share
 * only the read-only config, the listeners and the connection table.
 *
 *     for (;;) {
 *         fd = accept(listener);
 *         pthread_create(serve, fd);   // serve(fd); close(fd);
 *     }
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/blocking/blocking.h"
#include "arch/blocking/threads.h"
#include "arch/common/upgrade.h"
#include "arch/common/reload.h"
#include "ftpd/log.h"

struct session_thread {
    const struct ftpd_server *srv;
    struct admission *adm;
    int stop_fd; /* the stop broadcast */
    struct arrival arrival;
};

static void *session_thread_main(void *arg)
{
    struct session_thread *t = arg;
    struct stop_state stop;
    stop_init_broadcast(&stop, t->stop_fd, t->srv->cfg->shutdown_grace);
    serve_blocking(t->srv, t->adm, &t->arrival, &stop);
    free(t);
    return NULL;
}

/* A new connection: admit it and give it a thread. */
static void start_thread(const struct session_thread *proto, const pthread_attr_t *attr, int fd,
                         const union sockaddr_any *peer)
{
    const struct ftpd_config *cfg = proto->srv->cfg;
    struct session_thread *t = malloc(sizeof *t);
    if (t == NULL) {
        log_error("out of memory");
        close(fd);
        return;
    }
    *t = *proto;
    arrival_init(&t->arrival, fd, peer);
    if (!prologue_pregreet_blocking(&t->arrival, cfg) ||
        !prologue_admit(&t->arrival, cfg, t->adm, getpid(), false)) {
        free(t);
        return;
    }
    pthread_t tid;
    int rc = pthread_create(&tid, attr, session_thread_main, t);
    if (rc != 0) {
        log_error("cannot start a session thread: %s", strerror(rc));
        admission_release(t->adm, t->arrival.slot);
        admission_refuse(t->adm, cfg, &t->arrival.ctrl, REFUSE_NO_MEMORY, peer);
        free(t);
    }
}

static bool no_sessions(void *arg)
{
    return admission_active(arg) == 0;
}

int arch_thread_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct ctl_events events;
    struct stop_broadcast stop;
    struct acceptor acc;
    pthread_attr_t attr;
    struct admission *adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    status_service_attach(srv->status, adm);
    if (adm == NULL || ctl_events_open(&events, CTL_WITH_SIGINT) < 0 ||
        ctl_events_enable_upgrade(&events, srv) < 0 || stop_broadcast_open(&stop) < 0 ||
        acceptor_init(&acc) < 0 || thread_attr_init(&attr, true) < 0)
        return 1;
    struct session_thread proto = {.srv = srv, .adm = adm, .stop_fd = stop.rd};

    struct accept_poll ap;
    accept_poll_init(&ap, &acc, srv->listeners, srv->nlisteners, events.fd);
    const struct ftpd_server *cur = srv; /* the current generation (reload) */
    for (;;) {
        int fd;
        union sockaddr_any peer;
        enum accept_next next = acceptor_next(&ap, &fd, &peer);
        if (next == NEXT_CONN)
            start_thread(&proto, &attr, fd, &peer);
        else if (next == NEXT_FAIL || stop_pending(&events))
            break;
        else if (ctl_events_take_reload(&events)) /* new sessions get the new settings */
            reload_accept_poll(&ap, &cur, 0);
    }

    /* Live upgrade: the listeners are the new generation's; the sessions
     * here finish first, up to the drain timer. */
    wait_for_handover(&events, no_sessions, adm);
    if (!events.handed_over)
        net_stop_listening(cur->listeners, cur->nlisteners);
    log_info("stopping: waiting for %d sessions", admission_active(adm));
    admission_log_refusals(adm);
    stop_broadcast_fire(&stop);
    bool drained = wait_for_drain(&events, no_sessions, adm);
    pthread_attr_destroy(&attr);
    acceptor_close(&acc);
    if (drained) {
        /* After a second signal threads may still run: then the shared
         * state stays, and the process exits right after. */
        status_service_attach(srv->status, NULL);
        admission_free(adm);
        stop_broadcast_close(&stop);
    }
    ctl_events_close(&events);
    return 0;
}

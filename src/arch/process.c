/* process: the parent accepts and forks a child per connection. The child
 * serves the session with the blocking loop and exits; the parent closes
 * its copy of the socket and reaps children when SIGCHLD says so, so no
 * zombie outlives one loop turn.
 *
 *     for (;;) {
 *         fd = accept(listener);
 *         if (fork() == 0) { serve(fd); exit(0); }
 *         close(fd);
 *     }
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/blocking/blocking.h"
#include "arch/common/upgrade.h"
#include "arch/common/reload.h"
#include "ftpd/log.h"

struct process_state {
    const struct ftpd_server *srv;
    const struct ftpd_server *cur; /* the current generation (reload) */
    struct accept_poll *ap;
    struct admission *adm;
    struct ctl_events events;
    pid_t *child; /* child[slot]: the pid serving admission slot `slot` */
};

static _Noreturn void child_main(struct process_state *ps, struct arrival *a)
{
    const struct ftpd_server *srv = ps->srv;
    for (int i = 0; i < ps->cur->nlisteners; i++)
        close(ps->cur->listeners[i].fd);
    ctl_events_close(&ps->events);
    struct ctl_events events;
    if (ctl_events_open(&events, 0) < 0)
        _exit(1);
    struct stop_state stop;
    stop_init_events(&stop, &events, srv->cfg->shutdown_grace);
    serve_blocking(srv, ps->adm, a, &stop);
    _exit(0);
}

/* A new connection: admit it and fork its child. */
static void start_child(struct process_state *ps, int fd, const union sockaddr_any *peer)
{
    const struct ftpd_config *cfg = ps->srv->cfg;
    pid_t self = getpid();
    struct arrival a;
    arrival_init(&a, fd, peer);
    if (!prologue_pregreet_blocking(&a, cfg) || !prologue_admit(&a, cfg, ps->adm, self, false))
        return;
    status_service_fork_begin(ps->srv->status);
    pid_t pid = fork();
    status_service_fork_end(ps->srv->status);
    if (pid == 0)
        child_main(ps, &a);
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        admission_release(ps->adm, a.slot);
        admission_refuse(ps->adm, cfg, &a.ctrl, REFUSE_NO_MEMORY, peer);
        return;
    }
    /* The slot is the child's now: freed when it is reaped, even if it
     * dies without releasing it. */
    admission_hand_over(ps->adm, a.slot, self, pid);
    ps->child[a.slot] = pid;
    close(stream_detach(&a.ctrl)); /* the parent's copy: no goodbye on it */
}

/* Reap every exited child and free its slot. */
static void reap(struct process_state *ps)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (WIFSIGNALED(status))
            log_warn("child %ld killed by signal %d", (long)pid, WTERMSIG(status));
        admission_release_owner(ps->adm, pid);
        for (int i = 0; i < ps->srv->cfg->max_clients; i++) {
            if (ps->child[i] == pid)
                ps->child[i] = 0;
        }
    }
}

static void signal_children(struct process_state *ps, int sig)
{
    for (int i = 0; i < ps->srv->cfg->max_clients; i++) {
        if (ps->child[i] > 0 && kill(ps->child[i], sig) < 0 && errno != ESRCH)
            log_warn("kill %ld: %s", (long)ps->child[i], strerror(errno));
    }
}

/* The events fd is readable: reap, and pass stops on to the children,
 * which count them too: the first is graceful, a second stops them at once
 * but cleanly (426/421), a third kills them. A drain (live upgrade) is
 * theirs to finish: they are left alone. Returns true on a stop or a
 * drain. */
static bool on_events(struct process_state *ps)
{
    unsigned reopens = ps->events.reopens;
    enum ctl_event e = ctl_events_drain(&ps->events);
    if (ps->events.reopens != reopens)
        signal_children(ps, SIGUSR1); /* each child reopens its own files */
    /* Reload: children forked from now on inherit the new generation;
     * running ones keep theirs. */
    if (ctl_events_take_reload(&ps->events) && e == CTL_NONE && ps->ap != NULL)
        reload_accept_poll(ps->ap, &ps->cur, 0);
    if (e == CTL_STOP_NOW)
        log_info("second signal: stopping sessions now");
    else if (e == CTL_KILL)
        log_info("killing sessions");
    if (e > CTL_DRAIN)
        signal_children(ps, e == CTL_KILL ? SIGKILL : SIGTERM);
    reap(ps);
    return e != CTL_NONE;
}

int arch_process_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct process_state ps = {.srv = srv, .cur = srv};
    struct acceptor acc;
    if (ctl_events_open(&ps.events, CTL_WITH_SIGINT | CTL_WITH_CHILD) < 0)
        return 1;
    if (ctl_events_enable_upgrade(&ps.events, srv) < 0) {
        ctl_events_close(&ps.events);
        return 1;
    }
    ps.adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    status_service_attach(srv->status, ps.adm);
    ps.child = calloc((size_t)cfg->max_clients, sizeof *ps.child);
    if (ps.adm == NULL || ps.child == NULL || acceptor_init(&acc) < 0) {
        log_error("process back-end set-up failed: %s", strerror(errno));
        return 1;
    }

    struct accept_poll ap;
    accept_poll_init(&ap, &acc, srv->listeners, srv->nlisteners, ps.events.fd);
    ps.ap = &ap;
    for (;;) {
        int fd;
        union sockaddr_any peer;
        enum accept_next next = acceptor_next(&ap, &fd, &peer);
        if (next == NEXT_CONN)
            start_child(&ps, fd, &peer);
        else if (next == NEXT_FAIL || on_events(&ps))
            break;
    }

    /* Graceful stop: no more accepts; children finish within the grace
     * (each enforces it) and are reaped as they go. A drain (live upgrade)
     * leaves the listeners to the new generation, and the children to end
     * their sessions, until the drain timer stops them as above. */
    log_info("%s: waiting for %d sessions", ps.events.handed_over ? "draining" : "stopping",
             admission_active(ps.adm));
    admission_log_refusals(ps.adm);
    ps.ap = NULL; /* no reload while stopping */
    if (!ps.events.handed_over)
        net_stop_listening(ps.cur->listeners, ps.cur->nlisteners);
    while (admission_active(ps.adm) > 0) {
        struct pollfd pfd = {.fd = ps.events.fd, .events = POLLIN};
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
            break;
        on_events(&ps);
    }
    acceptor_close(&acc);
    status_service_attach(srv->status, NULL);
    admission_free(ps.adm);
    free(ps.child);
    ctl_events_close(&ps.events);
    return 0;
}

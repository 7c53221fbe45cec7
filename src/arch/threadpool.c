/* threadpool: `threads` threads started at boot. Three ways to hand them
 * sessions (threadpool_dispatch):
 *
 *  - event (the default): half-sync/half-async, as Apache's event MPM and
 *    MySQL's thread pool do it. The main thread accepts and admits; a
 *    session waiting for its next command is parked in an event thread's
 *    epoll set (blocking/parking.c), and a pool thread takes it only to
 *    greet it, run the commands that arrived (a pipelined batch included)
 *    or move a transfer, then parks it again. `threads` threads serve
 *    max_clients sessions; each command costs two thread wake-ups (the
 *    event thread's, a pool thread's). Password checks and a failed
 *    login's delay hold no pool thread (parking.c). New sessions are
 *    greeted on a pool thread, never on the acceptor: a pre-greeting
 *    phase (implicit TLS) may wait on the peer.
 *  - queue: the main thread accepts, admits (max_clients, max_per_ip) and
 *    pushes the connection on a bounded queue; a free thread pops it and
 *    serves it to its end. No herd, and max_clients is answered with 421 at
 *    once even while every thread is busy; but a session holds its thread,
 *    so the rest wait in the queue.
 *  - accept: each thread runs the blocking accept loop on the shared
 *    non-blocking listeners; a connection wakes the pollers, one accept()
 *    wins, the rest see EAGAIN. No hand-off; idle sessions beyond `threads`
 *    wait in the listen backlog.
 *
 * Saying no when every thread is busy: in queue mode a connection that
 * waited BACKLOG_WAIT_MS in the queue gets 421 from the main thread; in
 * accept mode the threads report busy/idle on a scoreboard, and while all
 * are busy the main thread refuses the connections that waited that long
 * in the listen queue (common/backlog.c). Either way a client that cannot
 * be served hears so within a second. In event mode threads are taken
 * only per command or transfer, but when every one is busy (transfers) a
 * new session queued BACKLOG_WAIT_MS for its greeting gets the same 421
 * (parking_expire).
 *
 * The README gives the measured differences.
 *
 *     start `threads` threads, each:
 *         event:   for (;;) { s = next_ready(); step(s); park(s) or end(s); }
 *         queue:   for (;;) { fd = pop(queue); serve(fd); close(fd); }
 *         accept:  for (;;) { fd = accept(listener); serve(fd); close(fd); }
 *     event thread: for (;;) { epoll_wait(parked); hand the ready to the pool; }
 *     main, event and queue: for (;;) { fd = accept(listener); push(fd); }
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/backends.h"
#include "ftpd/status.h"
#include "arch/blocking/blocking.h"
#include "arch/blocking/parking.h"
#include "arch/blocking/threads.h"
#include "arch/common/backlog.h"
#include "arch/common/reload.h"
#include "arch/common/scoreboard.h"
#include "arch/common/upgrade.h"
#include "ftpd/clock.h"
#include "ftpd/generation.h"
#include "ftpd/log.h"

#define QUEUE_MAX 65536

struct pool {
    const struct ftpd_server *srv;
    const struct ftpd_server *cur; /* main thread: the current generation (reload) */
    struct admission *adm;
    int stop_fd;         /* the stop broadcast */
    struct acceptor acc; /* one spare fd for the whole pool */
    atomic_int running;
    enum threadpool_dispatch dispatch;
    struct scoreboard *sb; /* accept mode: which threads are busy */
    atomic_int next_index; /* accept mode: each thread's scoreboard slot */

    /* event mode: the parked sessions and the event thread */
    struct parking *parking;

    /* queue mode: a ring of admitted connections waiting for a thread */
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    struct arrival *ring;
    int64_t *since; /* clock_ms() each queued connection arrived */
    int cap, head, len;
    bool closing;
};

static void *accept_thread_main(void *arg)
{
    struct pool *p = arg;
    struct stop_state stop;
    stop_init_broadcast(&stop, p->stop_fd, p->srv->cfg->shutdown_grace);
    /* retirable: a live upgrade's drain asks every thread to leave. */
    const struct serial_opts opts = {
        .sb = p->sb, .index = atomic_fetch_add(&p->next_index, 1), .retirable = true};
    serial_loop(p->srv, p->adm, &p->acc, &stop, &opts);
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

static bool queue_pop(struct pool *p, struct arrival *out)
{
    pthread_mutex_lock(&p->lock);
    while (p->len == 0 && !p->closing)
        pthread_cond_wait(&p->nonempty, &p->lock);
    bool got = p->len > 0 && !p->closing;
    if (got) {
        *out = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

static bool queue_push(struct pool *p, const struct arrival *a)
{
    pthread_mutex_lock(&p->lock);
    bool room = p->len < p->cap;
    if (room) {
        p->ring[(p->head + p->len) % p->cap] = *a;
        p->since[(p->head + p->len) % p->cap] = clock_ms();
        p->len++;
        pthread_cond_signal(&p->nonempty);
    }
    pthread_mutex_unlock(&p->lock);
    return room;
}

static void *queue_thread_main(void *arg)
{
    struct pool *p = arg;
    struct stop_state stop;
    stop_init_broadcast(&stop, p->stop_fd, p->srv->cfg->shutdown_grace);
    struct arrival a;
    while (queue_pop(p, &a))
        serve_blocking(p->srv, p->adm, &a, &stop);
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

/* Event mode, a pool thread: what the event side woke s for. */
static void serve_wake(struct pool *p, struct parked *s, enum wake why, struct stop_state *stop,
                       struct conn_scratch *scratch)
{
    struct conn *c = parked_conn(s);
    enum conn_next next = CONN_CLOSE;
    enum conn_end end = CONN_END_DONE;
    switch (why) {
    case WAKE_NEW:
        if (stop->stopping) { /* queued, never greeted: as queue_close() */
            conn_refuse(c, REFUSE_SHUTTING_DOWN);
            parking_drop(p->parking, s);
            return;
        }
        next = conn_greet(c);
        break;
    case WAKE_READY:
        next = conn_step(c, stop, scratch);
        break;
    case WAKE_DELAY:
        next = conn_delay_done(c, stop, scratch);
        break;
    case WAKE_WORK:
        next = conn_work_done(c, stop, scratch);
        break;
    case WAKE_IDLE:
        end = CONN_END_IDLE;
        break;
    case WAKE_STOP:
        end = CONN_END_STOPPING;
        break;
    case WAKE_HUNG_UP:
        end = CONN_END_HUNG_UP;
        break;
    }
    if (next == CONN_WORK) {
        parking_work(p->parking, s);
        return;
    }
    if (next == CONN_PARK || next == CONN_DELAY) {
        conn_park(c);
        if (next == CONN_PARK)
            parking_park(p->parking, s);
        else
            parking_delay(p->parking, s, conn_delay_ms(c));
        return;
    }
    conn_end(c, end);
    parking_drop(p->parking, s);
}

static void *event_thread_main(void *arg)
{
    struct pool *p = arg;
    struct stop_state stop;
    stop_init_broadcast(&stop, p->stop_fd, p->srv->cfg->shutdown_grace);
    struct conn_scratch *scratch = malloc(sizeof *scratch);
    if (scratch == NULL)
        log_error("threadpool: out of memory for a pool thread");
    enum wake why;
    for (struct parked *s; scratch != NULL && (s = parking_next(p->parking, &why)) != NULL;) {
        if (!stop.stopping && parking_stopping(p->parking))
            stop_notice(&stop);
        serve_wake(p, s, why, &stop, scratch);
    }
    free(scratch);
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

/* Event and queue modes, main thread: admit a new connection and hand it
 * to the pool. */
static void enqueue_conn(struct pool *p, int fd, const union sockaddr_any *peer)
{
    const struct ftpd_config *cfg = p->srv->cfg;
    struct arrival a;
    arrival_init(&a, fd, peer);
    if (!prologue_pregreet_blocking(&a, cfg) || !prologue_admit(&a, cfg, p->adm, getpid(), false))
        return;
    if (p->dispatch == DISPATCH_EVENT) {
        struct conn *c = conn_new(p->srv, p->adm, &a, false);
        if (c != NULL && parking_add(p->parking, c))
            return;
        log_error("threadpool: out of memory");
        if (c != NULL) {
            conn_refuse(c, REFUSE_NO_MEMORY);
            return;
        }
        admission_release(p->adm, a.slot);
        admission_refuse(p->adm, cfg, &a.ctrl, REFUSE_NO_MEMORY, peer);
    } else if (!queue_push(p, &a)) {
        admission_release(p->adm, a.slot);
        admission_refuse(p->adm, cfg, &a.ctrl, REFUSE_MAX_CLIENTS, peer);
    }
}

/* Queue mode, main thread: every thread is busy and these connections have
 * waited too long for one: refuse them (the queue is FIFO: the oldest
 * first). Returns whether any is still queued. */
static bool queue_expire(struct pool *p, int64_t now)
{
    pthread_mutex_lock(&p->lock);
    while (p->len > 0 && now - p->since[p->head] >= BACKLOG_WAIT_MS) {
        struct arrival *a = &p->ring[p->head];
        admission_release(p->adm, a->slot);
        admission_refuse(p->adm, p->srv->cfg, &a->ctrl, REFUSE_BUSY, &a->peer);
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    bool left = p->len > 0;
    pthread_mutex_unlock(&p->lock);
    return left;
}

/* Event mode, main thread: every pool thread is busy (transfers, commands)
 * and new sessions have waited too long for one to greet them: refuse them,
 * as queue_expire does. Returns whether any new one still waits. */
static bool parking_expire(struct pool *p, int64_t now)
{
    struct conn *expired[64];
    bool left;
    int n;
    do {
        n = parking_expire_new(p->parking, now, BACKLOG_WAIT_MS, expired,
                               (int)(sizeof expired / sizeof expired[0]), &left);
        for (int i = 0; i < n; i++)
            conn_refuse(expired[i], REFUSE_BUSY);
    } while (n > 0 && left);
    return left;
}

/* Stopping: wake the queue threads; connections still queued were never
 * greeted, so they get the 421 of a server going down. */
static void queue_close(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    while (p->len > 0) {
        struct arrival *a = &p->ring[p->head];
        admission_release(p->adm, a->slot);
        admission_refuse(p->adm, p->srv->cfg, &a->ctrl, REFUSE_SHUTTING_DOWN, &a->peer);
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    pthread_cond_broadcast(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
}

static bool no_sessions(void *arg)
{
    return admission_active(arg) == 0;
}

static bool pool_done(void *arg)
{
    struct pool *p = arg;
    return atomic_load(&p->running) == 0;
}

static struct pool *pool_new(const struct ftpd_server *srv, struct admission *adm, int stop_fd)
{
    struct pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->srv = srv;
    p->cur = srv;
    p->adm = adm;
    p->stop_fd = stop_fd;
    p->dispatch = srv->cfg->threadpool_dispatch;
    /* Every admitted connection fits (admission caps them at max_clients),
     * so the queue refuses no one the limits would let in; clamped so a huge
     * max_clients does not reserve memory for nothing. */
    p->cap = srv->cfg->max_clients < QUEUE_MAX ? srv->cfg->max_clients : QUEUE_MAX;
    if (p->dispatch == DISPATCH_QUEUE) {
        p->ring = calloc((size_t)p->cap, sizeof *p->ring);
        p->since = calloc((size_t)p->cap, sizeof *p->since);
    }
    if (p->dispatch == DISPATCH_EVENT)
        p->parking = parking_new(srv->cfg);
    p->sb = scoreboard_new(srv->cfg->threads);
    bool ready = p->dispatch == DISPATCH_QUEUE   ? p->ring != NULL && p->since != NULL
                 : p->dispatch == DISPATCH_EVENT ? p->parking != NULL
                                                 : true;
    if (!ready || p->sb == NULL || acceptor_init(&p->acc) < 0) {
        if (p->parking != NULL) {
            parking_stop(p->parking);
            parking_free(p->parking);
        }
        scoreboard_free(p->sb);
        free(p->since);
        free(p->ring);
        free(p);
        return NULL;
    }
    p->acc.taken = &p->sb->taken;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    return p;
}

static void pool_free(struct pool *p)
{
    parking_free(p->parking);
    acceptor_close(&p->acc);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->nonempty);
    scoreboard_free(p->sb);
    free(p->since);
    free(p->ring);
    free(p);
}

static int start_threads(struct pool *p, int n, void *(*thread_main)(void *))
{
    pthread_attr_t attr;
    if (thread_attr_init(&attr, true) < 0)
        return 0;
    int started = 0;
    for (int i = 0; i < n; i++) {
        pthread_t tid;
        atomic_fetch_add(&p->running, 1);
        int rc = pthread_create(&tid, &attr, thread_main, p);
        if (rc != 0) {
            atomic_fetch_sub(&p->running, 1);
            log_error("cannot start pool thread %d: %s", i, strerror(rc));
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
    return started;
}

/* Queue mode: the main thread accepts until a stop. */
static void accept_into_queue(struct pool *p, struct ctl_events *events)
{
    struct accept_poll ap;
    accept_poll_init(&ap, &p->acc, p->srv->listeners, p->srv->nlisteners, events->fd);
    bool queued = false;
    for (;;) {
        int fd;
        union sockaddr_any peer;
        /* Look at the queue now and then while it holds connections. */
        ap.tick_ms = queued ? BACKLOG_TICK_MS : -1;
        enum accept_next next = acceptor_next(&ap, &fd, &peer);
        if (next == NEXT_CONN)
            enqueue_conn(p, fd, &peer);
        else if (next == NEXT_FAIL || (next == NEXT_EVENT && stop_pending(events)))
            return;
        else if (next == NEXT_EVENT && ctl_events_take_reload(events))
            reload_accept_poll(&ap, &p->cur, 0); /* new sessions get the new settings */
        queued = p->dispatch == DISPATCH_EVENT ? parking_expire(p, clock_ms())
                                               : queue_expire(p, clock_ms());
    }
}

/* Accept mode: the threads accept; the main thread waits for a stop and,
 * while every thread is busy, refuses whoever waits too long in the
 * listen queue. */
static void watch_backlog(struct pool *p, struct ctl_events *events, int threads)
{
    struct backlog_guard guard = {
        .listeners = p->srv->listeners,
        .nlisteners = p->srv->nlisteners,
        .acc = &p->acc,
        .taken = &p->sb->taken,
        .adm = p->adm,
        .cfg = p->srv->cfg,
    };
    while (!stop_pending(events)) {
        /* Reload: new sessions get the new settings. The threads poll the
         * listeners they started with: those stay until a restart. */
        if (ctl_events_take_reload(events)) {
            struct reload rl;
            if (p->srv->gens != NULL &&
                generation_reload(p->srv->gens, RELOAD_FIXED_LISTENERS, &rl) == 0)
                p->cur = rl.srv;
        }
        struct pollfd pfd = {.fd = events->fd, .events = POLLIN};
        if (poll(&pfd, 1, BACKLOG_TICK_MS) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return;
        }
        int busy = 0;
        for (int i = 0; i < threads; i++)
            busy += atomic_load(&p->sb->slot[i].busy) != 0;
        if (busy >= threads)
            backlog_guard_tick(&guard, clock_ms());
        else
            backlog_guard_idle(&guard);
    }
}

int arch_threadpool_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct ctl_events events;
    struct stop_broadcast stop;
    struct admission *adm = admission_new(cfg->max_clients, cfg->max_per_ip);
    status_service_attach(srv->status, adm);
    if (adm == NULL || ctl_events_open(&events, CTL_WITH_SIGINT) < 0 ||
        ctl_events_enable_upgrade(&events, srv) < 0 || stop_broadcast_open(&stop) < 0)
        return 1;
    struct pool *p = pool_new(srv, adm, stop.rd);
    if (p == NULL)
        return 1;
    static void *(*const thread_mains[])(void *) = {
        [DISPATCH_EVENT] = event_thread_main,
        [DISPATCH_QUEUE] = queue_thread_main,
        [DISPATCH_ACCEPT] = accept_thread_main,
    };
    static const char *const names[] = {
        [DISPATCH_EVENT] = "event",
        [DISPATCH_QUEUE] = "queue",
        [DISPATCH_ACCEPT] = "accept",
    };
    int started = start_threads(p, cfg->threads, thread_mains[p->dispatch]);
    log_info("threadpool: %d threads, dispatch %s", started, names[p->dispatch]);
    if (started > 0 && p->dispatch != DISPATCH_ACCEPT)
        accept_into_queue(p, &events);
    else if (started > 0)
        watch_backlog(p, &events, started);

    /* Live upgrade: the listeners are the new generation's. Accepting
     * threads (accept mode) leave between sessions, like retired prefork
     * workers; the sessions here finish first, up to the drain timer. */
    if (events.handed_over) {
        for (int i = 0; i < cfg->threads && p->dispatch == DISPATCH_ACCEPT; i++)
            atomic_store(&p->sb->slot[i].retire, 1);
        wait_for_handover(&events, p->dispatch == DISPATCH_ACCEPT ? pool_done : no_sessions,
                          p->dispatch == DISPATCH_ACCEPT ? (void *)p : (void *)adm);
    } else {
        net_stop_listening(p->cur->listeners, p->cur->nlisteners);
    }
    log_info("stopping: waiting for %d sessions", admission_active(adm));
    admission_log_refusals(adm);
    stop_broadcast_fire(&stop);
    if (p->dispatch == DISPATCH_QUEUE)
        queue_close(p);
    if (p->parking != NULL)
        parking_stop(p->parking); /* parked sessions get their 421 */
    if (wait_for_drain(&events, pool_done, p)) {
        /* Every thread is out of the pool; after a second signal some may
         * still run, and the process exits right after without freeing. */
        pool_free(p);
        status_service_attach(srv->status, NULL);
        admission_free(adm);
        stop_broadcast_close(&stop);
    }
    ctl_events_close(&events);
    return started > 0 ? 0 : 1;
}

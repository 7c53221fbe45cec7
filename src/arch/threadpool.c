/* threadpool: `threads` threads started at boot. Two ways to hand them
 * connections (threadpool_dispatch):
 *
 *  - accept: each thread runs the blocking accept loop on the shared
 *    non-blocking listeners; a connection wakes the pollers, one accept()
 *    wins, the rest see EAGAIN. No hand-off; idle sessions beyond `threads`
 *    wait in the listen backlog.
 *  - queue: the main thread accepts, admits (max_clients, max_per_ip) and
 *    pushes the connection on a bounded queue; a free thread pops it. No
 *    herd, and max_clients is answered with 421 at once even while every
 *    thread is busy; costs a lock and a wake-up per connection.
 *
 * The README gives the measured difference. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "arch/limits.h"
#include "arch/threads.h"
#include "ftpd/log.h"

#define QUEUE_MAX 65536

struct queued_conn {
    int fd;
    int slot;
    union sockaddr_any peer;
};

struct pool {
    const struct ftpd_server *srv;
    struct conn_limits *limits;
    int stop_fd;
    int sigfd;
    struct acceptor acc; /* accept mode: one spare fd for the whole pool */
    atomic_int running;

    /* queue mode: a ring of connections waiting for a thread */
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    struct queued_conn *ring;
    int cap, head, len;
    bool closing;
};

static void *accept_thread_main(void *arg)
{
    struct pool *p = arg;
    struct stop_state stop;
    stop_init(&stop, p->stop_fd, false, p->srv->cfg->shutdown_grace);
    accept_loop(p->srv, &stop, p->limits, &p->acc);
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

static bool queue_pop(struct pool *p, struct queued_conn *out)
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

static bool queue_push(struct pool *p, const struct queued_conn *c)
{
    pthread_mutex_lock(&p->lock);
    bool room = p->len < p->cap;
    if (room) {
        p->ring[(p->head + p->len) % p->cap] = *c;
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
    stop_init(&stop, p->stop_fd, false, p->srv->cfg->shutdown_grace);
    struct queued_conn c;
    while (queue_pop(p, &c)) {
        serve_blocking(p->srv, c.fd, &c.peer, &stop);
        limits_release(p->limits, c.slot);
    }
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}

/* Queue mode, main thread: admit a new connection and queue it. */
static bool enqueue_conn(void *arg, int fd, const union sockaddr_any *peer)
{
    struct pool *p = arg;
    struct queued_conn c = {.fd = fd, .peer = *peer};
    enum refusal why;
    c.slot = limits_admit(p->limits, peer, getpid(), &why);
    if (c.slot < 0) {
        limits_turn_away(p->srv->cfg, fd, why, peer);
    } else if (!queue_push(p, &c)) {
        limits_release(p->limits, c.slot);
        limits_turn_away(p->srv->cfg, fd, REFUSE_MAX_CLIENTS, peer);
    }
    return false;
}

static bool on_stop_signal(void *arg)
{
    struct pool *p = arg;
    struct signalfd_siginfo si;
    while (read(p->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
    return true;
}

/* Stopping: wake the queue threads; connections still queued were never
 * greeted, so they get the 421 of a server going down. */
static void queue_close(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    while (p->len > 0) {
        struct queued_conn *c = &p->ring[p->head];
        limits_release(p->limits, c->slot);
        limits_turn_away(p->srv->cfg, c->fd, REFUSE_SHUTTING_DOWN, &c->peer);
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    pthread_cond_broadcast(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
}

static bool pool_done(void *arg)
{
    struct pool *p = arg;
    return atomic_load(&p->running) == 0;
}

static struct pool *pool_new(const struct ftpd_server *srv, struct conn_limits *limits, int stop_fd)
{
    struct pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->srv = srv;
    p->limits = limits;
    p->stop_fd = stop_fd;
    /* Every admitted connection fits (admission caps them at max_clients),
     * so the queue refuses no one the limits would let in; clamped so a huge
     * max_clients does not reserve memory for nothing. */
    p->cap = srv->cfg->max_clients < QUEUE_MAX ? srv->cfg->max_clients : QUEUE_MAX;
    p->ring = calloc((size_t)p->cap, sizeof *p->ring);
    if (p->ring == NULL || acceptor_init(&p->acc) < 0) {
        free(p->ring);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    return p;
}

static void pool_free(struct pool *p)
{
    acceptor_close(&p->acc);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->nonempty);
    free(p->ring);
    free(p);
}

int arch_threadpool_run(const struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    struct stop_pipe stop = {-1, -1};
    pthread_attr_t attr;
    int sigfd = stop_signalfd(true);
    struct conn_limits *limits = limits_new(cfg->max_clients, cfg->max_per_ip);
    if (sigfd < 0 || limits == NULL || stop_pipe_open(&stop) < 0 ||
        thread_attr_init(&attr, true) < 0)
        return 1;
    struct pool *p = pool_new(srv, limits, stop.rd);
    if (p == NULL)
        return 1;
    p->sigfd = sigfd;
    void *(*thread_main)(void *) = cfg->threadpool_queue ? queue_thread_main : accept_thread_main;
    int started = 0;
    for (int i = 0; i < cfg->threads; i++) {
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
    log_info("threadpool: %d threads, dispatch %s", started,
             cfg->threadpool_queue ? "queue" : "accept");
    static const struct accept_ops queue_ops = {on_stop_signal, enqueue_conn};
    if (started > 0) {
        if (cfg->threadpool_queue)
            acceptor_run(srv, &p->acc, sigfd, &queue_ops, p);
        else
            wait_for_stop_signal(sigfd);
    }
    net_stop_listening(srv->listeners, srv->nlisteners);
    log_info("stopping: waiting for %d sessions", limits_active(limits));
    stop_pipe_fire(&stop);
    if (cfg->threadpool_queue)
        queue_close(p);
    wait_for_drain(sigfd, pool_done, p);
    if (pool_done(p)) {
        /* Every thread is out of the pool; after a second signal some may
         * still run, and the process exits right after without freeing. */
        pool_free(p);
        limits_free(limits);
        stop_pipe_close(&stop);
        close(sigfd);
    }
    return started > 0 ? 0 : 1;
}

/* The event thread of threadpool_dispatch = event, and the two hand-over
 * lists between it and the pool threads (see parking.h).
 *
 * Special problem: re-arming. Each parked fd is registered EPOLLONESHOT:
 * the kernel disarms it when it reports it, so the fd of a session a pool
 * thread is serving never wakes the event thread again (a level-triggered
 * set would report it on every epoll_wait until the pool thread has read
 * it). Parking it again is one EPOLL_CTL_MOD. A closed fd leaves the set
 * by itself (it is never dup'ed).
 *
 * Idle timeouts: every parked session gets the same idle_timeout from the
 * moment it is parked, so the parked list, appended to at the tail, is in
 * deadline order: epoll_wait sleeps until the head's deadline, and expiry
 * pops from the head. O(1) per park, no timer per session. */
#include "arch/blocking/parking.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/blocking/threads.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"

#define EVENTS_PER_WAIT 256

struct parked {
    struct parked *prev, *next; /* on exactly one list */
    struct conn *conn;
    int64_t idle_at; /* parked: clock_ms() when it times out */
    int fd;
    enum wake why;   /* queued: what the pool thread is to do */
    bool registered; /* in the epoll set (MOD, not ADD, to re-arm) */
};

struct list {
    struct parked *head, *tail;
};

struct parking {
    int idle_ms;
    int epfd;
    int wake_fd; /* eventfd: sessions returning, a stop, the end */
    pthread_t thread;
    struct list parked; /* event thread only; oldest first */
    bool stop_sent;     /* event thread only: the parked ones went to stop */

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t ready; /* the run queue has a session, or the end came */
    struct list runq;
    struct list returning;
    int sessions;
    atomic_bool stopping; /* written under the lock; read anywhere */
};

static void list_append(struct list *l, struct parked *s)
{
    s->next = NULL;
    s->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
}

static void list_unlink(struct list *l, struct parked *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        l->head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    else
        l->tail = s->prev;
    s->prev = s->next = NULL;
}

static struct parked *list_pop(struct list *l)
{
    struct parked *s = l->head;
    if (s != NULL)
        list_unlink(l, s);
    return s;
}

/* Move every element of from to the end of to. */
static void list_splice(struct list *to, struct list *from)
{
    if (from->head == NULL)
        return;
    if (to->tail != NULL) {
        to->tail->next = from->head;
        from->head->prev = to->tail;
    } else {
        to->head = from->head;
    }
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

static void wake_event_thread(struct parking *pk)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, so a wake-up is pending anyway. */
    if (write(pk->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("threadpool: eventfd write: %s", strerror(errno));
}

/* Event thread: hand a batch of sessions to the pool threads. */
static void to_pool(struct parking *pk, struct list *batch)
{
    int n = 0;
    for (struct parked *s = batch->head; s != NULL; s = s->next)
        n++;
    if (n == 0)
        return;
    pthread_mutex_lock(&pk->lock);
    list_splice(&pk->runq, batch);
    while (n-- > 0)
        pthread_cond_signal(&pk->ready);
    pthread_mutex_unlock(&pk->lock);
}

/* Event thread: s leaves the parked list other than by its own event (idle
 * timeout, stop): disarm it, or a later epoll_wait could report it while a
 * pool thread owns it. */
static void unwatch(struct parking *pk, struct parked *s, enum wake why, struct list *out)
{
    list_unlink(&pk->parked, s);
    if (epoll_ctl(pk->epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0)
        log_error("threadpool: epoll_ctl del fd %d: %s", s->fd, strerror(errno));
    s->registered = false;
    s->why = why;
    list_append(out, s);
}

/* Event thread: watch s until its next command or its idle timeout. */
static void park(struct parking *pk, struct parked *s, struct list *failed)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = s};
    if (epoll_ctl(pk->epfd, s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) < 0) {
        /* ENOMEM/ENOSPC (max_user_watches): close it as if it timed out. */
        log_error("threadpool: epoll_ctl fd %d: %s", s->fd, strerror(errno));
        s->why = WAKE_IDLE;
        list_append(failed, s);
        return;
    }
    s->registered = true;
    s->idle_at = clock_ms() + pk->idle_ms;
    list_append(&pk->parked, s);
}

/* Event thread: take the sessions handed back, and a stop. Returns false
 * once the pool is stopping and every session has ended. */
static bool take_returning(struct parking *pk, struct list *out)
{
    uint64_t count;
    if (read(pk->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
        log_error("threadpool: eventfd read: %s", strerror(errno));
    struct list back = {0};
    pthread_mutex_lock(&pk->lock);
    list_splice(&back, &pk->returning);
    bool stopping = atomic_load(&pk->stopping);
    bool more = !stopping || pk->sessions > 0;
    pthread_mutex_unlock(&pk->lock);

    if (stopping && !pk->stop_sent) {
        pk->stop_sent = true;
        while (pk->parked.head != NULL)
            unwatch(pk, pk->parked.head, WAKE_STOP, out);
    }
    for (struct parked *s; (s = list_pop(&back)) != NULL;) {
        if (stopping) {
            s->why = WAKE_STOP;
            list_append(out, s);
        } else {
            park(pk, s, out);
        }
    }
    return more;
}

/* Milliseconds epoll_wait may sleep: until the oldest parked session's
 * deadline, or for ever. */
static int wait_ms(const struct parking *pk)
{
    if (pk->parked.head == NULL)
        return -1;
    int64_t left = pk->parked.head->idle_at - clock_ms();
    return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void *event_thread_main(void *arg)
{
    struct parking *pk = arg;
    struct epoll_event evs[EVENTS_PER_WAIT];
    bool more = true;
    while (more) {
        int n = epoll_wait(pk->epfd, evs, EVENTS_PER_WAIT, wait_ms(pk));
        if (n < 0) {
            if (errno != EINTR)
                log_error("threadpool: epoll_wait: %s", strerror(errno));
            n = 0;
        }
        struct list out = {0};
        bool woken = false;
        for (int i = 0; i < n; i++) {
            struct parked *s = evs[i].data.ptr;
            if (s == NULL) {
                woken = true;
                continue;
            }
            list_unlink(&pk->parked, s);
            s->why = WAKE_READY;
            list_append(&out, s);
        }
        int64_t now = clock_ms();
        while (pk->parked.head != NULL && pk->parked.head->idle_at <= now)
            unwatch(pk, pk->parked.head, WAKE_IDLE, &out);
        if (woken)
            more = take_returning(pk, &out);
        to_pool(pk, &out);
    }
    return NULL;
}

struct parking *parking_new(const struct ftpd_config *cfg)
{
    struct parking *pk = calloc(1, sizeof *pk);
    if (pk == NULL)
        return NULL;
    pk->idle_ms = cfg->idle_timeout * 1000;
    pk->epfd = epoll_create1(EPOLL_CLOEXEC);
    pk->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (pk->epfd < 0 || pk->wake_fd < 0 ||
        epoll_ctl(pk->epfd, EPOLL_CTL_ADD, pk->wake_fd, &ev) < 0) {
        log_error("threadpool: event set: %s", strerror(errno));
        goto fail;
    }
    pthread_mutex_init(&pk->lock, NULL);
    pthread_cond_init(&pk->ready, NULL);
    atomic_init(&pk->stopping, false);
    pthread_attr_t attr;
    if (thread_attr_init(&attr, false) < 0)
        goto fail_sync;
    int rc = pthread_create(&pk->thread, &attr, event_thread_main, pk);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return pk;
    log_error("threadpool: cannot start the event thread: %s", strerror(rc));
fail_sync:
    pthread_mutex_destroy(&pk->lock);
    pthread_cond_destroy(&pk->ready);
fail:
    if (pk->epfd >= 0)
        close(pk->epfd);
    if (pk->wake_fd >= 0)
        close(pk->wake_fd);
    free(pk);
    return NULL;
}

bool parking_add(struct parking *pk, struct conn *c)
{
    struct parked *s = calloc(1, sizeof *s);
    if (s == NULL)
        return false;
    s->conn = c;
    s->fd = conn_fd(c);
    s->why = WAKE_NEW;
    pthread_mutex_lock(&pk->lock);
    pk->sessions++;
    list_append(&pk->runq, s);
    pthread_cond_signal(&pk->ready);
    pthread_mutex_unlock(&pk->lock);
    return true;
}

struct parked *parking_next(struct parking *pk, enum wake *why)
{
    pthread_mutex_lock(&pk->lock);
    while (pk->runq.head == NULL && !(atomic_load(&pk->stopping) && pk->sessions == 0))
        pthread_cond_wait(&pk->ready, &pk->lock);
    struct parked *s = list_pop(&pk->runq);
    if (s != NULL)
        *why = s->why;
    pthread_mutex_unlock(&pk->lock);
    return s;
}

struct conn *parked_conn(const struct parked *s)
{
    return s->conn;
}

void parking_park(struct parking *pk, struct parked *s)
{
    pthread_mutex_lock(&pk->lock);
    bool first = pk->returning.head == NULL; /* else a wake-up is on its way */
    list_append(&pk->returning, s);
    if (first)
        wake_event_thread(pk);
    pthread_mutex_unlock(&pk->lock);
}

void parking_drop(struct parking *pk, struct parked *s)
{
    free(s);
    pthread_mutex_lock(&pk->lock);
    pk->sessions--;
    if (atomic_load(&pk->stopping) && pk->sessions == 0) {
        pthread_cond_broadcast(&pk->ready);
        wake_event_thread(pk);
    }
    pthread_mutex_unlock(&pk->lock);
}

void parking_stop(struct parking *pk)
{
    pthread_mutex_lock(&pk->lock);
    atomic_store(&pk->stopping, true);
    pthread_cond_broadcast(&pk->ready);
    wake_event_thread(pk);
    pthread_mutex_unlock(&pk->lock);
}

bool parking_stopping(struct parking *pk)
{
    return atomic_load(&pk->stopping);
}

int parking_sessions(struct parking *pk)
{
    pthread_mutex_lock(&pk->lock);
    int n = pk->sessions;
    pthread_mutex_unlock(&pk->lock);
    return n;
}

void parking_free(struct parking *pk)
{
    if (pk == NULL)
        return;
    int rc = pthread_join(pk->thread, NULL);
    if (rc != 0)
        log_error("threadpool: joining the event thread: %s", strerror(rc));
    pthread_mutex_destroy(&pk->lock);
    pthread_cond_destroy(&pk->ready);
    close(pk->epfd);
    close(pk->wake_fd);
    free(pk);
}

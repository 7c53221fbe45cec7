/* The event thread of threadpool_dispatch = event, and the lists that hand
 * sessions between it and the pool threads (see parking.h).
 *
 * Special problem: re-arming. Each parked fd is registered EPOLLONESHOT:
 * the kernel disarms it when it reports it, so the fd of a session a pool
 * thread is serving never wakes the event thread again (a level-triggered
 * set would report it on every epoll_wait until the pool thread has read
 * it). Parking it again is one EPOLL_CTL_MOD. A closed fd leaves the set
 * by itself (it is never dup'ed).
 *
 * Hang-ups during a login: a session whose password check waits for (or
 * runs on) a hashing thread, or whose 530 waits out login_fail_delay, is
 * watched for EPOLLRDHUP only (not EPOLLIN: a client may send its next
 * command early, and that must wait for the check). A client that went is
 * ended at once and its check, if still queued, dropped; one that half-
 * closed with a command pending (net_peer_hung_up() says no) is left to
 * its check. Only the event thread takes a watched session out of the set
 * and hands it on, so an event it has already read never names a session
 * a pool thread owns (or freed): a hashing thread hands a finished check
 * to it (the worked list), not to the pool.
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
#include <sys/resource.h>
#include <unistd.h>

#include "arch/blocking/threads.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"

#define EVENTS_PER_WAIT 256
/* Password checks at once, and how much lower than the pool they run (as
 * the reactor's work pool, src/arch/evented/workpool.c). */
#define HASH_THREADS 2
#define HASH_NICE    10

/* Where a session is; it moves only under the lock. */
enum place {
    AT_POOL,    /* queued for or held by a pool thread */
    AT_PARKED,  /* parked: watched for EPOLLIN */
    AT_DELAYED, /* its 530 waits: watched for a hang-up */
    AT_WORK,    /* its check waits for a hashing thread: watched for a hang-up */
    AT_HASHING, /* a hashing thread runs its check: watched for a hang-up */
    AT_WORKED,  /* its check ran: the event thread hands it to the pool */
};

struct parked {
    struct parked *prev, *next; /* on at most one list */
    struct conn *conn;
    int64_t idle_at; /* parked: clock_ms() when it times out; delayed: its 530 */
    int fd;
    enum wake why; /* queued: what the pool thread is to do */
    enum place at;
    bool registered; /* in the epoll set (MOD, not ADD, to re-arm) */
    bool hung_up;    /* went while a hashing thread ran its check */
};

struct list {
    struct parked *head, *tail;
};

struct parking {
    int idle_ms;
    int epfd;
    int wake_fd; /* eventfd: the first session parked, a stop, the end */
    pthread_t thread;

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t ready; /* the run queue has a session, or the end came */
    struct list runq;
    struct list parked;        /* oldest first: in idle deadline order */
    struct list delayed;       /* failed logins waiting for their 530, in deadline order */
    pthread_cond_t work_ready; /* a password check to run, or the end */
    struct list work;
    struct list worked; /* checks done, for the event thread to hand on */
    pthread_t hashers[HASH_THREADS];
    int nhashers;
    bool stop_sent; /* the parked ones went to stop */
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

static void wake_event_thread(struct parking *pk)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, so a wake-up is pending anyway. */
    if (write(pk->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("threadpool: eventfd write: %s", strerror(errno));
}

/* Under the lock: s goes to a pool thread. */
static void to_pool(struct parking *pk, struct parked *s, enum wake why)
{
    s->why = why;
    s->at = AT_POOL;
    list_append(&pk->runq, s);
    pthread_cond_signal(&pk->ready);
}

/* Event thread, under the lock: take s out of the epoll set, or a later
 * epoll_wait could report it while a pool thread owns it. */
static void disarm(struct parking *pk, struct parked *s)
{
    if (epoll_ctl(pk->epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0)
        log_error("threadpool: epoll_ctl del fd %d: %s", s->fd, strerror(errno));
    s->registered = false;
}

/* Event thread, under the lock: s leaves the parked list other than by its
 * own event (idle timeout, stop). */
static void unwatch(struct parking *pk, struct parked *s, enum wake why)
{
    list_unlink(&pk->parked, s);
    disarm(pk, s);
    to_pool(pk, s, why);
}

/* Event thread, under the lock: a delayed session's time is up, or a
 * check's result is in (why), or the server stops. */
static void hand_on(struct parking *pk, struct list *from, struct parked *s, enum wake why)
{
    list_unlink(from, s);
    if (s->registered) /* its watch may still be armed */
        disarm(pk, s);
    to_pool(pk, s, why);
}

/* Under the lock: watch s, which waits for its check or its 530, for a
 * hang-up. Not armed (the set is full): it waits unwatched, as before. */
static void watch_hang_up(struct parking *pk, struct parked *s)
{
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT, .data.ptr = s};
    int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(pk->epfd, op, s->fd, &ev) < 0) {
        log_debug("threadpool: epoll_ctl fd %d: %s", s->fd, strerror(errno));
        return;
    }
    s->registered = true;
}

/* Event thread, under the lock: epoll reported s, which waits for its
 * check or its 530 (EPOLLONESHOT disarmed it). */
static void on_hang_up(struct parking *pk, struct parked *s)
{
    if (!net_peer_hung_up(s->fd))
        return; /* half-closed behind a command: the check answers it */
    switch (s->at) {
    case AT_DELAYED:
        hand_on(pk, &pk->delayed, s, WAKE_HUNG_UP);
        break;
    case AT_WORK: /* dropped before a hashing thread took it */
        hand_on(pk, &pk->work, s, WAKE_HUNG_UP);
        break;
    case AT_HASHING:
    case AT_WORKED:
        s->hung_up = true; /* ended when its check is done */
        break;
    default:
        break;
    }
}

/* Milliseconds epoll_wait may sleep: until the first deadline (idle
 * timeout or delay), or until woken. */
static int wait_ms(struct parking *pk)
{
    pthread_mutex_lock(&pk->lock);
    int64_t at = INT64_MAX;
    if (pk->parked.head != NULL)
        at = pk->parked.head->idle_at;
    if (pk->delayed.head != NULL && pk->delayed.head->idle_at < at)
        at = pk->delayed.head->idle_at;
    pthread_mutex_unlock(&pk->lock);
    if (at == INT64_MAX)
        return -1;
    int64_t left = at - clock_ms();
    return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* Event thread: hand the sessions epoll reported, those past their idle
 * timeout, and on a stop every parked one, to the pool threads. Returns
 * false once the pool is stopping and every session has ended. */
static bool dispatch(struct parking *pk, const struct epoll_event *evs, int n)
{
    pthread_mutex_lock(&pk->lock);
    for (int i = 0; i < n; i++) {
        struct parked *s = evs[i].data.ptr;
        if (s == NULL) {
            uint64_t count;
            if (read(pk->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                log_error("threadpool: eventfd read: %s", strerror(errno));
            continue;
        }
        if (s->at != AT_PARKED) {
            on_hang_up(pk, s);
            continue;
        }
        list_unlink(&pk->parked, s); /* EPOLLONESHOT disarmed it */
        to_pool(pk, s, WAKE_READY);
    }
    while (pk->worked.head != NULL) {
        struct parked *s = pk->worked.head;
        hand_on(pk, &pk->worked, s, s->hung_up ? WAKE_HUNG_UP : WAKE_WORK);
    }
    int64_t now = clock_ms();
    while (pk->parked.head != NULL && pk->parked.head->idle_at <= now)
        unwatch(pk, pk->parked.head, WAKE_IDLE);
    while (pk->delayed.head != NULL && pk->delayed.head->idle_at <= now)
        hand_on(pk, &pk->delayed, pk->delayed.head, WAKE_DELAY);
    bool stopping = atomic_load(&pk->stopping);
    if (stopping && !pk->stop_sent) {
        pk->stop_sent = true;
        while (pk->parked.head != NULL)
            unwatch(pk, pk->parked.head, WAKE_STOP);
        while (pk->delayed.head != NULL) /* a stop cuts the delay short */
            hand_on(pk, &pk->delayed, pk->delayed.head, WAKE_STOP);
    }
    bool more = !stopping || pk->sessions > 0;
    pthread_mutex_unlock(&pk->lock);
    return more;
}

/* The event thread touches the epoll set and, under the lock, the lists;
 * pool threads park sessions themselves (parking_park), so a command
 * costs it one wake-up, not two. */
static void *event_thread_main(void *arg)
{
    struct parking *pk = arg;
    struct epoll_event evs[EVENTS_PER_WAIT];
    for (bool more = true; more;) {
        int n = epoll_wait(pk->epfd, evs, EVENTS_PER_WAIT, wait_ms(pk));
        if (n < 0) {
            if (errno != EINTR)
                log_error("threadpool: epoll_wait: %s", strerror(errno));
            n = 0;
        }
        more = dispatch(pk, evs, n);
    }
    return NULL;
}

/* Under the lock: nothing more will come (the pool stopped, every session
 * ended). */
static bool finished(struct parking *pk)
{
    return atomic_load(&pk->stopping) && pk->sessions == 0;
}

static void *hasher_main(void *arg)
{
    struct parking *pk = arg;
    errno = 0;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), HASH_NICE) != 0)
        log_debug("threadpool: nice %d: %s", HASH_NICE, strerror(errno));
    pthread_mutex_lock(&pk->lock);
    for (;;) {
        while (pk->work.head == NULL && !finished(pk))
            pthread_cond_wait(&pk->work_ready, &pk->lock);
        struct parked *s = list_pop(&pk->work);
        if (s == NULL)
            break;
        s->at = AT_HASHING;
        pthread_mutex_unlock(&pk->lock);
        conn_work_run(s->conn);
        pthread_mutex_lock(&pk->lock);
        /* The event thread hands it on: it may hold an event for s. */
        s->at = AT_WORKED;
        if (pk->worked.head == NULL)
            wake_event_thread(pk);
        list_append(&pk->worked, s);
    }
    pthread_mutex_unlock(&pk->lock);
    return NULL;
}

static void start_hashers(struct parking *pk, const pthread_attr_t *attr)
{
    for (int i = 0; i < HASH_THREADS; i++) {
        int rc = pthread_create(&pk->hashers[i], attr, hasher_main, pk);
        if (rc != 0) {
            log_error("threadpool: cannot start a hashing thread: %s", strerror(rc));
            break;
        }
        pk->nhashers++;
    }
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
    pthread_cond_init(&pk->work_ready, NULL);
    atomic_init(&pk->stopping, false);
    pthread_attr_t attr;
    if (thread_attr_init(&attr, false) < 0)
        goto fail_sync;
    int rc = pthread_create(&pk->thread, &attr, event_thread_main, pk);
    if (rc == 0)
        start_hashers(pk, &attr);
    pthread_attr_destroy(&attr);
    if (rc == 0 && pk->nhashers > 0)
        return pk;
    if (rc == 0) {
        parking_stop(pk);
        parking_free(pk);
        return NULL;
    }
    log_error("threadpool: cannot start the event thread: %s", strerror(rc));
fail_sync:
    pthread_mutex_destroy(&pk->lock);
    pthread_cond_destroy(&pk->ready);
    pthread_cond_destroy(&pk->work_ready);
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
    s->idle_at = clock_ms(); /* queued for its greeting since */
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
    if (atomic_load(&pk->stopping)) {
        to_pool(pk, s, WAKE_STOP);
    } else {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = s};
        int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(pk->epfd, op, s->fd, &ev) < 0) {
            /* ENOMEM/ENOSPC (max_user_watches): end it as if it timed out. */
            log_error("threadpool: epoll_ctl fd %d: %s", s->fd, strerror(errno));
            to_pool(pk, s, WAKE_IDLE);
        } else {
            s->registered = true;
            s->at = AT_PARKED;
            s->idle_at = clock_ms() + pk->idle_ms;
            /* The event thread sleeps until the head's deadline: a new
             * head (the list was empty) must wake it; a new tail times out
             * after the head anyway. */
            if (pk->parked.head == NULL)
                wake_event_thread(pk);
            list_append(&pk->parked, s);
        }
    }
    pthread_mutex_unlock(&pk->lock);
}

void parking_delay(struct parking *pk, struct parked *s, int ms)
{
    pthread_mutex_lock(&pk->lock);
    if (atomic_load(&pk->stopping)) {
        to_pool(pk, s, WAKE_STOP);
    } else {
        /* Every delay is login_fail_delay: appending keeps the order. */
        s->idle_at = clock_ms() + ms;
        s->at = AT_DELAYED;
        if (pk->delayed.head == NULL || s->idle_at < pk->delayed.head->idle_at)
            wake_event_thread(pk); /* it may sleep past this deadline */
        list_append(&pk->delayed, s);
        watch_hang_up(pk, s);
    }
    pthread_mutex_unlock(&pk->lock);
}

void parking_work(struct parking *pk, struct parked *s)
{
    pthread_mutex_lock(&pk->lock);
    s->at = AT_WORK;
    s->hung_up = false;
    list_append(&pk->work, s);
    watch_hang_up(pk, s);
    pthread_cond_signal(&pk->work_ready);
    pthread_mutex_unlock(&pk->lock);
}

int parking_expire_new(struct parking *pk, int64_t now, int wait_ms, struct conn **out, int max,
                       bool *left)
{
    int n = 0;
    *left = false;
    pthread_mutex_lock(&pk->lock);
    for (struct parked *s = pk->runq.head, *next; s != NULL; s = next) {
        next = s->next;
        if (s->why != WAKE_NEW)
            continue;
        if (now - s->idle_at < wait_ms || n == max) {
            *left = true;
            continue;
        }
        list_unlink(&pk->runq, s);
        out[n++] = s->conn;
        free(s);
        pk->sessions--;
    }
    if (n > 0 && finished(pk)) {
        pthread_cond_broadcast(&pk->ready);
        pthread_cond_broadcast(&pk->work_ready);
        wake_event_thread(pk);
    }
    pthread_mutex_unlock(&pk->lock);
    return n;
}

void parking_drop(struct parking *pk, struct parked *s)
{
    free(s);
    pthread_mutex_lock(&pk->lock);
    pk->sessions--;
    if (finished(pk)) {
        pthread_cond_broadcast(&pk->ready);
        pthread_cond_broadcast(&pk->work_ready);
        wake_event_thread(pk);
    }
    pthread_mutex_unlock(&pk->lock);
}

void parking_stop(struct parking *pk)
{
    pthread_mutex_lock(&pk->lock);
    atomic_store(&pk->stopping, true);
    pthread_cond_broadcast(&pk->ready);
    pthread_cond_broadcast(&pk->work_ready);
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
    for (int i = 0; i < pk->nhashers; i++)
        pthread_join(pk->hashers[i], NULL);
    pthread_mutex_destroy(&pk->lock);
    pthread_cond_destroy(&pk->ready);
    pthread_cond_destroy(&pk->work_ready);
    close(pk->epfd);
    close(pk->wake_fd);
    free(pk);
}

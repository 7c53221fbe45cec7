/* The deferred-work pool of one event loop (see workpool.h).
 *
 * One mutex guards both lists and every item's `cancelled` flag; a pool
 * thread reads an item's run and job only between taking it from `todo`
 * (under the mutex) and putting it on `done` (under the mutex), and the
 * loop thread reads the job again only after taking it from `done`, so
 * every hand-over of a job passes the mutex (what TSan checks).
 * ev_async_send is libev's one thread-safe call; several sends before the
 * loop wakes up coalesce into one callback, which drains the whole list. */
#include "arch/evented/workpool.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ftpd/log.h"

struct wp_item {
    struct wp_item *next;
    workpool_run_fn run;
    workpool_done_fn done;
    void *job;
    void *arg;
    bool cancelled;
};

struct wp_list {
    struct wp_item *head, *tail;
};

struct workpool {
    struct ev_loop *loop;
    ev_async async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wp_list todo; /* waiting for a thread */
    struct wp_list done; /* finished, for the loop */
    int waiting;         /* items on todo */
    int running;         /* items a thread holds */
    int queue_max;
    int max_threads, nthreads;
    bool stopping;
    pthread_t *threads;
};

static void list_push(struct wp_list *l, struct wp_item *it)
{
    it->next = NULL;
    if (l->tail != NULL)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static struct wp_item *list_pop(struct wp_list *l)
{
    struct wp_item *it = l->head;
    if (it != NULL) {
        l->head = it->next;
        if (l->head == NULL)
            l->tail = NULL;
    }
    return it;
}

/* How much lower than the loop a pool thread runs (Linux nice is per
 * thread). On a machine with as many busy threads as cores, a hash
 * competing with the loop at equal weight costs every session a scheduler
 * slice (~4 ms at p99, measured with 1000 idle sessions and 20 logins/s on
 * 2 cores); at nice 10 the loop wins its core back at once. A login waits
 * a little longer instead, which it can afford. */
#define WORK_NICE 10

static void *worker(void *arg)
{
    struct workpool *p = arg;
    errno = 0;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), WORK_NICE) != 0)
        log_debug("work pool: nice %d: %s", WORK_NICE, strerror(errno));
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->todo.head == NULL && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stopping)
            break; /* waiting jobs are dropped by workpool_free */
        struct wp_item *it = list_pop(&p->todo);
        p->waiting--;
        bool skip = it->cancelled; /* its owner is gone: nobody wants it */
        p->running++;
        pthread_mutex_unlock(&p->mu);
        if (!skip)
            it->run(it->job);
        pthread_mutex_lock(&p->mu);
        p->running--;
        list_push(&p->done, it);
        pthread_mutex_unlock(&p->mu);
        ev_async_send(p->loop, &p->async);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Deliver every finished job, on the loop's thread. */
static void deliver(struct workpool *p)
{
    pthread_mutex_lock(&p->mu);
    struct wp_item *it = p->done.head;
    p->done.head = p->done.tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (it != NULL) {
        struct wp_item *next = it->next;
        pthread_mutex_lock(&p->mu);
        bool cancelled = it->cancelled;
        pthread_mutex_unlock(&p->mu);
        it->done(cancelled ? NULL : it->arg, it->job);
        free(it);
        it = next;
    }
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
    deliver(w->data);
}

struct workpool *workpool_new(struct ev_loop *loop, int threads, int queue_max)
{
    struct workpool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (p->threads == NULL) {
        free(p);
        return NULL;
    }
    int rc = pthread_mutex_init(&p->mu, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&p->cv, NULL);
        if (rc != 0)
            pthread_mutex_destroy(&p->mu);
    }
    if (rc != 0) {
        free(p->threads);
        free(p);
        errno = rc;
        return NULL;
    }
    p->loop = loop;
    p->max_threads = threads;
    p->queue_max = queue_max;
    ev_async_init(&p->async, on_async);
    p->async.data = p;
    ev_async_start(loop, &p->async);
    /* A pool with nothing to do must not keep the loop running. */
    ev_unref(loop);
    return p;
}

/* Another thread when every started one is busy. Called with mu held. */
static int grow(struct workpool *p)
{
    if (p->nthreads == p->max_threads || p->running + p->waiting < p->nthreads)
        return 0;
    int rc = pthread_create(&p->threads[p->nthreads], NULL, worker, p);
    if (rc != 0) {
        log_error("work pool: cannot start a thread: %s", strerror(rc));
        errno = rc;
        return p->nthreads > 0 ? 0 : -1; /* the ones running will do */
    }
    p->nthreads++;
    return 0;
}

int workpool_submit(struct workpool *p, workpool_run_fn run, void *job, workpool_done_fn done,
                    void *arg, struct wp_item **item)
{
    struct wp_item *it = malloc(sizeof *it);
    if (it == NULL)
        return -1;
    *it = (struct wp_item){.run = run, .done = done, .job = job, .arg = arg};
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->stopping || p->waiting >= p->queue_max) {
        errno = EAGAIN;
        rc = -1;
    } else {
        rc = grow(p);
    }
    if (rc == 0) {
        list_push(&p->todo, it);
        p->waiting++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc != 0) {
        free(it);
        return -1;
    }
    *item = it;
    return 0;
}

void workpool_cancel(struct workpool *p, struct wp_item *item)
{
    pthread_mutex_lock(&p->mu);
    item->cancelled = true;
    pthread_mutex_unlock(&p->mu);
}

int workpool_pending(struct workpool *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->waiting + p->running;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void workpool_free(struct workpool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) {
        int rc = pthread_join(p->threads[i], NULL);
        if (rc != 0)
            log_error("work pool: join: %s", strerror(rc));
    }
    /* Every thread is gone: the lists are ours alone. */
    struct wp_item *it;
    while ((it = list_pop(&p->todo)) != NULL)
        list_push(&p->done, it);
    while ((it = list_pop(&p->done)) != NULL) {
        it->done(NULL, it->job);
        free(it);
    }
    ev_ref(p->loop);
    ev_async_stop(p->loop, &p->async);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

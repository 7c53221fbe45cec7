/* Deferred work for an event loop: a small fixed pool of threads that run
 * CPU-bound jobs (password hashes) off the loop, and hand each result back
 * to the loop's thread through an ev_async watcher, where the job's done
 * callback runs.
 *
 * The queue is bounded: a job beyond queue_max waiting ones is refused, and
 * the caller answers for it (the core's 421). Threads start at the first
 * job, so a loop that never checks a password runs none, and a hybrid
 * worker starts its own after the fork. Workers run with every signal
 * blocked (inherited from main), touch only their job, and never the loop.
 *
 * Stopping: workpool_free() lets running jobs finish, drops the waiting
 * ones and joins every thread. */
#ifndef FTPD_ARCH_EVENTED_WORKPOOL_H
#define FTPD_ARCH_EVENTED_WORKPOOL_H

struct ev_loop;
struct workpool;
struct wp_item;

/* On a pool thread: the job's work, touching nothing but job. */
typedef void (*workpool_run_fn)(void *job);
/* On the loop's thread, once per submitted job: arg as given, or NULL when
 * the job was cancelled (or never ran, at workpool_free): then only free
 * the job. */
typedef void (*workpool_done_fn)(void *arg, void *job);

/* A pool of at most threads threads (started when needed) and queue_max
 * waiting jobs, answering on loop. NULL with errno on failure. */
struct workpool *workpool_new(struct ev_loop *loop, int threads, int queue_max);

/* Queue job. 0 with *item set (for workpool_cancel); -1 when the queue is
 * full (errno EAGAIN) or no thread could be started: the job stays the
 * caller's and done is not called. */
int workpool_submit(struct workpool *p, workpool_run_fn run, void *job, workpool_done_fn done,
                    void *arg, struct wp_item **item);

/* The owner of item is going away: done will get NULL instead of its arg.
 * Valid until done has been called for item. */
void workpool_cancel(struct workpool *p, struct wp_item *item);

/* Jobs waiting or running now (for tests and the log). */
int workpool_pending(struct workpool *p);

/* Stop: wait for the running jobs, drop the waiting ones (done(NULL, job)
 * for every job not yet delivered), join the threads, free. Call it on the
 * loop's thread after every owner cancelled its jobs or got its result.
 * NULL is a no-op. */
void workpool_free(struct workpool *p);

#endif

/* The deferred-work pool of an event loop (arch/evented/workpool.c): jobs
 * complete and come back on the loop's thread, the bounded queue refuses,
 * a cancelled job comes back without its owner, and workpool_free waits
 * for the running jobs and joins. Meant to run under TSan as well. */
#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "arch/evented/workpool.h"
#include "ftpd/log.h"
#include "unit.h"

struct job {
    int in;
    int out;          /* written on a pool thread */
    pthread_t ran_on; /* likewise */
    int spin_ms;      /* CPU to burn */
};

static pthread_t loop_thread;
static int delivered, orphaned;
static struct ev_loop *loop;

static void burn(int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void run(void *arg)
{
    struct job *j = arg;
    burn(j->spin_ms);
    j->out = j->in * 2;
    j->ran_on = pthread_self();
}

static void done(void *arg, void *job)
{
    ck_assert(pthread_equal(pthread_self(), loop_thread));
    if (arg == NULL) {
        orphaned++;
        return;
    }
    struct job *j = job;
    ck_assert_int_eq(j->out, j->in * 2);
    ck_assert(!pthread_equal(j->ran_on, loop_thread));
    ck_assert_ptr_eq(arg, job);
    delivered++;
}

static void setup(void)
{
    log_set_level(LOG_LVL_ERROR);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    loop_thread = pthread_self();
    delivered = orphaned = 0;
}

static void teardown(void)
{
    ev_loop_destroy(loop);
}

/* Run the loop until n jobs came back (5 s at most). */
static void run_until(int n)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (delivered + orphaned < n) {
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
        clock_gettime(CLOCK_MONOTONIC, &t);
        ck_assert_msg(t.tv_sec - t0.tv_sec < 5, "%d of %d jobs back", delivered + orphaned, n);
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
}

START_TEST(jobs_complete)
{
    enum { N = 40 };
    struct workpool *p = workpool_new(loop, 2, N);
    ck_assert_ptr_nonnull(p);
    static struct job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.in = i, .spin_ms = 1};
        struct wp_item *it;
        ck_assert_int_eq(workpool_submit(p, run, &jobs[i], done, &jobs[i], &it), 0);
    }
    run_until(N);
    ck_assert_int_eq(delivered, N);
    ck_assert_int_eq(workpool_pending(p), 0);
    /* An idle pool keeps no loop running: ev_run returns at once. */
    ev_run(loop, 0);
    workpool_free(p);
}
END_TEST

START_TEST(bounded_queue_refuses)
{
    struct workpool *p = workpool_new(loop, 1, 2);
    ck_assert_ptr_nonnull(p);
    static struct job jobs[8];
    int accepted = 0, refused = 0;
    for (int i = 0; i < 8; i++) {
        jobs[i] = (struct job){.in = i, .spin_ms = 100};
        struct wp_item *it;
        if (workpool_submit(p, run, &jobs[i], done, &jobs[i], &it) == 0)
            accepted++;
        else
            refused++;
    }
    /* One running (perhaps not yet taken), two waiting: 2 or 3 accepted. */
    ck_assert_int_ge(accepted, 2);
    ck_assert_int_le(accepted, 3);
    ck_assert_int_eq(refused, 8 - accepted);
    run_until(accepted);
    ck_assert_int_eq(delivered, accepted);
    workpool_free(p);
}
END_TEST

START_TEST(cancel_orphans)
{
    struct workpool *p = workpool_new(loop, 1, 8);
    static struct job jobs[4];
    struct wp_item *items[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){.in = i, .spin_ms = 20};
        ck_assert_int_eq(workpool_submit(p, run, &jobs[i], done, &jobs[i], &items[i]), 0);
    }
    workpool_cancel(p, items[1]);
    workpool_cancel(p, items[3]);
    run_until(4);
    ck_assert_int_eq(delivered, 2);
    ck_assert_int_eq(orphaned, 2);
    workpool_free(p);
}
END_TEST

/* Free with jobs running and waiting: the running one finishes, the others
 * are dropped; every job comes back (as an orphan) exactly once, and the
 * threads are joined. */
START_TEST(shutdown_joins)
{
    struct workpool *p = workpool_new(loop, 2, 16);
    static struct job jobs[10];
    struct wp_item *items[10];
    for (int i = 0; i < 10; i++) {
        jobs[i] = (struct job){.in = i, .spin_ms = 50};
        ck_assert_int_eq(workpool_submit(p, run, &jobs[i], done, &jobs[i], &items[i]), 0);
    }
    struct timespec nap = {0, 20 * 1000000};
    nanosleep(&nap, NULL); /* two are running now */
    for (int i = 0; i < 10; i++)
        workpool_cancel(p, items[i]);
    workpool_free(p);
    ck_assert_int_eq(orphaned, 10);
    ck_assert_int_eq(delivered, 0);
}
END_TEST

/* A pool that never got a job starts no thread and frees at once. */
START_TEST(unused_pool)
{
    struct workpool *p = workpool_new(loop, 4, 4);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(workpool_pending(p), 0);
    workpool_free(p);
    workpool_free(NULL);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("workpool");
    TCase *tc = tcase_create("workpool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, jobs_complete);
    tcase_add_test(tc, bounded_queue_refuses);
    tcase_add_test(tc, cancel_orphans);
    tcase_add_test(tc, shutdown_joins);
    tcase_add_test(tc, unused_pool);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

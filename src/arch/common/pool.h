/* Pool policy: the arithmetic of an adaptive pool, without processes or
 * clocks of its own, so it is unit-tested as plain functions.
 *
 * pool_decide() is Apache prefork's perform_idle_server_maintenance(): once
 * a second, with fewer than min_spare idle workers, spawn `rate` workers
 * (1, then 2, 4, ... POOL_SPAWN_RATE_MAX per second while the shortage
 * lasts; back to 1 when it ends), never past max_workers; with more than
 * max_spare idle workers at POOL_RETIRE_AFTER decisions in a row, retire the
 * excess (gracefully: the caller picks idle workers, who leave between
 * sessions). The wait keeps a pause of under a second between two bursts
 * (a benchmark's runs, a client's reconnects) from costing the pool.
 *
 * backlog_overdue() tells how many connections have waited longer than a
 * bound for a worker: the connections waiting then, minus those taken off
 * the queue since. The queue is FIFO, so those are the oldest ones, the
 * ones an accept() returns first. */
#ifndef FTPD_ARCH_COMMON_POOL_H
#define FTPD_ARCH_COMMON_POOL_H

#include <stdbool.h>
#include <stdint.h>

#define POOL_SPAWN_RATE_MAX 32
#define POOL_PERIOD_MS      1000 /* one decision a second */
#define POOL_RETIRE_AFTER   2    /* decisions with too many idle before retiring */

struct pool_limits {
    int min_spare; /* idle workers wanted at least */
    int max_spare; /* idle workers kept at most */
    int max;       /* workers in all, busy or idle */
};

struct pool_ramp {
    int rate;        /* workers the next shortage spawns; 0 = not started */
    int64_t last_ms; /* time of the last decision */
    int surplus;     /* decisions in a row with more than max_spare idle */
    bool started;
};

struct pool_decision {
    int spawn;
    int retire;
};

/* total: workers running or being started; idle: of those, the ones not
 * serving a session (a worker being started counts as idle). now: a
 * monotonic ms clock. Decides at most once per POOL_PERIOD_MS; otherwise
 * returns {0, 0}. */
struct pool_decision pool_decide(const struct pool_limits *lim, struct pool_ramp *ramp, int total,
                                 int idle, int64_t now);

/* Samples of a waiting queue, taken every few ms by its watcher. */
#define BACKLOG_SAMPLES 32

struct backlog_watch {
    struct {
        int64_t ms;
        uint64_t queued; /* connections waiting at that time */
        uint64_t taken;  /* connections ever taken off the queue, at that time */
    } s[BACKLOG_SAMPLES];
    int head, len;
};

/* Record (now, queued, taken) and return how many of the connections
 * waiting at least wait_ms ago are still waiting: they are to be refused.
 * Samples older than needed are dropped. */
uint64_t backlog_overdue(struct backlog_watch *w, int64_t now, uint64_t queued, uint64_t taken,
                         int wait_ms);

/* Forget every sample (the watcher stopped watching for a while). */
void backlog_reset(struct backlog_watch *w);

#endif

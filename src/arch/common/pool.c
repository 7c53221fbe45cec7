#include "arch/common/pool.h"

#include <stdbool.h>

struct pool_decision pool_decide(const struct pool_limits *lim, struct pool_ramp *ramp, int total,
                                 int idle, int64_t now)
{
    struct pool_decision d = {0, 0};
    if (ramp->started && now - ramp->last_ms < POOL_PERIOD_MS)
        return d;
    ramp->started = true;
    ramp->last_ms = now;
    if (ramp->rate < 1)
        ramp->rate = 1;
    if (idle < lim->min_spare && total < lim->max) {
        /* Short of idle workers: spawn at the current rate, and double it
         * for the next second if the shortage lasts (Apache spawns the
         * whole rate, not just the shortfall: a burst keeps every new
         * worker busy at once, so idle stays short until the pool fits). */
        d.spawn = ramp->rate;
        if (d.spawn > lim->max - total)
            d.spawn = lim->max - total;
        ramp->rate = ramp->rate * 2 > POOL_SPAWN_RATE_MAX ? POOL_SPAWN_RATE_MAX : ramp->rate * 2;
        ramp->surplus = 0;
        return d;
    }
    ramp->rate = 1;
    if (idle <= lim->max_spare) {
        ramp->surplus = 0;
    } else if (++ramp->surplus >= POOL_RETIRE_AFTER) {
        d.retire = idle - lim->max_spare;
        ramp->surplus = 0;
    }
    return d;
}

void backlog_reset(struct backlog_watch *w)
{
    w->head = w->len = 0;
}

uint64_t backlog_overdue(struct backlog_watch *w, int64_t now, uint64_t queued, uint64_t taken,
                         int wait_ms)
{
    /* Drop the samples older than the newest one that is at least wait_ms
     * old: that one is all the answer needs. */
    int found = -1; /* position (0 = oldest) of the newest old-enough sample */
    for (int i = 0; i < w->len; i++) {
        int k = (w->head + i) % BACKLOG_SAMPLES;
        if (now - w->s[k].ms >= wait_ms)
            found = i;
    }
    uint64_t overdue = 0;
    if (found >= 0) {
        w->head = (w->head + found) % BACKLOG_SAMPLES;
        w->len -= found;
        int k = w->head;
        uint64_t gone = taken - w->s[k].taken;
        if (w->s[k].queued > gone)
            overdue = w->s[k].queued - gone;
    }
    /* Keep samples at least wait_ms / (BACKLOG_SAMPLES / 2) apart, so the
     * ring always reaches wait_ms back however often this is called. */
    if (w->len > 0) {
        int newest = (w->head + w->len - 1) % BACKLOG_SAMPLES;
        if (now - w->s[newest].ms < wait_ms / (BACKLOG_SAMPLES / 2))
            return overdue;
    }
    if (w->len == BACKLOG_SAMPLES) {
        w->head = (w->head + 1) % BACKLOG_SAMPLES;
        w->len--;
    }
    int k = (w->head + w->len) % BACKLOG_SAMPLES;
    w->s[k].ms = now;
    w->s[k].queued = queued;
    w->s[k].taken = taken;
    w->len++;
    return overdue;
}

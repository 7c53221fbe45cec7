#include "bench/stats.h"

#include <string.h>
#include <time.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

static unsigned msb(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

size_t hist_index(uint64_t us)
{
    if (us < 2 * HIST_SUB)
        return (size_t)us;
    unsigned top = msb(us);
    if (top >= HIST_TOP_BITS)
        return HIST_BUCKETS - 1;
    unsigned shift = top - HIST_SUB_BITS; /* >= 1 */
    return (size_t)HIST_SUB * (shift + 1) + (size_t)((us >> shift) - HIST_SUB);
}

uint64_t hist_bucket_low(size_t idx)
{
    if (idx < 2 * HIST_SUB)
        return idx;
    unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
    return (uint64_t)(idx % HIST_SUB + HIST_SUB) << shift;
}

uint64_t hist_bucket_high(size_t idx)
{
    if (idx < 2 * HIST_SUB)
        return idx;
    unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
    return ((uint64_t)(idx % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->bucket[hist_index(ns / 1000)]++;
    h->count++;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    if (from->count == 0)
        return;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    if (from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    if (pct >= 100.0)
        return h->max_ns;
    /* The rank-th smallest record, rank = ceil(pct% of count), at least 1. */
    double want = pct / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen < rank)
            continue;
        /* The middle of [low, high + 1) us, in ns. */
        uint64_t v = (hist_bucket_low(i) + hist_bucket_high(i) + 1) * 500;
        if (v < h->min_ns)
            v = h->min_ns;
        if (v > h->max_ns)
            v = h->max_ns;
        return v;
    }
    return h->max_ns;
}

void pace_init(struct pace *p, double rate)
{
    p->interval = rate > 0 ? 1.0 / rate : 0.0;
    p->next = 0.0;
}

/* Timers fire a hair early or late; a start this close to its time is on it. */
#define PACE_SLACK 1e-6

double pace_take(struct pace *p, double now)
{
    if (now + PACE_SLACK < p->next)
        return p->next - now;
    if (now - p->next > p->interval)
        p->next = now; /* more than an interval late: start the schedule again */
    p->next += p->interval;
    return 0.0;
}

const char *err_kind_name(enum err_kind k)
{
    static const char *const names[ERR_KINDS] = {
        [ERR_CONNECT] = "connect",     [ERR_PORTS] = "ports",   [ERR_TIMEOUT] = "timeout",
        [ERR_BAD_REPLY] = "bad_reply", [ERR_CLOSED] = "closed", [ERR_SHORT_DATA] = "short_data",
        [ERR_LOCAL] = "local",         [ERR_TLS] = "tls",
    };
    return (unsigned)k < ERR_KINDS ? names[k] : "?";
}

uint64_t mono_ns(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid pointer; 0 keeps the
     * contract if it ever did. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bandwidth caps: the rate parser, the token bucket and one transfer's limit
 * (see ftpd/rate.h). The shared total is in rate_share.c. */
#include "ftpd/rate.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rate_parse(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"K", 1000ULL},
        {"M", 1000000ULL},
        {"G", 1000000000ULL},
        {"Ki", 1024ULL},
        {"Mi", 1024ULL * 1024},
        {"Gi", 1024ULL * 1024 * 1024},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (v > RATE_MAX / units[i].mult)
            return -1;
        *out = v * units[i].mult;
        return 0;
    }
    return -1;
}

/* ---- the token bucket ---------------------------------------------------- */

static int64_t burst_of(uint64_t rate)
{
    uint64_t b = rate / (1000 / RATE_BURST_MS);
    if (b < RATE_BURST_MIN)
        b = RATE_BURST_MIN;
    if (b > RATE_BURST_MAX)
        b = RATE_BURST_MAX;
    return (int64_t)b;
}

/* Bring the tokens up to now: rate bytes a second is rate thousandths of a
 * byte a millisecond. A long gap is cut short (100 s more than fills any
 * bucket, from any debt one slice can make), which keeps rate * dt within
 * 64 bits for every rate up to RATE_MAX. */
static void refill(struct rate_bucket *b, int64_t now_ms)
{
    int64_t dt = now_ms - b->last_ms;
    if (dt <= 0)
        return;
    if (dt > 100000)
        dt = 100000;
    int64_t full = b->burst * 1000;
    b->milli += (int64_t)b->rate * dt;
    if (b->milli > full)
        b->milli = full;
    b->last_ms = now_ms;
}

void rate_bucket_init(struct rate_bucket *b, uint64_t rate, int64_t now_ms)
{
    b->rate = rate;
    b->burst = burst_of(rate);
    b->milli = b->burst * 1000;
    b->last_ms = now_ms;
}

void rate_bucket_set_rate(struct rate_bucket *b, uint64_t rate, int64_t now_ms)
{
    if (rate == b->rate)
        return;
    if (b->rate == 0) {
        rate_bucket_init(b, rate, now_ms); /* from unlimited: a full bucket */
        return;
    }
    refill(b, now_ms);
    b->rate = rate;
    b->burst = burst_of(rate);
    if (b->milli > b->burst * 1000)
        b->milli = b->burst * 1000;
}

uint64_t rate_bucket_grant(struct rate_bucket *b, int64_t now_ms, uint64_t want, int64_t *wait_ms)
{
    *wait_ms = 0;
    if (b->rate == 0 || want == 0)
        return want;
    refill(b, now_ms);
    uint64_t slice = (uint64_t)b->burst / 2;
    if (want < slice)
        slice = want;
    int64_t need = (int64_t)slice * 1000;
    if (b->milli >= need) {
        uint64_t have = (uint64_t)(b->milli / 1000);
        return have < want ? have : want;
    }
    /* Round up: waking a millisecond early would find too little and wait
     * again for a millisecond. */
    int64_t rate = (int64_t)b->rate;
    *wait_ms = (need - b->milli + rate - 1) / rate;
    if (*wait_ms < 1)
        *wait_ms = 1;
    return 0;
}

void rate_bucket_charge(struct rate_bucket *b, uint64_t n)
{
    if (b->rate == 0)
        return;
    /* A charge never exceeds a slice the engines make (16 MiB at most):
     * the debt stays far from the edge of 64 bits. */
    b->milli -= (int64_t)n * 1000;
}

/* ---- one transfer's limit ------------------------------------------------ */

void rate_limit_init(struct rate_limit *l, uint64_t own, struct rate_share *share, int64_t now_ms)
{
    l->own = own;
    l->share = share;
    l->window = -1;
    if (share == NULL) {
        rate_bucket_init(&l->bucket, own, now_ms);
        return;
    }
    /* Under the total, start empty: a transfer that starts a moment before
     * the others would otherwise take a burst of the whole total before
     * they count in. The first slice waits for no more than it needs
     * (rate_bucket_grant), so a small file is not held up. */
    uint64_t total = rate_share_total(share);
    rate_bucket_init(&l->bucket, own > 0 && own < total ? own : total, now_ms);
    l->bucket.milli = 0;
}

bool rate_limit_on(const struct rate_limit *l)
{
    return l->own > 0 || l->share != NULL;
}

uint64_t rate_limit_grant(struct rate_limit *l, int64_t now_ms, uint64_t want, int64_t *wait_ms)
{
    if (l->share != NULL) {
        /* Fair: every running transfer gets the same part of the total
         * (a transfer capped lower, or held back by its client, leaves the
         * rest of its part unused). */
        rate_share_count_in(l->share, now_ms, &l->window);
        uint64_t part = rate_share_total(l->share) / rate_share_running(l->share, now_ms);
        if (part == 0)
            part = 1;
        rate_bucket_set_rate(&l->bucket, l->own > 0 && l->own < part ? l->own : part, now_ms);
    }
    return rate_bucket_grant(&l->bucket, now_ms, want, wait_ms);
}

void rate_limit_charge(struct rate_limit *l, uint64_t n)
{
    rate_bucket_charge(&l->bucket, n);
}

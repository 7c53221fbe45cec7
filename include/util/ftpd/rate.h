/* Bandwidth caps (max_rate_download, max_rate_upload, max_rate_total).
 *
 * A transfer runs under one struct rate_limit: a token bucket at the
 * session's cap for its direction, lowered to its fair part of the server's
 * total when there is one. Everything here is arithmetic on a time the
 * caller passes in (clock_ms()), so the unit tests inject it; the transfer
 * engines decide how to wait (net/xfer_blocking.c, net/xfer_evented.c).
 *
 * The total (struct rate_share) lives in memory mapped MAP_SHARED before
 * any fork and is updated with lock-free atomics only, so the threads of one
 * process and the processes of a prefork or hybrid server all share it. */
#ifndef FTPD_RATE_H
#define FTPD_RATE_H

#include <stdbool.h>
#include <stdint.h>

/* Largest rate accepted (1 TB/s): keeps rate * milliseconds in 64 bits. */
#define RATE_MAX 1000000000000ULL

/* A bucket holds at most this much time of its rate (100 ms), within
 * RATE_BURST_MIN..RATE_BURST_MAX bytes. The burst bounds how far a transfer
 * runs ahead of its cap (0.1 s of it: 1% over 10 s), and half a burst is
 * the smallest slice a throttled transfer waits for, so it wakes about 20
 * times a second at most, and a fast cap still hands sendfile/splice slices
 * of megabytes. */
#define RATE_BURST_MS  100
#define RATE_BURST_MIN (8 * 1024)
#define RATE_BURST_MAX (16 * 1024 * 1024)

/* A rate from the config or the users file: a decimal number of bytes per
 * second, optionally followed by K, M or G (1000, 1000^2, 1000^3: "1M" is
 * 1,000,000 B/s) or Ki, Mi, Gi (1024^n). 0 means unlimited. Returns 0, or
 * -1 when s is not such a number or exceeds RATE_MAX. */
int rate_parse(const char *s, uint64_t *out);

/* ---- the token bucket ---------------------------------------------------- */

struct rate_bucket {
    uint64_t rate;   /* bytes per second; 0 = unlimited */
    int64_t burst;   /* most bytes it holds */
    int64_t milli;   /* tokens, in thousandths of a byte; negative: a debt
                        (a slice larger than the grant, charged in full) */
    int64_t last_ms; /* when milli was last brought up to date */
};

/* A bucket at rate (0 = unlimited), full. */
void rate_bucket_init(struct rate_bucket *b, uint64_t rate, int64_t now_ms);
/* Change the rate from now on; what accrued until now accrued at the old
 * one. Tokens above the new burst are dropped. */
void rate_bucket_set_rate(struct rate_bucket *b, uint64_t rate, int64_t now_ms);
/* How many of want bytes may go now (all of them when unlimited). 0 when
 * fewer than a slice (half a burst, or want if smaller) have accrued:
 * *wait_ms is then how long until they will have (at least 1). */
uint64_t rate_bucket_grant(struct rate_bucket *b, int64_t now_ms, uint64_t want, int64_t *wait_ms);
/* n bytes went: take them from the bucket (it may go into debt). */
void rate_bucket_charge(struct rate_bucket *b, uint64_t n);

/* ---- the server's total, shared ------------------------------------------ */

/* How long a transfer counts as running after it last asked for bytes: it
 * counts itself once per window, and the number of running transfers is the
 * larger of this window's count and the last one's. A transfer that ended,
 * or whose process died, stops counting within two windows: no clean-up
 * path, nothing to leak. */
#define RATE_SHARE_WINDOW_MS 500

struct rate_share;

/* The total in new shared memory (mmap MAP_SHARED | MAP_ANONYMOUS): make it
 * before fork() and every child shares it. NULL with errno on failure. */
struct rate_share *rate_share_new(uint64_t total);
void rate_share_free(struct rate_share *s);
uint64_t rate_share_total(const struct rate_share *s);
/* Count a transfer in the window of now_ms, once per window: *window is
 * the transfer's own note of the last window it counted itself in (start
 * it at -1). */
void rate_share_count_in(struct rate_share *s, int64_t now_ms, int64_t *window);
/* Transfers running at now_ms (at least 1). */
uint32_t rate_share_running(struct rate_share *s, int64_t now_ms);

/* ---- one transfer's limit ------------------------------------------------ */

struct rate_limit {
    struct rate_bucket bucket;
    uint64_t own;             /* the session's cap for this direction; 0 = none */
    struct rate_share *share; /* the server's total; NULL = none */
    int64_t window;           /* for rate_share_count_in */
};

/* own: bytes/s, 0 = no cap of its own; share: NULL = no total. The bucket
 * starts full, or empty under a total (see rate.c). */
void rate_limit_init(struct rate_limit *l, uint64_t own, struct rate_share *share, int64_t now_ms);
/* Is there any cap at all? When not, the engines skip the limit. */
bool rate_limit_on(const struct rate_limit *l);
/* The bucket's grant (above), at min(own, total / running transfers). */
uint64_t rate_limit_grant(struct rate_limit *l, int64_t now_ms, uint64_t want, int64_t *wait_ms);
void rate_limit_charge(struct rate_limit *l, uint64_t n);

#endif

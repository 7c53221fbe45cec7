/* Latency histogram with bounded memory, error kinds, and the clock.
 *
 * The histogram is log-linear (HDR style) over microseconds: values below
 * 2 * HIST_SUB us have a bucket each, and every later power of two is cut
 * into HIST_SUB equal buckets, so a bucket is at most 1/HIST_SUB (0.8 %)
 * wide relative to its values. Up to 2^HIST_TOP_BITS us (134 s) in 21 KiB;
 * longer values land in the last bucket (the exact maximum is kept apart). */
#ifndef FTPBENCH_STATS_H
#define FTPBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_TOP_BITS 27
#define HIST_BUCKETS  (HIST_SUB * (HIST_TOP_BITS - HIST_SUB_BITS + 1))

struct hist {
    uint64_t count;
    uint64_t min_ns, max_ns;
    uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* The value (ns) below or at which pct percent of the records lie: the
 * middle of its bucket, clamped to the exact minimum and maximum. 0 when
 * empty; pct 100 gives the maximum. */
uint64_t hist_percentile(const struct hist *h, double pct);
/* Add every record of from to into (the histograms of several processes
 * made one, as if one process had recorded them all). */
void hist_merge(struct hist *into, const struct hist *from);

/* Bucket of a value in microseconds, and the values a bucket holds. */
size_t hist_index(uint64_t us);
uint64_t hist_bucket_low(size_t idx);
uint64_t hist_bucket_high(size_t idx);

/* A rate cap (sessions per second): start times at least 1/rate apart,
 * on a schedule. A start that comes late (a busy loop) keeps the schedule
 * as long as it is less than one interval behind, so the rate holds; after
 * a longer pause the schedule starts again from now, so there is no burst
 * to catch up. Times in seconds, any origin. */
struct pace {
    double interval; /* 1 / rate */
    double next;     /* the earliest time of the next start */
};

void pace_init(struct pace *p, double rate);
/* 0 when a start may happen at now (it is taken), else how long to wait. */
double pace_take(struct pace *p, double now);

/* What went wrong, for the error breakdown. */
enum err_kind {
    ERR_CONNECT,    /* connect refused or failed (control or data) */
    ERR_PORTS,      /* EADDRNOTAVAIL: local ports exhausted */
    ERR_TIMEOUT,    /* no progress for --timeout, or unfinished at the end */
    ERR_BAD_REPLY,  /* unexpected or malformed reply */
    ERR_CLOSED,     /* the server closed or reset the connection */
    ERR_SHORT_DATA, /* RETR byte count differs from the expected size, or a STOR's
                       final reply came before all its data was sent */
    ERR_LOCAL,      /* a local failure: descriptors, memory */
    ERR_TLS,        /* --tls: a failed handshake, an alert, a bad record */
    ERR_KINDS
};

const char *err_kind_name(enum err_kind k);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t mono_ns(void);

#endif

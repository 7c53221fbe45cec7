/* Bandwidth caps (ftpd/rate.h): the rate parser, the token bucket's
 * arithmetic with the time injected (no sleeps), the shared total's count
 * of running transfers, and one transfer's limit under both. */
#include <pthread.h>
#include <stdint.h>

#include "ftpd/rate.h"
#include "unit.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the parser ------------------------------------------------------- */

static const struct {
    const char *text;
    int rc;
    uint64_t value;
} parse_cases[] = {
    {"0", 0, 0},
    {"1000000", 0, 1000000},
    {"512K", 0, 512000},
    {"1M", 0, 1000000},
    {"2G", 0, 2000000000},
    {"1Ki", 0, 1024},
    {"2Mi", 0, 2 * 1024 * 1024},
    {"1Gi", 0, 1024ULL * 1024 * 1024},
    {"1000G", 0, RATE_MAX},
    {"1001G", -1, 0},
    {"1000000000001", -1, 0},
    {"99999999999999999999999", -1, 0},
    {"", -1, 0},
    {"-1", -1, 0},
    {"+1", -1, 0},
    {" 1", -1, 0},
    {"1 ", -1, 0},
    {"1.5M", -1, 0},
    {"1m", -1, 0},
    {"1MB", -1, 0},
    {"M", -1, 0},
};

START_TEST(parse)
{
    uint64_t v = 7;
    int rc = rate_parse(parse_cases[_i].text, &v);
    ck_assert_msg(rc == parse_cases[_i].rc, "'%s': rc %d", parse_cases[_i].text, rc);
    if (rc == 0)
        ck_assert_uint_eq(v, parse_cases[_i].value);
    else
        ck_assert_uint_eq(v, 7); /* untouched */
}
END_TEST

/* ---- the bucket -------------------------------------------------------- */

START_TEST(unlimited_grants_everything)
{
    struct rate_bucket b;
    int64_t wait = -1;
    rate_bucket_init(&b, 0, 1000);
    ck_assert_uint_eq(rate_bucket_grant(&b, 1000, 123456789, &wait), 123456789);
    ck_assert_int_eq(wait, 0);
    rate_bucket_charge(&b, 123456789);
    ck_assert_uint_eq(rate_bucket_grant(&b, 1000, 5, &wait), 5);
}
END_TEST

START_TEST(starts_full_then_waits_for_a_slice)
{
    /* 1 MB/s: a burst of 100 ms (100,000 bytes), slices of 50,000. */
    struct rate_bucket b;
    int64_t wait = -1;
    rate_bucket_init(&b, 1000000, 0);
    ck_assert_int_eq(b.burst, 100000);
    ck_assert_uint_eq(rate_bucket_grant(&b, 0, 1 << 30, &wait), 100000);
    ck_assert_uint_eq(rate_bucket_grant(&b, 0, 300, &wait), 300); /* a grant takes nothing */
    rate_bucket_charge(&b, 100000);
    /* Empty: half a burst takes 50 ms at 1 MB/s. */
    ck_assert_uint_eq(rate_bucket_grant(&b, 0, 1 << 30, &wait), 0);
    ck_assert_int_eq(wait, 50);
    ck_assert_uint_eq(rate_bucket_grant(&b, 49, 1 << 30, &wait), 0);
    ck_assert_int_eq(wait, 1);
    ck_assert_uint_eq(rate_bucket_grant(&b, 50, 1 << 30, &wait), 50000);
    /* A small want waits only for itself: 1,000 bytes is 1 ms. */
    rate_bucket_charge(&b, 50000);
    ck_assert_uint_eq(rate_bucket_grant(&b, 50, 1000, &wait), 0);
    ck_assert_int_eq(wait, 1);
    ck_assert_uint_eq(rate_bucket_grant(&b, 51, 1000, &wait), 1000);
    /* Never more than a burst, however long the pause. */
    ck_assert_uint_eq(rate_bucket_grant(&b, 1000000, 1 << 30, &wait), 100000);
}
END_TEST

START_TEST(fractions_of_a_byte_accrue)
{
    /* 1,500 B/s is 1.5 bytes a millisecond: nothing may be lost to
     * rounding, or a low rate would run slow. */
    struct rate_bucket b;
    int64_t wait;
    rate_bucket_init(&b, 1500, 0);
    rate_bucket_charge(&b, (uint64_t)b.burst);
    for (int64_t t = 1; t <= 1000; t++)
        (void)rate_bucket_grant(&b, t, 1 << 30, &wait); /* refill in 1 ms steps */
    ck_assert_int_eq(b.milli, 1500 * 1000);
}
END_TEST

START_TEST(debt_is_paid_back)
{
    /* A slice larger than the grant (an engine that wrote a whole chunk)
     * is charged in full: the next grant waits for the debt too. */
    struct rate_bucket b;
    int64_t wait;
    rate_bucket_init(&b, 1000000, 0);
    rate_bucket_charge(&b, 100000 + 200000); /* 200 ms worth of debt */
    ck_assert_uint_eq(rate_bucket_grant(&b, 0, 1 << 30, &wait), 0);
    ck_assert_int_eq(wait, 250); /* the debt, then half a burst */
    ck_assert_uint_eq(rate_bucket_grant(&b, 250, 1 << 30, &wait), 50000);
}
END_TEST

START_TEST(rate_change_keeps_what_accrued)
{
    struct rate_bucket b;
    int64_t wait;
    rate_bucket_init(&b, 1000000, 0);
    rate_bucket_charge(&b, 100000);
    /* 20 ms at 1 MB/s (20,000), then 30 ms at 2 MB/s (60,000). */
    rate_bucket_set_rate(&b, 2000000, 20);
    ck_assert_int_eq(b.burst, 200000);
    ck_assert_uint_eq(rate_bucket_grant(&b, 50, 80000, &wait), 80000);
    /* Down to 50 KB/s: the tokens above the new burst go (5,000 bytes,
     * 100 ms of it, is under the floor). */
    rate_bucket_set_rate(&b, 50000, 50);
    ck_assert_int_eq(b.burst, RATE_BURST_MIN);
    ck_assert_uint_eq(rate_bucket_grant(&b, 50, 1 << 30, &wait), RATE_BURST_MIN);
    /* From unlimited: a full bucket at the new rate. */
    rate_bucket_init(&b, 0, 0);
    rate_bucket_set_rate(&b, 1000000, 7);
    ck_assert_uint_eq(rate_bucket_grant(&b, 7, 1 << 30, &wait), 100000);
}
END_TEST

START_TEST(burst_bounds)
{
    struct rate_bucket b;
    rate_bucket_init(&b, 1000, 0);
    ck_assert_int_eq(b.burst, RATE_BURST_MIN);
    rate_bucket_init(&b, RATE_MAX, 0);
    ck_assert_int_eq(b.burst, RATE_BURST_MAX);
    /* The largest rate over the longest gap stays within 64 bits. */
    int64_t wait;
    rate_bucket_charge(&b, RATE_BURST_MAX);
    ck_assert_uint_eq(rate_bucket_grant(&b, INT64_C(1) << 40, UINT64_MAX / 2, &wait),
                      RATE_BURST_MAX);
}
END_TEST

/* An engine's loop, simulated: move what is granted (at most `slice` a
 * round, as a socket would take), sleep for what the bucket says. Returns
 * the bytes moved in `ms` milliseconds; *wakeups counts the rounds. */
static uint64_t simulate(struct rate_limit *l, int64_t start, int64_t ms, uint64_t slice,
                         unsigned *wakeups)
{
    uint64_t moved = 0;
    *wakeups = 0;
    for (int64_t now = start; now < start + ms;) {
        int64_t wait;
        uint64_t n = rate_limit_grant(l, now, slice, &wait);
        ++*wakeups;
        if (n == 0) {
            now += wait;
            continue;
        }
        rate_limit_charge(l, n);
        moved += n;
    }
    return moved;
}

START_TEST(ten_seconds_at_1mb)
{
    /* The integration test's figure, without a clock: 1 MB/s over 10 s is
     * 10 MB plus the first burst (0.1 s: 1%), in big slices (sendfile's
     * 16 MiB, a 64 KiB read) alike, in about 20 wake-ups a second. */
    static const uint64_t slices[] = {16 * 1024 * 1024, 64 * 1024, 1000};
    for (size_t i = 0; i < ARRAY_LEN(slices); i++) {
        struct rate_limit l;
        unsigned wakeups;
        rate_limit_init(&l, 1000000, NULL, 5000);
        ck_assert(rate_limit_on(&l));
        uint64_t moved = simulate(&l, 5000, 10000, slices[i], &wakeups);
        ck_assert_msg(moved >= 10000000 && moved <= 10100000 + slices[i], "slice %llu: %llu",
                      (unsigned long long)slices[i], (unsigned long long)moved);
        if (slices[i] >= 50000)
            ck_assert_uint_le(wakeups, 2 * 10 * 20 + 2);
    }
}
END_TEST

/* ---- the shared total --------------------------------------------------- */

START_TEST(share_counts_running_transfers)
{
    struct rate_share *s = rate_share_new(4000000);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(rate_share_total(s), 4000000);
    ck_assert_uint_eq(rate_share_running(s, 0), 1); /* at least 1 */
    int64_t w[4] = {-1, -1, -1, -1};
    int64_t t = 10 * RATE_SHARE_WINDOW_MS;
    for (int i = 0; i < 4; i++)
        rate_share_count_in(s, t, &w[i]);
    ck_assert_uint_eq(rate_share_running(s, t), 4);
    /* Counting again in the same window counts nobody twice. */
    for (int i = 0; i < 4; i++)
        rate_share_count_in(s, t + 1, &w[i]);
    ck_assert_uint_eq(rate_share_running(s, t + 1), 4);
    /* Next window: two keep going; the last window's four still count
     * until this one is over. */
    t += RATE_SHARE_WINDOW_MS;
    rate_share_count_in(s, t, &w[0]);
    rate_share_count_in(s, t, &w[1]);
    ck_assert_uint_eq(rate_share_running(s, t), 4);
    t += RATE_SHARE_WINDOW_MS;
    rate_share_count_in(s, t, &w[0]);
    ck_assert_uint_eq(rate_share_running(s, t), 2);
    /* Nobody for two windows: nobody runs (a killed worker's transfers
     * drop out the same way). */
    t += 2 * RATE_SHARE_WINDOW_MS;
    ck_assert_uint_eq(rate_share_running(s, t), 1);
    rate_share_free(s);
}
END_TEST

START_TEST(share_is_split_fairly)
{
    /* 4 MB/s among 4 transfers stepped in turn: 1 MB/s each, the first
     * to start no better off than the last (each +-2%), the sum within
     * 1% of the cap. */
    struct rate_share *s = rate_share_new(4000000);
    ck_assert_ptr_nonnull(s);
    struct rate_limit l[4];
    uint64_t moved[4] = {0};
    int64_t next[4];
    for (int i = 0; i < 4; i++) {
        rate_limit_init(&l[i], 0, s, 0);
        ck_assert(rate_limit_on(&l[i]));
        next[i] = 0;
    }
    for (int64_t now = 0; now < 10000; now++) {
        for (int i = 0; i < 4; i++) {
            if (now < next[i])
                continue;
            int64_t wait;
            uint64_t n = rate_limit_grant(&l[i], now, 1 << 20, &wait);
            if (n == 0) {
                next[i] = now + wait;
                continue;
            }
            rate_limit_charge(&l[i], n);
            moved[i] += n;
        }
    }
    uint64_t sum = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(moved[i] >= 9800000 && moved[i] <= 10200000, "transfer %d: %llu", i,
                      (unsigned long long)moved[i]);
        sum += moved[i];
    }
    ck_assert_uint_ge(sum, 39600000);
    ck_assert_uint_le(sum, 40400000);
    rate_share_free(s);
}
END_TEST

START_TEST(own_cap_below_the_share_wins)
{
    struct rate_share *s = rate_share_new(4000000);
    struct rate_limit l;
    unsigned wakeups;
    rate_limit_init(&l, 1000000, s, 0);
    ck_assert_uint_le(simulate(&l, 0, 10000, 1 << 20, &wakeups), 10100000);
    ck_assert_uint_eq(l.bucket.rate, 1000000);
    /* No cap of its own: the whole total, as it runs alone; under a
     * total the bucket starts empty (no first burst). */
    rate_limit_init(&l, 0, s, 20000);
    uint64_t moved = simulate(&l, 20000, 10000, 1 << 20, &wakeups);
    ck_assert_uint_ge(moved, 40000000 - 400000);
    ck_assert_uint_le(moved, 40000000);
    /* No cap at all: the engines skip the limit. */
    rate_limit_init(&l, 0, NULL, 0);
    ck_assert(!rate_limit_on(&l));
    rate_share_free(s);
}
END_TEST

/* Threads counting in at once (run under TSan in CI): no count lost. */
struct counter_arg {
    struct rate_share *s;
    int64_t now;
};

static void *count_many(void *p)
{
    struct counter_arg *a = p;
    for (int i = 0; i < 1000; i++) {
        int64_t w = -1;
        rate_share_count_in(a->s, a->now, &w);
    }
    return NULL;
}

START_TEST(share_counts_from_threads)
{
    struct rate_share *s = rate_share_new(1000);
    struct counter_arg a = {s, 77 * RATE_SHARE_WINDOW_MS};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, count_many, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(rate_share_running(s, a.now), 4000);
    rate_share_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("rate");
    TCase *tc = tcase_create("rate");
    tcase_add_loop_test(tc, parse, 0, ARRAY_LEN(parse_cases));
    tcase_add_test(tc, unlimited_grants_everything);
    tcase_add_test(tc, starts_full_then_waits_for_a_slice);
    tcase_add_test(tc, fractions_of_a_byte_accrue);
    tcase_add_test(tc, debt_is_paid_back);
    tcase_add_test(tc, rate_change_keeps_what_accrued);
    tcase_add_test(tc, burst_bounds);
    tcase_add_test(tc, ten_seconds_at_1mb);
    tcase_add_test(tc, share_counts_running_transfers);
    tcase_add_test(tc, share_is_split_fairly);
    tcase_add_test(tc, own_cap_below_the_share_wins);
    tcase_add_test(tc, share_counts_from_threads);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

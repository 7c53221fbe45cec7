/* The pool policy (arch/common/pool.c): Apache prefork's arithmetic of
 * spare workers, the exponential spawn ramp, retiring the excess, and how
 * many connections have waited too long in a queue. Pure functions: the
 * clock is an argument. */
#include "arch/common/pool.h"
#include "unit.h"

static const struct pool_limits lim = {.min_spare = 5, .max_spare = 10, .max = 256};

START_TEST(ramp_doubles_while_short)
{
    struct pool_ramp ramp = {0};
    /* Every worker busy, second after second: 1, 2, 4, ... 32, 32. */
    static const int want[] = {1, 2, 4, 8, 16, 32, 32, 32};
    int total = 5;
    for (int s = 0; s < 8; s++) {
        struct pool_decision d = pool_decide(&lim, &ramp, total, 0, 1000 + s * 1000);
        ck_assert_int_eq(d.spawn, want[s]);
        ck_assert_int_eq(d.retire, 0);
        total += d.spawn;
        /* Asked again within the same second: nothing more. */
        d = pool_decide(&lim, &ramp, total, 0, 1000 + s * 1000 + 999);
        ck_assert_int_eq(d.spawn, 0);
    }
}
END_TEST

START_TEST(ramp_resets_when_the_shortage_ends)
{
    struct pool_ramp ramp = {0};
    ck_assert_int_eq(pool_decide(&lim, &ramp, 5, 0, 0).spawn, 1);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 6, 0, 1000).spawn, 2);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 8, 0, 2000).spawn, 4);
    /* Enough idle workers for a second: the next shortage starts at 1. */
    struct pool_decision d = pool_decide(&lim, &ramp, 12, 6, 3000);
    ck_assert_int_eq(d.spawn, 0);
    ck_assert_int_eq(d.retire, 0);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 12, 4, 4000).spawn, 1);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 13, 4, 5000).spawn, 2);
}
END_TEST

START_TEST(never_past_max_workers)
{
    struct pool_limits small = {.min_spare = 5, .max_spare = 10, .max = 20};
    struct pool_ramp ramp = {.rate = 32};
    ramp.started = true;
    ramp.last_ms = 0;
    ck_assert_int_eq(pool_decide(&small, &ramp, 17, 0, 1000).spawn, 3);
    ck_assert_int_eq(pool_decide(&small, &ramp, 20, 0, 2000).spawn, 0);
    ck_assert_int_eq(pool_decide(&small, &ramp, 20, 2, 3000).spawn, 0);
}
END_TEST

START_TEST(retires_idle_above_max_spare)
{
    struct pool_ramp ramp = {0};
    /* Too many idle: the first second waits (a pause between bursts), the
     * second retires the whole excess. */
    struct pool_decision d = pool_decide(&lim, &ramp, 70, 64, 0);
    ck_assert_int_eq(d.spawn, 0);
    ck_assert_int_eq(d.retire, 0);
    d = pool_decide(&lim, &ramp, 70, 64, 1000);
    ck_assert_int_eq(d.spawn, 0);
    ck_assert_int_eq(d.retire, 54);
    d = pool_decide(&lim, &ramp, 16, 10, 2000); /* at max_spare: keep */
    ck_assert_int_eq(d.retire, 0);
    d = pool_decide(&lim, &ramp, 16, 5, 3000); /* at min_spare: nothing */
    ck_assert_int_eq(d.spawn, 0);
    ck_assert_int_eq(d.retire, 0);
}
END_TEST

START_TEST(a_short_pause_keeps_the_pool)
{
    struct pool_ramp ramp = {0};
    /* Idle for one decision between two bursts: nothing retired. */
    ck_assert_int_eq(pool_decide(&lim, &ramp, 64, 64, 0).retire, 0);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 64, 3, 1000).spawn, 1);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 65, 64, 2000).retire, 0);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 65, 8, 3000).retire, 0);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 65, 64, 4000).retire, 0);
    ck_assert_int_eq(pool_decide(&lim, &ramp, 65, 64, 5000).retire, 54);
}
END_TEST

START_TEST(no_min_spare_means_a_fixed_pool)
{
    struct pool_limits fixed = {.min_spare = 0, .max_spare = 4096, .max = 8};
    struct pool_ramp ramp = {0};
    struct pool_decision d = pool_decide(&fixed, &ramp, 8, 0, 0);
    ck_assert_int_eq(d.spawn, 0);
    ck_assert_int_eq(d.retire, 0);
}
END_TEST

START_TEST(backlog_stuck_queue_is_overdue_after_the_wait)
{
    struct backlog_watch w = {0};
    /* Three connections wait, nobody takes any. */
    ck_assert_uint_eq(backlog_overdue(&w, 0, 3, 100, 500), 0);
    ck_assert_uint_eq(backlog_overdue(&w, 100, 3, 100, 500), 0);
    ck_assert_uint_eq(backlog_overdue(&w, 400, 3, 100, 500), 0);
    ck_assert_uint_eq(backlog_overdue(&w, 500, 3, 100, 500), 3);
    /* The watcher refused them (taken +3); two newcomers since. */
    ck_assert_uint_eq(backlog_overdue(&w, 600, 2, 103, 500), 0);
}
END_TEST

START_TEST(backlog_moving_queue_is_not_overdue)
{
    struct backlog_watch w = {0};
    /* 700 waiting, but the workers take 1,000 in half a second: everyone
     * waiting then has been served since (login at 1,024 clients). */
    uint64_t taken = 0;
    for (int t = 0; t <= 2000; t += 100) {
        ck_assert_uint_eq(backlog_overdue(&w, t, 700, taken, 500), 0);
        taken += 200;
    }
}
END_TEST

START_TEST(backlog_slow_queue_refuses_the_oldest_part)
{
    struct backlog_watch w = {0};
    ck_assert_uint_eq(backlog_overdue(&w, 0, 10, 0, 500), 0);
    /* Half a second later 4 of those 10 were taken: 6 waited too long. */
    ck_assert_uint_eq(backlog_overdue(&w, 500, 8, 4, 500), 6);
    backlog_reset(&w);
    ck_assert_uint_eq(backlog_overdue(&w, 600, 8, 10, 500), 0);
}
END_TEST

START_TEST(backlog_keeps_few_samples)
{
    struct backlog_watch w = {0};
    for (int t = 0; t < 100000; t += 10)
        backlog_overdue(&w, t, 0, 0, 500);
    ck_assert_int_le(w.len, BACKLOG_SAMPLES);
    /* Sampled every 10 ms, the ring thins out but still answers. */
    ck_assert_uint_eq(backlog_overdue(&w, 100000, 5, 0, 500), 0);
    for (int t = 100010; t < 100600; t += 10)
        backlog_overdue(&w, t, 5, 0, 500);
    ck_assert_uint_eq(backlog_overdue(&w, 100600, 5, 0, 500), 5);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, ramp_doubles_while_short);
    tcase_add_test(tc, ramp_resets_when_the_shortage_ends);
    tcase_add_test(tc, never_past_max_workers);
    tcase_add_test(tc, retires_idle_above_max_spare);
    tcase_add_test(tc, a_short_pause_keeps_the_pool);
    tcase_add_test(tc, no_min_spare_means_a_fixed_pool);
    tcase_add_test(tc, backlog_stuck_queue_is_overdue_after_the_wait);
    tcase_add_test(tc, backlog_moving_queue_is_not_overdue);
    tcase_add_test(tc, backlog_slow_queue_refuses_the_oldest_part);
    tcase_add_test(tc, backlog_keeps_few_samples);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The master of prefork and hybrid (arch/common/supervisor.c): workers are
 * forked, reaped and respawned, a crash loop pauses respawning, the set
 * can grow and shrink, a dead worker's admission slots are freed. Real
 * forks: the workers are tiny functions of this test. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "arch/common/supervisor.h"
#include "ftpd/clock.h"
#include "ftpd/config.h"
#include "unit.h"

static struct ftpd_config cfg;
static struct ftpd_server srv;
static sigset_t old_mask;

static void setup(void)
{
    config_defaults(&cfg);
    srv = (struct ftpd_server){.cfg = &cfg, .root_fd = -1};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &old_mask), 0);
}

static void teardown(void)
{
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

static int exit_at_once(const struct ftpd_server *s, int index, void *arg)
{
    return 3;
}

/* Runs until SIGTERM (blocked, inherited): a worker that serves on. */
static int until_sigterm(const struct ftpd_server *s, int index, void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    int sig;
    sigwait(&set, &sig);
    return 0;
}

/* Takes an admission slot and dies without releasing it. */
static int crash_holding_a_slot(const struct ftpd_server *s, int index, void *arg)
{
    union sockaddr_any peer;
    sockaddr_parse("127.0.0.1", 1, &peer);
    enum refusal why;
    admission_admit(arg, &peer, getpid(), &why);
    return 1;
}

static struct supervisor make(worker_main fn, void *arg, struct admission *adm)
{
    return (struct supervisor){
        .srv = &srv,
        .worker = fn,
        .arg = arg,
        .adm = adm,
        .events = {.fd = -1},
    };
}

static int running(const struct supervisor *s)
{
    int n = 0;
    for (int i = 0; i < s->cap; i++)
        n += s->w[i].pid > 0;
    return n;
}

/* Reap until no worker runs, or 5 s. */
static void reap_all(struct supervisor *s)
{
    int64_t until = clock_ms() + 5000;
    while (running(s) > 0 && clock_ms() < until) {
        workers_reap(s, clock_ms());
        usleep(2000);
    }
    ck_assert_int_eq(running(s), 0);
}

START_TEST(guard_pauses_a_crash_loop)
{
    struct respawn_guard g = {0};
    int64_t t = 100000;
    for (int i = 0; i < RESPAWN_BURST; i++) {
        respawn_guard_death(&g, t, t - 10);
        ck_assert(respawn_guard_allows(&g, t));
    }
    respawn_guard_death(&g, t, t - 10); /* one too many */
    ck_assert(!respawn_guard_allows(&g, t));
    ck_assert(!respawn_guard_allows(&g, t + RESPAWN_WINDOW_MS - 1));
    ck_assert(respawn_guard_allows(&g, t + RESPAWN_WINDOW_MS));
}
END_TEST

START_TEST(guard_forgets_after_a_long_life)
{
    struct respawn_guard g = {0};
    int64_t t = 100000;
    for (int i = 0; i < RESPAWN_BURST; i++)
        respawn_guard_death(&g, t, t - 10);
    /* A worker that lived a while resets the count. */
    respawn_guard_death(&g, t, t - RESPAWN_WINDOW_MS);
    for (int i = 0; i < RESPAWN_BURST; i++)
        respawn_guard_death(&g, t, t - 10);
    ck_assert(respawn_guard_allows(&g, t));
}
END_TEST

START_TEST(dead_workers_are_respawned_then_paused)
{
    struct supervisor s = make(exit_at_once, NULL, NULL);
    ck_assert_int_eq(workers_resize(&s, 2), 0);
    int forks = 0;
    for (int round = 0; round < 20 && respawn_guard_allows(&s.guard, clock_ms()); round++) {
        workers_respawn(&s, clock_ms());
        forks += running(&s);
        ck_assert_int_eq(workers_alive(&s), 2);
        reap_all(&s);
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(s.w[i].pid, -1); /* waiting for a respawn */
    }
    /* Each death right after its start counts: after RESPAWN_BURST of them
     * respawning pauses instead of fork-bombing. */
    ck_assert(!respawn_guard_allows(&s.guard, clock_ms()));
    ck_assert_int_le(forks, RESPAWN_BURST + 2);
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(running(&s), 0);
    workers_free(&s);
}
END_TEST

START_TEST(resize_grows_and_shrinks)
{
    struct supervisor s = make(until_sigterm, NULL, NULL);
    ck_assert_int_eq(workers_resize(&s, 1), 0);
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(running(&s), 1);
    pid_t first = s.w[0].pid;

    ck_assert_int_eq(workers_resize(&s, 3), 0);
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(running(&s), 3);
    ck_assert_int_eq(s.w[0].pid, first); /* the running one is kept */

    /* Shrinking stops the workers above the target; they are reaped and
     * not replaced. */
    ck_assert_int_eq(workers_resize(&s, 1), 0);
    int64_t until = clock_ms() + 5000;
    while (running(&s) > 1 && clock_ms() < until) {
        workers_reap(&s, clock_ms());
        workers_respawn(&s, clock_ms());
        usleep(2000);
    }
    ck_assert_int_eq(running(&s), 1);
    ck_assert_int_eq(s.w[0].pid, first);
    ck_assert_int_eq(workers_alive(&s), 1);

    /* A stop: nothing is respawned, and alive counts only the running. */
    s.stops = 1;
    workers_signal(&s, SIGTERM);
    reap_all(&s);
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(workers_alive(&s), 0);
    workers_free(&s);
}
END_TEST

/* The adaptive pool's moves: add workers into unused slots, retire one
 * (not replaced when it exits), and a worker killed meanwhile is. */
START_TEST(add_retire_and_replace)
{
    struct supervisor s = make(until_sigterm, NULL, NULL);
    ck_assert_int_eq(workers_resize(&s, 4), 0);
    for (int i = 1; i < 4; i++)
        s.w[i].pid = 0; /* as supervise() leaves the slots above nworkers */
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(running(&s), 1);

    ck_assert_int_eq(workers_add(&s, 2), 2);
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(running(&s), 3);
    ck_assert_int_eq(workers_add(&s, 5), 1); /* one unused slot left */
    workers_respawn(&s, clock_ms());
    ck_assert_int_eq(running(&s), 4);

    /* Slot 3 retires (here: told by SIGTERM), slot 1 is killed. */
    pid_t killed = s.w[1].pid;
    workers_retire(&s, 3);
    kill(s.w[3].pid, SIGTERM);
    kill(killed, SIGKILL);
    int64_t until = clock_ms() + 5000;
    while ((s.w[3].pid != 0 || s.w[1].pid == killed) && clock_ms() < until) {
        workers_reap(&s, clock_ms());
        usleep(2000);
    }
    ck_assert_int_eq(s.w[3].pid, 0);  /* unused again */
    ck_assert_int_eq(s.w[1].pid, -1); /* to be replaced */
    workers_respawn(&s, clock_ms());
    ck_assert_int_gt(s.w[1].pid, 0);
    ck_assert_int_ne(s.w[1].pid, killed);
    ck_assert_int_eq(running(&s), 3);

    s.stops = 1;
    workers_signal(&s, SIGTERM);
    reap_all(&s);
    workers_free(&s);
}
END_TEST

START_TEST(dead_worker_slots_are_freed)
{
    struct admission *adm = admission_new(8, 0);
    struct supervisor s = make(crash_holding_a_slot, adm, adm);
    ck_assert_int_eq(workers_resize(&s, 2), 0);
    workers_respawn(&s, clock_ms());
    reap_all(&s);
    ck_assert_int_eq(admission_active(adm), 0);
    workers_free(&s);
    admission_free(adm);
}
END_TEST

START_TEST(worker_count_default)
{
    cfg.workers = 3;
    ck_assert_int_eq(worker_count(&cfg), 3);
    cfg.workers = 0;
    ck_assert_int_ge(worker_count(&cfg), 1);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("supervisor");
    TCase *tc = tcase_create("supervisor");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, guard_pauses_a_crash_loop);
    tcase_add_test(tc, guard_forgets_after_a_long_life);
    tcase_add_test(tc, dead_workers_are_respawned_then_paused);
    tcase_add_test(tc, resize_grows_and_shrinks);
    tcase_add_test(tc, add_retire_and_replace);
    tcase_add_test(tc, dead_worker_slots_are_freed);
    tcase_add_test(tc, worker_count_default);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* Control events (arch/common/events.c): every signal a process acts on
 * arrives through one signalfd, and stops count. */
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "arch/common/events.h"
#include "unit.h"

static sigset_t old_mask;

/* As main() does: the signals are blocked before anything reads them. */
static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &old_mask), 0);
}

static void restore_signals(void)
{
    /* Drop whatever a test left pending before unblocking. */
    struct ctl_events ev;
    if (ctl_events_open(&ev, CTL_WITH_SIGINT | CTL_WITH_CHILD) == 0) {
        while (ctl_events_next(&ev) != CTL_NONE)
            ;
        ctl_events_close(&ev);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 1000) == 1;
}

START_TEST(each_signal_is_an_event)
{
    struct ctl_events ev;
    ck_assert_int_eq(ctl_events_open(&ev, CTL_WITH_CHILD), 0);
    ck_assert_int_eq(ctl_events_next(&ev), CTL_NONE);
    struct {
        int sig;
        enum ctl_event want;
    } cases[] = {
        {SIGHUP, CTL_RELOAD},
        {SIGUSR2, CTL_DRAIN}, /* no upgrade here (a worker): drain */
        {SIGUSR1, CTL_REOPEN_LOGS},
        {SIGCHLD, CTL_CHILD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(kill(getpid(), cases[i].sig), 0);
        ck_assert(readable(ev.fd));
        ck_assert_int_eq(ctl_events_next(&ev), cases[i].want);
        ck_assert_int_eq(ctl_events_next(&ev), CTL_NONE);
    }
    ck_assert_int_eq(ev.stops, 0);
    ctl_events_close(&ev);
    ctl_events_close(&ev); /* twice is fine */
}
END_TEST

START_TEST(stops_count)
{
    struct ctl_events ev;
    ck_assert_int_eq(ctl_events_open(&ev, CTL_WITH_SIGINT), 0);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_next(&ev), CTL_STOP);
    ck_assert_int_eq(kill(getpid(), SIGINT), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_next(&ev), CTL_STOP_NOW);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_next(&ev), CTL_KILL);
    ck_assert_int_eq(ev.stops, 3);
    ctl_events_close(&ev);
}
END_TEST

/* A worker leaves SIGINT to its master (Ctrl-C reaches the whole group),
 * so a terminal's Ctrl-C plus the master's SIGTERM count as one stop. */
START_TEST(workers_ignore_sigint)
{
    struct ctl_events ev;
    ck_assert_int_eq(ctl_events_open(&ev, 0), 0);
    ck_assert_int_eq(kill(getpid(), SIGINT), 0);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_next(&ev), CTL_STOP);
    ck_assert_int_eq(ctl_events_next(&ev), CTL_NONE);
    ctl_events_close(&ev);
}
END_TEST

/* What a serving process acts on: the strongest stop of all pending. */
START_TEST(drain_returns_the_strongest_stop)
{
    struct ctl_events ev;
    ck_assert_int_eq(ctl_events_open(&ev, CTL_WITH_CHILD), 0);
    ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_drain(&ev), CTL_NONE); /* reported, not a stop */
    ck_assert_int_eq(kill(getpid(), SIGCHLD), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_drain(&ev), CTL_NONE);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_drain(&ev), CTL_STOP);
    ck_assert_int_eq(ctl_events_drain(&ev), CTL_NONE); /* nothing left */
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_drain(&ev), CTL_STOP_NOW);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert(readable(ev.fd));
    ck_assert_int_eq(ctl_events_drain(&ev), CTL_KILL);
    ctl_events_close(&ev);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(ctl_event_name(CTL_RELOAD), "reload (SIGHUP)");
    ck_assert_str_eq(ctl_event_name(CTL_UPGRADE), "binary upgrade (SIGUSR2)");
    ck_assert_str_eq(ctl_event_name(CTL_REOPEN_LOGS), "reopen logs (SIGUSR1)");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    /* Checked fixtures run in each test's own (forked) process, where the
     * signals are sent and read. */
    tcase_add_checked_fixture(tc, block_signals, restore_signals);
    tcase_add_test(tc, each_signal_is_an_event);
    tcase_add_test(tc, stops_count);
    tcase_add_test(tc, workers_ignore_sigint);
    tcase_add_test(tc, drain_returns_the_strongest_stop);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

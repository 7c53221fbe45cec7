/* The idle scenario: open --sessions logged-in sessions, at most
 * RAMP_INFLIGHT logging in at once (and with --rate at most that many
 * starting per second: the ramp is bounded in count and in time); then hold them for --hold seconds
 * while NOOPs go round them at one per session per second at most, and at most NOOP_RATE_MAX per
 * second in all (so the load stays "idle"); record the NOOP round trips. With --server-pid, the
 * server's memory is measured before the first connection and at the end of the hold with every
 * session still open.
 *
 * A session that fails (refused, 421, timeout) is counted and not retried:
 * "held" is the sessions that reached 230 and were still open at the end.
 *
 * --background-logins R: once every session is held, --concurrency more
 * clients log in and QUIT (connect .. 221, as in login), R sessions per
 * second in all (a pacer), until the hold ends: the NOOP round trips are
 * then those of idle sessions while logins run (with an account whose
 * password check costs CPU, the server's hashing competes with them).
 * Their count and latency are reported apart; their errors count.
 *
 * The kernel's memory (/proc/meminfo, /proc/net/sockstat) is read at the
 * same two moments. In a spread run (spread.c) each child process runs
 * this on its share with the bounds below divided between the children,
 * and the parent takes every measurement. */
#include <stdio.h>

#include "bench/bench.h"
#include "bench/mem.h"

#define RAMP_INFLIGHT 200
#define NOOP_RATE_MAX 2000u
#define NOOP_TICK_S   0.01

static void on_hold_end(struct ev_loop *loop, ev_timer *w, int revents)
{
    run_finish(w->data);
}

/* Send the NOOPs this tick owes, round the sessions from where the last
 * tick stopped. Sessions not idle (NOOP outstanding, gone) are skipped. */
static unsigned noop_rate_max(const struct bench *b)
{
    return b->noop_rate_max > 0 ? b->noop_rate_max : NOOP_RATE_MAX;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bench *b = w->data;
    unsigned max = noop_rate_max(b);
    unsigned rate = b->held < max ? b->held : max;
    b->noop_budget += rate * w->repeat;
    unsigned want = (unsigned)b->noop_budget, sent = 0;
    for (unsigned scanned = 0; sent < want && scanned < b->nfast; scanned++) {
        struct client *c = &b->clients[b->cursor];
        b->cursor = (b->cursor + 1) % b->nfast;
        if (client_noop(c))
            sent++;
    }
    b->noop_budget -= want; /* owed NOOPs that found no idle session lapse */
}

static void hold_start(struct bench *b)
{
    if (b->sync_up >= 0 && !b->finished)
        spread_child_ramped(b); /* waits until every child is there */
    b->holding = true;
    b->t_hold = mono_ns();
    if (b->held == 0 || b->o.hold <= 0) {
        run_finish(b);
        return;
    }
    ev_timer_init(&b->hold, on_hold_end, b->o.hold, 0.);
    b->hold.data = b;
    ev_timer_start(b->loop, &b->hold);
    ev_timer_init(&b->tick, on_tick, NOOP_TICK_S, NOOP_TICK_S);
    b->tick.data = b;
    ev_timer_start(b->loop, &b->tick);
    for (unsigned i = b->nfast; i < b->nclients && !b->finished; i++)
        client_begin(&b->clients[i]); /* background logins, paced */
}

bool idle_bg_wanted(const struct bench *b)
{
    return b->holding && !b->finished;
}

/* Start sessions up to the in-flight bound; hold once all are settled. */
static void ramp(struct bench *b)
{
    /* client_begin can fail at once and call back here (idle_gone): the
     * outer loop goes on, so the inner call returns. */
    if (b->ramping)
        return;
    b->ramping = true;
    unsigned inflight = b->ramp_inflight > 0 ? b->ramp_inflight : RAMP_INFLIGHT;
    while (b->ramp_busy < inflight && b->ramp_next < b->nfast && !b->finished) {
        struct client *c = &b->clients[b->ramp_next++];
        b->ramp_busy++;
        client_begin(c);
    }
    b->ramping = false;
    if (b->ramp_busy == 0 && b->ramp_next >= b->nfast && !b->holding && !b->finished)
        hold_start(b);
}

void idle_held(struct bench *b, struct client *c)
{
    if (b->finished)
        return;
    b->held++;
    if (!b->holding) {
        b->ramp_busy--;
        ramp(b);
    }
}

void idle_gone(struct bench *b, struct client *c)
{
    if (b->finished)
        return;
    if (c->held) {
        c->held = false;
        b->held--;
        return;
    }
    b->login_failed++;
    b->ramp_busy--;
    ramp(b);
}

void idle_noop_done(struct bench *b, uint64_t ns)
{
    if (!b->holding || b->finished)
        return;
    b->ops++;
    hist_record(&b->lat, ns);
}

int64_t idle_server_pss(const struct bench *b, const char *when)
{
    int64_t kib = mem_tree_pss_kib(b->o.server_pid);
    if (kib < 0)
        fprintf(stderr, "ftpbench: cannot read the memory of pid %d %s\n", (int)b->o.server_pid,
                when);
    return kib;
}

void idle_run(struct bench *b)
{
    bool measuring = b->sync_up < 0; /* a spread child leaves it to its parent */
    if (measuring)
        kmem_read(&b->kmem_before);
    if (measuring && b->o.server_pid > 0)
        b->mem_before = idle_server_pss(b, "before the run");
    run_progress_start(b);
    b->t_start = mono_ns();
    ramp(b);
    if (!b->finished)
        ev_run(b->loop, 0);
    run_finish(b);
    ev_timer_stop(b->loop, &b->hold);
    ev_timer_stop(b->loop, &b->tick);
    pacer_stop(&b->bg);
    run_progress_stop(b);
    /* Every held session is still open here. */
    if (measuring && b->o.server_pid > 0 && b->holding)
        b->mem_held = idle_server_pss(b, "while holding the sessions");
    if (measuring && b->holding)
        kmem_read(&b->kmem_held);
}

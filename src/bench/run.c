/* The measured run (every scenario but idle) and the counters clients
 * report into.
 *
 * --duration: at the deadline no new operation starts; those in flight get
 * --timeout more to finish and are counted if they do; the rest are counted
 * as timeouts. --count N: operations start only while completed + in
 * flight < N, so exactly N complete (a failed one frees its place). The
 * elapsed time ends when the last counted operation does. */
#include <signal.h>
#include <stdio.h>

#include "bench/bench.h"

void run_finish(struct bench *b)
{
    if (b->finished)
        return;
    b->finished = true;
    b->t_end = mono_ns();
    ev_break(b->loop, EVBREAK_ALL);
}

static void check_end(struct bench *b)
{
    if (b->stopping && b->in_flight == 0)
        run_finish(b);
}

/* No new operations; in-flight ones get --timeout to finish. */
static void stop(struct bench *b)
{
    if (b->stopping)
        return;
    b->stopping = true;
    ev_timer_stop(b->loop, &b->deadline);
    ev_timer_set(&b->grace, b->o.timeout, 0.);
    ev_timer_start(b->loop, &b->grace);
    check_end(b);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    stop(w->data);
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bench *b = w->data;
    b->errors[ERR_TIMEOUT] += b->in_flight; /* unfinished */
    b->in_flight = 0;
    run_finish(b);
}

/* Ctrl-C: stop as at the deadline; a second one ends at once. */
static void on_sigint(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct bench *b = w->data;
    if (b->stopping || b->o.scenario == SC_IDLE)
        run_finish(b);
    else
        stop(b);
}

static void on_progress(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bench *b = w->data;
    uint64_t errors = 0;
    for (int k = 0; k < ERR_KINDS; k++)
        errors += b->errors[k];
    double t = (double)(mono_ns() - b->t_start) / 1e9;
    fprintf(stderr, "\r%7.1f s  ops %llu  %.0f/s  errors %llu", t, (unsigned long long)b->ops,
            (double)(b->ops - b->prog_ops) / w->repeat, (unsigned long long)errors);
    if (b->o.scenario == SC_IDLE)
        fprintf(stderr, "  held %u", b->held);
    if (b->o.scenario == SC_SLOW)
        fprintf(stderr, "  slow %llu", (unsigned long long)b->slow_ops);
    fputs("   ", stderr); /* over the tail of a longer previous line */
    fflush(stderr);
    b->prog_ops = b->ops;
}

/* Progress once a second, on a terminal only; and Ctrl-C. */
void run_progress_start(struct bench *b)
{
    ev_signal_init(&b->sigint, on_sigint, SIGINT);
    b->sigint.data = b;
    ev_signal_start(b->loop, &b->sigint);
    if (!b->tty)
        return;
    ev_timer_init(&b->progress, on_progress, 1., 1.);
    b->progress.data = b;
    ev_timer_start(b->loop, &b->progress);
}

void run_progress_stop(struct bench *b)
{
    ev_signal_stop(b->loop, &b->sigint);
    if (!b->tty)
        return;
    ev_timer_stop(b->loop, &b->progress);
    fputs("\n", stderr);
}

/* ---- what clients report ------------------------------------------------- */

bool run_wants_more(const struct bench *b)
{
    return !b->stopping && (b->o.count == 0 || b->ops + b->in_flight < b->o.count);
}

bool run_may_start(struct bench *b)
{
    if (!run_wants_more(b))
        return false;
    b->in_flight++;
    return true;
}

void run_op_done(struct bench *b, const struct client *c, uint64_t ns)
{
    if (b->finished)
        return;
    if (c->role == ROLE_SLOW) {
        b->slow_ops++;
        return;
    }
    b->in_flight--;
    b->ops++;
    hist_record(&b->lat, ns);
    if (b->o.count > 0 && b->ops >= b->o.count)
        stop(b);
    else
        check_end(b);
}

void run_error(struct bench *b, const struct client *c, enum err_kind kind, bool in_op)
{
    if (b->finished)
        return;
    b->errors[kind]++;
    if (c->role == ROLE_SLOW) {
        b->slow_errors++;
    } else if (in_op && c->role == ROLE_FAST) {
        b->in_flight--;
        check_end(b);
    }
}

void run_client_done(struct bench *b, struct client *c)
{
    if (c->role == ROLE_IDLE)
        idle_gone(b, c);
    else if (c->role == ROLE_PROBE)
        ev_break(b->loop, EVBREAK_ALL);
}

void run_size_known(struct bench *b, int64_t size)
{
    b->size = size;
}

/* ---- the runs ------------------------------------------------------------ */

int run_probe(struct bench *b)
{
    client_begin(&b->probe);
    /* A connect that failed at once has already ended the probe (and an
     * ev_break before ev_run would be lost). */
    if (b->probe.st != CS_IDLE)
        ev_run(b->loop, 0);
    client_close(&b->probe);
    return b->size >= 0 ? 0 : -1;
}

void run_measured(struct bench *b)
{
    ev_timer_init(&b->grace, on_grace, 0., 0.);
    b->grace.data = b;
    ev_timer_init(&b->deadline, on_deadline, b->o.duration, 0.);
    b->deadline.data = b;
    run_progress_start(b);
    b->t_start = mono_ns();
    if (b->o.count == 0)
        ev_timer_start(b->loop, &b->deadline);
    /* Slow clients first, so the fast ones meet them already connecting. */
    for (unsigned i = b->nclients; i-- > 0;)
        client_begin(&b->clients[i]);
    if (!b->finished)
        ev_run(b->loop, 0);
    run_finish(b); /* if the loop ran out of work */
    ev_timer_stop(b->loop, &b->deadline);
    ev_timer_stop(b->loop, &b->grace);
    run_progress_stop(b);
}

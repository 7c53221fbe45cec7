/* The measured run (every scenario but idle) and the counters clients
 * report into.
 *
 * --duration: at the deadline no new operation starts; those in flight get
 * --timeout more to finish and are counted if they do; the rest are counted
 * as timeouts. --count N: operations start only while completed + in
 * flight < N, so exactly N complete (a failed one frees its place). The
 * elapsed time ends when the last counted operation does. Both: the count
 * unless the deadline comes first (a server that fails every operation
 * would otherwise keep a --count run going for ever). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

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
    if (c->role == ROLE_BG) {
        b->bg_ops++;
        hist_record(&b->bg_lat, ns);
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

/* ---- pacers -------------------------------------------------------------- */

static void on_pacer(struct ev_loop *loop, ev_timer *w, int revents);

int pacer_init(struct pacer *p, struct bench *b, double rate, unsigned cap)
{
    p->b = b;
    pace_init(&p->pace, rate);
    p->head = p->n = 0;
    p->cap = rate > 0 ? cap : 0;
    p->q = NULL;
    if (p->cap > 0 && (p->q = calloc(p->cap, sizeof *p->q)) == NULL)
        return -1;
    ev_init(&p->w, on_pacer);
    p->w.data = p;
    return 0;
}

bool pacer_active(const struct pacer *p)
{
    return p->cap > 0;
}

static void pacer_arm(struct pacer *p, double wait)
{
    ev_timer_set(&p->w, wait, 0.);
    ev_timer_start(p->b->loop, &p->w);
}

/* The next start's time: the client at the head of the queue connects. */
static void on_pacer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pacer *p = w->data;
    while (p->n > 0) {
        double wait = pace_take(&p->pace, ev_now(loop));
        if (wait > 0) {
            pacer_arm(p, wait);
            return;
        }
        struct client *c = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        if (c->st == CS_PACED)
            client_paced(c);
        if (p->b->finished)
            return;
    }
}

bool pacer_admit(struct pacer *p, struct client *c)
{
    if (p->n == 0 && pace_take(&p->pace, ev_now(p->b->loop)) == 0)
        return true;
    if (p->n == p->cap)
        return true; /* cannot happen (a client waits once); never lose one */
    p->q[(p->head + p->n) % p->cap] = c;
    p->n++;
    c->st = CS_PACED;
    if (!ev_is_active(&p->w))
        pacer_arm(p, p->pace.next - ev_now(p->b->loop));
    return false;
}

void pacer_stop(struct pacer *p)
{
    if (p->b != NULL && p->b->loop != NULL)
        ev_timer_stop(p->b->loop, &p->w);
    p->head = p->n = 0;
}

void pacer_free(struct pacer *p)
{
    free(p->q);
    p->q = NULL;
    p->cap = 0;
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
    if (b->o.duration > 0)
        ev_timer_start(b->loop, &b->deadline);
    /* Slow clients first, so the fast ones meet them already connecting. */
    for (unsigned i = b->nclients; i-- > 0;)
        client_begin(&b->clients[i]);
    if (!b->finished)
        ev_run(b->loop, 0);
    run_finish(b); /* if the loop ran out of work */
    ev_timer_stop(b->loop, &b->deadline);
    ev_timer_stop(b->loop, &b->grace);
    pacer_stop(&b->rate);
    run_progress_stop(b);
}

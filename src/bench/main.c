/* ftpbench: an FTP load generator. One libev loop drives every virtual
 * client over real FTP; see opts.c for the command line, bench.h for the
 * layout of the code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "bench/report.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void fill_result(const struct bench *b, struct result *r)
{
    const struct bench_opts *o = &b->o;
    bool idle = o->scenario == SC_IDLE;
    *r = (struct result){
        .label = o->label,
        .scenario = scenario_name(o->scenario),
        .concurrency = idle ? o->sessions : o->concurrency,
        .ops = b->ops,
        .has_bytes =
            scenario_retr(o->scenario) || scenario_stor(o->scenario) || o->scenario == SC_LIST,
        .bytes = b->bytes,
        .p50_ms = ms(hist_percentile(&b->lat, 50)),
        .p99_ms = ms(hist_percentile(&b->lat, 99)),
        .max_ms = ms(hist_percentile(&b->lat, 100)),
        .idle = idle,
        .mem_before_kib = b->mem_before,
        .mem_held_kib = b->mem_held,
        .slow = o->scenario == SC_SLOW,
        .slow_clients = o->scenario == SC_SLOW ? o->slow : 0,
        .slow_ops = b->slow_ops,
        .file_size = scenario_retr(o->scenario) || scenario_stor(o->scenario) ? b->size : -1,
        .upload = scenario_stor(o->scenario),
        .user = o->user,
        .bg = idle && o->bg_rate > 0,
        .bg_ops = b->bg_ops,
        .bg_user = o->bg_user,
        .bg_p99_ms = ms(hist_percentile(&b->bg_lat, 99)),
        .procs = idle ? b->procs : 0,
        .slab_delta_kib = -1,
        .sunreclaim_delta_kib = -1,
        .tcp_mem_delta_kib = -1,
        .kernel_bytes_per_session = -1,
        .tls = o->tls,
        .bad_reply = b->bad_reply,
    };
    const struct kmem *k0 = &b->kmem_before, *k1 = &b->kmem_held;
    if (idle && k0->slab_kib >= 0 && k1->slab_kib >= 0)
        r->slab_delta_kib = k1->slab_kib - k0->slab_kib;
    if (idle && k0->sunreclaim_kib >= 0 && k1->sunreclaim_kib >= 0)
        r->sunreclaim_delta_kib = k1->sunreclaim_kib - k0->sunreclaim_kib;
    if (idle && k0->tcp_mem_kib >= 0 && k1->tcp_mem_kib >= 0)
        r->tcp_mem_delta_kib = k1->tcp_mem_kib - k0->tcp_mem_kib;
    if (idle)
        r->kernel_bytes_per_session = kmem_per_session(k0, k1, b->held);
    for (int k = 0; k < ERR_KINDS; k++)
        r->errors[k] = b->errors[k];
    uint64_t begin = idle ? b->t_hold : b->t_start;
    if (begin > 0 && b->t_end > begin)
        r->duration_s = (double)(b->t_end - begin) / 1e9;
    if (idle) {
        r->sessions_held = b->held;
        r->noop_p50_ms = r->p50_ms;
        r->noop_p99_ms = r->p99_ms;
        uint64_t ramp_end = b->holding ? b->t_hold : b->t_end;
        if (ramp_end > b->t_start)
            r->ramp_s = (double)(ramp_end - b->t_start) / 1e9;
    }
}

static void run(struct bench *b)
{
    if (scenario_retr(b->o.scenario) && b->size < 0 && run_probe(b) < 0) {
        fprintf(stderr, "ftpbench: cannot learn the size of %s with SIZE (see the errors)\n",
                b->o.file);
        return;
    }
    if (b->o.scenario == SC_IDLE)
        idle_run(b);
    else
        run_measured(b);
}

static void output(const struct bench_opts *o, const struct result *r)
{
    if (!o->quiet) {
        report_human(stdout, r);
    } else if (result_errors(r) > 0) {
        fputs("ftpbench: errors: ", stderr);
        report_errors(stderr, r);
        fputc('\n', stderr);
    }
    if (o->csv_header)
        report_csv_header(stdout);
    if (o->csv)
        report_csv(stdout, r);
    if (o->json)
        report_json(stdout, r);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    char err[512];
    opts_defaults(&o);
    switch (opts_parse(&o, argc, argv, err, sizeof err)) {
    case OPTS_HELP:
        opts_usage(stdout);
        return 0;
    case OPTS_USAGE:
        fprintf(stderr, "ftpbench: %s\n", err);
        opts_usage(stderr);
        return 2;
    case OPTS_RUN:
        break;
    }
    if (o.csv_header)
        o.csv = true;

    /* Special problem: SIGPIPE. net_write sends with MSG_NOSIGNAL already;
     * this covers anything else that writes to a closed socket. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    if (sigaction(SIGPIPE, &ign, NULL) != 0) {
        perror("ftpbench: sigaction(SIGPIPE)");
        return 1;
    }

    /* Big (the histogram, a line buffer): on the heap, not the stack. */
    struct bench *b = malloc(sizeof *b);
    if (b == NULL) {
        fputs("ftpbench: out of memory\n", stderr);
        return 1;
    }
    unsigned procs = opts_procs(&o);
    if (procs > 1) {
        /* The children set up their own clients and loops. */
        bench_init(b, &o);
        b->procs = procs;
        spread_run(b);
    } else {
        if (bench_setup(b, &o, err, sizeof err) < 0) {
            fprintf(stderr, "ftpbench: %s\n", err);
            bench_teardown(b);
            free(b);
            return 2;
        }
        bench_raise_nofile(b);
        run(b);
    }

    struct result r;
    fill_result(b, &r);
    output(&o, &r);
    int status = result_exit_status(&r);
    bench_teardown(b);
    free(b);
    if (fflush(stdout) != 0) {
        perror("ftpbench: stdout");
        return 1;
    }
    return status;
}

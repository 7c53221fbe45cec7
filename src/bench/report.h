/* The outcome of a run and its three forms: a human summary, one CSV row
 * (with an optional header) and one JSON object with the same keys. A value
 * that does not apply to the scenario is an empty CSV field and a JSON
 * null. */
#ifndef FTPBENCH_REPORT_H
#define FTPBENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/stats.h"

struct result {
    const char *label;
    const char *scenario;
    unsigned concurrency; /* idle: the sessions asked for */
    double duration_s;    /* measured time (idle: the hold) */
    uint64_t ops;         /* measured operations completed */
    uint64_t errors[ERR_KINDS];
    bool has_bytes; /* transfers: MB/s applies */
    uint64_t bytes; /* data bytes received by the measured clients */
    double p50_ms, p99_ms, max_ms;
    bool idle;
    uint64_t sessions_held;
    double noop_p50_ms, noop_p99_ms;
    int64_t mem_before_kib, mem_held_kib; /* -1: not measured */
    double ramp_s;                        /* idle: time to log every session in */
    bool slow;
    unsigned slow_clients;
    uint64_t slow_ops;
    int64_t file_size; /* RETR size checked or STOR size sent, -1: none (human summary) */
    bool upload;       /* the bytes were sent (STOR) */
    const char *user;  /* the account the sessions logged in with */
    bool bg;           /* idle with background logins */
    uint64_t bg_ops;   /* background logins completed */
    const char *bg_user;
    double bg_p99_ms;
    unsigned procs; /* idle: the client processes the sessions were spread over */
    /* idle: the kernel's memory (machine-wide) from before the first
     * connection to the hold's end; -1: not measured. */
    int64_t slab_delta_kib, sunreclaim_delta_kib, tcp_mem_delta_kib;
    int64_t kernel_bytes_per_session; /* (Slab + TCP buffers) / sessions held */
    bool tls;                         /* --tls */
    const char *bad_reply;            /* the first unexpected reply, "" or NULL: none */
};

/* The result's columns, in CSV order. */
#define REPORT_COLUMNS 28
extern const char *const report_columns[REPORT_COLUMNS];

uint64_t result_errors(const struct result *r);
/* Operations the 1 % error budget is measured against. */
uint64_t result_attempts(const struct result *r);
/* 0 when errors <= 1 % of the operations (and something completed), else 1. */
int result_exit_status(const struct result *r);

void report_human(FILE *f, const struct result *r);
/* The error breakdown alone ("connect 3, timeout 1"), for --quiet; with
 * bad replies, the first one and the command it answered. */
void report_errors(FILE *f, const struct result *r);
void report_csv_header(FILE *f);
void report_csv(FILE *f, const struct result *r);
void report_json(FILE *f, const struct result *r);

#endif

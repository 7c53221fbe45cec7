/* ftpbench's command line: the options, their defaults and limits, and the
 * parser. No I/O and no libev here, so the unit tests drive it directly. */
#ifndef FTPBENCH_OPTS_H
#define FTPBENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum scenario {
    SC_LOGIN,           /* connect, USER/PASS, QUIT: sessions */
    SC_RETR_SMALL,      /* a whole session around one RETR: sessions */
    SC_RETR_PERSISTENT, /* PASV + RETR on a logged-in session: transfers */
    SC_RETR_BIG,        /* the same with a big file: transfers and MB/s */
    SC_LIST,            /* PASV + LIST on a logged-in session: listings */
    SC_IDLE,            /* many logged-in sessions held, NOOP round trips */
    SC_SLOW,            /* retr-small under trickling clients */
    SC_STOR_SMALL,      /* a whole session around one STOR of --size bytes: sessions */
    SC_STOR_BIG,        /* PASV + STOR on a logged-in session: transfers and MB/s */
    SC_COUNT
};

/* Limits of the values the options take. */
#define OPT_CONCURRENCY_MAX 100000
#define OPT_SESSIONS_MAX    1000000
#define OPT_SLOW_MAX        100000
#define OPT_SOURCES_MAX     254 /* 127.0.0.1 .. 127.0.0.254 */
#define OPT_PROCS_MAX       64
/* idle without --procs: a process per this many sessions (under a per-process
 * limit of 20,000 descriptors, with room to spare). */
#define IDLE_SESSIONS_PER_PROC 15000
#define OPT_SECONDS_MAX        86400.0
#define OPT_LABEL_MAX          256
#define OPT_RATE_MIN           0.01 /* logins per second */
#define OPT_RATE_MAX           1000000.0
/* What a STOR sends when --size is not given. */
#define STOR_SMALL_SIZE 4096
#define STOR_BIG_SIZE   (256 * 1024 * 1024)

struct bench_opts {
    enum scenario scenario;
    const char *host;
    int port;
    const char *user, *pass;
    unsigned concurrency; /* measured clients */
    double duration;      /* seconds; 0 when count is set */
    uint64_t count;       /* operations in total; 0: run for duration */
    const char *file;     /* RETR target */
    int64_t size;         /* its expected size; -1: asked with SIZE first; STOR: bytes sent */
    const char *dir;      /* LIST target; STOR: where the uploads go */
    bool epsv;
    double timeout;    /* seconds without progress before an operation fails */
    unsigned sources;  /* source addresses 127.0.0.1..K; 1: let the kernel pick */
    unsigned sessions; /* idle */
    double hold;       /* idle */
    unsigned slow;     /* slow: trickling clients */
    double slow_tick;  /* slow: seconds between their bytes; 0: 50..100 ms spread */
    pid_t server_pid;  /* idle: 0 = no memory figures */
    unsigned procs;    /* idle: client processes; 0: one per IDLE_SESSIONS_PER_PROC */
    double rate;       /* sessions started per second over the measured clients (idle: the
                          ramp's logins); 0: no cap */
    double bg_rate;    /* idle: background logins per second; 0: none */
    const char *bg_user, *bg_pass; /* their account (default: --user, --password) */
    const char *label;
    bool csv, csv_header, json, quiet;
    bool tls;           /* explicit FTPS: AUTH TLS, PBSZ 0, PROT P, TLS data */
    const char *tls_ca; /* verify the server's certificate against this CA */
};

enum opts_result { OPTS_RUN, OPTS_HELP, OPTS_USAGE };

void opts_defaults(struct bench_opts *o);

/* Parse argv into o (which opts_defaults() filled). On OPTS_USAGE, err holds
 * what was wrong. The strings in o point into argv. */
enum opts_result opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen);

void opts_usage(FILE *f);

const char *scenario_name(enum scenario s);
/* 0, or -1 for an unknown name. */
int scenario_from_name(const char *name, enum scenario *out);

/* The client processes an idle run uses: --procs, or enough that each holds
 * at most IDLE_SESSIONS_PER_PROC sessions; never more than the sessions.
 * Every other scenario runs in one process. */
unsigned opts_procs(const struct bench_opts *o);

/* Scenarios whose operation is a whole session (connect .. QUIT). */
bool scenario_session_op(enum scenario s);
/* Scenarios that RETR --file. */
bool scenario_retr(enum scenario s);
/* Scenarios that STOR --size bytes into --dir. */
bool scenario_stor(enum scenario s);
/* Scenarios that run over TLS with --tls. */
bool scenario_tls(enum scenario s);

/* The whole of s, a decimal number in [min, max]. 0, or -1. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Seconds as a decimal fraction ("2", "0.5"), finite, in [min, max]. */
int parse_seconds(const char *s, double min, double max, double *out);

#endif

#include "bench/opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const scenario_names[SC_COUNT] = {
    [SC_LOGIN] = "login",
    [SC_RETR_SMALL] = "retr-small",
    [SC_RETR_PERSISTENT] = "retr-persistent",
    [SC_RETR_BIG] = "retr-big",
    [SC_LIST] = "list",
    [SC_IDLE] = "idle",
    [SC_SLOW] = "slow",
    [SC_STOR_SMALL] = "stor-small",
    [SC_STOR_BIG] = "stor-big",
};

const char *scenario_name(enum scenario s)
{
    return (unsigned)s < SC_COUNT ? scenario_names[s] : "?";
}

int scenario_from_name(const char *name, enum scenario *out)
{
    for (int i = 0; i < SC_COUNT; i++) {
        if (strcmp(name, scenario_names[i]) == 0) {
            *out = (enum scenario)i;
            return 0;
        }
    }
    return -1;
}

unsigned opts_procs(const struct bench_opts *o)
{
    if (o->scenario != SC_IDLE)
        return 1;
    unsigned p = o->procs;
    if (p == 0)
        p = (o->sessions + IDLE_SESSIONS_PER_PROC - 1) / IDLE_SESSIONS_PER_PROC;
    if (p > o->sessions)
        p = o->sessions;
    return p > 0 ? p : 1;
}

bool scenario_session_op(enum scenario s)
{
    return s == SC_LOGIN || s == SC_RETR_SMALL || s == SC_SLOW || s == SC_STOR_SMALL;
}

bool scenario_retr(enum scenario s)
{
    return s == SC_RETR_SMALL || s == SC_RETR_PERSISTENT || s == SC_RETR_BIG || s == SC_SLOW;
}

bool scenario_stor(enum scenario s)
{
    return s == SC_STOR_SMALL || s == SC_STOR_BIG;
}

bool scenario_tls(enum scenario s)
{
    /* Not slow (its trickled bytes go around the TLS layer) nor the
     * uploads (a TLS upload would need its own close_notify handling). */
    return s == SC_LOGIN || s == SC_RETR_SMALL || s == SC_RETR_PERSISTENT || s == SC_RETR_BIG ||
           s == SC_LIST || s == SC_IDLE;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1; /* strtoull would accept " 1", "+1" and "-1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int parse_seconds(const char *s, double min, double max, double *out)
{
    if (s == NULL || ((*s < '0' || *s > '9') && *s != '.'))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void opts_defaults(struct bench_opts *o)
{
    *o = (struct bench_opts){
        .scenario = SC_COUNT, /* required */
        .host = "127.0.0.1",
        .port = 2121,
        .user = "anonymous",
        .pass = "ftpbench@",
        .concurrency = 16,
        .duration = 10.0,
        .size = -1,
        .dir = "/",
        .timeout = 10.0,
        .sources = 1,
        .sessions = 1000,
        .hold = 5.0,
        .slow = 100,
        .label = "",
    };
}

void opts_usage(FILE *f)
{
    fputs("usage: ftpbench --scenario login|retr-small|retr-persistent|retr-big|list|idle|slow|\n"
          "                             stor-small|stor-big\n"
          "         [--host 127.0.0.1] [--port 2121]\n"
          "         [--user anonymous] [--password ftpbench@]  the account of every session\n"
          "                                      (--pass is the same as --password)\n"
          "         [--concurrency N]            virtual clients (default 16)\n"
          "         [--duration SEC] [--count N] run length (default --duration 10);\n"
          "                                      count = operations in total; both: the\n"
          "                                      first reached ends the run\n"
          "         [--file PATH] [--size BYTES] the file to RETR (retr-*, slow) and its size\n"
          "                                      (default: asked once with SIZE); every\n"
          "                                      transfer's byte count is checked\n"
          "         [--dir PATH]                 directory for list, and where stor-* uploads\n"
          "                                      go (default /)\n"
          "         stor-small, stor-big: STOR of --size bytes made in memory (default 4096 and\n"
          "                                      268435456) under a new name in --dir each\n"
          "                                      time; every 226 is checked\n"
          "         [--rate N]                   start at most N sessions (logins) per second\n"
          "                                      over all measured clients (default: no cap);\n"
          "                                      idle: the logins of the ramp\n"
          "         [--epsv]                     EPSV instead of PASV\n"
          "         [--timeout SEC]              seconds without progress before an operation\n"
          "                                      fails (default 10)\n"
          "         [--sources K]                bind client sockets to 127.0.0.1..127.0.0.K\n"
          "         [--sessions N] [--hold SEC]  idle: sessions to hold (default 1000), and how\n"
          "                                      long, sending NOOPs (default 5)\n"
          "         [--slow K]                   slow: trickling clients (default 100)\n"
          "         [--slow-tick SEC]            slow: seconds between their bytes (default\n"
          "                                      0.05..0.1, spread; 1 = slowloris)\n"
          "         [--server-pid PID]           idle: PSS of PID and its descendants\n"
          "         [--procs P]                  idle: spread the sessions over P client\n"
          "                                      processes (default: one per 15000)\n"
          "         [--background-logins N]      idle: while holding, --concurrency clients\n"
          "                                      log in and QUIT, N sessions per second in all\n"
          "         [--background-user NAME] [--background-password PASS]\n"
          "                                      their account (default --user, --password)\n"
          "         [--tls]                      explicit FTPS: AUTH TLS, PBSZ 0, PROT P; every\n"
          "                                      data connection resumes the control\n"
          "                                      connection's TLS session (login, retr-*,\n"
          "                                      list, idle)\n"
          "         [--tls-ca FILE]              verify the server's certificate (and --host)\n"
          "                                      against this CA (default: not verified)\n"
          "         [--label TEXT]               put in the output\n"
          "         [--csv] [--csv-header] [--json] [--quiet]\n"
          "Exit status: 0 when errors <= 1% of operations, 1 otherwise, 2 on a usage error.\n"
          "MB/s counts 10^6 bytes; latencies are in milliseconds.\n",
          f);
}

enum {
    OPT_SCENARIO = 256,
    OPT_HOST,
    OPT_PORT,
    OPT_USER,
    OPT_PASS,
    OPT_CONCURRENCY,
    OPT_DURATION,
    OPT_COUNT,
    OPT_FILE,
    OPT_SIZE,
    OPT_DIR,
    OPT_EPSV,
    OPT_TIMEOUT,
    OPT_SOURCES,
    OPT_SESSIONS,
    OPT_HOLD,
    OPT_SLOW,
    OPT_SLOW_TICK,
    OPT_SERVER_PID,
    OPT_PROCS,
    OPT_RATE,
    OPT_BG_LOGINS,
    OPT_BG_USER,
    OPT_BG_PASS,
    OPT_LABEL,
    OPT_CSV,
    OPT_CSV_HEADER,
    OPT_JSON,
    OPT_QUIET,
    OPT_TLS,
    OPT_TLS_CA,
    OPT_HELP,
};

static const struct option long_options[] = {
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"user", required_argument, NULL, OPT_USER},
    {"pass", required_argument, NULL, OPT_PASS},
    {"password", required_argument, NULL, OPT_PASS},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"count", required_argument, NULL, OPT_COUNT},
    {"file", required_argument, NULL, OPT_FILE},
    {"size", required_argument, NULL, OPT_SIZE},
    {"dir", required_argument, NULL, OPT_DIR},
    {"epsv", no_argument, NULL, OPT_EPSV},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"sources", required_argument, NULL, OPT_SOURCES},
    {"sessions", required_argument, NULL, OPT_SESSIONS},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"slow", required_argument, NULL, OPT_SLOW},
    {"slow-tick", required_argument, NULL, OPT_SLOW_TICK},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"procs", required_argument, NULL, OPT_PROCS},
    {"rate", required_argument, NULL, OPT_RATE},
    {"background-logins", required_argument, NULL, OPT_BG_LOGINS},
    {"background-user", required_argument, NULL, OPT_BG_USER},
    {"background-password", required_argument, NULL, OPT_BG_PASS},
    {"label", required_argument, NULL, OPT_LABEL},
    {"csv", no_argument, NULL, OPT_CSV},
    {"csv-header", no_argument, NULL, OPT_CSV_HEADER},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"tls", no_argument, NULL, OPT_TLS},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* A command argument goes on the control connection as is: CR or LF in it
 * would inject a second command. */
static bool safe_arg(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

static const char *option_name(int opt)
{
    for (const struct option *lo = long_options; lo->name != NULL; lo++) {
        if (lo->val == opt)
            return lo->name;
    }
    return "?";
}

/* One option's value into o. 0, or -1 with err filled. */
static int take_option(struct bench_opts *o, int opt, const char *arg, bool *have_duration,
                       char *err, size_t errlen)
{
    uint64_t u;
    switch (opt) {
    case OPT_SCENARIO:
        if (scenario_from_name(arg, &o->scenario) == 0)
            return 0;
        break;
    case OPT_HOST:
        o->host = arg;
        return 0;
    case OPT_PORT:
        if (parse_u64(arg, 1, 65535, &u) < 0)
            break;
        o->port = (int)u;
        return 0;
    case OPT_USER:
    case OPT_PASS:
    case OPT_BG_USER:
    case OPT_BG_PASS:
        if (!safe_arg(arg))
            break;
        *(opt == OPT_USER      ? &o->user
          : opt == OPT_PASS    ? &o->pass
          : opt == OPT_BG_USER ? &o->bg_user
                               : &o->bg_pass) = arg;
        return 0;
    case OPT_RATE:
    case OPT_BG_LOGINS:
        if (parse_seconds(arg, OPT_RATE_MIN, OPT_RATE_MAX,
                          opt == OPT_RATE ? &o->rate : &o->bg_rate) < 0)
            break;
        return 0;
    case OPT_CONCURRENCY:
    case OPT_SESSIONS:
    case OPT_SLOW:
    case OPT_SOURCES: {
        uint64_t lo = opt == OPT_SLOW ? 0 : 1;
        uint64_t hi = opt == OPT_CONCURRENCY ? OPT_CONCURRENCY_MAX
                      : opt == OPT_SESSIONS  ? OPT_SESSIONS_MAX
                      : opt == OPT_SLOW      ? OPT_SLOW_MAX
                                             : OPT_SOURCES_MAX;
        if (parse_u64(arg, lo, hi, &u) < 0)
            break;
        *(opt == OPT_CONCURRENCY ? &o->concurrency
          : opt == OPT_SESSIONS  ? &o->sessions
          : opt == OPT_SLOW      ? &o->slow
                                 : &o->sources) = (unsigned)u;
        return 0;
    }
    case OPT_SLOW_TICK:
        if (parse_seconds(arg, 0.001, OPT_SECONDS_MAX, &o->slow_tick) < 0)
            break;
        return 0;
    case OPT_DURATION:
        if (parse_seconds(arg, 0.001, OPT_SECONDS_MAX, &o->duration) < 0)
            break;
        *have_duration = true;
        return 0;
    case OPT_COUNT:
        if (parse_u64(arg, 1, UINT64_MAX / 2, &o->count) < 0)
            break;
        return 0;
    case OPT_FILE:
    case OPT_DIR:
        if (*arg == '\0' || !safe_arg(arg))
            break;
        *(opt == OPT_FILE ? &o->file : &o->dir) = arg;
        return 0;
    case OPT_SIZE:
        if (parse_u64(arg, 0, INT64_MAX, &u) < 0)
            break;
        o->size = (int64_t)u;
        return 0;
    case OPT_EPSV:
        o->epsv = true;
        return 0;
    case OPT_TIMEOUT:
        if (parse_seconds(arg, 0.001, OPT_SECONDS_MAX, &o->timeout) == 0)
            return 0;
        break;
    case OPT_HOLD:
        if (parse_seconds(arg, 0.0, OPT_SECONDS_MAX, &o->hold) == 0)
            return 0;
        break;
    case OPT_SERVER_PID:
        if (parse_u64(arg, 1, 0x3fffffff, &u) < 0)
            break;
        o->server_pid = (pid_t)u;
        return 0;
    case OPT_PROCS:
        if (parse_u64(arg, 1, OPT_PROCS_MAX, &u) < 0)
            break;
        o->procs = (unsigned)u;
        return 0;
    case OPT_LABEL:
        if (strlen(arg) > OPT_LABEL_MAX)
            break;
        o->label = arg;
        return 0;
    case OPT_CSV:
        o->csv = true;
        return 0;
    case OPT_CSV_HEADER:
        o->csv_header = true;
        return 0;
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_TLS:
        o->tls = true;
        return 0;
    case OPT_TLS_CA:
        if (*arg == '\0')
            break;
        o->tls_ca = arg;
        return 0;
    default:
        snprintf(err, errlen, "unknown option");
        return -1;
    }
    snprintf(err, errlen, "bad value for --%s: '%s'", option_name(opt), arg);
    return -1;
}

/* Rules between options, once all are read. */
static int check_options(struct bench_opts *o, bool have_duration, char *err, size_t errlen)
{
    if (o->scenario == SC_COUNT) {
        snprintf(err, errlen, "--scenario is required");
        return -1;
    }
    /* --count alone: no time limit; with --duration: whichever comes first. */
    if (o->count > 0 && !have_duration)
        o->duration = 0;
    if (scenario_stor(o->scenario)) {
        if (o->file != NULL) {
            snprintf(err, errlen, "--scenario %s sends new files into --dir: --file does not apply",
                     scenario_name(o->scenario));
            return -1;
        }
        if (o->size < 0)
            o->size = o->scenario == SC_STOR_SMALL ? STOR_SMALL_SIZE : STOR_BIG_SIZE;
    }
    if (o->bg_rate > 0 && o->scenario != SC_IDLE) {
        snprintf(err, errlen, "--background-logins applies to --scenario idle only");
        return -1;
    }
    if ((o->bg_user != NULL || o->bg_pass != NULL) && o->bg_rate <= 0) {
        snprintf(err, errlen,
                 "--background-user and --background-password need "
                 "--background-logins");
        return -1;
    }
    if (o->bg_user == NULL)
        o->bg_user = o->user;
    if (o->bg_pass == NULL)
        o->bg_pass = o->pass;
    if (scenario_retr(o->scenario) && o->file == NULL) {
        snprintf(err, errlen, "--scenario %s needs --file", scenario_name(o->scenario));
        return -1;
    }
    if (o->sources > 1 && strchr(o->host, ':') != NULL) {
        snprintf(err, errlen, "--sources needs an IPv4 loopback --host");
        return -1;
    }
    if (o->procs > 1 && o->scenario != SC_IDLE) {
        snprintf(err, errlen, "--procs applies to --scenario idle only");
        return -1;
    }
    if (o->tls && !scenario_tls(o->scenario)) {
        snprintf(err, errlen,
                 "--tls applies to login, retr-small, retr-persistent, retr-big, list and "
                 "idle, not to %s",
                 scenario_name(o->scenario));
        return -1;
    }
    if (o->tls_ca != NULL && !o->tls) {
        snprintf(err, errlen, "--tls-ca needs --tls");
        return -1;
    }
    if (o->scenario == SC_IDLE && o->count > 0) {
        snprintf(err, errlen, "idle runs for --hold seconds: --count does not apply");
        return -1;
    }
    return 0;
}

enum opts_result opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    bool have_duration = false;
    err[0] = '\0';
    optind = 0; /* GNU: start over (the tests parse several times) */
    opterr = 0; /* errors are reported by the caller, with the usage */
    for (;;) {
        int prev = optind > 0 ? optind : 1; /* the word being parsed */
        int opt = getopt_long(argc, argv, ":h", long_options, NULL);
        if (opt == -1)
            break;
        if (opt == 'h' || opt == OPT_HELP)
            return OPTS_HELP;
        if (opt == '?' || opt == ':') {
            const char *what = prev < argc ? argv[prev] : "?";
            snprintf(err, errlen, opt == ':' ? "%s needs a value" : "unknown option %s", what);
            return OPTS_USAGE;
        }
        if (take_option(o, opt, optarg, &have_duration, err, errlen) < 0)
            return OPTS_USAGE;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return OPTS_USAGE;
    }
    return check_options(o, have_duration, err, errlen) == 0 ? OPTS_RUN : OPTS_USAGE;
}

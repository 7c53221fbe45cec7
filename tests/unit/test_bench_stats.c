/* ftpbench's pure parts: the latency histogram and its percentiles, the
 * command line and its number parsers, FTP reply framing and the PASV/EPSV/
 * SIZE texts, and the CSV/JSON report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/mem.h"
#include "bench/opts.h"
#include "bench/reply.h"
#include "bench/report.h"
#include "bench/stats.h"
#include "unit.h"

/* ---- histogram ----------------------------------------------------------- */

START_TEST(hist_buckets_are_contiguous_and_narrow)
{
    /* Every bucket starts where the previous one ended and is at most
     * 1/HIST_SUB of its values wide. */
    for (size_t i = 1; i < HIST_BUCKETS; i++) {
        ck_assert_uint_eq(hist_bucket_low(i), hist_bucket_high(i - 1) + 1);
        uint64_t lo = hist_bucket_low(i), width = hist_bucket_high(i) - lo + 1;
        ck_assert_msg(width * HIST_SUB <= lo || width == 1, "bucket %zu too wide", i);
    }
    /* Every value maps to the bucket that holds it. */
    static const uint64_t values[] = {
        0, 1, 255, 256, 257, 511, 512, 1000, 65535, 1000000, 99999999, (1ull << HIST_TOP_BITS) - 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t idx = hist_index(values[i]);
        ck_assert_uint_le(hist_bucket_low(idx), values[i]);
        ck_assert_uint_ge(hist_bucket_high(idx), values[i]);
    }
    ck_assert_uint_eq(hist_index(UINT64_MAX / 1000), HIST_BUCKETS - 1);
}
END_TEST

static struct hist *new_hist(void)
{
    struct hist *h = malloc(sizeof *h);
    ck_assert_ptr_nonnull(h);
    hist_init(h);
    return h;
}

static void assert_near(uint64_t got, uint64_t want, double rel)
{
    double d = (double)got - (double)want;
    if (d < 0)
        d = -d;
    ck_assert_msg(d <= rel * (double)want, "got %llu, want %llu (+-%.1f%%)",
                  (unsigned long long)got, (unsigned long long)want, rel * 100);
}

START_TEST(hist_percentiles_of_uniform_values)
{
    /* 1..10000 ms: the p-th percentile is p% of 10 s, within 1 %. */
    struct hist *h = new_hist();
    for (uint64_t ms = 1; ms <= 10000; ms++)
        hist_record(h, ms * 1000000);
    ck_assert_uint_eq(h->count, 10000);
    assert_near(hist_percentile(h, 50), 5000000000ull, 0.01);
    assert_near(hist_percentile(h, 99), 9900000000ull, 0.01);
    assert_near(hist_percentile(h, 1), 100000000ull, 0.01);
    ck_assert_uint_eq(hist_percentile(h, 100), 10000000000ull);
    ck_assert_uint_eq(h->min_ns, 1000000);
    free(h);
}
END_TEST

START_TEST(hist_merge_is_one_recording)
{
    /* Records split over two histograms (two client processes), merged:
     * the same histogram as if one had recorded them all. */
    struct hist *a = new_hist(), *b = new_hist(), *all = new_hist();
    for (uint64_t us = 1; us <= 3000; us++) {
        hist_record(us % 3 ? a : b, us * 1000);
        hist_record(all, us * 1000);
    }
    struct hist *empty = new_hist();
    hist_merge(a, empty); /* an empty one changes nothing, min included */
    hist_merge(a, b);
    ck_assert_mem_eq(a, all, sizeof *a);
    hist_merge(empty, all);
    ck_assert_mem_eq(empty, all, sizeof *a);
    free(a);
    free(b);
    free(all);
    free(empty);
}
END_TEST

START_TEST(hist_small_counts_and_edges)
{
    struct hist *h = new_hist();
    ck_assert_uint_eq(hist_percentile(h, 50), 0); /* empty */
    hist_record(h, 1234567);                      /* one value: every percentile is it */
    ck_assert_uint_eq(hist_percentile(h, 0), 1234567);
    ck_assert_uint_eq(hist_percentile(h, 50), 1234567);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 1234567);
    /* Two values far apart: p50 is the first, p51 the second. */
    hist_record(h, 5000000000ull);
    assert_near(hist_percentile(h, 50), 1234567, 0.01);
    assert_near(hist_percentile(h, 51), 5000000000ull, 0.01);
    /* Sub-microsecond values and values past the top stay bounded. */
    hist_record(h, 10);
    hist_record(h, 1000ull * 1000000000ull);          /* 1000 s */
    ck_assert_uint_le(hist_percentile(h, 0.1), 1000); /* the first microsecond */
    ck_assert_uint_eq(hist_percentile(h, 100), 1000ull * 1000000000ull);
    free(h);
}
END_TEST

START_TEST(hist_p99_sees_the_tail)
{
    /* 990 fast (1 ms) and 10 slow (200 ms) operations: p50 fast, p99 fast
     * (the 990th), p99.1 slow. */
    struct hist *h = new_hist();
    for (int i = 0; i < 990; i++)
        hist_record(h, 1000000);
    for (int i = 0; i < 10; i++)
        hist_record(h, 200000000);
    assert_near(hist_percentile(h, 50), 1000000, 0.01);
    assert_near(hist_percentile(h, 99), 1000000, 0.01);
    assert_near(hist_percentile(h, 99.1), 200000000, 0.01);
    free(h);
}
END_TEST

/* ---- pacing -------------------------------------------------------------- */

START_TEST(pace_keeps_the_rate)
{
    struct pace p;
    pace_init(&p, 20); /* one start every 50 ms */
    ck_assert(pace_take(&p, 100.0) == 0);
    /* Too early: the wait until the next start, nothing taken. */
    double w = pace_take(&p, 100.01);
    ck_assert(w > 0.0399 && w < 0.0401);
    ck_assert(pace_take(&p, 100.02) > 0);
    ck_assert(pace_take(&p, 100.05) == 0);
    /* 20 ms late: the schedule holds (the next is due at 100.15). */
    ck_assert(pace_take(&p, 100.12) == 0);
    w = pace_take(&p, 100.12);
    ck_assert(w > 0.0299 && w < 0.0301);
    /* A long pause: no burst to catch up; the schedule starts again. */
    ck_assert(pace_take(&p, 200.0) == 0);
    ck_assert(pace_take(&p, 200.0) > 0.0499);
    /* Starts at the times given: exactly 20 in a second. */
    pace_init(&p, 20);
    int n = 0;
    for (double t = 0; t < 1.0; t += 0.001)
        n += pace_take(&p, 300.0 + t) == 0;
    ck_assert_int_eq(n, 20);
}
END_TEST

/* ---- number parsing ------------------------------------------------------ */

START_TEST(parse_numbers)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t v;
    } u[] = {
        {"0", 0, 0},   {"1", 0, 1},   {"65535", 0, 65535}, {"65536", -1, 0},
        {"", -1, 0},   {"-1", -1, 0}, {"+1", -1, 0},       {" 1", -1, 0},
        {"1 ", -1, 0}, {"1x", -1, 0}, {"0x10", -1, 0},     {"99999999999999999999999", -1, 0},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        uint64_t v = 12345;
        ck_assert_msg(parse_u64(u[i].s, 0, 65535, &v) == u[i].rc, "'%s'", u[i].s);
        if (u[i].rc == 0)
            ck_assert_uint_eq(v, u[i].v);
    }
    uint64_t v;
    ck_assert_int_eq(parse_u64("0", 1, 10, &v), -1); /* below min */

    static const struct {
        const char *s;
        int rc;
        double v;
    } d[] = {
        {"2", 0, 2.0},  {"0.5", 0, 0.5}, {".25", 0, 0.25}, {"0", -1, 0},  {"-1", -1, 0},
        {"nan", -1, 0}, {"inf", -1, 0},  {"1e9", -1, 0},   {"1s", -1, 0}, {"", -1, 0},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        double x = -1;
        ck_assert_msg(parse_seconds(d[i].s, 0.001, 86400, &x) == d[i].rc, "'%s'", d[i].s);
        if (d[i].rc == 0)
            ck_assert(x == d[i].v);
    }
}
END_TEST

/* ---- the command line ---------------------------------------------------- */

/* Parse a NULL-terminated argument list (argv[0] added). */
static enum opts_result parse(struct bench_opts *o, char *err, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"ftpbench";
    for (; *args != NULL; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    opts_defaults(o);
    return opts_parse(o, argc, argv, err, 256);
}

START_TEST(opts_defaults_and_values)
{
    struct bench_opts o;
    char err[256];
    const char *a[] = {"--scenario", "login", NULL};
    ck_assert_int_eq(parse(&o, err, a), OPTS_RUN);
    ck_assert_int_eq(o.scenario, SC_LOGIN);
    ck_assert_str_eq(o.host, "127.0.0.1");
    ck_assert_int_eq(o.port, 2121);
    ck_assert_str_eq(o.user, "anonymous");
    ck_assert_uint_eq(o.concurrency, 16);
    ck_assert(o.duration == 10.0);
    ck_assert_uint_eq(o.count, 0);
    ck_assert(o.timeout == 10.0);
    ck_assert_uint_eq(o.sessions, 1000);
    ck_assert_uint_eq(o.slow, 100);
    ck_assert(o.slow_tick == 0);
    ck_assert_int_eq(o.size, -1);
    const char *sl[] = {"--scenario", "slow",        "--file", "/f", "--slow",
                        "2000",       "--slow-tick", "1",      NULL};
    ck_assert_int_eq(parse(&o, err, sl), OPTS_RUN);
    ck_assert_uint_eq(o.slow, 2000);
    ck_assert(o.slow_tick == 1.0);

    const char *b[] = {"--scenario=retr-big",
                       "--file",
                       "/big",
                       "--size",
                       "268435456",
                       "--count",
                       "50",
                       "--concurrency",
                       "4",
                       "--epsv",
                       "--sources",
                       "8",
                       "--label",
                       "ftpd-reactor",
                       "--csv",
                       "--json",
                       "--quiet",
                       "--port",
                       "2200",
                       NULL};
    ck_assert_int_eq(parse(&o, err, b), OPTS_RUN);
    ck_assert_int_eq(o.scenario, SC_RETR_BIG);
    ck_assert_str_eq(o.file, "/big");
    ck_assert_int_eq(o.size, 268435456);
    ck_assert_uint_eq(o.count, 50);
    ck_assert(o.duration == 0); /* count replaces the default duration */
    ck_assert_uint_eq(o.concurrency, 4);
    ck_assert(o.epsv && o.csv && o.json && o.quiet && !o.csv_header);
    ck_assert_uint_eq(o.sources, 8);
    ck_assert_str_eq(o.label, "ftpd-reactor");
    ck_assert_int_eq(o.port, 2200);

    const char *c[] = {"--scenario", "idle",         "--sessions", "10000", "--hold",
                       "2.5",        "--server-pid", "1234",       NULL};
    ck_assert_int_eq(parse(&o, err, c), OPTS_RUN);
    ck_assert_uint_eq(o.sessions, 10000);
    ck_assert(o.hold == 2.5);
    ck_assert_int_eq(o.server_pid, 1234);

    const char *h[] = {"--scenario", "login", "--help", NULL};
    ck_assert_int_eq(parse(&o, err, h), OPTS_HELP);
}
END_TEST

START_TEST(opts_stor_accounts_and_rates)
{
    struct bench_opts o;
    char err[256];
    /* stor-*: --size defaults by scenario, uploads go to --dir. */
    const char *a[] = {"--scenario", "stor-small", "--dir", "/upload", NULL};
    ck_assert_int_eq(parse(&o, err, a), OPTS_RUN);
    ck_assert_int_eq(o.scenario, SC_STOR_SMALL);
    ck_assert_int_eq(o.size, 4096);
    ck_assert_str_eq(o.dir, "/upload");
    ck_assert(o.rate == 0 && o.bg_rate == 0);
    ck_assert(scenario_stor(SC_STOR_SMALL) && scenario_session_op(SC_STOR_SMALL));
    ck_assert(!scenario_retr(SC_STOR_SMALL));
    const char *b[] = {"--scenario", "stor-big", "--count", "3", NULL};
    ck_assert_int_eq(parse(&o, err, b), OPTS_RUN);
    ck_assert_int_eq(o.size, 268435456);
    ck_assert(scenario_stor(SC_STOR_BIG) && !scenario_session_op(SC_STOR_BIG));
    const char *c[] = {"--scenario", "stor-big", "--size", "1000", NULL};
    ck_assert_int_eq(parse(&o, err, c), OPTS_RUN);
    ck_assert_int_eq(o.size, 1000);

    /* An account for every session; --pass and --password are one option. */
    const char *d[] = {"--scenario", "login",  "--user", "bench", "--password",
                       "s3cret",     "--rate", "20.5",   NULL};
    ck_assert_int_eq(parse(&o, err, d), OPTS_RUN);
    ck_assert_str_eq(o.user, "bench");
    ck_assert_str_eq(o.pass, "s3cret");
    ck_assert(o.rate == 20.5);
    ck_assert_str_eq(o.bg_user, "bench"); /* background logins default to it */
    const char *e[] = {"--scenario", "login", "--pass", "x", NULL};
    ck_assert_int_eq(parse(&o, err, e), OPTS_RUN);
    ck_assert_str_eq(o.pass, "x");

    /* idle with background logins, their own account. */
    const char *f[] = {"--scenario",
                       "idle",
                       "--sessions",
                       "1000",
                       "--background-logins",
                       "20",
                       "--background-user",
                       "bench",
                       "--background-password",
                       "pw",
                       "--concurrency",
                       "4",
                       NULL};
    ck_assert_int_eq(parse(&o, err, f), OPTS_RUN);
    ck_assert(o.bg_rate == 20.0);
    ck_assert_str_eq(o.bg_user, "bench");
    ck_assert_str_eq(o.bg_pass, "pw");
    ck_assert_str_eq(o.user, "anonymous"); /* the held sessions */
    ck_assert_uint_eq(o.concurrency, 4);

    /* --count and --duration together: both bound the run. */
    const char *g[] = {"--scenario", "stor-big", "--count", "5", "--duration", "30", NULL};
    ck_assert_int_eq(parse(&o, err, g), OPTS_RUN);
    ck_assert_uint_eq(o.count, 5);
    ck_assert(o.duration == 30.0);
    const char *h[] = {"--scenario", "stor-big", "--count", "5", NULL};
    ck_assert_int_eq(parse(&o, err, h), OPTS_RUN);
    ck_assert(o.duration == 0);
    /* idle: --rate paces the ramp's logins. */
    ck_assert_int_eq(parse(&o, err, (const char *[]){"--scenario", "idle", "--rate", "50", NULL}),
                     OPTS_RUN);
    ck_assert(o.rate == 50.0);
}
END_TEST

START_TEST(opts_tls)
{
    struct bench_opts o;
    char err[256];
    const char *a[] = {"--scenario", "login", NULL};
    ck_assert_int_eq(parse(&o, err, a), OPTS_RUN);
    ck_assert(!o.tls);
    ck_assert_ptr_null(o.tls_ca);
    const char *b[] = {"--scenario", "retr-big", "--file", "/big", "--tls", NULL};
    ck_assert_int_eq(parse(&o, err, b), OPTS_RUN);
    ck_assert(o.tls);
    ck_assert_ptr_null(o.tls_ca);
    const char *c[] = {"--scenario", "retr-small", "--file",  "/s",
                       "--tls",      "--tls-ca",   "/ca.pem", NULL};
    ck_assert_int_eq(parse(&o, err, c), OPTS_RUN);
    ck_assert_str_eq(o.tls_ca, "/ca.pem");
    /* The scenarios whose every byte goes through the TLS layer. */
    ck_assert(scenario_tls(SC_LOGIN) && scenario_tls(SC_RETR_SMALL) && scenario_tls(SC_RETR_BIG));
    ck_assert(!scenario_tls(SC_SLOW) && !scenario_tls(SC_STOR_SMALL) && !scenario_tls(SC_STOR_BIG));
    /* Refused, with a message that names the scenario. */
    const char *d[] = {"--scenario", "slow", "--file", "/s", "--tls", NULL};
    ck_assert_int_eq(parse(&o, err, d), OPTS_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "not to slow"));
    const char *e[] = {"--scenario", "stor-big", "--tls", NULL};
    ck_assert_int_eq(parse(&o, err, e), OPTS_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "not to stor-big"));
    const char *f[] = {"--scenario", "login", "--tls-ca", "/ca.pem", NULL};
    ck_assert_int_eq(parse(&o, err, f), OPTS_USAGE);
    ck_assert_str_eq(err, "--tls-ca needs --tls");
}
END_TEST

START_TEST(opts_usage_errors)
{
    /* Each line: arguments that must be refused. */
    static const char *const bad[][8] = {
        {NULL},                       /* no scenario */
        {"--scenario", "nope", NULL}, /* unknown scenario */
        {"--scenario", "login", "--port", "0", NULL},
        {"--scenario", "login", "--port", "70000", NULL},
        {"--scenario", "login", "--concurrency", "0", NULL},
        {"--scenario", "login", "--rate", "0", NULL},
        {"--scenario", "login", "--rate", "-5", NULL},
        {"--scenario", "login", "--background-logins", "20", NULL}, /* idle only */
        {"--scenario", "idle", "--background-user", "u", NULL},     /* needs the rate */
        {"--scenario", "stor-small", "--file", "/x", NULL},         /* uploads go to --dir */
        {"--scenario", "login", "--password", "a\nQUIT", NULL},
        {"--scenario", "login", "--count", "0", NULL},
        {"--scenario", "retr-small", NULL}, /* needs --file */
        {"--scenario", "login", "--bogus", NULL},
        {"--scenario", "login", "--port", NULL}, /* missing value */
        {"--scenario", "login", "extra", NULL},
        {"--scenario", "login", "--sources", "255", NULL},
        {"--scenario", "login", "--host", "::1", "--sources", "2", NULL},
        {"--scenario", "login", "--user", "a\r\nDELE x", NULL}, /* command injection */
        {"--scenario", "idle", "--count", "5", NULL},
        {"--scenario", "login", "--timeout", "0", NULL},
        {"--scenario", "slow", "--file", "/f", "--slow-tick", "0", NULL},
        {"--scenario", "login", "--procs", "2", NULL}, /* idle only */
        {"--scenario", "idle", "--procs", "0", NULL},
        {"--scenario", "idle", "--procs", "65", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct bench_opts o;
        char err[256];
        ck_assert_msg(parse(&o, err, bad[i]) == OPTS_USAGE, "case %zu accepted", i);
        ck_assert_msg(err[0] != '\0', "case %zu: no message", i);
    }
}
END_TEST

START_TEST(scenario_names_round_trip)
{
    for (int i = 0; i < SC_COUNT; i++) {
        enum scenario s;
        ck_assert_int_eq(scenario_from_name(scenario_name((enum scenario)i), &s), 0);
        ck_assert_int_eq(s, i);
    }
    enum scenario s;
    ck_assert_int_eq(scenario_from_name("LOGIN", &s), -1);
}
END_TEST

/* ---- replies ------------------------------------------------------------- */

/* Feed lines; return the code of the reply completed by the last one, 0 if
 * unfinished, -1 if a line was refused. */
static int feed(struct reply_parser *rp, const char *const *lines)
{
    int code = 0;
    for (; *lines != NULL; lines++) {
        enum reply_status st = reply_feed(rp, *lines, strlen(*lines), &code);
        if (st == REPLY_BAD)
            return -1;
        if (st == REPLY_MORE)
            code = 0;
    }
    return code;
}

START_TEST(reply_framing)
{
    struct reply_parser rp;
    reply_reset(&rp);
    const char *one[] = {"220 ftpd ready.", NULL};
    ck_assert_int_eq(feed(&rp, one), 220);
    const char *bare[] = {"200", NULL};
    ck_assert_int_eq(feed(&rp, bare), 200);
    /* Multi-line: inner lines may start with digits, even another code
     * or the same code with '-'; only "NNN " with the same code ends it. */
    const char *multi[] = {"211-Features:", " MDTM", "226 not the end",
                           "211-still not", "211",   NULL};
    ck_assert_int_eq(feed(&rp, multi), 211);
    const char *open[] = {"220-Welcome", "220-more", NULL};
    ck_assert_int_eq(feed(&rp, open), 0);
    const char *close[] = {"220 ready", NULL};
    ck_assert_int_eq(feed(&rp, close), 220);
    /* Garbage outside a multi-line reply. */
    static const char *const junk[] = {"", "22", "hello", "2x0 no", "220x", "620 no", "099 no"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        const char *l[] = {junk[i], NULL};
        reply_reset(&rp);
        ck_assert_msg(feed(&rp, l) == -1, "'%s' accepted", junk[i]);
    }
}
END_TEST

START_TEST(reply_passive_ports)
{
    static const struct {
        const char *text;
        int port; /* -1: refused */
    } pasv[] = {
        {"227 Entering Passive Mode (127,0,0,1,195,80).", 195 * 256 + 80},
        {"227 Entering Passive Mode (127,0,0,1,0,21)", 21},
        {"227 =127,0,0,1,4,1", 1025}, /* no parentheses */
        {"227 Entering Passive Mode (127,0,0,1,256,1).", -1},
        {"227 Entering Passive Mode (127,0,0,1,4).", -1},
        {"227 Entering Passive Mode (127,0,0,1,0,0).", -1},
        {"227 Entering Passive Mode", -1},
        {"227 (1,2,3,4,5,6", 1286},
    };
    for (size_t i = 0; i < sizeof pasv / sizeof pasv[0]; i++) {
        int port = 0;
        int rc = reply_pasv_port(pasv[i].text, &port);
        ck_assert_msg(rc == (pasv[i].port < 0 ? -1 : 0), "'%s'", pasv[i].text);
        if (rc == 0)
            ck_assert_int_eq(port, pasv[i].port);
    }
    static const struct {
        const char *text;
        int port;
    } epsv[] = {
        {"229 Entering Extended Passive Mode (|||50123|)", 50123},
        {"229 Entering Extended Passive Mode (!!!2121!)", 2121},
        {"229 Entering Extended Passive Mode (|||65536|)", -1},
        {"229 Entering Extended Passive Mode (||50123|)", -1},
        {"229 Entering Extended Passive Mode (|||50123)", -1},
        {"229 Entering Extended Passive Mode (|||0|)", -1},
        {"229 Entering Extended Passive Mode", -1},
        {"229 (", -1},
    };
    for (size_t i = 0; i < sizeof epsv / sizeof epsv[0]; i++) {
        int port = 0;
        int rc = reply_epsv_port(epsv[i].text, &port);
        ck_assert_msg(rc == (epsv[i].port < 0 ? -1 : 0), "'%s'", epsv[i].text);
        if (rc == 0)
            ck_assert_int_eq(port, epsv[i].port);
    }
    int64_t size;
    ck_assert_int_eq(reply_size("213 268435456", &size), 0);
    ck_assert_int_eq(size, 268435456);
    ck_assert_int_eq(reply_size("213 0", &size), 0);
    ck_assert_int_eq(size, 0);
    ck_assert_int_eq(reply_size("213 12x", &size), -1);
    ck_assert_int_eq(reply_size("213 ", &size), -1);
    ck_assert_int_eq(reply_size("550 No such file.", &size), -1);
    ck_assert_int_eq(reply_size("213 99999999999999999999", &size), -1);
}
END_TEST

/* ---- report -------------------------------------------------------------- */

static char *render(void (*fn)(FILE *, const struct result *), const struct result *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    fn(f, r);
    ck_assert_int_eq(fclose(f), 0);
    return text;
}

static void header(FILE *f, const struct result *r)
{
    report_csv_header(f);
}

START_TEST(report_csv_and_json)
{
    struct result r = {
        .label = "ftpd,\"reactor\"",
        .scenario = "retr-big",
        .concurrency = 4,
        .duration_s = 2.0,
        .ops = 10,
        .has_bytes = true,
        .bytes = 50000000,
        .p50_ms = 1.5,
        .p99_ms = 2.25,
        .max_ms = 3.0,
        .mem_before_kib = -1,
        .mem_held_kib = -1,
    };
    r.errors[ERR_TIMEOUT] = 1;
    char *h = render(header, &r);
    ck_assert_str_eq(h, "label,scenario,concurrency,duration_s,ops,errors,ops_per_s,mb_per_s,"
                        "p50_ms,p99_ms,max_ms,sessions_held,noop_p50_ms,noop_p99_ms,"
                        "mem_before_kib,mem_held_kib,bytes_per_session,slow_clients,slow_ops,"
                        "user,bg_logins,bg_login_p99_ms,procs,slab_delta_kib,"
                        "sunreclaim_delta_kib,tcp_mem_delta_kib,kernel_bytes_per_session,tls\n");
    char *csv = render(report_csv, &r);
    ck_assert_str_eq(csv, "\"ftpd,\"\"reactor\"\"\",retr-big,4,2.000,10,1,5.0,25.00,1.500,2.250,"
                          "3.000,,,,,,,,,,,,,,,,,\n");
    char *json = render(report_json, &r);
    ck_assert_ptr_nonnull(strstr(json, "{\"label\": \"ftpd,\\\"reactor\\\"\", "));
    ck_assert_ptr_nonnull(strstr(json, "\"mb_per_s\": 25.00, "));
    ck_assert_ptr_nonnull(strstr(json, "\"sessions_held\": null, "));
    ck_assert_ptr_nonnull(strstr(json, "\"slow_ops\": null, \"user\": \"\", "));
    ck_assert_ptr_nonnull(strstr(json, "\"bg_login_p99_ms\": null, "));
    ck_assert_ptr_nonnull(strstr(json, "\"kernel_bytes_per_session\": null, \"tls\": null}\n"));
    /* --tls: "yes" in the tls column. */
    r.tls = true;
    char *tcsv = render(report_csv, &r);
    ck_assert_str_eq(tcsv, "\"ftpd,\"\"reactor\"\"\",retr-big,4,2.000,10,1,5.0,25.00,1.500,2.250,"
                           "3.000,,,,,,,,,,,,,,,,,yes\n");
    char *tjson = render(report_json, &r);
    ck_assert_ptr_nonnull(strstr(tjson, "\"tls\": \"yes\"}\n"));
    free(tcsv);
    free(tjson);
    r.tls = false;
    /* 1 error in 10 operations is over 1 %. */
    ck_assert_int_eq(result_exit_status(&r), 1);
    r.ops = 100;
    ck_assert_int_eq(result_exit_status(&r), 0);
    r.ops = 0;
    r.errors[ERR_TIMEOUT] = 0;
    ck_assert_int_eq(result_exit_status(&r), 1); /* nothing done */
    free(h);
    free(csv);
    free(json);
}
END_TEST

START_TEST(report_idle_memory)
{
    struct result r = {
        .label = "",
        .scenario = "idle",
        .concurrency = 1000,
        .duration_s = 5.0,
        .ops = 5000,
        .p50_ms = 0.1,
        .p99_ms = 0.2,
        .max_ms = 0.5,
        .idle = true,
        .sessions_held = 1000,
        .noop_p50_ms = 0.1,
        .noop_p99_ms = 0.2,
        .mem_before_kib = 1000,
        .mem_held_kib = 3000,
    };
    char *csv = render(report_csv, &r);
    /* (3000 - 1000) KiB over 1000 sessions = 2048 bytes each. */
    ck_assert_str_eq(csv, ",idle,1000,5.000,5000,0,1000.0,,0.100,0.200,0.500,1000,0.100,0.200,"
                          "1000,3000,2048,,,,,,,,,,,\n");
    ck_assert_int_eq(result_exit_status(&r), 0);
    r.errors[ERR_CONNECT] = 60; /* 60 of 6000 attempts (sessions + NOOPs) */
    ck_assert_int_eq(result_exit_status(&r), 0);
    r.errors[ERR_CONNECT] = 61;
    ck_assert_int_eq(result_exit_status(&r), 1);
    free(csv);
}
END_TEST

START_TEST(opts_procs_spread)
{
    /* idle: one process per 15,000 sessions unless --procs says; never
     * more processes than sessions; other scenarios one. */
    struct bench_opts o;
    char err[256];
    ck_assert_int_eq(parse(&o, err, (const char *[]){"--scenario", "idle", NULL}), OPTS_RUN);
    ck_assert_uint_eq(opts_procs(&o), 1);
    o.sessions = IDLE_SESSIONS_PER_PROC;
    ck_assert_uint_eq(opts_procs(&o), 1);
    o.sessions = IDLE_SESSIONS_PER_PROC + 1;
    ck_assert_uint_eq(opts_procs(&o), 2);
    o.sessions = 100000;
    ck_assert_uint_eq(opts_procs(&o), 7);
    ck_assert_int_eq(
        parse(&o, err,
              (const char *[]){"--scenario", "idle", "--sessions", "3", "--procs", "8", NULL}),
        OPTS_RUN);
    ck_assert_uint_eq(opts_procs(&o), 3);
    o.sessions = 100;
    ck_assert_uint_eq(opts_procs(&o), 8);
    ck_assert_int_eq(parse(&o, err, (const char *[]){"--scenario", "login", NULL}), OPTS_RUN);
    o.sessions = 100000;
    ck_assert_uint_eq(opts_procs(&o), 1);
}
END_TEST

START_TEST(kmem_parsers)
{
    int64_t v = 0;
    ck_assert_int_eq(kmem_parse_meminfo("Slab:             123456 kB\n", "Slab", &v), 0);
    ck_assert_int_eq(v, 123456);
    ck_assert_int_eq(kmem_parse_meminfo("SUnreclaim:  77 kB\n", "SUnreclaim", &v), 0);
    ck_assert_int_eq(v, 77);
    /* Another key, or a key that only starts the same, is not it. */
    ck_assert_int_eq(kmem_parse_meminfo("SReclaimable: 5 kB\n", "Slab", &v), -1);
    ck_assert_int_eq(kmem_parse_meminfo("Slabby: 5 kB\n", "Slab", &v), -1);
    ck_assert_int_eq(kmem_parse_meminfo("Slab: kB\n", "Slab", &v), -1);
    ck_assert_int_eq(
        kmem_parse_sockstat("TCP: inuse 200005 orphan 0 tw 3 alloc 200010 mem 42\n", &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(kmem_parse_sockstat("UDP: inuse 3 mem 2\n", &v), -1);
    ck_assert_int_eq(kmem_parse_sockstat("TCP: inuse 5\n", &v), -1);
    /* (Slab + TCP buffers) over the sessions, in bytes. */
    struct kmem k0 = {.slab_kib = 1000, .sunreclaim_kib = 500, .tcp_mem_kib = 8};
    struct kmem k1 = {.slab_kib = 2000, .sunreclaim_kib = 900, .tcp_mem_kib = 32};
    ck_assert_int_eq(kmem_per_session(&k0, &k1, 1024), 1024);
    ck_assert_int_eq(kmem_per_session(&k0, &k1, 0), -1);
    struct kmem none;
    kmem_read_none(&none);
    ck_assert_int_eq(kmem_per_session(&none, &k1, 10), -1);
    /* This machine's own figures read (Linux). */
    struct kmem now;
    kmem_read(&now);
    ck_assert_int_gt(now.slab_kib, 0);
    ck_assert_int_ge(now.tcp_mem_kib, 0);
}
END_TEST

START_TEST(report_idle_kernel_and_procs)
{
    struct result r = {
        .label = "",
        .scenario = "idle",
        .concurrency = 100000,
        .duration_s = 5.0,
        .idle = true,
        .sessions_held = 100000,
        .mem_before_kib = -1,
        .mem_held_kib = -1,
        .procs = 7,
        .slab_delta_kib = 500000,
        .sunreclaim_delta_kib = 300000,
        .tcp_mem_delta_kib = -1,
        .kernel_bytes_per_session = 5120,
    };
    char *csv = render(report_csv, &r);
    ck_assert_str_eq(csv,
                     ",idle,100000,5.000,0,0,0.0,,,,,100000,,,,,,,,,,,7,500000,300000,,5120,\n");
    char *human = render(report_human, &r);
    ck_assert_ptr_nonnull(strstr(human, "Slab +500000 KiB (SUnreclaim +300000)"));
    ck_assert_ptr_nonnull(strstr(human, "5120 bytes/session"));
    ck_assert_ptr_nonnull(strstr(human, "7 processes"));
    free(csv);
    free(human);
}
END_TEST

START_TEST(report_stor_user_and_background)
{
    /* A STOR run: MB/s of what was sent; the account as text. */
    struct result r = {
        .label = "vsftpd",
        .scenario = "stor-small",
        .concurrency = 16,
        .duration_s = 2.0,
        .ops = 2000,
        .has_bytes = true,
        .upload = true,
        .bytes = 2000 * 4096,
        .p50_ms = 1,
        .p99_ms = 2,
        .max_ms = 3,
        .mem_before_kib = -1,
        .mem_held_kib = -1,
        .file_size = 4096,
        .user = "a,b",
    };
    char *csv = render(report_csv, &r);
    ck_assert_str_eq(csv, "vsftpd,stor-small,16,2.000,2000,0,1000.0,4.10,1.000,2.000,3.000,"
                          ",,,,,,,,\"a,b\",,,,,,,,\n");
    free(csv);

    /* idle with background logins: their count and p99; each is an attempt. */
    struct result i = {
        .label = "ftpd-hybrid",
        .scenario = "idle",
        .concurrency = 1000,
        .duration_s = 5.0,
        .ops = 5000,
        .p50_ms = 0.1,
        .p99_ms = 0.2,
        .max_ms = 0.5,
        .idle = true,
        .sessions_held = 1000,
        .noop_p50_ms = 0.1,
        .noop_p99_ms = 0.2,
        .mem_before_kib = -1,
        .mem_held_kib = -1,
        .user = "anonymous",
        .bg = true,
        .bg_ops = 100,
        .bg_p99_ms = 25.5,
    };
    csv = render(report_csv, &i);
    ck_assert_str_eq(csv, "ftpd-hybrid,idle,1000,5.000,5000,0,1000.0,,0.100,0.200,0.500,1000,0.100,"
                          "0.200,,,,,,anonymous,100,25.500,,,,,,\n");
    char *json = render(report_json, &i);
    ck_assert_ptr_nonnull(strstr(json, "\"user\": \"anonymous\", \"bg_logins\": 100, "
                                       "\"bg_login_p99_ms\": 25.500, "));
    /* 61 errors of 6100 attempts (1000 logins, 5000 NOOPs, 100 background). */
    i.errors[ERR_BAD_REPLY] = 61;
    ck_assert_int_eq(result_exit_status(&i), 0);
    i.errors[ERR_BAD_REPLY] = 62;
    ck_assert_int_eq(result_exit_status(&i), 1);
    free(csv);
    free(json);
}
END_TEST

START_TEST(report_errors_names_the_first_bad_reply)
{
    struct result r = {.scenario = "retr-small", .mem_before_kib = -1, .mem_held_kib = -1};
    char *none = render(report_errors, &r);
    ck_assert_str_eq(none, "none");
    r.errors[ERR_TIMEOUT] = 2;
    r.bad_reply = "to transfer: \"425 No data connection.\"";
    char *timeout = render(report_errors, &r); /* no bad reply counted: not named */
    ck_assert_str_eq(timeout, "timeout 2");
    r.errors[ERR_BAD_REPLY] = 3;
    char *bad = render(report_errors, &r);
    ck_assert_str_eq(bad, "timeout 2, bad_reply 3; first bad reply: to transfer: "
                          "\"425 No data connection.\"");
    r.bad_reply = "";
    char *unnamed = render(report_errors, &r);
    ck_assert_str_eq(unnamed, "timeout 2, bad_reply 3");
    free(none);
    free(timeout);
    free(bad);
    free(unnamed);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("bench_stats");
    TCase *t = tcase_create("stats");
    tcase_add_test(t, hist_buckets_are_contiguous_and_narrow);
    tcase_add_test(t, hist_percentiles_of_uniform_values);
    tcase_add_test(t, hist_small_counts_and_edges);
    tcase_add_test(t, hist_merge_is_one_recording);
    tcase_add_test(t, hist_p99_sees_the_tail);
    tcase_add_test(t, pace_keeps_the_rate);
    suite_add_tcase(s, t);
    t = tcase_create("opts");
    tcase_add_test(t, parse_numbers);
    tcase_add_test(t, opts_defaults_and_values);
    tcase_add_test(t, opts_usage_errors);
    tcase_add_test(t, opts_stor_accounts_and_rates);
    tcase_add_test(t, opts_tls);
    tcase_add_test(t, scenario_names_round_trip);
    tcase_add_test(t, opts_procs_spread);
    tcase_add_test(t, kmem_parsers);
    suite_add_tcase(s, t);
    t = tcase_create("reply");
    tcase_add_test(t, reply_framing);
    tcase_add_test(t, reply_passive_ports);
    suite_add_tcase(s, t);
    t = tcase_create("report");
    tcase_add_test(t, report_csv_and_json);
    tcase_add_test(t, report_idle_memory);
    tcase_add_test(t, report_stor_user_and_background);
    tcase_add_test(t, report_idle_kernel_and_procs);
    tcase_add_test(t, report_errors_names_the_first_bad_reply);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN()

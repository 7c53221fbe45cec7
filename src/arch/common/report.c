/* --status (JSON, text) and /metrics (Prometheus text exposition 0.0.4)
 * from the shared counters and board. */
#include "arch/common/report.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/stats.h"

#ifndef FTPD_VERSION
#define FTPD_VERSION "unknown"
#endif

/* Label values and JSON keys, in enum order. */
static const char *const xfer_results[XFER_RESULTS] = {
    "ok",       "no_conn",  "aborted", "conn_lost",   "local_error",
    "shutdown", "no_space", "quota",   "tls_refused",
};
static const char *const refusals[REFUSAL_KINDS] = {
    "max_clients", "max_per_ip", "shutting_down", "no_memory", "busy", "one_at_a_time",
};
static const char *const xfer_kinds[] = {"", "RETR", "STOR", "LIST"};

/* One pass over the board. */
struct snapshot {
    int64_t now;
    uint64_t total[STAT_COUNTERS];
    unsigned long refused[REFUSAL_KINDS];
    int *row_sessions; /* [nrows] */
    int sessions, logged_in, transfers, workers;
};

static bool pid_alive(pid_t pid)
{
    return pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH;
}

static void sum_rows(const struct stats *st, struct snapshot *snap)
{
    for (int r = 0; r < st->nrows; r++) {
        const struct stats_row *row = &st->rows[r];
        int pid = atomic_load(&row->pid);
        if (pid == 0)
            continue;
        for (int c = 0; c < STAT_COUNTERS; c++)
            snap->total[c] += atomic_load_explicit(&row->c[c], memory_order_relaxed);
        if (r > 0 && pid_alive(pid))
            snap->workers++;
    }
    if (snap->workers == 0)
        snap->workers = 1; /* a single process serves */
}

/* A row worth listing: ever used (a worker gone since is listed as such,
 * so the rows always add up to the totals); the master's row 0 only when
 * it serves (no worker rows in use). */
static bool row_shown(const struct stats *st, const struct snapshot *snap, int r)
{
    if (atomic_load(&st->rows[r].pid) == 0)
        return false;
    if (r > 0 || snap->row_sessions[0] > 0)
        return true;
    for (int i = 1; i < st->nrows; i++) {
        if (atomic_load(&st->rows[i].pid) != 0)
            return false;
    }
    return true;
}

/* What a row is called: prefork and hybrid workers by their slot, as the
 * log's "worker N started" names them; the single process (row 0) is 0. */
static int row_label(int row)
{
    return row > 0 ? row - 1 : 0;
}

static void json_str(struct buf *out, const char *s)
{
    buf_append(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            buf_printf(out, "\\u%04x", *p); /* bytes, not characters: file names may be anything */
        else
            buf_append(out, p, 1);
    }
    buf_append(out, "\"", 1);
}

/* A text field: control bytes shown as '?'. */
static void text_str(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

static double secs(int64_t ms)
{
    return (double)ms / 1000.0;
}

static double rate_of(const struct stats_view *v, int64_t now)
{
    int64_t ms = now - v->xfer_started;
    return ms > 0 ? (double)v->xfer_bytes * 1000.0 / (double)ms : 0.0;
}

static void json_session(struct buf *out, const struct stats_view *v, int64_t now, bool first)
{
    buf_printf(out, "%s{\"pid\":%d,\"worker\":%d,\"peer\":", first ? "" : ",", (int)v->owner,
               row_label(v->row));
    json_str(out, v->peer);
    buf_printf(out, ",\"user\":");
    json_str(out, v->user);
    buf_printf(out, ",\"logged_in\":%s,\"connected\":%.3f,\"idle\":%.3f,\"transfer\":",
               v->logged_in ? "true" : "false", secs(v->connected), secs(now - v->last_active));
    if (v->xfer == STATS_XFER_NONE) {
        buf_printf(out, "null}");
        return;
    }
    buf_printf(out, "{\"command\":\"%s\",\"file\":", xfer_kinds[v->xfer]);
    json_str(out, v->path);
    buf_printf(out, ",\"bytes\":%llu,\"size\":%llu,\"seconds\":%.3f,\"rate\":%.1f}}",
               (unsigned long long)v->xfer_bytes, (unsigned long long)v->xfer_size,
               secs(now - v->xfer_started), rate_of(v, now));
}

static void text_session(struct buf *out, struct stats_view *v, int64_t now)
{
    text_str(v->user);
    text_str(v->path);
    int64_t idle = (now - v->last_active) / 1000;
    buf_printf(out, "%-7d %-6d %-16s %-39s %3lld:%02lld ", (int)v->owner, row_label(v->row),
               v->logged_in ? v->user : "(login)", v->peer, (long long)(idle / 60),
               (long long)(idle % 60));
    if (v->xfer == STATS_XFER_NONE)
        buf_printf(out, "IDLE\n");
    else
        buf_printf(out, "%s %s %llu/%llu bytes %.1f KiB/s\n", xfer_kinds[v->xfer], v->path,
                   (unsigned long long)v->xfer_bytes, (unsigned long long)v->xfer_size,
                   rate_of(v, now) / 1024.0);
}

/* Every live session, counted into snap and (unless out is NULL) listed. */
static void scan_board(struct stats *st, struct snapshot *snap, enum report_format f,
                       struct buf *out, bool *cut)
{
    int used = atomic_load(&st->slots_used);
    for (int i = 0; i < used && i < st->nslots; i++) {
        struct stats_view v;
        if (!stats_slot_read(&st->slots[i], &v) || !pid_alive(v.owner))
            continue;
        if (v.row >= 0 && v.row < st->nrows)
            snap->row_sessions[v.row]++;
        snap->sessions++;
        snap->logged_in += v.logged_in;
        snap->transfers += v.xfer != STATS_XFER_NONE;
        if (out == NULL || *cut)
            continue;
        size_t before = out->len;
        if (f == REPORT_JSON)
            json_session(out, &v, snap->now, snap->sessions == 1);
        else
            text_session(out, &v, snap->now);
        if (out->overflow) {
            /* Drop the partial entry; the listing stops here. */
            out->len = before;
            out->overflow = false;
            *cut = true;
        }
    }
}

static void json_counters(struct buf *out, const uint64_t *c)
{
    buf_printf(out,
               "{\"sessions\":%llu,\"logins_ok\":%llu,\"logins_failed\":%llu,"
               "\"bytes_in\":%llu,\"bytes_out\":%llu,\"idle_timeouts\":%llu,\"transfers\":{",
               (unsigned long long)c[STAT_SESSIONS], (unsigned long long)c[STAT_LOGINS_OK],
               (unsigned long long)c[STAT_LOGINS_FAILED], (unsigned long long)c[STAT_BYTES_IN],
               (unsigned long long)c[STAT_BYTES_OUT], (unsigned long long)c[STAT_IDLE_TIMEOUTS]);
    for (int r = 0; r < XFER_RESULTS; r++)
        buf_printf(out, "%s\"%s\":%llu", r > 0 ? "," : "", xfer_results[r],
                   (unsigned long long)c[STAT_XFER_FIRST + r]);
    buf_printf(out, "}}");
}

static void row_counters(const struct stats_row *row, uint64_t *c)
{
    for (int i = 0; i < STAT_COUNTERS; i++)
        c[i] = atomic_load_explicit(&row->c[i], memory_order_relaxed);
}

static int render_json(const struct ftpd_server *srv, struct snapshot *snap, struct buf *out)
{
    struct stats *st = srv->stats;
    struct buf list;
    buf_init(&list, out->limit > 4096 ? out->limit - 4096 : 4096);
    bool cut = false;
    scan_board(st, snap, REPORT_JSON, &list, &cut);

    buf_printf(out,
               "{\"version\":\"%s\",\"arch\":\"%s\",\"pid\":%d,\"started\":%.3f,"
               "\"uptime\":%.3f,\"workers\":[",
               FTPD_VERSION, srv->cfg->arch, (int)st->pid, secs(st->started),
               secs(snap->now - st->started));
    bool first = true;
    for (int r = 0; r < st->nrows; r++) {
        int pid = atomic_load(&st->rows[r].pid);
        if (!row_shown(st, snap, r))
            continue;
        uint64_t c[STAT_COUNTERS];
        row_counters(&st->rows[r], c);
        buf_printf(out,
                   "%s{\"worker\":%d,\"pid\":%d,\"alive\":%s,\"started\":%.3f,\"sessions\":%d,"
                   "\"counters\":",
                   first ? "" : ",", row_label(r), pid, pid_alive(pid) ? "true" : "false",
                   secs(atomic_load(&st->rows[r].started)), snap->row_sessions[r]);
        json_counters(out, c);
        buf_printf(out, "}");
        first = false;
    }
    buf_printf(out, "],\"sessions\":[");
    buf_append(out, buf_head(&list), list.len);
    buf_free(&list);
    buf_printf(out,
               "],\"truncated\":%s,\"totals\":{\"sessions_active\":%d,\"logged_in\":%d,"
               "\"transfers_active\":%d,\"workers\":%d,\"counters\":",
               cut ? "true" : "false", snap->sessions, snap->logged_in, snap->transfers,
               snap->workers);
    json_counters(out, snap->total);
    buf_printf(out, ",\"refusals\":{");
    for (int r = 0; r < REFUSAL_KINDS; r++)
        buf_printf(out, "%s\"%s\":%lu", r > 0 ? "," : "", refusals[r], snap->refused[r]);
    buf_printf(out, "}}}\n");
    return out->overflow ? -1 : 0;
}

static void text_time(char *s, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(s, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(s, n, "%lld", (long long)t);
}

static int render_text(const struct ftpd_server *srv, struct snapshot *snap, struct buf *out)
{
    struct stats *st = srv->stats;
    struct buf list;
    buf_init(&list, out->limit > 4096 ? out->limit - 4096 : 4096);
    bool cut = false;
    scan_board(st, snap, REPORT_TEXT, &list, &cut);

    char when[64];
    text_time(when, sizeof when, st->started);
    int64_t up = (snap->now - st->started) / 1000;
    buf_printf(out, "ftpd %s, arch %s, pid %d, up since %s (%lldd %02lld:%02lld:%02lld)\n",
               FTPD_VERSION, srv->cfg->arch, (int)st->pid, when, (long long)(up / 86400),
               (long long)(up / 3600 % 24), (long long)(up / 60 % 60), (long long)(up % 60));
    for (int r = 0; r < st->nrows; r++) {
        int pid = atomic_load(&st->rows[r].pid);
        if (!row_shown(st, snap, r))
            continue;
        uint64_t c[STAT_COUNTERS];
        row_counters(&st->rows[r], c);
        buf_printf(out,
                   "worker %d pid %d%s: %d sessions now, %llu in all, logins %llu ok %llu failed, "
                   "bytes in %llu out %llu, transfers ok %llu\n",
                   row_label(r), pid, pid_alive(pid) ? "" : " (gone)", snap->row_sessions[r],
                   (unsigned long long)c[STAT_SESSIONS], (unsigned long long)c[STAT_LOGINS_OK],
                   (unsigned long long)c[STAT_LOGINS_FAILED], (unsigned long long)c[STAT_BYTES_IN],
                   (unsigned long long)c[STAT_BYTES_OUT], (unsigned long long)c[STAT_XFER_FIRST]);
    }
    buf_printf(out, "\n%-7s %-6s %-16s %-39s %6s WHAT\n", "PID", "WORKER", "USER", "FROM", "IDLE");
    buf_append(out, buf_head(&list), list.len);
    buf_free(&list);
    if (cut)
        buf_printf(out, "(list cut: too many sessions)\n");
    const uint64_t *c = snap->total;
    buf_printf(out,
               "\ntotal: %d sessions (%d logged in, %d transferring), %d workers; "
               "%llu sessions, %llu logins ok, %llu failed, %llu bytes in, %llu out, "
               "%llu idle timeouts\ntransfers:",
               snap->sessions, snap->logged_in, snap->transfers, snap->workers,
               (unsigned long long)c[STAT_SESSIONS], (unsigned long long)c[STAT_LOGINS_OK],
               (unsigned long long)c[STAT_LOGINS_FAILED], (unsigned long long)c[STAT_BYTES_IN],
               (unsigned long long)c[STAT_BYTES_OUT], (unsigned long long)c[STAT_IDLE_TIMEOUTS]);
    for (int r = 0; r < XFER_RESULTS; r++)
        buf_printf(out, " %s %llu", xfer_results[r], (unsigned long long)c[STAT_XFER_FIRST + r]);
    buf_printf(out, "\nrefusals:");
    for (int r = 0; r < REFUSAL_KINDS; r++)
        buf_printf(out, " %s %lu", refusals[r], snap->refused[r]);
    buf_printf(out, "\n");
    return out->overflow ? -1 : 0;
}

/* One metric family: its HELP and TYPE lines once, then its samples. */
static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_metrics(const struct ftpd_server *srv, struct snapshot *snap, struct buf *out)
{
    struct stats *st = srv->stats;
    bool cut = false;
    scan_board(st, snap, REPORT_METRICS, NULL, &cut);
    const uint64_t *c = snap->total;

    family(out, "ftpd_sessions_total", "counter", "Control connections that got a session.");
    buf_printf(out, "ftpd_sessions_total %llu\n", (unsigned long long)c[STAT_SESSIONS]);
    family(out, "ftpd_sessions", "gauge", "Sessions in progress.");
    buf_printf(out, "ftpd_sessions %d\n", snap->sessions);
    family(out, "ftpd_logins_total", "counter", "Logins by result.");
    buf_printf(out, "ftpd_logins_total{result=\"ok\"} %llu\n",
               (unsigned long long)c[STAT_LOGINS_OK]);
    buf_printf(out, "ftpd_logins_total{result=\"failed\"} %llu\n",
               (unsigned long long)c[STAT_LOGINS_FAILED]);
    family(out, "ftpd_received_bytes_total", "counter",
           "Bytes received on data connections (uploads).");
    buf_printf(out, "ftpd_received_bytes_total %llu\n", (unsigned long long)c[STAT_BYTES_IN]);
    family(out, "ftpd_sent_bytes_total", "counter",
           "Bytes sent on data connections (downloads and listings).");
    buf_printf(out, "ftpd_sent_bytes_total %llu\n", (unsigned long long)c[STAT_BYTES_OUT]);
    family(out, "ftpd_idle_timeouts_total", "counter", "Sessions closed by idle_timeout.");
    buf_printf(out, "ftpd_idle_timeouts_total %llu\n", (unsigned long long)c[STAT_IDLE_TIMEOUTS]);
    family(out, "ftpd_transfers_total", "counter", "Transfers ended, by result.");
    for (int r = 0; r < XFER_RESULTS; r++)
        buf_printf(out, "ftpd_transfers_total{result=\"%s\"} %llu\n", xfer_results[r],
                   (unsigned long long)c[STAT_XFER_FIRST + r]);
    family(out, "ftpd_transfers", "gauge", "Transfers in progress.");
    buf_printf(out, "ftpd_transfers %d\n", snap->transfers);
    family(out, "ftpd_refusals_total", "counter",
           "Connections refused before a session, by reason.");
    for (int r = 0; r < REFUSAL_KINDS; r++)
        buf_printf(out, "ftpd_refusals_total{reason=\"%s\"} %lu\n", refusals[r], snap->refused[r]);
    family(out, "ftpd_workers", "gauge", "Worker processes serving (1 for a single process).");
    buf_printf(out, "ftpd_workers %d\n", snap->workers);
    family(out, "ftpd_generation_info", "gauge",
           "The running generation: version, back-end and master pid.");
    buf_printf(out, "ftpd_generation_info{version=\"%s\",arch=\"%s\",pid=\"%d\"} 1\n", FTPD_VERSION,
               srv->cfg->arch, (int)st->pid);
    family(out, "ftpd_start_time_seconds", "gauge",
           "When this generation started, seconds since the epoch.");
    buf_printf(out, "ftpd_start_time_seconds %.3f\n", secs(st->started));
    return out->overflow ? -1 : 0;
}

int report_render(const struct ftpd_server *srv, struct admission *adm, enum report_format f,
                  struct buf *out)
{
    struct stats *st = srv->stats;
    struct snapshot snap = {.now = stats_now_ms()};
    snap.row_sessions = calloc((size_t)st->nrows, sizeof *snap.row_sessions);
    if (snap.row_sessions == NULL)
        return -1;
    sum_rows(st, &snap);
    for (int r = 0; r < REFUSAL_KINDS && adm != NULL; r++)
        snap.refused[r] = admission_refused(adm, (enum refusal)r);
    int rc = f == REPORT_JSON   ? render_json(srv, &snap, out)
             : f == REPORT_TEXT ? render_text(srv, &snap, out)
                                : render_metrics(srv, &snap, out);
    free(snap.row_sessions);
    return rc;
}

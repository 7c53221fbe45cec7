#include "bench/report.h"

#include <string.h>

const char *const report_columns[REPORT_COLUMNS] = {
    "label",
    "scenario",
    "concurrency",
    "duration_s",
    "ops",
    "errors",
    "ops_per_s",
    "mb_per_s",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "sessions_held",
    "noop_p50_ms",
    "noop_p99_ms",
    "mem_before_kib",
    "mem_held_kib",
    "bytes_per_session",
    "slow_clients",
    "slow_ops",
    "user",
    "bg_logins",
    "bg_login_p99_ms",
    "procs",
    "slab_delta_kib",
    "sunreclaim_delta_kib",
    "tcp_mem_delta_kib",
    "kernel_bytes_per_session",
    "tls",
};

/* Columns 0, 1, 19 and 27 are text; the others numbers (or empty). */
#define COL_USER 19
#define COL_TLS  27
#define CELL_MAX 48

static bool text_column(int i)
{
    return i < 2 || i == COL_USER || i == COL_TLS;
}

uint64_t result_errors(const struct result *r)
{
    uint64_t n = 0;
    for (int k = 0; k < ERR_KINDS; k++)
        n += r->errors[k];
    return n;
}

uint64_t result_attempts(const struct result *r)
{
    /* idle: every session login is an operation too, and so is every
     * background login. */
    return r->ops + r->slow_ops + (r->idle ? r->concurrency + r->bg_ops : 0);
}

int result_exit_status(const struct result *r)
{
    uint64_t done = r->ops + r->slow_ops + (r->idle ? r->sessions_held + r->bg_ops : 0);
    if (done == 0)
        return 1;
    return result_errors(r) * 100 <= result_attempts(r) ? 0 : 1;
}

static double per_second(const struct result *r, double v)
{
    return r->duration_s > 0 ? v / r->duration_s : 0.0;
}

static bool has_latency(const struct result *r)
{
    return r->ops > 0;
}

/* Every numeric cell as text, "" where it does not apply. */
static void fill_cells(const struct result *r, char cell[REPORT_COLUMNS][CELL_MAX])
{
    for (int i = 0; i < REPORT_COLUMNS; i++)
        cell[i][0] = '\0';
    snprintf(cell[2], CELL_MAX, "%u", r->concurrency);
    snprintf(cell[3], CELL_MAX, "%.3f", r->duration_s);
    snprintf(cell[4], CELL_MAX, "%llu", (unsigned long long)r->ops);
    snprintf(cell[5], CELL_MAX, "%llu", (unsigned long long)result_errors(r));
    snprintf(cell[6], CELL_MAX, "%.1f", per_second(r, (double)r->ops));
    if (r->has_bytes)
        snprintf(cell[7], CELL_MAX, "%.2f", per_second(r, (double)r->bytes / 1e6));
    if (has_latency(r)) {
        snprintf(cell[8], CELL_MAX, "%.3f", r->p50_ms);
        snprintf(cell[9], CELL_MAX, "%.3f", r->p99_ms);
        snprintf(cell[10], CELL_MAX, "%.3f", r->max_ms);
    }
    if (r->idle) {
        snprintf(cell[11], CELL_MAX, "%llu", (unsigned long long)r->sessions_held);
        if (has_latency(r)) {
            snprintf(cell[12], CELL_MAX, "%.3f", r->noop_p50_ms);
            snprintf(cell[13], CELL_MAX, "%.3f", r->noop_p99_ms);
        }
        if (r->mem_before_kib >= 0)
            snprintf(cell[14], CELL_MAX, "%lld", (long long)r->mem_before_kib);
        if (r->mem_held_kib >= 0)
            snprintf(cell[15], CELL_MAX, "%lld", (long long)r->mem_held_kib);
        if (r->mem_before_kib >= 0 && r->mem_held_kib >= 0 && r->sessions_held > 0) {
            long long per = (long long)(r->mem_held_kib - r->mem_before_kib) * 1024 /
                            (long long)r->sessions_held;
            snprintf(cell[16], CELL_MAX, "%lld", per);
        }
    }
    if (r->idle && r->procs > 0)
        snprintf(cell[22], CELL_MAX, "%u", r->procs);
    const int64_t *kernel[] = {&r->slab_delta_kib, &r->sunreclaim_delta_kib, &r->tcp_mem_delta_kib,
                               &r->kernel_bytes_per_session};
    for (int i = 0; r->idle && r->procs > 0 && i < 4; i++) {
        if (*kernel[i] != -1)
            snprintf(cell[23 + i], CELL_MAX, "%lld", (long long)*kernel[i]);
    }
    if (r->slow) {
        snprintf(cell[17], CELL_MAX, "%u", r->slow_clients);
        snprintf(cell[18], CELL_MAX, "%llu", (unsigned long long)r->slow_ops);
    }
    if (r->bg) {
        snprintf(cell[20], CELL_MAX, "%llu", (unsigned long long)r->bg_ops);
        if (r->bg_ops > 0)
            snprintf(cell[21], CELL_MAX, "%.3f", r->bg_p99_ms);
    }
}

static const char *text_cell(const struct result *r, int i)
{
    if (i == COL_TLS)
        return r->tls ? "yes" : NULL; /* NULL: empty in CSV, null in JSON */
    const char *s = i == 0 ? r->label : i == 1 ? r->scenario : r->user;
    return s != NULL ? s : "";
}

/* RFC 4180: quote a field holding a comma, a quote or a line break. */
static void csv_text(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void report_csv_header(FILE *f)
{
    for (int i = 0; i < REPORT_COLUMNS; i++)
        fprintf(f, "%s%s", i > 0 ? "," : "", report_columns[i]);
    fputc('\n', f);
}

void report_csv(FILE *f, const struct result *r)
{
    char cell[REPORT_COLUMNS][CELL_MAX];
    fill_cells(r, cell);
    for (int i = 0; i < REPORT_COLUMNS; i++) {
        if (i > 0)
            fputc(',', f);
        if (text_column(i)) {
            const char *t = text_cell(r, i);
            csv_text(f, t != NULL ? t : "");
        } else {
            fputs(cell[i], f);
        }
    }
    fputc('\n', f);
}

void report_json(FILE *f, const struct result *r)
{
    char cell[REPORT_COLUMNS][CELL_MAX];
    fill_cells(r, cell);
    fputc('{', f);
    for (int i = 0; i < REPORT_COLUMNS; i++) {
        fprintf(f, "%s\"%s\": ", i > 0 ? ", " : "", report_columns[i]);
        if (text_column(i) && text_cell(r, i) != NULL)
            json_text(f, text_cell(r, i));
        else if (text_column(i))
            fputs("null", f);
        else
            fputs(cell[i][0] != '\0' ? cell[i] : "null", f);
    }
    fputs("}\n", f);
}

void report_errors(FILE *f, const struct result *r)
{
    bool any = false;
    for (int k = 0; k < ERR_KINDS; k++) {
        if (r->errors[k] == 0)
            continue;
        fprintf(f, "%s%s %llu", any ? ", " : "", err_kind_name((enum err_kind)k),
                (unsigned long long)r->errors[k]);
        any = true;
    }
    if (!any)
        fputs("none", f);
    else if (r->errors[ERR_BAD_REPLY] > 0 && r->bad_reply != NULL && r->bad_reply[0] != '\0')
        fprintf(f, "; first bad reply: %s", r->bad_reply);
}

void report_human(FILE *f, const struct result *r)
{
    char cell[REPORT_COLUMNS][CELL_MAX];
    fill_cells(r, cell);
    fprintf(f, "%s%s%s%s: %s %s, %s s\n", r->scenario, r->tls ? " (TLS)" : "",
            r->label[0] != '\0' ? " " : "", r->label, cell[2], r->idle ? "sessions" : "clients",
            cell[3]);
    fprintf(f, "  ops         %s (%s/s)\n", cell[4], cell[6]);
    if (r->has_bytes)
        fprintf(f, "  data        %.1f MB %s(%s MB/s)%s\n", (double)r->bytes / 1e6,
                r->upload ? "sent " : "", cell[7], r->file_size >= 0 ? "" : ", sizes not checked");
    if (has_latency(r))
        fprintf(f, "  latency ms  p50 %s  p99 %s  max %s\n", cell[8], cell[9], cell[10]);
    if (r->idle) {
        fprintf(f, "  sessions    %s held of %u (logged in within %.2f s)\n", cell[11],
                r->concurrency, r->ramp_s);
        if (cell[14][0] != '\0' || cell[15][0] != '\0')
            fprintf(f, "  server PSS  %s KiB before, %s KiB held, %s bytes/session\n",
                    cell[14][0] ? cell[14] : "?", cell[15][0] ? cell[15] : "?",
                    cell[16][0] ? cell[16] : "?");
        if (cell[26][0] != '\0')
            fprintf(f,
                    "  kernel      Slab %+lld KiB (SUnreclaim %+lld), TCP buffers %+lld KiB: "
                    "%s bytes/session, both ends of each connection, machine-wide\n",
                    (long long)r->slab_delta_kib, (long long)r->sunreclaim_delta_kib,
                    (long long)r->tcp_mem_delta_kib, cell[26]);
        if (r->procs > 1)
            fprintf(f, "  clients     %u processes\n", r->procs);
    }
    if (r->slow)
        fprintf(f, "  slow        %s clients, %s sessions completed\n", cell[17], cell[18]);
    if (r->bg)
        fprintf(f, "  background  %s logins as %s while holding (%.1f/s), p99 %s ms\n", cell[20],
                r->bg_user != NULL ? r->bg_user : "",
                r->duration_s > 0 ? (double)r->bg_ops / r->duration_s : 0.0,
                cell[21][0] != '\0' ? cell[21] : "-");
    fprintf(f, "  errors      %s (", cell[5]);
    report_errors(f, r);
    fprintf(f, ")%s\n", result_exit_status(r) == 0 ? "" : "  -- over 1%: exit status 1");
}

/* Session lifecycle and command dispatch: every command passes through
 * session_command(), which applies the rules of its table row before the
 * handler runs, so no command (SITE included) can skip a check. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "path.h"
#include "session_impl.h"
#include "ftpd/clock.h"
#include "ftpd/xferlog.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"

#define LOGIN_ONLY (CMD_NEEDS_LOGIN)
#define PATH_CMD   (CMD_NEEDS_LOGIN | CMD_NEEDS_ARG)
#define WRITE_CMD  (CMD_NEEDS_LOGIN | CMD_NEEDS_ARG)

static const struct command commands[] = {
    {"USER", cmd_user, CMD_NEEDS_ARG, "USER <name>", 0},
    {"PASS", cmd_pass, 0, "PASS <password>", 0},
    {"QUIT", cmd_quit, CMD_NO_ARG, "QUIT", 0},
    {"SYST", cmd_syst, CMD_NO_ARG, "SYST", 0},
    {"FEAT", cmd_feat, CMD_NO_ARG, "FEAT", 0},
    {"OPTS", cmd_opts, CMD_NEEDS_ARG, "OPTS UTF8 ON", 0},
    {"NOOP", cmd_noop, CMD_NO_ARG | CMD_MID_TRANSFER, "NOOP", 0},
    {"HELP", cmd_help, 0, "HELP", 0},
    {"STAT", cmd_stat, CMD_MID_TRANSFER, "STAT [<path>]", 0},
    {"ABOR", cmd_abor, CMD_NEEDS_LOGIN | CMD_NO_ARG | CMD_MID_TRANSFER, "ABOR", 0},
    {"TYPE", cmd_type, LOGIN_ONLY | CMD_NEEDS_ARG, "TYPE A|I", 0},
    {"MODE", cmd_mode, LOGIN_ONLY | CMD_NEEDS_ARG, "MODE S", 0},
    {"STRU", cmd_stru, LOGIN_ONLY | CMD_NEEDS_ARG, "STRU F", 0},
    {"ALLO", cmd_allo, LOGIN_ONLY, "ALLO <size>", 0},
    {"PWD", cmd_pwd, LOGIN_ONLY | CMD_NO_ARG, "PWD", 0},
    {"XPWD", cmd_pwd, LOGIN_ONLY | CMD_NO_ARG, NULL, 0},
    {"CWD", cmd_cwd, PATH_CMD, "CWD <dir>", 0},
    {"XCWD", cmd_cwd, PATH_CMD, NULL, 0},
    {"CDUP", cmd_cdup, LOGIN_ONLY | CMD_NO_ARG, "CDUP", 0},
    {"XCUP", cmd_cdup, LOGIN_ONLY | CMD_NO_ARG, NULL, 0},
    {"PASV", cmd_pasv, LOGIN_ONLY | CMD_NO_ARG, "PASV", 0},
    {"EPSV", cmd_epsv, LOGIN_ONLY, "EPSV [1|2|ALL]", 0},
    {"PORT", cmd_port, PATH_CMD, "PORT h1,h2,h3,h4,p1,p2", 0},
    {"EPRT", cmd_eprt, PATH_CMD, "EPRT |proto|addr|port|", 0},
    {"REST", cmd_rest, PATH_CMD, "REST <offset>", 0},
    {"RETR", cmd_retr, PATH_CMD, "RETR <file>", PERM_READ},
    {"LIST", cmd_list, LOGIN_ONLY, "LIST [-a] [<path>]", PERM_READ},
    {"NLST", cmd_nlst, LOGIN_ONLY, "NLST [<path>]", PERM_READ},
    {"MLSD", cmd_mlsd, LOGIN_ONLY, "MLSD [<dir>]", PERM_READ},
    {"MLST", cmd_mlst, LOGIN_ONLY, "MLST [<path>]", PERM_READ},
    {"SIZE", cmd_size, PATH_CMD, "SIZE <file>", PERM_READ},
    {"MDTM", cmd_mdtm, PATH_CMD, "MDTM <file>", PERM_READ},
    {"SITE", cmd_site, PATH_CMD, "SITE HELP|CHMOD", 0},
    {"STOR", cmd_stor, WRITE_CMD, "STOR <file>", PERM_UPLOAD},
    {"STOU", cmd_stou, CMD_NEEDS_LOGIN, "STOU [<file>]", PERM_UPLOAD},
    {"APPE", cmd_appe, WRITE_CMD, "APPE <file>", PERM_UPLOAD},
    {"DELE", cmd_dele, WRITE_CMD, "DELE <file>", PERM_DELETE},
    {"MKD", cmd_mkd, WRITE_CMD, "MKD <dir>", PERM_MKDIR},
    {"XMKD", cmd_mkd, WRITE_CMD, NULL, PERM_MKDIR},
    {"RMD", cmd_rmd, WRITE_CMD, "RMD <dir>", PERM_DELETE},
    {"XRMD", cmd_rmd, WRITE_CMD, NULL, PERM_DELETE},
    {"RNFR", cmd_rnfr, WRITE_CMD, "RNFR <path>", PERM_RENAME},
    {"RNTO", cmd_rnto, WRITE_CMD, "RNTO <path>", PERM_RENAME},
    {"MFMT", cmd_mfmt, WRITE_CMD, "MFMT <YYYYMMDDHHMMSS> <path>", PERM_CHMOD},
    /* FTPS (cmd_tls.c). */
    {"AUTH", cmd_auth, CMD_NEEDS_ARG, "AUTH TLS", 0},
    {"PBSZ", cmd_pbsz, CMD_NEEDS_ARG, "PBSZ 0", 0},
    {"PROT", cmd_prot, CMD_NEEDS_ARG, "PROT P|C", 0},
    {"CCC", cmd_ccc, CMD_NO_ARG, NULL, 0},
    /* Known, deliberately not implemented (accounts, reinit). */
    {"ACCT", cmd_not_implemented, 0, NULL, 0},
    {"SMNT", cmd_not_implemented, 0, NULL, 0},
    {"REIN", cmd_not_implemented, 0, NULL, 0},
    {"ADAT", cmd_not_implemented, 0, NULL, 0},
    {"LANG", cmd_not_implemented, 0, NULL, 0},
    {"MFCT", cmd_not_implemented, 0, NULL, 0},
    {"MFF", cmd_not_implemented, 0, NULL, 0},
};

/* Commands usable before login (the rest get 530). */
static bool prelogin_ok(const struct command *c)
{
    return !(c->flags & CMD_NEEDS_LOGIN);
}

const struct command *command_table(size_t *count)
{
    *count = sizeof commands / sizeof commands[0];
    return commands;
}

void reply(struct buf *out, int code, const char *fmt, ...)
{
    buf_printf(out, "%d ", code);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(out, fmt, ap);
    va_end(ap);
    buf_append(out, "\r\n", 2);
}

void session_log(const struct session *s, enum log_level level, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(level, "%s %s", s->log_name, msg);
}

struct session *session_new(const struct ftpd_config *cfg, int root_fd,
                            const union sockaddr_any *local, const union sockaddr_any *peer)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cfg = cfg;
    s->root_fd = root_fd;
    s->local = *local;
    s->peer = *peer;
    sockaddr_unmap(&s->local);
    sockaddr_unmap(&s->peer);
    s->data_peer = s->peer;
    char name[SOCKADDR_STR_MAX];
    sockaddr_str(&s->peer, name, sizeof name);
    s->log_name = strdup(name);
    if (s->log_name == NULL) {
        free(s);
        return NULL;
    }
    s->peer_len = (unsigned char)strlen(name);
    s->own_root_fd = -1;
    s->pasv_fd = -1;
    return s;
}

void session_set_users(struct session *s, const struct users *users)
{
    s->users = users;
}

void session_set_data_peer(struct session *s, const union sockaddr_any *from)
{
    s->data_peer = *from;
    sockaddr_unmap(&s->data_peer);
}

void session_set_rate_share(struct session *s, struct rate_share *total)
{
    s->rate_total = total;
}

void session_set_stats(struct session *s, struct stats *st, int row, int board_slot)
{
    if (st == NULL || row < 0 || row >= st->nrows)
        return;
    s->stats_row = &st->rows[row];
    stats_add(s->stats_row, STAT_SESSIONS, 1);
    if (board_slot < 0 || board_slot >= st->nslots)
        return;
    s->stats_slot = &st->slots[board_slot];
    int used = atomic_load(&st->slots_used);
    while (used < board_slot + 1 &&
           !atomic_compare_exchange_weak(&st->slots_used, &used, board_slot + 1))
        ;
    /* The log name is "ip:port" until the login. */
    char peer[SOCKADDR_STR_MAX];
    snprintf(peer, sizeof peer, "%.*s", (int)s->peer_len, s->log_name);
    stats_slot_open(s->stats_slot, row, peer);
}

void session_set_listing_cache(struct session *s, struct listing_cache *cache)
{
    s->listing_cache = cache;
}

struct session_job *session_job(struct session *s, struct buf *out)
{
    if (s->job != NULL)
        return s->job;
    struct session_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        session_log(s, LOG_LVL_ERROR, "out of memory");
        reply(out, 451, "Local error: out of memory.");
        return NULL;
    }
    j->xfer.pasv_fd = -1;
    j->xfer.file_fd = -1;
    upload_init(&j->up);
    s->job = j;
    return j;
}

const char *session_cwd(const struct session *s)
{
    return s->cwd != NULL ? s->cwd : "/";
}

static void release_job(struct session *s)
{
    struct session_job *j = s->job;
    s->in_transfer = false;
    if (j == NULL)
        return;
    const char *why;
    if (j->xfer.kind == XFER_RECV_FILE)
        upload_end(s, XFER_ABORTED, &why); /* a no-op once transfer_done ran */
    if (j->xfer.file_fd >= 0)
        close(j->xfer.file_fd);
    if (j->xfer.listing != NULL)
        listing_close(j->xfer.listing);
    free(j->xfer_path);
    free(j);
    s->job = NULL;
}

void session_close_data(struct session *s)
{
    if (s->pasv_fd >= 0)
        close(s->pasv_fd);
    s->pasv_fd = -1;
    s->have_port = false;
}

void session_free(struct session *s)
{
    if (s == NULL)
        return;
    release_job(s);
    session_close_data(s);
    session_drop_rnfr(s);
    stats_slot_close(s->stats_slot);
    work_free(s->work);
    if (s->own_root_fd >= 0)
        close(s->own_root_fd);
    free(s->cwd);
    free(s->user_name);
    free(s->log_name);
    free(s);
}

const char *session_peer_name(const struct session *s)
{
    return s->log_name;
}

struct reply_mark reply_begin(struct buf *out)
{
    struct reply_mark m = {out->len, out->overflow};
    out->overflow = false;
    return m;
}

/* Special problem: a path the client sent, echoed in a reply (STAT, MLST,
 * PWD, MKD, 150 ...), may hold a bare CR: only LF ends a command line. A
 * CR in a pathname is sent as CR NUL (RFC 2640 3.1), so that it never
 * reads as the end of a reply line; done here, once for every reply
 * (found by fuzz_session). Returns -1 (out->overflow set) when out cannot
 * grow. */
static int pad_bare_cr(struct buf *out, size_t from)
{
    const char *p = buf_head(out);
    size_t old = out->len, extra = 0;
    for (size_t i = from; i < old; i++)
        extra += p[i] == '\r' && (i + 1 == old || (p[i + 1] != '\n' && p[i + 1] != '\0'));
    for (size_t k = 0; k < extra; k++) {
        if (buf_append(out, "", 1) < 0)
            return -1;
    }
    if (extra == 0)
        return 0;
    char *d = out->data + out->off;
    size_t w = out->len;
    int next = -1; /* the original byte after d[i]; -1: none */
    for (size_t i = old; i-- > from;) {
        char c = d[i];
        if (c == '\r' && next != '\n' && next != '\0')
            d[--w] = '\0';
        d[--w] = c;
        next = (unsigned char)c;
    }
    return 0;
}

enum step reply_end(struct session *s, struct buf *out, struct reply_mark m, enum step st)
{
    if (!out->overflow && pad_bare_cr(out, m.len) == 0) {
        out->overflow = m.overflow;
        return st;
    }
    out->len = m.len; /* the bytes before the mark are still data[off..] */
    out->overflow = false;
    reply(out, 421, "Out of resources; closing control connection.");
    if (out->overflow)
        out->len = m.len;
    out->overflow = m.overflow;
    if (!s->reply_lost)
        session_log(s, LOG_LVL_ERROR,
                    "a reply could not be written whole (out of memory or "
                    "the output cap); closing");
    s->reply_lost = true;
    return STEP_CLOSE;
}

void session_greet(struct session *s, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    reply(out, 220, "%s", s->cfg->banner);
    reply_end(s, out, m, STEP_CONTINUE);
}

int session_path(struct session *s, const char *arg, char *vpath, struct buf *out)
{
    if (path_join(session_cwd(s), arg, vpath, FTPD_PATH_MAX) < 0) {
        reply(out, 553, "File name too long.");
        return -1;
    }
    return 0;
}

static const struct command *find_command(const struct command *table, size_t n, const char *verb,
                                          size_t verb_len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].name) == verb_len && strncasecmp(table[i].name, verb, verb_len) == 0)
            return &table[i];
    }
    return NULL;
}

unsigned session_login_perms(const struct ftpd_config *cfg, unsigned account_perms)
{
    return cfg->write_enable ? account_perms : account_perms & ~PERM_WRITES;
}

bool command_allowed(struct session *s, const struct command *c, const char *arg, struct buf *out)
{
    if ((c->flags & CMD_NEEDS_LOGIN) && !s->logged_in) {
        reply(out, 530, "Please login with USER and PASS.");
        return false;
    }
    if ((c->flags & CMD_NEEDS_ARG) && *arg == '\0') {
        reply(out, 501, "%s needs an argument.", c->name);
        return false;
    }
    if ((c->flags & CMD_NO_ARG) && *arg != '\0') {
        reply(out, 501, "%s takes no argument.", c->name);
        return false;
    }
    if ((c->perm & ~s->perms) != 0) {
        reply(out, 550, "Permission denied.");
        return false;
    }
    return true;
}

static enum step dispatch(struct session *s, const char *line, size_t len, struct buf *out)
{
    if (s->reply_lost)
        return STEP_CLOSE; /* reply_end wrote the 421 if it could */
    if (memchr(line, '\0', len) != NULL) {
        reply(out, 501, "NUL byte in command.");
        return STEP_CONTINUE;
    }
    stats_slot_active(s->stats_slot);
    size_t verb_len = strcspn(line, " ");
    const char *arg = line + verb_len;
    if (*arg == ' ')
        arg++;

    const struct command *c =
        find_command(commands, sizeof commands / sizeof commands[0], line, verb_len);
    /* RNFR holds only for the very next command, which must be RNTO. */
    if (s->rnfr != NULL && (c == NULL || c->handler != cmd_rnto))
        session_drop_rnfr(s);
    if (s->in_transfer) {
        if (c == NULL || !(c->flags & CMD_MID_TRANSFER))
            return STEP_DEFER;
    }
    if (!s->logged_in && ++s->prelogin_commands > FTPD_PRELOGIN_MAX) {
        reply(out, 421, "Too many commands before login; goodbye.");
        return STEP_CLOSE;
    }
    if (c == NULL) {
        reply(out, 500, "Unknown command.");
        return STEP_CONTINUE;
    }
    if (!prelogin_ok(c) && !s->logged_in) {
        reply(out, 530, "Please login with USER and PASS.");
        return STEP_CONTINUE;
    }
    if (!command_allowed(s, c, arg, out))
        return STEP_CONTINUE;
    if ((c->handler == cmd_user || c->handler == cmd_pass) && !tls_login_allowed(s, out))
        return STEP_CONTINUE;
    enum step step = c->handler(s, arg, out);
    /* A transfer command that failed before its transfer started leaves
     * its job unused: an idle session holds none. */
    if (!s->in_transfer)
        release_job(s);
    return step;
}

enum step session_command(struct session *s, const char *line, size_t len, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    return reply_end(s, out, m, dispatch(s, line, len, out));
}

struct transfer *session_transfer(struct session *s)
{
    return s->in_transfer ? &s->job->xfer : NULL;
}

/* xferlog_file: one line per file transfer (listings are not files),
 * complete only when the reply was 226. For anonymous sessions the
 * identity is the password they gave, kept for this (cmd_auth.c). */
static void xferlog_transfer(const struct session *s, const struct session_job *j, bool ok,
                             uint64_t bytes)
{
    if (!xferlog_enabled() || j->xfer.kind == XFER_SEND_LISTING)
        return;
    char host[SOCKADDR_STR_MAX];
    if (sockaddr_ip_str(&s->peer, host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    const char *user =
        s->logged_in && s->log_name[s->peer_len] == ' ' ? s->log_name + s->peer_len + 1 : "";
    bool anonymous = s->logged_in && s->account == NULL;
    if (anonymous)
        user = s->user_name != NULL ? s->user_name : "";
    struct xferlog_entry e = {
        .end = time(NULL),
        .seconds = (long)((clock_ms() - j->started_ms) / 1000),
        .host = host,
        .bytes = bytes,
        .path = j->xfer_path != NULL ? j->xfer_path : "",
        .ascii = j->xfer.ascii,
        .incoming = j->xfer.kind == XFER_RECV_FILE,
        .anonymous = anonymous,
        .user = user,
        .complete = ok,
    };
    xferlog_write(&e);
}

static void transfer_done(struct session *s, enum xfer_result result, uint64_t bytes,
                          struct buf *out);

void session_transfer_done(struct session *s, enum xfer_result result, uint64_t bytes,
                           struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    transfer_done(s, result, bytes, out);
    reply_end(s, out, m, STEP_CONTINUE);
}

static void transfer_done(struct session *s, enum xfer_result result, uint64_t bytes,
                          struct buf *out)
{
    if (!s->in_transfer)
        return;
    struct session_job *j = s->job;
    bool listing = j->xfer.kind == XFER_SEND_LISTING;
    bool upload = j->xfer.kind == XFER_RECV_FILE;
    static const char *const result_names[] = {
        "ok",       "no data connection", "aborted",        "connection lost",        "local error",
        "shutdown", "disk full",          "quota exceeded", "TLS session not resumed"};
    /* An upload is committed (or rolled back) before its reply: 226 means
     * the file is in place under its name. */
    const char *why = NULL;
    int code = upload ? upload_end(s, result, &why) : 0;
    if (code != 0) {
        reply(out, code, "%s", why);
    } else {
        switch (result) {
        case XFER_OK:
            reply(out, 226, listing ? "Directory send OK." : "Transfer complete.");
            break;
        case XFER_NO_CONN:
            reply(out, 425, "Failed to establish data connection.");
            break;
        case XFER_ABORTED:
        case XFER_CONN_LOST:
            reply(out, 426, "Connection closed; transfer aborted.");
            break;
        case XFER_LOCAL_ERROR:
            reply(out, 451, "Local error %s.",
                  listing  ? "reading directory"
                  : upload ? "writing file"
                           : "reading file");
            break;
        case XFER_SHUTDOWN:
            reply(out, 426, "Server shutting down; transfer aborted.");
            break;
        case XFER_NO_SPACE:
            reply(out, 452, "Insufficient storage space.");
            break;
        case XFER_QUOTA:
            reply(out, 552, "Exceeded storage allocation.");
            break;
        case XFER_TLS_REFUSED:
            reply(out, 522,
                  "Data connection must resume the TLS session of the control "
                  "connection.");
            break;
        }
    }
    if (s->abort_pending) {
        reply(out, 226, "Abort successful.");
        s->abort_pending = false;
    }
    bool ok = result == XFER_OK && code == 0;
    if (upload) {
        s->bytes_received += bytes;
        if (ok)
            s->files_received++;
    } else if (!listing) {
        s->bytes_sent += bytes;
        if (ok)
            s->files_sent++;
    }
    if ((unsigned)result < XFER_RESULTS)
        stats_add(s->stats_row, STAT_XFER_FIRST + result, 1);
    stats_slot_xfer_end(s->stats_slot);
    bool cached = listing && j->xfer.listing != NULL && listing_cached(j->xfer.listing);
    unsigned r = (unsigned)result < sizeof result_names / sizeof result_names[0] ? result : 4;
    session_log(s, ok ? LOG_LVL_INFO : LOG_LVL_WARN, "%s %s %llu bytes%s: %s",
                listing  ? "LIST"
                : upload ? "STOR"
                         : "RETR",
                j->xfer_path ? j->xfer_path : "?", (unsigned long long)bytes,
                cached ? " (cached)" : "", code != 0 ? why : result_names[r]);
    xferlog_transfer(s, j, ok, bytes);
    release_job(s);
    session_close_data(s);
}

void session_line_too_long(struct session *s, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    reply(out, 500, "Command line too long.");
    reply_end(s, out, m, STEP_CONTINUE);
}

void session_idle_timeout(struct session *s, struct buf *out)
{
    session_log(s, LOG_LVL_INFO, "idle timeout");
    stats_add(s->stats_row, STAT_IDLE_TIMEOUTS, 1);

    struct reply_mark m = reply_begin(out);
    reply(out, 421, "Timeout.");
    reply_end(s, out, m, STEP_CLOSE);
}

void session_shutdown(struct session *s, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    reply(out, 421, "Server shutting down.");
    reply_end(s, out, m, STEP_CONTINUE);
}

void session_refuse(const struct ftpd_config *cfg, enum refusal why, struct buf *out)
{
    switch (why) {
    case REFUSE_MAX_CLIENTS:
        reply(out, 421, "Too many users, please try again later.");
        break;
    case REFUSE_MAX_PER_IP:
        reply(out, 421, "Too many connections from your address.");
        break;
    case REFUSE_SHUTTING_DOWN:
        reply(out, 421, "Server shutting down.");
        break;
    case REFUSE_NO_MEMORY:
        reply(out, 421, "Service not available, out of memory.");
        break;
    case REFUSE_BUSY:
        reply(out, 421, "Server busy: every worker is serving a session, please try again later.");
        break;
    case REFUSE_ONE_AT_A_TIME:
        reply(out, 421, "Serial server: one session at a time, please try again later.");
        break;
    }
}

/* Commands that describe the server or set transfer parameters: SYST, FEAT,
 * OPTS, NOOP, HELP, STAT, TYPE, MODE, STRU, ALLO, SITE, and the fixed
 * replies for refused or unimplemented commands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "path.h"
#include "session_impl.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"

enum step cmd_syst(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 215, "UNIX Type: L8");
    return STEP_CONTINUE;
}

enum step cmd_feat(struct session *s, const char *arg, struct buf *out)
{
    bool tls = s->cfg->tls != TLS_OFF;
    buf_printf(out, "211-Features:\r\n");
    if (tls)
        buf_printf(out, " AUTH TLS\r\n");
    buf_printf(out, " EPRT\r\n"
                    " EPSV\r\n"
                    " MDTM\r\n"
                    " MFMT\r\n"
                    " MLST type*;size*;modify*;perm*;unique*;\r\n"
                    " PASV\r\n");
    if (tls)
        buf_printf(out, " PBSZ\r\n"
                        " PROT\r\n");
    buf_printf(out, " REST STREAM\r\n"
                    " SIZE\r\n"
                    " TVFS\r\n"
                    " UTF8\r\n"
                    "211 End\r\n");
    return STEP_CONTINUE;
}

enum step cmd_opts(struct session *s, const char *arg, struct buf *out)
{
    if (strcasecmp(arg, "UTF8 ON") == 0 || strcasecmp(arg, "UTF8") == 0) {
        reply(out, 200, "Always in UTF8 mode.");
    } else if (strncasecmp(arg, "MLST", 4) == 0 && (arg[4] == ' ' || arg[4] == '\0')) {
        /* Every fact is always sent; report the set as RFC 3659 7.9 asks. */
        reply(out, 200, "MLST OPTS type;size;modify;perm;unique;");
    } else {
        reply(out, 501, "Option not understood.");
    }
    return STEP_CONTINUE;
}

enum step cmd_noop(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 200, "NOOP ok.");
    return STEP_CONTINUE;
}

enum step cmd_help(struct session *s, const char *arg, struct buf *out)
{
    size_t n;
    const struct command *table = command_table(&n);
    buf_printf(out, "214-The following commands are recognized:\r\n");
    for (size_t i = 0; i < n; i++) {
        if (table[i].help != NULL && table[i].handler != cmd_not_implemented)
            buf_printf(out, " %s\r\n", table[i].help);
    }
    reply(out, 214, "Help OK.");
    return STEP_CONTINUE;
}

static enum step stat_server(struct session *s, struct buf *out)
{
    char local[SOCKADDR_STR_MAX];
    sockaddr_str(&s->local, local, sizeof local);
    buf_printf(out, "211-FTP server status:\r\n");
    buf_printf(out, " Connected to %s from %.*s\r\n", local, (int)s->peer_len, s->log_name);
    if (s->logged_in)
        buf_printf(out, " Logged in as %s\r\n",
                   s->account != NULL ? s->account->name : "anonymous");
    else
        buf_printf(out, " Not logged in\r\n");
    buf_printf(out, " TYPE: %s, MODE: Stream, STRU: File\r\n", s->type_ascii ? "ASCII" : "BINARY");
    buf_printf(out, " Data channel: %s\r\n",
               s->pasv_fd >= 0 ? "passive"
               : s->have_port  ? "active"
                               : "none");
    buf_printf(out, " Files sent: %llu, bytes sent: %llu\r\n", (unsigned long long)s->files_sent,
               (unsigned long long)s->bytes_sent);
    buf_printf(out, " Files received: %llu, bytes received: %llu\r\n",
               (unsigned long long)s->files_received, (unsigned long long)s->bytes_received);
    if (s->cfg->tls != TLS_OFF)
        buf_printf(out, " Control connection: %s; data connections: %s\r\n",
                   s->tls_on ? "TLS" : "plain", s->tls_prot_p ? "TLS (PROT P)" : "plain (PROT C)");
    if (s->in_transfer)
        buf_printf(out, " Transfer in progress: %s\r\n",
                   s->job->xfer_path ? s->job->xfer_path : "?");
    reply(out, 211, "End of status.");
    return STEP_CONTINUE;
}

/* Append the lines in src to out, each indented by one space so no line of a
 * multi-line reply can look like its end (RFC 959 4.2). */
static void append_indented(struct buf *out, const struct buf *src)
{
    const char *p = buf_head(src);
    const char *end = p + src->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        buf_append(out, " ", 1);
        buf_append(out, p, n);
        p += n;
    }
}

/* STAT <path>: the LIST output over the control connection, bounded. */
static enum step stat_path(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    if (session_path(s, arg, vpath, out) < 0)
        return STEP_CONTINUE;
    struct listing_opts opts = {
        .format = LISTING_LIST, .all = true, .perms = s->perms, .now = time(NULL)};
    struct listing *l = listing_open(s->root_fd, vpath, "", &opts);
    if (l == NULL) {
        reply(out, 550, "No such file or directory.");
        return STEP_CONTINUE;
    }
    struct buf lines;
    buf_init(&lines, FTPD_REPLY_MAX / 2);
    int more = 1;
    while (more == 1 && lines.len < FTPD_REPLY_MAX / 4)
        more = listing_fill(l, &lines);
    listing_close(l);
    buf_printf(out, "213-Status of %s:\r\n", vpath);
    append_indented(out, &lines);
    buf_free(&lines);
    if (more == 1)
        buf_printf(out, " (listing cut; use LIST for the rest)\r\n");
    reply(out, 213, "End of status.");
    return STEP_CONTINUE;
}

enum step cmd_stat(struct session *s, const char *arg, struct buf *out)
{
    if (*arg == '\0' || s->in_transfer)
        return stat_server(s, out);
    if (!s->logged_in) {
        reply(out, 530, "Please login with USER and PASS.");
        return STEP_CONTINUE;
    }
    return stat_path(s, arg, out);
}

enum step cmd_type(struct session *s, const char *arg, struct buf *out)
{
    if (strcasecmp(arg, "I") == 0 || strcasecmp(arg, "L 8") == 0) {
        s->type_ascii = false;
        reply(out, 200, "Switching to Binary mode.");
    } else if (strcasecmp(arg, "A") == 0 || strcasecmp(arg, "A N") == 0) {
        s->type_ascii = true;
        reply(out, 200, "Switching to ASCII mode.");
    } else {
        reply(out, 504, "Unsupported TYPE; use A or I.");
    }
    return STEP_CONTINUE;
}

enum step cmd_mode(struct session *s, const char *arg, struct buf *out)
{
    if (strcasecmp(arg, "S") == 0)
        reply(out, 200, "Mode set to S.");
    else
        reply(out, 504, "Only MODE S is supported.");
    return STEP_CONTINUE;
}

enum step cmd_stru(struct session *s, const char *arg, struct buf *out)
{
    if (strcasecmp(arg, "F") == 0)
        reply(out, 200, "Structure set to F.");
    else
        reply(out, 504, "Only STRU F is supported.");
    return STEP_CONTINUE;
}

enum step cmd_allo(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 202, "ALLO command ignored.");
    return STEP_CONTINUE;
}

enum step cmd_not_implemented(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 502, "Command not implemented.");
    return STEP_CONTINUE;
}

static enum step site_help(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 214, "SITE commands: CHMOD HELP");
    return STEP_CONTINUE;
}

static const struct command site_commands[] = {
    {"HELP", site_help, CMD_NEEDS_LOGIN, NULL, 0},
    {"CHMOD", cmd_site_chmod, CMD_NEEDS_LOGIN | CMD_NEEDS_ARG, NULL, PERM_CHMOD},
};

const struct command *site_command_table(size_t *count)
{
    *count = sizeof site_commands / sizeof site_commands[0];
    return site_commands;
}

enum step cmd_site(struct session *s, const char *arg, struct buf *out)
{
    size_t verb_len = strcspn(arg, " ");
    const char *sub_arg = arg + verb_len;
    if (*sub_arg == ' ')
        sub_arg++;
    for (size_t i = 0; i < sizeof site_commands / sizeof site_commands[0]; i++) {
        const struct command *c = &site_commands[i];
        if (strlen(c->name) == verb_len && strncasecmp(c->name, arg, verb_len) == 0) {
            if (!command_allowed(s, c, sub_arg, out))
                return STEP_CONTINUE;
            return c->handler(s, sub_arg, out);
        }
    }
    reply(out, 500, "Unknown SITE command.");
    return STEP_CONTINUE;
}

/* USER, PASS, QUIT, and the password check handed out as deferred work.
 *
 * USER anonymous|ftp logs in with any password when the config allows
 * anonymous. Every other name gets the same 331; its PASS becomes a job
 * (STEP_WORK) that checks the password against the account's hash, or
 * against users_dummy_hash when there is no such account, so an unknown
 * user costs the same time and gets the same 530 as a wrong password.
 * A failed login's 530 comes after login_fail_delay (STEP_DELAY), and
 * max_login_fails of them close the connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "session_impl.h"
#include "ftpd/xferlog.h"
#include "ftpd/limits.h"

struct work {
    bool match;                       /* the result, written by work_run */
    char hash[USERS_HASH_MAX];        /* copies: the job reads nothing else */
    char password[FTPD_LINE_MAX + 1]; /* wiped when the job is freed */
};

static bool is_anonymous_name(const char *name)
{
    return strcasecmp(name, "anonymous") == 0 || strcasecmp(name, "ftp") == 0;
}

enum step cmd_user(struct session *s, const char *arg, struct buf *out)
{
    if (s->logged_in) {
        reply(out, 530, "Can't change to another user.");
        return STEP_CONTINUE;
    }
    size_t len = strlen(arg);
    /* A longer name matches no account; it still gets its check. */
    if (len > FTPD_USER_NAME_MAX)
        len = 0;
    /* Held until the login ends (it names the account to check, and the
     * log line of a failure): allocated to its length. */
    char *name = strndup(arg, len);
    if (name == NULL) {
        session_log(s, LOG_LVL_ERROR, "out of memory");
        reply(out, 421, "Service not available, out of memory.");
        return STEP_CLOSE;
    }
    free(s->user_name);
    s->user_name = name;
    s->user_given = true;
    s->user_anon = is_anonymous_name(arg) && s->cfg->anonymous;
    reply(out, 331, "Please specify the password.");
    return STEP_CONTINUE;
}

void session_logged_in_as(struct session *s, const char *name, unsigned perms)
{
    s->logged_in = true;
    stats_add(s->stats_row, STAT_LOGINS_OK, 1);
    stats_slot_login(s->stats_slot, name);
    s->perms = session_login_perms(s->cfg, perms);
    free(s->user_name); /* the account (or "anonymous") names the user now */
    s->user_name = NULL;
    /* "peer user"; out of memory, the log lines keep the peer alone. */
    size_t n = (size_t)s->peer_len + 1 + strlen(name) + 1;
    char *log_name = malloc(n);
    if (log_name == NULL)
        return;
    snprintf(log_name, n, "%.*s %s", (int)s->peer_len, s->log_name, name);
    free(s->log_name);
    s->log_name = log_name;
}

unsigned session_anonymous_perms(const struct ftpd_config *cfg)
{
    /* Anonymous uploads, when allowed, are upload-only: new files and
     * directories, never a delete, a rename or an overwrite. */
    return PERM_READ | (cfg->anonymous_write ? PERM_UPLOAD | PERM_MKDIR : 0);
}

enum step cmd_pass(struct session *s, const char *arg, struct buf *out)
{
    if (s->logged_in) {
        reply(out, 230, "Already logged in.");
        return STEP_CONTINUE;
    }
    if (!s->user_given) {
        reply(out, 503, "Login with USER first.");
        return STEP_CONTINUE;
    }
    s->user_given = false;
    if (s->user_anon) {
        session_logged_in_as(s, "anonymous", session_anonymous_perms(s->cfg));
        /* The transfer log names an anonymous user by the password it gave
         * (xferlog(5)); kept, capped, only when there is such a log. */
        if (xferlog_enabled())
            s->user_name = strndup(arg, strnlen(arg, FTPD_USER_NAME_MAX));
        session_log(s, LOG_LVL_INFO, "login anonymous");
        reply(out, 230, "Login successful.");
        return STEP_CONTINUE;
    }
    struct work *w = malloc(sizeof *w);
    if (w == NULL) {
        session_log(s, LOG_LVL_ERROR, "out of memory");
        reply(out, 421, "Service not available, out of memory.");
        return STEP_CLOSE;
    }
    const char *user = s->user_name != NULL ? s->user_name : "";
    s->work_user = user[0] != '\0' ? users_find(s->users, user) : NULL;
    const char *hash = s->work_user != NULL ? s->work_user->hash : users_dummy_hash;
    size_t hlen = strlen(hash), plen = strlen(arg);
    if (hlen >= sizeof w->hash || plen >= sizeof w->password) { /* bounded by the parser */
        hash = users_dummy_hash;
        hlen = strlen(hash);
        plen = 0;
        s->work_user = NULL;
    }
    w->match = false;
    memcpy(w->hash, hash, hlen + 1);
    memcpy(w->password, arg, plen);
    w->password[plen] = '\0';
    s->work = w;
    return STEP_WORK;
}

struct work *session_work_take(struct session *s)
{
    struct work *w = s->work;
    s->work = NULL;
    return w;
}

void work_run(struct work *w)
{
    w->match = users_check_password(w->hash, w->password);
}

void work_free(struct work *w)
{
    if (w == NULL)
        return;
    explicit_bzero(w->password, sizeof w->password);
    free(w);
}

/* A printable copy of the name the client gave, for the log. */
static void printable_name(const struct session *s, char *out, size_t outlen)
{
    size_t n = 0;
    const char *user = s->user_name != NULL ? s->user_name : "";
    for (const char *p = user; *p != '\0' && n + 1 < outlen; p++)
        out[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
    out[n] = '\0';
}

static enum step login_failed(struct session *s, struct buf *out)
{
    char name[FTPD_USER_NAME_MAX + 1];
    printable_name(s, name, sizeof name);
    session_log(s, LOG_LVL_WARN, "login failed for '%s'", name);
    s->login_failures++;
    stats_add(s->stats_row, STAT_LOGINS_FAILED, 1);
    if (s->cfg->login_fail_delay > 0) {
        s->delaying = true;
        return STEP_DELAY;
    }
    return session_delay_done(s, out);
}

static enum step work_done_replies(struct session *s, struct work *w, struct buf *out);

enum step session_work_done(struct session *s, struct work *w, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    return reply_end(s, out, m, work_done_replies(s, w, out));
}

static enum step work_done_replies(struct session *s, struct work *w, struct buf *out)
{
    bool match = w->match;
    work_free(w);
    const struct user *u = s->work_user;
    s->work_user = NULL;
    if (!match || u == NULL)
        return login_failed(s, out);
    /* The home is opened per login, O_PATH like the anonymous root, and
     * confined the same way (openat2 RESOLVE_IN_ROOT, path.c). */
    int fd = open(u->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        session_log(s, LOG_LVL_ERROR, "login %s: cannot open home '%s': %s", u->name, u->home,
                    strerror(errno));
        reply(out, 421, "Home directory not available.");
        return STEP_CLOSE;
    }
    s->own_root_fd = s->root_fd = fd;
    s->account = u;
    session_logged_in_as(s, u->name, u->perms);
    char letters[PERM_LETTERS_MAX];
    perm_format(s->perms, letters);
    session_log(s, LOG_LVL_INFO, "login (permissions '%s')", letters);
    reply(out, 230, "Login successful.");
    return STEP_CONTINUE;
}

static enum step work_refused_replies(struct session *s, struct work *w, struct buf *out);

enum step session_work_refused(struct session *s, struct work *w, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    return reply_end(s, out, m, work_refused_replies(s, w, out));
}

static enum step work_refused_replies(struct session *s, struct work *w, struct buf *out)
{
    work_free(w);
    s->work_user = NULL;
    session_log(s, LOG_LVL_WARN, "login refused: too many password checks waiting");
    reply(out, 421, "Too many logins in progress, please try again later.");
    return STEP_CLOSE;
}

int session_delay_ms(const struct session *s)
{
    return s->cfg->login_fail_delay * 1000;
}

static enum step delay_done_replies(struct session *s, struct buf *out);

enum step session_delay_done(struct session *s, struct buf *out)
{
    struct reply_mark m = reply_begin(out);
    return reply_end(s, out, m, delay_done_replies(s, out));
}

static enum step delay_done_replies(struct session *s, struct buf *out)
{
    s->delaying = false;
    reply(out, 530, "Login incorrect.");
    if (s->login_failures >= (unsigned)s->cfg->max_login_fails)
        return STEP_CLOSE;
    return STEP_CONTINUE;
}

enum step cmd_quit(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 221, "Goodbye.");
    return STEP_CLOSE;
}

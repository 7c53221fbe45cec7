/* USER, PASS, QUIT. Only the anonymous account exists for now: USER
 * anonymous|ftp with any password, when the config allows it. Other names
 * get the same 331 and then 530, so probing reveals nothing. */
#include <strings.h>

#include "session_impl.h"
#include "ftpd/limits.h"

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
    s->user_given = true;
    s->user_anon = is_anonymous_name(arg);
    reply(out, 331, "Please specify the password.");
    return STEP_CONTINUE;
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
    if (s->user_anon && s->cfg->anonymous) {
        s->logged_in = true;
        /* Anonymous uploads, when allowed, are upload-only: new files and
         * directories, never a delete, a rename or an overwrite. */
        s->perms = session_login_perms(
            s->cfg, PERM_READ | (s->cfg->anonymous_write ? PERM_UPLOAD | PERM_MKDIR : 0));
        session_log(s, LOG_LVL_INFO, "login anonymous");
        reply(out, 230, "Login successful.");
        return STEP_CONTINUE;
    }
    session_log(s, LOG_LVL_WARN, "login failed");
    reply(out, 530, "Login incorrect.");
    if (++s->login_failures >= (unsigned)s->cfg->max_login_fails)
        return STEP_CLOSE;
    return STEP_CONTINUE;
}

enum step cmd_quit(struct session *s, const char *arg, struct buf *out)
{
    reply(out, 221, "Goodbye.");
    return STEP_CLOSE;
}

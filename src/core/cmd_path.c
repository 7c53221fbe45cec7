/* Commands about one path, answered on the control connection: PWD, CWD,
 * CDUP, SIZE, MDTM, MLST. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "path.h"
#include "session_impl.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"

/* PWD quotes the path and doubles embedded quotes (RFC 959 appendix II).
 * A CR in it goes out as CR NUL (reply_end). */
void append_quoted(struct buf *out, const char *path)
{
    buf_append(out, "\"", 1);
    for (const char *p = path; *p; p++) {
        buf_append(out, p, 1);
        if (*p == '"')
            buf_append(out, "\"", 1);
    }
    buf_append(out, "\"", 1);
}

enum step cmd_pwd(struct session *s, const char *arg, struct buf *out)
{
    buf_printf(out, "257 ");
    append_quoted(out, session_cwd(s));
    buf_printf(out, " is the current directory\r\n");
    return STEP_CONTINUE;
}

static enum step change_dir(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    if (session_path(s, arg, vpath, out) < 0)
        return STEP_CONTINUE;
    int fd = path_open(s->root_fd, vpath, O_PATH | O_DIRECTORY);
    if (fd < 0) {
        reply(out, 550, "Failed to change directory.");
        return STEP_CONTINUE;
    }
    close(fd);
    char *cwd = NULL; /* the root takes no memory */
    if (strcmp(vpath, "/") != 0 && (cwd = strdup(vpath)) == NULL) {
        reply(out, 451, "Out of memory.");
        return STEP_CONTINUE;
    }
    free(s->cwd);
    s->cwd = cwd;
    reply(out, 250, "Directory successfully changed.");
    return STEP_CONTINUE;
}

enum step cmd_cwd(struct session *s, const char *arg, struct buf *out)
{
    return change_dir(s, arg, out);
}

enum step cmd_cdup(struct session *s, const char *arg, struct buf *out)
{
    return change_dir(s, "..", out);
}

/* stat() a client path; replies 550 with `what` on failure. */
static int stat_arg(struct session *s, const char *arg, struct stat *st, char *vpath,
                    const char *what, struct buf *out)
{
    if (session_path(s, arg, vpath, out) < 0)
        return -1;
    if (path_stat(s->root_fd, vpath, st) < 0) {
        reply(out, 550, "%s", what);
        return -1;
    }
    return 0;
}

enum step cmd_size(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    struct stat st;
    if (stat_arg(s, arg, &st, vpath, "Could not get file size.", out) < 0)
        return STEP_CONTINUE;
    if (!S_ISREG(st.st_mode)) {
        reply(out, 550, "Could not get file size.");
        return STEP_CONTINUE;
    }
    reply(out, 213, "%llu", (unsigned long long)st.st_size);
    return STEP_CONTINUE;
}

enum step cmd_mdtm(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    struct stat st;
    if (stat_arg(s, arg, &st, vpath, "Could not get file modification time.", out) < 0)
        return STEP_CONTINUE;
    if (!S_ISREG(st.st_mode)) {
        reply(out, 550, "Could not get file modification time.");
        return STEP_CONTINUE;
    }
    struct tm tm;
    gmtime_r(&st.st_mtime, &tm);
    reply(out, 213, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
          tm.tm_hour, tm.tm_min, tm.tm_sec);
    return STEP_CONTINUE;
}

enum step cmd_mlst(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    struct stat st;
    if (stat_arg(s, arg, &st, vpath, "No such file or directory.", out) < 0)
        return STEP_CONTINUE;
    buf_printf(out, "250-Listing %s\r\n ", vpath);
    listing_format_facts(out, &st, s->perms);
    buf_printf(out, " %s\r\n", vpath);
    reply(out, 250, "End.");
    return STEP_CONTINUE;
}

/* Commands that change the tree: STOR, STOU, APPE (uploads, as transfer
 * jobs), DELE, MKD, RMD, RNFR/RNTO, MFMT and SITE CHMOD.
 *
 * Confinement. Every command resolves the PARENT directory of its path
 * inside the root (path_open_parent: openat2 RESOLVE_IN_ROOT) and then
 * works on (dir fd, final name) with the *at syscalls, never on a path
 * string. The final component is never followed: a new file is created with
 * O_EXCL (which does not follow a symlink), an existing one is opened with
 * O_NOFOLLOW, renameat2/unlinkat act on the name itself, fchmodat and
 * utimensat get AT_SYMLINK_NOFOLLOW. So a symlink to the outside, planted
 * before or during the session, is at most renamed or removed as a link; its
 * target is never written.
 *
 * Integrity. STOR writes a hidden temporary file in the target's directory
 * and renames it over the target only when the data connection ended
 * cleanly (upload_end, from session_transfer_done): an interrupted upload
 * never destroys the previous version. A failed upload to a new name keeps
 * what arrived under that name (upload_partial = keep) so REST+STOR or APPE
 * can resume it. APPE and REST+STOR write in place.
 *
 * The overwrite rule. Replacing bytes that exist (STOR over an existing
 * name, REST+STOR below the end of the file, RNTO onto an existing name)
 * destroys data, so it needs the delete letter (d) besides w (or f): an
 * upload-only account (anonymous with anonymous_write: w and m) can add
 * files but never change one, as in vsftpd and pure-ftpd. The final rename
 * of such an account uses RENAME_NOREPLACE, so a name taken meanwhile is
 * not clobbered either. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "path.h"
#include "session_impl.h"
#include "ftpd/limits.h"

#define TMP_PREFIX ".ftpd-upload."
#define NAME_TRIES 100 /* STOU and temp names before giving up */

void upload_init(struct upload *up)
{
    up->dir_fd = -1;
    up->name = NULL;
    up->tmp[0] = '\0';
    up->existed = false;
    up->created = false;
}

static bool may_overwrite(const struct session *s)
{
    return (s->perms & PERM_DELETE) != 0;
}

/* A file mode from the config's umask; never executable. */
static mode_t file_mode(const struct session *s)
{
    return 0666 & ~(mode_t)s->cfg->umask;
}

/* Rename within the served tree. noreplace: fail with EEXIST rather than
 * replace an existing `to` (renameat2 RENAME_NOREPLACE; a filesystem without
 * it gets link + unlink for files, which cannot replace either). */
static int rename_in(int from_dir, const char *from, int to_dir, const char *to, bool noreplace)
{
    if (!noreplace)
        return renameat(from_dir, from, to_dir, to);
    if (renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (linkat(from_dir, from, to_dir, to, 0) < 0)
        return -1;
    if (unlinkat(from_dir, from, 0) < 0) {
        int saved = errno;
        unlinkat(to_dir, to, 0);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Remove name from dir only if it is still the file open as fd (another
 * client may have replaced it meanwhile). */
static void unlink_if_same(int dir, const char *name, int fd)
{
    struct stat a, b;
    if (fd >= 0 && fstat(fd, &a) == 0 && fstatat(dir, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        unlinkat(dir, name, 0);
}

static void upload_release(struct upload *up)
{
    if (up->dir_fd >= 0)
        close(up->dir_fd);
    free(up->name);
    upload_init(up);
}

int upload_end(struct session *s, enum xfer_result result, const char **why)
{
    struct upload *up = &s->job->up;
    int code = 0;
    if (up->dir_fd < 0 || up->name == NULL) {
        upload_release(up);
        return 0;
    }
    bool keep = s->cfg->upload_keep_partial;
    if (up->tmp[0] != '\0') {
        if (result == XFER_OK) {
            if (rename_in(up->dir_fd, up->tmp, up->dir_fd, up->name, !may_overwrite(s)) < 0) {
                session_log(s, LOG_LVL_WARN, "upload %s: rename: %s", up->name, strerror(errno));
                code = errno == EEXIST ? 553 : 451;
                *why = errno == EEXIST ? "Could not create file: the name was taken meanwhile."
                                       : "Local error: could not store the file.";
                unlinkat(up->dir_fd, up->tmp, 0);
            }
        } else if (!up->existed && keep &&
                   rename_in(up->dir_fd, up->tmp, up->dir_fd, up->name, !may_overwrite(s)) == 0) {
            /* A new name keeps what arrived: resumable with REST or APPE. */
        } else {
            /* The previous version stays as it was. */
            unlinkat(up->dir_fd, up->tmp, 0);
        }
    } else if (result != XFER_OK && up->created && !keep) {
        unlink_if_same(up->dir_fd, up->name, s->job->xfer.file_fd);
    }
    upload_release(up);
    return code;
}

/* Create a new file `name` in dir for writing (O_EXCL: never an existing
 * name, never through a symlink), with the config's mode whatever the
 * process umask. */
static int create_new(struct session *s, int dir, const char *name)
{
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (fchmod(fd, file_mode(s)) < 0) {
        int saved = errno;
        close(fd);
        unlinkat(dir, name, 0);
        errno = saved;
        return -1;
    }
    return fd;
}

static uint64_t random_u64(const struct session *s)
{
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
        return r;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s;
}

/* The temporary file of a STOR: hidden, in the target's directory (so the
 * final rename stays in one filesystem and one directory). */
static int create_temp(struct session *s, int dir, char *tmp, size_t tmplen)
{
    for (int i = 0; i < NAME_TRIES; i++) {
        snprintf(tmp, tmplen, TMP_PREFIX "%06llx", (unsigned long long)(random_u64(s) & 0xffffff));
        int fd = create_new(s, dir, tmp);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Open an existing regular file in place (REST+STOR, APPE): never through a
 * symlink (O_NOFOLLOW: ELOOP), never a FIFO that would block (O_NONBLOCK). */
static int open_existing(int dir, const char *name, int flags, struct stat *st)
{
    int fd = openat(dir, name, flags | O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    return fd;
}

enum upload_kind { UP_STOR, UP_APPE, UP_STOU };

/* Where the bytes of one upload go: fills *up and returns the file fd, or
 * replies and returns -1. */
static int open_upload(struct session *s, enum upload_kind kind, const char *arg, uint64_t rest,
                       struct upload *up, uint64_t *offset, const char **shown, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    const char *name = NULL;
    int dir;
    if (kind == UP_STOU && *arg == '\0') {
        dir = path_open(s->root_fd, session_cwd(s), O_PATH | O_DIRECTORY);
    } else {
        if (session_path(s, arg, vpath, out) < 0)
            return -1;
        dir = path_open_parent(s->root_fd, vpath, &name);
    }
    if (dir < 0) {
        reply(out, 553, "Could not create file.");
        return -1;
    }
    up->dir_fd = dir;
    *offset = 0;
    int fd = -1;
    struct stat st;

    if (kind == UP_STOU) {
        /* RFC 1123 4.1.2.9: a name no file has; the argument, when given,
         * is the first choice and the stem of the others. */
        char unique[NAME_MAX + 1];
        for (int i = 0; i < NAME_TRIES && fd < 0; i++) {
            if (name != NULL && i == 0)
                snprintf(unique, sizeof unique, "%s", name);
            else if (name != NULL)
                snprintf(unique, sizeof unique, "%.240s.%d", name, i);
            else
                snprintf(unique, sizeof unique, "ftpd.%08llx",
                         (unsigned long long)(random_u64(s) & 0xffffffff));
            fd = create_new(s, dir, unique);
            if (fd < 0 && errno != EEXIST)
                break;
        }
        if (fd < 0 || (up->name = strdup(unique)) == NULL) {
            if (fd >= 0) {
                close(fd);
                unlinkat(dir, unique, 0);
            }
            reply(out, 553, "Could not create a unique file.");
            return -1;
        }
        up->created = true;
        *shown = up->name;
        return fd;
    }

    up->name = strdup(name);
    if (up->name == NULL) {
        reply(out, 451, "Out of memory.");
        return -1;
    }
    bool exists = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) {
        reply(out, 553, "Could not create file.");
        return -1;
    }
    up->existed = exists;
    if (exists && S_ISDIR(st.st_mode)) {
        reply(out, 553, "Could not create file: it is a directory.");
        return -1;
    }

    if (kind == UP_APPE) {
        /* APPE adds bytes and destroys none: w is enough. A missing file
         * is created. */
        fd = exists ? open_existing(dir, name, O_APPEND, &st) : create_new(s, dir, name);
        if (fd < 0 && !exists && errno == EEXIST)
            fd = open_existing(dir, name, O_APPEND, &st); /* created meanwhile */
        if (fd < 0) {
            reply(out, 553, "Could not open file for appending.");
            return -1;
        }
        up->created = !exists;
        *offset = exists ? (uint64_t)st.st_size : 0;
        return fd;
    }

    if (rest > 0) {
        /* REST n + STOR: resume in place at n. */
        if (!exists) {
            reply(out, 554, "Restart offset %llu: the file does not exist.",
                  (unsigned long long)rest);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            reply(out, 553, "Could not open file.");
            return -1;
        }
        if (rest > (uint64_t)st.st_size) {
            reply(out, 554, "Restart offset %llu is beyond the end of the file.",
                  (unsigned long long)rest);
            return -1;
        }
        if (rest < (uint64_t)st.st_size && !may_overwrite(s)) {
            reply(out, 550, "Permission denied: cannot overwrite existing bytes.");
            return -1;
        }
        fd = open_existing(dir, name, 0, &st);
        /* What follows n is replaced by what the client sends. */
        if (fd >= 0 && (uint64_t)st.st_size > rest && ftruncate(fd, (off_t)rest) < 0) {
            close(fd);
            fd = -1;
        }
        if (fd < 0) {
            reply(out, 553, "Could not open file.");
            return -1;
        }
        *offset = rest;
        return fd;
    }

    if (exists && !may_overwrite(s)) {
        reply(out, 550, "Permission denied: cannot overwrite an existing file.");
        return -1;
    }
    if (exists && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        reply(out, 553, "Could not create file.");
        return -1;
    }
    fd = create_temp(s, dir, up->tmp, sizeof up->tmp);
    if (fd < 0) {
        up->tmp[0] = '\0';
        session_log(s, LOG_LVL_WARN, "upload %s: temporary file: %s", name, strerror(errno));
        reply(out, errno == ENOSPC ? 452 : errno == EDQUOT ? 552 : 553, "Could not create file.");
        return -1;
    }
    return fd;
}

static enum step upload(struct session *s, enum upload_kind kind, const char *arg, struct buf *out)
{
    uint64_t rest = kind == UP_STOR ? s->rest : 0;
    s->rest = 0;
    if (!session_have_data_channel(s, out))
        return STEP_CONTINUE;
    /* The job first: once a file is created, nothing may fail before the
     * engine takes it (session_command drops a job left unused). */
    struct session_job *j = session_job(s, out);
    if (j == NULL)
        return STEP_CONTINUE;
    struct upload up;
    upload_init(&up);
    uint64_t offset;
    const char *shown = arg;
    int fd = open_upload(s, kind, arg, rest, &up, &offset, &shown, out);
    if (fd < 0) {
        upload_release(&up);
        return STEP_CONTINUE;
    }
    j->up = up;
    j->xfer.file_fd = fd;
    j->xfer.offset = offset;
    j->xfer.size = 0;
    j->xfer.listing = NULL;
    if (kind == UP_STOU)
        reply(out, 150, "FILE: %s", shown);
    else
        reply(out, 150, "Ok to send data.");
    char vpath[FTPD_PATH_MAX];
    if (path_join(session_cwd(s), kind == UP_STOU ? up.name : arg, vpath, sizeof vpath) < 0)
        vpath[0] = '\0';
    return session_start_job(s, XFER_RECV_FILE, vpath);
}

enum step cmd_stor(struct session *s, const char *arg, struct buf *out)
{
    return upload(s, UP_STOR, arg, out);
}

enum step cmd_appe(struct session *s, const char *arg, struct buf *out)
{
    return upload(s, UP_APPE, arg, out);
}

enum step cmd_stou(struct session *s, const char *arg, struct buf *out)
{
    return upload(s, UP_STOU, arg, out);
}

/* Resolve a client path to (parent fd, name) for a command that acts on the
 * name itself. Replies `fail` (550) when that is impossible. */
static int parent_of(struct session *s, const char *arg, char *vpath, const char **name,
                     const char *fail, struct buf *out)
{
    if (session_path(s, arg, vpath, out) < 0)
        return -1;
    int dir = path_open_parent(s->root_fd, vpath, name);
    if (dir < 0)
        reply(out, 550, "%s", fail);
    return dir;
}

/* DELE and RMD: unlinkat the final name (flags 0 or AT_REMOVEDIR) in its
 * parent; what names the operation in the replies. */
static enum step remove_name(struct session *s, const char *arg, int flags, const char *verb,
                             const char *what, struct buf *out)
{
    char vpath[FTPD_PATH_MAX], failed[64];
    const char *name;
    snprintf(failed, sizeof failed, "%s operation failed.", what);
    int dir = parent_of(s, arg, vpath, &name, failed, out);
    if (dir < 0)
        return STEP_CONTINUE;
    if (unlinkat(dir, name, flags) < 0) {
        reply(out, 550, "%s", failed);
    } else {
        session_log(s, LOG_LVL_INFO, "%s %s", verb, vpath);
        reply(out, 250, "%s operation successful.", what);
    }
    close(dir);
    return STEP_CONTINUE;
}

enum step cmd_dele(struct session *s, const char *arg, struct buf *out)
{
    return remove_name(s, arg, 0, "DELE", "Delete", out);
}

enum step cmd_rmd(struct session *s, const char *arg, struct buf *out)
{
    return remove_name(s, arg, AT_REMOVEDIR, "RMD", "Remove directory", out);
}

enum step cmd_mkd(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    const char *name;
    int dir = parent_of(s, arg, vpath, &name, "Create directory operation failed.", out);
    if (dir < 0)
        return STEP_CONTINUE;
    mode_t mode = 0777 & ~(mode_t)s->cfg->umask;
    if (mkdirat(dir, name, mode) < 0) {
        reply(out, 550, "Create directory operation failed.");
        close(dir);
        return STEP_CONTINUE;
    }
    /* The config's umask decides the mode, not the process's: set it on
     * the directory just made (opened without following a link). */
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, mode) < 0)
        session_log(s, LOG_LVL_WARN, "MKD %s: setting the mode: %s", vpath, strerror(errno));
    if (fd >= 0)
        close(fd);
    close(dir);
    session_log(s, LOG_LVL_INFO, "MKD %s", vpath);
    buf_printf(out, "257 ");
    append_quoted(out, vpath);
    buf_printf(out, " created\r\n");
    return STEP_CONTINUE;
}

void session_drop_rnfr(struct session *s)
{
    free(s->rnfr);
    s->rnfr = NULL;
}

enum step cmd_rnfr(struct session *s, const char *arg, struct buf *out)
{
    char vpath[FTPD_PATH_MAX];
    const char *name;
    int dir = parent_of(s, arg, vpath, &name, "RNFR command failed.", out);
    if (dir < 0)
        return STEP_CONTINUE;
    struct stat st;
    int r = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW);
    close(dir);
    session_drop_rnfr(s);
    if (r < 0 || (s->rnfr = strdup(vpath)) == NULL) {
        reply(out, 550, "RNFR command failed.");
        return STEP_CONTINUE;
    }
    reply(out, 350, "Ready for RNTO.");
    return STEP_CONTINUE;
}

enum step cmd_rnto(struct session *s, const char *arg, struct buf *out)
{
    if (s->rnfr == NULL) {
        reply(out, 503, "RNFR required first.");
        return STEP_CONTINUE;
    }
    char *from = s->rnfr;
    s->rnfr = NULL;
    char vpath[FTPD_PATH_MAX];
    const char *from_name, *to_name;
    int from_dir = path_open_parent(s->root_fd, from, &from_name);
    int to_dir = from_dir < 0 ? -1 : parent_of(s, arg, vpath, &to_name, "Rename failed.", out);
    if (from_dir < 0) {
        reply(out, 550, "Rename failed.");
    } else if (to_dir >= 0) {
        /* Onto an existing name only with the delete letter: that name's
         * content is destroyed (the overwrite rule). */
        if (rename_in(from_dir, from_name, to_dir, to_name, !may_overwrite(s)) < 0) {
            reply(out, 550,
                  errno == EEXIST ? "Rename failed: the target exists." : "Rename failed.");
        } else {
            session_log(s, LOG_LVL_INFO, "RENAME %s -> %s", from, vpath);
            reply(out, 250, "Rename successful.");
        }
    }
    if (to_dir >= 0)
        close(to_dir);
    if (from_dir >= 0)
        close(from_dir);
    free(from);
    return STEP_CONTINUE;
}

/* "YYYYMMDDHHMMSS" (UTC) to a time; -1 when malformed. */
static int parse_mfmt_time(const char *p, time_t *t)
{
    if (strspn(p, "0123456789") != 14)
        return -1;
    int v[6], w[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int k = 0; k < w[i]; k++)
            v[i] = v[i] * 10 + (*p++ - '0');
    }
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 ||
        v[5] > 60)
        return -1;
    struct tm tm = {.tm_year = v[0] - 1900,
                    .tm_mon = v[1] - 1,
                    .tm_mday = v[2],
                    .tm_hour = v[3],
                    .tm_min = v[4],
                    .tm_sec = v[5]};
    *t = timegm(&tm);
    return *t == (time_t)-1 ? -1 : 0;
}

/* MFMT YYYYMMDDHHMMSS path (draft-somers-ftp-mfxx): set the modification
 * time; 213 Modify=...; path. */
enum step cmd_mfmt(struct session *s, const char *arg, struct buf *out)
{
    time_t t;
    const char *path = arg + strcspn(arg, " ");
    if (*path != ' ' || path - arg != 14 || parse_mfmt_time(arg, &t) < 0) {
        reply(out, 501, "MFMT needs YYYYMMDDHHMMSS and a path.");
        return STEP_CONTINUE;
    }
    path++;
    char vpath[FTPD_PATH_MAX];
    const char *name;
    int dir = parent_of(s, path, vpath, &name, "Could not set the modification time.", out);
    if (dir < 0)
        return STEP_CONTINUE;
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = t}};
    if (utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        reply(out, 550, "Could not set the modification time.");
    else
        reply(out, 213, "Modify=%.14s; %s", arg, path);
    close(dir);
    return STEP_CONTINUE;
}

/* SITE CHMOD <octal> <path>: permission bits only (no setuid, setgid or
 * sticky), never through a symlink (AT_SYMLINK_NOFOLLOW: a link gets 550). */
enum step cmd_site_chmod(struct session *s, const char *arg, struct buf *out)
{
    size_t digits = strspn(arg, "01234567");
    const char *path = arg + digits;
    if (digits == 0 || digits > 4 || *path != ' ' || path[1] == '\0') {
        reply(out, 501, "SITE CHMOD needs an octal mode and a path.");
        return STEP_CONTINUE;
    }
    unsigned long mode = strtoul(arg, NULL, 8);
    if (mode > 0777) {
        reply(out, 501, "SITE CHMOD: only permission bits (at most 777).");
        return STEP_CONTINUE;
    }
    path++;
    char vpath[FTPD_PATH_MAX];
    const char *name;
    int dir = parent_of(s, path, vpath, &name, "SITE CHMOD command failed.", out);
    if (dir < 0)
        return STEP_CONTINUE;
    if (fchmodat(dir, name, (mode_t)mode, AT_SYMLINK_NOFOLLOW) < 0) {
        reply(out, 550, "SITE CHMOD command failed.");
    } else {
        session_log(s, LOG_LVL_INFO, "CHMOD %03lo %s", mode, vpath);
        reply(out, 200, "SITE CHMOD command ok.");
    }
    close(dir);
    return STEP_CONTINUE;
}

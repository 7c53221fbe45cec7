/* The transfer log (ftpd/xferlog.h). */
#include "ftpd/xferlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/limits.h"
#include "ftpd/log.h"

/* Set once by main() before any thread or process exists, read-only
 * afterwards, like the log's own target: a reopen dup2()s the new file
 * onto the same fd number, so writers never see it change. */
static int xferlog_fd = -1;
static char xferlog_path[FTPD_PATH_MAX];

/* Append s, each space turned into '_' when spaces is set and each control
 * byte into '?', cut to what fits before end. */
static char *append(char *p, const char *end, const char *s, bool spaces)
{
    for (; *s != '\0' && p < end; s++) {
        unsigned char c = (unsigned char)*s;
        *p++ = c < 0x20 || c == 0x7f ? '?' : spaces && c == ' ' ? '_' : (char)c;
    }
    return p;
}

size_t xferlog_format(const struct xferlog_entry *e, char *line, size_t size)
{
    if (size < 64)
        return 0;
    struct tm tm;
    char date[32] = "";
    /* "%a %b %e %H:%M:%S %Y": the day of the month padded with a space. */
    if (localtime_r(&e->end, &tm) == NULL ||
        strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm) == 0)
        snprintf(date, sizeof date, "Thu Jan  1 00:00:00 1970");
    char head[160];
    int n = snprintf(head, sizeof head, "%s %ld ", date, e->seconds < 1 ? 1L : e->seconds);
    char tail[64];
    int t = snprintf(tail, sizeof tail, " %c _ %c %c ", e->ascii ? 'a' : 'b',
                     e->incoming ? 'i' : 'o', e->anonymous ? 'a' : 'r');
    char end[32];
    int m = snprintf(end, sizeof end, " ftp 0 * %c\n", e->complete ? 'c' : 'i');
    if (n < 0 || t < 0 || m < 0)
        return 0;
    /* Room is kept for the fixed tail and the newline: what gets cut when
     * the line would not fit is the path or the user, never a field. */
    char *p = line;
    const char *stop = line + size - (size_t)m - 1;
    p = append(p, stop, head, false);
    p = append(p, stop, e->host, false);
    if (p < stop)
        *p++ = ' ';
    char bytes[24];
    snprintf(bytes, sizeof bytes, "%" PRIu64 " ", e->bytes);
    p = append(p, stop, bytes, false);
    const char *user = e->user[0] != '\0' ? e->user : "*";
    size_t user_len = strnlen(user, FTPD_USER_NAME_MAX);
    size_t room = (size_t)(stop - line), keep = (size_t)t + user_len;
    p = append(p, line + (room > keep ? room - keep : 0), e->path[0] != '\0' ? e->path : "?", true);
    p = append(p, stop, tail, false);
    p = append(p, stop, user, true);
    memcpy(p, end, (size_t)m + 1);
    return (size_t)(p - line) + (size_t)m;
}

int xferlog_open(const char *path, char *err, size_t errlen)
{
    if (path[0] == '\0')
        return 0;
    int fd = log_open_append(path);
    if (fd < 0) {
        snprintf(err, errlen, "xferlog_file: cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    snprintf(xferlog_path, sizeof xferlog_path, "%s", path);
    xferlog_fd = fd;
    return 0;
}

bool xferlog_enabled(void)
{
    return xferlog_fd >= 0;
}

void xferlog_write(const struct xferlog_entry *e)
{
    if (xferlog_fd < 0)
        return;
    char line[FTPD_PATH_MAX + 512];
    size_t len = xferlog_format(e, line, sizeof line);
    ssize_t w;
    do {
        w = write(xferlog_fd, line, len);
    } while (w < 0 && errno == EINTR);
    /* O_APPEND on a regular file writes all of it or fails (disk full). */
    if (w < 0)
        log_error("xferlog_file: %s", strerror(errno));
    else if ((size_t)w != len)
        log_error("xferlog_file: short write (%zd of %zu bytes)", w, len);
}

void xferlog_reopen(void)
{
    if (xferlog_fd < 0)
        return;
    if (log_reopen_onto(xferlog_path, xferlog_fd) != 0)
        log_error("xferlog_file: cannot reopen '%s': %s", xferlog_path, strerror(errno));
}

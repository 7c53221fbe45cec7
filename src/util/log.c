#include "ftpd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Written once by main() before any thread or worker exists, read-only
 * afterwards: process-wide state, like the config. */
static enum log_level log_threshold = LOG_LVL_INFO;

/* log_target (log_open): where lines go. A file is opened onto
 * STDERR_FILENO itself, so every writer keeps writing fd 2 and a reopen
 * (SIGUSR1) is one dup2(), atomic for every thread of the process: no
 * lock, no fd that changes under a writer. The path is kept for that. */
enum log_sink { LOG_SINK_STDERR, LOG_SINK_SYSLOG, LOG_SINK_FILE };
static enum log_sink log_sink = LOG_SINK_STDERR;
static char log_path[4096];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

int log_open_append(const char *path)
{
    int fd;
    do {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

/* Open path again and put it on fd target. 0, or -1 with errno. */
int log_reopen_onto(const char *path, int target)
{
    int fd = log_open_append(path);
    if (fd < 0)
        return -1;
    int rc;
    do {
        rc = dup2(fd, target);
    } while (rc < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc < 0 ? -1 : 0;
}

int log_open(const char *target, char *err, size_t errlen)
{
    if (strcmp(target, "stderr") == 0) {
        log_sink = LOG_SINK_STDERR;
        return 0;
    }
    if (strcmp(target, "syslog") == 0) {
        /* LOG_NDELAY: the socket to /dev/log is made now, before a chroot
         * or a privilege drop could keep us from it. */
        openlog("ftpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        log_sink = LOG_SINK_SYSLOG;
        return 0;
    }
    if (strlen(target) >= sizeof log_path) {
        snprintf(err, errlen, "log_target: path too long");
        return -1;
    }
    if (log_reopen_onto(target, STDERR_FILENO) != 0) {
        snprintf(err, errlen, "log_target: cannot open '%s': %s", target, strerror(errno));
        return -1;
    }
    snprintf(log_path, sizeof log_path, "%s", target);
    log_sink = LOG_SINK_FILE;
    return 0;
}

void log_reopen(void)
{
    if (log_sink != LOG_SINK_FILE)
        return;
    /* On failure the old file stays in place (still open on fd 2), and
     * the error goes there. */
    if (log_reopen_onto(log_path, STDERR_FILENO) != 0)
        log_error("log_target: cannot reopen '%s': %s", log_path, strerror(errno));
}

static int syslog_priority(enum log_level level)
{
    switch (level) {
    case LOG_LVL_ERROR:
        return LOG_ERR;
    case LOG_LVL_WARN:
        return LOG_WARNING;
    case LOG_LVL_INFO:
        return LOG_INFO;
    case LOG_LVL_DEBUG:
    default:
        return LOG_DEBUG;
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    /* One write(2) per line so lines from threads and workers never mix. */
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%ld] %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)tv.tv_usec / 1000, (long)getpid(), log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* Messages carry client-sent names: no control byte may forge a line. */
    for (size_t i = (size_t)n; i < len; i++) {
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    }
    if (log_sink == LOG_SINK_SYSLOG) {
        /* syslog stamps the time, "ftpd[pid]" and the level itself. */
        line[len] = '\0';
        syslog(syslog_priority(level), "%s", line + n);
        return;
    }
    line[len++] = '\n';
    ssize_t w;
    do {
        w = write(STDERR_FILENO, line, len);
    } while (w < 0 && errno == EINTR);
}

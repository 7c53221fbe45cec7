/* Logging, one line per event: time, pid, level, message; to stderr, a
 * file or syslog (log_target). */
#ifndef FTPD_LOG_H
#define FTPD_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set once in main() before any thread or process starts; read-only after. */
void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* log_target: "stderr" (the default), "syslog" (facility daemon, ident
 * ftpd) or a file, opened O_APPEND onto stderr. Called once by main()
 * before any thread or process starts. 0, or -1 with err filled. */
int log_open(const char *target, char *err, size_t errlen);
/* SIGUSR1 (logrotate): open the log file again by its name; nothing for
 * stderr or syslog. A failure is logged to the old file, which stays. */
void log_reopen(void);
/* Helpers for the log files (xferlog too): open path for appending
 * (created 0640), and reopen path onto the fd target with dup2. */
int log_open_append(const char *path);
int log_reopen_onto(const char *path, int target);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif

/* pid_file: the master's pid, written atomically (a temporary file in the
 * same directory, then rename), so a reader never sees it half written;
 * removed on exit by the process that wrote it (never by a worker or
 * child that returns through main). */
#ifndef FTPD_PIDFILE_H
#define FTPD_PIDFILE_H

#include <stddef.h>

/* Write getpid() to path. 0, or -1 with err filled. */
int pidfile_write(const char *path, char *err, size_t errlen);

/* Remove path if this process wrote it (its content is our pid); a
 * failure is logged (after a privilege drop the directory may no longer
 * be ours to change). */
void pidfile_remove(const char *path);

#endif

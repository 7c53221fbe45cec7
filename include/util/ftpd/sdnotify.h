/* The service manager's readiness protocol (sd_notify(3)), a small
 * implementation of our own rather than libsystemd: the protocol is one
 * datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or '@' for an abstract name), which is a dozen
 * lines, while libsystemd would be a dependency (and a library loaded into
 * every worker) for them. Without $NOTIFY_SOCKET every call does nothing,
 * so ftpd runs the same with or without systemd.
 *
 * Only the process main() started speaks (workers are not the service's
 * main pid), so none of this runs in a worker. */
#ifndef FTPD_SDNOTIFY_H
#define FTPD_SDNOTIFY_H

#include <sys/types.h>

/* Send msg ("READY=1", lines joined by '\n') as is. 1 when sent, 0 when
 * there is no $NOTIFY_SOCKET, -1 on an error (errno; the caller logs). */
int sd_notify_send(const char *msg);

/* The messages ftpd sends, each logged on failure. */
void notify_ready(void);     /* READY=1: listening and serving */
void notify_reloading(void); /* RELOADING=1 + MONOTONIC_USEC (SIGHUP begins);
                                notify_ready() when the reload is done */
void notify_stopping(void);  /* STOPPING=1: a stop began */
/* MAINPID=pid + READY=1: after a live upgrade the new process is the
 * service's main process (the unit needs NotifyAccess=all for it). */
void notify_mainpid(pid_t pid);

#endif

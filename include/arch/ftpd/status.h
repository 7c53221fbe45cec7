/* The status service: answers `ftpd --status` on the control socket
 * (control_socket = PATH, mode 0600, ftpd/msg.h framing) and Prometheus
 * scrapes on metrics_listen (GET /metrics), from the shared counters and
 * session board (ftpd/stats.h).
 *
 * Where it runs: one small thread of the first process, started by main()
 * before the back-end, the same for every back-end. It reads only shared
 * memory (atomics) and the admission table's atomic counters, so no
 * back-end loop is touched or slowed: the blocking masters keep their
 * poll, the reactor its loop, and a prefork worker busy in a transfer
 * still shows its progress. The forking back-ends fork while it runs:
 * they bracket fork() with status_service_fork_begin/end, so no child is
 * born while the thread holds a libc lock (malloc's are fork-safe in
 * glibc; the log's gmtime_r, strerror and localtime_r are taken under the
 * service's lock), and the children never use its descriptors. Clients are served one at a
 * time with short timeouts (STATUS_IO_TIMEOUT_MS): a stalled scraper
 * delays the next scrape at most that long, never the FTP service. */
#ifndef FTPD_STATUS_H
#define FTPD_STATUS_H

#include <stdbool.h>

#include "ftpd/arch.h"

/* How long one client may take to send its request and read the answer. */
#define STATUS_IO_TIMEOUT_MS 2000
/* The largest HTTP request head accepted (431 beyond). */
#define STATUS_HTTP_REQUEST_MAX 4096

struct status_service;
struct admission;

/* Open what the config asks for and start the thread. 0 with *out set
 * (NULL when both are off), or -1 (logged: a socket path in use, an
 * address taken...). Call after the signals are blocked, before any other
 * thread exists (the control socket is made under a umask). */
int status_service_start(const struct ftpd_server *srv, struct status_service **out);
/* The back-end's admission table, for the refusal counts, from any
 * thread; NULL detaches it, which the back-end must do before freeing it
 * (it waits for a report being made). NULL ss: nothing. */
void status_service_attach(struct status_service *ss, struct admission *adm);
/* Around every fork() of a process that runs the service (the masters of
 * process, prefork and hybrid), in the parent and in the child after it:
 * the fork waits while the thread is in libc code holding a lock of
 * libc's (logging, strerror, localtime), so no child starts with such a
 * lock held by a thread it does not have. NULL ss: nothing. */
void status_service_fork_begin(struct status_service *ss);
void status_service_fork_end(struct status_service *ss);

/* Stop the thread, close the sockets, remove the control socket, free. */
void status_service_stop(struct status_service *ss);

/* `ftpd --status [--json]`: ask the server listening on path and print its
 * answer to stdout. Returns the exit status. */
int status_client_run(const char *path, bool json);

#endif

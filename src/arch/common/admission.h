/* Admission: max_clients and max_per_ip across every thread and worker
 * process of a back-end (the connection table). The table lives in one MAP_SHARED mapping made
 * before any fork, guarded by a process-shared robust mutex, so a worker killed while holding it
 * cannot wedge the others. */
#ifndef FTPD_ARCH_COMMON_ADMISSION_H
#define FTPD_ARCH_COMMON_ADMISSION_H

#include <sys/types.h>

#include "ftpd/session.h"
#include "ftpd/sockaddr.h"

struct admission;

struct admission *admission_new(int max_clients, int max_per_ip);
void admission_free(struct admission *a);

/* Admit one connection from peer, owned by process owner (getpid() of the
 * process that serves it). Returns a slot >= 0, or -1 with *why set. */
int admission_admit(struct admission *a, const union sockaddr_any *peer, pid_t owner,
                    enum refusal *why);
void admission_release(struct admission *a, int slot);
/* The slot now belongs to process to (a process child forked to serve
 * it), unless it was released meanwhile. */
void admission_hand_over(struct admission *a, int slot, pid_t from, pid_t to);
/* Free every slot held by a process that died (prefork/hybrid masters). */
void admission_release_owner(struct admission *a, pid_t owner);
int admission_active(struct admission *a);

/* A refused connection: count it, log why with the peer's address, write
 * the 421 (non-blocking, best effort: a slow peer never holds the caller)
 * and close the stream. Usable from any thread or process of the back-end
 * (the counters are atomics in the shared table). */
struct stream;
void admission_refuse(struct admission *a, const struct ftpd_config *cfg, struct stream *ctrl,
                      enum refusal why, const union sockaddr_any *peer);
/* The same for a connection just accept()ed and never read from: wraps fd
 * in a plain stream (the pre-greeting phase never ran). */
void admission_refuse_fd(struct admission *a, const struct ftpd_config *cfg, int fd,
                         enum refusal why, const union sockaddr_any *peer);

/* Connections refused so far for why, by every process of the back-end. */
unsigned long admission_refused(struct admission *a, enum refusal why);
/* One log line with the counts by reason ("refusals: none" when none);
 * the back-end's owner calls it when it stops. */
void admission_log_refusals(struct admission *a);

/* The words a log line uses for why. */
const char *refusal_reason(enum refusal why);

#endif

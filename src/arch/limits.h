/* max_clients and max_per_ip across every thread and worker process of a
 * back-end. The table lives in one MAP_SHARED mapping made before any fork,
 * guarded by a process-shared robust mutex, so a worker killed while holding
 * it cannot wedge the others. */
#ifndef FTPD_ARCH_LIMITS_H
#define FTPD_ARCH_LIMITS_H

#include <sys/types.h>

#include "ftpd/session.h"
#include "ftpd/sockaddr.h"

struct conn_limits;

struct conn_limits *limits_new(int max_clients, int max_per_ip);
void limits_free(struct conn_limits *l);

/* Admit one connection from peer, owned by process owner (getpid() of the
 * process that serves it). Returns a slot >= 0, or -1 with *why set. */
int limits_admit(struct conn_limits *l, const union sockaddr_any *peer, pid_t owner,
                 enum refusal *why);
void limits_release(struct conn_limits *l, int slot);
/* Free every slot held by a process that died (prefork/hybrid masters). */
void limits_release_owner(struct conn_limits *l, pid_t owner);
int limits_active(struct conn_limits *l);

/* Write the 421 for a refused connection (best effort, never blocks) and
 * close it. */
void limits_turn_away(const struct ftpd_config *cfg, int fd, enum refusal why,
                      const union sockaddr_any *peer);

#endif

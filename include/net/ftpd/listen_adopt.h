/* Listeners handed to this process at start instead of bound by it: systemd
 * socket activation and the live upgrade (SIGUSR2) use the same convention,
 * sd_listen_fds(3): LISTEN_PID is our pid, LISTEN_FDS=n descriptors from 3
 * up, LISTEN_FDNAMES=name:name:... (optional; "ftp" for a control
 * listener, "ftps" for an implicit FTPS one, anything else: either).
 *
 * Each adopted socket is matched to a configured listener (cfg->listen x
 * port, then x implicit_tls_port) by its local address (getsockname); a
 * configured port of 0 matches any port on that address. A configured
 * listener with no adopted counterpart is bound as usual. An adopted
 * socket with no configured counterpart is logged and closed, as nginx
 * does: the config says where ftpd listens (list the same addresses in
 * ftpd.conf as in ftpd.socket). Under hybrid_balance = reuseport, further
 * adopted sockets on a matched address (the old generation's per-worker
 * sets) are kept as extra sets for the workers. */
#ifndef FTPD_LISTEN_ADOPT_H
#define FTPD_LISTEN_ADOPT_H

#include <stdbool.h>
#include <stddef.h>

#include "ftpd/config.h"
#include "ftpd/net.h"

/* The first descriptor passed (SD_LISTEN_FDS_START). */
#define ADOPT_FD_START 3
/* At most this many descriptors are adopted; more is an error. */
#define ADOPT_MAX      256
#define ADOPT_NAME_MAX 32

struct adopted {
    int n;             /* descriptors passed */
    int fd[ADOPT_MAX]; /* -1 once taken or closed */
    char name[ADOPT_MAX][ADOPT_NAME_MAX];
};

/* Read and unset LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (so nothing we
 * start sees them). When LISTEN_PID is not our pid, nothing is adopted
 * (a->n = 0). Every passed descriptor must be a listening SOCK_STREAM
 * socket; each gets close-on-exec. Returns 0, or -1 with err naming the
 * descriptor (the passed descriptors are then closed). */
int listen_adopt_take(struct adopted *a, char *err, size_t errlen);

/* net_listen_all() with adoption: out[i] takes the adopted socket matching
 * configured listener i, or a fresh one. Leftovers (see the top) are
 * closed and logged, or with reuseport copied to extra[] (at most
 * extra_cap, the count in *nextra; extra may be NULL). Returns the
 * listener count, or -1 with err. */
int net_listen_adopt(const struct ftpd_config *cfg, bool reuseport, struct adopted *a,
                     struct listener *out, struct listener *extra, int extra_cap, int *nextra,
                     char *err, size_t errlen);

/* Close what was not taken. */
void listen_adopt_close_rest(struct adopted *a);

#endif

/* Live upgrade, "idle sessions move" (issue 12) for the evented back-ends,
 * reactor and hybrid: the old generation sends each idle session (its
 * control descriptor, an open passive listener, and its state record,
 * ftpd/session_record.h) to the new generation over a Unix socket, and the
 * new one carries on serving it without a greeting. handover.c explains the
 * design; the seam with the upgrade flow:
 *
 *   new generation: main() sets srv->upgraded_from to the old generation's
 *   main pid (getppid() when FTPD_UPGRADE_FD came); nothing else. A server
 *   so started listens on its handover socket (handover_listen_logged() in
 *   its main process: the reactor's, hybrid's master before it forks), and
 *   each of its loops accepts handovers on it like on a listener
 *   (reactor_opts.handover_fd).
 *
 *   old generation, in each process that holds sessions (the reactor; each
 *   hybrid worker, told to drain by its master), once the new one is
 *   ready (CTL_DRAIN):
 *       handover_start(&r->es, r->opts->generation);
 *   then it drains: stops accepting, sets es->stopping, and lets its loop
 *   end when the last session has moved or ended (evconn.c: while a
 *   handover runs, es->stopping sends no 421 to idle sessions: they move,
 *   or are served until they end or the drain timeout's
 *   evconn_close_all). */
#ifndef FTPD_ARCH_EVENTED_HANDOVER_H
#define FTPD_ARCH_EVENTED_HANDOVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "arch/evented/evconn.h"

/* The abstract Unix socket name on which the generation replacing the one
 * whose main process is pid takes its sessions. */
#define HANDOVER_NAME_FMT "ftpd-handover.%ld"

/* ---- new generation ---------------------------------------------------- */

/* The listening handover socket of the generation replacing
 * old_generation (the old main process's pid), non-blocking,
 * close-on-exec. -1 with errno. */
int handover_listen(pid_t old_generation);

/* A server started by a live upgrade (srv->upgraded_from):
 * handover_listen(srv->upgraded_from), or -1 with a warning logged (it runs
 * on; the old generation's sessions drain there). -1 for any other start. */
int handover_listen_logged(const struct ftpd_server *srv);

/* Accept handovers on listen_fd in es's loop (not owned). 0 or -1. */
int handover_rx_start(struct evserver *es, int listen_fd);
/* Stop accepting, close the handover connections (at the loop's end). */
void handover_rx_stop(struct evserver *es);

/* ---- old generation ---------------------------------------------------- */

/* Connect to the generation replacing ours (generation: our main process's
 * pid, reactor_opts.generation) and send it every idle session of es now,
 * and each other one when it becomes idle (a transfer ended). Sessions it
 * cannot take stay and drain here. 0, or -1 (out of memory, logged:
 * nothing moves). A second call does nothing. */
int handover_start(struct evserver *es, pid_t generation);

/* evconn.c: c is idle and es->handover is on: send it. true when it was
 * sent (parked until the answer); false: it stays (marked so, or not idle
 * now). */
bool handover_offer(struct evserver *es, struct evconn *c);
/* evconn.c: c, parked, is being freed: forget it. */
void handover_forget(struct evserver *es, struct evconn *c);
/* Close the connection to the new generation (at the loop's end, after
 * evconn_close_all let go of the sessions still waiting for its answer). */
void handover_stop(struct evserver *es);

#endif

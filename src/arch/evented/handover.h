/* Live upgrade, "idle sessions move" (issue 12) for the evented back-ends,
 * reactor and hybrid: the old generation sends each idle session (its
 * control descriptor, an open passive listener, and its state record,
 * ftpd/session_record.h) to the new generation over a Unix socket, and the
 * new one carries on serving it without a greeting. handover.c explains the
 * design; the seam with the upgrade flow:
 *
 *   new generation: nothing to call. Every reactor and hybrid server
 *   listens on its handover socket, named after its main process's pid
 *   (handover_listen_logged() there: the reactor's process, hybrid's master
 *   before it forks), and each of its loops accepts handovers on it like
 *   on a listener (reactor_opts.handover_fd).
 *
 *   old generation: reactor_opts.hand_over = handover_start. The drain
 *   (reactor.c, CTL_DRAIN: we started the new generation, or our hybrid
 *   master told us) calls it with the new generation's main pid before
 *   the sessions that stay finish here (es->draining); each that becomes
 *   idle later moves then. */
#ifndef FTPD_ARCH_EVENTED_HANDOVER_H
#define FTPD_ARCH_EVENTED_HANDOVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "arch/evented/evconn.h"

/* The abstract Unix socket name on which the generation whose main
 * process is pid takes sessions from an older one. */
#define HANDOVER_NAME_FMT "ftpd-handover.%ld"

/* ---- new generation ---------------------------------------------------- */

/* The listening handover socket of the generation whose main process is
 * self, non-blocking, close-on-exec. -1 with errno. */
int handover_listen(pid_t self);

/* handover_listen(getpid()), or -1 with a warning logged (the server runs
 * on; an older generation's sessions then drain in it). */
int handover_listen_logged(void);

/* Accept handovers on listen_fd in es's loop (not owned). 0 or -1. */
int handover_rx_start(struct evserver *es, int listen_fd);
/* Stop accepting, close the handover connections (at the loop's end). */
void handover_rx_stop(struct evserver *es);

/* ---- old generation ---------------------------------------------------- */

/* Connect to the generation replacing ours (successor: its main process)
 * and send it every idle session of es now,
 * and each other one when it becomes idle (a transfer ended). Sessions it
 * cannot take stay and drain here. 0, or -1 (out of memory, logged:
 * nothing moves). A second call does nothing. */
int handover_start(struct evserver *es, pid_t successor);

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

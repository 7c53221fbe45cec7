/* The evented transfer engine: runs one transfer job on a libev loop without
 * ever blocking, for the reactor and hybrid back-ends.
 *
 * Contract:
 *   - xfer_ev_start() returns at once; the job then moves as the data socket
 *     allows, at most XFER_EV_BUDGET bytes per wake-up, so one fast download
 *     cannot starve the other sessions of the loop, and one that the client
 *     never reads costs nothing but a watcher.
 *   - the done callback is called exactly once, from the loop (never from
 *     inside xfer_ev_start), after the engine has stopped its watchers,
 *     closed the data connection and freed itself: the handle is dead when
 *     the callback runs.
 *   - xfer_ev_cancel() ends the job at once without calling back (ABOR, the
 *     control connection closing, a hard stop); the caller reports the
 *     result to the session itself.
 *   - the engine never closes t->file_fd, t->pasv_fd or t->listing: the
 *     session owns them and session_transfer_done() releases them. *t must
 *     stay valid until the job ends. */
#ifndef FTPD_NET_XFER_EVENTED_H
#define FTPD_NET_XFER_EVENTED_H

#include <stdint.h>

#include "ftpd/transfer.h"

struct ev_loop;
struct xfer_ev;

/* Bytes moved per wake-up of the data socket, at most, where the bytes
 * pass through user space (listings, TYPE A, uploads): this is CPU time
 * the other sessions of the loop wait for. */
#define XFER_EV_BUDGET (256 * 1024)

/* The same for sendfile, which costs the loop little per byte. A client
 * across a network is slower than this and sendfile returns short when the
 * socket buffer (tcp_wmem's 4 MiB at most) is full, so the cap binds only
 * on loopback, where one wake-up of 16 MiB holds the loop about 2.5 ms.
 * Against vsftpd's whole-file blocking sendfile, retr-big@1 (256 MiB,
 * runs alternating with vsftpd) ran 0.87x at 256 KiB; with server and
 * client also pinned to separate cores, about 0.86x at 4 MiB, 0.97x at
 * 16 MiB and 1.03x at 64 MiB: fewer calls move the same bytes for less. */
#define XFER_EV_SENDFILE_BUDGET (16 * 1024 * 1024)

typedef void (*xfer_ev_done_fn)(void *arg, enum xfer_result result, uint64_t bytes);

/* Start running t on loop. Returns the handle, or NULL (errno ENOMEM) when
 * the job could not even be set up; done is not called then. */
struct xfer_ev *xfer_ev_start(struct ev_loop *loop, const struct transfer *t, xfer_ev_done_fn done,
                              void *arg);

/* Stop the job now: watchers stopped, data connection closed, handle freed.
 * Returns the bytes that crossed the data connection. */
uint64_t xfer_ev_cancel(struct xfer_ev *x);

#endif

/* The master/worker channel of prefork and hybrid (issue 12): a Unix
 * socketpair per worker, made at fork, speaking ftpd/msg.h.
 *
 *   worker -> master  MSG_CH_READY once forked and listening to it;
 *   master -> worker  MSG_CH_DRAIN: stop accepting, finish the sessions,
 *                     exit (what a first SIGTERM does);
 *   end of file       either way: a worker whose master is gone (killed,
 *                     crashed) drains and exits instead of serving on
 *                     unsupervised; a master sees a worker's end close and
 *                     reaps it on the SIGCHLD that follows, as before.
 *
 * The worker's side needs no thread and no change to its loop: the kernel
 * raises SIGTERM in the worker on any activity of its end (O_ASYNC,
 * F_SETSIG), which the serial loop of a prefork worker and the event loop
 * of a hybrid worker already read as a graceful stop, even in the middle
 * of a transfer. So every message from the master means "drain" for now
 * (and a second one, like a second SIGTERM, "stop now"); a message that
 * asks for something else needs a reader in the worker's loop first.
 *
 * Counters do not travel here: they are in shared memory (ftpd/stats.h),
 * live and readable by the master at any time, even while a prefork worker
 * is blocked in a transfer and could not answer a message. */
#ifndef FTPD_ARCH_COMMON_CHANNEL_H
#define FTPD_ARCH_COMMON_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "ftpd/msg.h"

/* The master's end of one worker's channel. */
struct channel {
    int fd; /* -1: none (closed, or the worker is gone) */
    bool ready;
    struct msg_reader rd;
};

/* Before fork: a close-on-exec socketpair; fds[0] the master's end,
 * fds[1] the worker's. 0, or -1 (logged). */
int channel_pair(int fds[2]);

/* In the master after fork: take the master's end. */
void channel_open(struct channel *ch, int fd);
void channel_close(struct channel *ch);

/* The master's end is readable: read what came. false when the channel
 * ended (EOF or error, logged at debug): closed, the worker is dying. */
bool channel_receive(struct channel *ch, int index);

/* Master -> worker, one message with no payload. 0, or -1 (the channel is
 * closed: the worker is gone). */
int channel_tell(struct channel *ch, uint16_t type);

/* In the worker, after fork: report ready on fd (the worker's end) and
 * have the kernel signal any activity on it. 0, or -1 (logged, fd closed;
 * the worker serves on without a channel). */
int channel_worker_start(int fd);

#endif

/* The evented connection state machine shared by reactor and hybrid: every
 * control connection of one libev loop, from the prologue to its close,
 * run through the protocol core, its transfers on the evented engine
 * (ftpd/xfer_evented.h), its idle timeout on one ev_timer. It never blocks
 * on a peer; what it writes on the wire is exactly what the blocking loop
 * (blocking/serve.c) writes.
 *
 * The loop itself (accepting, control events, the stop) is the pattern's:
 * reactor.c. */
#ifndef FTPD_ARCH_EVENTED_EVCONN_H
#define FTPD_ARCH_EVENTED_EVCONN_H

#include <stdbool.h>
#include <sys/types.h>

#include "arch/common/admission.h"
#include "ftpd/arch.h"
#include "ftpd/limits.h"

struct ev_loop;
struct evconn;
struct listing_cache;
struct users;
struct workpool;

/* The connections of one loop. */
struct evserver {
    const struct ftpd_server *srv;
    struct admission *adm;
    struct ev_loop *loop;
    pid_t pid;
    bool stopping; /* graceful stop: no new connections or commands */
    bool stopped;  /* the loop is ending */
    bool draining; /* reload (a hybrid worker): no new connections; the
                      loop ends when the last one closes */
    struct evconn *conns;
    int nconns;
    struct listing_cache *listing_cache; /* shared by the loop's sessions; NULL: off */
    struct workpool *pool;               /* password checks off the loop; NULL: run them in place */
    char line[FTPD_LINE_MAX + 1];        /* linebuf_take's output, one per loop */
};

/* A connection accepted on fd: run the prologue (pre-greeting, admission,
 * session, 220) as the loop allows, then serve it. Takes fd. */
void evconn_open(struct evserver *es, int fd, const union sockaddr_any *peer);

/* Graceful stop (es->stopping set): idle connections get 421 and close,
 * those in a transfer finish it first. When the last one closes, the loop
 * is broken (ev_break). */
void evconn_stop_idle(struct evserver *es);

/* Close every connection now: transfers are cancelled (426), everyone gets
 * the 421, written if the socket takes it. A password check still running
 * is left to the pool (workpool_free drops its result). */
void evconn_close_all(struct evserver *es);

#endif

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
struct handover;
struct handover_rx;
struct session;
struct session_record;
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
    bool draining; /* a live upgrade, or a reload in a hybrid worker: no new
                      connections; the sessions go on and the loop ends
                      with the last (evconn_drain) */
    struct evconn *conns;
    int nconns;
    struct listing_cache *listing_cache; /* shared by the loop's sessions; NULL: off */
    struct workpool *pool;               /* password checks off the loop; NULL: run them in place */
    struct handover *handover;           /* idle sessions go to a new generation; NULL: not */
    struct handover_rx *handover_rx;     /* sessions come from an older one; NULL: not */
    char line[FTPD_LINE_MAX + 1];        /* linebuf_take's output, one per loop */
};

/* A connection accepted on fd: run the prologue (pre-greeting, admission,
 * session, 220) as the loop allows, then serve it. Takes fd. */
void evconn_open(struct evserver *es, int fd, const union sockaddr_any *peer);

/* Graceful stop (es->stopping set): idle connections get 421 and close,
 * those in a transfer finish it first. When the last one closes, the loop
 * is broken (ev_break). */
void evconn_stop_idle(struct evserver *es);

/* Live upgrade, the old generation: es->draining set; when the last
 * connection closes (now, if there is none), the loop is broken. */
void evconn_drain(struct evserver *es);

/* Close every connection now: transfers are cancelled (426), everyone gets
 * the 421, written if the socket takes it. A password check still running
 * is left to the pool (workpool_free drops its result). */
void evconn_close_all(struct evserver *es);

/* Live upgrade (handover.h): how a connection leaves for a new generation
 * and how one arrives from an older one.
 *
 * evconn_export: 1 with the record and the descriptors (control, then a
 * passive listener) when c is idle now: between commands, no transfer,
 * password check or delay, nothing half-read or unsent. 0: not now (it is
 * offered again when it becomes idle). -1: never (*why: a TLS session).
 * evconn_park: sent; watch nothing until the new generation answers.
 * evconn_unpark: serve it here again (staying: never offer it again).
 * evconn_let_go: taken by the other side: free it without a word to the
 * client (our copies of its descriptors closed, its slot released), log
 * "<peer> <why>".
 * evconn_adopt: a connection for a session restored from an older
 * generation, admitted (slot) on fd, parked (no greeting): evconn_unpark
 * it once the old side knows, or evconn_let_go. NULL: out of memory. */
struct evconn *evconn_next(const struct evconn *c); /* es->conns' order */
const char *evconn_name(const struct evconn *c);    /* its session's log prefix */
/* Serve c as far as it goes now (an idle one is offered to a handover). */
void evconn_kick(struct evconn *c);
/* c cannot move (why, logged): it drains here. */
void evconn_stays(struct evconn *c, const char *why);
int evconn_export(struct evconn *c, struct session_record *r, int fds[2], int *nfds,
                  const char **why);
void evconn_park(struct evconn *c);
void evconn_unpark(struct evconn *c, bool staying);
void evconn_let_go(struct evconn *c, const char *why);
struct evconn *evconn_adopt(struct evserver *es, int fd, const union sockaddr_any *peer, int slot,
                            struct session *s);

#endif

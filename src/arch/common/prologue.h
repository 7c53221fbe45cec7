/* The connection prologue: the one path every back-end takes from "a
 * descriptor arrived" to "a session greets".
 *
 *   1. pre-greeting  prologue_pregreet(): a phase that may read and write
 *                    before anything else: the PROXY header (issue 14),
 *                    then an implicit TLS handshake (below). It runs
 *                    before admission, because it can change who the peer
 *                    is (PROXY) and how bytes are framed (TLS). Blocking
 *                    loops wait on its WANT_* with
 *                    prologue_pregreet_blocking(); the evented connection
 *                    watches its fd.
 *   2. admission     prologue_admit(): max_clients, max_per_ip and a
 *                    stopping server, or a 421 and close.
 *   3. session       prologue_session(): the session on the connection's
 *                    addresses, the "connected" log line and the 220.
 *
 * A session moved from an older generation (live upgrade, reactor and
 * hybrid: evented/handover.c) takes step 2 (admission_admit: it counts
 * like any other) and, in place of step 3, is restored from its state
 * record (ftpd/session_record.h) with no greeting; whatever step 3 links
 * to a new session (users, rate share...) its rx_restore links too.
 *
 * Where each step runs: the patterns that accept in one place and serve in
 * another (process, thread, threadpool with a queue) run steps 1 and 2 on
 * the accepting side, so a full server's 421 never waits for a free thread
 * or a fork; step 3 runs where the session is served. A pre-greeting phase
 * that reads from the peer blocks that accepting side. The PROXY header
 * is read there all the same, because admission needs the address it
 * carries: it is read only from proxy_trusted addresses (anyone else is
 * closed at once, without a read), a balancer writes it with its first
 * segment (so it is normally there when accept() returns), and the wait
 * is bounded by proxy_timeout. A trusted balancer that stalls mid-header
 * holds those acceptors for at most that long; moving steps 1 and 2
 * after the hand-off would lift that, at the price of a thread or a fork
 * per connection before max_clients is checked.
 * The implicit TLS handshake is such a phase, split for that reason: the
 * evented connection runs it in step 1 (prologue_implicit_tls, before
 * admission), the blocking loop on its serving side just before step 3
 * (prologue_implicit_tls_blocking, after admission), so no acceptor ever
 * waits on a handshake. */
#ifndef FTPD_ARCH_COMMON_PROLOGUE_H
#define FTPD_ARCH_COMMON_PROLOGUE_H

#include <stdbool.h>
#include <sys/types.h>

#include "arch/common/admission.h"
#include "ftpd/arch.h"
#include "ftpd/buf.h"
#include "ftpd/proxy_header.h"
#include "ftpd/session.h"
#include "ftpd/stream.h"

/* A control connection on its way to its session. */
struct arrival {
    struct stream ctrl;
    /* The client: the TCP peer, or the address its PROXY header gave. */
    union sockaddr_any peer;
    /* The TCP peer (the balancer when a PROXY header named the client). */
    union sockaddr_any via;
    int slot; /* admission slot; -1 until admitted */
    enum { PROXY_NOT_STARTED, PROXY_READING, PROXY_READ } proxy_state;
    bool proxied; /* a PROXY header named the client: peer != via */
    struct proxy_parser proxy;
};

void arrival_init(struct arrival *a, int fd, const union sockaddr_any *peer);

enum prologue_step {
    PROLOGUE_DONE,       /* go on to admission */
    PROLOGUE_WANT_READ,  /* call again when the fd is readable */
    PROLOGUE_WANT_WRITE, /* call again when the fd is writable */
    PROLOGUE_FAILED,     /* logged; the caller closes the stream */
};

enum prologue_step prologue_pregreet(struct arrival *a, const struct ftpd_config *cfg);

/* Step 1 for a blocking loop: run it to its end, within proxy_timeout
 * while a PROXY header is awaited (idle_timeout otherwise). true when
 * done; false: failed (logged), stream closed. */
bool prologue_pregreet_blocking(struct arrival *a, const struct ftpd_config *cfg);

/* The PROXY header is awaited: the evented connection bounds the wait
 * with proxy_timeout, then re-arms its timer for what follows. */
bool prologue_proxy_pending(const struct arrival *a, const struct ftpd_config *cfg);

/* The pre-greeting phase ran out of time: its log line. */
void prologue_log_timeout(const struct arrival *a, const struct ftpd_config *cfg);

/* Implicit FTPS, the TLS part of step 1, for a connection that arrived on
 * implicit_tls_port: wrap the control stream (once) and run the handshake
 * as far as the peer lets it, non-blocking. PROLOGUE_DONE at once for a
 * connection on another port or when TLS is off. The evented connection
 * calls it after prologue_pregreet() (it bounds it with its timer). */
enum prologue_step prologue_implicit_tls(struct arrival *a, const struct ftpd_server *srv);

/* The same for a blocking loop, run where the session is served (never on
 * an accepting thread or process: a stalled handshake would hold it), to
 * its end within tls_handshake_timeout. true when done (or not TLS);
 * false: failed (logged), stream closed, slot released. */
bool prologue_implicit_tls_blocking(struct arrival *a, const struct ftpd_server *srv,
                                    struct admission *adm);

/* Step 2. owner: the pid serving the connection (freed by the master if it
 * dies). true with a->slot set; false: refused with a 421, stream closed. */
bool prologue_admit(struct arrival *a, const struct ftpd_config *cfg, struct admission *adm,
                    pid_t owner, bool stopping);

/* Step 3: the session, its "connected" line and its 220 in out. srv: the
 * generation the session takes its settings from; stats_row: this
 * process's row of counters (the back-end's own view says it: a prefork or
 * hybrid worker has its own, a generation has the master's). NULL: it
 * could not be set up (logged, 421 written if possible, stream closed,
 * slot released). */
struct session *prologue_session(struct arrival *a, const struct ftpd_server *srv, int stats_row,
                                 struct admission *adm, struct buf *out);

/* The end of every session: the "disconnected" line, the session freed,
 * the stream closed, the slot released. */
void prologue_end(struct arrival *a, struct session *s, struct admission *adm);

#endif

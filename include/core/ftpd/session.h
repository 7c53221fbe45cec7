/* The FTP protocol core, sans-IO: command lines in, reply bytes and transfer
 * jobs out. It never waits on the network; back-ends do all socket I/O. */
#ifndef FTPD_SESSION_H
#define FTPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftpd/buf.h"
#include "ftpd/config.h"
#include "ftpd/sockaddr.h"
#include "ftpd/transfer.h"

struct session;

enum step {
    STEP_CONTINUE, /* write out, read the next command */
    STEP_TRANSFER, /* write out (150), then run session_transfer() */
    STEP_ABORT,    /* mid-transfer ABOR: stop the transfer, then
                      session_transfer_done(XFER_ABORTED) */
    STEP_DEFER,    /* mid-transfer command that must wait: keep the line and
                      feed it again after session_transfer_done() */
    STEP_CLOSE,    /* write out, then close the control connection */
    STEP_WORK,     /* write out, take session_work_take() and run it with
                      work_run() (off the event loop, or in place), then
                      session_work_done(); read no command meanwhile */
    STEP_DELAY,    /* write out, wait session_delay_ms() (a stop cuts it
                      short), then session_delay_done(); read no command
                      meanwhile */
    STEP_TLS,      /* AUTH TLS: write out (234), then wrap the control
                      stream in TLS and call session_tls_started(); the
                      handshake comes before any further command. Bytes
                      the client sent after AUTH in clear are dropped,
                      never run as commands (STARTTLS injection). */
};

/* Why a connection is turned away before it gets a session. */
enum refusal {
    REFUSE_MAX_CLIENTS,
    REFUSE_MAX_PER_IP,
    REFUSE_SHUTTING_DOWN,
    REFUSE_NO_MEMORY,
    REFUSE_BUSY,          /* every worker busy, the pool at its maximum */
    REFUSE_ONE_AT_A_TIME, /* serial: a session is being served */
};
#define REFUSAL_KINDS (REFUSE_ONE_AT_A_TIME + 1)

/* root_fd is the served root, opened once (O_PATH|O_DIRECTORY) and shared. */
struct session *session_new(const struct ftpd_config *cfg, int root_fd,
                            const union sockaddr_any *local, const union sockaddr_any *peer);
void session_free(struct session *s);

struct listing_cache;
/* Serve this session's LIST/NLST/MLSD of whole directories through cache
 * (ftpd/listing_cache.h), which must outlive the session; NULL (the
 * default) reads every listing from disk. The evented back-ends give each
 * session their loop's cache; the blocking ones give none, as a cache per
 * thread would multiply its memory by the thread count. */
void session_set_listing_cache(struct session *s, struct listing_cache *cache);

struct users;
/* The accounts this session may log in to (ftpd/users.h), which must
 * outlive the session; NULL (the default): anonymous only. */
void session_set_users(struct session *s, const struct users *users);

struct rate_share;
/* The server's bandwidth total (ftpd/rate.h: max_rate_total), made by the
 * back-end and shared by all its sessions, which must outlive this one;
 * NULL (the default): none. Each transfer job carries it to the engine. */
void session_set_rate_share(struct session *s, struct rate_share *total);

/* Behind a load balancer that sends a PROXY header on the control
 * connection only (proxy_protocol_data = no): passive data connections
 * come from the balancer's address, not the client's, and are accepted
 * from it. The default: the client's address. PORT/EPRT still go to the
 * client only. */
void session_set_data_peer(struct session *s, const union sockaddr_any *from);

struct stats;
/* Count this session in row `row` of st (ftpd/stats.h) and show it on the
 * status board in slot board_slot (its admission slot; none when beyond
 * the board). NULL st (the default): not counted. */
void session_set_stats(struct session *s, struct stats *st, int row, int board_slot);

/* "ip:port" of the client, then " name" once logged in: the prefix of
 * every log line about the session. */
const char *session_peer_name(const struct session *s);

void session_greet(struct session *s, struct buf *out);

/* One command line, CR/LF already stripped. During a transfer only ABOR,
 * STAT, NOOP and QUIT are answered; others return STEP_DEFER. */
enum step session_command(struct session *s, const char *line, size_t len, struct buf *out);

/* The job after STEP_TRANSFER; NULL when none is pending. */
struct transfer *session_transfer(struct session *s);

/* The back-end finished (or gave up on) the job; bytes moved on the data
 * connection. Writes 226/425/426/451 (and ABOR's 226). Releases the job's
 * file, listing and passive listener. */
void session_transfer_done(struct session *s, enum xfer_result result, uint64_t bytes,
                           struct buf *out);

/* Deferred work (DESIGN.md): a password check, pure CPU, that must not run
 * on an event loop. After STEP_WORK the job is the caller's: run it on any
 * thread with work_run() (which touches nothing but the job), then give it
 * back on the session's own thread with session_work_done(), or, if the
 * session went away meanwhile, free it with work_free(). */
struct work;
struct work *session_work_take(struct session *s);
void work_run(struct work *w);
void work_free(struct work *w);
/* Takes w. Writes 230 (STEP_CONTINUE), or asks for the failed login's
 * delay (STEP_DELAY; with login_fail_delay = 0 it writes the 530 at once:
 * STEP_CONTINUE, or STEP_CLOSE after max_login_fails). */
enum step session_work_done(struct session *s, struct work *w, struct buf *out);
/* The back-end cannot take the job now (its queue is full): takes w,
 * writes 421. Returns STEP_CLOSE. */
enum step session_work_refused(struct session *s, struct work *w, struct buf *out);
/* After STEP_DELAY: how long, then the 530 (STEP_CONTINUE, or STEP_CLOSE
 * after max_login_fails). */
int session_delay_ms(const struct session *s);
enum step session_delay_done(struct session *s, struct buf *out);

struct stream;
/* The control connection is TLS now (after STEP_TLS, or an implicit TLS
 * port: then PBSZ 0 and PROT P are implied). ctrl, opaque to the core,
 * must outlive the session: PROT P transfers carry it so their data
 * connection can prove it resumed ctrl's TLS session. */
void session_tls_started(struct session *s, const struct stream *ctrl, bool implicit);

/* Replies for events the back-end detects. */
void session_line_too_long(struct session *s, struct buf *out);                        /* 500 */
void session_idle_timeout(struct session *s, struct buf *out);                         /* 421 */
void session_shutdown(struct session *s, struct buf *out);                             /* 421 */
void session_refuse(const struct ftpd_config *cfg, enum refusal why, struct buf *out); /* 421 */

#endif

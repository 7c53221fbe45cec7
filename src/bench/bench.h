/* ftpbench's one piece of state, struct bench, passed to everything: the
 * options, the libev loop, the virtual clients, the counters. There is no
 * global mutable state; one loop drives every client (no thread per client).
 *
 *   main.c    command line -> bench_setup -> run -> report
 *   bench.c   set-up and tear-down: address, sources, commands, clients
 *   client.c  one virtual client's FTP state machine
 *   tls.c     --tls: OpenSSL client connections, non-blocking
 *   run.c     the measured run: start, deadline or count, grace, counters
 *   idle.c    the idle scenario: ramp up, hold, NOOPs, server memory,
 *             background logins
 *   spread.c  idle over several client processes (--procs): each runs
 *             idle.c on its share, the parent syncs and adds them up
 *   pacer     (run.c) --rate and --background-logins: sessions start on a
 *             schedule, the clients waiting their turn in a queue
 *   probe     (run.c) SIZE of --file when --size was not given */
#ifndef FTPBENCH_BENCH_H
#define FTPBENCH_BENCH_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench/mem.h"
#include "bench/opts.h"
#include "bench/reply.h"
#include "bench/stats.h"
#include "ftpd/limits.h"
#include "ftpd/linebuf.h"
#include "ftpd/sockaddr.h"

/* Where a client is in its session. */
enum cstate {
    CS_IDLE,    /* not started, or done for good */
    CS_BACKOFF, /* after an error, before reconnecting */
    CS_PACED,   /* waiting in a pacer's queue for its turn to connect */
    CS_GREET,   /* connecting; waiting for 220 */
    CS_AUTH,    /* --tls: AUTH TLS sent */
    CS_PBSZ,    /* --tls: PBSZ 0 sent (the handshake goes with it) */
    CS_PROT,    /* --tls: PROT P sent */
    CS_USER,    /* USER sent */
    CS_PASS,    /* PASS sent */
    CS_TYPE,    /* TYPE I sent */
    CS_SIZE,    /* SIZE sent (probe) */
    CS_PASV,    /* PASV or EPSV sent */
    CS_XFER,    /* RETR or LIST sent: 150, data to EOF, 226; STOR sent: 150,
                   data sent and closed, 226 */
    CS_HELD,    /* idle: logged in, nothing outstanding */
    CS_NOOP,    /* idle: NOOP sent */
    CS_QUIT,    /* QUIT sent */
    CS_CLOSING, /* 221 received: waiting for the server to close */
};

enum role {
    ROLE_FAST,  /* a measured client */
    ROLE_SLOW,  /* slow: trickles commands, reads data slowly; not measured */
    ROLE_IDLE,  /* idle: logs in and holds its session */
    ROLE_PROBE, /* asks SIZE of --file before the run */
    ROLE_BG,    /* idle: logs in and QUITs while the sessions are held */
};

struct bench;

struct cmd {
    char *s;
    size_t len;
};

/* Sessions start at most at a rate (struct pace); those that come too
 * early wait in a FIFO queue. */
struct pacer {
    struct bench *b;
    struct pace pace;
    ev_timer w;
    struct client **q; /* a ring of cap entries: a client waits at most once */
    unsigned head, n, cap;
};

struct client {
    struct bench *b;
    unsigned id;
    enum role role;
    enum cstate st;
    unsigned gen; /* bumped when a session closes: stale work stops */
    int cfd, dfd;
    ev_io cw;       /* control connection */
    ev_io dw;       /* data connection (fast clients) */
    ev_timer tw;    /* operation timeout, or the back-off */
    ev_timer pace;  /* slow clients: a command byte out, a little data in */
    ev_tstamp last; /* last progress, for the timeout */
    struct linebuf in;
    struct reply_parser rp;
    const char *out; /* the command being sent (one of b->cmd) */
    size_t out_len, out_off;
    uint64_t t_op;                        /* start of the operation in flight (mono ns) */
    uint64_t t_noop;                      /* NOOP sent (mono ns) */
    uint64_t data_bytes;                  /* received (RETR, LIST) or sent (STOR) */
    unsigned seq;                         /* STOR: uploads made, for the next name */
    struct cmd stor;                      /* STOR: this client's command (a new name each time) */
    bool in_op;                           /* a counted operation is in flight */
    bool got_bytes;                       /* the control connection delivered something */
    bool got_prelim, got_final, data_eof; /* transfer progress */
    bool held;                            /* idle: reached 230 */
    SSL *cssl, *dssl;                     /* --tls: the control and data connections' */
    SSL_SESSION *sess;                    /* --tls: the control session, for the data ones */
};

/* Room for the first unexpected reply, kept to name it in the report. */
#define BAD_REPLY_MAX 128

struct bench {
    struct bench_opts o;
    struct ev_loop *loop;
    union sockaddr_any server;
    union sockaddr_any *src; /* o.sources addresses, or NULL */
    struct {
        struct cmd user, pass, type, pasv, xfer, size, noop, quit;
        struct cmd auth, pbsz, prot; /* --tls */
    } cmd;
    SSL_CTX *tls;         /* --tls, else NULL */
    const char *tls_host; /* --tls-ca: the name the certificate must be for */
    int64_t size;         /* expected RETR size; -1: unknown */
    bool tty;             /* stderr is a terminal: show progress */

    struct client *clients; /* measured (idle: held) ones first, then slow or background ones */
    unsigned nclients, nfast;
    struct pacer rate; /* --rate: the measured clients' sessions */
    struct pacer bg;   /* --background-logins */
    struct cmd bg_user, bg_pass;
    long pid;        /* ours, in the names of uploads */
    size_t stor_cap; /* of each client's STOR command buffer */
    unsigned nbg;    /* idle: background login clients (after the held ones) */
    struct client probe;

    /* The run. */
    bool stopping;      /* no new operations */
    bool finished;      /* results are final */
    uint64_t in_flight; /* measured operations started, not ended */
    uint64_t ops, slow_ops, slow_errors, bytes;
    uint64_t errors[ERR_KINDS];
    char bad_reply[BAD_REPLY_MAX]; /* the first unexpected reply and what it answered */
    uint64_t t_start, t_end;       /* mono ns */
    struct hist lat;
    ev_timer deadline, grace, progress;
    ev_signal sigint;
    uint64_t prog_ops; /* ops at the last progress line */

    /* idle */
    unsigned ramp_next, ramp_busy, held, login_failed;
    bool ramping;       /* inside ramp()'s loop (re-entry guard) */
    bool holding;       /* the ramp is over */
    unsigned cursor;    /* NOOP rotation */
    double noop_budget; /* NOOPs owed to the rate */
    uint64_t t_hold;
    ev_timer hold, tick;
    int64_t mem_before, mem_held;
    struct kmem kmem_before, kmem_held; /* not measured: slab_kib -1 */
    unsigned procs;                     /* client processes of the run */
    unsigned ramp_inflight;             /* logins in flight at most (this process) */
    unsigned noop_rate_max;             /* NOOPs per second at most (this process) */
    int sync_up, sync_down;             /* a spread child's pipes to its parent; else -1 */
    bool sync_ramped;                   /* the child told its parent the ramp is over */
    uint64_t bg_ops;                    /* background logins completed during the hold */
    struct hist bg_lat;

    char *scratch; /* received data is discarded into this; uploads are sent from it */
    size_t scratch_len;
    char line[FTPD_LINE_MAX + 1]; /* one reply line, as framed */
};

/* bench.c */
/* b empty but for the options and the counters' initial values (no
 * clients, no loop): what bench_setup starts from, and a spread run's
 * parent, which only adds up its children's figures. */
void bench_init(struct bench *b, const struct bench_opts *o);
/* Fill b from o: resolve the host, build the commands, allocate the
 * clients, make the loop. 0, or -1 with err (a usage-level problem). */
int bench_setup(struct bench *b, const struct bench_opts *o, char *err, size_t errlen);
void bench_teardown(struct bench *b);
/* The source address of a client's sockets, or NULL. */
const union sockaddr_any *bench_source(const struct bench *b, unsigned id);
/* Raise RLIMIT_NOFILE to the hard limit; warn when the run will not fit. */
void bench_raise_nofile(const struct bench *b);

/* client.c */
void client_init(struct client *c, struct bench *b, unsigned id, enum role role);
/* Start the client's first session (or finish at once if none may start). */
void client_begin(struct client *c);
/* idle: send a NOOP if the session is idle. True if one was sent. */
bool client_noop(struct client *c);
/* Close the client's connections; it reports nothing afterwards. */
void client_close(struct client *c);
/* The client's turn came in its pacer's queue: it connects now. */
void client_paced(struct client *c);

/* run.c: what clients report. */
/* A measured operation may start (counts it in flight). */
bool run_may_start(struct bench *b);
/* More operations are wanted (a persistent client may log in). */
bool run_wants_more(const struct bench *b);
void run_op_done(struct bench *b, const struct client *c, uint64_t ns);
void run_error(struct bench *b, const struct client *c, enum err_kind kind, bool in_op);
/* The client ended for good (idle and probe clients). */
void run_client_done(struct bench *b, struct client *c);
void run_size_known(struct bench *b, int64_t size);
/* The measured run of every scenario but idle. */
void run_measured(struct bench *b);
/* Ask SIZE of --file with one client. 0, or -1 (errors counted). */
int run_probe(struct bench *b);
void run_finish(struct bench *b);
/* Ctrl-C handling, and the progress line when stderr is a terminal. */
void run_progress_start(struct bench *b);
void run_progress_stop(struct bench *b);
/* rate > 0: a pacer for up to cap clients. 0, or -1 out of memory. */
int pacer_init(struct pacer *p, struct bench *b, double rate, unsigned cap);
bool pacer_active(const struct pacer *p);
/* True: c may connect now. False: c waits its turn (client_paced later). */
bool pacer_admit(struct pacer *p, struct client *c);
void pacer_stop(struct pacer *p);
void pacer_free(struct pacer *p);

/* idle.c */
void idle_run(struct bench *b);
void idle_held(struct bench *b, struct client *c);
void idle_gone(struct bench *b, struct client *c);
void idle_noop_done(struct bench *b, uint64_t ns);
/* PSS (KiB) of --server-pid's tree, or -1 with a message naming when. */
int64_t idle_server_pss(const struct bench *b, const char *when);
/* Background logins are wanted (the sessions are held, the run goes on). */
bool idle_bg_wanted(const struct bench *b);

/* spread.c */
/* An idle run over b->procs client processes; b (bench_init only: no
 * clients, no loop) gets their sums: sessions held, NOOP latencies,
 * errors, and the memory figures measured here. */
void spread_run(struct bench *b);
/* In a spread child, when the ramp is over: report it and wait for the
 * parent's word to start the hold (all children hold at once). */
void spread_child_ramped(struct bench *b);

#endif

/* Inside the protocol core: the session struct and the command handlers,
 * split by family over cmd_*.c. Nothing outside src/core includes this. */
#ifndef FTPD_SESSION_IMPL_H
#define FTPD_SESSION_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "ftpd/buf.h"
#include "ftpd/config.h"
#include "ftpd/limits.h"
#include "ftpd/log.h"
#include "ftpd/perm.h"
#include "ftpd/session.h"
#include "ftpd/sockaddr.h"
#include "ftpd/stats.h"
#include "ftpd/transfer.h"
#include "ftpd/users.h"

/* An upload in progress: the file the engine writes (xfer.file_fd) and what
 * session_transfer_done does with it (upload_end in cmd_write.c). */
struct upload {
    int dir_fd;   /* the target's directory, resolved inside the root; -1: none */
    char *name;   /* the target's name in dir_fd */
    char tmp[32]; /* the temporary file in dir_fd; "" when writing in place */
    bool existed; /* the target existed when the upload began */
    bool created; /* written in place into a file this upload created */
};

/* What a transfer needs while it runs (or is being set up by its command):
 * allocated on demand (session_job) and freed when it ends, so an idle
 * session does not carry it. */
struct session_job {
    struct transfer xfer;
    char *xfer_path;    /* virtual path of the job, for the log line */
    int64_t started_ms; /* clock_ms() at the 150, for the xferlog's seconds */
    struct upload up;   /* XFER_RECV_FILE: where the bytes go (cmd_write.c) */
};

/* Laid out for an idle session's size (100,000 of them fit in a hybrid
 * server at under 1 KiB each): pointers, then counters, addresses, ints and
 * flags, with no holes; state that only some commands need is allocated
 * on demand (job, user_name, rnfr, cwd below the root). */
struct session {
    const struct ftpd_config *cfg;
    const struct users *users;           /* not owned; NULL: anonymous only */
    const struct user *account;          /* the logged-in account; NULL: anonymous */
    struct work *work;                   /* the PASS check, until taken */
    const struct user *work_user;        /* whom it checks; NULL: nobody (dummy) */
    struct listing_cache *listing_cache; /* not owned; NULL: none */
    struct rate_share *rate_total;       /* not owned; NULL: no total cap */
    struct session_job *job;             /* the transfer (in_transfer); else NULL */
    const struct stream *tls_ctrl;       /* FTPS: the control stream (opaque here) */
    struct stats_row *stats_row;         /* counters (ftpd/stats.h); NULL: none */
    struct stats_slot *stats_slot;       /* this session on the status board; NULL: none */
    /* The peer's address ("127.0.0.1:40000"), then " user" once logged in:
     * every log line's prefix, allocated to its length. Its first peer_len
     * bytes are the peer's address alone. */
    char *log_name;
    char *user_name; /* USER's argument until the login ends ("" if too long); NULL: none */
    char *cwd;       /* virtual absolute path, normalised ("/a/b"); NULL: the root "/" */
    char *rnfr;      /* RNFR's virtual path until RNTO; any other command drops it */

    uint64_t rest;
    uint64_t pasv_rng; /* passive port probes (dataport.c); 0: not seeded */
    uint64_t files_sent;
    uint64_t bytes_sent;
    uint64_t files_received;
    uint64_t bytes_received;

    union sockaddr_any local; /* control connection, our side */
    union sockaddr_any peer;  /* control connection, the client */
    /* Where passive data connections may come from: the client, or the
     * balancer when the PROXY header is on the control connection only. */
    union sockaddr_any data_peer;
    union sockaddr_any port_addr; /* PORT/EPRT's address, when have_port */

    int root_fd;                /* the served root: shared, or own_root_fd */
    int own_root_fd;            /* a user's home, opened at login; -1: none */
    int pasv_fd;                /* the one data channel: a passive listener, or -1 */
    unsigned perms;             /* enum perm letters, set at login */
    uint16_t prelogin_commands; /* up to FTPD_PRELOGIN_MAX + 1 */
    uint16_t login_failures;    /* up to max_login_fails (<= 100) */

    unsigned char peer_len; /* log_name's peer part (< SOCKADDR_STR_MAX) */
    bool user_given : 1;    /* USER accepted, PASS expected */
    bool user_anon : 1;     /* that USER names the anonymous account */
    bool logged_in : 1;
    bool delaying : 1; /* a failed login waits for its 530 */
    bool type_ascii : 1;
    bool epsv_all : 1;
    bool have_port : 1; /* the data channel is port_addr (active) */
    bool in_transfer : 1;
    bool reply_lost : 1; /* a reply could not be written: close (reply_end) */
    bool abort_pending : 1;
    bool tls_on : 1;     /* FTPS (cmd_tls.c): the control connection is TLS */
    bool tls_pbsz : 1;   /* PBSZ given (implied on implicit TLS) */
    bool tls_prot_p : 1; /* PROT P: data connections are TLS */
};

/* Command rules, checked in one place (session_command) for every command,
 * SITE sub-commands included. */
enum {
    CMD_NEEDS_LOGIN = 1 << 0,
    CMD_NEEDS_ARG = 1 << 1,
    CMD_MID_TRANSFER = 1 << 3, /* answered while a transfer runs */
    CMD_NO_ARG = 1 << 4,       /* takes no argument */
};

typedef enum step (*cmd_handler)(struct session *s, const char *arg, struct buf *out);

struct command {
    const char *name;
    cmd_handler handler;
    unsigned flags;
    const char *help; /* NULL: not listed by HELP */
    unsigned perm;    /* enum perm letters the user must hold */
};

/* The letters a login grants: the account's (or anonymous's), less every
 * write when write_enable is off. */
unsigned session_login_perms(const struct ftpd_config *cfg, unsigned account_perms);

/* The letters an anonymous login grants (before session_login_perms). */
unsigned session_anonymous_perms(const struct ftpd_config *cfg);
/* The login succeeded as name with the account's perms: logged in, the
 * permissions set, USER's name dropped, name added to the log prefix. */
void session_logged_in_as(struct session *s, const char *name, unsigned perms);

void reply(struct buf *out, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Every entry point's replies are all or nothing: reply_begin() marks out,
 * reply_end() checks that nothing written since failed (out of memory,
 * found by tests/unit/test_failmalloc.c, or the output cap). If something
 * did, the fragment is dropped, as half a reply would desynchronise the
 * client, a 421 is written if it fits, and the session closes: reply_end
 * returns STEP_CLOSE (else st), and the next command gets STEP_CLOSE.
 * reply_end also sends each bare CR (an echoed path) as CR NUL. */
struct reply_mark {
    size_t len;
    bool overflow;
};
struct reply_mark reply_begin(struct buf *out);
enum step reply_end(struct session *s, struct buf *out, struct reply_mark m, enum step st);
void session_log(const struct session *s, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resolve a client argument against the cwd. On failure replies 550 (or
 * 553 for an over-long name) and returns -1. */
int session_path(struct session *s, const char *arg, char *vpath, struct buf *out);

/* "path" with each '"' doubled (RFC 959 appendix II: PWD, MKD). */
void append_quoted(struct buf *out, const char *path);

/* There is a data channel (PASV/EPSV/PORT/EPRT); else replies 425. */
bool session_have_data_channel(struct session *s, struct buf *out);
/* The session's job (allocated on first use; kept until the transfer ends,
 * or until the command that asked for it returns without starting one).
 * NULL: out of memory, with a 451 in out. */
struct session_job *session_job(struct session *s, struct buf *out);
/* The virtual cwd ("/" when s->cwd is NULL). */
const char *session_cwd(const struct session *s);

/* Fill the rest of s->job->xfer for kind (the caller set the source or sink and
 * replied 150) and mark the transfer running. */
enum step session_start_job(struct session *s, enum xfer_kind kind, const char *vpath);

/* End of an upload (cmd_write.c, s->job->up), before its fd is closed: rename the
 * temporary file over the target, keep what arrived or remove it, as the
 * result and upload_partial say. Returns the reply code to give instead of
 * the result's (with its text in *why), or 0. Idempotent: a session freed
 * mid-upload calls it with a failure. */
int upload_end(struct session *s, enum xfer_result result, const char **why);
void upload_init(struct upload *up);
/* Forget a pending RNFR. */
void session_drop_rnfr(struct session *s);

/* Forget the data channel (closes a passive listener). */
void session_close_data(struct session *s);

/* Passive listener on the control connection's local IP (dataport.c).
 * *rng is the session's generator for port probes (0: seed it). Returns
 * the fd with the bound address in *bound, or -1 (errno says why, for the
 * log only). */
int dataport_listen(const union sockaddr_any *local, int min_port, int max_port, uint64_t *rng,
                    union sockaddr_any *bound);
/* "h1,h2,h3,h4,p1,p2" and "|proto|addr|port|" parsers: 0 or -1. EPRT
 * returns -2 for an unsupported protocol number. */
int dataport_parse_port(const char *arg, union sockaddr_any *out);
int dataport_parse_eprt(const char *arg, union sockaddr_any *out);

enum step cmd_user(struct session *, const char *, struct buf *);
enum step cmd_pass(struct session *, const char *, struct buf *);
enum step cmd_quit(struct session *, const char *, struct buf *);

enum step cmd_syst(struct session *, const char *, struct buf *);
enum step cmd_feat(struct session *, const char *, struct buf *);
enum step cmd_opts(struct session *, const char *, struct buf *);
enum step cmd_noop(struct session *, const char *, struct buf *);
enum step cmd_help(struct session *, const char *, struct buf *);
enum step cmd_stat(struct session *, const char *, struct buf *);
enum step cmd_type(struct session *, const char *, struct buf *);
enum step cmd_mode(struct session *, const char *, struct buf *);
enum step cmd_stru(struct session *, const char *, struct buf *);
enum step cmd_allo(struct session *, const char *, struct buf *);
enum step cmd_site(struct session *, const char *, struct buf *);
enum step cmd_not_implemented(struct session *, const char *, struct buf *);
enum step cmd_stor(struct session *, const char *, struct buf *);
enum step cmd_stou(struct session *, const char *, struct buf *);
enum step cmd_appe(struct session *, const char *, struct buf *);
enum step cmd_dele(struct session *, const char *, struct buf *);
enum step cmd_mkd(struct session *, const char *, struct buf *);
enum step cmd_rmd(struct session *, const char *, struct buf *);
enum step cmd_rnfr(struct session *, const char *, struct buf *);
enum step cmd_rnto(struct session *, const char *, struct buf *);
enum step cmd_mfmt(struct session *, const char *, struct buf *);
enum step cmd_site_chmod(struct session *, const char *, struct buf *);

enum step cmd_pwd(struct session *, const char *, struct buf *);
enum step cmd_cwd(struct session *, const char *, struct buf *);
enum step cmd_cdup(struct session *, const char *, struct buf *);
enum step cmd_size(struct session *, const char *, struct buf *);
enum step cmd_mdtm(struct session *, const char *, struct buf *);
enum step cmd_mlst(struct session *, const char *, struct buf *);

enum step cmd_pasv(struct session *, const char *, struct buf *);
enum step cmd_epsv(struct session *, const char *, struct buf *);
enum step cmd_port(struct session *, const char *, struct buf *);
enum step cmd_eprt(struct session *, const char *, struct buf *);
enum step cmd_rest(struct session *, const char *, struct buf *);
enum step cmd_retr(struct session *, const char *, struct buf *);
enum step cmd_list(struct session *, const char *, struct buf *);
enum step cmd_nlst(struct session *, const char *, struct buf *);
enum step cmd_mlsd(struct session *, const char *, struct buf *);
enum step cmd_abor(struct session *, const char *, struct buf *);

enum step cmd_auth(struct session *, const char *, struct buf *);
enum step cmd_pbsz(struct session *, const char *, struct buf *);
enum step cmd_prot(struct session *, const char *, struct buf *);
enum step cmd_ccc(struct session *, const char *, struct buf *);
/* tls = required: USER and PASS only on a TLS control connection; else
 * replies 530. */
bool tls_login_allowed(struct session *s, struct buf *out);
/* tls_data = required: transfers only under PROT P; else replies 521. */
bool tls_data_allowed(struct session *s, struct buf *out);

/* The command table (session.c), for HELP. */
const struct command *command_table(size_t *count);
const struct command *site_command_table(size_t *count);
/* Check the rules of c for s; replies and returns false when refused. */
bool command_allowed(struct session *s, const struct command *c, const char *arg, struct buf *out);

#endif

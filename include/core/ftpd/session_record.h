/* The state of an idle session as bytes, so that a live upgrade (issue 12,
 * "idle sessions move") can carry it to the new generation with the control
 * descriptor: what a session between two commands needs to carry on, and
 * nothing a running command holds.
 *
 * Carried: the login (logged in, as an account by name or anonymous; a USER
 * awaiting its PASS), the counters kept against the client (failed logins,
 * commands before login, files and bytes moved), the cwd, TYPE, REST, a
 * pending RNFR, EPSV ALL, the data channel (PORT/EPRT's address; a passive
 * listener travels as a descriptor beside the record) and the addresses of
 * the control connection (the peer may come from a PROXY header, so it is
 * not read again from the socket). The log name is rebuilt from the peer and
 * the user. MODE, STRU and OPTS keep no state (only S, F and UTF8 exist), so
 * nothing is carried for them. The account's permissions, home and limits are
 * looked up again by name in the new generation's users table, under its
 * config: a changed users file applies to moved sessions too.
 *
 * Not movable (session_record_export refuses): a TLS session (OpenSSL's
 * state cannot be exported; it drains in the old generation), a transfer,
 * a password check or a failed login's delay in progress.
 *
 * Wire format, version 1: big-endian, a fixed-size header (magic "FTSR",
 * version, flags, counters, lengths, three addresses) then the user name,
 * the cwd and the RNFR path, whose lengths the header gives. A record is
 * SESSION_RECORD_MIN..SESSION_RECORD_MAX bytes; decode rejects another
 * version, a truncated or oversize record, a bad length, flag or address
 * family, and a cwd or RNFR path that is not absolute and normalised (one
 * with ".." could name something outside the root). */
#ifndef FTPD_SESSION_RECORD_H
#define FTPD_SESSION_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftpd/config.h"
#include "ftpd/limits.h"
#include "ftpd/sockaddr.h"

#define SESSION_RECORD_MAGIC   0x46545352u /* "FTSR" */
#define SESSION_RECORD_VERSION 1
/* The fixed part: magic 4, version 2, flags 2, two counters 2 + 2, three
 * lengths 2 + 2 + 2, six 64-bit numbers 48, three addresses 3 x 28. */
#define SESSION_RECORD_ADDR 28
#define SESSION_RECORD_MIN  (4 + 2 + 2 + 2 + 2 + 3 * 2 + 6 * 8 + 3 * SESSION_RECORD_ADDR)
#define SESSION_RECORD_MAX  (SESSION_RECORD_MIN + FTPD_USER_NAME_MAX + 2 * (FTPD_PATH_MAX - 1))

/* A session's carried state, decoded (or about to be encoded). */
struct session_record {
    bool logged_in;      /* as user (an account's name), or anonymous */
    bool anonymous;      /* logged in as anonymous */
    bool user_given;     /* USER accepted, PASS expected (not logged in) */
    bool user_anon;      /* that USER named the anonymous account */
    bool have_user_name; /* not logged in: user holds USER's argument */
    bool type_ascii;
    bool epsv_all;
    bool have_port; /* the data channel is port_addr (PORT/EPRT) */
    bool have_pasv; /* a passive listener travels beside the record */
    uint16_t prelogin_commands;
    uint16_t login_failures;
    uint64_t rest;
    uint64_t pasv_rng;
    uint64_t files_sent, bytes_sent, files_received, bytes_received;
    union sockaddr_any local, peer, port_addr;
    char user[FTPD_USER_NAME_MAX + 1]; /* the account, or USER's argument */
    char cwd[FTPD_PATH_MAX];           /* "/" or "/a/b" */
    char rnfr[FTPD_PATH_MAX];          /* the pending RNFR's path; "": none */
};

struct session;
struct users;

/* The record of s, an idle session. -1 when it cannot move, with *why
 * saying why for the log ("TLS session", "transfer running", ...). The
 * passive listener, if r->have_pasv, is session_record_pasv_fd(s). */
int session_record_export(const struct session *s, struct session_record *r, const char **why);
int session_record_pasv_fd(const struct session *s);

/* A session restored from r, as session_new() makes one (the caller sets
 * the listing cache and rate share as for a new one), with no greeting to
 * send. root_fd and users as for session_new() and session_set_users().
 * Takes pasv_fd (a passive listener, or -1) whatever happens. NULL with
 * *why set: the account is gone, anonymous is off now, its home cannot be
 * opened, or out of memory. */
struct session *session_record_import(const struct session_record *r, const struct ftpd_config *cfg,
                                      int root_fd, const struct users *users, int pasv_fd,
                                      const char **why);

/* Encode r into out (SESSION_RECORD_MAX bytes); returns the length. r must
 * be valid (as export or decode leave it). */
size_t session_record_encode(const struct session_record *r, uint8_t *out);

/* Decode len bytes. 0, or -1 with *why set; r is then unspecified. */
int session_record_decode(const uint8_t *in, size_t len, struct session_record *r,
                          const char **why);

#endif

/* A transfer job: what the core asks a back-end to move over a data
 * connection, and how the back-end reports how it went.
 *
 * The core fills the job (after replying 150); the back-end runs it with the
 * blocking engine (net/xfer_blocking.c) or the evented one, then calls
 * session_transfer_done(), which chooses the final reply. */
#ifndef FTPD_TRANSFER_H
#define FTPD_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "ftpd/cidr.h"
#include "ftpd/sockaddr.h"

struct listing;
struct rate_share;
struct stats_row;
struct stats_slot;

struct stream;

enum xfer_kind {
    XFER_SEND_FILE,    /* RETR: file_fd from offset, size bytes */
    XFER_SEND_LISTING, /* LIST/NLST/MLSD: listing_fill() until it ends */
    XFER_RECV_FILE,    /* STOR/APPE/STOU: into file_fd from offset, until EOF */
};

struct transfer {
    enum xfer_kind kind;

    /* How to reach the client: accept on pasv_fd (passive), or connect to
     * port_addr from local_addr's IP (active) when pasv_fd < 0. pasv_fd is
     * non-blocking: a connection reset between readiness and accept()
     * must not hang the engine. */
    int pasv_fd;
    union sockaddr_any port_addr;
    union sockaddr_any local_addr;
    /* Only this IP may connect to pasv_fd (no PASV theft). */
    union sockaddr_any peer_addr;
    /* proxy_protocol_data (issue 14): a passive data connection comes
     * from a proxy_trusted balancer and starts with a PROXY header whose
     * client must be peer_addr. 0: no header; else enum proxy_versions. */
    unsigned pasv_proxy;
    const struct cidr *proxy_trusted;
    int nproxy_trusted;
    int data_timeout; /* seconds without progress (or to connect) */

    /* What to move. */
    int file_fd;
    uint64_t offset; /* RETR start (REST); STOR: where the first byte goes */
    uint64_t size;   /* RETR: bytes from offset to the end at open time */
    bool ascii;      /* TYPE A: LF becomes CRLF on the wire (RETR), CRLF
                        becomes LF on the disk (STOR) */
    struct listing *listing;

    /* Bandwidth (ftpd/rate.h): this session's cap for the direction, bytes
     * per second (0 = none), and the server's total (NULL = none), which
     * the back-end made and the session was given. */
    uint64_t max_rate;
    struct rate_share *rate_total;

    /* FTPS: PROT P. The data connection is TLS, and must resume the
     * session of tls_control (the control stream, opaque to the core; see
     * net/stream_tls.c). */
    bool tls_protect;
    const struct stream *tls_control;

    /* ftpd --status and /metrics (ftpd/stats.h): the engine reports the
     * bytes it moves with transfer_moved(); NULL: not counted. */
    struct stats_row *stats_row;
    struct stats_slot *stats_slot;
};

enum xfer_result {
    XFER_OK,          /* 226 */
    XFER_NO_CONN,     /* 425: data connection could not be made */
    XFER_ABORTED,     /* 426 then 226: the client sent ABOR */
    XFER_CONN_LOST,   /* 426: the data connection broke or timed out */
    XFER_LOCAL_ERROR, /* 451: reading or writing the file or listing failed */
    XFER_SHUTDOWN,    /* 426: the server is stopping and the grace ran out */
    XFER_NO_SPACE,    /* 452: writing the file: the disk is full (ENOSPC) */
    XFER_QUOTA,       /* 552: writing the file: quota or file size limit
                         (EDQUOT, EFBIG) */
    XFER_TLS_REFUSED, /* 522: the PROT P data connection did not resume the
                         control connection's TLS session */
};
#define XFER_RESULTS (XFER_TLS_REFUSED + 1)

/* The result for a failed write of an uploaded file, from its errno: disk
 * full and quota are told apart from other local errors (452, 552, 451). */
enum xfer_result xfer_write_error(int err);

/* Copy src to dst turning each bare LF into CRLF. dst must hold 2*n bytes.
 * Returns the bytes written. *last_cr carries "previous byte was CR" across
 * calls so a CRLF split between chunks is not doubled. */
size_t xfer_ascii_encode(const char *src, size_t n, char *dst, bool *last_cr);

/* TYPE A upload: copy src to dst turning each CRLF into LF (a lone CR is
 * kept). *held_cr carries a CR that ended the previous chunk: it is written
 * (or dropped before an LF) when the next byte is seen, so dst must hold
 * n + 1 bytes. dst may be src - 1 (in place, one byte in front). At the end
 * of the data a still held CR belongs to the file: write "\r". Returns the
 * bytes written. */
size_t xfer_ascii_decode(const char *src, size_t n, char *dst, bool *held_cr);

#endif

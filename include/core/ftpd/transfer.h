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

#include "ftpd/sockaddr.h"

struct listing;

enum xfer_kind {
    XFER_SEND_FILE,    /* RETR: file_fd from offset, size bytes */
    XFER_SEND_LISTING, /* LIST/NLST/MLSD: listing_fill() until it ends */
    XFER_RECV_FILE,    /* STOR/APPE/STOU: into file_fd (when writes exist) */
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
    int data_timeout; /* seconds without progress (or to connect) */

    /* What to move. */
    int file_fd;
    uint64_t offset; /* RETR start (REST) */
    uint64_t size;   /* RETR: bytes from offset to the end at open time */
    bool ascii;      /* TYPE A: LF becomes CRLF on the wire */
    struct listing *listing;
};

enum xfer_result {
    XFER_OK,          /* 226 */
    XFER_NO_CONN,     /* 425: data connection could not be made */
    XFER_ABORTED,     /* 426 then 226: the client sent ABOR */
    XFER_CONN_LOST,   /* 426: the data connection broke or timed out */
    XFER_LOCAL_ERROR, /* 451: reading the file or listing failed */
    XFER_SHUTDOWN,    /* 426: the server is stopping and the grace ran out */
};

/* Copy src to dst turning each bare LF into CRLF. dst must hold 2*n bytes.
 * Returns the bytes written. *last_cr carries "previous byte was CR" across
 * calls so a CRLF split between chunks is not doubled. */
size_t xfer_ascii_encode(const char *src, size_t n, char *dst, bool *last_cr);

#endif

/* The PROXY protocol header (HAProxy's proxy-protocol.txt, v1 and v2) that
 * a load balancer puts before the first byte of a connection to say who
 * the client really is. Sans-IO: bytes in, a result out; the caller reads
 * the socket (net/proxy_read.c).
 *
 *   v1  "PROXY TCP4 192.0.2.1 198.51.100.7 56324 21\r\n", one line of at
 *       most 107 bytes with its CRLF; "PROXY UNKNOWN ...\r\n" for a
 *       connection the sender cannot describe.
 *   v2  a 12-byte signature, version/command, family/protocol, a 16-bit
 *       length, then the addresses and TLVs (skipped). LOCAL (health
 *       checks) and the UNSPEC or UNIX families carry no usable address.
 *
 * The parser never takes a byte past the header: what follows belongs to
 * the FTP (or TLS) stream. It takes any split of the input (one byte at a
 * time included), keeps at most PROXY_HEADER_KEEP bytes, and rejects a
 * header as soon as a byte cannot belong to a valid one. It never guesses
 * whether a header is present: a connection that does not start with one
 * is bad. */
#ifndef FTPD_PROXY_HEADER_H
#define FTPD_PROXY_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftpd/sockaddr.h"

/* Longest v1 line, CRLF included (the spec's worst case). */
#define PROXY_V1_MAX 107
/* The v2 fixed part and the largest address block it keeps (two IPv6
 * addresses and two ports); longer blocks (UNIX, TLVs) are skipped. */
#define PROXY_V2_FIXED     16
#define PROXY_V2_ADDR_KEEP 36
#define PROXY_HEADER_KEEP  PROXY_V1_MAX

/* Which versions a listener accepts (proxy_protocol = v1 | v2 | any). */
enum proxy_versions {
    PROXY_ACCEPT_V1 = 1,
    PROXY_ACCEPT_V2 = 2,
    PROXY_ACCEPT_ANY = PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2,
};

enum proxy_status {
    PROXY_MORE, /* every byte given belongs to the header; give more */
    PROXY_DONE, /* the header is complete: *out is filled */
    PROXY_BAD,  /* not a valid header (parser.error says why) */
};

struct proxy_header {
    int version; /* 1 or 2 */
    /* false for v1 UNKNOWN, v2 LOCAL and the v2 families without an IP
     * address: the connection's own addresses stand. */
    bool has_addresses;
    union sockaddr_any src; /* the client */
    union sockaddr_any dst; /* the address the client connected to */
};

struct proxy_parser {
    unsigned accept; /* enum proxy_versions */
    uint8_t head[PROXY_HEADER_KEEP];
    size_t got;        /* header bytes taken so far */
    size_t total;      /* v2: the whole header's length once known, else 0 */
    const char *error; /* after PROXY_BAD: a short reason for the log */
};

void proxy_parser_init(struct proxy_parser *p, unsigned accept);

/* Take the next len bytes of the connection. *used: how many of them
 * belong to the header (all of them for PROXY_MORE; up to its end for
 * PROXY_DONE; 0 for PROXY_BAD). The caller consumes exactly *used bytes
 * from its input and leaves the rest to whatever follows the header. */
enum proxy_status proxy_parse(struct proxy_parser *p, const uint8_t *data, size_t len, size_t *used,
                              struct proxy_header *out);

#endif

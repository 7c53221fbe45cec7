/* FTP replies, sans-IO: lines in (framed by the caller), complete replies
 * out; and the few reply texts ftpbench must read (227, 229, 213).
 *
 * RFC 959 4.2: a reply is "NNN text", or a multi-line reply that opens with
 * "NNN-text" and ends at the first line that starts with the same "NNN "
 * (lines between are free text, even ones that start with digits). */
#ifndef FTPBENCH_REPLY_H
#define FTPBENCH_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reply_parser {
    int code;   /* of the multi-line reply being read */
    bool multi; /* inside a multi-line reply */
};

enum reply_status {
    REPLY_MORE, /* a line of an unfinished multi-line reply */
    REPLY_DONE, /* a reply is complete: *code is set */
    REPLY_BAD,  /* not a reply line */
};

void reply_reset(struct reply_parser *rp);
enum reply_status reply_feed(struct reply_parser *rp, const char *line, size_t len, int *code);

/* "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)." -> the port. The
 * address is not used: like curl, ftpbench connects to the control
 * connection's address (a server behind NAT may advertise another).
 * 0, or -1 when malformed. */
int reply_pasv_port(const char *text, int *port);
/* "229 Entering Extended Passive Mode (|||port|)" -> the port. */
int reply_epsv_port(const char *text, int *port);
/* "213 12345" -> the size. */
int reply_size(const char *text, int64_t *size);

#endif

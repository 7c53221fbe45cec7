/* "ADDR:PORT" with a numeric address: "127.0.0.1:9100", "[::1]:9100"
 * (metrics_listen). */
#ifndef FTPD_HOSTPORT_H
#define FTPD_HOSTPORT_H

#include "ftpd/sockaddr.h"

/* 0 with *out set, or -1 when text is not a numeric IPv4 address or a
 * bracketed IPv6 address, a colon and a port 0-65535. */
int hostport_parse(const char *text, union sockaddr_any *out);

#endif

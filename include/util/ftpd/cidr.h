/* Address ranges ("10.0.0.0/8", "::1", "2001:db8::/32") and membership,
 * for proxy_trusted. A v4 address reaching a dual-stack socket as
 * ::ffff:a.b.c.d matches the plain v4 ranges. */
#ifndef FTPD_CIDR_H
#define FTPD_CIDR_H

#include <stdbool.h>
#include <stdint.h>

#include "ftpd/sockaddr.h"

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

/* One range; a bare address is a /32 or /128. 0 or -1. */
int cidr_parse(const char *text, struct cidr *out);

/* A comma-separated list ("a/8, b"); at most max entries. The number of
 * entries, or -1 (a bad entry, or too many). */
int cidr_parse_list(const char *text, struct cidr *out, int max);

bool cidr_match(const struct cidr *c, const union sockaddr_any *a);
bool cidr_match_any(const struct cidr *list, int n, const union sockaddr_any *a);

#endif

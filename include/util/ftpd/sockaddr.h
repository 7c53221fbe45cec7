/* A socket address small enough to keep per session (28 bytes, not the
 * 128 of sockaddr_storage), with the helpers every layer needs. */
#ifndef FTPD_SOCKADDR_H
#define FTPD_SOCKADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/* "[::1]:2121" or "127.0.0.1:2121" */
#define SOCKADDR_STR_MAX (INET6_ADDRSTRLEN + 8)

socklen_t sockaddr_len(const union sockaddr_any *a);
int sockaddr_port(const union sockaddr_any *a);
void sockaddr_set_port(union sockaddr_any *a, int port);

/* Same host, comparing an IPv4-mapped IPv6 address equal to its IPv4 form. */
bool sockaddr_same_ip(const union sockaddr_any *a, const union sockaddr_any *b);

/* If a is ::ffff:a.b.c.d, rewrite it as a plain IPv4 address. */
void sockaddr_unmap(union sockaddr_any *a);

/* Numeric address only ("::1"); returns 0 or -1. */
int sockaddr_ip_str(const union sockaddr_any *a, char *out, size_t outlen);
/* Address and port for logs ("[::1]:40000"); never fails. */
void sockaddr_str(const union sockaddr_any *a, char *out, size_t outlen);

/* Numeric v4 or v6 address text plus port; returns 0 or -1. */
int sockaddr_parse(const char *ip, int port, union sockaddr_any *out);

#endif

/* Data-port addresses: the passive listener (an instantaneous
 * socket/bind/listen through sock_listen(), allowed in the core) and the
 * PORT/EPRT parsers. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "session_impl.h"
#include "ftpd/limits.h"
#include "ftpd/sock.h"

/* A port in [0, span): xorshift64* seeded once per session from
 * arc4random. arc4random itself costs a getrandom() syscall per call in
 * this glibc, one in every 20 syscalls of a small transfer. The ports need
 * to be hard to guess across sessions, not cryptographically strong:
 * another host cannot use one anyway (dataconn_accept checks the peer). */
static uint32_t next_probe(uint64_t *rng, uint32_t span)
{
    if (*rng == 0)
        *rng = ((uint64_t)arc4random() << 32 | arc4random()) | 1;
    uint64_t x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    return (uint32_t)(((x * 0x2545F4914F6CDD1DULL) >> 32) % span);
}

int dataport_listen(const union sockaddr_any *local, int min_port, int max_port, uint64_t *rng,
                    union sockaddr_any *bound)
{
    union sockaddr_any addr = *local;
    bool local_range_unset = min_port == 0;
    int fd = -1;
    /* Special problem: bind(port 0) makes the kernel scan the ephemeral
     * range for a port no socket uses; a busy server leaves tens of
     * thousands of data connections in TIME_WAIT there, and the scan cost
     * 20x the throughput of small transfers. Random probes of our own (as
     * vsftpd does), with SO_REUSEADDR allowing ports in TIME_WAIT, are
     * O(1); with no configured range we probe 1024-65535. A busy port is
     * skipped. */
    if (min_port == 0) {
        min_port = 1024;
        max_port = 65535;
    }
    uint32_t span = (uint32_t)(max_port - min_port) + 1;
    enum sock_status st = SOCK_IN_USE;
    for (int i = 0; i < FTPD_PASV_TRIES && st == SOCK_IN_USE; i++) {
        sockaddr_set_port(&addr, min_port + (int)next_probe(rng, span));
        st = sock_listen(&addr, 1, 0, &fd);
    }
    if (st == SOCK_IN_USE && local_range_unset) {
        sockaddr_set_port(&addr, 0); /* let the kernel find one after all */
        st = sock_listen(&addr, 1, 0, &fd);
    }
    if (st != SOCK_OK)
        return -1;
    *bound = addr; /* the probed port, or the one the kernel picked */
    return fd;
}

/* Strict decimal in [0, max]; advances *p. */
static int parse_number(const char **p, long max, long *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

int dataport_parse_port(const char *arg, union sockaddr_any *out)
{
    long v[6];
    const char *p = arg;
    for (int i = 0; i < 6; i++) {
        while (*p == ' ')
            p++;
        if (parse_number(&p, 255, &v[i]) < 0)
            return -1;
        while (*p == ' ')
            p++;
        if (i < 5 && *p++ != ',')
            return -1;
    }
    if (*p != '\0')
        return -1;
    memset(out, 0, sizeof *out);
    out->in.sin_family = AF_INET;
    out->in.sin_addr.s_addr = htonl((uint32_t)(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]));
    out->in.sin_port = htons((uint16_t)(v[4] << 8 | v[5]));
    return 0;
}

int dataport_parse_eprt(const char *arg, union sockaddr_any *out)
{
    /* <d><proto><d><addr><d><port><d>, d any printable ASCII but digits are
     * unusual; RFC 2428 suggests '|'. */
    char d = arg[0];
    if (d < 33 || d > 126)
        return -1;
    const char *p = arg + 1;
    long proto, port;
    if (parse_number(&p, 9, &proto) < 0 || *p++ != d)
        return -1;
    const char *end = strchr(p, d);
    if (end == NULL || end == p || (size_t)(end - p) >= INET6_ADDRSTRLEN)
        return -1;
    char ip[INET6_ADDRSTRLEN];
    memcpy(ip, p, (size_t)(end - p));
    ip[end - p] = '\0';
    p = end + 1;
    if (parse_number(&p, 65535, &port) < 0 || *p++ != d || *p != '\0' || port == 0)
        return -1;
    if (proto != 1 && proto != 2)
        return -2;
    memset(out, 0, sizeof *out);
    int family = proto == 1 ? AF_INET : AF_INET6;
    void *dst = family == AF_INET ? (void *)&out->in.sin_addr : (void *)&out->in6.sin6_addr;
    if (inet_pton(family, ip, dst) != 1)
        return -1;
    out->sa.sa_family = (sa_family_t)family;
    sockaddr_set_port(out, (int)port);
    return 0;
}

#include "ftpd/sockaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

socklen_t sockaddr_len(const union sockaddr_any *a)
{
    return a->sa.sa_family == AF_INET6 ? sizeof a->in6 : sizeof a->in;
}

int sockaddr_port(const union sockaddr_any *a)
{
    return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

void sockaddr_set_port(union sockaddr_any *a, int port)
{
    if (a->sa.sa_family == AF_INET6)
        a->in6.sin6_port = htons((uint16_t)port);
    else
        a->in.sin_port = htons((uint16_t)port);
}

void sockaddr_unmap(union sockaddr_any *a)
{
    if (a->sa.sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr))
        return;
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = a->in6.sin6_port};
    memcpy(&v4.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
    a->in = v4;
}

bool sockaddr_same_ip(const union sockaddr_any *a, const union sockaddr_any *b)
{
    union sockaddr_any x = *a, y = *b;
    sockaddr_unmap(&x);
    sockaddr_unmap(&y);
    if (x.sa.sa_family != y.sa.sa_family)
        return false;
    if (x.sa.sa_family == AF_INET)
        return x.in.sin_addr.s_addr == y.in.sin_addr.s_addr;
    if (x.sa.sa_family == AF_INET6)
        return memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, sizeof x.in6.sin6_addr) == 0;
    return false;
}

int sockaddr_ip_str(const union sockaddr_any *a, char *out, size_t outlen)
{
    const void *src = a->sa.sa_family == AF_INET6 ? (const void *)&a->in6.sin6_addr
                                                  : (const void *)&a->in.sin_addr;
    if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
        return -1;
    return inet_ntop(a->sa.sa_family, src, out, (socklen_t)outlen) ? 0 : -1;
}

void sockaddr_str(const union sockaddr_any *a, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    if (sockaddr_ip_str(a, ip, sizeof ip) < 0) {
        snprintf(out, outlen, "?");
        return;
    }
    if (a->sa.sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%d", ip, sockaddr_port(a));
    else
        snprintf(out, outlen, "%s:%d", ip, sockaddr_port(a));
}

int sockaddr_parse(const char *ip, int port, union sockaddr_any *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, ip, &out->in.sin_addr) == 1) {
        out->in.sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, ip, &out->in6.sin6_addr) == 1) {
        out->in6.sin6_family = AF_INET6;
    } else {
        return -1;
    }
    if (port < 0 || port > 65535)
        return -1;
    sockaddr_set_port(out, port);
    return 0;
}

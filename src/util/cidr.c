/* Address ranges: see ftpd/cidr.h. */
#include "ftpd/cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *text, struct cidr *out)
{
    char ip[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t n = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof ip)
        return -1;
    memcpy(ip, text, n);
    ip[n] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, ip, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, ip, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    int max = out->family == AF_INET ? 32 : 128;
    out->bits = max;
    if (slash != NULL) {
        char *end;
        const char *b = slash + 1;
        if (*b < '0' || *b > '9')
            return -1;
        long v = strtol(b, &end, 10);
        if (*end != '\0' || v > max)
            return -1;
        out->bits = (int)v;
    }
    return 0;
}

int cidr_parse_list(const char *text, struct cidr *out, int max)
{
    int n = 0;
    const char *s = text;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strcspn(s, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (s[trimmed - 1] == ' ' || s[trimmed - 1] == '\t'))
            trimmed--;
        char one[INET6_ADDRSTRLEN + 8];
        if (trimmed == 0 || trimmed >= sizeof one || n == max)
            return -1;
        memcpy(one, s, trimmed);
        one[trimmed] = '\0';
        if (cidr_parse(one, &out[n]) < 0)
            return -1;
        n++;
        if (s[len] == '\0')
            return n;
        s += len + 1;
    }
}

bool cidr_match(const struct cidr *c, const union sockaddr_any *a)
{
    union sockaddr_any x = *a;
    sockaddr_unmap(&x);
    const uint8_t *ip;
    if (x.sa.sa_family == AF_INET && c->family == AF_INET)
        ip = (const uint8_t *)&x.in.sin_addr;
    else if (x.sa.sa_family == AF_INET6 && c->family == AF_INET6)
        ip = x.in6.sin6_addr.s6_addr;
    else
        return false;
    int whole = c->bits / 8, rest = c->bits % 8;
    if (memcmp(ip, c->addr, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (ip[whole] & mask) == (c->addr[whole] & mask);
}

bool cidr_match_any(const struct cidr *list, int n, const union sockaddr_any *a)
{
    for (int i = 0; i < n; i++) {
        if (cidr_match(&list[i], a))
            return true;
    }
    return false;
}

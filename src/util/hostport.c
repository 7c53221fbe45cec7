/* "ADDR:PORT" parsing (see ftpd/hostport.h). */
#include "ftpd/hostport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int hostport_parse(const char *text, union sockaddr_any *out)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon[1] == '\0')
        return -1;
    char addr[64];
    const char *a = text;
    size_t len = (size_t)(colon - text);
    if (len >= 2 && text[0] == '[' && colon[-1] == ']') {
        a = text + 1;
        len -= 2;
    }
    if (len == 0 || len >= sizeof addr)
        return -1;
    memcpy(addr, a, len);
    addr[len] = '\0';
    long port = 0;
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) || (port = port * 10 + (*p - '0')) > 65535)
            return -1;
    }
    memset(out, 0, sizeof *out);
    if (a == text && inet_pton(AF_INET, addr, &out->in.sin_addr) == 1) {
        out->in.sin_family = AF_INET;
        out->in.sin_port = htons((uint16_t)port);
    } else if (a != text && inet_pton(AF_INET6, addr, &out->in6.sin6_addr) == 1) {
        out->in6.sin6_family = AF_INET6;
        out->in6.sin6_port = htons((uint16_t)port);
    } else {
        return -1;
    }
    return 0;
}

/* The PROXY protocol header parser: see ftpd/proxy_header.h. */
#include "ftpd/proxy_header.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t v1_prefix[] = "PROXY ";
#define V1_PREFIX_LEN (sizeof v1_prefix - 1)
static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* v2 byte 13: version (high nibble) and command; byte 14: family and
 * transport protocol. */
#define V2_CMD_LOCAL   0x0
#define V2_CMD_PROXY   0x1
#define V2_AF_UNSPEC   0x0
#define V2_AF_INET     0x1
#define V2_AF_INET6    0x2
#define V2_AF_UNIX     0x3
#define V2_PROTO_DGRAM 0x2

void proxy_parser_init(struct proxy_parser *p, unsigned accept)
{
    memset(p, 0, sizeof *p);
    p->accept = accept;
}

static enum proxy_status bad(struct proxy_parser *p, size_t *used, const char *why)
{
    p->error = why;
    *used = 0;
    return PROXY_BAD;
}

/* ---- v1 ---------------------------------------------------------------- */

/* A decimal port without a leading zero, 0..65535. */
static bool v1_port(const char *s, in_port_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = htons((in_port_t)v);
    return true;
}

/* One address of the given family in its canonical text form. inet_pton
 * takes exactly four dotted decimals without leading zeros for AF_INET,
 * which is what the spec asks for. */
static bool v1_addr(int family, const char *s, union sockaddr_any *out)
{
    memset(out, 0, sizeof *out);
    out->sa.sa_family = (sa_family_t)family;
    void *dst = family == AF_INET ? (void *)&out->in.sin_addr : (void *)&out->in6.sin6_addr;
    return inet_pton(family, s, dst) == 1;
}

static void set_port(union sockaddr_any *a, in_port_t port)
{
    if (a->sa.sa_family == AF_INET)
        a->in.sin_port = port;
    else
        a->in6.sin6_port = port;
}

/* The complete line (CRLF replaced by a NUL) after "PROXY ". */
static enum proxy_status v1_decode(struct proxy_parser *p, char *line, size_t *used,
                                   struct proxy_header *out)
{
    memset(out, 0, sizeof *out);
    out->version = 1;
    if (strncmp(line, "UNKNOWN", 7) == 0 && (line[7] == '\0' || line[7] == ' '))
        return PROXY_DONE; /* the rest of the line is ignored, as the spec says */
    int family;
    if (strncmp(line, "TCP4 ", 5) == 0)
        family = AF_INET;
    else if (strncmp(line, "TCP6 ", 5) == 0)
        family = AF_INET6;
    else
        return bad(p, used, "v1: unknown protocol family");
    /* Exactly four fields, each after exactly one space. */
    char *field[4];
    char *s = line + 5;
    for (int i = 0; i < 4; i++) {
        field[i] = s;
        char *sp = strchr(s, ' ');
        if ((i < 3) != (sp != NULL))
            return bad(p, used, "v1: wrong number of fields");
        if (sp != NULL) {
            *sp = '\0';
            s = sp + 1;
        }
    }
    in_port_t sport, dport;
    if (!v1_addr(family, field[0], &out->src) || !v1_addr(family, field[1], &out->dst))
        return bad(p, used, "v1: bad address for its family");
    if (!v1_port(field[2], &sport) || !v1_port(field[3], &dport))
        return bad(p, used, "v1: bad port");
    set_port(&out->src, sport);
    set_port(&out->dst, dport);
    out->has_addresses = true;
    return PROXY_DONE;
}

static enum proxy_status v1_take(struct proxy_parser *p, const uint8_t *data, size_t len,
                                 size_t *used, struct proxy_header *out)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        size_t at = p->got;
        if (at < V1_PREFIX_LEN) {
            if (c != v1_prefix[at])
                return bad(p, used, "v1: bad signature");
        } else if (at > 0 && p->head[at - 1] == '\r') {
            if (c != '\n')
                return bad(p, used, "v1: CR without LF");
        } else if (c == '\n') {
            return bad(p, used, "v1: LF without CR");
        } else if (c != '\r' && (c < 0x20 || c > 0x7e)) {
            return bad(p, used, "v1: not printable text");
        }
        p->head[p->got++] = c;
        if (c == '\n') {
            *used = i + 1;
            p->head[p->got - 2] = '\0'; /* the CR */
            return v1_decode(p, (char *)p->head + V1_PREFIX_LEN, used, out);
        }
        if (p->got == PROXY_V1_MAX)
            return bad(p, used, "v1: no CRLF within 107 bytes");
    }
    *used = len;
    return PROXY_MORE;
}

/* ---- v2 ---------------------------------------------------------------- */

/* Check the fixed part's bytes as they arrive (p->got of them so far);
 * once it is complete, learn the total length. */
static const char *v2_fixed(struct proxy_parser *p)
{
    uint8_t ver_cmd = p->head[12], fam = p->head[13];
    if (p->got == 13 && ver_cmd >> 4 != 2)
        return "v2: version is not 2";
    if (p->got == 13 && (ver_cmd & 0x0f) > V2_CMD_PROXY)
        return "v2: unknown command";
    if (p->got == 14 && fam >> 4 > V2_AF_UNIX)
        return "v2: unknown address family";
    if (p->got == 14 && (fam & 0x0f) > V2_PROTO_DGRAM)
        return "v2: unknown transport protocol";
    if (p->got < PROXY_V2_FIXED)
        return NULL;
    size_t addr_len = (size_t)p->head[14] << 8 | p->head[15];
    if ((ver_cmd & 0x0f) == V2_CMD_PROXY) {
        static const size_t need[] = {0, 12, 36, 216}; /* by family */
        if (addr_len < need[fam >> 4])
            return "v2: address block shorter than its family";
    }
    p->total = PROXY_V2_FIXED + addr_len;
    return NULL;
}

static void v2_addr(union sockaddr_any *a, int family, const uint8_t *ip, const uint8_t *port)
{
    memset(a, 0, sizeof *a);
    a->sa.sa_family = (sa_family_t)family;
    in_port_t pn;
    memcpy(&pn, port, 2); /* already in network order */
    if (family == AF_INET) {
        memcpy(&a->in.sin_addr, ip, 4);
        a->in.sin_port = pn;
    } else {
        memcpy(&a->in6.sin6_addr, ip, 16);
        a->in6.sin6_port = pn;
    }
}

static enum proxy_status v2_decode(struct proxy_parser *p, size_t *used, struct proxy_header *out)
{
    memset(out, 0, sizeof *out);
    out->version = 2;
    uint8_t cmd = p->head[12] & 0x0f, af = p->head[13] >> 4, proto = p->head[13] & 0x0f;
    if (cmd == V2_CMD_LOCAL)
        return PROXY_DONE; /* a health check: the family is ignored */
    if (proto == V2_PROTO_DGRAM)
        return bad(p, used, "v2: datagram protocol on a TCP connection");
    const uint8_t *a = p->head + PROXY_V2_FIXED;
    if (af == V2_AF_INET) {
        v2_addr(&out->src, AF_INET, a, a + 8);
        v2_addr(&out->dst, AF_INET, a + 4, a + 10);
        out->has_addresses = true;
    } else if (af == V2_AF_INET6) {
        v2_addr(&out->src, AF_INET6, a, a + 32);
        v2_addr(&out->dst, AF_INET6, a + 16, a + 34);
        out->has_addresses = true;
    }
    /* UNSPEC and UNIX: no IP to use; the spec lets the receiver fall back
     * to the connection's own addresses. */
    return PROXY_DONE;
}

static enum proxy_status v2_take(struct proxy_parser *p, const uint8_t *data, size_t len,
                                 size_t *used, struct proxy_header *out)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        size_t at = p->got;
        if (at < sizeof v2_signature && c != v2_signature[at])
            return bad(p, used, "v2: bad signature");
        if (at < PROXY_V2_FIXED + PROXY_V2_ADDR_KEEP)
            p->head[at] = c;
        p->got++;
        if (p->got > sizeof v2_signature && p->got <= PROXY_V2_FIXED) {
            const char *why = v2_fixed(p);
            if (why != NULL)
                return bad(p, used, why);
        }
        if (p->total != 0 && p->got == p->total) {
            *used = i + 1;
            return v2_decode(p, used, out);
        }
    }
    *used = len;
    return PROXY_MORE;
}

/* ---- either ------------------------------------------------------------ */

enum proxy_status proxy_parse(struct proxy_parser *p, const uint8_t *data, size_t len, size_t *used,
                              struct proxy_header *out)
{
    *used = 0;
    if (p->error != NULL)
        return PROXY_BAD;
    if (len == 0)
        return PROXY_MORE;
    uint8_t first = p->got > 0 ? p->head[0] : data[0];
    if (first == v1_prefix[0]) {
        if (!(p->accept & PROXY_ACCEPT_V1))
            return bad(p, used, "v1 header where only v2 is accepted");
        return v1_take(p, data, len, used, out);
    }
    if (first == v2_signature[0]) {
        if (!(p->accept & PROXY_ACCEPT_V2))
            return bad(p, used, "v2 header where only v1 is accepted");
        return v2_take(p, data, len, used, out);
    }
    return bad(p, used, "no PROXY header");
}

#include "ftpd/linebuf.h"

#include <stdlib.h>
#include <string.h>

#include "ftpd/limits.h"

/* Room for a maximal line with its CRLF, plus pipelined commands behind it. */
#define LINEBUF_CAP (2 * FTPD_LINE_MAX)
_Static_assert(LINEBUF_CAP <= UINT16_MAX, "struct linebuf counts in 16 bits");

enum {
    TELNET_IAC = 255,
    TELNET_WILL = 251, /* WILL, WONT, DO, DONT (251..254) carry an option byte */
    TELNET_DONT = 254,
};

enum iac_state { IAC_NONE, IAC_SEEN, IAC_OPTION };

void linebuf_init(struct linebuf *lb)
{
    memset(lb, 0, sizeof *lb);
}

void linebuf_free(struct linebuf *lb)
{
    free(lb->data);
    memset(lb, 0, sizeof *lb);
}

char *linebuf_space(struct linebuf *lb, size_t *avail)
{
    if (lb->data == NULL) {
        lb->data = malloc(LINEBUF_CAP);
        if (lb->data == NULL)
            return NULL;
    }
    if (lb->len >= LINEBUF_CAP)
        return NULL;
    *avail = LINEBUF_CAP - lb->len;
    return lb->data + lb->len;
}

/* Remove Telnet commands from the n new bytes at p, in place. Clients send
 * IAC IP IAC DM (and sometimes option negotiation) around ABOR; IAC IAC is
 * a literal 0xff byte. Returns the bytes kept. */
static size_t strip_telnet(struct linebuf *lb, char *p, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (lb->iac) {
        case IAC_NONE:
            if (c == TELNET_IAC)
                lb->iac = IAC_SEEN;
            else
                p[out++] = (char)c;
            break;
        case IAC_SEEN:
            if (c == TELNET_IAC) {
                p[out++] = (char)c;
                lb->iac = IAC_NONE;
            } else if (c >= TELNET_WILL && c <= TELNET_DONT) {
                lb->iac = IAC_OPTION;
            } else {
                lb->iac = IAC_NONE;
            }
            break;
        default: /* IAC_OPTION: the option byte */
            lb->iac = IAC_NONE;
            break;
        }
    }
    return out;
}

void linebuf_commit(struct linebuf *lb, size_t n)
{
    char *p = lb->data + lb->len;
    n = strip_telnet(lb, p, n);
    if (lb->discarding) {
        char *nl = memchr(p, '\n', n);
        if (nl == NULL)
            return; /* still inside the over-long line: drop it all */
        lb->discarding = false;
        size_t rest = n - (size_t)(nl + 1 - p);
        memmove(p, nl + 1, rest);
        n = rest;
    }
    lb->len += n;
}

enum line_status linebuf_take(struct linebuf *lb, char *line, size_t *len)
{
    if (lb->len == 0) {
        /* An idle connection keeps no buffer. */
        free(lb->data);
        lb->data = NULL;
        lb->scanned = 0;
        return LINE_NONE;
    }
    char *nl = memchr(lb->data + lb->scanned, '\n', lb->len - lb->scanned);
    if (nl == NULL) {
        lb->scanned = lb->len;
        if (lb->len <= FTPD_LINE_MAX + 1) /* +1: a CR may still precede the LF */
            return LINE_NONE;
        lb->discarding = true;
        lb->len = lb->scanned = 0;
        return LINE_TOO_LONG;
    }
    size_t n = (size_t)(nl - lb->data);
    size_t used = n + 1;
    if (n > 0 && lb->data[n - 1] == '\r')
        n--;
    if (n > FTPD_LINE_MAX) {
        lb->len -= used;
        memmove(lb->data, lb->data + used, lb->len);
        lb->scanned = 0;
        return LINE_TOO_LONG;
    }
    memcpy(line, lb->data, n);
    line[n] = '\0';
    *len = n;
    lb->len -= used;
    memmove(lb->data, lb->data + used, lb->len);
    lb->scanned = 0;
    return LINE_OK;
}

bool linebuf_pending(const struct linebuf *lb)
{
    return lb->len > 0 || lb->discarding;
}

#include "bench/reply.h"

#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

void reply_reset(struct reply_parser *rp)
{
    rp->code = 0;
    rp->multi = false;
}

/* The code of a line starting "NNN" (first digit 1-5), else -1. */
static int line_code(const char *line, size_t len)
{
    if (len < 3 || line[0] < '1' || line[0] > '5' || !is_digit(line[1]) || !is_digit(line[2]))
        return -1;
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

enum reply_status reply_feed(struct reply_parser *rp, const char *line, size_t len, int *code)
{
    int c = line_code(line, len);
    if (rp->multi) {
        /* Only "NNN " (or a bare "NNN") with the opening code ends it. */
        if (c == rp->code && (len == 3 || line[3] == ' ')) {
            *code = c;
            reply_reset(rp);
            return REPLY_DONE;
        }
        return REPLY_MORE;
    }
    if (c < 0)
        return REPLY_BAD;
    if (len == 3 || line[3] == ' ') {
        *code = c;
        return REPLY_DONE;
    }
    if (line[3] != '-')
        return REPLY_BAD;
    rp->code = c;
    rp->multi = true;
    return REPLY_MORE;
}

/* A decimal number of at most max at *p; advances *p. 0, or -1. */
static int take_number(const char **p, long max, long *out)
{
    const char *s = *p;
    long v = 0;
    if (!is_digit(*s))
        return -1;
    while (is_digit(*s)) {
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

int reply_pasv_port(const char *text, int *port)
{
    /* RFC 959 gives no format for the numbers; servers put them in
     * parentheses, and some omit them: take the first digit after the code. */
    const char *s = strlen(text) > 3 ? text + 3 : "";
    while (*s != '\0' && !is_digit(*s))
        s++;
    long v[6];
    for (int i = 0; i < 6; i++) {
        if (take_number(&s, 255, &v[i]) < 0)
            return -1;
        if (i < 5 && *s++ != ',')
            return -1;
    }
    long p = v[4] * 256 + v[5];
    if (p == 0)
        return -1;
    *port = (int)p;
    return 0;
}

int reply_epsv_port(const char *text, int *port)
{
    /* RFC 2428: "(<d><d><d><port><d>)", d any printable delimiter, usually '|'. */
    const char *s = strchr(text, '(');
    if (s == NULL)
        return -1;
    char d = s[1];
    if (d == '\0' || is_digit(d) || s[2] != d || s[3] != d)
        return -1;
    s += 4;
    long p;
    if (take_number(&s, 65535, &p) < 0 || p == 0 || s[0] != d || s[1] != ')')
        return -1;
    *port = (int)p;
    return 0;
}

int reply_size(const char *text, int64_t *size)
{
    if (strncmp(text, "213 ", 4) != 0)
        return -1;
    const char *s = text + 4;
    int64_t v = 0;
    if (!is_digit(*s))
        return -1;
    while (is_digit(*s)) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
        s++;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '\0')
        return -1;
    *size = v;
    return 0;
}

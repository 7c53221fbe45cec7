/* TYPE A on the wire: each bare LF becomes CRLF (RFC 959 3.1.1.1; the
 * server's native format is Unix text). */
#include "ftpd/transfer.h"

#include <errno.h>
#include <string.h>

size_t xfer_ascii_encode(const char *src, size_t n, char *dst, bool *last_cr)
{
    const char *p = src, *end = src + n;
    char *o = dst;
    bool cr = *last_cr;
    while (p < end) {
        /* Copy runs between line ends with memcpy: a text file is mostly
         * anything but '\n'. */
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        size_t run = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);
        memcpy(o, p, run);
        o += run;
        if (run > 0)
            cr = p[run - 1] == '\r';
        if (lf == NULL)
            break;
        /* An LF already after a CR (perhaps the last byte of the previous
         * chunk) is a CRLF the file holds: leave it alone. */
        if (!cr)
            *o++ = '\r';
        *o++ = '\n';
        cr = false;
        p = lf + 1;
    }
    *last_cr = cr;
    return (size_t)(o - dst);
}

size_t xfer_ascii_decode(const char *src, size_t n, char *dst, bool *held_cr)
{
    char *o = dst;
    bool cr = *held_cr;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        /* A CR waits for the next byte: before an LF it disappears (CRLF is
         * a line end), before anything else it was a byte of the file. The
         * write position never passes the read position: at most one byte
         * (the held CR) is added, and dst may start one byte before src. */
        if (cr && c != '\n')
            *o++ = '\r';
        cr = c == '\r';
        if (!cr)
            *o++ = c;
    }
    *held_cr = cr;
    return (size_t)(o - dst);
}

enum xfer_result xfer_write_error(int err)
{
    switch (err) {
    case ENOSPC:
        return XFER_NO_SPACE;
    case EDQUOT:
    case EFBIG:
        return XFER_QUOTA;
    default:
        return XFER_LOCAL_ERROR;
    }
}

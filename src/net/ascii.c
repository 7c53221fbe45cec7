/* TYPE A on the wire: each bare LF becomes CRLF (RFC 959 3.1.1.1; the
 * server's native format is Unix text). */
#include "ftpd/transfer.h"

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

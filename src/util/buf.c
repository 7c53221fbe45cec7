#include "ftpd/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftpd/limits.h"

void buf_init(struct buf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit ? limit : FTPD_REPLY_MAX;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

/* Make room for n more bytes after the content, compacting before growing.
 * One spare byte is always kept so vsnprintf can write its NUL. */
static int buf_reserve(struct buf *b, size_t n)
{
    if (n > b->limit - b->len) {
        b->overflow = true;
        return -1;
    }
    if (b->off + b->len + n < b->cap)
        return 0;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        if (b->len + n < b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 128;
    while (cap <= b->len + n)
        cap *= 2;
    if (cap > b->limit + 1)
        cap = b->limit + 1;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->overflow = true;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->off + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    /* One pass when it fits in the spare room (listings format thousands of
     * lines); a second, after growing, only when it does not. */
    size_t end = b->off + b->len;
    size_t room = b->cap > end ? b->cap - end : 0;
    size_t allowed = b->limit - b->len + 1; /* the +1 is vsnprintf's NUL */
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(room ? b->data + end : NULL, room < allowed ? room : allowed, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->overflow = true;
        return -1;
    }
    if ((size_t)n < room && (size_t)n <= b->limit - b->len) {
        b->len += (size_t)n;
        return 0;
    }
    if (buf_reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->data + b->off + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void buf_clear(struct buf *b)
{
    b->off = b->len = 0;
    b->overflow = false;
}

void buf_shrink(struct buf *b)
{
    if (b->len == 0) {
        free(b->data);
        b->data = NULL;
        b->off = b->cap = 0;
    }
}

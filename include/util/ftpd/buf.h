/* A length-carrying, growable byte buffer with a hard cap.
 *
 * Data lives in data[off .. off+len). Appends past `limit` fail and set
 * `overflow`, so nothing a client sends can make one grow without bound. */
#ifndef FTPD_BUF_H
#define FTPD_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t off;    /* first unread byte */
    size_t len;    /* bytes after off */
    size_t cap;    /* allocated size of data */
    size_t limit;  /* max len; 0 means FTPD_REPLY_MAX */
    bool overflow; /* an append was refused (limit or ENOMEM) */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);

/* Both return 0, or -1 (and set overflow) when the data would not fit. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* A buffer that never held a byte has no memory: its head is "" then, as
 * NULL + 0 is undefined behaviour (found by the glob fuzzer, UBSan). */
static inline const char *buf_head(const struct buf *b)
{
    return b->data != NULL ? b->data + b->off : "";
}

/* Drop n bytes from the front (after they were written out). */
void buf_consume(struct buf *b, size_t n);
/* Forget the content, keep the memory. */
void buf_clear(struct buf *b);
/* Give the memory back when empty (idle connections should cost nothing). */
void buf_shrink(struct buf *b);

#endif

/* Control-connection line framing (sans-IO).
 *
 * The back-end reads socket bytes into linebuf_space()/linebuf_commit() and
 * takes complete lines with linebuf_take(). Accepts CRLF and bare LF, drops
 * Telnet IAC sequences (clients send IAC IP IAC DM before ABOR), caps a line
 * at FTPD_LINE_MAX: an over-long line is reported once as LINE_TOO_LONG and
 * the rest of it, up to its newline, is discarded. The buffer is allocated
 * only while bytes are pending, so an idle connection holds no memory here. */
#ifndef FTPD_LINEBUF_H
#define FTPD_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Small: every idle connection embeds one (the counts fit 16 bits, as the
 * buffer holds 2 * FTPD_LINE_MAX bytes at most). */
struct linebuf {
    char *data;
    uint16_t len;      /* bytes held (IAC already removed) */
    uint16_t scanned;  /* prefix of data known to contain no '\n' */
    unsigned char iac; /* Telnet parser state across reads */
    bool discarding;   /* inside an over-long line, dropping to its '\n' */
};

enum line_status {
    LINE_NONE,     /* no complete line yet: read more */
    LINE_OK,       /* *len bytes in the caller's buffer, NUL-terminated */
    LINE_TOO_LONG, /* a line passed FTPD_LINE_MAX: reply 500, keep going */
};

void linebuf_init(struct linebuf *lb);
void linebuf_free(struct linebuf *lb);

/* Where to read into and how much fits; NULL when out of memory or when the
 * buffer already holds a full line's worth (take lines first). */
char *linebuf_space(struct linebuf *lb, size_t *avail);
/* n raw bytes were written at linebuf_space(). */
void linebuf_commit(struct linebuf *lb, size_t n);

/* Copies the next line (without CR/LF) into line[0..FTPD_LINE_MAX]. */
enum line_status linebuf_take(struct linebuf *lb, char *line, size_t *len);

/* True when bytes of an unfinished line are held. */
bool linebuf_pending(const struct linebuf *lb);

#endif

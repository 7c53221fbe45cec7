/* The transfer log (xferlog_file): one line per file transfer in the
 * wu-ftpd xferlog(5) format, field for field as vsftpd writes it, so the
 * existing parsers and report tools read it:
 *
 *   Thu Dec  3 12:30:12 2026 1 127.0.0.1 1000 /pub/a_b.txt b _ o a ident ftp 0 * c
 *
 * local time (ctime-like, day padded with a space), seconds (at least 1),
 * client IP, bytes moved, the file's path with each space as '_', a|b
 * (TYPE A or I), '_' (no special action), o|i (out = download, in =
 * upload), a|r (anonymous, with the password it gave as identity, or a
 * real account, with its name), "ftp 0 *" (service, no RFC 931
 * authentication, no authenticated id), c|i (complete, incomplete). */
#ifndef FTPD_XFERLOG_H
#define FTPD_XFERLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct xferlog_entry {
    time_t end;       /* wall-clock time the transfer ended */
    long seconds;     /* its duration; < 1 is written as 1 */
    const char *host; /* client IP, numeric */
    uint64_t bytes;   /* moved on the data connection */
    const char *path; /* the file's virtual path */
    bool ascii;       /* TYPE A */
    bool incoming;    /* upload (STOR, APPE, STOU) */
    bool anonymous;   /* user is the anonymous password, else an account */
    const char *user; /* "" is written as '*' */
    bool complete;
};

/* The line for e, '\n' included, into line (size >= 64, else 0); returns its
 * length. Over-long paths are cut so the line always fits; control bytes
 * become '?' so a name cannot forge a line. Pure: no I/O. */
size_t xferlog_format(const struct xferlog_entry *e, char *line, size_t size);

/* Open the transfer log ("" = off). Called once by main() before any thread
 * or process starts, like log_open. 0, or -1 with err filled. */
int xferlog_open(const char *path, char *err, size_t errlen);
bool xferlog_enabled(void);
/* One write(2) per line on an O_APPEND fd: lines from every process and
 * thread land whole, never interleaved. Errors are logged. */
void xferlog_write(const struct xferlog_entry *e);
/* SIGUSR1: open the file again by its name (dup2 onto the same fd). */
void xferlog_reopen(void);

#endif

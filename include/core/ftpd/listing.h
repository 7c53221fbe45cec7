/* Directory listings (LIST, NLST, MLSD) produced in chunks, and the single
 * entry formats (MLST, STAT <path>). Part of the sans-IO core: it only makes
 * instantaneous filesystem calls on the served tree. */
#ifndef FTPD_LISTING_H
#define FTPD_LISTING_H

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "ftpd/buf.h"

enum listing_format {
    LISTING_LIST, /* ls -l lines */
    LISTING_NLST, /* names only */
    LISTING_MLSD, /* RFC 3659 fact lines */
};

struct listing_cache;

struct listing_opts {
    enum listing_format format;
    bool all;       /* LIST -a: show dot files (MLSD always does) */
    unsigned perms; /* enum perm letters of the session: the perm fact */
    time_t now;     /* LIST shows the year for entries older than 6 months */
    /* Serve whole-directory listings from this cache, and store them in
     * it (ftpd/listing_cache.h); NULL: every listing is read from disk. */
    struct listing_cache *cache;
};

struct listing;

/* Open a listing of the virtual path vpath (already normalised, absolute).
 * A directory lists its entries; a file lists itself; a last component with
 * glob characters (* ? [) that does not exist filters its directory.
 * `shown` is how a NLST argument was written, prefixed to each name ("" for
 * none). Returns NULL with errno set (ENOENT, EACCES, ENOMEM, ...). */
struct listing *listing_open(int root_fd, const char *vpath, const char *shown,
                             const struct listing_opts *opts);

/* Append whole lines (CRLF-terminated) until about FTPD_LISTING_CHUNK bytes
 * were added or the listing ends. Returns 1 if more remains, 0 at the end,
 * -1 on error (errno set). */
int listing_fill(struct listing *l, struct buf *out);

void listing_close(struct listing *l);

/* The listing is sent from opts.cache rather than read from disk. */
bool listing_cached(const struct listing *l);

/* One `ls -l` line for name with st (CRLF-terminated). link_target may be
 * NULL. */
int listing_format_list(struct buf *out, const char *name, const struct stat *st,
                        const char *link_target, time_t now);

/* RFC 3659 facts "type=file;size=1;modify=YYYYMMDDHHMMSS;perm=r;unique=XuY;"
 * without the name or line end. perm says what the session's letters (enum
 * perm) allow: a file r (read), a (APPE: w), w (STOR over it: w and d, the
 * overwrite rule), d (delete), f (rename); a directory e l always, c (STOR
 * in it: w), m (MKD: m), p and d (delete: d), f (rename). */
int listing_format_facts(struct buf *out, const struct stat *st, unsigned perms);

#endif

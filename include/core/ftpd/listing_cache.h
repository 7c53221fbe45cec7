/* A bounded cache of rendered directory listings, in the spirit of nginx's
 * open_file_cache: the exact bytes listing_fill() produced for a whole
 * directory, kept for a short validity time so that repeated LISTs of the
 * same directory skip readdir and one fstatat per entry.
 *
 * One cache belongs to one event loop, i.e. one thread: no locks, and it
 * serves one root (the loop's server). Only the evented back-ends (reactor,
 * hybrid) have one; the blocking back-ends pass none, because a cache per
 * thread (32 threads by default, times FTPD_LISTING_CACHE_BYTES) would cost
 * too much memory and a shared one would need locks.
 *
 * What is cached: whole-directory listings with no NLST prefix. Globs,
 * single files and NLST with an argument are never cached.
 *
 * When an entry is served (all must hold):
 *   - same directory (st_dev, st_ino), same virtual path, format, `all` and
 *     permission letters (the MLSD perm fact: they change the bytes);
 *   - the directory's st_mtim and st_ctim, from an fstat of the directory
 *     just opened for this listing (path_open: confinement and permissions
 *     are checked on every LIST), equal those recorded before the entry was
 *     filled: an entry added, removed or renamed shows at once;
 *   - the entry is younger than the TTL (CLOCK_MONOTONIC): a change inside
 *     an existing file (size, mtime, mode) shows after the TTL at most, and
 *     so does LIST's switch from time to year for an entry turning six
 *     months old.
 *
 * Bounds (ftpd/limits.h): FTPD_LISTING_CACHE_BYTES in all, counting
 * listings being captured and evicted listings still being sent, so memory
 * never exceeds it; FTPD_LISTING_CACHE_ENTRY_MAX per listing (a bigger one
 * is sent as usual and not cached); FTPD_LISTING_CACHE_ENTRIES entries,
 * least recently used evicted first. */
#ifndef FTPD_LISTING_CACHE_H
#define FTPD_LISTING_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "ftpd/listing.h"

struct listing_cache;

/* A cache whose entries live ttl_sec seconds. ttl_sec 0 means no cache:
 * returns NULL (errno untouched). NULL with ttl_sec > 0: out of memory. */
struct listing_cache *listing_cache_new(int ttl_sec);

/* Drops every entry. Listings still open with this cache keep working: the
 * last one to finish frees what is left. NULL is allowed. */
void listing_cache_free(struct listing_cache *c);

/* The clock, replaceable for tests: nanoseconds on `which`
 * (CLOCK_MONOTONIC or CLOCK_REALTIME), or -1 when it cannot be read (the
 * cache then neither serves nor stores). */
typedef int64_t (*listing_cache_clock_fn)(void *arg, clockid_t which);
void listing_cache_set_clock(struct listing_cache *c, listing_cache_clock_fn fn, void *arg);

struct listing_cache_stats {
    size_t entries;     /* listings in the index */
    size_t bytes;       /* accounted memory (<= FTPD_LISTING_CACHE_BYTES) */
    uint64_t hits;      /* listings served from the cache */
    uint64_t misses;    /* cacheable listings that were read from disk */
    uint64_t stores;    /* listings added to the index */
    uint64_t evictions; /* entries dropped for room (LRU) */
    uint64_t abandoned; /* captures given up (too big, no room, error) */
};
void listing_cache_get_stats(const struct listing_cache *c, struct listing_cache_stats *st);

/* ---- used by listing.c only -------------------------------------------- */

/* The directory a listing is about to read, and how it is rendered. */
struct listing_cache_dir {
    const char *vpath;     /* normalised virtual path */
    const struct stat *st; /* fstat of the open directory, taken before reading */
    enum listing_format format;
    bool all;
    unsigned perms;
};

/* Rendered bytes, shared by the index and every listing sending them. */
struct listing_blob;

/* A valid entry for d, with a reference the caller releases; NULL on a
 * miss (a stale entry for d is dropped on the way). */
struct listing_blob *listing_cache_lookup(struct listing_cache *c,
                                          const struct listing_cache_dir *d);
const char *listing_blob_bytes(const struct listing_blob *b, size_t *len);
void listing_blob_release(struct listing_blob *b);

/* Recording the bytes of a listing of d as they are produced; NULL when it
 * must not be cached (the directory changed too recently to be trusted, no
 * room, no memory). Append every byte in order; on error or abort call
 * abandon; at the end, commit (which adds it to the index). Both free the
 * capture. */
struct listing_capture;
struct listing_capture *listing_cache_capture(struct listing_cache *c,
                                              const struct listing_cache_dir *d);
/* 0, or -1 when the listing cannot be cached after all (too big, no room):
 * abandon it then. */
int listing_capture_append(struct listing_capture *cap, const char *p, size_t n);
void listing_capture_commit(struct listing_capture *cap);
void listing_capture_abandon(struct listing_capture *cap);

#endif

/* The listing cache (see include/core/ftpd/listing_cache.h for the rules).
 *
 * At most FTPD_LISTING_CACHE_ENTRIES entries in a fixed array, searched
 * linearly: a few dozen integer compares cost nothing next to the
 * path_open + fstat every LIST makes anyway, and need no hash table, no
 * allocation per entry and no pointers to keep straight.
 *
 * Memory: `bytes` counts the capacity of every blob still alive, whether in
 * the index, being captured, or evicted but still being sent (the refcount
 * keeps those alive), plus the entries' paths. Growing a capture first
 * makes room by evicting unpinned entries; when that is not enough the
 * capture is given up and the listing is simply sent uncached. So the
 * bound holds whatever the clients do: a slow reader pins at most what it
 * pinned when it started, and cannot make the cache grow. */
#include "ftpd/listing_cache.h"

#include <stdlib.h>
#include <string.h>

#include "ftpd/limits.h"

#define NS_PER_SEC 1000000000LL

struct listing_blob {
    struct listing_cache *owner; /* its memory is counted there */
    char *data;
    size_t len, cap;
    int refs; /* the index, each listing sending it, a capture */
};

struct cache_entry {
    struct listing_blob *blob; /* NULL: free slot */
    char *vpath;
    size_t vpath_size; /* strlen + 1, counted in bytes */
    dev_t dev;
    ino_t ino;
    enum listing_format format;
    bool all;
    unsigned perms;             /* enum perm letters: the MLSD perm fact */
    struct timespec mtim, ctim; /* of the directory, before it was read */
    int64_t filled_ns;          /* CLOCK_MONOTONIC at that stat */
    uint64_t used;              /* LRU stamp */
};

struct listing_capture {
    struct listing_cache *c;
    struct cache_entry e; /* what commit adds; e.blob grows meanwhile */
};

struct listing_cache {
    int64_t ttl_ns;
    listing_cache_clock_fn clock;
    void *clock_arg;
    size_t bytes; /* see the top of the file */
    int live;     /* blobs not yet freed */
    bool dying;   /* listing_cache_free ran: the last blob frees the cache */
    uint64_t tick;
    struct listing_cache_stats stats;
    struct cache_entry slots[FTPD_LISTING_CACHE_ENTRIES];
};

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * NS_PER_SEC + t->tv_nsec;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int64_t system_clock(void *arg, clockid_t which)
{
    struct timespec ts;
    if (clock_gettime(which, &ts) != 0)
        return -1;
    return ts_ns(&ts);
}

struct listing_cache *listing_cache_new(int ttl_sec)
{
    if (ttl_sec <= 0)
        return NULL;
    struct listing_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->ttl_ns = (int64_t)ttl_sec * NS_PER_SEC;
    c->clock = system_clock;
    return c;
}

void listing_cache_set_clock(struct listing_cache *c, listing_cache_clock_fn fn, void *arg)
{
    c->clock = fn != NULL ? fn : system_clock;
    c->clock_arg = arg;
}

/* ---- blobs ---------------------------------------------------------------- */

static struct listing_blob *blob_new(struct listing_cache *c)
{
    struct listing_blob *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->owner = c;
    b->refs = 1;
    c->live++;
    return b;
}

const char *listing_blob_bytes(const struct listing_blob *b, size_t *len)
{
    *len = b->len;
    return b->data;
}

void listing_blob_release(struct listing_blob *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    struct listing_cache *c = b->owner;
    c->bytes -= b->cap;
    c->live--;
    free(b->data);
    free(b);
    if (c->dying && c->live == 0)
        free(c);
}

/* ---- the index ------------------------------------------------------------ */

static bool same_key(const struct cache_entry *a, const struct cache_entry *b)
{
    return a->ino == b->ino && a->dev == b->dev && a->format == b->format && a->all == b->all &&
           a->perms == b->perms && strcmp(a->vpath, b->vpath) == 0;
}

/* The key of d as an entry (vpath borrowed), to compare with the slots. */
static struct cache_entry probe_of(const struct listing_cache_dir *d)
{
    struct cache_entry p = {
        .vpath = (char *)d->vpath,
        .dev = d->st->st_dev,
        .ino = d->st->st_ino,
        .format = d->format,
        .all = d->all,
        .perms = d->perms,
    };
    return p;
}

static struct cache_entry *find(struct listing_cache *c, const struct cache_entry *key)
{
    for (size_t i = 0; i < FTPD_LISTING_CACHE_ENTRIES; i++) {
        if (c->slots[i].blob != NULL && same_key(&c->slots[i], key))
            return &c->slots[i];
    }
    return NULL;
}

static struct cache_entry *find_free(struct listing_cache *c)
{
    for (size_t i = 0; i < FTPD_LISTING_CACHE_ENTRIES; i++) {
        if (c->slots[i].blob == NULL)
            return &c->slots[i];
    }
    return NULL;
}

/* Empty a slot. The blob lives on while a listing still sends it. */
static void drop(struct listing_cache *c, struct cache_entry *e)
{
    struct listing_blob *b = e->blob;
    c->bytes -= e->vpath_size;
    free(e->vpath);
    memset(e, 0, sizeof *e);
    listing_blob_release(b); /* last: it may free c when dying */
}

/* Least recently used entry, among those whose memory dropping would give
 * back (no listing is sending them) when unpinned_only. */
static struct cache_entry *lru(struct listing_cache *c, bool unpinned_only)
{
    struct cache_entry *victim = NULL;
    for (size_t i = 0; i < FTPD_LISTING_CACHE_ENTRIES; i++) {
        struct cache_entry *e = &c->slots[i];
        if (e->blob == NULL || (unpinned_only && e->blob->refs > 1))
            continue;
        if (victim == NULL || e->used < victim->used)
            victim = e;
    }
    return victim;
}

/* Account n more bytes, evicting unpinned entries for room. -1: no room. */
static int reserve(struct listing_cache *c, size_t n)
{
    while (c->bytes + n > FTPD_LISTING_CACHE_BYTES) {
        struct cache_entry *victim = lru(c, true);
        if (victim == NULL)
            return -1;
        drop(c, victim);
        c->stats.evictions++;
    }
    c->bytes += n;
    return 0;
}

static bool fresh(const struct listing_cache *c, const struct cache_entry *e, const struct stat *st,
                  int64_t now)
{
    return ts_eq(&e->mtim, &st->st_mtim) && ts_eq(&e->ctim, &st->st_ctim) && now >= 0 &&
           now - e->filled_ns < c->ttl_ns;
}

struct listing_blob *listing_cache_lookup(struct listing_cache *c,
                                          const struct listing_cache_dir *d)
{
    if (c == NULL || c->dying)
        return NULL;
    struct cache_entry key = probe_of(d);
    struct cache_entry *e = find(c, &key);
    if (e != NULL && !fresh(c, e, d->st, c->clock(c->clock_arg, CLOCK_MONOTONIC))) {
        /* Changed or expired: it can never become valid again (a ctime
         * cannot be set back), so give its memory back now. */
        drop(c, e);
        e = NULL;
    }
    if (e == NULL) {
        c->stats.misses++;
        return NULL;
    }
    e->used = ++c->tick;
    e->blob->refs++;
    c->stats.hits++;
    return e->blob;
}

/* ---- capturing a listing --------------------------------------------------- */

struct listing_capture *listing_cache_capture(struct listing_cache *c,
                                              const struct listing_cache_dir *d)
{
    if (c == NULL || c->dying)
        return NULL;
    int64_t mono = c->clock(c->clock_arg, CLOCK_MONOTONIC);
    int64_t real = c->clock(c->clock_arg, CLOCK_REALTIME);
    if (mono < 0 || real < 0)
        return NULL;
    /* Special problem: racy timestamps (as in git's index). A change made
     * after our stat but within the file system's timestamp granularity of
     * the recorded change would leave st_mtim and st_ctim as recorded, and
     * the entry would hide it until the TTL ran out. Such a directory is
     * not cached; a time in the future (clock set back) is not trusted
     * either. */
    int64_t changed = ts_ns(&d->st->st_mtim);
    if (ts_ns(&d->st->st_ctim) > changed)
        changed = ts_ns(&d->st->st_ctim);
    if (real - changed < (int64_t)FTPD_LISTING_CACHE_RACY_SEC * NS_PER_SEC)
        return NULL;

    size_t vsize = strlen(d->vpath) + 1;
    if (reserve(c, vsize) < 0)
        return NULL;
    struct listing_capture *cap = calloc(1, sizeof *cap);
    char *vpath = malloc(vsize);
    struct listing_blob *b = cap != NULL && vpath != NULL ? blob_new(c) : NULL;
    if (b == NULL) {
        free(cap);
        free(vpath);
        c->bytes -= vsize;
        return NULL;
    }
    memcpy(vpath, d->vpath, vsize);
    cap->c = c;
    cap->e = probe_of(d);
    cap->e.vpath = vpath;
    cap->e.vpath_size = vsize;
    cap->e.blob = b;
    cap->e.mtim = d->st->st_mtim;
    cap->e.ctim = d->st->st_ctim;
    cap->e.filled_ns = mono; /* the TTL counts from the stat */
    return cap;
}

/* Room for n more bytes in the capture's blob, doubling (bounded). */
static int capture_grow(struct listing_capture *cap, size_t n)
{
    struct listing_blob *b = cap->e.blob;
    size_t need = b->len + n;
    size_t want = b->cap > 0 ? b->cap : 2 * FTPD_LISTING_CHUNK;
    while (want < need)
        want *= 2;
    if (want > FTPD_LISTING_CACHE_ENTRY_MAX)
        want = FTPD_LISTING_CACHE_ENTRY_MAX;
    size_t delta = want - b->cap;
    if (reserve(cap->c, delta) < 0)
        return -1;
    char *p = realloc(b->data, want);
    if (p == NULL) {
        cap->c->bytes -= delta;
        return -1;
    }
    b->data = p;
    b->cap = want;
    return 0;
}

int listing_capture_append(struct listing_capture *cap, const char *p, size_t n)
{
    struct listing_blob *b = cap->e.blob;
    if (n == 0)
        return 0;
    if (n > FTPD_LISTING_CACHE_ENTRY_MAX - b->len)
        return -1; /* too big to cache: it is sent as it is read */
    if (n > b->cap - b->len && capture_grow(cap, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void listing_capture_abandon(struct listing_capture *cap)
{
    if (cap == NULL)
        return;
    struct listing_cache *c = cap->c;
    struct listing_blob *b = cap->e.blob;
    c->stats.abandoned++;
    c->bytes -= cap->e.vpath_size;
    free(cap->e.vpath);
    free(cap);
    listing_blob_release(b); /* last: it may free c when dying */
}

/* Give back the doubling's slack: entries stay at their exact size. */
static void blob_fit(struct listing_cache *c, struct listing_blob *b)
{
    if (b->cap == b->len)
        return;
    if (b->len == 0) {
        free(b->data);
        b->data = NULL;
    } else {
        char *p = realloc(b->data, b->len);
        if (p == NULL)
            return; /* keep the larger block; it is accounted */
        b->data = p;
    }
    c->bytes -= b->cap - b->len;
    b->cap = b->len;
}

void listing_capture_commit(struct listing_capture *cap)
{
    struct listing_cache *c = cap->c;
    if (c->dying) {
        listing_capture_abandon(cap);
        return;
    }
    blob_fit(c, cap->e.blob);
    struct cache_entry *slot = find(c, &cap->e); /* an older fill: replace it */
    if (slot == NULL)
        slot = find_free(c);
    if (slot == NULL) {
        slot = lru(c, false); /* a pinned one leaves the index, lives on */
        c->stats.evictions++;
    }
    if (slot->blob != NULL)
        drop(c, slot);
    *slot = cap->e; /* the capture's reference becomes the index's */
    slot->used = ++c->tick;
    c->stats.stores++;
    free(cap);
}

/* ---- the whole cache ---------------------------------------------------------- */

void listing_cache_get_stats(const struct listing_cache *c, struct listing_cache_stats *st)
{
    *st = c->stats;
    st->bytes = c->bytes;
    st->entries = 0;
    for (size_t i = 0; i < FTPD_LISTING_CACHE_ENTRIES; i++)
        st->entries += c->slots[i].blob != NULL;
}

void listing_cache_free(struct listing_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < FTPD_LISTING_CACHE_ENTRIES; i++) {
        if (c->slots[i].blob != NULL)
            drop(c, &c->slots[i]);
    }
    if (c->live == 0)
        free(c);
    else
        c->dying = true; /* listings still send blobs counted here */
}

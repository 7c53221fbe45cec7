/* Directory listings (LIST, NLST, MLSD), produced a chunk at a time.
 *
 * Memory stays bounded by one chunk plus one line whatever the size of the
 * directory: entries are read with readdir(3) as the data connection drains
 * and are sent in readdir order (no scandir, no sorting, which would need
 * the whole directory in memory at once).
 *
 * Symlinks: an entry is stat'ed without following it (fstatat NOFOLLOW); a
 * symlink is then resolved with path_open(), i.e. inside the root only. A
 * plain follow (stat/fstatat without NOFOLLOW) would resolve "/etc/passwd"
 * against the real "/" and leak its size and mtime to the client. A link
 * that does not resolve inside the root (dangling or escaping) is shown as a
 * link with its target text.
 *
 * With opts.cache, a whole-directory listing is served from the cache when
 * it holds a valid copy (no readdir, no stat per entry), or captured while
 * it is read so the next one can be (ftpd/listing_cache.h). The directory
 * is still opened with path_open() every time, so confinement and
 * permissions are checked as for an uncached listing. */
#include "ftpd/listing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "path.h"
#include "ftpd/limits.h"
#include "ftpd/listing_cache.h"
#include "ftpd/perm.h"

/* Longest line we format: a NLST prefix (a command argument), a name, and
 * a symlink target, plus the fixed LIST fields. */
#define LISTING_LINE_MAX (FTPD_LINE_MAX + FTPD_PATH_MAX + 1024)

/* ls(1)'s "recent" window: half a Gregorian year. */
#define SIX_MONTHS ((time_t)31556952 / 2)

enum listing_mode {
    MODE_DIR,    /* every entry of a directory */
    MODE_GLOB,   /* entries of a directory matching a pattern */
    MODE_SINGLE, /* one non-directory entry */
};

struct listing {
    int root_fd;
    struct listing_opts opts;
    enum listing_mode mode;
    DIR *dir;      /* MODE_DIR, MODE_GLOB */
    int single_fd; /* MODE_SINGLE: O_PATH fd of the parent directory */
    bool done;

    char *dir_vpath; /* virtual path of the directory the entries are in */
    char *prefix;    /* NLST: prepended to each name ("" for none) */
    char *name;      /* MODE_SINGLE: the entry; MODE_GLOB: the pattern */

    struct buf line; /* the next line, formatted but not yet taken */
    bool have_line;

    struct listing_blob *blob;       /* served from the cache: its bytes */
    size_t blob_pos;                 /* ...sent up to here */
    struct listing_capture *capture; /* read from disk, recorded for the cache */

    char child[FTPD_PATH_MAX + NAME_MAX + 2];
    char target[FTPD_PATH_MAX];
};

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int refused(void)
{
    errno = ENOMEM;
    return -1;
}

static void mode_string(mode_t m, char s[11])
{
    char t = '?';
    switch (m & S_IFMT) {
    case S_IFREG:
        t = '-';
        break;
    case S_IFDIR:
        t = 'd';
        break;
    case S_IFLNK:
        t = 'l';
        break;
    case S_IFIFO:
        t = 'p';
        break;
    case S_IFSOCK:
        t = 's';
        break;
    case S_IFCHR:
        t = 'c';
        break;
    case S_IFBLK:
        t = 'b';
        break;
    }
    s[0] = t;
    s[1] = (m & S_IRUSR) ? 'r' : '-';
    s[2] = (m & S_IWUSR) ? 'w' : '-';
    s[3] = (m & S_ISUID) ? ((m & S_IXUSR) ? 's' : 'S') : ((m & S_IXUSR) ? 'x' : '-');
    s[4] = (m & S_IRGRP) ? 'r' : '-';
    s[5] = (m & S_IWGRP) ? 'w' : '-';
    s[6] = (m & S_ISGID) ? ((m & S_IXGRP) ? 's' : 'S') : ((m & S_IXGRP) ? 'x' : '-');
    s[7] = (m & S_IROTH) ? 'r' : '-';
    s[8] = (m & S_IWOTH) ? 'w' : '-';
    s[9] = (m & S_ISVTX) ? ((m & S_IXOTH) ? 't' : 'T') : ((m & S_IXOTH) ? 'x' : '-');
    s[10] = '\0';
}

int listing_format_list(struct buf *out, const char *name, const struct stat *st,
                        const char *link_target, time_t now)
{
    char mode[11];
    mode_string(st->st_mode, mode);

    /* Dates in UTC with a fixed English month table: clients parse these
     * names, so neither the server's time zone nor its locale may leak in. */
    time_t mt = st->st_mtime;
    struct tm tm;
    if (gmtime_r(&mt, &tm) == NULL) {
        mt = 0;
        gmtime_r(&mt, &tm);
    }
    char date[32];
    bool recent = mt > now - SIX_MONTHS && mt <= now + 86400;
    if (recent)
        snprintf(date, sizeof date, "%s %2d %02d:%02d", months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                 tm.tm_min);
    else
        snprintf(date, sizeof date, "%s %2d  %4d", months[tm.tm_mon], tm.tm_mday,
                 tm.tm_year + 1900);

    if (buf_printf(out, "%s %4ju %-8ju %-8ju %8jd %s %s", mode, (uintmax_t)st->st_nlink,
                   (uintmax_t)st->st_uid, (uintmax_t)st->st_gid, (intmax_t)st->st_size, date,
                   name) < 0)
        return refused();
    if (link_target != NULL && buf_printf(out, " -> %s", link_target) < 0)
        return refused();
    if (buf_append(out, "\r\n", 2) < 0)
        return refused();
    return 0;
}

/* The perm fact's letters for a file or a directory (listing.h). */
static void perm_fact(char *p, bool dir, unsigned perms)
{
    if (dir) {
        *p++ = 'e';
        *p++ = 'l';
        if (perms & PERM_UPLOAD)
            *p++ = 'c';
        if (perms & PERM_MKDIR)
            *p++ = 'm';
        if (perms & PERM_DELETE)
            *p++ = 'p';
        if (perms & PERM_RENAME)
            *p++ = 'f';
        if (perms & PERM_DELETE)
            *p++ = 'd';
    } else {
        if (perms & PERM_READ)
            *p++ = 'r';
        if (perms & PERM_UPLOAD)
            *p++ = 'a';
        if (perms & PERM_DELETE)
            *p++ = 'd';
        if (perms & PERM_RENAME)
            *p++ = 'f';
        if ((perms & PERM_UPLOAD) && (perms & PERM_DELETE))
            *p++ = 'w';
    }
    *p = '\0';
}

int listing_format_facts(struct buf *out, const struct stat *st, unsigned perms)
{
    char letters[8];
    const char *type;
    const char *perm = NULL;
    bool size = false;
    switch (st->st_mode & S_IFMT) {
    case S_IFREG:
        type = "file";
        perm_fact(letters, false, perms);
        perm = letters;
        size = true;
        break;
    case S_IFDIR:
        type = "dir";
        perm_fact(letters, true, perms);
        perm = letters;
        break;
    /* RFC 3659 7.5.1 allows OS-specific types; kept to plain words. */
    case S_IFLNK:
        type = "OS.unix=symlink";
        break;
    case S_IFIFO:
        type = "OS.unix=fifo";
        break;
    case S_IFSOCK:
        type = "OS.unix=socket";
        break;
    case S_IFCHR:
        type = "OS.unix=chr";
        break;
    case S_IFBLK:
        type = "OS.unix=blk";
        break;
    default:
        type = "OS.unix=unknown";
        break;
    }

    if (buf_printf(out, "type=%s;", type) < 0)
        return refused();
    if (size && buf_printf(out, "size=%jd;", (intmax_t)st->st_size) < 0)
        return refused();
    time_t mt = st->st_mtime;
    struct tm tm;
    if (gmtime_r(&mt, &tm) != NULL &&
        buf_printf(out, "modify=%04d%02d%02d%02d%02d%02d;", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) < 0)
        return refused();
    if (perm != NULL && buf_printf(out, "perm=%s;", perm) < 0)
        return refused();
    if (buf_printf(out, "unique=%jxU%jx;", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino) < 0)
        return refused();
    return 0;
}

static bool has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void listing_close(struct listing *l)
{
    if (l == NULL)
        return;
    if (l->dir != NULL)
        closedir(l->dir);
    if (l->single_fd >= 0)
        close(l->single_fd);
    free(l->dir_vpath);
    free(l->prefix);
    free(l->name);
    buf_free(&l->line);
    listing_blob_release(l->blob);
    listing_capture_abandon(l->capture); /* not finished: never cached */
    free(l);
}

bool listing_cached(const struct listing *l)
{
    return l->blob != NULL;
}

/* A directory stream on fd, which it takes over (closed on failure). */
static DIR *dir_stream(int fd)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

/* Open vpath as a directory stream. */
static DIR *open_dir(int root_fd, const char *vpath)
{
    int fd = path_open(root_fd, vpath, O_RDONLY | O_DIRECTORY);
    return fd < 0 ? NULL : dir_stream(fd);
}

/* vpath is not a directory we can list: it may be a single entry, or a
 * pattern over its parent. err is why it could not be opened as a
 * directory. Returns 0 or -1 with errno. */
static int open_not_dir(struct listing *l, const char *vpath, const char *shown, int err)
{
    const char *slash = strrchr(vpath, '/');
    if (slash == NULL || slash[1] == '\0') {
        errno = err;
        return -1;
    }
    l->dir_vpath = slash == vpath ? dup_n("/", 1) : dup_n(vpath, (size_t)(slash - vpath));
    l->name = dup_n(slash + 1, strlen(slash + 1));
    if (l->dir_vpath == NULL || l->name == NULL)
        return refused();

    l->single_fd = path_open(l->root_fd, l->dir_vpath, O_PATH | O_DIRECTORY);
    if (l->single_fd < 0)
        return -1;
    struct stat st;
    if (fstatat(l->single_fd, l->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        /* RFC 3659 7.2: MLSD of a non-directory is an error (501). */
        if (l->opts.format == LISTING_MLSD) {
            errno = ENOTDIR;
            return -1;
        }
        l->mode = MODE_SINGLE;
        /* NLST of a file prints the argument as written. */
        l->prefix = dup_n(shown, strlen(shown));
        return l->prefix != NULL ? 0 : refused();
    }
    if (errno != ENOENT || !has_glob(l->name) || l->opts.format == LISTING_MLSD) {
        errno = errno == ENOENT ? err : errno;
        return -1;
    }

    /* A pattern: NLST names keep the directory part of the argument, so
     * "NLST sub/a*" gives "sub/a.txt", usable in RETR. */
    close(l->single_fd);
    l->single_fd = -1;
    l->mode = MODE_GLOB;
    const char *sl = strrchr(shown, '/');
    l->prefix = dup_n(shown, sl != NULL ? (size_t)(sl - shown) + 1 : 0);
    if (l->prefix == NULL)
        return refused();
    l->dir = open_dir(l->root_fd, l->dir_vpath);
    return l->dir != NULL ? 0 : -1;
}

/* A hit in opts.cache for the directory open on fd, or else start
 * recording this listing for it. The stat is taken before any entry is
 * read, so a change made while the listing is read shows as a different
 * st_mtim/st_ctim next time. Returns true on a hit. */
static bool cache_open(struct listing *l, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return false; /* listed from disk, uncached */
    struct listing_cache_dir d = {
        .vpath = l->dir_vpath,
        .st = &st,
        .format = l->opts.format,
        .all = l->opts.all,
        .perms = l->opts.perms,
    };
    l->blob = listing_cache_lookup(l->opts.cache, &d);
    if (l->blob != NULL)
        return true;
    l->capture = listing_cache_capture(l->opts.cache, &d);
    return false;
}

/* vpath is a directory, open on fd (taken over): list all its entries.
 * Only such a listing without a NLST prefix can come from the cache. */
static int open_whole_dir(struct listing *l, int fd, const char *vpath, const char *shown)
{
    l->mode = MODE_DIR;
    l->dir_vpath = dup_n(vpath, strlen(vpath));
    l->prefix = dup_n(shown, strlen(shown));
    if (l->dir_vpath == NULL || l->prefix == NULL) {
        close(fd);
        return refused();
    }
    if (l->opts.cache != NULL && shown[0] == '\0' && cache_open(l, fd)) {
        close(fd);
        return 0;
    }
    l->dir = dir_stream(fd);
    return l->dir != NULL ? 0 : -1;
}

struct listing *listing_open(int root_fd, const char *vpath, const char *shown,
                             const struct listing_opts *opts)
{
    struct listing *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->root_fd = root_fd;
    l->opts = *opts;
    l->single_fd = -1;
    buf_init(&l->line, LISTING_LINE_MAX);
    if (shown == NULL)
        shown = "";

    int fd = path_open(root_fd, vpath, O_RDONLY | O_DIRECTORY);
    int r;
    if (fd >= 0) {
        r = open_whole_dir(l, fd, vpath, shown);
    } else if (errno == ENOTDIR || errno == ENOENT) {
        r = open_not_dir(l, vpath, shown, errno);
    } else {
        r = -1;
    }
    if (r < 0) {
        int saved = errno;
        listing_close(l);
        errno = saved;
        return NULL;
    }
    return l;
}

/* Should the entry `name` appear at all? */
static bool wanted(const struct listing *l, const char *name)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    /* A CR or LF in a name would end the line early and let the rest of the
     * name pass for another entry (or a forged one): such names cannot be
     * represented in a listing, so they are left out. */
    if (strpbrk(name, "\r\n") != NULL)
        return false;
    if (l->mode == MODE_GLOB)
        return fnmatch(l->name, name, l->opts.all ? 0 : FNM_PERIOD) == 0;
    if (name[0] == '.' && l->mode == MODE_DIR)
        return l->opts.all || l->opts.format == LISTING_MLSD;
    return true;
}

/* The stat shown for an entry, and the link target when it is a symlink
 * that does not resolve inside the root. Returns 0, or -1 when the entry is
 * gone (or cannot be stat'ed) and is to be skipped. */
static int entry_stat(struct listing *l, int dfd, const char *name, struct stat *st,
                      const char **target)
{
    *target = NULL;
    if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1; /* vanished since readdir, or unreadable: skip it */
    if (!S_ISLNK(st->st_mode))
        return 0;

    const char *sep = strcmp(l->dir_vpath, "/") == 0 ? "" : "/";
    int n = snprintf(l->child, sizeof l->child, "%s%s%s", l->dir_vpath, sep, name);
    if (n > 0 && (size_t)n < sizeof l->child) {
        int fd = path_open(l->root_fd, l->child, O_PATH);
        if (fd >= 0) {
            struct stat tst;
            int r = fstat(fd, &tst);
            close(fd);
            if (r == 0) {
                *st = tst;
                return 0;
            }
        }
    }
    ssize_t len = readlinkat(dfd, name, l->target, sizeof l->target - 1);
    if (len >= 0) {
        l->target[len] = '\0';
        if (strpbrk(l->target, "\r\n") == NULL)
            *target = l->target;
    }
    return 0;
}

/* Format the line for one entry into l->line. Returns 1 when a line was
 * made, 0 when the entry is skipped, -1 on error. */
static int format_entry(struct listing *l, int dfd, const char *name)
{
    buf_clear(&l->line);
    struct buf *b = &l->line;

    if (l->opts.format == LISTING_NLST) {
        const char *p = l->prefix;
        size_t pn = strlen(p);
        if (l->mode == MODE_SINGLE && pn > 0) {
            if (buf_append(b, p, pn) < 0)
                return refused();
        } else {
            const char *sep = pn > 0 && p[pn - 1] != '/' ? "/" : "";
            if (buf_printf(b, "%s%s%s", p, sep, name) < 0)
                return refused();
        }
        return buf_append(b, "\r\n", 2) < 0 ? refused() : 1;
    }

    struct stat st;
    const char *target;
    if (entry_stat(l, dfd, name, &st, &target) < 0)
        return 0;
    if (l->opts.format == LISTING_LIST)
        return listing_format_list(b, name, &st, target, l->opts.now) < 0 ? -1 : 1;
    if (listing_format_facts(b, &st, l->opts.perms) < 0)
        return -1;
    return buf_printf(b, " %s\r\n", name) < 0 ? refused() : 1;
}

/* Make the next line. Returns 1 when l->line holds one, 0 at the end, -1 on
 * error. */
static int next_line(struct listing *l)
{
    if (l->mode == MODE_SINGLE) {
        if (l->done)
            return 0;
        l->done = true;
        if (strpbrk(l->name, "\r\n") != NULL)
            return 0;
        return format_entry(l, l->single_fd, l->name);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(l->dir);
        if (de == NULL) {
            if (errno != 0)
                return -1;
            l->done = true;
            return 0;
        }
        if (!wanted(l, de->d_name))
            continue;
        int r = format_entry(l, dirfd(l->dir), de->d_name);
        if (r != 0)
            return r;
    }
}

/* listing_fill from the disk. */
static int fill_lines(struct listing *l, struct buf *out)
{
    size_t limit = out->limit ? out->limit : FTPD_REPLY_MAX;
    size_t added = 0;
    for (;;) {
        if (!l->have_line) {
            if (l->done)
                return 0;
            int r = next_line(l);
            if (r < 0)
                return -1;
            if (r == 0)
                return 0;
            l->have_line = true;
        }
        /* Reading one line ahead makes "1" mean there really is more. */
        if (added >= FTPD_LISTING_CHUNK)
            return 1;
        /* A line that does not fit waits for the caller to drain out; it is
         * never split. Only an empty buffer that cannot take it is an
         * error. */
        if (out->len > limit || l->line.len > limit - out->len) {
            if (out->len > 0)
                return 1;
            return refused();
        }
        if (buf_append(out, buf_head(&l->line), l->line.len) < 0)
            return refused();
        added += l->line.len;
        l->have_line = false;
    }
}

/* listing_fill from a cached blob, with the same contract: whole lines,
 * about a chunk (the line crossing the chunk mark included), never past
 * out->limit. Every line of a blob ends with LF (names with CR or LF are
 * never listed), so line ends are found with memchr. */
static int fill_from_blob(struct listing *l, struct buf *out)
{
    size_t len;
    const char *data = listing_blob_bytes(l->blob, &len);
    if (l->blob_pos == len)
        return 0; /* the end (or an empty directory: data may be NULL) */
    const char *p = data + l->blob_pos;
    size_t left = len - l->blob_pos;
    size_t n = left;
    if (n > FTPD_LISTING_CHUNK) {
        const char *nl = memchr(p + FTPD_LISTING_CHUNK - 1, '\n', left - FTPD_LISTING_CHUNK + 1);
        n = nl != NULL ? (size_t)(nl - p) + 1 : left;
    }
    size_t limit = out->limit ? out->limit : FTPD_REPLY_MAX;
    size_t room = out->len < limit ? limit - out->len : 0;
    if (n > room) {
        /* As many whole lines as fit; only an empty buffer that cannot
         * take one line is an error. */
        const char *nl = room > 0 ? memrchr(p, '\n', room) : NULL;
        if (nl == NULL)
            return out->len > 0 ? 1 : refused();
        n = (size_t)(nl - p) + 1;
    }
    if (buf_append(out, p, n) < 0)
        return refused();
    l->blob_pos += n;
    return l->blob_pos < len ? 1 : 0;
}

/* Record what fill_lines added to out (from byte `before`) for the cache;
 * at the end of the listing, store it. Any error, or a listing too big
 * for the cache, ends the recording: the listing goes on uncached. */
static void capture_fill(struct listing *l, const struct buf *out, size_t before, int r)
{
    size_t added = out->len - before;
    if (r < 0 ||
        (added > 0 && listing_capture_append(l->capture, buf_head(out) + before, added) < 0)) {
        listing_capture_abandon(l->capture);
        l->capture = NULL;
        return;
    }
    if (r == 0) {
        listing_capture_commit(l->capture);
        l->capture = NULL;
    }
}

int listing_fill(struct listing *l, struct buf *out)
{
    if (l->blob != NULL)
        return fill_from_blob(l, out);
    size_t before = out->len;
    int r = fill_lines(l, out);
    if (l->capture != NULL)
        capture_fill(l, out, before, r);
    return r;
}

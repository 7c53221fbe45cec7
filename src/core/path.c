/* Client paths inside the served tree.
 *
 * Why openat2(RESOLVE_IN_ROOT) and not chroot(2) or realpath(3):
 *  - chroot is per process: it cannot serve a thread back-end whose threads
 *    share one process, needs root, and is easy to get out of once inside.
 *  - realpath + "starts with the root?" is a check-then-use race: a symlink
 *    swapped in between the check and the open(2) leads anywhere.
 *  - openat2 with RESOLVE_IN_ROOT makes the kernel resolve the whole path,
 *    ".." and every symlink included, as if root_fd were "/", in the same
 *    call that opens the file. It is per call, so it works in any thread of
 *    any back-end, and there is no window for a race. RESOLVE_NO_MAGICLINKS
 *    refuses /proc-style links that would jump out of any root.
 *
 * The cwd is therefore only a virtual string, normalised lexically by
 * path_join(): it never needs to agree with the filesystem, the kernel has
 * the last word on every open. */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ftpd/limits.h"

/* Step to the component before *end in s (components are separated by any
 * number of '/'). Returns false when there is none. */
static bool prev_component(const char *s, size_t *end, const char **comp, size_t *n)
{
    size_t e = *end;
    while (e > 0 && s[e - 1] == '/')
        e--;
    if (e == 0) {
        *end = 0;
        return false;
    }
    size_t b = e;
    while (b > 0 && s[b - 1] != '/')
        b--;
    *comp = s + b;
    *n = e - b;
    *end = b;
    return true;
}

/* Walk the components of the joined path from the last one backwards,
 * skipping "." and the components cancelled by a later "..". A ".." with
 * nothing left to cancel is dropped: that is the clamp at "/". Returns the
 * length of the normalised path without its leading "/" for the root; when
 * out is not NULL, writes the path so that it ends at out[total]. Working
 * backwards needs no scratch buffer, and the length is known before a byte
 * is written. */
static size_t join_walk(const char *cwd, const char *arg, char *out, size_t total)
{
    const char *srcs[2] = {arg, cwd};
    int nsrc = arg[0] == '/' ? 1 : 2;
    size_t len = 0;
    size_t skip = 0;

    for (int i = 0; i < nsrc; i++) {
        const char *s = srcs[i];
        size_t end = strlen(s);
        const char *comp;
        size_t n;
        while (prev_component(s, &end, &comp, &n)) {
            if (n == 1 && comp[0] == '.')
                continue;
            if (n == 2 && comp[0] == '.' && comp[1] == '.') {
                skip++;
                continue;
            }
            if (skip > 0) {
                skip--;
                continue;
            }
            len += n + 1;
            if (out != NULL) {
                memcpy(out + total - len + 1, comp, n);
                out[total - len] = '/';
            }
        }
    }
    return len;
}

int path_join(const char *cwd, const char *arg, char *out, size_t outlen)
{
    size_t total = join_walk(cwd, arg, NULL, 0);
    size_t need = total == 0 ? 2 : total + 1;
    if (need > outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (total == 0) {
        out[0] = '/';
        out[1] = '\0';
        return 0;
    }
    join_walk(cwd, arg, out, total);
    out[total] = '\0';
    return 0;
}

/* openat2 fails with EAGAIN when a rename raced with a RESOLVE_IN_ROOT
 * lookup (the kernel cannot prove ".." stayed inside), and a signal may
 * interrupt it: both are worth a few more tries, not an error reply. */
#define PATH_OPEN_TRIES 8

int path_open(int root_fd, const char *vpath, int flags)
{
    const char *rel = vpath;
    while (*rel == '/')
        rel++;
    if (*rel == '\0')
        rel = ".";

    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    /* openat2 rejects a mode without O_CREAT/O_TMPFILE. */
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        how.mode = 0666;

    for (int i = 0;; i++) {
        long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if ((errno != EINTR && errno != EAGAIN) || i + 1 >= PATH_OPEN_TRIES)
            return -1;
    }
}

int path_stat(int root_fd, const char *vpath, struct stat *st)
{
    int fd = path_open(root_fd, vpath, O_PATH);
    if (fd < 0)
        return -1;
    int r = fstat(fd, st);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

bool path_name_ok(const char *name)
{
    /* No CR or LF either (found by fuzz_session): a listing cannot show
     * such a name (listing.c leaves it out), and MKD's 257 would carry it
     * into the reply line. */
    return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           strpbrk(name, "/\r\n") == NULL;
}

int path_open_parent(int root_fd, const char *vpath, const char **name)
{
    const char *slash = strrchr(vpath, '/');
    const char *last = slash != NULL ? slash + 1 : vpath;
    if (!path_name_ok(last)) {
        errno = EINVAL;
        return -1;
    }
    size_t plen = slash != NULL ? (size_t)(slash - vpath) : 0;
    char parent[FTPD_PATH_MAX];
    if (plen >= sizeof parent) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(parent, vpath, plen);
    parent[plen] = '\0'; /* "" is the root: path_open makes it "." */
    int fd = path_open(root_fd, parent, O_PATH | O_DIRECTORY);
    if (fd < 0)
        return -1;
    *name = last;
    return fd;
}

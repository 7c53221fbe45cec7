/* Client paths inside the served tree.
 *
 * The session keeps its cwd as a virtual path string ("/" or "/a/b"), joined
 * with each argument and normalised lexically by path_join(). The string is
 * only a name: path_open() hands it to the kernel relative to the root fd
 * with openat2(RESOLVE_IN_ROOT), which is what actually keeps every lookup
 * (including ".." and symlinks met on the way) inside the root. */
#ifndef FTPD_CORE_PATH_H
#define FTPD_CORE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Join the client's argument to the cwd (both may contain ".", "..", "//",
 * a trailing "/"; an absolute arg replaces the cwd, an empty arg means the
 * cwd) and normalise: the result is "/" or "/a/b", with ".." clamped at "/".
 * Returns 0, or -1 with errno ENAMETOOLONG when the result (with its NUL)
 * would not fit in outlen; out is never truncated silently. */
int path_join(const char *cwd, const char *arg, char *out, size_t outlen);

/* Open the virtual path vpath under root_fd with open(2) flags (O_CLOEXEC is
 * added; O_CREAT/O_TMPFILE get mode 0666 before the umask). Symlinks are
 * followed with the root acting as "/", so they can never leave it. Returns
 * an fd, or -1 with errno (ENOENT, ENOTDIR, EACCES, ELOOP, ...). */
int path_open(int root_fd, const char *vpath, int flags);

/* stat(2) of vpath inside the root (symlinks followed inside the root).
 * Returns 0, or -1 with errno. */
int path_stat(int root_fd, const char *vpath, struct stat *st);

/* For the commands that create, rename or delete a name: open the parent
 * directory of vpath (normalised, absolute) inside the root, as path_open
 * does (O_PATH | O_DIRECTORY), and point *name at vpath's final component.
 * The caller then works with the *at syscalls on (fd, *name), never on a
 * path string: the kernel resolved everything but the last component inside
 * the root, and the last one is a plain name in that directory, which each
 * caller treats without following a symlink (O_NOFOLLOW, O_EXCL,
 * AT_SYMLINK_NOFOLLOW, renameat2, unlinkat). Returns the fd, or -1 with
 * errno (EINVAL: the final component is "", ".", ".." or holds a '/', e.g.
 * vpath "/"). */
int path_open_parent(int root_fd, const char *vpath, const char **name);

/* A final component a write command may use: not "", "." or "..", no '/',
 * CR or LF. */
bool path_name_ok(const char *name);

#endif

/* User accounts: the users file, loaded once into a read-only table that
 * every session, thread and process may read, and the password hashes.
 *
 * The file: one account a line, `name:password-hash:home:permissions`,
 * optionally followed by `:options`; blank lines and lines starting with
 * '#' are skipped.
 *   name         1-FTPD_USER_NAME_MAX printable ASCII bytes, no ':' or space
 *   password     a crypt(3) hash: $y$ (yescrypt), $6$ (SHA-512) or $2b$
 *                (bcrypt); never a plain password (`ftpd --hash-password`)
 *   home         an absolute path to a directory, served as "/" to the user
 *   permissions  letters r w m d f c (ftpd/perm.h), possibly none
 *   options      (optional) comma-separated key=value pairs overriding a
 *                server key for this user: max_rate_download and
 *                max_rate_upload (a rate as in the config, rate_parse;
 *                0 = unlimited for this user)
 * A line longer than FTPD_USERS_LINE_MAX, more than FTPD_USERS_MAX
 * accounts, a name given twice or a home that is not a directory is an
 * error naming the file, the line and the field. */
#ifndef FTPD_USERS_H
#define FTPD_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct user {
    const char *name;
    const char *hash;
    const char *home;
    unsigned perms; /* enum perm */
    /* Bandwidth caps for this user, bytes/s (0 = unlimited); -1: the
     * server's (max_rate_download, max_rate_upload). */
    int64_t max_rate_download;
    int64_t max_rate_upload;
};

struct users;

/* Load path. NULL with err set ("FILE:LINE: field 'F': ...") on any error. */
struct users *users_load(const char *path, char *err, size_t errlen);
void users_free(struct users *u);
size_t users_count(const struct users *u);

/* The account called name (case-sensitive), or NULL. u may be NULL. */
const struct user *users_find(const struct users *u, const char *name);

/* true if hash is a crypt string of a supported scheme (see above). */
bool users_hash_supported(const char *hash);

/* A yescrypt hash of password into out (at least USERS_HASH_MAX bytes).
 * 0, or -1 with errno set. */
#define USERS_HASH_MAX 384
int users_hash_password(const char *password, char *out, size_t outlen);

/* Does password match hash? Pure CPU (~15-25 ms for yescrypt), safe in any
 * thread: no static buffer. */
bool users_check_password(const char *hash, const char *password);

/* A valid yescrypt hash that matches no password anyone types: an unknown
 * user's password is checked against it, so that user costs the same time
 * as a known one. */
extern const char users_dummy_hash[];

#endif

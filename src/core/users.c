/* The users file and password hashes (see ftpd/users.h).
 *
 * The table is built once and never changed: an array sorted by name (a
 * duplicate shows up as two neighbours; a lookup is a binary search), so
 * every thread may read it without a lock. Re-reading it on SIGHUP (issue
 * 12) will build a new table with users_load() and swap the pointer the
 * sessions are given at their start (prologue_session); a session keeps
 * the table it began with, so the old one is freed when its last session
 * ends. */
#include "ftpd/users.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftpd/limits.h"
#include "ftpd/perm.h"
#include "ftpd/rate.h"

/* crypt_gensalt_rn("$y$", 0, ...) with libxcrypt's default yescrypt cost
 * (the one `ftpd --hash-password` uses), over 32 random bytes that were
 * thrown away. Only a known account can log in: matching it grants
 * nothing. */
const char users_dummy_hash[] =
    "$y$j9T$FibDw.T1EN36Vfyw2dWTe/$jKuOlB.guMAIzofrS8vLHXc0kunVs4xaPpQ0g44oKp1";

struct users {
    struct user *v; /* sorted by name */
    size_t n;
};

__attribute__((format(printf, 3, 4))) static void fail(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool crypt_chars(const char *s, size_t n)
{
    static const char ok[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
            return false;
    }
    return true;
}

/* The shape of each scheme's string, so a typo or a truncated hash is an
 * error at load, not a user who can never log in. */
bool users_hash_supported(const char *h)
{
    size_t len = strlen(h);
    if (strncmp(h, "$2b$", 4) == 0) /* $2b$NN$ + 22 salt + 31 hash */
        return len == 60 && h[4] >= '0' && h[4] <= '3' && h[5] >= '0' && h[5] <= '9' &&
               h[6] == '$' && crypt_chars(h + 7, 53) && crypt_checksalt(h) == CRYPT_SALT_OK;
    const char *p;
    if (strncmp(h, "$6$", 3) == 0) { /* $6$[rounds=N$]salt$ + 86 hash */
        p = h + 3;
        if (strncmp(p, "rounds=", 7) == 0) {
            p += 7;
            size_t digits = strspn(p, "0123456789");
            if (digits == 0 || digits > 9 || p[digits] != '$')
                return false;
            p += digits + 1;
        }
        size_t salt = strcspn(p, "$");
        if (salt == 0 || salt > 16 || p[salt] != '$' || !crypt_chars(p, salt))
            return false;
        p += salt + 1;
        return strlen(p) == 86 && crypt_chars(p, 86) && crypt_checksalt(h) == CRYPT_SALT_OK;
    }
    if (strncmp(h, "$y$", 3) == 0) { /* $y$params$salt$ + 43 hash */
        p = h + 3;
        for (int field = 0; field < 2; field++) {
            size_t n = strcspn(p, "$");
            if (n == 0 || p[n] != '$' || !crypt_chars(p, n))
                return false;
            p += n + 1;
        }
        return strlen(p) == 43 && crypt_chars(p, 43) && crypt_checksalt(h) == CRYPT_SALT_OK;
    }
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct user *)a)->name, ((const struct user *)b)->name);
}

static bool name_ok(const char *name, char *bad)
{
    size_t len = strlen(name);
    if (len == 0 || len > FTPD_USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f) {
            *bad = (char)c;
            return false;
        }
    }
    return true;
}

/* The optional fifth field: "key=value,key=value" overriding server keys
 * for this user (only the bandwidth caps so far). 0, or -1 with err set. */
static int parse_options(char *opts, const char *path, int lineno, struct user *u, char *err,
                         size_t errlen)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        {"max_rate_download", offsetof(struct user, max_rate_download)},
        {"max_rate_upload", offsetof(struct user, max_rate_upload)},
    };
    char *save = NULL;
    for (char *opt = strtok_r(opts, ",", &save); opt != NULL; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (eq != NULL)
            *eq = '\0';
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(keys[i].key, opt) != 0)
            i++;
        if (i == sizeof keys / sizeof keys[0]) {
            fail(err, errlen,
                 "%s:%d: field 'options': unknown option '%s' (max_rate_download, "
                 "max_rate_upload)",
                 path, lineno, opt);
            return -1;
        }
        uint64_t v;
        if (eq == NULL || rate_parse(eq + 1, &v) != 0) {
            fail(err, errlen,
                 "%s:%d: field 'options': %s: '%s' is not a rate (bytes/s, e.g. 512K, 1M; 0 = "
                 "unlimited)",
                 path, lineno, opt, eq != NULL ? eq + 1 : "");
            return -1;
        }
        *(int64_t *)(void *)((char *)u + keys[i].offset) = (int64_t)v;
    }
    return 0;
}

/* One line (newline stripped) into *u. 0, or -1 with err set. */
static int parse_line(char *line, const char *path, int lineno, struct user *u, char *err,
                      size_t errlen)
{
    char *field[5];
    int n = 0;
    for (char *p = line;; p++) {
        if (n < 5)
            field[n] = p;
        n++;
        p = strchr(p, ':');
        if (p == NULL)
            break;
        *p = '\0';
    }
    if (n != 4 && n != 5) {
        fail(err, errlen,
             "%s:%d: expected name:password-hash:home:permissions[:options], got %d field%s", path,
             lineno, n, n == 1 ? "" : "s");
        return -1;
    }
    char bad = 0;
    if (!name_ok(field[0], &bad)) {
        if (field[0][0] == '\0')
            fail(err, errlen, "%s:%d: field 'name': empty", path, lineno);
        else if (bad != 0)
            fail(err, errlen, "%s:%d: field 'name': byte 0x%02x not allowed (printable, no space)",
                 path, lineno, (unsigned char)bad);
        else
            fail(err, errlen, "%s:%d: field 'name': longer than %d bytes", path, lineno,
                 FTPD_USER_NAME_MAX);
        return -1;
    }
    if (!users_hash_supported(field[1])) {
        fail(err, errlen,
             "%s:%d: field 'password-hash': not a $y$, $6$ or $2b$ crypt hash (plain passwords "
             "are never accepted; make one with ftpd --hash-password)",
             path, lineno);
        return -1;
    }
    if (field[2][0] != '/') {
        fail(err, errlen, "%s:%d: field 'home': '%s' is not an absolute path", path, lineno,
             field[2]);
        return -1;
    }
    struct stat st;
    int fd = open(field[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fail(err, errlen, "%s:%d: field 'home': '%s': %s", path, lineno, field[2], strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (perm_parse(field[3], &u->perms, &bad) != 0) {
        fail(err, errlen, "%s:%d: field 'permissions': unknown letter '%c' (r w m d f c)", path,
             lineno, bad);
        return -1;
    }
    u->max_rate_download = -1;
    u->max_rate_upload = -1;
    if (n == 5 && parse_options(field[4], path, lineno, u, err, errlen) != 0)
        return -1;
    u->name = strdup(field[0]);
    u->hash = strdup(field[1]);
    u->home = strdup(field[2]);
    if (u->name == NULL || u->hash == NULL || u->home == NULL) {
        fail(err, errlen, "%s:%d: out of memory", path, lineno);
        return -1;
    }
    return 0;
}

static void user_clear(struct user *u)
{
    free((char *)u->name);
    free((char *)u->hash);
    free((char *)u->home);
    *u = (struct user){0};
}

void users_free(struct users *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n; i++)
        user_clear(&u->v[i]);
    free(u->v);
    free(u);
}

/* Read every line of fp into t; lines[i] is the line of t->v[i]. */
static int read_users(FILE *fp, const char *path, struct users *t, int **lines, char *err,
                      size_t errlen)
{
    char line[FTPD_USERS_LINE_MAX + 2];
    size_t cap = 0;
    int lineno = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (len == sizeof line - 1) {
            fail(err, errlen, "%s:%d: line too long (at most %d characters)", path, lineno,
                 FTPD_USERS_LINE_MAX);
            return -1;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (t->n == FTPD_USERS_MAX) {
            fail(err, errlen, "%s:%d: too many users (at most %d)", path, lineno, FTPD_USERS_MAX);
            return -1;
        }
        if (t->n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            struct user *v = realloc(t->v, cap * sizeof *v);
            int *l = realloc(*lines, cap * sizeof *l);
            if (v != NULL)
                t->v = v;
            if (l != NULL)
                *lines = l;
            if (v == NULL || l == NULL) {
                fail(err, errlen, "%s: out of memory", path);
                return -1;
            }
        }
        struct user *u = &t->v[t->n];
        *u = (struct user){0};
        (*lines)[t->n] = lineno;
        t->n++; /* counted before parsing: user_clear frees a half-filled one */
        if (parse_line(line, path, lineno, u, err, errlen) != 0)
            return -1;
    }
    if (ferror(fp)) {
        fail(err, errlen, "%s: cannot read: %s", path, strerror(errno != 0 ? errno : EIO));
        return -1;
    }
    return 0;
}

struct users *users_load(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct users *t = calloc(1, sizeof *t);
    int *lines = NULL;
    if (t == NULL) {
        fclose(fp);
        fail(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    int rc = read_users(fp, path, t, &lines, err, errlen);
    fclose(fp);
    if (rc == 0 && t->n > 1) {
        /* Sort the line numbers along: pair each user with its line. */
        struct pair {
            struct user u;
            int line;
        } *pairs = malloc(t->n * sizeof *pairs);
        if (pairs == NULL) {
            fail(err, errlen, "%s: out of memory", path);
            rc = -1;
        } else {
            for (size_t i = 0; i < t->n; i++)
                pairs[i] = (struct pair){t->v[i], lines[i]};
            qsort(pairs, t->n, sizeof *pairs, by_name);
            for (size_t i = 0; i < t->n; i++) {
                t->v[i] = pairs[i].u;
                lines[i] = pairs[i].line;
            }
            for (size_t i = 1; i < t->n && rc == 0; i++) {
                if (strcmp(t->v[i - 1].name, t->v[i].name) == 0) {
                    int first = lines[i - 1] < lines[i] ? lines[i - 1] : lines[i];
                    int second = lines[i - 1] < lines[i] ? lines[i] : lines[i - 1];
                    fail(err, errlen, "%s:%d: field 'name': '%s' already defined on line %d", path,
                         second, t->v[i].name, first);
                    rc = -1;
                }
            }
            free(pairs);
        }
    }
    free(lines);
    if (rc != 0) {
        users_free(t);
        return NULL;
    }
    return t;
}

size_t users_count(const struct users *u)
{
    return u != NULL ? u->n : 0;
}

const struct user *users_find(const struct users *u, const char *name)
{
    if (u == NULL || u->n == 0)
        return NULL;
    struct user key = {.name = name};
    return bsearch(&key, u->v, u->n, sizeof u->v[0], by_name);
}

int users_hash_password(const char *password, char *out, size_t outlen)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    /* NULL random bytes: libxcrypt reads them from the kernel. */
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) == NULL)
        return -1;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (cd == NULL)
        return -1;
    const char *h = crypt_rn(password, setting, cd, sizeof *cd);
    int rc = -1;
    if (h != NULL && h[0] == '$' && strlen(h) < outlen) {
        memcpy(out, h, strlen(h) + 1);
        rc = 0;
    } else if (h != NULL) {
        errno = EINVAL;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rc;
}

bool users_check_password(const char *hash, const char *password)
{
    /* struct crypt_data is 32 KiB: on the heap, as a blocking back-end's
     * thread has a small stack. crypt_rn keeps no static state. */
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (cd == NULL)
        return false;
    const char *h = crypt_rn(password, hash, cd, sizeof *cd);
    bool match = false;
    size_t len = strlen(hash);
    if (h != NULL && h[0] != '*' && strlen(h) == len) {
        /* Constant time over the hash: no early exit on a mismatch. */
        unsigned char diff = 0;
        for (size_t i = 0; i < len; i++)
            diff |= (unsigned char)(h[i] ^ hash[i]);
        match = diff == 0;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return match;
}

/* The users file parser (src/core/users.c): any file either loads, and
 * then every account is found by its name with a supported hash, an
 * absolute home and known permission letters, or fails with a message
 * "FILE:LINE: ..." or "FILE: ...".
 * Needs: src/core/users.c */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ftpd/limits.h"
#include "ftpd/perm.h"
#include "ftpd/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The names of the accounts, as the parser should have read them: the
 * first field of each line that is neither blank nor a comment. */
static void check_names(const struct users *u, const uint8_t *data, size_t size)
{
    size_t found = 0, off = 0;
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t end = nl != NULL ? (size_t)(nl - data) : size;
        const uint8_t *colon = memchr(data + off, ':', end - off);
        if (colon != NULL && data[off] != '#') {
            char name[FTPD_USER_NAME_MAX + 1];
            size_t n = (size_t)(colon - (data + off));
            FUZZ_ASSERT(n > 0 && n <= FTPD_USER_NAME_MAX, "loaded a name of %zu bytes", n);
            memcpy(name, data + off, n);
            name[n] = '\0';
            const struct user *a = users_find(u, name);
            FUZZ_ASSERT(a != NULL && strcmp(a->name, name) == 0, "account '%s' not found", name);
            FUZZ_ASSERT(users_hash_supported(a->hash), "'%s' loaded with hash '%s'", name, a->hash);
            FUZZ_ASSERT(a->home[0] == '/', "'%s' has home '%s'", name, a->home);
            FUZZ_ASSERT((a->perms & ~(unsigned)PERM_ALL) == 0, "'%s' perms %#x", name, a->perms);
            found++;
        }
        off = end + 1;
    }
    FUZZ_ASSERT(found == users_count(u), "%zu account lines, %zu accounts", found, users_count(u));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    char err[512];
    memset(err, 'x', sizeof err);
    struct users *u = users_load(path, err, sizeof err);
    if (u != NULL) {
        if (memchr(data, '\0', size) == NULL) /* fgets ends a line's text at a NUL */
            check_names(u, data, size);
        users_free(u);
    } else {
        FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL, "error message not terminated");
        FUZZ_ASSERT(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':',
                    "error does not name the file: %s", err);
    }
    close(fd);
    return 0;
}

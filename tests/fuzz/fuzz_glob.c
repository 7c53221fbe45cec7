/* The glob matcher of LIST/NLST (src/core/listing.c: a last component with
 * * ? [ that does not exist filters its directory). The input is a client
 * argument, joined to "/" and normalised as a session does; the first
 * byte picks the format and LIST -a. Every listing line must end with
 * CRLF and hold no other CR/LF; in NLST of a pattern every name shown must
 * match the pattern (fnmatch, FNM_PERIOD unless -a) and stay in its
 * directory.
 * Needs: src/core/listing.c */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "path.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"
#include "ftpd/perm.h"

static char base[64];
static int root_fd = -1;

static void cleanup(void)
{
    char c[128];
    snprintf(c, sizeof c, "rm -rf '%s'", base);
    if (system(c) != 0)
        fprintf(stderr, "could not remove %s\n", base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_mkdtemp(base, sizeof base, "glob");
    atexit(cleanup);
    static const char *const files[] = {"a.txt",  "b.txt",   ".hidden", "[x]",      "we*ird",
                                        "sp ace", "sub/a.c", "sub/b.c", "sub/.dot", "sub/deep/z"};
    char p[256];
    snprintf(p, sizeof p, "%s/sub", base);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/deep", base);
    mkdir(p, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, files[i]);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            abort();
        close(fd);
    }
    snprintf(p, sizeof p, "%s/link", base);
    if (symlink("/etc", p) != 0)
        abort();
    root_fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return root_fd < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FTPD_LINE_MAX)
        return 0;
    char *arg = fuzz_strndup(data + 1, size - 1);
    if (strlen(arg) != size - 1 || strchr(arg, '\n') != NULL) { /* linebuf: no NUL, no LF */
        free(arg);
        return 0;
    }
    static char vpath[FTPD_PATH_MAX];
    if (path_join("/", arg, vpath, sizeof vpath) != 0) {
        free(arg);
        return 0;
    }
    struct listing_opts opts = {
        .format = (enum listing_format)(data[0] % 3),
        .all = data[0] & 4,
        .perms = PERM_ALL,
        .now = 1700000000,
    };
    /* The pattern, when the listing will be one: the last component,
     * which does not exist. */
    const char *slash = strrchr(vpath, '/');
    const char *pattern = NULL;
    struct stat st;
    if (strpbrk(slash + 1, "*?[") != NULL &&
        fstatat(root_fd, vpath + 1, &st, AT_SYMLINK_NOFOLLOW) != 0)
        pattern = slash + 1;
    const char *shown = arg;
    const char *shown_dir = strrchr(shown, '/');
    size_t prefix = shown_dir != NULL ? (size_t)(shown_dir - shown) + 1 : 0;

    struct listing *l =
        listing_open(root_fd, vpath, opts.format == LISTING_NLST ? shown : "", &opts);
    if (l != NULL) {
        struct buf b;
        buf_init(&b, 0);
        int more, rounds = 0;
        do {
            more = listing_fill(l, &b);
            FUZZ_ASSERT(more >= -1 && more <= 1, "listing_fill returned %d", more);
            const char *p = buf_head(&b), *end = p + b.len;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                FUZZ_ASSERT(nl != NULL && nl > p && nl[-1] == '\r', "line not ended by CRLF");
                /* a CR the client put in an NLST argument comes back to it */
                FUZZ_ASSERT(strchr(arg, '\r') != NULL ||
                                memchr(p, '\r', (size_t)(nl - 1 - p)) == NULL,
                            "CR inside a line");
                if (pattern != NULL && opts.format == LISTING_NLST) {
                    size_t n = (size_t)(nl - 1 - p);
                    FUZZ_ASSERT(n >= prefix && memcmp(p, shown, prefix) == 0,
                                "'%.*s' lost the directory of '%s'", (int)n, p, shown);
                    char name[512];
                    FUZZ_ASSERT(n - prefix < sizeof name, "name too long");
                    memcpy(name, p + prefix, n - prefix);
                    name[n - prefix] = '\0';
                    FUZZ_ASSERT(strchr(name, '/') == NULL, "'%s' is not in the directory", name);
                    FUZZ_ASSERT(fnmatch(pattern, name, opts.all ? 0 : FNM_PERIOD) == 0,
                                "'%s' does not match '%s'", name, pattern);
                }
                p = nl + 1;
            }
            buf_clear(&b);
        } while (more == 1 && ++rounds < 100);
        buf_free(&b);
        listing_close(l);
    } else {
        FUZZ_ASSERT(errno != 0, "listing_open failed without errno");
    }
    free(arg);
    return 0;
}

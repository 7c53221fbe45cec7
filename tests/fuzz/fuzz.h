/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a failed
 * invariant aborts with a message (libFuzzer keeps the input), an input
 * held in a memfd for the parsers that read a path, and the RFC 959 reply
 * checker. Header-only: each harness is one translation unit. */
#ifndef FTPD_FUZZ_H
#define FTPD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d): ", #cond, __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a file the parsers can open by name: a memfd, named
 * /proc/self/fd/N in path. Returns the fd (close it after), or -1. */
static inline int fuzz_memfd(const uint8_t *data, size_t n, char *path, size_t pathlen)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

/* A fresh directory for a harness's tree, in tmpfs when there is one:
 * the session harness rebuilds its tree for every input, which on a
 * journalled disk costs more than the input. */
static inline void fuzz_mkdtemp(char *out, size_t len, const char *name)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out, len, "%s/ftpd-fuzz-%s-XXXXXX", dir, name);
    if (mkdtemp(out) == NULL) {
        perror(out);
        abort();
    }
}

/* A NUL-terminated heap copy of exactly n + 1 bytes, so ASan sees any
 * read past the end. */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

static inline bool fuzz_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Replies as RFC 959 4.2 has them: each line ends with CRLF and holds no
 * other CR, LF or NUL (but CR NUL, RFC 2640's CR in a path); a reply starts with a code
 * [1-5][0-9][0-9] and a space (single line) or a hyphen (multi-line, closed by a line starting with
 * the same code and a space). p[0..n) must be whole replies. Returns the number of replies. */
static inline int fuzz_check_replies(const char *p, size_t n)
{
    int replies = 0;
    size_t i = 0;
    while (i < n) {
        FUZZ_ASSERT(n - i >= 6, "reply too short at %zu: '%.*s'", i, (int)(n - i), p + i);
        const char *code = p + i;
        FUZZ_ASSERT(code[0] >= '1' && code[0] <= '5' && fuzz_is_digit(code[1]) &&
                        fuzz_is_digit(code[2]) && (code[3] == ' ' || code[3] == '-'),
                    "bad reply start: '%.*s'", (int)(n - i < 40 ? n - i : 40), code);
        bool multi = code[3] == '-';
        for (;;) {
            /* one line: up to CRLF, nothing else of CR/LF/NUL before it */
            size_t start = i;
            while (i < n && p[i] != '\n' && p[i] != '\0' &&
                   (p[i] != '\r' || (i + 1 < n && p[i + 1] == '\0')))
                i += p[i] == '\r' ? 2 : 1; /* CR NUL: a CR in a path (RFC 2640) */
            FUZZ_ASSERT(i + 1 < n && p[i] == '\r' && p[i + 1] == '\n',
                        "reply line not ended by CRLF: '%.*s'",
                        (int)(i - start < 80 ? i - start : 80), p + start);
            i += 2;
            if (!multi)
                break;
            FUZZ_ASSERT(i < n, "multi-line reply %.3s not closed", code);
            if (n - i >= 4 && memcmp(p + i, code, 3) == 0 && p[i + 3] == ' ') {
                multi = false; /* the closing line follows */
            }
        }
        replies++;
    }
    return replies;
}

#endif

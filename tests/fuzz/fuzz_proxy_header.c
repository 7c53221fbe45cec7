/* The PROXY protocol header parser (src/util/proxy_header.c, v1 and v2).
 * The first input byte picks the accepted versions and how the rest is
 * cut into reads. Invariants: the parser never takes a byte past the
 * header (*used within what it was given, never more than one header's
 * worth), PROXY_MORE takes every byte, PROXY_BAD says why and takes none,
 * the result is the same however the input is split (one read, or reads
 * of random sizes), and a v1 header is at most PROXY_V1_MAX bytes.
 * Needs: src/util/proxy_header.c include/util/ftpd/proxy_header.h */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "ftpd/proxy_header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
    enum proxy_status st;
    size_t consumed; /* header bytes taken in all */
    struct proxy_header h;
};

/* Feed data in reads of at most max bytes (0: all at once). */
static struct outcome parse(unsigned accept, const uint8_t *data, size_t size, uint32_t seed)
{
    struct proxy_parser p;
    proxy_parser_init(&p, accept);
    struct outcome o = {.st = PROXY_MORE};
    memset(&o.h, 0, sizeof o.h);
    size_t off = 0;
    while (off < size && o.st == PROXY_MORE) {
        size_t n = size - off;
        if (seed != 0) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            size_t k = seed % 17 + 1;
            n = k < n ? k : n;
        }
        size_t used = (size_t)-1;
        o.st = proxy_parse(&p, data + off, n, &used, &o.h);
        FUZZ_ASSERT(used <= n, "used %zu of %zu", used, n);
        if (o.st == PROXY_MORE)
            FUZZ_ASSERT(used == n, "PROXY_MORE took %zu of %zu", used, n);
        if (o.st == PROXY_BAD) {
            FUZZ_ASSERT(used == 0, "PROXY_BAD took %zu", used);
            FUZZ_ASSERT(p.error != NULL && p.error[0] != '\0', "PROXY_BAD without a reason");
        }
        off += used;
        o.consumed = off;
    }
    if (o.st == PROXY_DONE) {
        FUZZ_ASSERT(o.h.version == 1 || o.h.version == 2, "version %d", o.h.version);
        FUZZ_ASSERT((o.h.version == 1 ? PROXY_ACCEPT_V1 : PROXY_ACCEPT_V2) & accept,
                    "v%d accepted with accept=%u", o.h.version, accept);
        if (o.h.version == 1)
            FUZZ_ASSERT(o.consumed <= PROXY_V1_MAX, "v1 header of %zu bytes", o.consumed);
        else
            FUZZ_ASSERT(o.consumed >= PROXY_V2_FIXED && o.consumed <= PROXY_V2_FIXED + 65535,
                        "v2 header of %zu bytes", o.consumed);
        if (o.h.has_addresses) {
            int f = o.h.src.sa.sa_family;
            FUZZ_ASSERT((f == AF_INET || f == AF_INET6) && o.h.dst.sa.sa_family == f,
                        "families %d/%d", f, o.h.dst.sa.sa_family);
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned accept = data[0] % 3 + 1; /* v1, v2, any */
    uint32_t seed = data[0] * 2654435761u | 1;
    data++;
    size--;
    struct outcome whole = parse(accept, data, size, 0);
    struct outcome split = parse(accept, data, size, seed);
    FUZZ_ASSERT(whole.st == split.st, "status %d whole, %d split", (int)whole.st, (int)split.st);
    if (whole.st == PROXY_DONE) {
        FUZZ_ASSERT(whole.consumed == split.consumed, "header of %zu bytes whole, %zu split",
                    whole.consumed, split.consumed);
        FUZZ_ASSERT(whole.h.version == split.h.version &&
                        whole.h.has_addresses == split.h.has_addresses,
                    "headers differ");
        if (whole.h.has_addresses)
            FUZZ_ASSERT(memcmp(&whole.h.src, &split.h.src, sizeof whole.h.src) == 0 &&
                            memcmp(&whole.h.dst, &split.h.dst, sizeof whole.h.dst) == 0,
                        "addresses differ");
    }
    return 0;
}

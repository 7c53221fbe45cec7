/* Line framing (util/linebuf): the input is a control-connection byte
 * stream, its first byte seeds how it is cut into reads. The lines and
 * "too long" events must be exactly those of a reference model that sees
 * the whole stream at once: Telnet IAC sequences removed, split at LF, one
 * CR before it dropped, a line over FTPD_LINE_MAX reported once. Split
 * reads must change nothing (IAC or CRLF cut between two reads).
 * Needs: src/util/linebuf.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ftpd/limits.h"
#include "ftpd/linebuf.h"

struct event {
    enum line_status status;
    size_t len;
    const char *line; /* into the model's copy or the event store */
};

/* The reference model: the whole stream, Telnet removed, split at LF. */
static size_t strip_all(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != 255) {
            out[o++] = (char)in[i];
        } else if (i + 1 < n && in[i + 1] == 255) {
            out[o++] = (char)255;
            i++;
        } else if (i + 1 < n && in[i + 1] >= 251 && in[i + 1] <= 254) {
            i += 2; /* IAC WILL/WONT/DO/DONT option */
        } else {
            i++; /* IAC and one command byte */
        }
    }
    return o;
}

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t rng = data[0] * 2654435761u + 1;
    unsigned max_read = (unsigned)data[0] % 4 == 0 ? 1 : (unsigned)data[0] * 37 % 9000 + 1;
    data++;
    size--;

    /* the model */
    char *plain = malloc(size + 1);
    size_t plen = strip_all(data, size, plain);
    size_t nmodel = 0;
    struct event *model = malloc((plen + 1) * sizeof *model);
    size_t start = 0;
    for (size_t i = 0; i < plen; i++) {
        if (plain[i] != '\n')
            continue;
        size_t len = i - start;
        if (len > 0 && plain[i - 1] == '\r')
            len--;
        model[nmodel++] =
            (struct event){len > FTPD_LINE_MAX ? LINE_TOO_LONG : LINE_OK, len, plain + start};
        start = i + 1;
    }
    /* an unfinished last line is reported only once it is too long */
    bool tail_too_long = plen - start > FTPD_LINE_MAX + 1;

    /* the code, fed in reads of random sizes, lines taken after each */
    struct linebuf lb;
    linebuf_init(&lb);
    static char line[FTPD_LINE_MAX + 1];
    size_t off = 0, seen = 0;
    bool tail_reported = false;
    while (off < size) {
        size_t avail = 0;
        char *space = linebuf_space(&lb, &avail);
        FUZZ_ASSERT(space != NULL && avail > 0, "no space after all lines were taken");
        size_t k = next_rand(&rng) % max_read + 1;
        if (k > avail)
            k = avail;
        if (k > size - off)
            k = size - off;
        memcpy(space, data + off, k);
        linebuf_commit(&lb, k);
        off += k;
        for (;;) {
            size_t len = 0;
            enum line_status st = linebuf_take(&lb, line, &len);
            if (st == LINE_NONE)
                break;
            if (seen == nmodel) {
                /* only the unfinished tail may still be reported */
                FUZZ_ASSERT(st == LINE_TOO_LONG && tail_too_long && !tail_reported,
                            "extra event %d after %zu lines", (int)st, seen);
                tail_reported = true;
                continue;
            }
            const struct event *want = &model[seen++];
            FUZZ_ASSERT(st == want->status, "event %zu: status %d, model %d", seen, (int)st,
                        (int)want->status);
            if (st == LINE_OK) {
                FUZZ_ASSERT(len == want->len && memcmp(line, want->line, len) == 0 &&
                                line[len] == '\0',
                            "line %zu differs (len %zu, model %zu)", seen, len, want->len);
            }
        }
    }
    FUZZ_ASSERT(seen == nmodel, "%zu lines taken, model has %zu", seen, nmodel);
    FUZZ_ASSERT(tail_reported == tail_too_long, "unfinished over-long line reported %d, model %d",
                (int)tail_reported, (int)tail_too_long);
    FUZZ_ASSERT(linebuf_pending(&lb) == (plen > start || tail_too_long),
                "pending %d with %zu bytes after the last LF", (int)linebuf_pending(&lb),
                plen - start);
    linebuf_free(&lb);
    free(model);
    free(plain);
    return 0;
}

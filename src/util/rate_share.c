/* The server's total bandwidth, shared by every thread and process (see
 * ftpd/rate.h): how many transfers run, counted per time window.
 *
 * Two 64-bit words, each a window number and a count packed together, so
 * one compare-and-swap moves to a new window and counts the first transfer
 * in it. Nothing is ever decremented: a transfer that ends (or a worker
 * killed mid-transfer) simply stops counting itself, and drops out of the
 * figure within two windows. Lock-free atomics on a MAP_SHARED page work
 * across processes as well as between threads (and keep TSan informed). */
#include "ftpd/rate.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#define COUNT_BITS 20
#define COUNT_MASK ((UINT64_C(1) << COUNT_BITS) - 1)

struct rate_share {
    uint64_t total;          /* bytes per second; set before sharing, read-only */
    _Atomic uint64_t cur;    /* (window << COUNT_BITS) | transfers counted in it */
    _Atomic uint64_t before; /* the same for the window before cur's */
};

static uint64_t pack(int64_t window, uint64_t count)
{
    return ((uint64_t)window << COUNT_BITS) | count;
}

static int64_t window_of(uint64_t word)
{
    return (int64_t)(word >> COUNT_BITS);
}

static uint64_t count_of(uint64_t word)
{
    return word & COUNT_MASK;
}

struct rate_share *rate_share_new(uint64_t total)
{
    _Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "shared between processes: must be lock-free");
    struct rate_share *s =
        mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    s->total = total;
    atomic_init(&s->cur, 0);
    atomic_init(&s->before, 0);
    return s;
}

void rate_share_free(struct rate_share *s)
{
    if (s != NULL)
        munmap(s, sizeof *s);
}

uint64_t rate_share_total(const struct rate_share *s)
{
    return s->total;
}

void rate_share_count_in(struct rate_share *s, int64_t now_ms, int64_t *window)
{
    int64_t w = now_ms / RATE_SHARE_WINDOW_MS;
    if (*window >= w)
        return;
    uint64_t cur = atomic_load(&s->cur);
    for (;;) {
        int64_t cw = window_of(cur);
        uint64_t next;
        if (cw >= w) {
            /* This window (or, from a thread whose clock read came a hair
             * earlier, the next one): one more in it. */
            if (*window >= cw)
                return;
            next = cur + (count_of(cur) < COUNT_MASK ? 1 : 0);
        } else {
            next = pack(w, 1); /* the first transfer of a new window */
        }
        if (atomic_compare_exchange_weak(&s->cur, &cur, next)) {
            if (cw < w)
                atomic_store(&s->before, cur);
            *window = cw >= w ? cw : w;
            return;
        }
    }
}

uint32_t rate_share_running(struct rate_share *s, int64_t now_ms)
{
    int64_t w = now_ms / RATE_SHARE_WINDOW_MS;
    uint64_t cur = atomic_load(&s->cur);
    uint64_t before = atomic_load(&s->before);
    uint64_t n = 0;
    /* The larger of this window's count (still growing) and the last
     * complete one's: a transfer counts from its first grant until it has
     * asked for nothing for a whole window. */
    if (window_of(cur) >= w - 1)
        n = count_of(cur);
    if (window_of(before) >= w - 1 && count_of(before) > n)
        n = count_of(before);
    return n > 0 ? (uint32_t)n : 1;
}

/* Counters and the session board in shared memory (see ftpd/stats.h). */
#include "ftpd/stats.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* A reader retries a slot being written this many times, then skips it
 * (its writer may have died mid-write). */
#define STATS_READ_TRIES 1000

int64_t stats_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct stats *stats_new(int nrows, int board_size)
{
    if (nrows < 1 || board_size < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (board_size > FTPD_STATS_BOARD_MAX)
        board_size = FTPD_STATS_BOARD_MAX;
    size_t head = (sizeof(struct stats) + 63) & ~(size_t)63;
    size_t rows = (sizeof(struct stats_row) * (size_t)nrows + 63) & ~(size_t)63;
    size_t size = head + rows + sizeof(struct stats_slot) * (size_t)board_size;
    /* Pages are touched only as rows and slots are used. */
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct stats *st = (struct stats *)p;
    st->map_size = size;
    st->nrows = nrows;
    st->nslots = board_size;
    st->pid = getpid();
    st->started = stats_now_ms();
    st->rows = (struct stats_row *)(p + head);
    st->slots = (struct stats_slot *)(p + head + rows);
    return st;
}

void stats_free(struct stats *st)
{
    if (st != NULL)
        munmap(st, st->map_size);
}

struct stats_row *stats_row_claim(struct stats *st, int row)
{
    if (st == NULL || row < 0 || row >= st->nrows)
        return NULL;
    struct stats_row *r = &st->rows[row];
    atomic_store(&r->pid, (int)getpid());
    atomic_store(&r->started, stats_now_ms());
    return r;
}

void transfer_moved(const struct transfer *t, uint64_t n)
{
    if (t->stats_row != NULL)
        stats_add(t->stats_row, t->kind == XFER_RECV_FILE ? STAT_BYTES_IN : STAT_BYTES_OUT, n);
    if (t->stats_slot != NULL)
        atomic_fetch_add_explicit(&t->stats_slot->xfer_bytes, n, memory_order_relaxed);
}

static void store_str(_Atomic char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++)
        atomic_store_explicit(&dst[i], src[i], memory_order_release);
    atomic_store_explicit(&dst[i], '\0', memory_order_release);
}

static void load_str(_Atomic char *src, size_t cap, char *dst)
{
    for (size_t i = 0; i < cap; i++)
        dst[i] = atomic_load_explicit(&src[i], memory_order_acquire);
    dst[cap - 1] = '\0';
}

/* The sequence lock, without fences (TSan does not model them): the
 * writer makes seq odd, stores every field with release (so none is seen
 * before the odd seq), then makes it even with release; the reader loads
 * seq and every field with acquire (so the last load of seq cannot pass
 * them) and retries when seq moved. One writer per slot, so no lock; a
 * slot left odd by a writer that died is made even again by the next. On
 * x86 release stores and acquire loads are plain moves. */
static unsigned write_begin(struct stats_slot *slot)
{
    unsigned seq = atomic_load_explicit(&slot->seq, memory_order_relaxed) | 1u;
    atomic_store_explicit(&slot->seq, seq, memory_order_relaxed);
    return seq;
}

static void write_end(struct stats_slot *slot, unsigned seq)
{
    atomic_store_explicit(&slot->seq, seq + 1, memory_order_release);
}

void stats_slot_open(struct stats_slot *slot, int row, const char *peer)
{
    if (slot == NULL)
        return;
    unsigned seq = write_begin(slot);
    int64_t now = stats_now_ms();
    atomic_store_explicit(&slot->row, row, memory_order_release);
    atomic_store_explicit(&slot->logged_in, false, memory_order_release);
    atomic_store_explicit(&slot->connected, now, memory_order_release);
    atomic_store_explicit(&slot->last_active, now, memory_order_release);
    atomic_store_explicit(&slot->xfer, STATS_XFER_NONE, memory_order_release);
    atomic_store_explicit(&slot->xfer_bytes, 0, memory_order_release);
    atomic_store_explicit(&slot->xfer_size, 0, memory_order_release);
    store_str(slot->peer, sizeof slot->peer, peer);
    store_str(slot->user, sizeof slot->user, "");
    store_str(slot->path, sizeof slot->path, "");
    atomic_store_explicit(&slot->owner, (int)getpid(), memory_order_release);
    write_end(slot, seq);
}

void stats_slot_login(struct stats_slot *slot, const char *user)
{
    if (slot == NULL)
        return;
    unsigned seq = write_begin(slot);
    store_str(slot->user, sizeof slot->user, user);
    atomic_store_explicit(&slot->logged_in, true, memory_order_release);
    write_end(slot, seq);
}

void stats_slot_active(struct stats_slot *slot)
{
    if (slot != NULL)
        atomic_store_explicit(&slot->last_active, stats_now_ms(), memory_order_relaxed);
}

void stats_slot_xfer_begin(struct stats_slot *slot, enum stats_xfer kind, const char *path,
                           uint64_t size)
{
    if (slot == NULL)
        return;
    unsigned seq = write_begin(slot);
    store_str(slot->path, sizeof slot->path, path);
    atomic_store_explicit(&slot->xfer_bytes, 0, memory_order_release);
    atomic_store_explicit(&slot->xfer_size, size, memory_order_release);
    atomic_store_explicit(&slot->xfer_started, stats_now_ms(), memory_order_release);
    atomic_store_explicit(&slot->xfer, kind, memory_order_release);
    write_end(slot, seq);
}

void stats_slot_xfer_end(struct stats_slot *slot)
{
    if (slot == NULL)
        return;
    unsigned seq = write_begin(slot);
    atomic_store_explicit(&slot->xfer, STATS_XFER_NONE, memory_order_release);
    atomic_store_explicit(&slot->last_active, stats_now_ms(), memory_order_release);
    write_end(slot, seq);
}

void stats_slot_close(struct stats_slot *slot)
{
    if (slot == NULL)
        return;
    unsigned seq = write_begin(slot);
    atomic_store_explicit(&slot->owner, 0, memory_order_release);
    write_end(slot, seq);
}

bool stats_slot_read(struct stats_slot *slot, struct stats_view *v)
{
    for (int tries = 0; tries < STATS_READ_TRIES; tries++) {
        unsigned seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        if (seq & 1u) {
            sched_yield();
            continue;
        }
        v->owner = atomic_load_explicit(&slot->owner, memory_order_acquire);
        v->row = atomic_load_explicit(&slot->row, memory_order_acquire);
        v->logged_in = atomic_load_explicit(&slot->logged_in, memory_order_acquire);
        v->connected = atomic_load_explicit(&slot->connected, memory_order_acquire);
        v->last_active = atomic_load_explicit(&slot->last_active, memory_order_acquire);
        v->xfer = (enum stats_xfer)atomic_load_explicit(&slot->xfer, memory_order_acquire);
        v->xfer_started = atomic_load_explicit(&slot->xfer_started, memory_order_acquire);
        v->xfer_bytes = atomic_load_explicit(&slot->xfer_bytes, memory_order_acquire);
        v->xfer_size = atomic_load_explicit(&slot->xfer_size, memory_order_acquire);
        load_str(slot->peer, sizeof v->peer, v->peer);
        load_str(slot->user, sizeof v->user, v->user);
        load_str(slot->path, sizeof v->path, v->path);
        if (atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq)
            return v->owner != 0;
    }
    return false;
}

/* What ftpd --status and /metrics report (issues 12 and 13): counters and a
 * board of the sessions in progress, in one MAP_SHARED mapping that main()
 * makes before the back-end starts, so every thread and every process it
 * forks writes to the same memory and the reader (the status service, in
 * the first process) sees them live, with no message traffic and even
 * while a blocking worker is busy in a transfer.
 *
 * Counters are grouped in rows: row 0 is the server itself (single-process
 * back-ends, the per-connection children of `process`), row i + 1 is the
 * prefork or hybrid worker in slot i (a respawned worker goes on adding to
 * its slot's row, so the totals never go back). Every counter is an atomic
 * written by whoever serves the session.
 *
 * Board slots are indexed by the session's admission slot (below
 * stats_board_size, max_clients capped at FTPD_STATS_BOARD_MAX): one writer
 * each, the session's thread, behind a sequence lock; every field is an
 * atomic so that a reader on another thread is never a data race. */
#ifndef FTPD_STATS_H
#define FTPD_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ftpd/sockaddr.h"
#include "ftpd/transfer.h"

/* Sessions listed by --status at most (the admission slots beyond it are
 * counted but not listed). */
#define FTPD_STATS_BOARD_MAX 65536
#define STATS_USER_MAX       64
#define STATS_PATH_MAX       256

enum stats_counter {
    STAT_SESSIONS,      /* sessions started */
    STAT_LOGINS_OK,     /* 230 */
    STAT_LOGINS_FAILED, /* 530 after PASS */
    STAT_BYTES_IN,      /* data connection, client to server */
    STAT_BYTES_OUT,     /* data connection, server to client (files and listings) */
    STAT_IDLE_TIMEOUTS, /* sessions closed by idle_timeout (421) */
    STAT_XFER_FIRST,    /* transfers ended, by enum xfer_result */
    STAT_COUNTERS = STAT_XFER_FIRST + XFER_RESULTS,
};

struct stats_row {
    atomic_int pid;       /* the process adding to it lately; 0: never used */
    atomic_llong started; /* its start, ms since the epoch */
    atomic_ullong c[STAT_COUNTERS];
};

/* A transfer in progress, as the board shows it. */
enum stats_xfer { STATS_XFER_NONE, STATS_XFER_RETR, STATS_XFER_STOR, STATS_XFER_LIST };

struct stats_slot {
    atomic_uint seq;  /* odd while the owner writes the fields below */
    atomic_int owner; /* pid serving the session; 0: free */
    atomic_int row;   /* its counters' row */
    atomic_bool logged_in;
    atomic_llong connected;   /* ms since the epoch */
    atomic_llong last_active; /* ms since the epoch: the last command */
    atomic_int xfer;          /* enum stats_xfer */
    atomic_llong xfer_started;
    atomic_ullong xfer_bytes; /* moved so far (the engine adds as it goes) */
    atomic_ullong xfer_size;  /* RETR: the file's size from the offset; else 0 */
    _Atomic char peer[SOCKADDR_STR_MAX];
    _Atomic char user[STATS_USER_MAX];
    _Atomic char path[STATS_PATH_MAX];
};

struct stats {
    size_t map_size;
    int nrows, nslots;
    pid_t pid;                /* the process that made it (the master) */
    int64_t started;          /* ms since the epoch */
    atomic_int slots_used;    /* highest slot ever used + 1: readers scan that far */
    struct stats_row *rows;   /* [nrows], in the mapping */
    struct stats_slot *slots; /* [nslots], in the mapping */
};

/* nrows counter rows (1 + the most workers), board_size sessions. NULL on
 * failure (errno). */
struct stats *stats_new(int nrows, int board_size);
void stats_free(struct stats *st);

/* The row a worker (or the server, row 0) adds to: records this process
 * as its owner. NULL st: NULL. */
struct stats_row *stats_row_claim(struct stats *st, int row);

static inline void stats_add(struct stats_row *r, enum stats_counter c, uint64_t n)
{
    if (r != NULL)
        atomic_fetch_add_explicit(&r->c[c], n, memory_order_relaxed);
}

/* The engines call this for every byte count they move: the session's
 * board slot and its row's bytes_in/out follow the transfer live. */
void transfer_moved(const struct transfer *t, uint64_t n);

/* The session's side (src/core/session.c): one writer per slot. A NULL
 * slot does nothing. */
void stats_slot_open(struct stats_slot *slot, int row, const char *peer);
void stats_slot_login(struct stats_slot *slot, const char *user);
void stats_slot_active(struct stats_slot *slot);
void stats_slot_xfer_begin(struct stats_slot *slot, enum stats_xfer kind, const char *path,
                           uint64_t size);
void stats_slot_xfer_end(struct stats_slot *slot);
void stats_slot_close(struct stats_slot *slot);

/* A consistent copy of one board slot, for a reader. */
struct stats_view {
    pid_t owner;
    int row;
    bool logged_in;
    int64_t connected, last_active, xfer_started;
    enum stats_xfer xfer;
    uint64_t xfer_bytes, xfer_size;
    char peer[SOCKADDR_STR_MAX];
    char user[STATS_USER_MAX];
    char path[STATS_PATH_MAX];
};

/* false: the slot is free, or its writer never finished (died mid-write). */
bool stats_slot_read(struct stats_slot *slot, struct stats_view *v);

/* Milliseconds since the epoch (CLOCK_REALTIME): what --status shows. */
int64_t stats_now_ms(void);

#endif

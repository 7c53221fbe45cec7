/* The scoreboard of an adaptive worker pool (prefork): one MAP_SHARED page
 * made by the master before any fork, next to the admission table. Each
 * worker slot says whether its worker is serving a session and whether the
 * master asked it to retire; a counter says how many connections were ever
 * taken off the listen queue (by a worker's accept or the master's refusal),
 * which the master compares with the queue's length (backlog_overdue).
 * Lock-free: every field is one atomic word, written by one side. */
#ifndef FTPD_ARCH_COMMON_SCOREBOARD_H
#define FTPD_ARCH_COMMON_SCOREBOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct scoreboard_slot {
    atomic_int busy;   /* written by the worker: serving a session */
    atomic_int retire; /* written by the master: leave once idle */
};

struct scoreboard {
    size_t map_size;
    int nslots;
    atomic_ulong taken; /* connections taken off the listen queue */
    struct scoreboard_slot slot[];
};

/* NULL on failure (logged). */
struct scoreboard *scoreboard_new(int nslots);
void scoreboard_free(struct scoreboard *sb);

/* Master, before forking a worker into slot i: idle, not retiring. */
void scoreboard_slot_reset(struct scoreboard *sb, int i);

#endif

/* The master of the multi-process patterns (prefork, hybrid): it holds no
 * event loop and serves no client. It forks the workers, reaps them,
 * respawns the ones that die (pausing when they die at start: a crash
 * loop), forwards stop signals, and applies a pool policy over a worker set
 * whose size can change (workers_resize). */
#ifndef FTPD_ARCH_COMMON_SUPERVISOR_H
#define FTPD_ARCH_COMMON_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/common/admission.h"
#include "arch/common/channel.h"
#include "arch/common/events.h"
#include "ftpd/arch.h"

/* A worker dying this soon after its start counts toward a crash loop;
 * more than RESPAWN_BURST such deaths in a row pause respawning for
 * RESPAWN_WINDOW_MS. */
#define RESPAWN_WINDOW_MS 1000
#define RESPAWN_BURST     10

/* Runs in a fresh worker process; returns its exit status. Signals are
 * blocked as main() left them and the master's event fd is closed: the
 * worker opens its own (ctl_events_open without CTL_WITH_SIGINT). Its
 * channel to the master already runs (channel.h): a message from the
 * master, or the master's end closing, reaches it as SIGTERM. */
typedef int (*worker_main)(const struct ftpd_server *srv, int index, void *arg);

struct respawn_guard {
    int quick_deaths;
    int64_t paused_until;
};

/* A worker started at `started` died at `now`. */
void respawn_guard_death(struct respawn_guard *g, int64_t now, int64_t started);
bool respawn_guard_allows(const struct respawn_guard *g, int64_t now);

struct worker {
    pid_t pid;         /* > 0 running; -1 to be (re)spawned; 0 unused slot */
    int64_t started;   /* clock_ms() of its fork */
    bool retiring;     /* asked to leave: not replaced when it exits */
    struct channel ch; /* the master's end of its channel (channel.h) */
};

struct supervisor {
    /* Set by the pattern. */
    const struct ftpd_server *srv;
    worker_main worker;
    void *arg;                  /* for worker and started */
    struct admission *adm;      /* a dead worker's slots are freed; may be NULL */
    void (*started)(void *arg); /* in the master once the first workers run */
    /* An adaptive pool (prefork): slots up to `reserve` exist from the
     * start, unused beyond the first nworkers; tick() runs every tick_ms
     * (default 1000) while not stopping, and may add or retire workers;
     * before_spawn() runs in the master before each fork into a slot. */
    int reserve;
    int tick_ms;
    void (*tick)(struct supervisor *s, int64_t now);
    void (*before_spawn)(void *arg, int index);

    /* The master's state. */
    struct worker *w;
    int cap;    /* slots allocated */
    int target; /* workers wanted: slots [0, target) */
    int stops;  /* stop signals received */
    struct respawn_guard guard;
    struct ctl_events events;
};

/* Fork nworkers workers and supervise them until stopped and all are gone.
 * Returns the exit status for main(). */
int supervise(struct supervisor *s, int nworkers);

/* The pieces supervise() is made of. */
/* Policy: want n workers. Growing adds slots that workers_respawn fills;
 * shrinking sends SIGTERM to the workers above n, which are then not
 * replaced. 0, or -1 (ENOMEM). */
int workers_resize(struct supervisor *s, int n);
/* Adaptive pools: mark up to n unused slots below target to be spawned
 * (workers_respawn forks them); returns how many. */
int workers_add(struct supervisor *s, int n);
/* Worker i was asked to leave (how is the pattern's business): when it
 * exits its slot becomes unused instead of being respawned. */
void workers_retire(struct supervisor *s, int i);
/* Reap every exited worker (SIGCHLD coalesces): log it, free its
 * admission slots, mark it for respawn (or retire it). */
void workers_reap(struct supervisor *s, int64_t now);
/* Fork a worker into every slot below target that has none, unless the
 * crash-loop guard pauses respawning. */
void workers_respawn(struct supervisor *s, int64_t now);
/* Workers running, plus those waiting to be respawned while not stopping. */
int workers_alive(const struct supervisor *s);
void workers_signal(const struct supervisor *s, int sig);
/* One message (MSG_CH_DRAIN) to worker i over its channel. 0, or -1 (no
 * such worker, or its channel is closed). */
int workers_tell(struct supervisor *s, int i, uint16_t type);
void workers_free(struct supervisor *s);

/* cfg->workers, or the number of online CPUs when it is 0. */
int worker_count(const struct ftpd_config *cfg);

#endif

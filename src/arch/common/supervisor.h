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

/* Reload with new_workers_ready: how often to ask, and how long at most. */
#define DRAIN_WAIT_TICK_MS 10
#define DRAIN_WAIT_MAX_MS  2000

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
    /* Reload (SIGHUP): listen, port and implicit_tls_port cannot change
     * (RELOAD_FIXED_LISTENERS, ftpd/generation.h) when set; reloaded()
     * runs in the master after a reload, srv being the new generation.
     * May be NULL. */
    unsigned reload_fixed;
    void (*reloaded)(void *arg, const struct ftpd_server *srv);
    /* When set, the old workers are told to drain only once it returns
     * true (checked every DRAIN_WAIT_TICK_MS), or after DRAIN_WAIT_MAX_MS:
     * hybrid with reuseport waits for the new workers to bind their own
     * sockets, so the port never goes without a listener. NULL: at once. */
    bool (*new_workers_ready)(void *arg);

    /* The master's state. */
    struct worker *w;
    int cap;    /* slots allocated */
    int target; /* workers wanted: slots [0, target) */
    int stops;  /* stop signals received */
    /* Live upgrade: a new generation took the listeners over; every
     * worker drains (SIGUSR2), none is respawned or added. */
    bool handed_over;
    struct respawn_guard guard;
    struct ctl_events events;
    /* Workers of older generations, told to leave after their sessions
     * (a reload): reaped, counted alive, signalled on a stop, never
     * respawned. */
    struct drainer {
        pid_t pid;
        bool told; /* sent its SIGHUP */
        int ch_fd; /* the master's end of its channel, kept open until it
                      is reaped: a closed channel would stop it at once */
    } * draining;
    int ndraining, capdraining;
    int64_t drain_wait_since; /* 0: no drain waits for new_workers_ready */
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
/* Live upgrade: tell every worker to drain (SIGUSR2 carrying the new
 * generation's pid, sigqueue: a worker reads it as CTL_DRAIN) and let
 * none be replaced; the supervisor ends when the last one has left. */
void workers_drain(struct supervisor *s, pid_t successor);
/* Reload: every running worker moves to the draining list and is sent
 * SIGHUP (it stops accepting, serves its sessions to their end and exits;
 * see new_workers_ready for when); its slot is respawned at once, on
 * s->srv (the new generation). */
void workers_renew(struct supervisor *s, int64_t now);
/* Send the SIGHUP of workers_renew to those waiting for it, if
 * new_workers_ready says so or they waited DRAIN_WAIT_MAX_MS. */
void workers_tell_draining(struct supervisor *s, int64_t now);
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

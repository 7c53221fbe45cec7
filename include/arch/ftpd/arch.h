/* Concurrency back-ends: each one is "how does a connection reach the
 * protocol core". They share the read-only config and listeners. */
#ifndef FTPD_ARCH_H
#define FTPD_ARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "ftpd/config.h"
#include "ftpd/net.h"

struct exec_plan;
struct tls_context;
struct users;

#define ARCH_VARIANTS_MAX 2

struct ftpd_server {
    const struct ftpd_config *cfg;
    int root_fd; /* the served root, O_PATH|O_DIRECTORY */
    /* The accounts (ftpd/users.h), read-only; NULL: anonymous only. Loaded
     * by main() before the back-end starts; a reload (SIGHUP, issue 12)
     * will hand sessions started after it a new table. */
    const struct users *users;
    /* max_rate_total (ftpd/rate.h), in memory shared across fork(), made
     * by main() before the back-end starts so that every thread and
     * process of it shares the one figure; NULL: no total cap. */
    struct rate_share *rate_total;

    /* FTPS (ftpd/tls.h), read-only; NULL: tls = off. */
    const struct tls_context *tls;
    struct listener listeners[FTPD_LISTEN_MAX];
    int nlisteners;

    /* Live upgrade (SIGUSR2, ftpd/upgrade.h): what to execute; NULL: no
     * upgrade. worker_sets: hybrid_balance = reuseport's per-worker
     * listener sets beyond listeners[] (nlisteners each), which an upgrade
     * passes too; adopted ones at start, else made by the hybrid master. */
    struct exec_plan *exec;
    struct listener *worker_sets;
    int nworker_sets;
    /* Reload (SIGHUP, ftpd/generation.h): the generations this server's
     * sessions take their settings from, and the generation this view is
     * (NULL: a view nobody counts, e.g. main's own or a unit test's). */
    struct generations *gens;
    struct generation *gen;
    /* ftpd --status and /metrics: the counters and session board, in
     * memory shared across fork() (ftpd/stats.h), made by main(); the row
     * this process adds to (prefork and hybrid workers set their own); the
     * service that reads them (arch/common/status_service.h), to which the
     * back-end attaches its admission table. NULL: none. */
    struct stats *stats;
    int stats_row;
    struct status_service *status;
};

struct arch {
    const char *name;
    const char *summary; /* one line for --list-archs */
    /* Serve until stopped by SIGINT/SIGTERM; returns the exit status.
     * NULL: not available in this build yet. main() has blocked SIGINT,
     * SIGTERM, SIGCHLD, SIGHUP, SIGUSR1 and SIGUSR2 (read through
     * arch/common/events.h) and ignored SIGPIPE before calling it. */
    int (*run)(const struct ftpd_server *srv);
    /* hybrid_balance = reuseport applies: main() opens the listeners with
     * SO_REUSEPORT so each worker can bind its own set next to them. */
    bool reuseport_listeners;
    /* Other ways to run it, tested and benchmarked beside the default:
     * .variant = "name: key = value", listed as "arch+name" (e.g.
     * threadpool+accept) by --list-archs; unused entries are NULL. CMake
     * reads this table for the list of back-ends the integration suite runs
     * against: keep one .name or .variant per line. */
    struct arch_variant {
        const char *variant;
    } variants[ARCH_VARIANTS_MAX];
};

const struct arch *arch_find(const char *name);
const struct arch *arch_table(size_t *count);

#endif

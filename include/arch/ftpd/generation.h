/* Reload (SIGHUP): generations of what sessions share.
 *
 * A generation is one reference-counted bundle of everything a session
 * takes from the server: the configuration, the served root, the accounts,
 * the TLS context, the listeners of its time; as a struct ftpd_server view,
 * so the session code reads it exactly as before. A session takes the
 * current generation when it starts (generation_acquire) and gives it back
 * when it ends (generation_release); a reload builds a new generation and
 * makes it current, so new sessions get the new settings while running
 * ones keep theirs. The old generation is freed when its last session
 * ends.
 *
 * Threads: acquire and release are a few atomic operations, no lock, from
 * any thread. Reloads are made by one thread of one process (the one that
 * reads the control events); see generation.c for why acquire is safe
 * against a concurrent reload. Processes: a child forked after a reload
 * inherits the then-current generation (its own copy of the memory); a
 * master drops its old generations at once, it has no sessions. */
#ifndef FTPD_GENERATION_H
#define FTPD_GENERATION_H

#include <stdbool.h>
#include <stddef.h>

#include "ftpd/arch.h"

/* Read the configuration again the way main() did at start: the same file,
 * then the same command-line flags (which keep winning), then the checks.
 * 0 with *out filled, or -1 with the reason in err ("FILE:LINE: ..."). */
typedef int (*config_reader)(void *arg, struct ftpd_config *out, char *err, size_t errlen);

/* main(): generation 1 from main's server view, taking over its root,
 * accounts, TLS context (freed with generation 1) and listeners (the
 * current ones closed by generations_free); the config is copied. reuseport:
 * listeners opened by a reload get SO_REUSEPORT, as main's did. */
struct generations *generations_new(const struct ftpd_server *first, bool reuseport,
                                    config_reader read, void *arg);
/* After the back-end returned: close the current listeners and free what is
 * left (sessions are over). */
void generations_free(struct generations *g);

/* A session starting: the current generation's view, counted. srv is any
 * view of the server (the back-end's); without generations it is returned
 * as it is. */
const struct ftpd_server *generation_acquire(const struct ftpd_server *srv);
/* A session ending: give back what generation_acquire returned. */
void generation_release(const struct ftpd_server *view);

/* What a reload did. */
struct reload {
    const struct ftpd_server *srv; /* the current view: new after a reload,
                                      valid until the next reload */
    /* Listeners the new configuration dropped: still open, for the caller
     * to close (reload_close_removed) once it no longer watches them. */
    struct listener removed[FTPD_LISTEN_MAX];
    int nremoved;
    bool listeners_changed; /* some opened or removed */
};

/* What the back-end cannot change in place. */
enum {
    RELOAD_FIXED_LISTENERS = 1, /* listen, port, implicit_tls_port: the
                                   accepting threads or workers cannot take
                                   a new set (logged as needing a restart) */
};

/* SIGHUP, in the thread that reads the control events: read and check the
 * configuration, open the root, load the users file and the TLS context,
 * open added listeners; if anything fails, log one line naming the file and
 * the problem and keep everything as it was (-1). Keys that need a new
 * process (arch, workers, threads, max_clients, ...) keep their running
 * value, each logged as needing a restart. 0: out->srv is the new current
 * generation. */
int generation_reload(struct generations *g, unsigned fixed, struct reload *out);

/* Close the listeners a reload dropped. */
void reload_close_removed(struct reload *r);

/* hybrid_balance = reuseport: the master lets its copies of the listeners
 * go once its workers hold their own (fds -1 from then on). */
void generations_close_listeners(struct generations *g);

/* The current generation's view, for the thread that reloads (valid until
 * its next reload). */
const struct ftpd_server *generations_current(const struct generations *g);

#endif

/* What the five blocking back-ends share: the connection loop that runs one
 * session to its end on the calling thread or process, how it learns that
 * the server is stopping, and accept() with the EMFILE guard. */
#ifndef FTPD_ARCH_BLOCKING_H
#define FTPD_ARCH_BLOCKING_H

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>

#include "ftpd/arch.h"
#include "ftpd/sockaddr.h"

/* How a connection loop learns the server is stopping. `fd` is either the
 * process's signalfd (serial, process children, prefork workers: a first
 * SIGINT/SIGTERM stops gracefully, a second at once) or the read end of a
 * pipe the main thread writes to (thread back-ends: stays readable). */
struct stop_state {
    int fd;           /* -1: nothing to watch */
    bool is_signalfd; /* read it to count signals */
    bool stopping;    /* graceful: finish the transfer in progress, then 421 */
    bool hard;        /* stop now */
    int64_t deadline; /* clock_ms() when the grace runs out (when stopping) */
    int grace_ms;
    /* Listeners to stop (net_stop_listening) on the first notice: set only
     * by a process that owns them alone (serial). */
    const struct ftpd_server *owner;
};

void stop_init(struct stop_state *st, int fd, bool is_signalfd, int grace_seconds);
/* st->fd is readable: update the state. */
void stop_notice(struct stop_state *st);

/* A signalfd for SIGTERM, and SIGINT when with_sigint (both already
 * blocked by main), or -1. Worker processes and per-connection children
 * take SIGTERM only: a terminal's Ctrl-C reaches the whole process group,
 * and with the master's forwarded SIGTERM it would count as a second,
 * immediate stop. */
int stop_signalfd(bool with_sigint);

/* Serve one control connection to its end, then close fd. */
void serve_blocking(const struct ftpd_server *srv, int fd, const union sockaddr_any *peer,
                    struct stop_state *stop);

struct conn_limits;
struct acceptor;

/* Poll the listeners and st->fd; accept, admit through limits (max_clients,
 * max_per_ip; refused clients get 421), serve each connection to its end
 * with serve_blocking(). Returns when stopping. The loop of serial, of each
 * prefork worker and of each threadpool thread. */
void accept_loop(const struct ftpd_server *srv, struct stop_state *st, struct conn_limits *limits,
                 struct acceptor *acc);

/* accept() that survives EMFILE/ENFILE: a spare fd is sacrificed to accept
 * and close the pending connection, so the listener does not stay readable
 * and spin the CPU. Logged once per second at most. One acceptor may be
 * shared by the threads of a pool: its lock is taken on that path only. */
struct acceptor {
    int spare_fd;
    int64_t last_warning;
    pthread_mutex_t lock;
};

int acceptor_init(struct acceptor *a);
void acceptor_close(struct acceptor *a);
/* Returns a connected fd (blocking mode), or -1: errno EAGAIN when nothing
 * was pending, EMFILE when one was dropped, other errors as accept(2). */
int acceptor_accept(struct acceptor *a, int lfd, union sockaddr_any *peer);

/* The accept loop every blocking back-end runs somewhere: poll the
 * listeners and ctl_fd; hand each new connection to on_conn, each
 * readiness of ctl_fd (a signalfd, a stop pipe) to on_ctl. Either returns
 * true to end the loop. */
struct accept_ops {
    bool (*on_ctl)(void *arg);
    bool (*on_conn)(void *arg, int fd, const union sockaddr_any *peer);
};

void acceptor_run(const struct ftpd_server *srv, struct acceptor *a, int ctl_fd,
                  const struct accept_ops *ops, void *arg);

#endif

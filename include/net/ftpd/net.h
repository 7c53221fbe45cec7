/* Sockets: listeners, EINTR-safe I/O wrappers, and the blocking transfer
 * engine. Callers get small results (IO_OK / IO_AGAIN / IO_EOF / IO_ERR with
 * errno kept), never raw EINTR. */
#ifndef FTPD_NET_H
#define FTPD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ftpd/config.h"
#include "ftpd/sockaddr.h"
#include "ftpd/stream.h"
#include "ftpd/transfer.h"

enum io_status { IO_OK, IO_AGAIN, IO_EOF, IO_ERR };

/* listen(2) backlog of the control listeners (listen.c says why so big). */
#define NET_LISTEN_BACKLOG 4096

struct listener {
    int fd;
    union sockaddr_any addr;
};

/* Bind and listen on every configured address (cfg->listen x cfg->port),
 * non-blocking, SO_REUSEADDR, IPV6_V6ONLY for v6. reuseport adds
 * SO_REUSEPORT (hybrid opens one set per worker). Returns the count, or -1
 * with a message in err naming the address. */
int net_listen_all(const struct ftpd_config *cfg, bool reuseport, struct listener *out, char *err,
                   size_t errlen);
void net_close_all(struct listener *l, int n);
/* One listener on *addr (its port 0: any; *addr gets the bound one), as
 * net_listen_all opens each. Returns the fd, or -1 (errno). A reload
 * (SIGHUP) opens the addresses a new configuration adds with it. */
int net_listen_one(union sockaddr_any *addr, bool reuseport);
/* Open a second set of listeners on the addresses (and real ports) of `in`,
 * with SO_REUSEPORT (which `in` must have too): each hybrid worker's own
 * set under hybrid_balance = reuseport. Returns n, or -1 (errno). */
int net_listen_again(const struct listener *in, int n, struct listener *out);
/* Stop listening without closing the descriptors: shutdown(SHUT_RD) on a
 * listening socket makes the kernel refuse new connections and reset the
 * queued ones, for every process that shares the socket. The graceful
 * stop's "stop accepting at once". */
void net_stop_listening(const struct listener *l, int n);

int net_set_nonblock(int fd, bool on);

/* Options of an accepted control connection (see io.c for why each). */
void net_control_socket(int fd);

/* accept4(SOCK_CLOEXEC, non-blocking if asked), EINTR retried. Returns the
 * fd, or -1 with errno (EAGAIN, EMFILE, ...). */
int net_accept(int lfd, union sockaddr_any *peer, bool nonblock);

/* One read/write, EINTR retried. *n is the byte count on IO_OK. */
enum io_status net_read(int fd, void *p, size_t cap, size_t *n);
enum io_status net_write(int fd, const void *p, size_t len, size_t *n);

/* Without reading anything: true when the peer of a connected socket has
 * hung up (end of stream or reset next in its queue), false while nothing
 * or some data is there to read. */
bool net_peer_hung_up(int fd);

/* True when errno from a data-socket call means the peer or the network
 * went away (a 426), not a local fault (a 451). */
bool net_errno_is_peer(int err);

/* Write all of p to a file at *off (advanced), short writes and EINTR
 * handled. 0, or -1 with errno (ENOSPC, EDQUOT, EIO...). */
int net_pwrite_all(int fd, const void *p, size_t len, uint64_t *off);

/* The blocking engine watches the control connection while it moves data. */
enum ctl_action {
    CTL_CONTINUE, /* keep going */
    CTL_PAUSE,    /* stop polling ctrl (or stop_fd) until the transfer ends */
    CTL_ABORT,    /* stop the transfer now (ABOR, control closed, hard stop) */
};

struct xfer_watch {
    struct stream *ctrl; /* polled for commands during the transfer (its fd,
                            and stream_pending); NULL = don't */
    int stop_fd;         /* readable when the server stops; -1 = don't poll */
    int64_t deadline;    /* clock_ms() after which the transfer is abandoned
                            with XFER_SHUTDOWN; 0 = none */
    enum ctl_action (*on_control)(struct xfer_watch *w); /* ctrl readable */
    enum ctl_action (*on_stop)(struct xfer_watch *w);    /* stop_fd readable */
    void *arg;
};

/* Run a transfer job to the end: make the data connection (accept on
 * t->pasv_fd from t->peer_addr's IP only, or connect to t->port_addr),
 * move the bytes (sendfile for binary RETR), close the data connection.
 * *bytes is what crossed the data connection. */
enum xfer_result xfer_run_blocking(const struct transfer *t, struct xfer_watch *w, uint64_t *bytes);

/* Data-connection helpers shared by both engines. */
/* Accept one connection on pasv_fd; a connection from another IP than
 * peer is closed and logged (returns -1, errno EPERM). */
int dataconn_accept(int pasv_fd, const union sockaddr_any *peer);

/* The passive data connection of t: dataconn_accept() with the transfer's
 * peer check, or, with t->pasv_proxy, one from a proxy_trusted balancer
 * (whose PROXY header dataconn_proxy_step then reads). Same results. */
int dataconn_accept_for(const struct transfer *t);

struct proxy_parser;
/* t->pasv_proxy: read the PROXY header of the accepted data connection fd,
 * p set up with proxy_parser_init(p, t->pasv_proxy) after the accept.
 * 1: done, and its client is t->peer_addr; 0: wait until fd is readable;
 * -1: refused (bad header, another client, or gone: logged, fd closed,
 * errno EPERM). */
int dataconn_proxy_step(int fd, const struct transfer *t, struct proxy_parser *p);
/* Start a non-blocking connect to t->port_addr from t->local_addr's IP.
 * Returns the fd (connect may be in progress) or -1. */
int dataconn_connect_start(const struct transfer *t);
/* The connect started above became writable: 0 if it worked, else the
 * error (SO_ERROR, or ECONNREFUSED for a TCP self-connect). */
int dataconn_connect_result(int fd);
/* Make the stream both engines move t's bytes through, from the data
 * connection fd (which it now owns). 0, or -1 (errno) with fd closed. */
int xfer_data_stream(const struct transfer *t, int fd, struct stream *out);

#endif

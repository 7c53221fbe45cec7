/* The client's sockets: a non-blocking connect from a chosen source
 * address, and reads that discard what they receive. */
#ifndef FTPBENCH_SOCK_H
#define FTPBENCH_SOCK_H

#include <stddef.h>

#include "ftpd/net.h"
#include "ftpd/sockaddr.h"

/* Start a non-blocking TCP connect to `to`, bound first to `from` (port 0;
 * NULL: the kernel picks). rcvbuf > 0 sets SO_RCVBUF before connecting (a
 * small window for slow readers); nodelay sets TCP_NODELAY (connections
 * that send commands). Returns the fd, its connect possibly in
 * progress, or -1 with errno (EADDRNOTAVAIL when local ports ran out). */
int sock_connect(const union sockaddr_any *to, const union sockaddr_any *from, int rcvbuf,
                 bool nodelay);

/* Receive up to cap bytes and throw them away; buf must hold cap bytes.
 * IO_OK with *n, IO_AGAIN, IO_EOF, or IO_ERR with errno. */
enum io_status sock_discard(int fd, void *buf, size_t cap, size_t *n);

/* close(2) for a socket we are done with. */
void sock_close(int fd);

#endif

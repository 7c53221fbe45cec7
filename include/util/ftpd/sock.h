/* The one place a listening socket is made: the control listeners (net/)
 * and the passive data ports (core/) both come here, so the two cannot
 * drift apart in options or error handling. */
#ifndef FTPD_SOCK_H
#define FTPD_SOCK_H

#include "ftpd/sockaddr.h"

enum sock_status {
    SOCK_OK,
    SOCK_IN_USE, /* the address (port) is taken: a caller probing ports tries another */
    SOCK_ERR,    /* anything else; errno says what */
};

/* sock_listen flags */
#define SOCK_LISTEN_REUSEPORT 1u /* SO_REUSEPORT: hybrid workers each bind their own set */

/* socket + SO_REUSEADDR (+ IPV6_V6ONLY for v6) + bind + listen, non-blocking
 * and close-on-exec. On SOCK_OK *fd is the socket and, when *addr asked for
 * port 0, *addr holds the port the kernel picked. On failure nothing is left
 * open and errno is kept (EADDRINUSE for SOCK_IN_USE). */
enum sock_status sock_listen(union sockaddr_any *addr, int backlog, unsigned flags, int *fd);

#endif

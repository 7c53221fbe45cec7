#include "ftpd/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value);
}

enum sock_status sock_listen(union sockaddr_any *addr, int backlog, unsigned flags, int *fd)
{
    int s = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return SOCK_ERR;
    /* REUSEADDR: a listener restarts while old connections sit in
     * TIME_WAIT, and a passive data port can be reused while the last data
     * connection on it does (the server closes data connections first, so
     * without it a small pasv_min_port..pasv_max_port range runs dry under
     * load).
     * V6ONLY: "::" must not also grab the v4 port, so "0.0.0.0" and "::"
     * can both be configured, and v4 peers never show up as ::ffff:a.b.c.d.
     * REUSEPORT: hybrid workers each open their own set and the kernel
     * balances connections between them. */
    bool want_port = sockaddr_port(addr) == 0;
    socklen_t len = sizeof *addr;
    if (set_int_opt(s, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
        (addr->sa.sa_family == AF_INET6 && set_int_opt(s, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0) ||
        ((flags & SOCK_LISTEN_REUSEPORT) != 0 && set_int_opt(s, SOL_SOCKET, SO_REUSEPORT, 1) < 0) ||
        bind(s, &addr->sa, sockaddr_len(addr)) < 0 || listen(s, backlog) < 0 ||
        (want_port && getsockname(s, &addr->sa, &len) < 0)) {
        int saved = errno;
        close(s);
        errno = saved;
        return saved == EADDRINUSE ? SOCK_IN_USE : SOCK_ERR;
    }
    *fd = s;
    return SOCK_OK;
}

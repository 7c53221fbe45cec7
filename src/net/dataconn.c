/* Making the data connection, shared by the blocking and the evented engine:
 * neither function ever waits. */
#include "ftpd/net.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/log.h"
#include "ftpd/proxy_read.h"

int dataconn_accept(int pasv_fd, const union sockaddr_any *peer)
{
    union sockaddr_any from;
    int fd = net_accept(pasv_fd, &from, true);
    if (fd < 0)
        return -1;
    /* No PASV theft: anyone may connect to the port we advertised, but only
     * the control connection's host gets the data. A v4 client reaching a
     * dual-stack socket shows up as ::ffff:a.b.c.d; sockaddr_same_ip treats
     * that as the plain v4 address. */
    if (!sockaddr_same_ip(&from, peer)) {
        char got[SOCKADDR_STR_MAX], want[SOCKADDR_STR_MAX];
        sockaddr_str(&from, got, sizeof got);
        sockaddr_str(peer, want, sizeof want);
        log_warn("data connection from %s refused: control connection is from %s", got, want);
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int dataconn_accept_for(const struct transfer *t)
{
    if (t->pasv_proxy == 0)
        return dataconn_accept(t->pasv_fd, &t->peer_addr);
    union sockaddr_any from;
    int fd = net_accept(t->pasv_fd, &from, true);
    if (fd < 0)
        return -1;
    /* proxy_protocol_data: the balancer connects, and its header names the
     * client (checked by dataconn_proxy_step). */
    if (!cidr_match_any(t->proxy_trusted, t->nproxy_trusted, &from)) {
        char got[SOCKADDR_STR_MAX];
        sockaddr_str(&from, got, sizeof got);
        log_warn("data connection from %s refused: not in proxy_trusted", got);
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int dataconn_proxy_step(int fd, const struct transfer *t, struct proxy_parser *p)
{
    struct proxy_header h;
    enum stream_status st = proxy_read(fd, p, &h);
    if (st == STREAM_AGAIN)
        return 0;
    char got[SOCKADDR_STR_MAX], want[SOCKADDR_STR_MAX];
    sockaddr_str(&t->peer_addr, want, sizeof want);
    if (st != STREAM_OK) {
        log_warn("data connection for %s refused: %s", want,
                 p->error != NULL ? p->error : "closed in its PROXY header");
    } else if (!h.has_addresses || !sockaddr_same_ip(&h.src, &t->peer_addr)) {
        /* No PASV theft through the balancer either. A LOCAL header names
         * no client: not ours. */
        if (h.has_addresses)
            sockaddr_str(&h.src, got, sizeof got);
        else
            snprintf(got, sizeof got, "%s", "an unnamed client");
        log_warn("data connection from %s refused: control connection is from %s", got, want);
    } else {
        return 1;
    }
    close(fd);
    errno = EPERM;
    return -1;
}

int dataconn_connect_start(const struct transfer *t)
{
    union sockaddr_any to = t->port_addr, from = t->local_addr;
    sockaddr_unmap(&to);
    sockaddr_unmap(&from);
    bool bind_local = from.sa.sa_family != AF_UNSPEC;
    if (bind_local && from.sa.sa_family != to.sa.sa_family) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    int fd = socket(to.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Data leaves from the IP the client talks to on the control connection
     * (on a multi-homed host the routing table might pick another, and
     * clients and firewalls expect the same one). Port 0: any free port; the
     * RFC 959 "port 20" would need privileges for nothing. A local_addr left
     * AF_UNSPEC (unset) lets the kernel choose. */
    if (bind_local) {
        sockaddr_set_port(&from, 0);
        if (bind(fd, &from.sa, sockaddr_len(&from)) < 0)
            goto fail;
    }
    /* EINPROGRESS is the normal answer on a non-blocking socket: the caller
     * waits for POLLOUT and reads SO_ERROR for the outcome. EINTR means the
     * same here (the connect goes on in the background; calling connect
     * again would only say EALREADY). */
    if (connect(fd, &to.sa, sockaddr_len(&to)) < 0 && errno != EINPROGRESS && errno != EINTR)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int dataconn_connect_result(int fd)
{
    /* Writable means the connect finished, not that it worked. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    if (err != 0)
        return err;
    /* Special problem: TCP self-connect. A PORT to a free port in the
     * ephemeral range can be "connected" to itself when the kernel picks
     * that very port as our source: the transfer would then go nowhere and
     * still end in 226. Same local and remote address: refuse. */
    union sockaddr_any local, remote;
    socklen_t llen = sizeof local, rlen = sizeof remote;
    if (getsockname(fd, &local.sa, &llen) < 0 || getpeername(fd, &remote.sa, &rlen) < 0)
        return errno;
    if (sockaddr_same_ip(&local, &remote) && sockaddr_port(&local) == sockaddr_port(&remote))
        return ECONNREFUSED;
    return 0;
}

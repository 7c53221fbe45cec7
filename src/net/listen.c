/* Control-connection listeners: one non-blocking socket per configured
 * address, all on the same port. */
#include "ftpd/net.h"
#include "ftpd/log.h"
#include "ftpd/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel silently caps this at net.core.somaxconn (4096 on recent
 * kernels, 128 on old ones); asking for more costs nothing. A burst larger
 * than the queue has its SYNs dropped, and those clients wait silently for
 * their retransmissions (1, 3, 7 s): with 511, 1,024 clients logging in at
 * once on a prefork pool still growing saw timeouts; with 4096 none. A
 * client the server cannot serve is refused with 421 instead (backlog.c). */
#define LISTEN_BACKLOG NET_LISTEN_BACKLOG

/* "cannot listen on [::1]:21: Address already in use" */
static void listen_error(char *err, size_t errlen, const char *ip, int port, const char *why)
{
    if (err == NULL || errlen == 0)
        return;
    if (strchr(ip, ':') != NULL)
        snprintf(err, errlen, "cannot listen on [%s]:%d: %s", ip, port, why);
    else
        snprintf(err, errlen, "cannot listen on %s:%d: %s", ip, port, why);
}

int net_listen_one(union sockaddr_any *addr, bool reuseport)
{
    int fd;
    if (sock_listen(addr, LISTEN_BACKLOG, reuseport ? SOCK_LISTEN_REUSEPORT : 0, &fd) != SOCK_OK)
        return -1;
    return fd;
}

int net_listen_all(const struct ftpd_config *cfg, bool reuseport, struct listener *out, char *err,
                   size_t errlen)
{
    /* Implicit FTPS listens on its own port on the same addresses, after
     * the plain ones (config_validate keeps both sets within
     * FTPD_LISTEN_MAX). */
    int sets = cfg->implicit_tls_port != 0 ? 2 : 1;
    if (cfg->nlisten <= 0 || cfg->nlisten * sets > FTPD_LISTEN_MAX) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "cannot listen: no listen address configured");
        return -1;
    }
    int n = cfg->nlisten * sets;
    for (int i = 0; i < n; i++) {
        const char *ip = cfg->listen[i % cfg->nlisten];
        int port = i < cfg->nlisten ? cfg->port : cfg->implicit_tls_port;
        if (port < 0 || port > 65535) {
            listen_error(err, errlen, ip, port, "port out of range");
            net_close_all(out, i);
            return -1;
        }
        if (sockaddr_parse(ip, port, &out[i].addr) < 0) {
            listen_error(err, errlen, ip, port, "not a numeric IPv4 or IPv6 address");
            net_close_all(out, i);
            return -1;
        }
        out[i].fd = net_listen_one(&out[i].addr, reuseport);
        if (out[i].fd < 0) {
            listen_error(err, errlen, ip, port, strerror(errno));
            net_close_all(out, i);
            return -1;
        }
    }
    return n;
}

void net_close_all(struct listener *l, int n)
{
    for (int i = 0; i < n; i++) {
        if (l[i].fd >= 0)
            close(l[i].fd);
        l[i].fd = -1;
    }
}

void net_stop_listening(const struct listener *l, int n)
{
    for (int i = 0; i < n; i++) {
        if (l[i].fd >= 0 && shutdown(l[i].fd, SHUT_RD) < 0 && errno != ENOTCONN)
            log_warn("shutdown of a listener: %s", strerror(errno));
    }
}

int net_listen_again(const struct listener *in, int n, struct listener *out)
{
    for (int i = 0; i < n; i++) {
        out[i].addr = in[i].addr;
        out[i].fd = net_listen_one(&out[i].addr, true);
        if (out[i].fd < 0) {
            int saved = errno;
            net_close_all(out, i);
            errno = saved;
            return -1;
        }
    }
    return n;
}

/* Control-connection listeners: one non-blocking socket per configured
 * address, all on the same port. */
#include "ftpd/net.h"
#include "ftpd/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel silently caps this at net.core.somaxconn (4096 on recent
 * kernels, 128 on old ones); asking for more costs nothing. */
#define LISTEN_BACKLOG 511

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

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value);
}

/* Returns the listening fd with its bound address in *addr, or -1 (errno). */
static int listen_one(union sockaddr_any *addr, bool reuseport)
{
    socklen_t len = sizeof *addr;
    int fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* REUSEADDR: restart while old connections sit in TIME_WAIT.
     * V6ONLY: "::" must not also grab the v4 port, so "0.0.0.0" and "::"
     * can both be configured, and v4 peers never show up as ::ffff:a.b.c.d.
     * REUSEPORT: hybrid workers each open their own set and the kernel
     * balances connections between them. */
    if (set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
        (addr->sa.sa_family == AF_INET6 && set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0) ||
        (reuseport && set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0) ||
        bind(fd, &addr->sa, sockaddr_len(addr)) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
        goto fail;
    /* Port 0 lets the kernel pick: report the real one. */
    if (getsockname(fd, &addr->sa, &len) < 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int net_listen_all(const struct ftpd_config *cfg, bool reuseport, struct listener *out, char *err,
                   size_t errlen)
{
    if (cfg->nlisten <= 0 || cfg->nlisten > FTPD_LISTEN_MAX) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "cannot listen: no listen address configured");
        return -1;
    }
    for (int i = 0; i < cfg->nlisten; i++) {
        const char *ip = cfg->listen[i];
        if (cfg->port < 0 || cfg->port > 65535) {
            listen_error(err, errlen, ip, cfg->port, "port out of range");
            net_close_all(out, i);
            return -1;
        }
        if (sockaddr_parse(ip, cfg->port, &out[i].addr) < 0) {
            listen_error(err, errlen, ip, cfg->port, "not a numeric IPv4 or IPv6 address");
            net_close_all(out, i);
            return -1;
        }
        out[i].fd = listen_one(&out[i].addr, reuseport);
        if (out[i].fd < 0) {
            listen_error(err, errlen, ip, cfg->port, strerror(errno));
            net_close_all(out, i);
            return -1;
        }
    }
    return cfg->nlisten;
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
        out[i].fd = listen_one(&out[i].addr, true);
        if (out[i].fd < 0) {
            int saved = errno;
            net_close_all(out, i);
            errno = saved;
            return -1;
        }
    }
    return n;
}

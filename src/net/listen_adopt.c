/* Listener adoption (ftpd/listen_adopt.h): the sd_listen_fds(3)
 * convention, implemented here in a few lines rather than linking
 * libsystemd, since the live upgrade speaks it without systemd too. */
#include "ftpd/listen_adopt.h"
#include "ftpd/log.h"
#include "ftpd/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void adopt_error(char *err, size_t errlen, const char *what, int fd, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s descriptor %d: %s", what, fd, why);
}

/* A decimal number in [min, max] filling all of s; -1 otherwise. */
static long parse_count(const char *s, long min, long max)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    return v;
}

/* "a:b:c" into names, as many as there are descriptors; missing ones "". */
static void split_names(struct adopted *a, const char *names)
{
    for (int i = 0; i < a->n; i++)
        a->name[i][0] = '\0';
    for (int i = 0; names != NULL && *names != '\0' && i < a->n; i++) {
        size_t len = strcspn(names, ":");
        size_t keep = len < ADOPT_NAME_MAX - 1 ? len : ADOPT_NAME_MAX - 1;
        memcpy(a->name[i], names, keep);
        a->name[i][keep] = '\0';
        names += len;
        if (*names == ':')
            names++;
    }
}

/* A listening SOCK_STREAM socket? Returns NULL, or why not. */
static const char *check_listener(int fd)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == ENOTSOCK ? "not a socket" : strerror(errno);
    if (type != SOCK_STREAM)
        return "not a stream socket";
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return strerror(errno);
    if (!listening)
        return "not listening";
    union sockaddr_any addr;
    len = sizeof addr;
    if (getsockname(fd, &addr.sa, &len) < 0)
        return strerror(errno);
    if (addr.sa.sa_family != AF_INET && addr.sa.sa_family != AF_INET6)
        return "not an IPv4 or IPv6 socket";
    return NULL;
}

int listen_adopt_take(struct adopted *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    const char *pid_s = getenv("LISTEN_PID");
    const char *fds_s = getenv("LISTEN_FDS");
    char names[ADOPT_MAX * ADOPT_NAME_MAX];
    const char *names_s = getenv("LISTEN_FDNAMES");
    snprintf(names, sizeof names, "%s", names_s != NULL ? names_s : "");
    long pid = parse_count(pid_s, 1, LONG_MAX);
    long n = parse_count(fds_s, 0, INT_MAX);
    /* Unset in any case: a child we start must never take them for its own. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (pid_s == NULL || pid != (long)getpid())
        return 0; /* meant for another process (or nothing passed) */
    if (n < 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "LISTEN_FDS='%s' is not a count", fds_s != NULL ? fds_s : "");
        return -1;
    }
    if (n > ADOPT_MAX) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "LISTEN_FDS=%ld: at most %d descriptors can be adopted", n,
                     ADOPT_MAX);
        return -1;
    }
    a->n = (int)n;
    for (int i = 0; i < a->n; i++)
        a->fd[i] = ADOPT_FD_START + i;
    split_names(a, names);
    for (int i = 0; i < a->n; i++) {
        const char *why = check_listener(a->fd[i]);
        if (why == NULL && fcntl(a->fd[i], F_SETFD, FD_CLOEXEC) < 0)
            why = strerror(errno);
        if (why != NULL) {
            adopt_error(err, errlen, "LISTEN_FDS:", a->fd[i], why);
            listen_adopt_close_rest(a);
            return -1;
        }
    }
    return 0;
}

void listen_adopt_close_rest(struct adopted *a)
{
    for (int i = 0; i < a->n; i++) {
        if (a->fd[i] >= 0)
            close(a->fd[i]);
        a->fd[i] = -1;
    }
}

/* Does adopted socket i serve configured listener `want` (port 0: any)?
 * A name says which kind a socket is; "ftp" never serves the implicit
 * FTPS port, "ftps" never a plain one. */
static bool adopt_matches(const struct adopted *a, int i, const union sockaddr_any *want,
                          bool implicit_tls, union sockaddr_any *got)
{
    if (a->fd[i] < 0)
        return false;
    if (strcmp(a->name[i], implicit_tls ? "ftp" : "ftps") == 0)
        return false;
    socklen_t len = sizeof *got;
    if (getsockname(a->fd[i], &got->sa, &len) < 0 || got->sa.sa_family != want->sa.sa_family)
        return false;
    int port = sockaddr_port(want);
    if (port != 0 && port != sockaddr_port(got))
        return false;
    /* sockaddr_same_ip would take :: and 0.0.0.0 apart anyway; the family
     * check above keeps ::ffff:a.b.c.d from matching a.b.c.d. */
    return sockaddr_same_ip(want, got);
}

/* Take the adopted socket for listener *l (its addr holds the configured
 * address and port). Returns true with l->fd and l->addr set. */
static bool adopt_one(struct adopted *a, struct listener *l, bool implicit_tls)
{
    for (int i = 0; i < a->n; i++) {
        union sockaddr_any got;
        if (adopt_matches(a, i, &l->addr, implicit_tls, &got)) {
            l->fd = a->fd[i];
            l->addr = got;
            a->fd[i] = -1;
            return true;
        }
    }
    return false;
}

int net_listen_adopt(const struct ftpd_config *cfg, bool reuseport, struct adopted *a,
                     struct listener *out, struct listener *extra, int extra_cap, int *nextra,
                     char *err, size_t errlen)
{
    if (nextra != NULL)
        *nextra = 0;
    int sets = cfg->implicit_tls_port != 0 ? 2 : 1;
    int n = cfg->nlisten * sets;
    if (a->n == 0)
        return net_listen_all(cfg, reuseport, out, err, errlen);
    if (cfg->nlisten <= 0 || n > FTPD_LISTEN_MAX) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "cannot listen: no listen address configured");
        return -1;
    }
    /* The configured listeners, then the adopted sockets for them: those
     * with a fixed port first, so a port-0 address cannot take the
     * implicit FTPS socket of the same address. */
    bool taken[FTPD_LISTEN_MAX] = {false};
    for (int i = 0; i < n; i++) {
        out[i].fd = -1;
        int port = i < cfg->nlisten ? cfg->port : cfg->implicit_tls_port;
        if (sockaddr_parse(cfg->listen[i % cfg->nlisten], port, &out[i].addr) < 0) {
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "cannot listen on %s: not a numeric IPv4 or IPv6 address",
                         cfg->listen[i % cfg->nlisten]);
            return -1;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            bool fixed = sockaddr_port(&out[i].addr) != 0;
            if (!taken[i] && fixed == (pass == 0))
                taken[i] = adopt_one(a, &out[i], i >= cfg->nlisten);
        }
    }
    /* The rest: reuseport sets of a matched address go to extra[]; any
     * other socket the config does not list is closed. */
    for (int j = 0; j < a->n; j++) {
        if (a->fd[j] < 0)
            continue;
        union sockaddr_any got;
        socklen_t len = sizeof got;
        char addr[SOCKADDR_STR_MAX] = "?";
        if (getsockname(a->fd[j], &got.sa, &len) == 0)
            sockaddr_str(&got, addr, sizeof addr);
        bool kept = false;
        for (int i = 0; reuseport && extra != NULL && i < n && !kept; i++) {
            union sockaddr_any m;
            if (taken[i] && *nextra < extra_cap &&
                adopt_matches(a, j, &out[i].addr, i >= cfg->nlisten, &m)) {
                extra[*nextra].fd = a->fd[j];
                extra[*nextra].addr = m;
                (*nextra)++;
                a->fd[j] = -1;
                kept = true;
            }
        }
        if (!kept) {
            log_warn("adopted socket %s (descriptor %d%s%s) is not in the configuration: closed",
                     addr, ADOPT_FD_START + j, a->name[j][0] != '\0' ? ", name " : "", a->name[j]);
            close(a->fd[j]);
            a->fd[j] = -1;
        }
    }
    /* Configured listeners nobody passed: bind them. */
    for (int i = 0; i < n; i++) {
        if (taken[i])
            continue;
        int fd;
        if (sock_listen(&out[i].addr, NET_LISTEN_BACKLOG, reuseport ? SOCK_LISTEN_REUSEPORT : 0,
                        &fd) != SOCK_OK) {
            char addr[SOCKADDR_STR_MAX];
            sockaddr_str(&out[i].addr, addr, sizeof addr);
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
            for (int k = 0; k < n; k++) {
                if (out[k].fd >= 0)
                    close(out[k].fd);
                out[k].fd = -1;
            }
            return -1;
        }
        out[i].fd = fd;
    }
    for (int i = 0; i < n; i++) {
        /* Every loop expects non-blocking listeners (accept4 after poll). */
        if (net_set_nonblock(out[i].fd, true) < 0)
            log_warn("adopted listener: O_NONBLOCK: %s", strerror(errno));
        if (reuseport && taken[i]) {
            int on = 1;
            if (setsockopt(out[i].fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
                log_warn("adopted listener: SO_REUSEPORT: %s", strerror(errno));
        }
    }
    return n;
}

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "arch/blocking.h"
#include "arch/limits.h"
#include "ftpd/log.h"

void accept_loop(const struct ftpd_server *srv, struct stop_state *st, struct conn_limits *limits,
                 struct acceptor *acc)
{
    struct pollfd pfd[FTPD_LISTEN_MAX + 1];
    int n = srv->nlisteners;
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = srv->listeners[i].fd, .events = POLLIN};
    pid_t self = getpid();

    while (!st->stopping) {
        pfd[n] = (struct pollfd){.fd = st->fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[n].revents) {
            stop_notice(st);
            break;
        }
        for (int i = 0; i < n && !st->stopping; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            union sockaddr_any peer;
            /* Listeners are non-blocking and shared: another worker or
             * thread may have taken the connection (EAGAIN). */
            int fd = acceptor_accept(acc, pfd[i].fd, &peer);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EMFILE)
                    log_warn("accept: %s", strerror(errno));
                continue;
            }
            enum refusal why;
            int slot = limits_admit(limits, &peer, self, &why);
            if (slot < 0) {
                limits_turn_away(srv->cfg, fd, why, &peer);
                continue;
            }
            serve_blocking(srv, fd, &peer, st);
            limits_release(limits, slot);
        }
    }
}

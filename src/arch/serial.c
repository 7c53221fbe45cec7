/* serial: one loop accepts a connection and serves it to the end before
 * accepting the next. The baseline every other pattern is measured against:
 * a second client waits in the listen backlog until the first one quits. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "arch/backends.h"
#include "arch/blocking.h"
#include "ftpd/log.h"

int arch_serial_run(const struct ftpd_server *srv)
{
    struct stop_state stop;
    struct acceptor acc;
    int sigfd = stop_signalfd();
    if (sigfd < 0 || acceptor_init(&acc) < 0)
        return 1;
    stop_init(&stop, sigfd, true, srv->cfg->shutdown_grace);

    struct pollfd pfd[FTPD_LISTEN_MAX + 1];
    int n = srv->nlisteners;
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = srv->listeners[i].fd, .events = POLLIN};
    pfd[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};

    while (!stop.stopping) {
        if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[n].revents) {
            stop_notice(&stop);
            break;
        }
        for (int i = 0; i < n && !stop.stopping; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            union sockaddr_any peer;
            int fd = acceptor_accept(&acc, pfd[i].fd, &peer);
            if (fd >= 0)
                serve_blocking(srv, fd, &peer, &stop);
            else if (errno != EAGAIN && errno != EMFILE)
                log_warn("accept: %s", strerror(errno));
        }
    }
    log_info("stopping");
    acceptor_close(&acc);
    close(sigfd);
    return 0;
}

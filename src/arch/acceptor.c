#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch/blocking.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int acceptor_init(struct acceptor *a)
{
    a->last_warning = 0;
    pthread_mutex_init(&a->lock, NULL);
    a->spare_fd = open_spare();
    if (a->spare_fd < 0) {
        log_error("cannot open /dev/null for the spare descriptor: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void acceptor_close(struct acceptor *a)
{
    if (a->spare_fd >= 0)
        close(a->spare_fd);
    a->spare_fd = -1;
    pthread_mutex_destroy(&a->lock);
}

int acceptor_accept(struct acceptor *a, int lfd, union sockaddr_any *peer)
{
    int fd = net_accept(lfd, peer, false);
    if (fd >= 0 || (errno != EMFILE && errno != ENFILE))
        return fd;
    /* Special problem: EMFILE leaves the connection pending and the listener
     * readable, so a naive loop spins. Give up the spare fd, take the
     * connection off the queue, close it, take the spare back. */
    pthread_mutex_lock(&a->lock);
    int64_t now = clock_ms();
    if (now - a->last_warning >= 1000) {
        log_warn("out of file descriptors: dropping new connections");
        a->last_warning = now;
    }
    if (a->spare_fd >= 0) {
        close(a->spare_fd);
        a->spare_fd = -1;
        union sockaddr_any dropped;
        int victim = net_accept(lfd, &dropped, false);
        if (victim >= 0)
            close(victim);
        a->spare_fd = open_spare();
    } else {
        /* No spare to sacrifice (another thread holds the last fds): back
         * off instead of spinning on a readable listener. */
        struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
        a->spare_fd = open_spare();
    }
    pthread_mutex_unlock(&a->lock);
    errno = EMFILE;
    return -1;
}

void acceptor_run(const struct ftpd_server *srv, struct acceptor *a, int ctl_fd,
                  const struct accept_ops *ops, void *arg)
{
    struct pollfd pfd[FTPD_LISTEN_MAX + 1];
    int n = srv->nlisteners;
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = srv->listeners[i].fd, .events = POLLIN};
    pfd[n] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
    for (;;) {
        if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (pfd[n].revents && ops->on_ctl(arg))
            return;
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            union sockaddr_any peer;
            /* Listeners are non-blocking and may be shared: another worker
             * or thread may have taken the connection (EAGAIN). */
            int fd = acceptor_accept(a, pfd[i].fd, &peer);
            if (fd >= 0) {
                if (ops->on_conn(arg, fd, &peer))
                    return;
            } else if (errno != EAGAIN && errno != EMFILE) {
                log_warn("accept: %s", strerror(errno));
            }
        }
    }
}

#include "arch/common/acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/log.h"

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int acceptor_init(struct acceptor *a)
{
    atomic_init(&a->shortage, false);
    atomic_init(&a->dropped, 0);
    a->taken = NULL;
    pthread_mutex_init(&a->lock, NULL);
    a->spare_fd = open_spare();
    if (a->spare_fd < 0) {
        log_error("cannot open /dev/null for the spare descriptor: %s", strerror(errno));
        pthread_mutex_destroy(&a->lock);
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

static enum accept_result out_of_fds(struct acceptor *a, int lfd, int err)
{
    enum accept_result r = ACCEPT_DROPPED;
    pthread_mutex_lock(&a->lock);
    if (!atomic_exchange(&a->shortage, true))
        log_warn("accept: %s: dropping new connections", strerror(err));
    if (a->spare_fd >= 0) {
        close(a->spare_fd);
        union sockaddr_any dropped;
        int victim = net_accept(lfd, &dropped, true);
        if (victim >= 0) {
            close(victim);
            atomic_fetch_add(&a->dropped, 1);
            if (a->taken != NULL)
                atomic_fetch_add_explicit(a->taken, 1, memory_order_relaxed);
        }
        a->spare_fd = open_spare();
    } else {
        a->spare_fd = open_spare();
    }
    if (a->spare_fd < 0)
        r = ACCEPT_PAUSE;
    pthread_mutex_unlock(&a->lock);
    return r;
}

enum accept_result acceptor_take(struct acceptor *a, int lfd, int *fd, union sockaddr_any *peer)
{
    *fd = net_accept(lfd, peer, true);
    if (*fd >= 0) {
        if (a->taken != NULL)
            atomic_fetch_add_explicit(a->taken, 1, memory_order_relaxed);
        if (atomic_load(&a->shortage) && atomic_exchange(&a->shortage, false))
            log_warn("file descriptors available again (%lu connections dropped)",
                     atomic_exchange(&a->dropped, 0));
        return ACCEPT_OK;
    }
    int err = errno;
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return ACCEPT_NONE;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return out_of_fds(a, lfd, err);
    case EINVAL:
        return ACCEPT_CLOSED;
    default:
        log_warn("accept: %s", strerror(err));
        return ACCEPT_FAILED;
    }
}

void accept_poll_init(struct accept_poll *p, struct acceptor *acc, const struct listener *l, int n,
                      int event_fd)
{
    p->acc = acc;
    p->nlisteners = n;
    p->tick_ms = -1;
    for (int i = 0; i < n; i++)
        p->pfd[i] = (struct pollfd){.fd = l[i].fd, .events = POLLIN};
    p->pfd[n] = (struct pollfd){.fd = event_fd, .events = POLLIN};
}

enum accept_next acceptor_next(struct accept_poll *p, int *fd, union sockaddr_any *peer)
{
    int n = p->nlisteners;
    for (;;) {
        int ready = poll(p->pfd, (nfds_t)n + 1, p->tick_ms);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            return NEXT_FAIL;
        }
        if (ready == 0)
            return NEXT_TICK;
        if (p->pfd[n].revents)
            return NEXT_EVENT;
        for (int i = 0; i < n; i++) {
            if (!p->pfd[i].revents)
                continue;
            switch (acceptor_take(p->acc, p->pfd[i].fd, fd, peer)) {
            case ACCEPT_OK:
                return NEXT_CONN;
            case ACCEPT_CLOSED:
                p->pfd[i].fd = -1; /* poll skips it from now on */
                break;
            case ACCEPT_PAUSE: {
                struct timespec pause = {.tv_nsec = ACCEPT_PAUSE_MS * 1000L * 1000L};
                nanosleep(&pause, NULL);
                break;
            }
            default:
                break;
            }
        }
    }
}

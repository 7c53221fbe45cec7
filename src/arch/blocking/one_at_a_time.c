#include "arch/blocking/one_at_a_time.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/common/backlog.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"

static int watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int one_at_a_time_open(struct one_at_a_time *o, const struct ftpd_server *srv,
                       struct admission *adm, struct acceptor *acc, int events_fd)
{
    *o = (struct one_at_a_time){.srv = srv, .adm = adm, .acc = acc, .epfd = -1};
    o->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    bool ok =
        o->timerfd >= 0 && epfd >= 0 && watch(epfd, events_fd) == 0 && watch(epfd, o->timerfd) == 0;
    for (int i = 0; ok && i < srv->nlisteners; i++)
        ok = watch(epfd, srv->listeners[i].fd) == 0;
    if (!ok) {
        log_error("serial: cannot watch the listeners during a session: %s", strerror(errno));
        if (epfd >= 0)
            close(epfd);
        if (o->timerfd >= 0)
            close(o->timerfd);
        o->timerfd = -1;
        return -1;
    }
    o->epfd = epfd;
    return 0;
}

void one_at_a_time_listen(struct one_at_a_time *o, const struct ftpd_server *srv,
                          const struct listener *removed, int nremoved)
{
    o->srv = srv;
    if (o->epfd < 0)
        return;
    for (int i = 0; i < nremoved; i++)
        epoll_ctl(o->epfd, EPOLL_CTL_DEL, removed[i].fd, NULL);
    for (int i = 0; i < srv->nlisteners; i++) {
        if (watch(o->epfd, srv->listeners[i].fd) < 0 && errno != EEXIST) /* EEXIST: kept */
            log_error("serial: cannot watch a listener during a session: %s", strerror(errno));
    }
}

static void refuse_oldest(struct one_at_a_time *o, enum refusal why)
{
    admission_refuse_fd(o->adm, o->srv->cfg, o->held[o->head].fd, why, &o->held[o->head].peer);
    o->head = (o->head + 1) % HOLD_MAX;
    o->len--;
}

/* Fire when the oldest held connection is due; disarmed when none is held. */
static void arm(struct one_at_a_time *o, int64_t now)
{
    struct itimerspec t = {0};
    if (o->len > 0) {
        int64_t left = o->held[o->head].since + BACKLOG_WAIT_MS - now;
        if (left < 1)
            left = 1;
        t.it_value.tv_sec = left / 1000;
        t.it_value.tv_nsec = (left % 1000) * 1000000L;
    }
    if (timerfd_settime(o->timerfd, 0, &t, NULL) < 0)
        log_error("timerfd_settime: %s", strerror(errno));
}

void one_at_a_time_notice(void *arg)
{
    struct one_at_a_time *o = arg;
    uint64_t expirations;
    if (read(o->timerfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        log_error("timerfd: %s", strerror(errno));
    int64_t now = clock_ms();
    while (o->len > 0 && now - o->held[o->head].since >= BACKLOG_WAIT_MS)
        refuse_oldest(o, REFUSE_ONE_AT_A_TIME);
    for (int i = 0; o->handed_over != NULL && *o->handed_over && i < o->srv->nlisteners; i++)
        epoll_ctl(o->epfd, EPOLL_CTL_DEL, o->srv->listeners[i].fd, NULL);
    for (int i = 0; !(o->handed_over != NULL && *o->handed_over) && i < o->srv->nlisteners; i++) {
        int lfd = o->srv->listeners[i].fd, fd;
        union sockaddr_any peer;
        for (;;) {
            enum accept_result r = acceptor_take(o->acc, lfd, &fd, &peer);
            if (r == ACCEPT_OK && o->len == HOLD_MAX) {
                admission_refuse_fd(o->adm, o->srv->cfg, fd, REFUSE_ONE_AT_A_TIME, &peer);
            } else if (r == ACCEPT_OK) {
                int k = (o->head + o->len++) % HOLD_MAX;
                o->held[k].fd = fd;
                o->held[k].peer = peer;
                o->held[k].since = now;
            } else if (r != ACCEPT_DROPPED) {
                if (r == ACCEPT_CLOSED) /* stopping: the listener is shut down */
                    epoll_ctl(o->epfd, EPOLL_CTL_DEL, lfd, NULL);
                break;
            }
        }
    }
    arm(o, now);
}

bool one_at_a_time_next(struct one_at_a_time *o, int *fd, union sockaddr_any *peer)
{
    if (o->len == 0)
        return false;
    *fd = o->held[o->head].fd;
    *peer = o->held[o->head].peer;
    o->head = (o->head + 1) % HOLD_MAX;
    o->len--;
    return true;
}

void one_at_a_time_close(struct one_at_a_time *o, enum refusal why)
{
    while (o->len > 0)
        refuse_oldest(o, why);
    if (o->epfd >= 0)
        close(o->epfd);
    if (o->timerfd >= 0)
        close(o->timerfd);
    o->epfd = o->timerfd = -1;
}

/* Graceful and immediate stop, shared by the blocking back-ends. */
#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <string.h>
#include <unistd.h>

#include "arch/blocking.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"

void stop_init(struct stop_state *st, int fd, bool is_signalfd, int grace_seconds)
{
    st->fd = fd;
    st->is_signalfd = is_signalfd;
    st->stopping = false;
    st->hard = false;
    st->deadline = 0;
    st->grace_ms = grace_seconds * 1000;
    st->owner = NULL;
}

int stop_signalfd(bool with_sigint)
{
    sigset_t set;
    sigemptyset(&set);
    if (with_sigint)
        sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        log_error("signalfd: %s", strerror(errno));
    return fd;
}

void stop_notice(struct stop_state *st)
{
    if (st->is_signalfd) {
        struct signalfd_siginfo si;
        ssize_t n;
        while ((n = read(st->fd, &si, sizeof si)) == (ssize_t)sizeof si) {
            if (st->stopping)
                st->hard = true;
            st->stopping = true;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            log_error("reading signalfd: %s", strerror(errno));
            st->stopping = st->hard = true;
        }
    } else {
        /* A pipe that stays readable: notice it once, then stop polling. */
        st->stopping = true;
        st->fd = -1;
    }
    if (st->stopping && st->deadline == 0) {
        st->deadline = clock_ms() + st->grace_ms;
        if (st->owner != NULL)
            net_stop_listening(st->owner->listeners, st->owner->nlisteners);
    }
}

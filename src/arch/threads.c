#include "arch/threads.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ftpd/log.h"

int thread_attr_init(pthread_attr_t *attr, bool detached)
{
    int rc = pthread_attr_init(attr);
    if (rc == 0)
        rc = pthread_attr_setstacksize(attr, SESSION_THREAD_STACK);
    if (rc == 0 && detached)
        rc = pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
    if (rc != 0)
        log_error("pthread attributes: %s", strerror(rc));
    return rc == 0 ? 0 : -1;
}

int stop_pipe_open(struct stop_pipe *p)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    p->rd = fds[0];
    p->wr = fds[1];
    return 0;
}

void stop_pipe_fire(struct stop_pipe *p)
{
    if (p->wr >= 0)
        close(p->wr);
    p->wr = -1;
}

void stop_pipe_close(struct stop_pipe *p)
{
    stop_pipe_fire(p);
    if (p->rd >= 0)
        close(p->rd);
    p->rd = -1;
}

/* Read pending signals; returns how many were SIGINT/SIGTERM. */
static int read_stops(int sigfd)
{
    int n = 0;
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        n++;
    return n;
}

void wait_for_stop_signal(int sigfd)
{
    for (;;) {
        struct pollfd pfd = {.fd = sigfd, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (read_stops(sigfd) > 0)
            return;
    }
}

void wait_for_drain(int sigfd, bool (*done)(void *arg), void *arg)
{
    while (!done(arg)) {
        struct pollfd pfd = {.fd = sigfd, .events = POLLIN};
        if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
            return;
        if (read_stops(sigfd) > 0) {
            log_info("second signal: stopping now");
            return;
        }
    }
}

#include "arch/blocking/threads.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

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

bool stop_pending(struct ctl_events *events)
{
    return ctl_events_drain(events) != CTL_NONE;
}

/* Wait up to timeout_ms (-1: forever) for the events fd. */
static void wait_events(struct ctl_events *events, int timeout_ms)
{
    struct pollfd pfd = {.fd = events->fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
        log_error("poll: %s", strerror(errno));
}

void wait_for_stop(struct ctl_events *events)
{
    while (!stop_pending(events))
        wait_events(events, -1);
}

bool wait_for_handover(struct ctl_events *events, bool (*done)(void *arg), void *arg)
{
    if (!events->handed_over || events->stops > 0)
        return false;
    log_info("draining: the sessions here finish, new ones go to the new generation");
    while (!done(arg)) {
        wait_events(events, 100);
        if (stop_pending(events))
            return false;
    }
    return true;
}

bool wait_for_drain(struct ctl_events *events, bool (*done)(void *arg), void *arg)
{
    while (!done(arg)) {
        wait_events(events, 100);
        if (stop_pending(events)) {
            log_info("second signal: stopping now");
            return false;
        }
    }
    return true;
}

/* Graceful and immediate stop of the blocking loops. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch/blocking/blocking.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"

static void stop_init(struct stop_state *st, int fd, struct ctl_events *events, int grace_seconds)
{
    *st = (struct stop_state){
        .fd = fd,
        .events = events,
        .grace_ms = grace_seconds * 1000,
    };
}

void stop_init_events(struct stop_state *st, struct ctl_events *events, int grace_seconds)
{
    stop_init(st, events->fd, events, grace_seconds);
}

void stop_init_broadcast(struct stop_state *st, int fd, int grace_seconds)
{
    stop_init(st, fd, NULL, grace_seconds);
}

void stop_notice(struct stop_state *st)
{
    if (st->events != NULL) {
        /* Before on_notice, which may accept: once a new generation took
         * the listeners over (handed_over), nothing here accepts again. */
        enum ctl_event e = ctl_events_drain(st->events);
        st->draining |= e == CTL_DRAIN;
        st->stopping |= e > CTL_DRAIN;
        st->hard |= e >= CTL_STOP_NOW;
    }
    if (st->on_notice != NULL)
        st->on_notice(st->notice_arg);
    if (st->events == NULL) {
        /* A broadcast stays readable: notice it once, then stop polling. */
        st->stopping = true;
        st->fd = -1;
    }
    if (st->stopping && st->deadline == 0) {
        st->deadline = clock_ms() + st->grace_ms;
        /* Never the listeners a new generation serves on (live upgrade). */
        if (st->owner != NULL && !(st->events != NULL && st->events->handed_over))
            net_stop_listening(st->owner->listeners, st->owner->nlisteners);
    }
}

int stop_broadcast_open(struct stop_broadcast *b)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("pipe: %s", strerror(errno));
        b->rd = b->wr = -1;
        return -1;
    }
    b->rd = fds[0];
    b->wr = fds[1];
    return 0;
}

void stop_broadcast_fire(struct stop_broadcast *b)
{
    if (b->wr >= 0)
        close(b->wr);
    b->wr = -1;
}

void stop_broadcast_close(struct stop_broadcast *b)
{
    stop_broadcast_fire(b);
    if (b->rd >= 0)
        close(b->rd);
    b->rd = -1;
}

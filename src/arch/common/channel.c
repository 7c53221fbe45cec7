/* The master/worker channel (see channel.h). */
#include "arch/common/channel.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/log.h"
#include "ftpd/net.h"

int channel_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        log_error("worker channel: socketpair: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void channel_open(struct channel *ch, int fd)
{
    ch->fd = fd;
    ch->ready = false;
    msg_reader_init(&ch->rd, 4096);
    /* The master polls it with its other fds: never block on it. */
    if (net_set_nonblock(fd, true) < 0)
        log_warn("worker channel: %s", strerror(errno));
}

void channel_close(struct channel *ch)
{
    if (ch->fd >= 0) {
        close(ch->fd);
        msg_reader_free(&ch->rd);
    }
    ch->fd = -1;
    ch->ready = false;
}

bool channel_receive(struct channel *ch, int index)
{
    for (;;) {
        struct msg m;
        enum msg_status st = msg_read(&ch->rd, ch->fd, &m);
        if (st == MSG_AGAIN)
            return true;
        if (st != MSG_OK) {
            log_debug("worker %d: channel %s", index, st == MSG_EOF ? "closed" : strerror(errno));
            channel_close(ch);
            return false;
        }
        msg_close_fds(&m); /* no message of a worker carries descriptors yet */
        if (m.type == MSG_CH_READY) {
            ch->ready = true;
            log_debug("worker %d ready", index);
        } else {
            log_debug("worker %d: channel message %u ignored", index, (unsigned)m.type);
        }
    }
}

int channel_tell(struct channel *ch, uint16_t type)
{
    if (ch->fd < 0) {
        errno = EPIPE;
        return -1;
    }
    return msg_send(ch->fd, type, NULL, 0, NULL, 0);
}

/* The worker's watcher: messages become the signals the worker's loop
 * already reads as control events. */
static void *watch(void *arg)
{
    int fd = (int)(intptr_t)arg;
    if (msg_send(fd, MSG_CH_READY, NULL, 0, NULL, 0) < 0)
        log_warn("worker channel: ready: %s", strerror(errno));
    struct msg_reader rd;
    msg_reader_init(&rd, 4096);
    for (;;) {
        struct msg m;
        enum msg_status st = msg_read(&rd, fd, &m);
        if (st == MSG_AGAIN)
            continue; /* blocking fd: not expected */
        if (st != MSG_OK) {
            /* The master is gone: drain and exit, as a first SIGTERM. */
            log_warn("master gone (channel %s): draining",
                     st == MSG_EOF ? "closed" : strerror(errno));
            kill(getpid(), SIGTERM);
            break;
        }
        msg_close_fds(&m);
        if (m.type == MSG_CH_DRAIN)
            kill(getpid(), SIGTERM);
        else if (m.type == MSG_CH_RELOAD)
            kill(getpid(), SIGHUP);
    }
    msg_reader_free(&rd);
    close(fd);
    return NULL;
}

int channel_worker_start(int fd)
{
    pthread_attr_t attr;
    pthread_t t;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024); /* sanitizers need room */
        rc = pthread_create(&t, &attr, watch, (void *)(intptr_t)fd);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        log_error("worker channel: thread: %s", strerror(rc));
        close(fd);
        return -1;
    }
    return 0;
}

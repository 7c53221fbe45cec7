/* The master/worker channel (see channel.h). */
#include "arch/common/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

/* Special problem: a watcher thread in each worker would be simplest, but
 * a forked child that starts a thread takes a second to exit under
 * ThreadSanitizer, and the loops already read their signals. So the
 * kernel watches for us: O_ASYNC with F_SETSIG makes any activity on the
 * worker's end (a message arriving, or the master's end closing) raise
 * SIGTERM in the worker, which its loop reads as a graceful stop. */
int channel_worker_start(int fd)
{
    if (msg_send(fd, MSG_CH_READY, NULL, 0, NULL, 0) < 0)
        log_warn("worker channel: ready: %s", strerror(errno));
    int flags = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETSIG, SIGTERM) < 0 || flags < 0 ||
        fcntl(fd, F_SETFL, flags | O_ASYNC) < 0) {
        log_error("worker channel: %s", strerror(errno));
        close(fd);
        return -1;
    }
    /* The master may have gone (or said something) before O_ASYNC was on. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) > 0)
        kill(getpid(), SIGTERM);
    return 0;
}

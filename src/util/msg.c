/* Typed, length-prefixed messages with descriptors (see ftpd/msg.h). */
#include "ftpd/msg.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/clock.h"

#define MSG_READ_MIN 4096 /* smallest buffer, and the least room a read asks for */

static void put_header(unsigned char *h, uint16_t type, size_t len, int nfds)
{
    h[0] = (unsigned char)(len >> 24);
    h[1] = (unsigned char)(len >> 16);
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
    h[4] = (unsigned char)(type >> 8);
    h[5] = (unsigned char)type;
    h[6] = (unsigned char)nfds;
    h[7] = 0;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Waits until fd is writable; deadline on clock_ms(). */
static int wait_writable(int fd, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

int msg_send(int fd, uint16_t type, const void *payload, size_t len, const int *fds, int nfds)
{
    if (len > UINT32_MAX || nfds < 0 || nfds > MSG_MAX_FDS || (len > 0 && payload == NULL)) {
        errno = EINVAL;
        return -1;
    }
    unsigned char header[MSG_HEADER_LEN];
    put_header(header, type, len, nfds);

    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * MSG_MAX_FDS)];
    } control;
    memset(&control, 0, sizeof control);

    struct iovec iov[2] = {
        {.iov_base = header, .iov_len = sizeof header},
        {.iov_base = (void *)payload, .iov_len = len},
    };
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1};
    if (nfds > 0) {
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }

    int64_t deadline = clock_ms() + MSG_SEND_TIMEOUT_MS;
    size_t left = sizeof header + len;
    while (left > 0) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(fd, deadline) == 0)
                continue;
            return -1;
        }
        /* The descriptors went with the first byte; never send them twice. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        left -= (size_t)n;
        size_t done = (size_t)n;
        while (done > 0 && mh.msg_iovlen > 0) {
            if (done >= mh.msg_iov[0].iov_len) {
                done -= mh.msg_iov[0].iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            } else {
                mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + done;
                mh.msg_iov[0].iov_len -= done;
                done = 0;
            }
        }
    }
    return 0;
}

void msg_reader_init(struct msg_reader *r, size_t max_payload)
{
    memset(r, 0, sizeof *r);
    r->max_payload = max_payload > 0 ? max_payload : MSG_PAYLOAD_MAX;
}

void msg_reader_free(struct msg_reader *r)
{
    close_all(r->fds, r->nfds);
    r->nfds = 0;
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

void msg_close_fds(struct msg *m)
{
    close_all(m->fds, m->nfds);
    m->nfds = 0;
}

static enum msg_status fail(struct msg_reader *r, int err)
{
    close_all(r->fds, r->nfds);
    r->nfds = 0;
    r->failed = err;
    errno = err;
    return MSG_ERR;
}

/* A complete message at r->start is handed out; MSG_AGAIN when more bytes
 * are needed (*need says how many in all, from r->start). */
static enum msg_status take(struct msg_reader *r, struct msg *out, size_t *need)
{
    size_t have = r->end - r->start;
    *need = MSG_HEADER_LEN;
    if (have < MSG_HEADER_LEN)
        return MSG_AGAIN;
    const unsigned char *h = r->buf + r->start;
    uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    int nfds = h[6];
    if (len > r->max_payload)
        return fail(r, EMSGSIZE);
    if (nfds > MSG_MAX_FDS || h[7] != 0)
        return fail(r, EPROTO);
    *need = MSG_HEADER_LEN + (size_t)len;
    if (have < *need)
        return MSG_AGAIN;
    /* The header's descriptors came with (or before) its first byte. */
    if (nfds > r->nfds)
        return fail(r, EPROTO);
    out->type = (uint16_t)(h[4] << 8 | h[5]);
    out->len = len;
    out->payload = h + MSG_HEADER_LEN;
    out->nfds = nfds;
    memcpy(out->fds, r->fds, sizeof(int) * (size_t)nfds);
    memmove(r->fds, r->fds + nfds, sizeof(int) * (size_t)(r->nfds - nfds));
    r->nfds -= nfds;
    r->start += *need;
    return MSG_OK;
}

/* Room for at least need bytes from r->start, and MSG_READ_MIN free. */
static int make_room(struct msg_reader *r, size_t need)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t want = need > r->end + MSG_READ_MIN ? need : r->end + MSG_READ_MIN;
    if (want <= r->cap)
        return 0;
    unsigned char *p = realloc(r->buf, want);
    if (p == NULL)
        return -1;
    r->buf = p;
    r->cap = want;
    return 0;
}

/* Queues the descriptors of one recvmsg; -1 when they do not fit or were
 * cut (the kernel closed what it could not deliver). */
static int collect_fds(struct msg_reader *r, struct msghdr *mh)
{
    int ok = (mh->msg_flags & MSG_CTRUNC) == 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)i, sizeof fd);
            if (r->nfds < (int)(sizeof r->fds / sizeof r->fds[0]))
                r->fds[r->nfds++] = fd;
            else {
                close(fd);
                ok = 0;
            }
        }
    }
    return ok ? 0 : -1;
}

enum msg_status msg_read(struct msg_reader *r, int fd, struct msg *out)
{
    out->nfds = 0;
    if (r->failed) {
        errno = r->failed;
        return MSG_ERR;
    }
    if (r->start == r->end)
        r->start = r->end = 0;
    for (;;) {
        size_t need;
        enum msg_status st = take(r, out, &need);
        if (st != MSG_AGAIN)
            return st;
        if (make_room(r, need) < 0)
            return fail(r, ENOMEM);

        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * MSG_MAX_FDS)];
        } control;
        struct iovec iov = {.iov_base = r->buf + r->end, .iov_len = r->cap - r->end};
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.buf,
            .msg_controllen = sizeof control.buf,
        };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return MSG_AGAIN;
            return fail(r, errno);
        }
        if (collect_fds(r, &mh) < 0)
            return fail(r, EPROTO);
        if (n == 0) {
            if (r->end > r->start || r->nfds > 0)
                return fail(r, EPROTO); /* the peer stopped inside a message */
            return MSG_EOF;
        }
        r->end += (size_t)n;
    }
}

#include "arch/common/admission.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/stream.h"

struct slot {
    pid_t owner; /* 0: free */
    union sockaddr_any ip;
};

struct admission {
    pthread_mutex_t lock;
    size_t map_size;
    int max_clients;
    int max_per_ip;
    int active;
    int hint;                            /* where the next free slot probably is */
    atomic_ulong refused[REFUSAL_KINDS]; /* lock-free: counted outside the lock */
    struct slot slots[];
};

struct admission *admission_new(int max_clients, int max_per_ip)
{
    size_t size = sizeof(struct admission) + (size_t)max_clients * sizeof(struct slot);
    struct admission *l =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (l == MAP_FAILED) {
        log_error("cannot map the connection table: %s", strerror(errno));
        return NULL;
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&l->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        log_error("cannot create the connection table lock: %s", strerror(rc));
        munmap(l, size);
        return NULL;
    }
    l->map_size = size;
    l->max_clients = max_clients;
    l->max_per_ip = max_per_ip;
    return l;
}

void admission_free(struct admission *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    munmap(l, l->map_size);
}

static void lock(struct admission *l)
{
    /* A worker killed while holding the lock leaves it EOWNERDEAD; the
     * table is still consistent (each update is a single store), so
     * recover it. */
    if (pthread_mutex_lock(&l->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&l->lock);
}

int admission_admit(struct admission *l, const union sockaddr_any *peer, pid_t owner,
                    enum refusal *why)
{
    lock(l);
    if (l->active >= l->max_clients) {
        pthread_mutex_unlock(&l->lock);
        *why = REFUSE_MAX_CLIENTS;
        return -1;
    }
    if (l->max_per_ip > 0) {
        int same = 0;
        for (int i = 0; i < l->max_clients; i++) {
            if (l->slots[i].owner != 0 && sockaddr_same_ip(&l->slots[i].ip, peer))
                same++;
        }
        if (same >= l->max_per_ip) {
            pthread_mutex_unlock(&l->lock);
            *why = REFUSE_MAX_PER_IP;
            return -1;
        }
    }
    int slot = l->hint;
    while (l->slots[slot].owner != 0)
        slot = (slot + 1) % l->max_clients;
    l->slots[slot].owner = owner;
    l->slots[slot].ip = *peer;
    l->active++;
    l->hint = (slot + 1) % l->max_clients;
    pthread_mutex_unlock(&l->lock);
    return slot;
}

void admission_release(struct admission *l, int slot)
{
    if (slot < 0)
        return;
    lock(l);
    if (l->slots[slot].owner != 0) {
        l->slots[slot].owner = 0;
        l->active--;
    }
    pthread_mutex_unlock(&l->lock);
}

void admission_hand_over(struct admission *l, int slot, pid_t from, pid_t to)
{
    lock(l);
    if (l->slots[slot].owner == from)
        l->slots[slot].owner = to;
    pthread_mutex_unlock(&l->lock);
}

void admission_release_owner(struct admission *l, pid_t owner)
{
    lock(l);
    for (int i = 0; i < l->max_clients; i++) {
        if (l->slots[i].owner == owner) {
            l->slots[i].owner = 0;
            l->active--;
        }
    }
    pthread_mutex_unlock(&l->lock);
}

int admission_active(struct admission *l)
{
    lock(l);
    int n = l->active;
    pthread_mutex_unlock(&l->lock);
    return n;
}

const char *refusal_reason(enum refusal why)
{
    switch (why) {
    case REFUSE_MAX_CLIENTS:
        return "max_clients reached";
    case REFUSE_MAX_PER_IP:
        return "max_per_ip reached";
    case REFUSE_SHUTTING_DOWN:
        return "shutting down";
    case REFUSE_NO_MEMORY:
        return "out of memory";
    case REFUSE_BUSY:
        return "every worker busy";
    case REFUSE_ONE_AT_A_TIME:
        return "serial: one session at a time";
    }
    return "refused";
}

void admission_refuse(struct admission *l, const struct ftpd_config *cfg, struct stream *ctrl,
                      enum refusal why, const union sockaddr_any *peer)
{
    if (l != NULL)
        atomic_fetch_add_explicit(&l->refused[why], 1, memory_order_relaxed);
    char name[SOCKADDR_STR_MAX];
    sockaddr_str(peer, name, sizeof name);
    log_warn("%s refused: %s", name, refusal_reason(why));
    struct buf out;
    buf_init(&out, 256);
    session_refuse(cfg, why, &out);
    /* One small reply on a fresh socket: the send buffer has room, and a
     * non-blocking write never waits for a peer that does not read. */
    size_t n;
    if (net_set_nonblock(ctrl->fd, true) == 0)
        stream_write(ctrl, buf_head(&out), out.len, &n);
    buf_free(&out);
    stream_close(ctrl);
}

void admission_refuse_fd(struct admission *l, const struct ftpd_config *cfg, int fd,
                         enum refusal why, const union sockaddr_any *peer)
{
    struct stream ctrl;
    stream_plain(&ctrl, fd);
    admission_refuse(l, cfg, &ctrl, why, peer);
}

unsigned long admission_refused(struct admission *l, enum refusal why)
{
    return atomic_load_explicit(&l->refused[why], memory_order_relaxed);
}

void admission_log_refusals(struct admission *l)
{
    char line[512];
    size_t len = 0;
    for (int why = 0; why < REFUSAL_KINDS; why++) {
        unsigned long n = admission_refused(l, (enum refusal)why);
        if (n == 0 || len >= sizeof line)
            continue;
        int w = snprintf(line + len, sizeof line - len, "%s%s %lu", len > 0 ? ", " : "",
                         refusal_reason((enum refusal)why), n);
        if (w > 0)
            len += (size_t)w;
    }
    log_info("refusals: %s", len > 0 ? line : "none");
}

#include "arch/limits.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ftpd/log.h"
#include "ftpd/net.h"

struct slot {
    pid_t owner; /* 0: free */
    union sockaddr_any ip;
};

struct conn_limits {
    pthread_mutex_t lock;
    size_t map_size;
    int max_clients;
    int max_per_ip;
    int active;
    int hint; /* where the next free slot probably is */
    struct slot slots[];
};

struct conn_limits *limits_new(int max_clients, int max_per_ip)
{
    size_t size = sizeof(struct conn_limits) + (size_t)max_clients * sizeof(struct slot);
    struct conn_limits *l =
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

void limits_free(struct conn_limits *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    munmap(l, l->map_size);
}

static void lock(struct conn_limits *l)
{
    /* A worker killed while holding the lock leaves it EOWNERDEAD; the
     * table is still consistent (each update is a single store), so
     * recover it. */
    if (pthread_mutex_lock(&l->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&l->lock);
}

int limits_admit(struct conn_limits *l, const union sockaddr_any *peer, pid_t owner,
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

void limits_release(struct conn_limits *l, int slot)
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

void limits_release_owner(struct conn_limits *l, pid_t owner)
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

int limits_active(struct conn_limits *l)
{
    lock(l);
    int n = l->active;
    pthread_mutex_unlock(&l->lock);
    return n;
}

void limits_turn_away(const struct ftpd_config *cfg, int fd, enum refusal why,
                      const union sockaddr_any *peer)
{
    char name[SOCKADDR_STR_MAX];
    sockaddr_str(peer, name, sizeof name);
    log_warn("%s refused: %s", name,
             why == REFUSE_MAX_PER_IP ? "max_per_ip reached" : "max_clients reached");
    struct buf out;
    buf_init(&out, 256);
    session_refuse(cfg, why, &out);
    size_t n;
    /* One small reply on a fresh socket: the send buffer always has room. */
    net_set_nonblock(fd, true);
    net_write(fd, buf_head(&out), out.len, &n);
    buf_free(&out);
    close(fd);
}

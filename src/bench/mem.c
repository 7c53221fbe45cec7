#include "bench/mem.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct proc_link {
    pid_t pid, ppid;
};

static int by_ppid(const void *a, const void *b)
{
    const struct proc_link *x = a, *y = b;
    return (x->ppid > y->ppid) - (x->ppid < y->ppid);
}

/* The parent of pid from /proc/PID/stat, or -1. The command name sits in
 * parentheses and may itself hold spaces and ')': parse after the last ')'. */
static pid_t parent_of(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    const char *p = ok ? strrchr(line, ')') : NULL;
    int ppid;
    char state;
    if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

/* Every process with its parent. Returns the count, or -1. */
static long list_processes(struct proc_link **out)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    struct proc_link *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        pid_t ppid = parent_of((pid_t)pid);
        if (ppid < 0)
            continue; /* exited meanwhile */
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            struct proc_link *nv = realloc(v, ncap * sizeof *nv);
            if (nv == NULL) {
                free(v);
                closedir(d);
                return -1;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = (struct proc_link){(pid_t)pid, ppid};
    }
    closedir(d);
    *out = v;
    return (long)n;
}

/* Sum of the "Pss:" lines of a smaps-format file, in KiB; -1 if unreadable. */
static int64_t pss_from(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[256];
    int64_t total = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        long long kib;
        if (strncmp(line, "Pss:", 4) == 0 && sscanf(line + 4, "%lld", &kib) == 1)
            total += kib;
    }
    fclose(f);
    return total;
}

static int64_t pss_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    int64_t kib = pss_from(path);
    if (kib >= 0 || errno != ENOENT)
        return kib;
    snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    return pss_from(path);
}

int64_t mem_tree_pss_kib(pid_t pid)
{
    int64_t root = pss_of(pid);
    if (root < 0)
        return -1;
    struct proc_link *all = NULL;
    long n = list_processes(&all);
    if (n < 0)
        return root;
    /* Sorted by parent, each process's children are one run: a breadth-
     * first walk is O(n log n) even with ten thousand per-session children. */
    qsort(all, (size_t)n, sizeof *all, by_ppid);
    pid_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
    if (queue == NULL) {
        free(all);
        return root;
    }
    int64_t total = root;
    size_t head = 0, tail = 0;
    queue[tail++] = pid;
    while (head < tail) {
        struct proc_link key = {.ppid = queue[head++]};
        struct proc_link *hit = bsearch(&key, all, (size_t)n, sizeof *all, by_ppid);
        if (hit == NULL)
            continue;
        while (hit > all && hit[-1].ppid == key.ppid)
            hit--;
        for (; hit < all + n && hit->ppid == key.ppid && tail <= (size_t)n; hit++) {
            queue[tail++] = hit->pid;
            int64_t kib = pss_of(hit->pid);
            if (kib > 0)
                total += kib;
        }
    }
    free(queue);
    free(all);
    return total;
}

int kmem_parse_meminfo(const char *line, const char *key, int64_t *kib)
{
    size_t n = strlen(key);
    long long v;
    if (strncmp(line, key, n) != 0 || line[n] != ':' || sscanf(line + n + 1, "%lld", &v) != 1)
        return -1;
    *kib = v;
    return 0;
}

int kmem_parse_sockstat(const char *line, int64_t *pages)
{
    if (strncmp(line, "TCP:", 4) != 0)
        return -1;
    const char *m = strstr(line, " mem ");
    long long v;
    if (m == NULL || sscanf(m + 5, "%lld", &v) != 1)
        return -1;
    *pages = v;
    return 0;
}

void kmem_read_none(struct kmem *k)
{
    *k = (struct kmem){-1, -1, -1};
}

void kmem_read(struct kmem *k)
{
    kmem_read_none(k);
    char line[256];
    FILE *f = fopen("/proc/meminfo", "re");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            if (kmem_parse_meminfo(line, "Slab", &k->slab_kib) < 0)
                (void)kmem_parse_meminfo(line, "SUnreclaim", &k->sunreclaim_kib);
        }
        fclose(f);
    }
    /* TCP over IPv4 and IPv6 share one memory account: sockstat has it. */
    f = fopen("/proc/net/sockstat", "re");
    if (f != NULL) {
        int64_t pages;
        long page_kib = sysconf(_SC_PAGESIZE) / 1024;
        while (fgets(line, sizeof line, f) != NULL) {
            if (kmem_parse_sockstat(line, &pages) == 0 && page_kib > 0)
                k->tcp_mem_kib = pages * page_kib;
        }
        fclose(f);
    }
}

int64_t kmem_per_session(const struct kmem *before, const struct kmem *after, uint64_t n)
{
    if (n == 0 || before->slab_kib < 0 || after->slab_kib < 0 || before->tcp_mem_kib < 0 ||
        after->tcp_mem_kib < 0)
        return -1;
    int64_t kib = (after->slab_kib - before->slab_kib) + (after->tcp_mem_kib - before->tcp_mem_kib);
    return kib * 1024 / (int64_t)n;
}

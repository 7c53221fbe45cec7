/* Memory of a server: PSS of a process and all its descendants.
 *
 * PSS (proportional set size) charges each shared page to the processes
 * mapping it in equal parts, so the sum over a forking server counts its
 * shared text and copy-on-write pages once, not once per child as RSS
 * would. Threads share their process's address space and are not listed
 * separately. */
#ifndef FTPBENCH_MEM_H
#define FTPBENCH_MEM_H

#include <stdint.h>
#include <sys/types.h>

/* KiB, or -1 when pid does not exist or its memory cannot be read. Reads
 * /proc/PID/smaps_rollup (Linux 4.14+), else sums /proc/PID/smaps.
 * Processes that exit while being measured are skipped. */
int64_t mem_tree_pss_kib(pid_t pid);

/* The kernel's memory, machine-wide: what a run's sockets cost the kernel
 * is the difference between two readings (other activity on the machine
 * lands in it too). Each figure is -1 when it could not be read. */
struct kmem {
    int64_t slab_kib;       /* /proc/meminfo Slab: socket, file, epoll objects ... */
    int64_t sunreclaim_kib; /* /proc/meminfo SUnreclaim: the part of Slab held for good */
    int64_t tcp_mem_kib;    /* /proc/net/sockstat TCP "mem" (pages of socket buffers) */
};

void kmem_read(struct kmem *k);
/* Every figure -1 (not measured). */
void kmem_read_none(struct kmem *k);
/* The cost of one session between two readings: (Slab + TCP buffers) / n,
 * in bytes; -1 when a figure is missing or n is 0. */
int64_t kmem_per_session(const struct kmem *before, const struct kmem *after, uint64_t n);
/* Parse one "Key:   123 kB" line of /proc/meminfo for key: 0 with the value
 * in *kib, else -1. Parse "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 3" of
 * /proc/net/sockstat: 0 with the pages in *pages, else -1. */
int kmem_parse_meminfo(const char *line, const char *key, int64_t *kib);
int kmem_parse_sockstat(const char *line, int64_t *pages);

#endif

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

#endif

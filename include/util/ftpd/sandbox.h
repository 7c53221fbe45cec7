/* Syscall filter (issue 15, seccomp = yes|no|log): a seccomp-bpf
 * allow-list of the syscalls ftpd makes once it serves. main() installs
 * it after start-up (listeners, TLS key, logs, pid file, privilege drop),
 * on every thread at once; every process forked later inherits it, and a
 * live upgrade's new binary runs under it and adds its own.
 *
 * yes: a syscall outside the list is never run; the process writes
 *      "ftpd: seccomp: forbidden syscall NAME (NR)" to fd 2 (the log file,
 *      or stderr) and dies of SIGSYS. The kernel traps it (SCMP_ACT_TRAP)
 *      into a SIGSYS handler that writes the line with write(2) and then
 *      raises SIGSYS with the default action: a KILL_PROCESS filter would
 *      kill the process before anything could name the syscall.
 * log: development mode; a syscall outside the list runs and the kernel
 *      logs it (audit, dmesg), to find what a new feature needs.
 * no:  no filter.
 *
 * Builds without libseccomp, sanitizer builds (ASan, UBSan, TSan make
 * syscalls of their own) and kernels without seccomp never filter:
 * sandbox_unavailable() says why, main() logs it. */
#ifndef FTPD_SANDBOX_H
#define FTPD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "ftpd/config.h"

/* NULL when this build and kernel can filter, else why not ("sanitizer
 * build"). */
const char *sandbox_unavailable(void);

/* Install the filter for mode on every thread of the process. 0 (also for
 * SECCOMP_NO and when unavailable: nothing done), or -1 with err set. */
int sandbox_install(enum seccomp_mode mode, char *err, size_t errlen);

#endif

/* Entry points of the back-ends, for the registry. */
#ifndef FTPD_ARCH_BACKENDS_H
#define FTPD_ARCH_BACKENDS_H

#include "ftpd/arch.h"

int arch_serial_run(const struct ftpd_server *srv);
int arch_process_run(const struct ftpd_server *srv);
int arch_thread_run(const struct ftpd_server *srv);
int arch_prefork_run(const struct ftpd_server *srv);
int arch_threadpool_run(const struct ftpd_server *srv);
int arch_reactor_run(const struct ftpd_server *srv);
int arch_hybrid_run(const struct ftpd_server *srv);

#endif

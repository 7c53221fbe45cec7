/* SIGHUP in the patterns whose one accepting loop polls the listeners
 * (process, thread, threadpool with an acceptor): a new generation for the
 * sessions that start afterwards (ftpd/generation.h), and the new
 * listeners polled. */
#ifndef FTPD_ARCH_COMMON_RELOAD_H
#define FTPD_ARCH_COMMON_RELOAD_H

#include "arch/common/acceptor.h"
#include "ftpd/arch.h"

/* Reload from (*cur)->gens; on success *cur is the new generation's view
 * (the listeners to stop and to close in a child from now on) and ap polls
 * its listeners (the removed ones closed). fixed: RELOAD_FIXED_* flags.
 * Nothing changes on failure (logged). */
void reload_accept_poll(struct accept_poll *ap, const struct ftpd_server **cur, unsigned fixed);

#endif

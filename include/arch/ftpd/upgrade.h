/* Live binary upgrade (SIGUSR2), the parts main() plays.
 *
 * In the running (old) generation, SIGUSR2 makes the process main()
 * started fork and exec the same program path with the same arguments
 * (upgrade_plan_init resolves argv[0] at start, as nginx does: the file at
 * that path may have been replaced, which is the point), handing it every
 * listening socket by number (LISTEN_FDS, as socket activation does) and
 * one end of a socketpair as FTPD_UPGRADE_FD. The new generation adopts the
 * listeners, sets up, and reports MSG_UPG_READY (ftpd/msg.h) on it; only
 * then does the old one stop accepting and drain. The old side lives in
 * src/arch/common/upgrade.c. */
#ifndef FTPD_UPGRADE_H
#define FTPD_UPGRADE_H

#include <limits.h>

/* What an upgrade executes. */
struct exec_plan {
    char path[PATH_MAX]; /* argv[0] made absolute at start (symlinks kept) */
    char *const *argv;   /* main()'s argv, NULL-terminated */
    /* Started by an upgrade: the channel to the old generation, on which
     * the back-end reports ready once it is set up (the main process's
     * ctl_events_enable_upgrade, arch/common/upgrade.h), then closed; -1:
     * none (upgrade_channel_take). */
    int ready_channel;
};

/* Resolve argv[0]: absolute as is, relative to the current directory when
 * it holds a '/', else searched in PATH. ready_channel is set to -1. 0, or
 * -1 (logged: no upgrade). */
int upgrade_plan_init(struct exec_plan *p, char *const *argv);

/* The new generation: the channel passed in FTPD_UPGRADE_FD (unset here),
 * close-on-exec; -1 when this start is no upgrade. */
int upgrade_channel_take(void);

/* The new generation is ready to serve (listeners adopted, everything
 * loaded): tell the old one. 0, or -1 (logged). */
int upgrade_report_ready(int channel);

#endif

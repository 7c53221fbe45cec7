/* Dropping root (run_as_user). Started as root to bind port 21 or 990 and
 * to open root-only files, ftpd becomes run_as_user before it serves:
 * supplementary groups, gid, uid, then a check that root cannot be taken
 * back, then PR_SET_NO_NEW_PRIVS. Done by main() before the back-end starts,
 * so every worker, thread and child is born unprivileged.
 *
 *   started as   run_as_user      result
 *   root         "" (default)     becomes ftp
 *   root         NAME             becomes NAME (NAME must not have uid 0)
 *   root         root             stays root, said in the log (explicit only)
 *   other        ""               no change
 *   other        its own name     no change
 *   other        another name     error: only root can switch users */
#ifndef FTPD_PRIVDROP_H
#define FTPD_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PRIVDROP_DEFAULT_USER "ftp"

struct privdrop {
    bool drop; /* false: stay who we are */
    uid_t uid;
    gid_t gid;
    char name[65];
};

/* Decide, from run_as_user and who we run as; looks the user up (NSS)
 * before anything is bound. 0, or -1 with err filled. */
int privdrop_plan(const char *run_as_user, struct privdrop *out, char *err, size_t errlen);

/* Become p's user. 0 (also when p->drop is false), or -1 with err filled:
 * then the caller must exit, never serve. */
int privdrop_apply(const struct privdrop *p, char *err, size_t errlen);

#endif

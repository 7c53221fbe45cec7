/* Dropping root (ftpd/privdrop.h). */
#include "ftpd/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* getpwnam_r with a buffer sized by sysconf (or 16 KiB). 0 with *pw
 * filled, 1 when there is no such user, -1 on a lookup error (errno). */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t size = hint > 0 ? (size_t)hint : 16384;
    char *buf = malloc(size);
    if (buf == NULL)
        return -1;
    struct passwd pwd, *found = NULL;
    int rc = getpwnam_r(name, &pwd, buf, size, &found);
    if (rc == 0 && found != NULL) {
        *uid = pwd.pw_uid;
        *gid = pwd.pw_gid;
    }
    free(buf);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return found == NULL ? 1 : 0;
}

int privdrop_plan(const char *run_as_user, struct privdrop *out, char *err, size_t errlen)
{
    *out = (struct privdrop){.drop = false};
    bool root = geteuid() == 0;
    const char *name = run_as_user;
    if (name[0] == '\0') {
        if (!root)
            return 0;
        name = PRIVDROP_DEFAULT_USER;
    }
    if (strlen(name) >= sizeof out->name) {
        snprintf(err, errlen, "run_as_user: name too long");
        return -1;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    if (root && strcmp(name, "root") == 0)
        return 0; /* asked for explicitly: main() says so in the log */
    int rc = lookup_user(name, &out->uid, &out->gid);
    if (rc < 0) {
        snprintf(err, errlen, "run_as_user '%s': cannot look the user up: %s", name,
                 strerror(errno));
        return -1;
    }
    if (rc > 0) {
        snprintf(err, errlen,
                 "run_as_user '%s': no such user (create it, e.g. useradd --system "
                 "--no-create-home --shell /usr/sbin/nologin %s, or set run_as_user)",
                 name, name);
        return -1;
    }
    if (!root) {
        if (out->uid == geteuid())
            return 0;
        snprintf(err, errlen,
                 "run_as_user '%s': ftpd runs as uid %ld, and only root can become another "
                 "user",
                 name, (long)geteuid());
        return -1;
    }
    if (out->uid == 0) {
        snprintf(err, errlen,
                 "run_as_user '%s' has uid 0: that is root; write run_as_user = root to "
                 "keep root on purpose",
                 name);
        return -1;
    }
    out->drop = true;
    return 0;
}

int privdrop_apply(const struct privdrop *p, char *err, size_t errlen)
{
    if (!p->drop)
        return 0;
    /* Groups first, while we still may: initgroups sets the user's own
     * supplementary groups (setgroups underneath), then gid, then uid. */
    if (initgroups(p->name, p->gid) != 0) {
        snprintf(err, errlen, "run_as_user '%s': initgroups: %s", p->name, strerror(errno));
        return -1;
    }
    if (setgid(p->gid) != 0) {
        snprintf(err, errlen, "run_as_user '%s': setgid(%ld): %s", p->name, (long)p->gid,
                 strerror(errno));
        return -1;
    }
    if (setuid(p->uid) != 0) {
        snprintf(err, errlen, "run_as_user '%s': setuid(%ld): %s", p->name, (long)p->uid,
                 strerror(errno));
        return -1;
    }
    /* setuid as root sets the real, effective and saved ids: there must be
     * no way back. If either call succeeds something kept root. */
    if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != p->uid || geteuid() != p->uid ||
        getgid() != p->gid || getegid() != p->gid) {
        snprintf(err, errlen, "run_as_user '%s': root could be regained after the switch", p->name);
        return -1;
    }
    /* No exec'd binary (none is, but a future upgrade re-exec is) can gain
     * privileges through setuid bits or file capabilities. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    return 0;
}

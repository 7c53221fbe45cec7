/* An idle session's state as a versioned record (ftpd/session_record.h):
 * export from a session, encode, decode with every check, import into a
 * new session. */
#include "ftpd/session_record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "path.h"
#include "session_impl.h"

enum {
    REC_LOGGED_IN = 1 << 0,
    REC_ANONYMOUS = 1 << 1,
    REC_USER_GIVEN = 1 << 2,
    REC_USER_ANON = 1 << 3,
    REC_HAVE_USER_NAME = 1 << 4,
    REC_TYPE_ASCII = 1 << 5,
    REC_EPSV_ALL = 1 << 6,
    REC_HAVE_PORT = 1 << 7,
    REC_HAVE_PASV = 1 << 8,
    REC_FLAGS_ALL = (1 << 9) - 1,
};

/* ---- session <-> record ------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1; /* never: the session bounds each one the same way */
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int session_record_export(const struct session *s, struct session_record *r, const char **why)
{
    if (s->tls_on) {
        *why = "TLS session";
        return -1;
    }
    if (s->in_transfer || s->job != NULL || s->abort_pending) {
        *why = "transfer running";
        return -1;
    }
    if (s->work != NULL || s->work_user != NULL || s->delaying) {
        *why = "login check running";
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->logged_in = s->logged_in;
    r->anonymous = s->logged_in && s->account == NULL;
    r->user_given = s->user_given;
    r->user_anon = s->user_anon;
    if (s->logged_in && s->account != NULL) {
        copy_str(r->user, sizeof r->user, s->account->name);
    } else if (!s->logged_in && s->user_name != NULL) {
        r->have_user_name = true;
        copy_str(r->user, sizeof r->user, s->user_name);
    }
    r->type_ascii = s->type_ascii;
    r->epsv_all = s->epsv_all;
    r->have_port = s->have_port;
    r->have_pasv = s->pasv_fd >= 0;
    r->prelogin_commands = s->prelogin_commands;
    r->login_failures = s->login_failures;
    r->rest = s->rest;
    r->pasv_rng = s->pasv_rng;
    r->files_sent = s->files_sent;
    r->bytes_sent = s->bytes_sent;
    r->files_received = s->files_received;
    r->bytes_received = s->bytes_received;
    r->local = s->local;
    r->peer = s->peer;
    if (s->have_port)
        r->port_addr = s->port_addr;
    copy_str(r->cwd, sizeof r->cwd, session_cwd(s));
    if (s->rnfr != NULL)
        copy_str(r->rnfr, sizeof r->rnfr, s->rnfr);
    return 0;
}

int session_record_pasv_fd(const struct session *s)
{
    return s->pasv_fd;
}

/* Log in s as r says, under this generation's config and accounts. */
static int import_login(struct session *s, const struct session_record *r, const char **why)
{
    if (r->anonymous) {
        if (!s->cfg->anonymous) {
            *why = "anonymous login is off now";
            return -1;
        }
        session_logged_in_as(s, "anonymous", session_anonymous_perms(s->cfg));
        return 0;
    }
    const struct user *u = users_find(s->users, r->user);
    if (u == NULL) {
        *why = "the account is gone";
        return -1;
    }
    int fd = open(u->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        *why = "cannot open the account's home";
        return -1;
    }
    s->own_root_fd = s->root_fd = fd;
    s->account = u;
    session_logged_in_as(s, u->name, u->perms);
    return 0;
}

struct session *session_record_import(const struct session_record *r, const struct ftpd_config *cfg,
                                      int root_fd, const struct users *users, int pasv_fd,
                                      const char **why)
{
    struct session *s = session_new(cfg, root_fd, &r->local, &r->peer);
    if (s == NULL) {
        if (pasv_fd >= 0)
            close(pasv_fd);
        *why = "out of memory";
        return NULL;
    }
    session_set_users(s, users);
    s->pasv_fd = pasv_fd; /* freed with s from here on */
    if (r->logged_in && import_login(s, r, why) < 0)
        goto fail;
    if (!r->logged_in && r->have_user_name) {
        s->user_name = strdup(r->user);
        if (s->user_name == NULL)
            goto oom;
    }
    if (strcmp(r->cwd, "/") != 0 && (s->cwd = strdup(r->cwd)) == NULL)
        goto oom;
    if (r->rnfr[0] != '\0' && (s->rnfr = strdup(r->rnfr)) == NULL)
        goto oom;
    s->user_given = r->user_given;
    s->user_anon = r->user_anon;
    s->type_ascii = r->type_ascii;
    s->epsv_all = r->epsv_all;
    s->have_port = r->have_port;
    if (r->have_port)
        s->port_addr = r->port_addr;
    s->prelogin_commands = r->prelogin_commands;
    s->login_failures = r->login_failures;
    s->rest = r->rest;
    s->pasv_rng = r->pasv_rng;
    s->files_sent = r->files_sent;
    s->bytes_sent = r->bytes_sent;
    s->files_received = r->files_received;
    s->bytes_received = r->bytes_received;
    return s;
oom:
    *why = "out of memory";
fail:
    session_free(s);
    return NULL;
}

/* ---- bytes ------------------------------------------------------------- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p = put16(p, (uint16_t)(v >> 16));
    return put16(p, (uint16_t)v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
}

static uint16_t get16(const uint8_t **p)
{
    uint16_t v = (uint16_t)((*p)[0] << 8 | (*p)[1]);
    *p += 2;
    return v;
}

static uint32_t get32(const uint8_t **p)
{
    uint32_t hi = get16(p);
    return hi << 16 | get16(p);
}

static uint64_t get64(const uint8_t **p)
{
    uint64_t hi = get32(p);
    return hi << 32 | get32(p);
}

/* An address in SESSION_RECORD_ADDR bytes: family (4 or 6; 0: none),
 * port, flow info, 16 address bytes (IPv4: the first 4), scope id. */
static uint8_t *put_addr(uint8_t *p, const union sockaddr_any *a)
{
    uint8_t *end = p + SESSION_RECORD_ADDR;
    memset(p, 0, SESSION_RECORD_ADDR);
    if (a->sa.sa_family == AF_INET) {
        p = put16(p, 4);
        p = put16(p, (uint16_t)sockaddr_port(a));
        p = put32(p, 0);
        memcpy(p, &a->in.sin_addr, 4);
    } else if (a->sa.sa_family == AF_INET6) {
        p = put16(p, 6);
        p = put16(p, (uint16_t)sockaddr_port(a));
        p = put32(p, ntohl(a->in6.sin6_flowinfo));
        memcpy(p, &a->in6.sin6_addr, 16);
        put32(p + 16, a->in6.sin6_scope_id);
    }
    return end;
}

/* 0, or -1 for an unknown family (0 is accepted when !required). */
static int get_addr(const uint8_t **p, union sockaddr_any *a, bool required)
{
    const uint8_t *end = *p + SESSION_RECORD_ADDR;
    memset(a, 0, sizeof *a);
    uint16_t family = get16(p);
    uint16_t port = get16(p);
    uint32_t flow = get32(p);
    const uint8_t *addr = *p;
    *p = end;
    if (family == 4) {
        a->in.sin_family = AF_INET;
        a->in.sin_port = htons(port);
        memcpy(&a->in.sin_addr, addr, 4);
        return 0;
    }
    if (family == 6) {
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons(port);
        a->in6.sin6_flowinfo = htonl(flow);
        memcpy(&a->in6.sin6_addr, addr, 16);
        const uint8_t *scope = addr + 16;
        a->in6.sin6_scope_id = get32(&scope);
        return 0;
    }
    return family == 0 && !required ? 0 : -1;
}

size_t session_record_encode(const struct session_record *r, uint8_t *out)
{
    unsigned flags = (r->logged_in ? REC_LOGGED_IN : 0) | (r->anonymous ? REC_ANONYMOUS : 0) |
                     (r->user_given ? REC_USER_GIVEN : 0) | (r->user_anon ? REC_USER_ANON : 0) |
                     (r->have_user_name ? REC_HAVE_USER_NAME : 0) |
                     (r->type_ascii ? REC_TYPE_ASCII : 0) | (r->epsv_all ? REC_EPSV_ALL : 0) |
                     (r->have_port ? REC_HAVE_PORT : 0) | (r->have_pasv ? REC_HAVE_PASV : 0);
    size_t user_len = strnlen(r->user, sizeof r->user - 1);
    size_t cwd_len = strnlen(r->cwd, sizeof r->cwd - 1);
    size_t rnfr_len = strnlen(r->rnfr, sizeof r->rnfr - 1);
    uint8_t *p = out;
    p = put32(p, SESSION_RECORD_MAGIC);
    p = put16(p, SESSION_RECORD_VERSION);
    p = put16(p, (uint16_t)flags);
    p = put16(p, r->prelogin_commands);
    p = put16(p, r->login_failures);
    p = put16(p, (uint16_t)user_len);
    p = put16(p, (uint16_t)cwd_len);
    p = put16(p, (uint16_t)rnfr_len);
    p = put64(p, r->rest);
    p = put64(p, r->pasv_rng);
    p = put64(p, r->files_sent);
    p = put64(p, r->bytes_sent);
    p = put64(p, r->files_received);
    p = put64(p, r->bytes_received);
    p = put_addr(p, &r->local);
    p = put_addr(p, &r->peer);
    p = put_addr(p, &r->port_addr);
    memcpy(p, r->user, user_len);
    p += user_len;
    memcpy(p, r->cwd, cwd_len);
    p += cwd_len;
    memcpy(p, r->rnfr, rnfr_len);
    p += rnfr_len;
    return (size_t)(p - out);
}

/* len bytes at *p into dst (NUL-terminated): no NUL, CR or LF inside. */
static int get_str(const uint8_t **p, size_t len, char *dst)
{
    memcpy(dst, *p, len);
    dst[len] = '\0';
    *p += len;
    return strcspn(dst, "\r\n") == len ? 0 : -1; /* strcspn stops at a NUL too */
}

/* An absolute path that path_join leaves as it is: no "..", ".", "//" or
 * trailing '/', so it names nothing outside the root even as a string. */
static bool vpath_ok(const char *vpath)
{
    char norm[FTPD_PATH_MAX];
    return vpath[0] == '/' && path_join("/", vpath, norm, sizeof norm) == 0 &&
           strcmp(norm, vpath) == 0;
}

int session_record_decode(const uint8_t *in, size_t len, struct session_record *r, const char **why)
{
    const uint8_t *p = in;
    memset(r, 0, sizeof *r);
    if (len < 6 || get32(&p) != SESSION_RECORD_MAGIC) {
        *why = len < 6 ? "truncated record" : "not a session record";
        return -1;
    }
    if (get16(&p) != SESSION_RECORD_VERSION) {
        *why = "session record of another version";
        return -1;
    }
    if (len < SESSION_RECORD_MIN) {
        *why = "truncated record";
        return -1;
    }
    unsigned flags = get16(&p);
    r->prelogin_commands = get16(&p);
    r->login_failures = get16(&p);
    size_t user_len = get16(&p), cwd_len = get16(&p), rnfr_len = get16(&p);
    if (user_len > FTPD_USER_NAME_MAX || cwd_len == 0 || cwd_len >= FTPD_PATH_MAX ||
        rnfr_len >= FTPD_PATH_MAX) {
        *why = "bad length in session record";
        return -1;
    }
    size_t want = SESSION_RECORD_MIN + user_len + cwd_len + rnfr_len;
    if (len != want) {
        *why = len < want ? "truncated record" : "oversize record";
        return -1;
    }
    if (flags & ~(unsigned)REC_FLAGS_ALL) {
        *why = "unknown flags in session record";
        return -1;
    }
    r->logged_in = flags & REC_LOGGED_IN;
    r->anonymous = flags & REC_ANONYMOUS;
    r->user_given = flags & REC_USER_GIVEN;
    r->user_anon = flags & REC_USER_ANON;
    r->have_user_name = flags & REC_HAVE_USER_NAME;
    r->type_ascii = flags & REC_TYPE_ASCII;
    r->epsv_all = flags & REC_EPSV_ALL;
    r->have_port = flags & REC_HAVE_PORT;
    r->have_pasv = flags & REC_HAVE_PASV;
    r->rest = get64(&p);
    r->pasv_rng = get64(&p);
    r->files_sent = get64(&p);
    r->bytes_sent = get64(&p);
    r->files_received = get64(&p);
    r->bytes_received = get64(&p);
    if (get_addr(&p, &r->local, true) < 0 || get_addr(&p, &r->peer, true) < 0 ||
        get_addr(&p, &r->port_addr, r->have_port) < 0 ||
        (!r->have_port && r->port_addr.sa.sa_family != 0)) {
        *why = "bad address in session record";
        return -1;
    }
    if (get_str(&p, user_len, r->user) < 0 || get_str(&p, cwd_len, r->cwd) < 0 ||
        get_str(&p, rnfr_len, r->rnfr) < 0) {
        *why = "bad string in session record";
        return -1;
    }
    if (!vpath_ok(r->cwd) || (rnfr_len > 0 && !vpath_ok(r->rnfr))) {
        *why = "path outside the root in session record";
        return -1;
    }
    /* The login states the session itself can be in. */
    bool login_ok = r->logged_in ? !r->user_given && !r->have_user_name &&
                                       (r->anonymous ? user_len == 0 : user_len > 0)
                                 : !r->anonymous && (r->have_user_name || user_len == 0) &&
                                       (!r->user_given || r->have_user_name);
    if (!login_ok || r->login_failures > 100 || r->prelogin_commands > FTPD_PRELOGIN_MAX + 1) {
        *why = "inconsistent login state in session record";
        return -1;
    }
    return 0;
}

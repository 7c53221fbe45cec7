/* FTPS commands (RFC 4217, RFC 2228): AUTH, PBSZ, PROT, CCC, and the
 * rules tls = required and tls_data = required add to others. The core
 * only keeps the state and says what to do; the connection loops wrap the
 * control stream after AUTH's 234 (STEP_TLS), and the data stream of a
 * PROT P transfer is wrapped by net/datastream.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "session_impl.h"

enum step cmd_auth(struct session *s, const char *arg, struct buf *out)
{
    if (s->cfg->tls == TLS_OFF) {
        reply(out, 502, "AUTH not supported (TLS is off).");
        return STEP_CONTINUE;
    }
    if (s->tls_on) {
        reply(out, 503, "Already using TLS.");
        return STEP_CONTINUE;
    }
    /* "SSL" and "TLS-C" name the same thing in old clients. */
    if (strcasecmp(arg, "TLS") != 0 && strcasecmp(arg, "SSL") != 0 &&
        strcasecmp(arg, "TLS-C") != 0) {
        reply(out, 504, "AUTH %s not supported; use AUTH TLS.", arg);
        return STEP_CONTINUE;
    }
    reply(out, 234, "Proceed with negotiation.");
    return STEP_TLS;
}

void session_tls_started(struct session *s, const struct stream *ctrl, bool implicit)
{
    s->tls_on = true;
    s->tls_ctrl = ctrl;
    /* Implicit FTPS: PBSZ 0 and PROT P are implied. */
    s->tls_pbsz = implicit;
    s->tls_prot_p = implicit;
}

enum step cmd_pbsz(struct session *s, const char *arg, struct buf *out)
{
    if (!s->tls_on) {
        reply(out, 503, "PBSZ needs AUTH TLS first.");
        return STEP_CONTINUE;
    }
    /* TLS has no buffer size: any valid number is answered with 0. */
    if (strspn(arg, "0123456789") != strlen(arg)) {
        reply(out, 501, "PBSZ needs a decimal number.");
        return STEP_CONTINUE;
    }
    s->tls_pbsz = true;
    reply(out, 200, "PBSZ=0");
    return STEP_CONTINUE;
}

enum step cmd_prot(struct session *s, const char *arg, struct buf *out)
{
    if (!s->tls_on || !s->tls_pbsz) {
        reply(out, 503, "PROT needs %s first.", s->tls_on ? "PBSZ" : "AUTH TLS");
        return STEP_CONTINUE;
    }
    if (strcasecmp(arg, "P") == 0 || strcasecmp(arg, "C") == 0) {
        s->tls_prot_p = strcasecmp(arg, "P") == 0;
        reply(out, 200, "Protection level set to %s.", s->tls_prot_p ? "Private" : "Clear");
    } else if (strcasecmp(arg, "S") == 0 || strcasecmp(arg, "E") == 0) {
        reply(out, 536, "PROT %s not supported; use P or C.", arg);
    } else {
        reply(out, 504, "Unknown protection level.");
    }
    return STEP_CONTINUE;
}

enum step cmd_ccc(struct session *s, const char *arg, struct buf *out)
{
    /* Dropping to clear text would undo tls = required, and stock clients
     * never need it. */
    reply(out, 534, "CCC not allowed.");
    return STEP_CONTINUE;
}

bool tls_login_allowed(struct session *s, struct buf *out)
{
    if (s->cfg->tls != TLS_REQUIRED || s->tls_on)
        return true;
    reply(out, 530, "TLS required: send AUTH TLS before USER and PASS.");
    return false;
}

bool tls_data_allowed(struct session *s, struct buf *out)
{
    if (!s->cfg->tls_data_required || s->tls_prot_p || s->cfg->tls == TLS_OFF)
        return true;
    reply(out, 521, "Data connections must be protected: send PBSZ 0 and PROT P.");
    return false;
}

/* The session state record of the live upgrade's handover
 * (src/core/session_record.c): what an older generation sends is decoded
 * with every check. Invariants: decode either fails with a reason or gives
 * a record that encodes to at most SESSION_RECORD_MAX bytes and decodes
 * back to the same bytes (a stable round trip); importing it gives a
 * session (or a refusal with a reason) whose replies to a few commands
 * are well-formed and whose paths stay in its tree.
 * Needs: src/core/session_record.c include/core/ftpd/session_record.h */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "ftpd/session_record.h"

static char base[64];
static int root_fd = -1;
static struct ftpd_config cfg;

static void cleanup(void)
{
    char c[128];
    snprintf(c, sizeof c, "rm -rf '%s'", base);
    if (system(c) != 0)
        fprintf(stderr, "could not remove %s\n", base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_mkdtemp(base, sizeof base, "record");
    atexit(cleanup);
    char p[256];
    snprintf(p, sizeof p, "%s/dir", base);
    if (mkdir(p, 0755) != 0)
        abort();
    root_fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    config_defaults(&cfg);
    log_set_level(LOG_LVL_ERROR);
    return root_fd < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct session_record r, back;
    static uint8_t enc[SESSION_RECORD_MAX], enc2[SESSION_RECORD_MAX];
    const char *why = NULL;
    if (session_record_decode(data, size, &r, &why) != 0) {
        FUZZ_ASSERT(why != NULL && why[0] != '\0', "decode failed without a reason");
        return 0;
    }
    size_t n = session_record_encode(&r, enc);
    FUZZ_ASSERT(n >= SESSION_RECORD_MIN && n <= SESSION_RECORD_MAX, "encoded %zu bytes", n);
    why = NULL;
    FUZZ_ASSERT(session_record_decode(enc, n, &back, &why) == 0, "re-decode failed: %s", why);
    size_t n2 = session_record_encode(&back, enc2);
    FUZZ_ASSERT(n2 == n && memcmp(enc, enc2, n) == 0, "round trip not stable");
    FUZZ_ASSERT(r.cwd[0] == '/', "cwd '%s'", r.cwd);

    /* no passive listener travels with a fuzzed record */
    struct session *s = session_record_import(&r, &cfg, root_fd, NULL, -1, &why);
    if (s == NULL) {
        FUZZ_ASSERT(why != NULL && why[0] != '\0', "import failed without a reason");
        return 0;
    }
    static const char *const lines[] = {"PWD", "STAT", "CWD ..", "PWD", "LIST", "RNTO x", "QUIT"};
    struct buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        enum step st = session_command(s, lines[i], strlen(lines[i]), &out);
        fuzz_check_replies(buf_head(&out), out.len);
        FUZZ_ASSERT(out.len > 0, "'%s' got no reply", lines[i]);
        buf_clear(&out);
        if (st == STEP_TRANSFER)
            session_transfer_done(s, XFER_NO_CONN, 0, &out);
        if (st == STEP_CLOSE)
            break;
        buf_clear(&out);
    }
    buf_free(&out);
    session_free(s);
    return 0;
}

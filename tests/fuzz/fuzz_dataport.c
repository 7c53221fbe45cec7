/* PORT/EPRT/PASV/EPSV arguments: the parsers (src/core/dataport.c) on
 * their own, checked by a round trip (a parsed address printed back in the
 * canonical form parses to the same address), then the same argument
 * given to each of the four commands of a logged-in session, whose reply
 * must be well-formed. The first input byte picks the command.
 * Needs: src/core/dataport.c */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "session_impl.h"
#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/session.h"

static struct ftpd_config cfg;
static int root_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    config_defaults(&cfg);
    log_set_level(LOG_LVL_ERROR);
    root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC); /* never read here */
    return root_fd < 0 ? -1 : 0;
}

static bool same_addr(const union sockaddr_any *a, const union sockaddr_any *b)
{
    return sockaddr_same_ip(a, b) && sockaddr_port(a) == sockaddr_port(b);
}

static void check_parsers(const char *arg)
{
    union sockaddr_any a, b;
    char text[128], ip[INET6_ADDRSTRLEN];
    if (dataport_parse_port(arg, &a) == 0) {
        FUZZ_ASSERT(a.sa.sa_family == AF_INET, "PORT family %d", a.sa.sa_family);
        uint32_t h = ntohl(a.in.sin_addr.s_addr);
        int port = sockaddr_port(&a);
        snprintf(text, sizeof text, "%u,%u,%u,%u,%d,%d", h >> 24, h >> 16 & 255, h >> 8 & 255,
                 h & 255, port >> 8, port & 255);
        FUZZ_ASSERT(dataport_parse_port(text, &b) == 0 && same_addr(&a, &b),
                    "PORT '%s' -> '%s' does not round-trip", arg, text);
    }
    int r = dataport_parse_eprt(arg, &a);
    FUZZ_ASSERT(r == 0 || r == -1 || r == -2, "EPRT parser returned %d", r);
    if (r == 0) {
        FUZZ_ASSERT(a.sa.sa_family == AF_INET || a.sa.sa_family == AF_INET6, "EPRT family %d",
                    a.sa.sa_family);
        FUZZ_ASSERT(sockaddr_port(&a) > 0, "EPRT port 0 accepted");
        const void *src = a.sa.sa_family == AF_INET ? (const void *)&a.in.sin_addr
                                                    : (const void *)&a.in6.sin6_addr;
        FUZZ_ASSERT(inet_ntop(a.sa.sa_family, src, ip, sizeof ip) != NULL, "inet_ntop");
        snprintf(text, sizeof text, "|%d|%s|%d|", a.sa.sa_family == AF_INET ? 1 : 2, ip,
                 sockaddr_port(&a));
        FUZZ_ASSERT(dataport_parse_eprt(text, &b) == 0 && same_addr(&a, &b),
                    "EPRT '%s' -> '%s' does not round-trip", arg, text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 512)
        return 0;
    static const char *const verbs[] = {"PORT", "EPRT", "PASV", "EPSV"};
    const char *verb = verbs[data[0] % 4];
    char *arg = fuzz_strndup(data + 1, size - 1);
    if (strlen(arg) != size - 1) { /* linebuf lines hold no NUL that far */
        free(arg);
        return 0;
    }
    check_parsers(arg);

    union sockaddr_any local, peer;
    sockaddr_parse("127.0.0.1", 2121, &local);
    sockaddr_parse("127.0.0.1", 40000, &peer);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    FUZZ_ASSERT(s != NULL, "session_new");
    struct buf out;
    buf_init(&out, 0);
    session_command(s, "USER anonymous", 14, &out);
    session_command(s, "PASS x", 6, &out);
    buf_clear(&out);
    char line[600];
    int n = snprintf(line, sizeof line, "%s %s", verb, arg);
    enum step st = session_command(s, line, (size_t)n, &out);
    FUZZ_ASSERT(st == STEP_CONTINUE, "%s gave step %d", verb, (int)st);
    FUZZ_ASSERT(fuzz_check_replies(buf_head(&out), out.len) == 1, "not one reply");
    buf_free(&out);
    session_free(s);
    free(arg);
    return 0;
}

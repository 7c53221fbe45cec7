/* The session state machine without sockets: feed command lines, assert the
 * exact reply bytes, the step and the transfer job. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftpd/config.h"
#include "ftpd/listing.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "unit.h"

static char tree[64];
static int root_fd = -1;
static struct ftpd_config cfg;

static void write_file(const char *rel, const char *content)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tree, rel);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

static void setup(void)
{
    strcpy(tree, "/tmp/ftpd-session-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tree));
    char path[256];
    snprintf(path, sizeof path, "%s/dir", tree);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/dir/sub \"q\"", tree);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    write_file("hello.txt", "hello\nworld\n");
    write_file("dir/inner.bin", "0123456789");
    snprintf(path, sizeof path, "%s/escape", tree);
    ck_assert_int_eq(symlink("/etc/passwd", path), 0);
    root_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
    config_defaults(&cfg);
    log_set_level(LOG_LVL_ERROR);
}

static void teardown(void)
{
    char cmd[128];
    close(root_fd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
    ck_assert_int_eq(system(cmd), 0);
}

static struct session *new_session(const char *peer_ip)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse(peer_ip, 40000, &peer), 0);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Run one line; return the reply as a NUL-terminated static string. */
static const char *cmd(struct session *s, const char *line, enum step *step)
{
    static char text[70000];
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    if (step)
        *step = st;
    ck_assert_uint_lt(out.len, sizeof text);
    if (out.len > 0)
        memcpy(text, buf_head(&out), out.len);
    text[out.len] = '\0';
    buf_free(&out);
    return text;
}

/* PASS as a back-end runs it: the job (STEP_WORK) in place, then the
 * failed login's delay (STEP_DELAY) at once. The reply of each step. */
static const char *pass(struct session *s, const char *line, enum step *step)
{
    static char text[512];
    struct buf out;
    buf_init(&out, 0);
    enum step st = session_command(s, line, strlen(line), &out);
    if (st == STEP_WORK) {
        struct work *w = session_work_take(s);
        ck_assert_ptr_nonnull(w);
        work_run(w);
        st = session_work_done(s, w, &out);
    }
    if (st == STEP_DELAY) {
        ck_assert_int_eq(out.len, 0); /* nothing before the delay */
        st = session_delay_done(s, &out);
    }
    if (step)
        *step = st;
    ck_assert_uint_lt(out.len, sizeof text);
    memcpy(text, buf_head(&out), out.len);
    text[out.len] = '\0';
    buf_free(&out);
    return text;
}

static struct session *logged_in(void)
{
    struct session *s = new_session("127.0.0.1");
    ck_assert_str_eq(cmd(s, "USER anonymous", NULL), "331 Please specify the password.\r\n");
    ck_assert_str_eq(cmd(s, "PASS me@example.org", NULL), "230 Login successful.\r\n");
    return s;
}

START_TEST(greeting_uses_banner)
{
    snprintf(cfg.banner, sizeof cfg.banner, "Welcome");
    struct session *s = new_session("127.0.0.1");
    struct buf out;
    buf_init(&out, 0);
    session_greet(s, &out);
    ck_assert_int_eq(memcmp(buf_head(&out), "220 Welcome\r\n", out.len), 0);
    buf_free(&out);
    session_free(s);
}
END_TEST

/* Table: one line, the exact reply, in a fresh logged-in session. */
static const struct {
    const char *line;
    const char *reply;
} replies[] = {
    {"SYST", "215 UNIX Type: L8\r\n"},
    {"syst", "215 UNIX Type: L8\r\n"},
    {"NOOP", "200 NOOP ok.\r\n"},
    {"PWD", "257 \"/\" is the current directory\r\n"},
    {"XPWD", "257 \"/\" is the current directory\r\n"},
    {"TYPE I", "200 Switching to Binary mode.\r\n"},
    {"TYPE A", "200 Switching to ASCII mode.\r\n"},
    {"TYPE E", "504 Unsupported TYPE; use A or I.\r\n"},
    {"TYPE", "501 TYPE needs an argument.\r\n"},
    {"MODE S", "200 Mode set to S.\r\n"},
    {"MODE B", "504 Only MODE S is supported.\r\n"},
    {"STRU F", "200 Structure set to F.\r\n"},
    {"STRU R", "504 Only STRU F is supported.\r\n"},
    {"OPTS UTF8 ON", "200 Always in UTF8 mode.\r\n"},
    {"OPTS FOO", "501 Option not understood.\r\n"},
    {"ALLO 100", "202 ALLO command ignored.\r\n"},
    {"SIZE hello.txt", "213 12\r\n"},
    {"SIZE /dir/inner.bin", "213 10\r\n"},
    {"SIZE dir", "550 Could not get file size.\r\n"},
    {"SIZE missing", "550 Could not get file size.\r\n"},
    {"SIZE escape", "550 Could not get file size.\r\n"},
    {"SIZE ../../../../etc/passwd", "550 Could not get file size.\r\n"},
    {"CWD dir", "250 Directory successfully changed.\r\n"},
    {"CWD hello.txt", "550 Failed to change directory.\r\n"},
    {"CWD nowhere", "550 Failed to change directory.\r\n"},
    {"CDUP", "250 Directory successfully changed.\r\n"},
    {"RETR missing", "425 Use PORT or PASV first.\r\n"},
    {"REST abc", "501 REST needs a byte offset.\r\n"},
    {"REST 10", "350 Restart position accepted (10).\r\n"},
    {"ABOR", "225 No transfer to abort.\r\n"},
    {"PORT 127,0,0,1,300,1", "501 Bad PORT argument.\r\n"},
    {"PORT 127,0,0,1,4", "501 Bad PORT argument.\r\n"},
    {"PORT 127,0,0,2,200,1",
     "500 Illegal PORT command: use your own address and a port >= 1024.\r\n"},
    {"PORT 127,0,0,1,0,21",
     "500 Illegal PORT command: use your own address and a port >= 1024.\r\n"},
    {"PORT 127,0,0,1,200,1", "200 PORT command successful. Consider using PASV.\r\n"},
    {"EPRT |1|127.0.0.1|51201|", "200 PORT command successful. Consider using PASV.\r\n"},
    {"EPRT |2|::1|51201|",
     "500 Illegal PORT command: use your own address and a port >= 1024.\r\n"},
    {"EPRT |3|x|1|", "522 Network protocol not supported, use (1,2)\r\n"},
    {"EPRT |1|127.0.0.1|", "501 Bad EPRT argument.\r\n"},
    {"EPRT |1|999.0.0.1|5000|", "501 Bad EPRT argument.\r\n"},
    {"EPSV 2", "522 Network protocol not supported, use (1)\r\n"},
    {"EPSV x", "501 Bad EPSV argument.\r\n"},
    {"EPSV 3", "522 Network protocol not supported, use (1)\r\n"},
    {"EPSV ALL", "200 EPSV ALL ok.\r\n"},
    {"STOR x", "550 Permission denied.\r\n"},
    {"STOU", "550 Permission denied.\r\n"},
    {"APPE x", "550 Permission denied.\r\n"},
    {"DELE hello.txt", "550 Permission denied.\r\n"},
    {"MKD new", "550 Permission denied.\r\n"},
    {"XMKD new", "550 Permission denied.\r\n"},
    {"RMD dir", "550 Permission denied.\r\n"},
    {"RNFR hello.txt", "550 Permission denied.\r\n"},
    {"RNTO other", "550 Permission denied.\r\n"},
    {"SITE CHMOD 777 hello.txt", "550 Permission denied.\r\n"},
    {"SITE HELP", "214 SITE commands: CHMOD HELP\r\n"},
    {"SITE EXEC ls", "500 Unknown SITE command.\r\n"},
    {"SITE", "501 SITE needs an argument.\r\n"},
    {"AUTH TLS", "502 AUTH not supported (TLS is off).\r\n"},
    {"REIN", "502 Command not implemented.\r\n"},
    {"XYZZY", "500 Unknown command.\r\n"},
    {"", "500 Unknown command.\r\n"},
    {"PWD extra", "501 PWD takes no argument.\r\n"},
    {"USER other", "530 Can't change to another user.\r\n"},
    {"PASS again", "230 Already logged in.\r\n"},
    {"MDTM missing", "550 Could not get file modification time.\r\n"},
};

START_TEST(reply_table)
{
    struct session *s = logged_in();
    const char *got = cmd(s, replies[_i].line, NULL);
    ck_assert_msg(strcmp(got, replies[_i].reply) == 0, "'%s': got '%s' want '%s'", replies[_i].line,
                  got, replies[_i].reply);
    session_free(s);
}
END_TEST

START_TEST(login_rules)
{
    struct session *s = new_session("127.0.0.1");
    ck_assert_str_eq(cmd(s, "PWD", NULL), "530 Please login with USER and PASS.\r\n");
    ck_assert_str_eq(cmd(s, "RETR hello.txt", NULL), "530 Please login with USER and PASS.\r\n");
    ck_assert_str_eq(cmd(s, "PASS x", NULL), "503 Login with USER first.\r\n");
    ck_assert_str_eq(cmd(s, "SYST", NULL), "215 UNIX Type: L8\r\n");
    ck_assert_str_eq(cmd(s, "USER bob", NULL), "331 Please specify the password.\r\n");
    ck_assert_str_eq(pass(s, "PASS secret", NULL), "530 Login incorrect.\r\n");
    ck_assert_str_eq(cmd(s, "USER ftp", NULL), "331 Please specify the password.\r\n");
    ck_assert_str_eq(cmd(s, "PASS", NULL), "230 Login successful.\r\n");
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/\" is the current directory\r\n");
    session_free(s);

    cfg.anonymous = false;
    s = new_session("127.0.0.1");
    cmd(s, "USER anonymous", NULL);
    ck_assert_str_eq(pass(s, "PASS x", NULL), "530 Login incorrect.\r\n");
    session_free(s);
}
END_TEST

START_TEST(failed_logins_close)
{
    struct session *s = new_session("127.0.0.1");
    enum step st = STEP_CONTINUE;
    for (int i = 0; i < 3; i++) {
        cmd(s, "USER bob", NULL);
        pass(s, "PASS nope", &st);
    }
    ck_assert_int_eq(st, STEP_CLOSE);
    session_free(s);
}
END_TEST

START_TEST(prelogin_command_flood_closes)
{
    struct session *s = new_session("127.0.0.1");
    enum step st = STEP_CONTINUE;
    int n = 0;
    while (st != STEP_CLOSE && n < 1000) {
        cmd(s, "NOOP", &st);
        n++;
    }
    ck_assert_int_eq(st, STEP_CLOSE);
    ck_assert_int_le(n, 31);
    session_free(s);
}
END_TEST

START_TEST(quit_closes)
{
    struct session *s = logged_in();
    enum step st;
    ck_assert_str_eq(cmd(s, "QUIT", &st), "221 Goodbye.\r\n");
    ck_assert_int_eq(st, STEP_CLOSE);
    session_free(s);
}
END_TEST

START_TEST(nul_byte_refused)
{
    struct session *s = logged_in();
    struct buf out;
    buf_init(&out, 0);
    ck_assert_int_eq(session_command(s, "RETR a\0b", 8, &out), STEP_CONTINUE);
    ck_assert_int_eq(memcmp(buf_head(&out), "501 NUL byte in command.\r\n", out.len), 0);
    buf_free(&out);
    session_free(s);
}
END_TEST

START_TEST(cwd_navigation_and_quoting)
{
    struct session *s = logged_in();
    cmd(s, "CWD /dir/sub \"q\"", NULL);
    ck_assert_str_eq(cmd(s, "PWD", NULL),
                     "257 \"/dir/sub \"\"q\"\"\" is the current directory\r\n");
    cmd(s, "CDUP", NULL);
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/dir\" is the current directory\r\n");
    cmd(s, "CWD ../../../../..", NULL);
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/\" is the current directory\r\n");
    cmd(s, "CDUP", NULL);
    ck_assert_str_eq(cmd(s, "PWD", NULL), "257 \"/\" is the current directory\r\n");
    ck_assert_str_eq(cmd(s, "SIZE ../dir/inner.bin", NULL), "213 10\r\n");
    session_free(s);
}
END_TEST

START_TEST(pasv_opens_listener_in_range)
{
    cfg.pasv_min_port = 50100;
    cfg.pasv_max_port = 50110;
    struct session *s = logged_in();
    const char *r = cmd(s, "PASV", NULL);
    unsigned h1, h2, h3, h4, p1, p2;
    ck_assert_int_eq(
        sscanf(r, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).", &h1, &h2, &h3, &h4, &p1, &p2),
        6);
    ck_assert_uint_eq(h1, 127);
    ck_assert_uint_eq(h4, 1);
    unsigned port = p1 * 256 + p2;
    ck_assert_uint_ge(port, 50100);
    ck_assert_uint_le(port, 50110);
    /* and it really listens */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    session_free(s);
}
END_TEST

START_TEST(pasv_address_override)
{
    snprintf(cfg.pasv_address, sizeof cfg.pasv_address, "203.0.113.7");
    struct session *s = logged_in();
    const char *r = cmd(s, "PASV", NULL);
    ck_assert_msg(strncmp(r, "227 Entering Passive Mode (203,0,113,7,", 39) == 0, "%s", r);
    session_free(s);
}
END_TEST

START_TEST(epsv_all_refuses_others)
{
    struct session *s = logged_in();
    cmd(s, "EPSV ALL", NULL);
    ck_assert_str_eq(cmd(s, "PASV", NULL), "503 EPSV ALL in effect; only EPSV is allowed.\r\n");
    ck_assert_str_eq(cmd(s, "PORT 127,0,0,1,200,1", NULL),
                     "503 EPSV ALL in effect; only EPSV is allowed.\r\n");
    ck_assert_str_eq(cmd(s, "EPRT |1|127.0.0.1|51201|", NULL),
                     "503 EPSV ALL in effect; only EPSV is allowed.\r\n");
    const char *r = cmd(s, "EPSV", NULL);
    ck_assert_msg(strncmp(r, "229 Entering Extended Passive Mode (|||", 39) == 0, "%s", r);
    session_free(s);
}
END_TEST

START_TEST(retr_makes_a_job)
{
    struct session *s = logged_in();
    cmd(s, "PASV", NULL);
    cmd(s, "REST 6", NULL);
    enum step st;
    ck_assert_str_eq(cmd(s, "RETR hello.txt", &st),
                     "150 Opening BINARY mode data connection for hello.txt (12 bytes).\r\n");
    ck_assert_int_eq(st, STEP_TRANSFER);
    struct transfer *t = session_transfer(s);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->kind, XFER_SEND_FILE);
    ck_assert_int_ge(t->pasv_fd, 0);
    ck_assert_int_ge(t->file_fd, 0);
    ck_assert_uint_eq(t->offset, 6);
    ck_assert_uint_eq(t->size, 6);
    ck_assert(!t->ascii);
    ck_assert_int_eq(t->data_timeout, cfg.data_timeout);

    /* mid-transfer: NOOP and STAT answered, others deferred, ABOR aborts */
    ck_assert_str_eq(cmd(s, "NOOP", &st), "200 NOOP ok.\r\n");
    const char *stat = cmd(s, "STAT", &st);
    ck_assert_ptr_nonnull(strstr(stat, " Transfer in progress: /hello.txt\r\n"));
    ck_assert_str_eq(cmd(s, "PWD", &st), "");
    ck_assert_int_eq(st, STEP_DEFER);
    ck_assert_str_eq(cmd(s, "ABOR", &st), "");
    ck_assert_int_eq(st, STEP_ABORT);

    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, XFER_ABORTED, 3, &out);
    ck_assert_int_eq(memcmp(buf_head(&out),
                            "426 Connection closed; transfer aborted.\r\n"
                            "226 Abort successful.\r\n",
                            out.len),
                     0);
    buf_free(&out);
    ck_assert_ptr_null(session_transfer(s));
    /* the data channel is used up */
    ck_assert_str_eq(cmd(s, "RETR hello.txt", NULL), "425 Use PORT or PASV first.\r\n");
    session_free(s);
}
END_TEST

START_TEST(transfer_results)
{
    static const struct {
        enum xfer_result r;
        const char *reply;
    } cases[] = {
        {XFER_OK, "226 Transfer complete.\r\n"},
        {XFER_NO_CONN, "425 Failed to establish data connection.\r\n"},
        {XFER_CONN_LOST, "426 Connection closed; transfer aborted.\r\n"},
        {XFER_LOCAL_ERROR, "451 Local error reading file.\r\n"},
        {XFER_SHUTDOWN, "426 Server shutting down; transfer aborted.\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct session *s = logged_in();
        cmd(s, "TYPE A", NULL);
        cmd(s, "PORT 127,0,0,1,200,1", NULL);
        enum step st;
        ck_assert_str_eq(
            cmd(s, "RETR /dir/inner.bin", &st),
            "150 Opening ASCII mode data connection for /dir/inner.bin (10 bytes).\r\n");
        struct transfer *t = session_transfer(s);
        ck_assert_int_eq(t->pasv_fd, -1);
        ck_assert(t->ascii);
        ck_assert_int_eq(sockaddr_port(&t->port_addr), 200 * 256 + 1);
        struct buf out;
        buf_init(&out, 0);
        session_transfer_done(s, cases[i].r, 0, &out);
        ck_assert_uint_eq(out.len, strlen(cases[i].reply));
        ck_assert_int_eq(memcmp(buf_head(&out), cases[i].reply, out.len), 0);
        buf_free(&out);
        session_free(s);
    }
}
END_TEST

START_TEST(retr_refusals)
{
    struct session *s = logged_in();
    cmd(s, "PASV", NULL);
    ck_assert_str_eq(cmd(s, "RETR dir", NULL), "550 Failed to open file.\r\n");
    ck_assert_str_eq(cmd(s, "RETR escape", NULL), "550 Failed to open file.\r\n");
    ck_assert_str_eq(cmd(s, "RETR ../../../etc/passwd", NULL), "550 Failed to open file.\r\n");
    cmd(s, "REST 13", NULL);
    ck_assert_str_eq(cmd(s, "RETR hello.txt", NULL),
                     "554 Restart offset 13 is beyond the end of the file.\r\n");
    session_free(s);
}
END_TEST

START_TEST(listing_jobs)
{
    struct session *s = logged_in();
    enum step st;
    cmd(s, "EPSV", NULL);
    ck_assert_str_eq(cmd(s, "LIST -la dir", &st), "150 Here comes the directory listing.\r\n");
    ck_assert_int_eq(st, STEP_TRANSFER);
    struct transfer *t = session_transfer(s);
    ck_assert_int_eq(t->kind, XFER_SEND_LISTING);
    ck_assert_ptr_nonnull(t->listing);
    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, XFER_OK, 100, &out);
    ck_assert_int_eq(memcmp(buf_head(&out), "226 Directory send OK.\r\n", out.len), 0);
    buf_free(&out);

    cmd(s, "EPSV", NULL);
    ck_assert_str_eq(cmd(s, "NLST missing", &st), "550 No such file or directory.\r\n");
    ck_assert_str_eq(cmd(s, "MLSD hello.txt", &st),
                     "501 MLSD needs a directory; use MLST for a file.\r\n");
    session_free(s);
}
END_TEST

START_TEST(mlst_and_stat_path)
{
    struct session *s = logged_in();
    const char *r = cmd(s, "MLST hello.txt", NULL);
    ck_assert_msg(strncmp(r, "250-Listing /hello.txt\r\n type=file;size=12;modify=", 50) == 0, "%s",
                  r);
    ck_assert_ptr_nonnull(strstr(r, ";perm=r;unique="));
    ck_assert_ptr_nonnull(strstr(r, "; /hello.txt\r\n250 End.\r\n"));
    r = cmd(s, "STAT dir", NULL);
    ck_assert_msg(strncmp(r, "213-Status of /dir:\r\n ", 22) == 0, "%s", r);
    ck_assert_ptr_nonnull(strstr(r, " inner.bin\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "\r\n213 End of status.\r\n"));
    ck_assert_str_eq(cmd(s, "STAT nothing", NULL), "550 No such file or directory.\r\n");
    session_free(s);
}
END_TEST

START_TEST(feat_and_help)
{
    struct session *s = new_session("127.0.0.1");
    const char *r = cmd(s, "FEAT", NULL);
    ck_assert_msg(strncmp(r, "211-Features:\r\n", 15) == 0, "%s", r);
    static const char *const feats[] = {
        " EPRT\r\n", " EPSV\r\n",        " MDTM\r\n",
        " PASV\r\n", " REST STREAM\r\n", " SIZE\r\n",
        " TVFS\r\n", " UTF8\r\n",        " MLST type*;size*;modify*;perm*;unique*;\r\n"};
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        ck_assert_ptr_nonnull(strstr(r, feats[i]));
    ck_assert_ptr_nonnull(strstr(r, "\r\n211 End\r\n"));
    r = cmd(s, "HELP", NULL);
    ck_assert_ptr_nonnull(strstr(r, " RETR <file>\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "214 Help OK.\r\n"));
    session_free(s);
}
END_TEST

START_TEST(refusals_and_events)
{
    struct buf out;
    buf_init(&out, 0);
    session_refuse(&cfg, REFUSE_MAX_CLIENTS, &out);
    ck_assert_int_eq(
        memcmp(buf_head(&out), "421 Too many users, please try again later.\r\n", out.len), 0);
    buf_clear(&out);
    session_refuse(&cfg, REFUSE_MAX_PER_IP, &out);
    ck_assert_int_eq(
        memcmp(buf_head(&out), "421 Too many connections from your address.\r\n", out.len), 0);
    buf_clear(&out);
    struct session *s = new_session("127.0.0.1");
    session_line_too_long(s, &out);
    ck_assert_int_eq(memcmp(buf_head(&out), "500 Command line too long.\r\n", out.len), 0);
    buf_clear(&out);
    session_idle_timeout(s, &out);
    ck_assert_int_eq(memcmp(buf_head(&out), "421 Timeout.\r\n", out.len), 0);
    buf_free(&out);
    session_free(s);
}
END_TEST

/* Regression (fuzz_session): "STAT 3<CR>*x" echoed the path with a bare
 * CR into the 213 reply, which a client reads as a line end. Every CR a
 * reply echoes goes out as CR NUL (RFC 2640 3.1); line ends stay CRLF. */
static void assert_no_bare_cr(const struct buf *out, const char *want_path, size_t want_len)
{
    const char *p = buf_head(out);
    for (size_t i = 0; i < out->len; i++) {
        if (p[i] == '\r')
            ck_assert_msg(i + 1 < out->len && (p[i + 1] == '\n' || p[i + 1] == '\0'),
                          "bare CR at %zu", i);
    }
    ck_assert_ptr_nonnull(memmem(p, out->len, want_path, want_len));
    ck_assert_int_eq(memcmp(p + out->len - 2, "\r\n", 2), 0);
}

START_TEST(echoed_cr_is_padded_fuzz_session)
{
    char path[256];
    snprintf(path, sizeof path, "%s/a\rb", tree);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    struct session *s = logged_in();
    static const char *const lines[] = {"STAT 3\r*x", "STAT a\rb", "MLST a\rb", "PWD"};
    static const char *const paths[] = {"/3\r\0*x", "/a\r\0b", "/a\r\0b", "\"/a\r\0b\""};
    static const size_t lens[] = {6, 5, 5, 7};
    for (size_t i = 0; i < 4; i++) {
        if (i == 3)
            ck_assert_str_eq(cmd(s, "CWD a\rb", NULL), "250 Directory successfully changed.\r\n");
        struct buf out;
        buf_init(&out, 0);
        ck_assert_int_eq(session_command(s, lines[i], strlen(lines[i]), &out), STEP_CONTINUE);
        assert_no_bare_cr(&out, paths[i], lens[i]);
        buf_free(&out);
    }
    session_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, greeting_uses_banner);
    tcase_add_loop_test(tc, reply_table, 0, (int)(sizeof replies / sizeof replies[0]));
    tcase_add_test(tc, login_rules);
    tcase_add_test(tc, failed_logins_close);
    tcase_add_test(tc, prelogin_command_flood_closes);
    tcase_add_test(tc, quit_closes);
    tcase_add_test(tc, nul_byte_refused);
    tcase_add_test(tc, cwd_navigation_and_quoting);
    tcase_add_test(tc, pasv_opens_listener_in_range);
    tcase_add_test(tc, pasv_address_override);
    tcase_add_test(tc, epsv_all_refuses_others);
    tcase_add_test(tc, retr_makes_a_job);
    tcase_add_test(tc, transfer_results);
    tcase_add_test(tc, retr_refusals);
    tcase_add_test(tc, listing_jobs);
    tcase_add_test(tc, mlst_and_stat_path);
    tcase_add_test(tc, feat_and_help);
    tcase_add_test(tc, refusals_and_events);
    tcase_add_test(tc, echoed_cr_is_padded_fuzz_session);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

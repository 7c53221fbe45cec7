/* The three lists of configuration keys agree: the parser's table
 * (src/config.c), the example file conf/ftpd.conf (every key set to its
 * default, or shown commented out when its default is empty and an
 * example says more), and the manual ftpd.conf(5) (an ".It Cm key" entry
 * each, with "Default:" and a '.Ql "key = value"' line that matches the
 * file).
 * A key added to one and not the others fails here, named with the file it
 * is missing from. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftpd/config_file.h"
#include "unit.h"

#define MAX_KEYS      256
#define NAME_MAX_LEN  64
#define VALUE_MAX_LEN 512

struct key_list {
    int n;
    char name[MAX_KEYS][NAME_MAX_LEN];
    char value[MAX_KEYS][VALUE_MAX_LEN]; /* the default given; "" = empty */
    bool has_value[MAX_KEYS];
};

static int find(const struct key_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->name[i], name) == 0)
            return i;
    }
    return -1;
}

static int add(struct key_list *l, const char *name, size_t len)
{
    ck_assert_int_lt(l->n, MAX_KEYS);
    ck_assert_uint_lt(len, NAME_MAX_LEN);
    memcpy(l->name[l->n], name, len);
    l->name[l->n][len] = '\0';
    return l->n++;
}

static void set_value(struct key_list *l, int i, const char *v)
{
    size_t len = strlen(v);
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    ck_assert_uint_lt(len, VALUE_MAX_LEN);
    memcpy(l->value[i], v, len);
    l->value[i][len] = '\0';
    l->has_value[i] = true;
}

static FILE *open_source(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FTPD_SOURCE_DIR, rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    return f;
}

static size_t key_len(const char *s)
{
    size_t n = 0;
    while (islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

static void parser_keys(struct key_list *l)
{
    for (size_t i = 0; i < config_key_count(); i++) {
        const char *name = config_key_name(i);
        add(l, name, strlen(name));
    }
    ck_assert_ptr_null(config_key_name(config_key_count()));
}

/* "key = value" lines, and "# key = value" lines naming a parser key (an
 * example of a key whose default is empty). */
static void conf_keys(struct key_list *l, const struct key_list *parser)
{
    FILE *f = open_source("conf/ftpd.conf");
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        bool commented = strncmp(line, "# ", 2) == 0;
        const char *k = commented ? line + 2 : line;
        size_t n = key_len(k);
        if (n == 0 || strncmp(k + n, " =", 2) != 0)
            continue;
        char name[NAME_MAX_LEN];
        ck_assert_uint_lt(n, sizeof name);
        memcpy(name, k, n);
        name[n] = '\0';
        if (commented && find(parser, name) < 0)
            continue; /* prose that happens to look like a key */
        int i = find(l, name);
        ck_assert_msg(i < 0, "conf/ftpd.conf: key '%s' appears twice", name);
        i = add(l, name, n);
        const char *v = k + n + 2;
        set_value(l, i, commented ? "" : v + strspn(v, " "));
    }
    fclose(f);
}

/* ".It Cm a , Cm b" entries, and '.Ql "key = value"' defaults. */
static void man_keys(struct key_list *l)
{
    FILE *f = open_source("man/ftpd.conf.5");
    char line[1024];
    bool in_keys = false, in_defaults = false;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, ".Sh ", 4) == 0)
            in_keys = strcmp(line, ".Sh KEYS") == 0;
        if (!in_keys)
            continue;
        /* "Default:" or "Defaults:", then one .Ql line per key. */
        if (strcmp(line, "Default:") == 0 || strcmp(line, "Defaults:") == 0) {
            in_defaults = true;
            continue;
        }
        if (strncmp(line, ".Ql ", 4) != 0)
            in_defaults = false;
        if (strncmp(line, ".It Cm ", 7) == 0) {
            for (const char *p = line + 4; (p = strstr(p, "Cm ")) != NULL;) {
                p += 3;
                size_t n = key_len(p);
                ck_assert_msg(n > 0, "ftpd.conf(5): bad entry '%s'", line);
                char name[NAME_MAX_LEN];
                memcpy(name, p, n);
                name[n] = '\0';
                ck_assert_msg(find(l, name) < 0, "ftpd.conf(5): key '%s' appears twice", name);
                add(l, name, n);
            }
        } else if (in_defaults && strncmp(line, ".Ql \"", 5) == 0) {
            const char *k = line + 5;
            size_t n = key_len(k);
            char name[NAME_MAX_LEN];
            if (n == 0 || n >= sizeof name || strncmp(k + n, " =", 2) != 0)
                continue;
            memcpy(name, k, n);
            name[n] = '\0';
            int i = find(l, name);
            if (i < 0)
                continue; /* no entry: the list test names the key */
            /* Unescape what the page escapes: \& and \(dq. */
            char v[VALUE_MAX_LEN] = "";
            size_t o = 0;
            for (const char *p = k + n + 2 + (k[n + 2] == ' '); *p != '\0' && *p != '"';) {
                if (strncmp(p, "\\&", 2) == 0) {
                    p += 2;
                } else if (strncmp(p, "\\(dq", 4) == 0) {
                    v[o++] = '"';
                    p += 4;
                } else if (strncmp(p, "\\e", 2) == 0) {
                    v[o++] = '\\';
                    p += 2;
                } else {
                    v[o++] = *p++;
                }
                ck_assert_uint_lt(o, sizeof v);
            }
            v[o] = '\0';
            set_value(l, i, v);
        }
    }
    fclose(f);
}

/* Every key of `a` is in `b`; else fail naming them all. */
static void expect_subset(const struct key_list *a, const char *a_name, const struct key_list *b,
                          const char *b_name)
{
    char missing[4096] = "";
    size_t used = 0;
    for (int i = 0; i < a->n; i++) {
        if (find(b, a->name[i]) < 0 && used < sizeof missing)
            used += (size_t)snprintf(missing + used, sizeof missing - used, " %s", a->name[i]);
    }
    ck_assert_msg(missing[0] == '\0', "keys in %s but missing from %s:%s", a_name, b_name, missing);
}

START_TEST(parser_conf_and_manual_list_the_same_keys)
{
    static struct key_list parser, conf, man;
    parser_keys(&parser);
    conf_keys(&conf, &parser);
    man_keys(&man);
    ck_assert_int_gt(parser.n, 40);
    expect_subset(&parser, "the parser (src/config.c)", &conf, "conf/ftpd.conf");
    expect_subset(&conf, "conf/ftpd.conf", &parser, "the parser (src/config.c)");
    expect_subset(&parser, "the parser (src/config.c)", &man, "ftpd.conf(5) (man/ftpd.conf.5)");
    expect_subset(&man, "ftpd.conf(5) (man/ftpd.conf.5)", &parser, "the parser (src/config.c)");
}
END_TEST

START_TEST(manual_defaults_match_the_conf_file)
{
    static struct key_list parser, conf, man;
    parser_keys(&parser);
    conf_keys(&conf, &parser);
    man_keys(&man);
    for (int i = 0; i < conf.n; i++) {
        int j = find(&man, conf.name[i]);
        if (j < 0)
            continue; /* reported by the list test */
        ck_assert_msg(man.has_value[j], "ftpd.conf(5): key '%s' has no Default line", conf.name[i]);
        ck_assert_msg(strcmp(man.value[j], conf.value[i]) == 0,
                      "key '%s': default '%s' in ftpd.conf(5), '%s' in conf/ftpd.conf",
                      conf.name[i], man.value[j], conf.value[i]);
    }
}
END_TEST

/* And the file loads: every value in it is valid. */
START_TEST(conf_file_loads)
{
    static struct ftpd_config cfg;
    config_defaults(&cfg);
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/conf/ftpd.conf", FTPD_SOURCE_DIR);
    ck_assert_msg(config_load_file(&cfg, path, NULL, err, sizeof err) == 0, "%s", err);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("config_keys");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parser_conf_and_manual_list_the_same_keys);
    tcase_add_test(tc, manual_defaults_match_the_conf_file);
    tcase_add_test(tc, conf_file_loads);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()

/* The configuration parser: one setter per key, the INI file (inih) and
 * the cross-key checks. Used by main() and the tests only. */
#ifndef FTPD_CONFIG_FILE_H
#define FTPD_CONFIG_FILE_H

#include <stddef.h>

#include "ftpd/config.h"

/* Where the file set what the parser cannot check on its own: the arch name
 * is checked against the back-end registry, which sits above the parser, so
 * main() does it and needs the line to report. */
struct config_origin {
    int arch_line; /* line of the (last) 'arch' key in the file; 0 = not there */
};

/* Parse an INI file over cfg. On error returns -1 and writes
 * "FILE:LINE: key 'K': what is wrong" (or "FILE: reason") into err.
 * origin (may be NULL) says where keys were set, on success only. */
int config_load_file(struct ftpd_config *cfg, const char *path, struct config_origin *origin,
                     char *err, size_t errlen);

/* Set one key from text, as the file and the command line do. 'arch' takes
 * any name that fits: whether a back-end has that name is the caller's
 * check (arch_find()). */
int config_set(struct ftpd_config *cfg, const char *key, const char *value, char *err,
               size_t errlen);

/* The keys the parser knows, in table order (the key-list test compares
 * them with conf/ftpd.conf and ftpd.conf(5)). NULL past the end. */
size_t config_key_count(void);
const char *config_key_name(size_t i);

/* Cross-key checks (port range order, ...). */
int config_validate(const struct ftpd_config *cfg, char *err, size_t errlen);

#endif

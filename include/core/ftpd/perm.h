/* What a logged-in user may do: a short letter set, as in the users file
 * (`name:hash:home:rwmdfc`). Every command's row in the command table names
 * the letters it needs; session_command checks them in one place. */
#ifndef FTPD_PERM_H
#define FTPD_PERM_H

enum perm {
    PERM_READ = 1 << 0,   /* r: download, list, stat the tree */
    PERM_UPLOAD = 1 << 1, /* w: STOR, STOU, APPE */
    PERM_MKDIR = 1 << 2,  /* m: MKD */
    PERM_DELETE = 1 << 3, /* d: DELE, RMD */
    PERM_RENAME = 1 << 4, /* f: RNFR, RNTO */
    PERM_CHMOD = 1 << 5,  /* c: SITE CHMOD, MFMT */
};

#define PERM_ALL         (PERM_READ | PERM_UPLOAD | PERM_MKDIR | PERM_DELETE | PERM_RENAME | PERM_CHMOD)
#define PERM_WRITES      (PERM_ALL & ~PERM_READ)
#define PERM_LETTERS_MAX 7 /* "rwmdfc" and its NUL */

/* "rwm" -> PERM_READ|PERM_UPLOAD|PERM_MKDIR. 0 with *perms set, or -1 with
 * *bad the first letter that is not one of r w m d f c (a repeat is fine). */
int perm_parse(const char *letters, unsigned *perms, char *bad);

/* The letters of perms, in the order r w m d f c, into out (at least
 * PERM_LETTERS_MAX bytes). */
void perm_format(unsigned perms, char *out);

#endif

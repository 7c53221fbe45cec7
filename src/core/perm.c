#include "ftpd/perm.h"

#include <string.h>

static const char letters[] = "rwmdfc"; /* bit i is letters[i] */

int perm_parse(const char *s, unsigned *perms, char *bad)
{
    unsigned p = 0;
    for (; *s != '\0'; s++) {
        const char *at = strchr(letters, *s);
        if (at == NULL) {
            *bad = *s;
            return -1;
        }
        p |= 1u << (at - letters);
    }
    *perms = p;
    return 0;
}

void perm_format(unsigned perms, char *out)
{
    size_t n = 0;
    for (size_t i = 0; letters[i] != '\0'; i++) {
        if (perms & (1u << i))
            out[n++] = letters[i];
    }
    out[n] = '\0';
}

#include "arch/common/scoreboard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "ftpd/log.h"

struct scoreboard *scoreboard_new(int nslots)
{
    size_t size = sizeof(struct scoreboard) + (size_t)nslots * sizeof(struct scoreboard_slot);
    struct scoreboard *sb =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sb == MAP_FAILED) {
        log_error("cannot map the worker scoreboard: %s", strerror(errno));
        return NULL;
    }
    /* A fresh anonymous mapping is zeroed: every slot idle, none retiring. */
    sb->map_size = size;
    sb->nslots = nslots;
    atomic_init(&sb->taken, 0);
    return sb;
}

void scoreboard_free(struct scoreboard *sb)
{
    if (sb != NULL)
        munmap(sb, sb->map_size);
}

void scoreboard_slot_reset(struct scoreboard *sb, int i)
{
    atomic_store(&sb->slot[i].busy, 0);
    atomic_store(&sb->slot[i].retire, 0);
}

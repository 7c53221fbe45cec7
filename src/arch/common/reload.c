#include "arch/common/reload.h"

#include "ftpd/generation.h"

void reload_accept_poll(struct accept_poll *ap, const struct ftpd_server **cur, unsigned fixed)
{
    struct reload rl;
    if ((*cur)->gens == NULL || generation_reload((*cur)->gens, fixed, &rl) != 0)
        return;
    *cur = rl.srv;
    if (!rl.listeners_changed)
        return;
    int event_fd = ap->pfd[ap->nlisteners].fd, tick_ms = ap->tick_ms;
    accept_poll_init(ap, ap->acc, rl.srv->listeners, rl.srv->nlisteners, event_fd);
    ap->tick_ms = tick_ms;
    reload_close_removed(&rl); /* polled by nobody now */
}

/* What ftpd --status prints and /metrics serves, rendered from the shared
 * counters and session board (ftpd/stats.h) plus the admission table's
 * refusals: JSON, a pure-ftpwho-like table, and Prometheus text. */
#ifndef FTPD_ARCH_COMMON_REPORT_H
#define FTPD_ARCH_COMMON_REPORT_H

#include "arch/common/admission.h"
#include "ftpd/arch.h"
#include "ftpd/buf.h"

enum report_format { REPORT_JSON, REPORT_TEXT, REPORT_METRICS };

/* The server as it is now, appended to out (whose limit bounds it: the
 * session list is cut there, and says so). adm may be NULL (refusals not
 * known yet). 0, or -1 when even the summary did not fit. */
int report_render(const struct ftpd_server *srv, struct admission *adm, enum report_format f,
                  struct buf *out);

#endif

/* Forwarding header, temporary: the evented engine's interface moved to
 * include/net/ftpd/xfer_evented.h ("ftpd/xfer_evented.h"), where arch/ sees
 * it as net's public API. src/arch/evconn.c still includes it by the old
 * name until its rewrite is merged; delete this file then. */
#include "ftpd/xfer_evented.h"

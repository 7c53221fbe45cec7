/* Positive control: net sees its own headers and those of core and util. */
#include "ftpd/net.h"
#include "ftpd/stream.h"
#include "ftpd/xfer_evented.h"
#include "ftpd/session.h"

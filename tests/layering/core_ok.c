/* Positive control: core sees its own public and private headers and util's. */
#include "ftpd/session.h"
#include "ftpd/listing_cache.h"
#include "session_impl.h"
#include "path.h"

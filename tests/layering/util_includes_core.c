/* Must not compile: util cannot see core. */
#include "ftpd/session.h"

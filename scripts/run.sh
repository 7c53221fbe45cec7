#!/usr/bin/env bash
# Build ftpd if needed and serve the current directory read-only to anonymous
# users on 127.0.0.1:2121. Extra arguments go to ftpd, e.g.
#   scripts/run.sh --arch thread --port 2200 --log-level debug
# Run as root, ftpd serves as the user ftp once bound (run_as_user), which
# must be able to read the directory; --user root keeps root.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ftpd_install_deps
ftpd_ensure_ftp_user
ftpd_build "$FTPD_REPO/build"
exec "$FTPD_REPO/build/ftpd" --config "$FTPD_REPO/conf/ftpd.conf" --root "$PWD" "$@"

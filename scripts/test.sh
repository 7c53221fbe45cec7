#!/usr/bin/env bash
# Build with warnings as errors and run every test (Check unit suites and the
# Python integration suite against each back-end) through ctest.
#
# Environment:
#   FTPD_TEST_ARCHS  back-ends for the integration suite, e.g. "serial
#                    thread reactor" (default: every one `ftpd --list-archs`
#                    prints, variants such as threadpool+accept included;
#                    CMake reads them from src/arch/registry.c)
#   FTPD_SANITIZE    e.g. address,undefined (build in build-asan) or thread
#                    (build in build-tsan)
#   FTPD_TEST_JOBS   ctest parallelism (default 4: on 2 cores too, since most
#                    integration tests wait on timers and sockets, not the CPU;
#                    the whole suite passed at -j4 with the load average at 7)
#
# The last line printed is ctest's own (its summary and total time).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

archs=${FTPD_TEST_ARCHS:-}
archs=${archs//[, ]/;} # a CMake list
sanitize=${FTPD_SANITIZE:-}
jobs=${FTPD_TEST_JOBS:-4}

build=$FTPD_REPO/build
case $sanitize in
    "") ;;
    *thread*) build=$FTPD_REPO/build-tsan ;;
    *) build=$FTPD_REPO/build-asan ;;
esac

ftpd_install_deps
ftpd_ensure_ftp_user
ftpd_build "$build" -DFTPD_WERROR=ON -DFTPD_INTEGRATION_ARCHS="$archs" \
    -DFTPD_SANITIZE="$sanitize"

cd "$build"
exec ctest --output-on-failure -j "$jobs"

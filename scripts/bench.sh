#!/usr/bin/env bash
# Benchmark every ftpd back-end, and the other FTP servers found on this
# machine, with ftpbench on loopback; write a CSV, a markdown table with the
# ratios, and a PNG chart.
#
# Usage: scripts/bench.sh [--quick] [--archs "reactor hybrid ..."]
#                         [--servers "vsftpd pure-ftpd proftpd pyftpdlib"]
#                         [--tls-only | --no-tls] [--out DIR] [--no-fetch]
#                         [--only "idle@100000 ..."]
# scripts/bench.sh --help describes the flags and the environment variables.
#
# This installs what is missing, builds build-bench-rel/ (Release), then
# hands over to the Python module scripts/benchlib/ (the matrix, the servers'
# configurations, the run, the tables).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCHLIB=$FTPD_REPO/scripts/benchlib

for arg; do
    case $arg in -h | --help) exec python3 "$BENCHLIB" run --help ;; esac
done

FTPD_PACKAGES+=(gnuplot-nox python3)
ftpd_install_deps
# Usage errors before the build (the back-ends are checked after it, against
# ftpd --list-archs).
python3 "$BENCHLIB" run --check-args "$@"

BUILD=$FTPD_REPO/build-bench-rel
printf 'building %s (Release)\n' "${BUILD#"$FTPD_REPO"/}"
ftpd_build "$BUILD" -DCMAKE_BUILD_TYPE=Release
exec python3 "$BENCHLIB" run --build "$BUILD" "$@"

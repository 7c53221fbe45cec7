#!/usr/bin/env bash
# Fetch the FTP servers that scripts/bench.sh compares ftpd with, from
# Debian's packages:
#   pyftpdlib            apt-get install python3-pyftpdlib (normal install)
#   vsftpd, pure-ftpd,   conflict with each other as packages (each provides
#   proftpd              ftp-server), so each .deb is fetched with
#                        `apt-get download` and unpacked with `dpkg -x` into
#                        its own folder, bench-servers/<name>/ (gitignored);
#                        only the shared libraries they link are installed
#                        normally (libwrap0, libmemcached11, ...).
# Nothing is configured or started here: bench.sh writes a loopback-only
# configuration for each server into its run directory.
#
# Usage: scripts/bench-servers.sh [--force] [NAME...]
#   NAME     vsftpd pure-ftpd proftpd pyftpdlib (default: all four)
#   --force  download and unpack again even if already there
# Idempotent and quiet when everything is in place. The last lines say where
# each server is (or why it is missing). Exit 0 even if a server could not be
# fetched (the benchmark skips it); 2 on a usage error.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_SERVERS_DIR=${BENCH_SERVERS_DIR:-$FTPD_REPO/bench-servers}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

force=0
names=()
while (($#)); do
    case $1 in
        --force) force=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        vsftpd | pure-ftpd | proftpd | pyftpdlib) names+=("$1") ;;
        *)
            printf 'bench-servers.sh: unknown argument: %s\n' "$1" >&2
            usage >&2
            exit 2
            ;;
    esac
    shift
done
((${#names[@]})) || names=(vsftpd pure-ftpd proftpd pyftpdlib)

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || ftpd_die "bench-servers.sh: needs root or sudo for apt-get"
    sudo=(sudo)
fi

apt_updated=0
apt_update() {
    if ((apt_updated == 0)); then
        ftpd_quiet "${sudo[@]}" apt-get update -qq || return 1
        apt_updated=1
    fi
}

# apt_install PKG...: install those not installed yet.
apt_install() {
    local missing=() pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    printf 'installing: %s\n' "${missing[*]}" >&2
    apt_update || return 1
    ftpd_quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# candidate PKG: the version apt would install, empty if none.
candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

# The package that holds the binary; proftpd moved from proftpd-basic to
# proftpd-core (bookworm: proftpd-basic is a metapackage depending on it).
package_of() {
    case $1 in
        vsftpd) echo vsftpd ;;
        pure-ftpd) echo pure-ftpd ;;
        proftpd)
            if [[ -n $(candidate proftpd-core) ]]; then echo proftpd-core; else echo proftpd-basic; fi
            ;;
    esac
}

# Packages unpacked into the same folder: proftpd's mod_tls (the TLS runs)
# is in proftpd-mod-crypto.
extras_of() {
    case $1 in
        proftpd) if [[ -n $(candidate proftpd-mod-crypto) ]]; then echo proftpd-mod-crypto; fi ;;
    esac
}

# A file an extra package must have left (else the folder is fetched again).
extra_file_of() {
    case $1 in
        proftpd) echo usr/lib/proftpd/mod_tls.so ;;
    esac
}

binary_of() {
    case $1 in
        vsftpd) echo usr/sbin/vsftpd ;;
        pure-ftpd) echo usr/sbin/pure-ftpd ;;
        proftpd) echo usr/sbin/proftpd ;;
    esac
}

# lib_depends DEB: the first alternative of each lib* dependency, without
# version constraints (the shared libraries the binaries link).
lib_depends() {
    dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g; s/:any$//' |
        grep '^lib' || true
}

declare -A report=()

# fetch_extracted NAME: download the .deb and unpack it into
# $BENCH_SERVERS_DIR/NAME, install the libraries it links.
fetch_extracted() {
    local name=$1 pkg dest bin tmp deb version
    dest=$BENCH_SERVERS_DIR/$name
    bin=$dest/$(binary_of "$name")
    pkg=$(package_of "$name")
    local extra_file
    extra_file=$(extra_file_of "$name")
    if ((force == 0)) && [[ -x $bin && -f $dest/.deb-version ]] &&
        [[ -z $extra_file || -e $dest/$extra_file ]]; then
        report[$name]="$bin ($(cat "$dest/.deb-version"))"
        return 0
    fi
    apt_update || {
        report[$name]="not fetched: apt-get update failed"
        return 0
    }
    version=$(candidate "$pkg")
    if [[ -z $version ]]; then
        report[$name]="not fetched: no Debian package $pkg in the apt sources"
        return 0
    fi
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt's _apt user downloads into it (else a warning)
    local pkgs=("$pkg")
    mapfile -t -O 1 pkgs < <(extras_of "$name")
    if ! (cd "$tmp" && ftpd_quiet "${sudo[@]}" apt-get download -qq "${pkgs[@]}"); then
        rm -rf "$tmp"
        report[$name]="not fetched: apt-get download ${pkgs[*]} failed"
        return 0
    fi
    rm -rf "$dest"
    mkdir -p "$dest"
    local libs=() more=()
    for deb in "$tmp"/*.deb; do
        if ! dpkg -x "$deb" "$dest"; then
            rm -rf "$tmp" "$dest"
            report[$name]="not fetched: dpkg -x $(basename "$deb") failed"
            return 0
        fi
        mapfile -t more < <(lib_depends "$deb")
        libs+=("${more[@]}")
    done
    rm -rf "$tmp"
    if ((${#libs[@]})) && ! apt_install "${libs[@]}"; then
        report[$name]="unpacked, but its libraries did not install: ${libs[*]}"
        return 0
    fi
    if [[ ! -x $bin ]]; then
        report[$name]="not usable: $pkg has no $(binary_of "$name")"
        return 0
    fi
    local missing
    missing=$(ldd "$bin" 2>/dev/null | awk '/not found/ { print $1 }' | tr '\n' ' ')
    if [[ -n $missing ]]; then
        report[$name]="not usable: $bin misses libraries: $missing"
        return 0
    fi
    printf '%s %s\n' "$pkg" "$version" >"$dest/.deb-version"
    report[$name]="$bin ($pkg $version)"
}

fetch_pyftpdlib() {
    if ! apt_install python3-pyftpdlib; then
        report[pyftpdlib]="not installed: apt-get install python3-pyftpdlib failed"
        return 0
    fi
    local version
    version=$(/usr/bin/python3 -c 'import pyftpdlib; print(pyftpdlib.__ver__)' 2>/dev/null) ||
        version=""
    if [[ -z $version ]]; then
        report[pyftpdlib]="not usable: /usr/bin/python3 cannot import pyftpdlib"
        return 0
    fi
    report[pyftpdlib]="/usr/bin/python3 -m pyftpdlib (python3-pyftpdlib $version)"
}

for name in "${names[@]}"; do
    case $name in
        pyftpdlib) fetch_pyftpdlib ;;
        *) fetch_extracted "$name" ;;
    esac
done

for name in "${names[@]}"; do
    printf '%-10s %s\n' "$name" "${report[$name]}"
done

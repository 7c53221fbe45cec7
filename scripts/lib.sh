# shellcheck shell=bash
# Shared by scripts/run.sh and scripts/test.sh: install what is missing,
# configure and build quietly. Source it; it defines functions only (and
# FTPD_REPO, the repository root).

FTPD_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build, the tests and the client checks need.
FTPD_PACKAGES=(cmake pkg-config gcc make libev-dev libinih-dev libcrypt-dev check python3 curl lftp ftp clang-format libssl-dev openssl haproxy mandoc libseccomp-dev)
# The libFuzzer build (scripts/fuzz.sh): clang and its runtime libraries.
FTPD_PACKAGES+=(clang libclang-rt-dev)

ftpd_die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# Install the missing packages only; silent when everything is there.
ftpd_install_deps() {
    local missing=() pkg status
    for pkg in "${FTPD_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ $status != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || ftpd_die "missing packages (${missing[*]}) and no sudo"
        sudo=(sudo)
    fi
    printf 'installing: %s\n' "${missing[*]}" >&2
    local log
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        ftpd_die "apt-get failed to install: ${missing[*]}"
    fi
    rm -f "$log"
}

# The system user ftpd becomes when started as root (run_as_user's
# default, ftp), as Debian's vsftpd and proftpd packages create it: no
# home, no shell. The privilege-drop test (tests/integration/test_daemon.py)
# runs as it. Silent when it exists; needs root (or sudo).
ftpd_ensure_ftp_user() {
    if getent passwd ftp >/dev/null; then
        return 0
    fi
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || return 0 # not root: the test skips anyway
        sudo=(sudo)
    fi
    printf 'creating the system user ftp (run_as_user)\n' >&2
    "${sudo[@]}" useradd --system --user-group --no-create-home --home-dir /srv/ftp \
        --shell /usr/sbin/nologin ftp || ftpd_die "cannot create the user ftp"
}

# Run a command quietly: its output is shown only when it fails.
ftpd_quiet() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    if ((status != 0)); then
        cat "$log" >&2
    fi
    rm -f "$log"
    return "$status"
}

# ftpd_build BUILD_DIR [cmake -D options...]: configure and build.
ftpd_build() {
    local build=$1
    shift
    ftpd_quiet cmake -S "$FTPD_REPO" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" ||
        ftpd_die "cmake configure failed ($build)"
    ftpd_quiet cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" ||
        ftpd_die "build failed ($build)"
}

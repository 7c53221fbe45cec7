#!/usr/bin/env bash
# Benchmark every ftpd back-end, and the other FTP servers found on this
# machine, with ftpbench on loopback; write a CSV, a markdown table with the
# ratios, and a PNG chart.
#
# Usage: scripts/bench.sh [--quick] [--archs "reactor hybrid ..."]
#                         [--servers "vsftpd pure-ftpd proftpd pyftpdlib"]
#                         [--out DIR] [--no-fetch]
#   --quick     reduced matrix, under 3 minutes on 2 cores (serial left out
#               unless named in --archs)
#   --archs     ftpd back-ends to run (default: all seven)
#   --servers   other servers to run ("" for none; default: all four)
#   --out DIR   results directory (default: bench-results/<UTC timestamp>)
#   --no-fetch  do not run scripts/bench-servers.sh for a missing server
#
# Environment:
#   VSFTPD_BIN, PUREFTPD_BIN, PROFTPD_BIN  server binaries (default: PATH,
#                      then bench-servers/<name>/usr/sbin/<name>)
#   PYFTPDLIB          "system" (the python3 that imports pyftpdlib) or a
#                      directory holding the pyftpdlib package
#   FTPBENCH           load generator (default: build-bench-rel/ftpbench)
#   BENCH_PREFORK_WORKERS, BENCH_THREADS   prefork workers and threadpool
#                      threads (default 32 each); hybrid runs one worker per CPU
#
# Results: results.csv (ftpbench's rows), results.md (tables and ratios),
# chart.png, machine.txt, notes.txt (what was skipped or failed, and why),
# conf/ (the generated server configurations) and logs/.
# Everything runs on 127.0.0.1; every server started is stopped on exit.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_ARCHS="serial process thread prefork threadpool reactor hybrid"
ALL_SERVERS="vsftpd pure-ftpd proftpd pyftpdlib"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

quick=0
fetch=1
archs=$ALL_ARCHS
archs_given=0
servers=$ALL_SERVERS
out=""
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --no-fetch) fetch=0 ;;
        --archs | --servers | --out)
            (($# >= 2)) || {
                printf 'bench.sh: %s needs a value\n' "$1" >&2
                exit 2
            }
            case $1 in
                --archs)
                    archs=$2
                    archs_given=1
                    ;;
                --servers) servers=$2 ;;
                --out) out=$2 ;;
            esac
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            printf 'bench.sh: unknown argument: %s\n' "$1" >&2
            usage >&2
            exit 2
            ;;
    esac
    shift
done
archs=${archs//,/ }
servers=${servers//,/ }
for a in $archs; do
    [[ " $ALL_ARCHS " == *" $a "* ]] || {
        printf 'bench.sh: unknown arch: %s (one of: %s)\n' "$a" "$ALL_ARCHS" >&2
        exit 2
    }
done
for s in $servers; do
    [[ " $ALL_SERVERS " == *" $s "* ]] || {
        printf 'bench.sh: unknown server: %s (one of: %s)\n' "$s" "$ALL_SERVERS" >&2
        exit 2
    }
done

# --- The matrix -------------------------------------------------------------
# Rate runs last $DUR seconds (may be fractional); retr-big runs are counted;
# --sources 8 spreads the client sockets over 127.0.0.1-8 so TIME_WAIT does
# not exhaust the ports.
# OP_TIMEOUT is ftpbench's --timeout: seconds without progress before an
# operation counts as failed (a run that fails waits that long once).
if ((quick)); then
    DUR=1.5
    LOGIN_CONC="16 128"
    SMALL_CONC="16"
    BIG_MIB=64
    BIG_RUNS="1:20" # concurrency:count
    IDLE_SESSIONS="1000"
    IDLE_HOLD=1
    SLOW_CLIENTS=200
    OP_TIMEOUT=4
    REPS=1
    # serial, the baseline, is left out of --quick unless asked for.
    [[ $archs_given == 1 ]] || archs=${archs/serial /}
else
    DUR=5
    LOGIN_CONC="1 16 128 1024"
    SMALL_CONC="1 16 128"
    BIG_MIB=256
    # 40 files of 256 MiB: about 2 s a run at 5 GB/s. Fewer (12) made a
    # run so short that a scheduling hiccup swung it by 20-50%.
    BIG_RUNS="1:40 4:80"
    IDLE_SESSIONS="1000 10000"
    IDLE_HOLD=5
    SLOW_CLIENTS=1000
    OP_TIMEOUT=10
    # The runs behind the targets' ratios that swing most from run to run
    # on a shared 2-core machine (retr-big, retr-small@16, retr-persistent,
    # slow) are made 3 times; results.md shows the median run.
    REPS=3
fi
SOURCES=8
PREFORK_WORKERS=${BENCH_PREFORK_WORKERS:-32}
POOL_THREADS=${BENCH_THREADS:-32}

started_at=$(date +%s)

# --- Set-up -----------------------------------------------------------------
FTPD_PACKAGES+=(gnuplot-nox python3)
ftpd_install_deps
BUILD=$FTPD_REPO/build-bench-rel
printf 'building %s (Release)\n' "${BUILD#"$FTPD_REPO"/}"
ftpd_build "$BUILD" -DCMAKE_BUILD_TYPE=Release
FTPBENCH=${FTPBENCH:-$BUILD/ftpbench}
[[ -x $FTPBENCH ]] || ftpd_die "bench.sh: no load generator at $FTPBENCH (is src/bench/ built?)"

RUN=${out:-$FTPD_REPO/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RUN/conf" "$RUN/logs"
RUN=$(cd "$RUN" && pwd)
CSV=$RUN/results.csv
NOTES=$RUN/notes.txt
: >"$CSV"
: >"$NOTES"

# note LABEL WHAT REASON: something that did not run or failed.
note() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$NOTES"
    printf '  %-16s %-22s %s\n' "$1" "$2" "$3"
}

# Open files: soft up to hard, and as root try to raise the hard limit too.
hard=$(ulimit -Hn)
if ((EUID == 0)) && [[ $hard != unlimited ]]; then
    for want in 1048576 262144 65536; do
        ((want > hard)) && ulimit -Hn "$want" 2>/dev/null && break
    done
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
printf 'open files (ulimit -n): %s\n' "$NOFILE"

# --- Process bookkeeping ----------------------------------------------------
# Each server runs in its own process group (setsid): SIGTERM goes to the
# server, then SIGKILL to the group reaches whatever it left behind.
SERVER_PID=""
SERVER_PORT=""
FIX=""

# machine_line NAME TEXT: a line of machine.txt, once (servers start again
# for every round of the large-file phase).
machine_line() {
    grep -q "^$1 " "$RUN/machine.txt" 2>/dev/null || printf '%-12s %s\n' "$1" "$2" >>"$RUN/machine.txt"
}

stop_server() {
    local pid=$SERVER_PID i
    [[ -n $pid ]] || return 0
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null || true # the server forwards it to its workers
    for ((i = 0; i < 150; i++)); do # 15 s: ftpd's shutdown_grace is 2 s here
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        printf '  server pid %s ignored SIGTERM for 15 s: SIGKILL\n' "$pid"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true # the group: also leftover sessions
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_server
    [[ -n $FIX && -d $FIX ]] && rm -rf "$FIX"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: a free TCP port on 127.0.0.1 below the ephemeral range (so no
# client socket can take it between this check and the server's bind).
free_port() {
    python3 - <<'EOF'
import random, socket
lo, hi = 20000, 32000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        hi = min(hi, int(f.read().split()[0]) - 1)
except (OSError, ValueError):
    pass
for _ in range(500):
    port = random.randint(lo, hi)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
EOF
}

# greeting PORT: the code of the server's first reply line ("220" when ready).
greeting() {
    # shellcheck disable=SC2016 # $1 is the inner shell's
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 3 <&3' _ "$1" 2>/dev/null || true
}

# start_server LABEL PORT LOG CMD...: start CMD in its own process group and
# wait (10 s at most) for its 220 greeting on PORT.
start_server() {
    local label=$1 port=$2 log=$3 i
    shift 3
    setsid "$@" </dev/null >"$log" 2>&1 &
    SERVER_PID=$!
    SERVER_PORT=$port
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            note "$label" "start" "exited at start-up: $(tail -n 1 "$log" 2>/dev/null)"
            return 1
        fi
        [[ $(greeting "$port") == 220 ]] && return 0
        sleep 0.1
    done
    stop_server
    note "$label" "start" "no 220 greeting on 127.0.0.1:$port within 10 s (see ${log#"$RUN"/})"
    return 1
}

# --- Fixture ----------------------------------------------------------------
FIX=$(mktemp -d /dev/shm/ftpbench-fixture.XXXXXX)
printf 'fixture %s: small.bin 4 KiB, big.bin %d MiB, dir1000/\n' "$FIX" "$BIG_MIB"
head -c 4096 /dev/urandom >"$FIX/small.bin"
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$FIX/big.bin"
mkdir "$FIX/dir1000"
for ((i = 0; i < 1000; i++)); do
    printf 'file %04d\n' "$i" >"$FIX/dir1000/file$(printf '%04d' "$i").txt"
done
# Other servers drop privileges (nobody, ftp): world-readable and traversable.
chmod -R a+rX,go-w "$FIX"
SMALL_SIZE=4096
BIG_SIZE=$((BIG_MIB * 1024 * 1024))

# --- Machine ----------------------------------------------------------------
{
    printf 'date (UTC)   %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')"
    printf 'git          %s%s\n' "$(git -C "$FTPD_REPO" rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "$(git -C "$FTPD_REPO" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    printf 'nproc        %s\n' "$(nproc)"
    printf 'cpu          %s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    printf 'kernel       %s\n' "$(uname -srm)"
    printf 'memory       %s\n' "$(free -h | awk '/^Mem:/ { print $2 " total, " $7 " available" }')"
    printf 'ulimit -n    %s\n' "$NOFILE"
    printf 'matrix       %s\n' "$( ((quick)) && echo quick || echo full)"
    printf 'fixture      tmpfs (%s)\n' "$FIX"
} >"$RUN/machine.txt"

# --- One ftpbench run --------------------------------------------------------
# bench LABEL SCENARIO N ARGS...: run ftpbench against SERVER_PORT, append its
# row to results.csv, note a failure. N is the concurrency (the number of
# sessions for idle).
bench() {
    local label=$1 scen=$2 n=$3 tag log tmp status=0 limit row t0 last errs
    shift 3
    tag="$scen@$n"
    log=$RUN/logs/$label.$tag${REP:+.$REP}.log
    tmp=$RUN/logs/.row
    # A hard bound on top of ftpbench's own: duration or hold, plus timeouts.
    limit=$((${DUR%.*} + 1 + IDLE_HOLD + 4 * OP_TIMEOUT + 60))
    t0=$(date +%s)
    # --foreground: ftpbench stays in our process group, so ^C reaches it.
    timeout --foreground -k 5 "$limit" "$FTPBENCH" --scenario "$scen" --host 127.0.0.1 --port "$SERVER_PORT" \
        --sources "$SOURCES" --timeout "$OP_TIMEOUT" --label "$label" --csv --csv-header \
        "$@" >"$tmp" 2>"$log" || status=$?
    # stdout: ftpbench's summary for people, then the CSV header and the row.
    row=$(awk '/^label,scenario,/ { getline; print; exit }' "$tmp")
    if [[ -n $row ]]; then
        [[ -s $CSV ]] || grep -m 1 '^label,scenario,' "$tmp" >"$CSV"
        printf '%s\n' "$row" >>"$CSV"
    fi
    { grep -v -e '^label,scenario,' -e "^$label,$scen," "$tmp" || true; } >>"$log"
    last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
    errs=$(sed -n 's/^[[:space:]]*errors[[:space:]]*\([^-]*[^-[:space:]]\).*/\1/p' "$log" | head -n 1)
    printf 'elapsed %d s, exit %d\n' "$(($(date +%s) - t0))" "$status" >>"$log"
    rm -f "$tmp"
    case $status in
        0) printf '  %-16s %-22s %s\n' "$label" "$tag" "$(summary "$scen" "$row")" ;;
        124 | 137) note "$label" "$tag" "killed after ${limit}s (ftpbench did not finish)" ;;
        1)
            if [[ -n $row ]]; then
                note "$label" "$tag" "errors above 1%: $errs; $(summary "$scen" "$row")"
            else
                note "$label" "$tag" "failed: $last"
            fi
            ;;
        *) note "$label" "$tag" "ftpbench exit $status: $last" ;;
    esac
}

# summary SCENARIO ROW: the headline figure of one CSV row.
summary() {
    local scen=$1 row=$2
    [[ -n $row ]] || return 0
    awk -F, -v scen="$scen" '{
        # label,scenario,concurrency,duration_s,ops,errors,ops_per_s,mb_per_s,p50_ms,p99_ms,
        # max_ms,sessions_held,noop_p50_ms,noop_p99_ms,mem_before_kib,mem_held_kib,
        # bytes_per_session,slow_clients,slow_ops
        if (scen == "retr-big") printf "%s MB/s", $8
        else if (scen == "idle") printf "%s held, %s B/session, NOOP p99 %s ms", $12, $17, $14
        else printf "%s ops/s", $7
        if (scen != "idle" && $10 != "") printf ", p99 %s ms", $10
        if ($6 + 0 > 0) printf ", %s errors of %s", $6, $5 + $6
    }' <<<"$row"
}

# matrix LABEL KIND: the scenario matrix against the server on SERVER_PORT.
# repeated LABEL SCENARIO N ARGS...: bench, REPS times (REP numbers the
# logs; bench-table.py keeps the median row).
repeated() {
    local REP
    for ((REP = 1; REP <= REPS; REP++)); do
        bench "$@"
    done
}

# KIND is the arch name or the server name; it decides what can be held.
matrix() {
    local label=$1 kind=$2 c spec n
    for c in $LOGIN_CONC; do
        if [[ $kind == serial ]] && ((c > 16)); then
            note "$label" "login@$c" "skipped: serial serves one session at a time"
            continue
        fi
        bench "$label" login "$c" --concurrency "$c" --duration "$DUR"
    done
    for c in $SMALL_CONC; do
        local run=bench
        ((c != 16)) || run=repeated # slow@16 is compared with it
        $run "$label" retr-small "$c" --concurrency "$c" --duration "$DUR" \
            --file /small.bin --size "$SMALL_SIZE"
    done
    repeated "$label" retr-persistent 16 --concurrency 16 --duration "$DUR" \
        --file /small.bin --size "$SMALL_SIZE"
    bench "$label" list 16 --concurrency 16 --duration "$DUR" --dir /dir1000
    for n in $IDLE_SESSIONS; do
        local why=""
        case $kind in
            serial) why="serial serves one session at a time" ;;
            prefork) why="each session holds one of the $PREFORK_WORKERS workers; the rest wait unserved in the backlog" ;;
            threadpool) why="each session holds one of the $POOL_THREADS threads; the rest wait unserved in the backlog" ;;
            process | vsftpd | pure-ftpd | proftpd)
                ((n <= 1000)) || why="a process per session: held at 1,000 only"
                ;;
            thread)
                if ((n > 5000)); then
                    # 5,000 instead of 10,000: a 128 KiB stack per session.
                    n=5000
                fi
                ;;
        esac
        if [[ -n $why ]]; then
            note "$label" "idle@$n" "skipped: $why"
            continue
        fi
        if ((n + 100 > NOFILE)); then
            note "$label" "idle@$n" "skipped: ulimit -n is $NOFILE"
            continue
        fi
        bench "$label" idle "$n" --sessions "$n" --hold "$IDLE_HOLD" --server-pid "$SERVER_PID"
    done
    if [[ $kind == serial ]]; then
        note "$label" "slow@16" "skipped: serial serves one session at a time (a trickling client holds it)"
    else
        # Its baseline is retr-small@16 of the same run (bench-table.py).
        repeated "$label" slow 16 --slow "$SLOW_CLIENTS" --concurrency 16 --duration "$DUR" \
            --file /small.bin --size "$SMALL_SIZE"
    fi
}

# --- ftpd back-ends ----------------------------------------------------------
# Config keys without flags; --log-level error: the info level writes two log
# lines per session, which a login benchmark would measure.
ftpd_conf() {
    local arch=$1 conf=$RUN/conf/ftpd-$1.conf workers=0
    [[ $arch == prefork ]] && workers=$PREFORK_WORKERS
    cat >"$conf" <<EOF
# generated by scripts/bench.sh for --arch $arch
max_clients = 20000
max_per_ip = 0
idle_timeout = 600
data_timeout = 60
shutdown_grace = 2
workers = $workers
threads = $POOL_THREADS
EOF
    printf '%s\n' "$conf"
}

# start_ftpd ARCH: ftpd with that back-end, on a free port.
start_ftpd() {
    local label=ftpd-$1 conf port
    conf=$(ftpd_conf "$1")
    port=$(free_port)
    start_server "$label" "$port" "$RUN/logs/$label.server.log" \
        "$BUILD/ftpd" --config "$conf" --arch "$1" --listen 127.0.0.1 --port "$port" \
        --root "$FIX" --log-level error
}

for arch in $archs; do
    printf '%s\n' "ftpd-$arch"
    if start_ftpd "$arch"; then
        matrix "ftpd-$arch" "$arch"
        stop_server
    fi
done

# --- Other servers -------------------------------------------------------------
SERVERS_DIR=$FTPD_REPO/bench-servers

# find_bin NAME ENVVAL: the binary of an extracted or installed server.
find_bin() {
    local name=$1 given=$2 p
    if [[ -n $given ]]; then
        [[ -x $given ]] && printf '%s\n' "$given"
        return 0
    fi
    if p=$(PATH=$PATH:/usr/sbin:/sbin command -v "$name"); then
        printf '%s\n' "$p"
        return 0
    fi
    p=$SERVERS_DIR/$name/usr/sbin/$name
    [[ -x $p ]] && printf '%s\n' "$p"
    return 0
}

# pyftpdlib_cmd: "PYTHONPATH python3" able to import pyftpdlib, or nothing.
pyftpdlib_python() {
    local py
    if [[ -n ${PYFTPDLIB:-} && $PYFTPDLIB != system ]]; then
        PYTHONPATH=$PYFTPDLIB python3 -c 'import pyftpdlib' 2>/dev/null && echo python3
        return 0
    fi
    for py in python3 /usr/bin/python3; do
        if "$py" -c 'import pyftpdlib' 2>/dev/null; then
            printf '%s\n' "$py"
            return 0
        fi
    done
}

server_found() {
    case $1 in
        vsftpd) [[ -n $(find_bin vsftpd "${VSFTPD_BIN:-}") ]] ;;
        pure-ftpd) [[ -n $(find_bin pure-ftpd "${PUREFTPD_BIN:-}") ]] ;;
        proftpd) [[ -n $(find_bin proftpd "${PROFTPD_BIN:-}") ]] ;;
        pyftpdlib) [[ -n $(pyftpdlib_python) ]] ;;
    esac
}

missing=()
for s in $servers; do
    server_found "$s" || missing+=("$s")
done
if ((${#missing[@]} && fetch)); then
    printf 'fetching %s (scripts/bench-servers.sh)\n' "${missing[*]}"
    "$FTPD_REPO/scripts/bench-servers.sh" "${missing[@]}" >"$RUN/logs/bench-servers.log" 2>&1 ||
        printf '  bench-servers.sh failed, see logs/bench-servers.log\n'
fi

# vsftpd and pure-ftpd serve anonymous users from the home of the system user
# "ftp" (pure-ftpd refuses anonymous logins without it). Rather than adding a
# user to this machine, they run in a private mount namespace where
# /etc/passwd is a copy with "ftp" (uid/gid 65534) whose home is the fixture.
NS_PASSWD=$RUN/conf/passwd
ns_ok=0
if unshare --mount --propagation private true 2>/dev/null; then
    grep -v '^ftp:' /etc/passwd >"$NS_PASSWD"
    printf 'ftp:x:65534:65534:ftp:%s:/usr/sbin/nologin\n' "$FIX" >>"$NS_PASSWD"
    ns_ok=1
fi
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
WITH_FTP_USER=(unshare --mount --propagation private
    sh -c 'mount --bind "$0" /etc/passwd && exec "$@"' "$NS_PASSWD")

server_version() {
    local dir
    dir=$(dirname "$(dirname "$(dirname "$1")")")
    if [[ -f $dir/.deb-version ]]; then
        cat "$dir/.deb-version"
    else
        # shellcheck disable=SC2016 # a dpkg-query format
        dpkg -S "$1" 2>/dev/null | cut -d: -f1 | head -n 1 |
            xargs -r dpkg-query -W -f='${Package} ${Version}\n' 2>/dev/null || echo "$1"
    fi
}

# start_other NAME PORT: write its configuration and start it.
start_other() {
    local name=$1 port=$2 bin conf log=$RUN/logs/$1.server.log
    case $name in
        vsftpd)
            bin=$(find_bin vsftpd "${VSFTPD_BIN:-}")
            ((ns_ok)) || {
                note vsftpd start "skipped: needs a mount namespace (root) for its ftp user"
                return 1
            }
            mkdir -p "$RUN/conf/vsftpd-empty"
            chmod 755 "$RUN/conf/vsftpd-empty"
            conf=$RUN/conf/vsftpd.conf
            cat >"$conf" <<EOF
# generated by scripts/bench.sh: anonymous, read-only, 127.0.0.1 only
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
no_anon_password=YES
ftp_username=ftp
anon_root=$FIX
nopriv_user=nobody
secure_chroot_dir=$RUN/conf/vsftpd-empty
seccomp_sandbox=NO
max_clients=0
max_per_ip=0
idle_session_timeout=600
data_connection_timeout=60
pasv_enable=YES
pasv_min_port=0
pasv_max_port=0
xferlog_enable=NO
syslog_enable=NO
dirmessage_enable=NO
use_localtime=YES
tcp_wrappers=NO
EOF
            machine_line vsftpd "$(server_version "$bin")"
            start_server vsftpd "$port" "$log" "${WITH_FTP_USER[@]}" "$bin" "$conf"
            ;;
        pure-ftpd)
            bin=$(find_bin pure-ftpd "${PUREFTPD_BIN:-}")
            ((ns_ok)) || {
                note pure-ftpd start "skipped: needs a mount namespace (root) for its ftp user"
                return 1
            }
            # -e anonymous only, -A chroot, -H no DNS, -c/-C clients (total,
            # per IP), -I idle minutes, -f none: no syslog.
            printf 'pure-ftpd -S 127.0.0.1,%s -e -A -H -c 20000 -C 20000 -I 10 -f none\n' \
                "$port" >"$RUN/conf/pure-ftpd.cmdline"
            machine_line pure-ftpd "$(server_version "$bin")"
            start_server pure-ftpd "$port" "$log" "${WITH_FTP_USER[@]}" "$bin" \
                -S "127.0.0.1,$port" -e -A -H -c 20000 -C 20000 -I 10 -f none
            ;;
        proftpd)
            bin=$(find_bin proftpd "${PROFTPD_BIN:-}")
            conf=$RUN/conf/proftpd.conf
            cat >"$conf" <<EOF
# generated by scripts/bench.sh: anonymous, read-only, 127.0.0.1 only
ServerName "proftpd bench"
ServerType standalone
Port $port
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
Umask 022
MaxInstances 20000
MaxClients none
MaxClientsPerHost none
UseReverseDNS off
WtmpLog off
# mod_delay pads every login to hide timing; a login benchmark would measure it
DelayEngine off
AuthPAM off
TimeoutIdle 600
TimeoutNoTransfer 600
ScoreboardFile $RUN/conf/proftpd.scoreboard
PidFile $RUN/conf/proftpd.pid
SystemLog $RUN/logs/proftpd.system.log
SyslogLevel warn
TransferLog NONE
<Anonymous $FIX>
  User nobody
  Group nogroup
  UserAlias anonymous nobody
  UserAlias ftp nobody
  RequireValidShell off
  MaxClients none
  <Limit WRITE>
    DenyAll
  </Limit>
</Anonymous>
EOF
            machine_line proftpd "$(server_version "$bin")"
            start_server proftpd "$port" "$log" "$bin" -n -c "$conf"
            ;;
        pyftpdlib)
            local py
            py=$(pyftpdlib_python)
            conf=$RUN/conf/pyftpdlib-server.py
            # The stock "python3 -m pyftpdlib" caps sessions at 512 and logs
            # every command at INFO: this launcher lifts the cap and logs
            # warnings only; anonymous, read-only, sendfile on (the default).
            cat >"$conf" <<'EOF'
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

root, port = sys.argv[1], int(sys.argv[2])
logging.basicConfig(level=logging.WARNING)
authorizer = DummyAuthorizer()
authorizer.add_anonymous(root)  # read-only ("elr")
FTPHandler.authorizer = authorizer
FTPHandler.timeout = 600
server = FTPServer(("127.0.0.1", port), FTPHandler)
server.max_cons = 0  # no limit
server.max_cons_per_ip = 0
server.serve_forever()
EOF
            machine_line pyftpdlib "$(PYTHONPATH=${PYFTPDLIB:-} "$py" -c \
                'import pyftpdlib, sys; print(pyftpdlib.__ver__, "on python", sys.version.split()[0])')"
            if [[ -n ${PYFTPDLIB:-} && $PYFTPDLIB != system ]]; then
                start_server pyftpdlib "$port" "$log" env PYTHONPATH="$PYFTPDLIB" "$py" "$conf" "$FIX" "$port"
            else
                start_server pyftpdlib "$port" "$log" "$py" "$conf" "$FIX" "$port"
            fi
            ;;
    esac
}

for s in $servers; do
    printf '%s\n' "$s"
    if ! server_found "$s"; then
        note "$s" "-" "skipped: not installed (scripts/bench-servers.sh fetches it)"
        continue
    fi
    if start_other "$s" "$(free_port)"; then
        matrix "$s" "$s"
        stop_server
    fi
done

# --- Large files, interleaved -------------------------------------------------
# One stream at 5 GB/s is bound by memory bandwidth, which on a shared
# machine drifts by tens of percent over minutes: runs made server after
# server compared different minutes more than different servers. Here each
# round runs every server once, in turn, and results.md keeps the median of
# the rounds (REPS) for each.
big_runs() {
    local label=$1 spec
    for spec in $BIG_RUNS; do
        bench "$label" retr-big "${spec%%:*}" --concurrency "${spec%%:*}" --count "${spec#*:}" \
            --file /big.bin --size "$BIG_SIZE"
    done
}
printf 'large files (%d round(s), each server in turn)\n' "$REPS"
for ((REP = 1; REP <= REPS; REP++)); do
    for arch in $archs; do
        if start_ftpd "$arch"; then
            big_runs "ftpd-$arch"
            stop_server
        fi
    done
    for s in $servers; do
        server_found "$s" || continue
        if start_other "$s" "$(free_port)"; then
            big_runs "$s"
            stop_server
        fi
    done
done
unset REP

# --- Report -------------------------------------------------------------------
if [[ -s $CSV ]]; then
    mkdir -p "$RUN/plot"
    python3 "$FTPD_REPO/scripts/bench-table.py" "$CSV" --notes "$NOTES" \
        --machine "$RUN/machine.txt" --plot-data "$RUN/plot" --chart chart.png >"$RUN/results.md"
    if ! gnuplot -e "datadir='$RUN/plot'" -e "outfile='$RUN/chart.png'" \
        "$FTPD_REPO/scripts/bench-plot.gp" 2>"$RUN/logs/gnuplot.log"; then
        printf 'gnuplot failed, see logs/gnuplot.log\n'
    fi
    [[ -s $RUN/logs/gnuplot.log ]] || rm -f "$RUN/logs/gnuplot.log"
else
    printf 'no run produced a result\n'
fi

elapsed=$(($(date +%s) - started_at))
printf 'elapsed      %d s\n' "$elapsed" >>"$RUN/machine.txt"
printf '\nresults in %s (%d s): results.csv results.md chart.png machine.txt\n' "$RUN" "$elapsed"
if [[ -s $NOTES ]]; then
    printf 'not run or failed (notes.txt):\n'
    awk -F'\t' '{ printf "  %-16s %-22s %s\n", $1, $2, $3 }' "$NOTES"
fi

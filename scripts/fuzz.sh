#!/usr/bin/env bash
# Run the libFuzzer harnesses (tests/fuzz/fuzz_*.c) for a while each, with
# their seed corpus and the FTP dictionary; fail on any finding.
#
#   scripts/fuzz.sh [TARGET] [SECONDS]
#     TARGET   a harness (session, fuzz_session), several with commas
#              (config,users), or "all" (default)
#     SECONDS  per harness (default 30)
#
# Environment:
#   FTPD_FUZZ_JOBS   harnesses run at once (default 1; CI uses 2)
#   FTPD_FUZZ_RUNS   stop each harness after this many executions, or at
#                    SECONDS if that comes first (for the long run: fast
#                    harnesses make 10 M in minutes, the session one in
#                    about an hour)
#   FTPD_FUZZ_BUILD  build directory (default build-fuzz in the repo)
#   FTPD_FUZZ_TIMEOUT  seconds one input may take before it is a finding
#                    (default 10; a run at nice 19 on a busy machine can be
#                    starved that long, so give it more there)
#
# The clang build (-DFTPD_FUZZ=ON: ASan+UBSan+libFuzzer) is configured and
# built when needed. Under the build directory: fuzz-corpus/NAME (what each
# run found, kept for the next; the committed seeds are read, never
# written), fuzz-logs/NAME.log, and fuzz-artifacts/NAME-crash-... (or
# -leak-, -timeout-, -oom-) for every finding, named in the output:
# reproduce one with `BUILD/tests/fuzz/fuzz_NAME ARTIFACT`.
# The last line printed is the summary.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=${1:-all}
seconds=${2:-30}
jobs=${FTPD_FUZZ_JOBS:-1}
runs=${FTPD_FUZZ_RUNS:-}
timeout=${FTPD_FUZZ_TIMEOUT:-10}
build=${FTPD_FUZZ_BUILD:-$FTPD_REPO/build-fuzz}
fuzzdir=$FTPD_REPO/tests/fuzz
[[ $seconds =~ ^[0-9]+$ ]] || ftpd_die "SECONDS must be a whole number: $seconds"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || ftpd_die "FTPD_FUZZ_JOBS must be a number: $jobs"
[[ -z $runs || $runs =~ ^[1-9][0-9]*$ ]] || ftpd_die "FTPD_FUZZ_RUNS must be a number: $runs"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || ftpd_die "FTPD_FUZZ_TIMEOUT must be a number: $timeout"

ftpd_install_deps
ftpd_quiet cmake -S "$FTPD_REPO" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DFTPD_FUZZ=ON -DFTPD_WERROR=ON ||
    ftpd_die "cmake configure failed ($build)"
ftpd_quiet cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target fuzzers ||
    ftpd_die "build failed ($build)"

# The harnesses CMake built (those whose sources are all in the tree).
names=()
for bin in "$build"/tests/fuzz/fuzz_*; do
    [[ -x $bin && -f $bin ]] && names+=("$(basename "$bin" | sed 's/^fuzz_//')")
done
((${#names[@]} > 0)) || ftpd_die "no harness built in $build/tests/fuzz"
# The session harness is some 20 times slower than the rest: start it
# first, so with FTPD_FUZZ_JOBS=2 the others run beside it.
if [[ " ${names[*]} " == *" session "* ]]; then
    rest=()
    for n in "${names[@]}"; do [[ $n == session ]] || rest+=("$n"); done
    names=(session "${rest[@]}")
fi
if [[ $target != all ]]; then
    picked=()
    IFS=, read -r -a wanted <<<"$target"
    for t in "${wanted[@]}"; do
        t=${t#fuzz_}
        [[ " ${names[*]} " == *" $t "* ]] || ftpd_die "no harness '$t' (have: ${names[*]})"
        picked+=("$t")
    done
    names=("${picked[@]}")
fi

mkdir -p "$build/fuzz-corpus" "$build/fuzz-logs" "$build/fuzz-artifacts"

# Inputs longer than libFuzzer's default 4096 bytes matter where a limit
# sits beyond it (the 4 KiB line cap; whole config files).
max_len() {
    case $1 in
        linebuf | config | session) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

run_one() {
    local name=$1 corpus=$build/fuzz-corpus/$1 seeds=$fuzzdir/corpus/$1
    mkdir -p "$corpus"
    local dirs=("$corpus") limit=()
    [[ -d $seeds ]] && dirs+=("$seeds")
    [[ -n $runs ]] && limit=(-runs="$runs")
    "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" "${limit[@]}" \
        -max_len="$(max_len "$name")" \
        -dict="$fuzzdir/ftp.dict" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$name-" "${dirs[@]}" \
        >"$build/fuzz-logs/$name.log" 2>&1
}

# Run NAME and print its result line; returns non-zero on a finding.
report_one() {
    local name=$1 status=0 after began=$SECONDS
    run_one "$name" || status=$?
    after=$(find "$build/fuzz-artifacts" -name "$name-*" -newer "$build/fuzz-logs/.start-$name" |
        sort)
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-logs/$name.log")
    if ((status != 0)) || [[ -n $after ]]; then
        printf 'FAIL %-10s exit %d after %s executions; log %s\n' "$name" "$status" \
            "${execs:-?}" "$build/fuzz-logs/$name.log"
        grep -E 'ERROR:|invariant failed|runtime error|SUMMARY' "$build/fuzz-logs/$name.log" |
            head -5 | sed 's/^/     /'
        local a
        for a in $after; do
            printf '     artifact: %s\n' "$a"
        done
        return 1
    fi
    printf 'ok   %-10s %s executions in %s s\n' "$name" "${execs:-?}" "$((SECONDS - began))"
    echo "${execs:-0}" >"$build/fuzz-logs/.execs-$name"
}

failed=0
running=0
start=$SECONDS
for name in "${names[@]}"; do
    touch "$build/fuzz-logs/.start-$name"
    rm -f "$build/fuzz-logs/.execs-$name"
    report_one "$name" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || failed=$((failed + 1))
        running=$((running - 1))
    fi
done
while ((running > 0)); do
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
done

total=0
for name in "${names[@]}"; do
    [[ -f $build/fuzz-logs/.execs-$name ]] && total=$((total + $(cat "$build/fuzz-logs/.execs-$name")))
done
printf 'fuzz: %d harnesses, %s s each at most, %d at once: %d executions, %d with findings (%d s)\n' \
    "${#names[@]}" "$seconds" "$jobs" "$total" "$failed" "$((SECONDS - start))"
((failed == 0))

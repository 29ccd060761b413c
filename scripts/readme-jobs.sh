#!/usr/bin/env bash
# Wall time of the README's jobs with no --backend/--kernel flag against every explicit
# choice, median of REPEATS runs each (default 3), in one run so that machine noise hits
# all alike. Prints one line per job: the default's median, the fastest explicit choice's,
# and their ratio (the target is at most 1.25).
#
# Usage: cargo build --release && scripts/readme-jobs.sh [REPEATS]
# GPU=1 also times the lattice jobs' explicit --backend gpu choices (slow on a software
# adapter); the dbm and rg jobs are always timed on both devices.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/blockspin
repeats=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NODEVICE_SELECT=1

# median wall seconds of a command line
median() {
    local t=()
    for _ in $(seq "$repeats"); do
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s.%N)
        t+=("$(echo "$end - $start" | bc -l)")
    done
    printf '%s\n' "${t[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# CHOICES (one per line: explicit flags), then the job name and its command line without
# device/kernel flags
compare() {
    local name=$1
    shift
    mapfile -t choices <<<"$CHOICES"
    local default best=inf best_name=""
    default=$(median "$@")
    for c in "${choices[@]}"; do
        # shellcheck disable=SC2086
        local t
        t=$(median "$@" $c)
        echo "  $name $c: $t s"
        if (($(echo "$t < $best" | bc -l 2>/dev/null || echo 0))) || [ "$best" = inf ]; then
            best=$t
            best_name=$c
        fi
    done
    printf '%s: default %.3f s, fastest explicit (%s) %.3f s, ratio %.2f\n' \
        "$name" "$default" "$best_name" "$best" "$(echo "$default / $best" | bc -l)"
}

lattice="--backend cpu --kernel reference
--backend cpu --kernel chains
--backend cpu --kernel sites"
if [ "${GPU:-0}" = 1 ]; then
    lattice+="
--backend gpu --kernel reference
--backend gpu --kernel chains
--backend gpu --kernel sites"
fi
CHOICES=$lattice compare "sample L=32 16 chains" "$bin" sample --lattice square --size 32 --temperature 2.5 --sweeps 5000 --chains 16 --output "$work/r.json"
CHOICES=$lattice compare "binder job" "$bin" sample --job examples/binder-job.toml --output "$work/binder.json"
devices="--backend cpu
--backend gpu"
CHOICES=$devices compare "dbm validate example" "$bin" dbm validate --model examples/dbm-example.toml
CHOICES=$devices compare "rg chain decimation" "$bin" rg --lattice chain --coupling 0.5 --rule decimation
CHOICES=$devices compare "rg triangular fixed point" "$bin" rg --lattice triangular --rule majority --order 1 --fixed-point --samples 128 --configurations 16
CHOICES=$devices compare "rg square majority" "$bin" rg --lattice square --rule majority --coupling 0.3

#!/usr/bin/env bash
# GPU benchmark for a machine with a real GPU and possibly no Rust toolchain or network.
#
# Usage: scripts/gpu-bench.sh [DIR]
#   DIR (default: the folder of this script) holds
#     blockspin        a prebuilt x86-64 release binary (cargo build --release; target/release/blockspin)
#     *.deb            optional: Debian's libvulkan1 (apt-get download libvulkan1), used when the
#                      machine has no Vulkan loader
#
# Checks that the multi-spin coded GPU kernel equals the CPU one bit for bit, then runs
# `blockspin bench` for L = 4096 ... 65536 (sizes that exceed the device's limits are
# reported as skipped), printing a table in well under 5 minutes. Record the output in
# BENCHMARKS.md with the card's name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here}
bin="$dir/blockspin"
if [ ! -x "$bin" ]; then
    bin=$(command -v blockspin || true)
    [ -n "$bin" ] || { echo "gpu-bench: no blockspin binary in $dir (copy target/release/blockspin there)" >&2; exit 2; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Vulkan loader: the system's, else the packages next to the binary
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
    found=0
    for deb in "$dir"/*.deb; do
        [ -f "$deb" ] || continue
        dpkg -x "$deb" "$work/root"
        found=1
    done
    [ "$found" = 1 ] || { echo "gpu-bench: no Vulkan loader and no .deb in $dir (apt-get download libvulkan1)" >&2; exit 2; }
    export LD_LIBRARY_PATH="$work/root/usr/lib/x86_64-linux-gnu:$work/root/usr/lib:${LD_LIBRARY_PATH:-}"
fi

# Point the loader at the NVIDIA driver when no ICD is registered
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
        if [ -f "$icd" ]; then
            export VK_DRIVER_FILES="$icd"
            break
        fi
    done
fi
export NODEVICE_SELECT=1

"$bin" info
echo

# 1. bit-exactness of the multi-spin coded kernels (and of the reference ones)
for pair in "gpu-fast cpu-fast" "gpu cpu"; do
    set -- $pair
    for b in "$1" "$2"; do
        "$bin" sample --lattice square --size 128 --beta 0.44 --sweeps 40 --thermalize 0 --chains 64 \
            --backend "$b" --quiet --save-state "$work/$b.npy" >/dev/null
    done
    if cmp -s "$work/$1.npy" "$work/$2.npy"; then
        echo "bit-exact: $1 == $2 (L = 128, 64 chains, 40 sweeps)"
    else
        echo "gpu-bench: $1 and $2 differ" >&2
        exit 1
    fi
done
echo

# 2. throughput, L = 4096 ... 65536, and time to a target error at L = 256
timeout 270 "$bin" bench --lattice square --algorithm heat-bath --sizes ${BENCH_SIZES:-4096,8192,16384,32768,65536} \
    --backends cpu,cpu-fast,gpu,gpu-fast --repeats 3 --min-seconds 0.3 \
    --estimator-size 256 --target-error 0.001 --max-seconds 20 \
    --output "${BENCH_JSON:-bench-gpu.json}" --quiet

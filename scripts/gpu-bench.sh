#!/usr/bin/env bash
# GPU benchmark for a machine with a real GPU and possibly no Rust toolchain or network.
#
# Usage: scripts/gpu-bench.sh [DIR]
#   DIR (default: the folder of this script) holds
#     blockspin        a prebuilt x86-64 release binary (cargo build --release; target/release/blockspin)
#     *.deb            optional: Debian's libvulkan1 (apt-get download libvulkan1), used when the
#                      machine has no Vulkan loader
#
# Checks that every GPU kernel (reference, chains, sites, Swendsen-Wang) equals its CPU twin bit for bit, then runs
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

# 1. bit-exactness of every kernel, GPU against CPU (the sites kernel also on one large
#    lattice and on rows with a padded last word)
check() { # name, then sample flags
    local name=$1
    shift
    for device in gpu cpu; do
        "$bin" sample "$@" --backend "$device" --quiet --save-state "$work/$name-$device.npy" >/dev/null
    done
    if cmp -s "$work/$name-gpu.npy" "$work/$name-cpu.npy"; then
        echo "bit-exact: gpu == cpu, $name"
    else
        echo "gpu-bench: gpu and cpu differ, $name" >&2
        exit 1
    fi
}
common=(--lattice square --beta 0.44 --thermalize 0)
check "reference L=128 64 chains" "${common[@]}" --size 128 --sweeps 40 --chains 64 --kernel reference
check "chains L=128 64 chains" "${common[@]}" --size 128 --sweeps 40 --chains 64 --kernel chains
check "sites L=130 3 chains" "${common[@]}" --size 130 --sweeps 40 --chains 3 --kernel sites
check "sites L=4096 1 chain" "${common[@]}" --size 4096 --sweeps 20 --chains 1 --kernel sites
check "sites cubic L=64 metropolis" --lattice cubic --beta 0.22 --thermalize 0 --size 64 --sweeps 20 --chains 1 --kernel sites --algorithm metropolis
check "swendsen-wang L=256 4 chains" "${common[@]}" --size 256 --sweeps 40 --chains 4 --algorithm swendsen-wang
check "swendsen-wang L=1024 field" "${common[@]}" --size 1024 --sweeps 10 --chains 1 --algorithm swendsen-wang --field 0.01
echo

# 2. throughput of one lattice, L = 4096 ... 65536, every kernel and the default path;
#    time to a target error at L = 256
timeout 270 "$bin" bench --lattice square --algorithm heat-bath --sizes ${BENCH_SIZES:-4096,8192,16384,32768,65536} \
    --backends cpu-sites,gpu,gpu-fast,gpu-sites,auto --chains 1 --repeats 3 --min-seconds 0.3 \
    --estimator-size 256 --target-error 0.001 --max-seconds 20 \
    --race-sizes 0 --output "${BENCH_JSON:-bench-gpu.json}" --quiet

# 3. Swendsen-Wang on the GPU (one chain) against the CPU's cluster algorithms at K_c
timeout 200 "$bin" bench --lattice square --sizes 16 --backends cpu --chains 1 --repeats 1 --min-seconds 0.01 \
    --estimator-size 0 --race-algorithms swendsen-wang,wolff --race-sizes ${RACE_SIZES:-256,1024} \
    --race-seconds 15 --quiet
timeout 100 "$bin" sample --size 1024 --beta 0.4406868 --algorithm swendsen-wang --backend gpu --chains 1 \
    --thermalize 100 --sweeps 2000 --quiet --output "$work/sw-gpu.json" && grep -o '"spin_updates_per_ns": [0-9.e-]*' "$work/sw-gpu.json"

#!/usr/bin/env python3
"""Cost per error bar at the critical point: blockspin's algorithms against mcising's Wolff, in one run.

Usage:
    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install mcising==1.1.0 numpy
    cargo build --release
    /tmp/peers/bin/python scripts/peer-cluster.py [--sizes 64,128] [--seconds 10] [--repeats 3]

Square lattice, K = K_c, J = 1, h = 0. Each run spends a fifth of its wall budget thermalizing
and the rest measuring the energy per site after every sweep (mcising: after every Wolff
cluster, its unit of "sweep"). cost = error^2 x measured seconds, lower is better, where the
error is the binning error of stats::binning (block length: the largest power of two that
leaves at least 32 blocks over all chains). Both programs use every core: mcising as one
process per core (its simulation is single-threaded), blockspin as one chain per core through
`blockspin bench --race-*` on the default backend. Each repeat runs both back to back;
the table shows medians over repeats and the ratio of median costs.
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time

KC = 0.5 * math.log(1.0 + math.sqrt(2.0))
TC = 1.0 / KC
HERE = os.path.dirname(os.path.abspath(__file__))
BLOCKSPIN = os.path.join(HERE, "..", "target", "release", "blockspin")
MIN_BLOCKS = 32


def binning_error(chains):
    """Error of the mean of equal-length series, as blockspin's stats::binning."""
    n = min(len(c) for c in chains)
    chains = [c[:n] for c in chains]
    b = 1
    while 2 * b <= n and len(chains) * (n // (2 * b)) >= MIN_BLOCKS:
        b *= 2
    means = [sum(c[i * b:(i + 1) * b]) / b for c in chains for i in range(n // b)]
    m = sum(means) / len(means)
    var = sum((x - m) ** 2 for x in means) / (len(means) - 1)
    return sum(sum(c) for c in chains) / (n * len(chains)), math.sqrt(var / len(means))


def mcising_chain(size, seconds, seed, out):
    from mcising._core import IsingSimulation

    sim = IsingSimulation(size, 1.0, 0.0, 0.0, 0.0, seed, "wolff", "square")
    n = size * size
    t = time.perf_counter()
    while time.perf_counter() - t < 0.2 * seconds:
        sim.sweep(64, temperature=TC)
    energies, chunk = [], 64
    t = time.perf_counter()
    while time.perf_counter() - t < 0.8 * seconds:
        r = sim.production_sweeps(chunk, 1, temperature=TC, store_configs=False)
        energies.extend(float(e) for e in r["energies"])
        chunk = min(2 * chunk, 4096)
    out.put((energies, time.perf_counter() - t, n))


def mcising_cost(size, seconds, processes):
    q = mp.Queue()
    procs = [mp.Process(target=mcising_chain, args=(size, seconds, 11 + i, q)) for i in range(processes)]
    for p in procs:
        p.start()
    got = [q.get() for _ in procs]
    for p in procs:
        p.join()
    mean, error = binning_error([g[0] for g in got])
    wall = max(g[1] for g in got)
    return {"energy": mean, "error": error, "seconds": wall, "cost": error * error * wall,
            "clusters": sum(len(g[0]) for g in got)}


def blockspin_costs(size, seconds, algorithms):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.json")
        subprocess.run(
            [BLOCKSPIN, "bench", "--sizes", "16", "--backends", "cpu", "--chains", "1", "--repeats", "1",
             "--min-seconds", "0.01", "--estimator-size", "0", "--beta", str(KC), "--race-sizes", str(size),
             "--race-seconds", str(seconds), "--race-algorithms", ",".join(algorithms), "--quiet",
             "--output", path],
            check=True, capture_output=True)
        with open(path) as f:
            return {r["algorithm"]: r for r in json.load(f)["race"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--algorithms", default="heat-bath,swendsen-wang,wolff")
    ap.add_argument("--output")
    args = ap.parse_args()
    try:
        import mcising
    except ImportError:
        sys.exit("peer-cluster: mcising is not installed in this Python (pip install mcising==1.1.0)")
    algorithms = args.algorithms.split(",")
    cpus = os.cpu_count()
    cases = []
    for size in [int(s) for s in args.sizes.split(",")]:
        peer, ours = [], {}
        for _ in range(args.repeats):
            peer.append(mcising_cost(size, args.seconds, cpus))
            for k, r in blockspin_costs(size, args.seconds, algorithms).items():
                ours.setdefault(k, []).append(r)
        row = {"size": size, "mcising wolff": {
            "cost": statistics.median(p["cost"] for p in peer),
            "error": statistics.median(p["error"] for p in peer),
            "energy": statistics.median(p["energy"] for p in peer)}}
        for k, rs in ours.items():
            row[f"blockspin {k}"] = {"cost": statistics.median(r["cost"] for r in rs),
                                     "error": statistics.median(r["error"] for r in rs),
                                     "energy": statistics.median(r["energy_per_site"] for r in rs),
                                     "tau_int": statistics.median(r["tau_int"] for r in rs),
                                     "ran": rs[0]["ran"]}
        cases.append(row)
    print(f"cost = error^2 x seconds of the energy per site at K_c, square lattice, {cpus} CPUs, "
          f"{args.seconds} s per run, medians of {args.repeats} repeats; mcising {mcising.__version__}")
    for row in cases:
        peer = row["mcising wolff"]["cost"]
        default = row.get("blockspin heat-bath", {}).get("cost")
        print(f"\nL = {row['size']}:")
        for k, v in row.items():
            if k == "size":
                continue
            extra = f"   mcising/this {peer / v['cost']:6.2f}"
            if default:
                extra += f"   heat-bath/this {default / v['cost']:6.1f}"
            print(f"  {k:<26} cost {v['cost']:.3e}  error {v['error']:.2e}  e {v['energy']:.5f}{extra}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"schema": "blockspin/peer-cluster/1", "mcising": mcising.__version__, "cpus": cpus,
                       "seconds": args.seconds, "repeats": args.repeats, "cases": cases}, f, indent=2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""blockspin against mcising (a pip-installable Rust Monte Carlo peer), in one run.

Usage:
    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install mcising==1.1.0
    cargo build --release
    /tmp/peers/bin/python scripts/peer-bench.py [--repeats 5] [--output peers.json]

Cases (square lattice, T = T_c, J = 1, h = 0): one lattice of L = 4096 and two lattices of
L = 1024. mcising advances one lattice per process (its sweep is single-threaded), so two
lattices run as two processes at once, one per core; one lattice uses one core.
blockspin runs the same lattices through `blockspin bench` (every core, no measurement
inside the timed sweeps, as mcising's sweep). Each repeat times both programs back to back
and the table reports medians and the ratio of medians, so machine noise hits both alike.
"""

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time

TC = 2.0 / __import__("math").log(1.0 + 2.0**0.5)
HERE = os.path.dirname(os.path.abspath(__file__))
BLOCKSPIN = os.path.join(HERE, "..", "target", "release", "blockspin")


def mcising_sweeps(size, sweeps, seed, out):
    from mcising._core import IsingSimulation

    sim = IsingSimulation(size, 1.0, 0.0, 0.0, 0.0, seed, "metropolis", "square")
    sim.sweep(5, temperature=TC)  # warm-up
    t = time.perf_counter()
    sim.sweep(sweeps, temperature=TC)
    out.put(time.perf_counter() - t)


def mcising_rate(size, lattices, sweeps):
    """Spin updates per ns of `lattices` concurrent mcising processes (wall time of all)."""
    q = mp.Queue()
    procs = [mp.Process(target=mcising_sweeps, args=(size, sweeps, 7 + i, q)) for i in range(lattices)]
    for p in procs:
        p.start()
    times = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return lattices * size * size * sweeps / (max(times) * 1e9)


def blockspin_rate(size, chains, algorithm):
    """Median spin updates per ns of `blockspin bench` (one repeat per call)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.json")
        subprocess.run(
            [BLOCKSPIN, "bench", "--sizes", str(size), "--chains", str(chains), "--backends", "cpu,cpu-sites,auto",
             "--algorithm", algorithm, "--beta", str(1.0 / TC), "--repeats", "3", "--min-seconds", "0.5",
             "--estimator-size", "0", "--quiet", "--output", path],
            check=True, capture_output=True)
        with open(path) as f:
            rows = json.load(f)["throughput"]
    return {r["backend"]: r["median"] for r in rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output")
    args = ap.parse_args()
    try:
        import mcising
    except ImportError:
        sys.exit("peer-bench: mcising is not installed in this Python (pip install mcising==1.1.0)")
    cases = [(4096, 1, 4), (1024, 2, 40)]  # L, lattices, mcising sweeps per repeat
    results = []
    for size, lattices, sweeps in cases:
        peer, ours = [], {}
        for _ in range(args.repeats):
            peer.append(mcising_rate(size, lattices, sweeps))
            for algorithm in ("metropolis", "heat-bath"):
                for k, v in blockspin_rate(size, lattices, algorithm).items():
                    ours.setdefault(f"{k} {algorithm}", []).append(v)
        row = {"size": size, "lattices": lattices, "mcising metropolis": statistics.median(peer)}
        row.update({k: statistics.median(v) for k, v in ours.items()})
        results.append(row)
    print(f"blockspin vs mcising {mcising.__version__}, square lattice at T_c, {os.cpu_count()} CPUs, "
          f"medians of {args.repeats} repeats (spin updates per ns)")
    for row in results:
        peer = row["mcising metropolis"]
        print(f"\nL = {row['size']}, {row['lattices']} lattice(s):")
        print(f"  {'mcising metropolis':<32} {peer:8.3f}")
        for k, v in row.items():
            if k in ("size", "lattices", "mcising metropolis"):
                continue
            print(f"  {'blockspin ' + k:<32} {v:8.3f}   {v / peer:6.1f}x mcising")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"schema": "blockspin/peer-bench/1", "mcising": mcising.__version__,
                       "cpus": os.cpu_count(), "repeats": args.repeats, "cases": results}, f, indent=2)


if __name__ == "__main__":
    main()

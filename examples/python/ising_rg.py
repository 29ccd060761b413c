"""Block-spin RG of the 2D Ising model at its critical point, from Python.

1. Sample the square-lattice Ising model at K_c = ln(1 + √2)/2 with Swendsen–Wang
   (`blockspin.Sampler`), streaming the configurations into one numpy array.
2. Block them with the majority rule and estimate the renormalized couplings of the
   blocked configurations by Callen's identity (`blockspin.mcrg`, on the array).
3. Compare with `blockspin.rg`: the same majority rule applied by block-wise conditional
   sampling, K' from its cumulant expansion order by order.
4. Plot both (when matplotlib is installed).

    python examples/python/ising_rg.py                 # L = 64, about 5 s on 2 cores
    python examples/python/ising_rg.py --size 16 --plot rg.png

The test suite runs it small (python/tests/test_example.py).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import blockspin

K_C = 0.5 * math.log(1.0 + math.sqrt(2.0))
NAMES = ["nn", "nnn", "3rd", "plaquette"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64, help="linear size L of the sampled lattice")
    ap.add_argument("--chains", type=int, default=8)
    ap.add_argument("--configurations", type=int, default=512, help="configurations per chain")
    ap.add_argument("--rg-samples", type=int, default=400, help="rg: draws per coarse configuration")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plot", help="write a PNG here (needs matplotlib)")
    a = ap.parse_args()

    # 1. sample at K_c and stream the configurations
    s = blockspin.Sampler(lattice="square", size=a.size, beta=K_C, algorithm="swendsen-wang", chains=a.chains, seed=a.seed, quiet=True)
    s.thermalize(200)
    configs = np.concatenate(list(s.configurations(every=2, count=a.configurations)))
    print(f"sampled {configs.shape[0]} configurations of {a.size}x{a.size} at K_c = {K_C:.6f} on {s.backend['kind']} ({s.backend['kernel']}); int8 array {configs.shape}")

    # 2. MCRG of the array: majority rule, b = 2
    m = blockspin.mcrg(configs, levels=2, block=2, rule="majority", seed=a.seed, quiet=True)
    mcrg_k = m.couplings(1)

    # 3. rg's cumulant orders for the same rule on a small torus (8x8 → 4x4 blocks)
    r = blockspin.rg(lattice="square", size=8, coupling=K_C, rule="majority", block=2, samples=a.rg_samples, seed=a.seed, quiet=True)
    orders = r.couplings_by_order()

    print(f"\nrenormalized couplings after one majority-rule step (b = 2) at K_c")
    head = f"{'coupling':<10} {'MCRG (Callen)':>20}" + "".join(f" {'rg order ' + str(o):>20}" for o in sorted(orders))
    print(head)
    for name in NAMES:
        k = mcrg_k.get(name)
        row = f"{name:<10} {f'{k.mean:.5f} ± {k.error:.5f}' if k else '-':>20}"
        for o in sorted(orders):
            e = orders[o].get(name)
            row += f" {f'{e.mean:.5f} ± {e.error:.5f}' if e else '-':>20}"
        print(row)
    y = m.exponents(1, "odd")
    ys = ", ".join(f"{n}: {e.mean:.4f} ± {e.error:.4f}" for n, e in y.items())
    print(f"\nMCRG y_H by operators at level 1: {ys} (exact 15/8 = 1.875)")

    # 4. plot
    if a.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot")
            return
        fig, ax = plt.subplots(figsize=(7, 4))
        x = np.arange(len(NAMES))
        width = 0.8 / (1 + len(orders))
        ax.bar(x, [mcrg_k[n].mean if n in mcrg_k else np.nan for n in NAMES], width, yerr=[mcrg_k[n].error if n in mcrg_k else 0 for n in NAMES], label="MCRG (Callen)")
        for i, o in enumerate(sorted(orders), start=1):
            vals = [orders[o][n].mean if n in orders[o] else np.nan for n in NAMES]
            errs = [orders[o][n].error if n in orders[o] else 0 for n in NAMES]
            ax.bar(x + i * width, vals, width, yerr=errs, label=f"rg, cumulant order {o}")
        ax.set_xticks(x + 0.4 - width / 2, NAMES)
        ax.set_ylabel("K'")
        ax.set_title(f"2D Ising at K_c, majority rule b = 2 (L = {a.size})")
        ax.axhline(0, color="k", lw=0.5)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=100)
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    main()

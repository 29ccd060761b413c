"""examples/python runs (small)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from conftest import REPO


def test_ising_rg_example(tmp_path):
    png = tmp_path / "rg.png"
    p = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "ising_rg.py"), "--size", "16", "--chains", "4", "--configurations", "64", "--rg-samples", "128", "--plot", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "renormalized couplings after one majority-rule step" in p.stdout
    assert "rg order 4" in p.stdout
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.stat().st_size > 0

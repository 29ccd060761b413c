"""rg, mcrg and dbm against the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

import blockspin
from blockspin import dbm
from conftest import REPO, flags, run_cli, strip


def test_rg_equals_the_cli(cli, tmp_path):
    params = dict(lattice="square", size=8, coupling=0.3, rule="majority", samples=200, configurations=16, seed=3, backend="cpu")
    out = tmp_path / "rg.json"
    run_cli(cli, "rg", *flags(**params), "--output", str(out), "--quiet")
    r = blockspin.rg(**params, quiet=True)
    assert strip(r.to_json()) == strip(out.read_text())
    by_order = r.couplings_by_order()
    assert sorted(by_order) == [1, 2, 3, 4]
    assert "nn" in by_order[4] and np.isfinite(by_order[4]["nn"].mean)


def test_rg_defaults_and_the_chain_flow(cli, tmp_path):
    params = dict(coupling=0.5, steps=2, samples=200)
    out = tmp_path / "rg.json"
    run_cli(cli, "rg", *flags(**params), "--backend", "cpu", "--output", str(out), "--quiet")
    r = blockspin.rg(**params, backend="cpu", quiet=True)
    assert strip(r.to_json()) == strip(out.read_text())
    assert r.parameters.lattice == "chain"
    assert isinstance(r.trajectory, list) and len(r.trajectory) >= 2


def test_mcrg_of_an_array_equals_the_cli_on_its_file(cli, tmp_path):
    s = blockspin.Sampler(size=16, temperature=2.269185314, algorithm="swendsen-wang", chains=4, seed=11, backend="cpu", quiet=True)
    s.thermalize(100)
    configs = np.concatenate(list(s.configurations(every=2, count=32)))
    assert configs.shape == (128, 16, 16) and configs.dtype == np.int8
    npy = tmp_path / "c.npy"
    np.save(npy, configs)
    out = tmp_path / "m.json"
    run_cli(cli, "mcrg", "--input", str(npy), "--levels", "2", "--seed", "4", "--output", str(out), "--quiet")
    r = blockspin.mcrg(configs, levels=2, seed=4, quiet=True)
    assert strip(r.to_json()) == strip(out.read_text())
    # the file as input, and 0/1 values, give the same report
    assert blockspin.mcrg(npy, levels=2, seed=4, quiet=True).to_json() == r.to_json()
    assert blockspin.mcrg(((configs + 1) // 2).astype(np.uint8), levels=2, seed=4, quiet=True).to_json() == r.to_json()
    k = r.couplings(1)
    assert "nn" in k and 0.2 < k["nn"].mean < 0.6
    assert set(r.exponents(1, "odd")) == {1, 2, 3}


def test_mcrg_sampled_equals_the_cli(cli, tmp_path):
    params = dict(size=16, temperature=2.269185314, algorithm="swendsen-wang", chains=4, thermalize=50, sweeps=100, seed=9, backend="cpu", levels=2)
    out = tmp_path / "m.json"
    run_cli(cli, "mcrg", *flags(**params), "--output", str(out), "--quiet")
    r = blockspin.mcrg(**params, quiet=True)
    assert strip(r.to_json()) == strip(out.read_text())


def test_mcrg_refuses_bad_arrays():
    with pytest.raises(ValueError, match="input"):
        blockspin.mcrg(np.full((4, 8, 8), 2, dtype=np.int8))
    with pytest.raises(ValueError, match="input"):
        blockspin.mcrg(np.ones((4, 8, 6), dtype=np.int8))
    with pytest.raises(ValueError, match="^size"):
        blockspin.mcrg(np.ones((4, 8, 8), dtype=np.int8), size=8)


def example_model() -> dbm.Model:
    return dbm.Model(
        W=[[0.3, -0.2, 0.1], [0.0, 0.4, -0.1], [0.2, 0.2, 0.3], [-0.3, 0.1, 0.2]],
        M=[[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]],
        visible_bias=[0.1, -0.2, 0.0, 0.3],
        hidden_mean=[0.0, 0.1, -0.1],
        hidden_std=[1.0, 0.8, 1.2],
        deep_mean=[0.2, -0.3],
        deep_std=[0.7, 1.1],
    )


def test_dbm_analyze_equals_the_cli(cli, tmp_path):
    m = example_model()
    # the repository's example file holds the same model
    ref = dbm.Model.load(REPO / "examples" / "dbm-example.toml")
    for k, v in m.to_dict().items():
        np.testing.assert_array_equal(v, ref.to_dict()[k])
    path = tmp_path / "m.toml"
    m.save(path)
    out = tmp_path / "a.json"
    run_cli(cli, "dbm", "analyze", "--model", str(path), "--output", str(out))
    r = m.analyze()
    assert r.to_json() == out.read_text()
    assert r.J_v.shape == (4, 4) and r.J_v.dtype == np.float64
    assert r.f_v.shape == (4,)
    np.testing.assert_array_equal(r.J_v, json.loads(out.read_text())["visible_coupling"])
    assert abs(r.log_partition - 7.592748) < 1e-6
    # a bernoulli deep layer: exact enumeration, multi-body couplings
    b = dbm.Model(m.to_dict()["W"], m.to_dict()["M"], [0.1, -0.2, 0.0, 0.3], deep_bias=[0.2, -0.1])
    b.save(path)
    run_cli(cli, "dbm", "analyze", "--model", str(path), "--order", "3", "--output", str(out))
    assert dbm.analyze(b, order=3).to_json() == out.read_text()


def test_dbm_sample_and_validate():
    m = example_model()
    r = m.sample(chains=64, sweeps=60, thermalize=20, seed=3, backend="cpu", samples=True, quiet=True)
    assert r.samples.dtype == np.int8 and r.samples.shape == (20, 64, 4)
    mean, err = r.means("visible")[:2]
    assert mean.shape == (4,) and np.all(err > 0)
    np.testing.assert_allclose(mean, r.samples.mean(axis=(0, 1)), atol=1e-12)
    # the defaults (2048 chains x 100 snapshots): enough for the visible-Hamiltonian check
    # to detect its negative control on this 4-unit model
    v = m.validate(seed=2, backend="cpu", quiet=True)
    assert v.passed and bool(v)
    assert v.data["visible_hamiltonian"]["status"] == "checked"


def test_dbm_refuses_bad_models():
    with pytest.raises(ValueError, match="model"):
        dbm.Model(W=np.ones((3, 2)), M=np.ones((3, 2)))  # M must have n_h = 2 rows
    with pytest.raises(ValueError, match="model"):
        dbm.Model(W=np.ones((3, 2)), M=np.ones((2, 2)), hidden_std=[1.0, -1.0])
    with pytest.raises(ValueError, match="^order"):
        example_model().analyze(order=0)

"""sample, Sampler and run_job against the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

import blockspin
from conftest import flags, run_cli, strip

SMALL = dict(lattice="square", size=16, temperature=2.5, thermalize=100, sweeps=300, chains=4, seed=5, backend="cpu")


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"algorithm": "swendsen-wang", "temperature": 2.269, "measure_every": 2},
        {"lattice": "chain", "size": 32, "units": "bernoulli", "field": 0.3, "kernel": "reference"},
        {"lattice": "cubic", "size": 8, "algorithm": "metropolis", "coupling": -1.0},
    ],
)
def test_sample_equals_the_cli(cli, tmp_path, extra):
    params = {**SMALL, **extra}
    out = tmp_path / "cli.json"
    run_cli(cli, "sample", *flags(**params), "--output", str(out), "--quiet")
    r = blockspin.sample(**params, quiet=True)
    assert strip(r.to_json()) == strip(out.read_text())
    # the Python objects are the file's numbers
    d = json.loads(out.read_text())
    for name, e in d["observables"].items():
        if e is None:  # not defined for this model (null in the file): NaN here
            assert np.isnan(r.observables[name].mean)
            continue
        assert r.observables[name].mean == e["mean"]
        assert r.observables[name].error == e["error"]
    np.testing.assert_array_equal(r.mean_series.energy_per_site, d["mean_series"]["energy_per_site"])
    assert (r.cluster is None) == ("cluster" not in d)


def test_output_files_equal_the_cli(cli, tmp_path):
    run_cli(cli, "sample", *flags(**SMALL), "--output", str(tmp_path / "a.json"), "--series", str(tmp_path / "a.csv"), "--save-state", str(tmp_path / "a.npy"), "--quiet")
    blockspin.sample(**SMALL, output=tmp_path / "b.json", series=tmp_path / "b.csv", save_state=tmp_path / "b.npy", quiet=True)
    assert strip((tmp_path / "a.json").read_text()) == strip((tmp_path / "b.json").read_text())
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()


def test_results_arrays_and_types():
    r = blockspin.sample(**{**SMALL, "measure_every": 3}, quiet=True)
    ms = r.mean_series
    assert ms.energy_per_site.dtype == np.float64 and ms.magnetization_per_site.dtype == np.float64
    assert ms.energy_per_site.shape == (100,) and ms.magnetization_per_site.shape == (100,)
    assert ms.first_sweep == 103 and ms.every == 3
    assert ms.sweeps[0] == 103 and ms.sweeps[-1] == 400
    e = r["energy_per_site"]
    assert isinstance(e, blockspin.Estimate) and e.error > 0 and e.tau_int is not None
    assert r.parameters["kernel"] in ("reference", "chains", "sites")
    assert r.backend["kind"] == "cpu"
    assert r.exact is not None and "energy_per_site" in r.exact
    assert r.command[:2] == ["blockspin", "sample"]
    assert "--size=16" in r.command


def test_defaults_are_the_clis(cli, tmp_path):
    # only the temperature given (and a short run): every other value is a default
    params = dict(temperature=3.0, sweeps=100, thermalize=10, backend="cpu")
    out = tmp_path / "d.json"
    run_cli(cli, "sample", *flags(**params), "--output", str(out), "--quiet")
    r = blockspin.sample(**params, quiet=True)
    assert strip(r.to_json()) == strip(out.read_text())
    assert r.parameters["size"] == 16 and r.parameters["chains"] == 16 and r.parameters["seed"] == 1


def test_sampler_ends_where_save_state_does(cli, tmp_path):
    for extra in ({}, {"algorithm": "wolff", "temperature": 2.3}, {"lattice": "triangular", "size": 12, "units": "bernoulli"}):
        params = {**SMALL, **extra}
        npy = tmp_path / "state.npy"
        run_cli(cli, "sample", *flags(**params), "--save-state", str(npy), "--quiet")
        s = blockspin.Sampler(**params, quiet=True)
        assert s.sweeps_done == 0
        s.thermalize()
        m = s.run()
        assert s.sweeps_done == params["thermalize"] + params["sweeps"]
        state = s.state
        want = np.load(npy)
        assert state.dtype == np.int8 and state.shape == want.shape == s.shape
        np.testing.assert_array_equal(state, want)
        assert m.energy_per_site.shape == (params["sweeps"], params["chains"])
        assert m.energy_per_site.dtype == np.float64


def test_sampler_measurements_are_samples():
    r = blockspin.sample(**SMALL, quiet=True)
    s = blockspin.Sampler(**SMALL, quiet=True)
    s.thermalize()
    m = s.run()
    np.testing.assert_allclose(m.energy_per_site.mean(axis=1), r.mean_series.energy_per_site, rtol=0, atol=1e-14)
    np.testing.assert_allclose(m.magnetization_per_site.mean(axis=1), r.mean_series.magnetization_per_site, rtol=0, atol=1e-14)
    assert s.parameters == r.parameters


def test_sampler_streams_and_sets_configurations():
    s = blockspin.Sampler(lattice="square", size=8, beta=0.3, chains=3, seed=2, sweeps=40, measure_every=4, backend="cpu", quiet=True)
    assert s.shape == (3, 8, 8)
    got = list(s.configurations())
    assert len(got) == 10 and s.sweeps_done == 40
    assert all(x.dtype == np.int8 and x.shape == (3, 8, 8) for x in got)
    assert set(np.unique(np.stack(got))) <= {-1, 1}
    assert len(list(s.configurations(every=1, count=5))) == 5 and s.sweeps_done == 45
    # set a state, read it back, and continue from it deterministically
    cold = np.ones((3, 8, 8), dtype=np.int8)
    cold[1, 2, 3] = -1
    s.state = cold
    np.testing.assert_array_equal(s.state, cold)
    s.run(10, 0)
    after = s.state
    s2 = blockspin.Sampler(lattice="square", size=8, beta=0.3, chains=3, seed=2, backend="cpu", quiet=True)
    s2.run(45, 0)
    s2.state = cold
    s2.run(10, 0)
    np.testing.assert_array_equal(s2.state, after)
    with pytest.raises(ValueError, match="state"):
        s.state = np.zeros((3, 8, 8), dtype=np.int8)  # 0 is no spin value
    with pytest.raises(ValueError, match="state"):
        s.state = np.ones((2, 8, 8), dtype=np.int8)


JOB = """lattice = "square"
size = [8, 12]
temperature = { start = 2.2, stop = 2.4, count = 2 }
thermalize = 50
sweeps = 200
chains = 4
seed = 3
backend = "cpu"
"""


def test_job_equals_the_cli(cli, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    run_cli(cli, "sample", "--job", str(job), "--output", str(tmp_path / "cli.json"), "--quiet")
    r = blockspin.run_job(job, output=tmp_path / "py.json", quiet=True)
    cli_text = (tmp_path / "cli.json").read_text()
    assert strip(r.to_json()) == strip(cli_text)
    assert strip((tmp_path / "py.json").read_text()) == strip(cli_text)
    assert (tmp_path / "cli.csv").read_text().splitlines()[0] == (tmp_path / "py.csv").read_text().splitlines()[0]
    # the same job as a dict, with keyword spellings, and an override
    d = dict(lattice="square", size=[8, 12], temperature={"start": 2.2, "stop": 2.4, "count": 2}, thermalize=50, sweeps=200, chains=4, seed=3, backend="cpu")
    r2 = blockspin.run_job(d, quiet=True)
    assert strip(r2.to_json()) == strip(cli_text)
    assert len(r2) == 4 and r2.points[0].parameters["size"] == 8
    run_cli(cli, "sample", "--job", str(job), "--chains", "2", "--output", str(tmp_path / "cli2.json"), "--quiet")
    r3 = blockspin.run_job(d, chains=2, quiet=True)
    assert strip(r3.to_json()) == strip((tmp_path / "cli2.json").read_text())

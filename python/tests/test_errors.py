"""Bad input raises ValueError naming the parameter with the command line's message;
Ctrl-C raises KeyboardInterrupt promptly and leaves no file; progress callbacks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import blockspin
from conftest import REPO, flags, run_cli

BAD = [
    ("size", dict(size=5, temperature=2.0)),
    ("size", dict(size=-3, temperature=2.0)),
    ("temperature", dict(temperature=0.0)),
    ("temperature", dict(temperature=float("nan"))),
    ("coupling", dict(coupling=1e308, temperature=2.0)),
    ("chains", dict(chains=0, temperature=2.0)),
    ("beta", dict()),
    ("beta", dict(beta=0.5, temperature=2.0)),
    ("algorithm", dict(algorithm="glauber", temperature=2.0)),
    ("thermalize_cap", dict(thermalize_cap=10, temperature=2.0)),
    ("kernel", dict(lattice="triangular", size=12, kernel="sites", temperature=2.0)),
]


@pytest.mark.parametrize("param,params", BAD, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD)])
def test_bad_sample_input_raises_the_clis_error(cli, param, params):
    with pytest.raises(blockspin.InvalidParameterError) as e:
        blockspin.sample(**params, sweeps=10, quiet=True)
    assert isinstance(e.value, ValueError) and isinstance(e.value, blockspin.Error)
    assert e.value.param == param
    assert str(e.value).startswith(f"{param}: ")
    # the command line refuses the same input with the same library message
    p = run_cli(cli, "sample", *flags(**params), "--sweeps", "10", "--quiet", expect=2)
    flag = "--" + param.replace("_", "-")
    assert flag in p.stderr
    message = str(e.value)[len(param) + 2 :]
    if not message.startswith("invalid value") and "cannot be used" not in message:
        assert message in p.stderr, (message, p.stderr)


def test_bad_input_elsewhere():
    with pytest.raises(ValueError, match="^order"):
        blockspin.rg(coupling=0.5, order=9)
    with pytest.raises(ValueError, match="^coupling"):
        blockspin.rg(coupling=float("inf"))
    with pytest.raises(ValueError, match="^lambda"):
        blockspin.rg(coupling=0.5, lambda_=[1.0])
    with pytest.raises(ValueError, match="^levels"):
        blockspin.mcrg(size=8, temperature=2.0, levels=9)
    with pytest.raises(ValueError, match="^thermalize"):
        blockspin.Sampler(temperature=2.0, thermalize="auto")
    with pytest.raises(ValueError, match="^job"):
        blockspin.run_job({"size": [8], "temperature": 2.0, "lattice": "hexagonal"})
    with pytest.raises(TypeError):
        blockspin.run_job({"temperature": 2.0}, colour="blue")
    with pytest.raises(ValueError, match="^output"):
        blockspin.sample(temperature=2.0, sweeps=10, output="/nonexistent-dir/x.json")


def test_a_gpu_that_is_not_there_is_a_device_error():
    # without any adapter wgpu cannot open `gpu`; with one (lavapipe) the run works
    try:
        r = blockspin.sample(temperature=2.0, size=8, sweeps=10, thermalize=0, chains=2, backend="gpu", quiet=True)
    except blockspin.DeviceError as e:
        assert isinstance(e, blockspin.Error) and not isinstance(e, ValueError)
    else:
        assert r.backend["kind"] == "gpu"


def test_progress_is_reported_and_can_stop_the_work():
    seen = []
    blockspin.sample(temperature=2.0, size=32, sweeps=20000, thermalize=0, chains=4, backend="cpu", quiet=True, progress=lambda d, t, w: seen.append((d, t, w)))
    assert seen and seen[-1][1] == 20000 and all(w == "sweeps" for _, _, w in seen)

    class Enough(Exception):
        pass

    def stop(done, total, what):
        raise Enough

    with pytest.raises(Enough):
        blockspin.sample(temperature=2.0, size=64, sweeps=10**7, measure_every=100, chains=4, backend="cpu", quiet=True, progress=stop)
    # the stop request is withdrawn: the next call runs
    assert blockspin.sample(temperature=2.0, size=8, sweeps=10, thermalize=0, chains=2, backend="cpu", quiet=True)


INTERRUPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import blockspin
    out = sys.argv[1]
    def interrupt_in(seconds):
        threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()
    calls = {
        "sample": lambda: blockspin.sample(temperature=2.0, size=256, sweeps=10**7, measure_every=100, backend="cpu", quiet=True, output=out),
        "sampler": lambda: blockspin.Sampler(temperature=2.0, size=256, backend="cpu", quiet=True).run(10**8, 0),
        "rg": lambda: blockspin.rg(lattice="square", size=16, coupling=0.4, samples=10**6, configurations=4096, backend="cpu", quiet=True, output=out),
        "mcrg": lambda: blockspin.mcrg(size=64, temperature=2.269, chains=4, sweeps=10**6, thermalize=0, backend="cpu", quiet=True, output=out),
        "job": lambda: blockspin.run_job({"size": [64, 128], "temperature": [2.0, 2.5], "sweeps": 10**7, "measure_every": 100}, backend="cpu", quiet=True, output=out),
    }
    for name, call in calls.items():
        interrupt_in(1.0)
        started = time.monotonic()
        try:
            call()
        except KeyboardInterrupt:
            took = time.monotonic() - started
            assert took < 3.0, (name, took)
            assert not os.path.exists(out), name
            leftovers = [f for f in os.listdir(os.path.dirname(out)) if f != "x"]
            assert not leftovers, (name, leftovers)
            print(name, "interrupted after", round(took, 2), "s")
        else:
            sys.exit(f"{name}: not interrupted")
    # later calls run as usual
    r = blockspin.sample(temperature=2.0, size=8, sweeps=20, thermalize=0, chains=2, backend="cpu", quiet=True, output=out)
    assert os.path.exists(out)
    print("ok")
    """
)


def test_ctrl_c_raises_keyboard_interrupt_and_writes_nothing(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "x").write_text("")
    p = subprocess.run(
        [sys.executable, "-c", INTERRUPT, str(work / "out.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith("ok"), p.stdout

"""blockspin: GPU/CPU Monte Carlo lattice engine, from Python.

The same library as the ``blockspin`` command line, with the same parameter names (in
snake_case: ``--measure-every`` is ``measure_every=``), the same defaults, the same
validation and, for the same seed, the same numbers. Results come back as Python objects
holding numpy arrays.

* :func:`sample` — one run (``blockspin sample``) → :class:`Results`.
* :class:`Sampler` — live chains: step them, read and set configurations as int8 arrays,
  stream configurations (e.g. into PyTorch) without files.
* :func:`run_job` — a grid from a job file or a dict (``blockspin sample --job``).
* :func:`rg` — block-spin RG by block-wise conditional sampling (``blockspin rg``).
* :func:`mcrg` — Monte Carlo RG of sampled configurations or of an array you pass
  (``blockspin mcrg``).
* :mod:`blockspin.dbm` — deep Boltzmann machines from numpy arrays: analyze, sample,
  validate (``blockspin dbm``).

Long calls release the GIL; Ctrl-C raises :class:`KeyboardInterrupt` within a fraction of
a second and leaves no half-written file; every long call takes an optional
``progress(done, total, what)`` callback (raising from it stops the work). Bad input
raises :class:`InvalidParameterError` (a :class:`ValueError`) naming the parameter; GPU
trouble raises a :class:`DeviceError`. With no hardware GPU everything runs on the
multi-threaded CPU backend (``backend="gpu"`` uses whatever adapter wgpu finds, software
ones included); wgpu loads the system's Vulkan loader, none is bundled.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

# Mesa's device-select layer only reorders adapters and prints a warning on headless
# machines; the command line turns it off the same way.
os.environ.setdefault("NODEVICE_SELECT", "1")

from . import _blockspin  # noqa: E402
from ._args import SAMPLING, argv as _argv, pick as _pick  # noqa: E402
from ._errors import (  # noqa: E402
    DeviceError,
    DeviceLimitError,
    Error,
    GpuError,
    InternalError,
    InvalidParameterError,
    IoError,
    NoAdapterError,
)

__all__ = [
    "sample",
    "Sampler",
    "run_job",
    "rg",
    "mcrg",
    "dbm",
    "Results",
    "JobResults",
    "Report",
    "RgReport",
    "McrgReport",
    "Estimate",
    "MeanSeries",
    "Measurements",
    "version",
    "Error",
    "InvalidParameterError",
    "DeviceLimitError",
    "DeviceError",
    "NoAdapterError",
    "GpuError",
    "IoError",
    "InternalError",
    "__version__",
]

__version__: str = _blockspin.version()[0]

Progress = Callable[[int, int, str], Any]
PathLike = Union[str, "os.PathLike[str]"]


def _array(t: Any) -> np.ndarray:
    """(bytearray, shape, dtype) from the compiled module as an ndarray over its memory."""
    data, shape, dtype = t
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


class Estimate(NamedTuple):
    """An estimate with its standard error; ``tau_int`` (integrated autocorrelation time in
    measurement intervals) is None for jackknifed quantities. A value that is not a number
    (null in the JSON) is NaN."""

    mean: float
    error: float
    tau_int: Optional[float] = None

    @classmethod
    def _of(cls, d: Optional[Mapping[str, Any]]) -> "Estimate":
        if d is None:
            return cls(math.nan, math.nan, None)
        tau = d.get("tau_int")
        return cls(_float(d.get("mean")), _float(d.get("error")), None if tau is None else float(tau))


class MeanSeries(NamedTuple):
    """Chain-averaged per-measurement series (float64 arrays of one entry per measurement)."""

    first_sweep: int
    every: int
    energy_per_site: np.ndarray
    magnetization_per_site: np.ndarray

    @property
    def sweeps(self) -> np.ndarray:
        """The sweep of each measurement (int64)."""
        n = len(self.energy_per_site)
        return self.first_sweep + self.every * np.arange(n, dtype=np.int64)


class Measurements(NamedTuple):
    """Measurements of :meth:`Sampler.run`: float64 arrays ``[measurements, chains]``."""

    energy_per_site: np.ndarray
    magnetization_per_site: np.ndarray


def _node(v: Any) -> Any:
    """JSON values for attribute access: lists of numbers (and of equal-length lists of
    numbers) become float64 arrays (null → NaN), dicts :class:`Report` nodes."""
    if isinstance(v, dict):
        return Report._node(v)
    if isinstance(v, list):
        if v and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v):
            return np.array([_float(x) for x in v], dtype=np.float64)
        if (
            v
            and all(isinstance(x, list) and x for x in v)
            and len({len(x) for x in v}) == 1
            and all(y is None or (isinstance(y, (int, float)) and not isinstance(y, bool)) for x in v for y in x)
        ):
            return np.array([[_float(y) for y in x] for x in v], dtype=np.float64)
        return [_node(x) for x in v]
    return v


class Report:
    """A report (``rg``, ``mcrg``, ``dbm``): the fields of the JSON the command line writes
    as attributes (``report.parameters``, ``report.levels``, …); lists of numbers are
    float64 numpy arrays, objects are :class:`Report` nodes (``node["key"]`` works too).
    :attr:`data` is the plain dict, :meth:`to_json` the command line's file."""

    def __init__(self, data: Dict[str, Any], text: Optional[str] = None) -> None:
        self.data = data
        self._text = text

    @classmethod
    def _node(cls, data: Dict[str, Any]) -> "Report":
        return cls(data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("data", "_text"):
            raise AttributeError(name)
        try:
            return _node(self.data[name])
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r} (fields: {', '.join(self.data)})") from None

    def __getitem__(self, key: str) -> Any:
        return _node(self.data[key])

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def keys(self) -> List[str]:
        """The fields."""
        return list(self.data)

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self.data))

    def to_json(self) -> str:
        """The JSON the command line writes for the same call (a node: its part, compact)."""
        return self._text if self._text is not None else json.dumps(self.data)

    def __repr__(self) -> str:
        schema = self.data.get("schema")
        head = f"schema={schema!r}, " if schema else ""
        return f"<{type(self).__name__} {head}fields={list(self.data)}>"


class Results:
    """One run's results (``blockspin/sample/1``).

    Attributes: :attr:`parameters` (every resolved parameter: seed, kernel that ran, …),
    :attr:`backend`, :attr:`observables` (name → :class:`Estimate`: energy_per_site,
    magnetization_per_site, abs_magnetization_per_site, specific_heat_per_site,
    susceptibility_per_site, binder_cumulant, correlation_length), :attr:`analysis`
    (blocking, warnings, the equilibration drift test), :attr:`exact` (reference values
    where known, else None), :attr:`cluster` (cluster algorithms: name →
    :class:`Estimate`, else None), :attr:`mean_series` (:class:`MeanSeries` of numpy
    arrays), :attr:`timing`, :attr:`provenance` and :attr:`command` (the equivalent
    command line). :meth:`to_json` is the ``--output`` file of that command line, byte for
    byte apart from provenance and timing.
    """

    def __init__(self, text: bytes, energy: np.ndarray, magnetization: np.ndarray, command: List[str]) -> None:
        self._text = text.decode("utf-8")
        d = json.loads(self._text)
        self.data: Dict[str, Any] = d
        self.schema: str = d["schema"]
        self.version: str = d.get("version", "")
        self.provenance: Dict[str, Any] = d["provenance"]
        self.parameters: Dict[str, Any] = d["parameters"]
        self.backend: Dict[str, Any] = d["backend"]
        self.observables: Dict[str, Estimate] = {k: Estimate._of(v) for k, v in d["observables"].items()}
        self.analysis: Dict[str, Any] = d["analysis"]
        self.exact: Optional[Dict[str, Any]] = d.get("exact")
        cluster = d.get("cluster")
        self.cluster: Optional[Dict[str, Estimate]] = (
            None if cluster is None else {k: Estimate._of(v) for k, v in cluster.items()}
        )
        ms = d["mean_series"]
        self.mean_series = MeanSeries(int(ms["first_sweep"]), int(ms["every"]), energy, magnetization)
        self.timing: Dict[str, float] = d["timing"]
        self.command: List[str] = command

    def __getitem__(self, name: str) -> Estimate:
        """``results["energy_per_site"]``: an observable (or a cluster estimate)."""
        if name in self.observables:
            return self.observables[name]
        if self.cluster and name in self.cluster:
            return self.cluster[name]
        raise KeyError(name)

    def to_json(self) -> str:
        """The ``blockspin/sample/1`` JSON (what ``--output`` writes)."""
        return self._text

    def __repr__(self) -> str:
        p = self.parameters
        e = self.observables["energy_per_site"]
        return (
            f"<Results {p['lattice']} L={p['size']} beta={p['beta']:.6g} {p['algorithm']} "
            f"{p['chains']} chains x {p['sweeps']} sweeps on {self.backend['kind']} ({p['kernel']}): "
            f"energy_per_site={e.mean:.6f}±{e.error:.6f}>"
        )


class JobResults:
    """A job's results (``blockspin/job/1``): :attr:`points` (one :class:`Results` per grid
    point), :attr:`crossings` (Binder-cumulant and ξ₂/L crossings of consecutive sizes),
    :attr:`job_seed`; :meth:`to_json` is the command line's ``--output`` file."""

    def __init__(self, text: bytes, points: List[Results]) -> None:
        self._text = text.decode("utf-8")
        d = json.loads(self._text)
        self.data: Dict[str, Any] = d
        self.schema: str = d["schema"]
        self.provenance: Dict[str, Any] = d["provenance"]
        self.job_seed: int = d["job_seed"]
        self.crossings: List[Dict[str, Any]] = d["crossings"]
        self.points: List[Results] = points

    def to_json(self) -> str:
        """The ``blockspin/job/1`` JSON."""
        return self._text

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[Results]:
        return iter(self.points)

    def __repr__(self) -> str:
        return f"<JobResults {len(self.points)} points, {len(self.crossings)} crossings>"


def _results(t: Any, command: List[str]) -> Results:
    return Results(bytes(t[0]), _array(t[1]), _array(t[2]), command)


def sample(
    *,
    lattice: Optional[str] = None,
    size: Optional[int] = None,
    units: Optional[str] = None,
    beta: Optional[float] = None,
    temperature: Optional[float] = None,
    coupling: Optional[float] = None,
    field: Optional[float] = None,
    algorithm: Optional[str] = None,
    thermalize: Union[int, str, None] = None,
    thermalize_cap: Optional[int] = None,
    sweeps: Optional[int] = None,
    measure_every: Optional[int] = None,
    chains: Optional[int] = None,
    seed: Optional[int] = None,
    start: Optional[str] = None,
    backend: Optional[str] = None,
    kernel: Optional[str] = None,
    output: Optional[PathLike] = None,
    series: Optional[PathLike] = None,
    save_state: Optional[PathLike] = None,
    quiet: bool = False,
    progress: Optional[Progress] = None,
) -> Results:
    """Sample an Ising (±1) or Bernoulli (0/1) lattice: ``blockspin sample``.

    Energy E = −J Σ_<ij> x_i x_j − h Σ_i x_i, weight e^{−βE}. Give ``beta`` or
    ``temperature``. Defaults (None) are the command line's: lattice "square", size 16,
    units "spin", coupling 1, field 0, algorithm "heat-bath" (also "metropolis",
    "swendsen-wang", "wolff"), thermalize 1000 (or "auto"), sweeps 10000, measure_every 1,
    chains 16, seed 1, start "hot", backend "auto" (a hardware GPU, else the CPU; "cpu",
    "gpu", "cpu-fast", "gpu-fast"), kernel "auto" ("reference", "chains", "sites").

    ``output``, ``series`` and ``save_state`` write the files the flags write (atomically).
    ``progress(done, total, what)`` is called about every 0.1 s; backend notices go to
    ``sys.stderr`` unless ``quiet``.

    Returns :class:`Results`. Raises :class:`InvalidParameterError` (a ValueError) for bad
    input, :class:`DeviceError` for GPU trouble, KeyboardInterrupt on Ctrl-C.
    """
    params = dict(locals())
    params.pop("quiet")
    params.pop("progress")
    args = _argv(["sample"], params)
    return _results(_blockspin.sample(args, progress, quiet), ["blockspin", *args])


class Sampler:
    """Live chains of a lattice model: step them, read and set their configurations, and
    stream configurations to numpy (and from there to PyTorch) without files.

    Takes :func:`sample`'s sampling parameters with the same defaults and validation
    (``thermalize`` must be a number of sweeps here). The chains start as ``sample``'s do;
    nothing runs until asked. ``thermalize()`` then ``run()`` leave exactly the
    configurations ``blockspin sample --save-state`` writes for the same parameters.

    >>> s = Sampler(size=32, temperature=2.269, chains=4, seed=7)
    >>> s.thermalize()                          # parameters["thermalize"] sweeps (1000)
    >>> for x in s.configurations(every=10, count=100):
    ...     batch = torch.from_numpy(x)          # int8 [4, 32, 32], values ±1
    """

    def __init__(
        self,
        *,
        lattice: Optional[str] = None,
        size: Optional[int] = None,
        units: Optional[str] = None,
        beta: Optional[float] = None,
        temperature: Optional[float] = None,
        coupling: Optional[float] = None,
        field: Optional[float] = None,
        algorithm: Optional[str] = None,
        thermalize: Optional[int] = None,
        sweeps: Optional[int] = None,
        measure_every: Optional[int] = None,
        chains: Optional[int] = None,
        seed: Optional[int] = None,
        start: Optional[str] = None,
        backend: Optional[str] = None,
        kernel: Optional[str] = None,
        quiet: bool = False,
    ) -> None:
        params = dict(locals())
        params.pop("self")
        params.pop("quiet")
        self._argv = _argv(["sample"], params)
        self._live = _blockspin.LiveSampler(self._argv, quiet)
        #: The resolved parameters (as in a results file: kernel resolved, seed, …).
        self.parameters: Dict[str, Any] = json.loads(bytes(self._live.parameters_json()))
        #: The backend that runs the chains (kind, adapter, api, kernel).
        self.backend: Dict[str, Any] = json.loads(bytes(self._live.backend_json()))

    @property
    def chains(self) -> int:
        """Number of chains."""
        return int(self.parameters["chains"])

    @property
    def shape(self) -> tuple:
        """Shape of :attr:`state`: ``(chains, L(, L(, L)))``."""
        d = {"chain": 1, "square": 2, "triangular": 2, "cubic": 3}[self.parameters["lattice"]]
        return (self.chains,) + (int(self.parameters["size"]),) * d

    @property
    def sweeps_done(self) -> int:
        """Sweeps run since the start (the random stream's position)."""
        return int(self._live.sweeps_done)

    def thermalize(self, sweeps: Optional[int] = None, progress: Optional[Progress] = None) -> None:
        """Run ``sweeps`` thermalization sweeps (default: ``parameters["thermalize"]``).

        Only Wolff treats them differently (clusters until N sites are covered)."""
        n = self.parameters["thermalize"] if sweeps is None else sweeps
        self._live.advance(_count("sweeps", n), 0, True, progress)

    def run(
        self,
        sweeps: Optional[int] = None,
        measure_every: Optional[int] = None,
        progress: Optional[Progress] = None,
    ) -> Measurements:
        """Run ``sweeps`` sweeps (default ``parameters["sweeps"]``) measuring every
        ``measure_every`` (default ``parameters["measure_every"]``; 0: never).

        Returns :class:`Measurements` (float64 ``[measurements, chains]``)."""
        n = self.parameters["sweeps"] if sweeps is None else sweeps
        every = self.parameters["measure_every"] if measure_every is None else measure_every
        e, m = self._live.advance(_count("sweeps", n), _count("measure_every", every), False, progress)
        return Measurements(_array(e), _array(m))

    @property
    def state(self) -> np.ndarray:
        """The configurations: a new int8 array ``[chains, L(, L(, L))]``, values ±1 (spin)
        or 0/1 (bernoulli); assign an array of that shape and values to replace them (the
        random stream continues from :attr:`sweeps_done`)."""
        return _array(self._live.configurations())

    @state.setter
    def state(self, value: Any) -> None:
        a = np.asarray(value)
        if a.dtype != np.int8:
            b = a.astype(np.int8)
            if not np.array_equal(a, b):
                raise InvalidParameterError("state: values must be ±1 (spin) or 0/1 (bernoulli)", "state")
            a = b
        self._live.restore(np.ascontiguousarray(a).tobytes(), list(a.shape))

    def configurations(
        self,
        every: Optional[int] = None,
        count: Optional[int] = None,
        progress: Optional[Progress] = None,
    ) -> Iterator[np.ndarray]:
        """Yield the configurations (as :attr:`state`) after every ``every`` sweeps
        (default ``parameters["measure_every"]``), ``count`` times (default
        ``parameters["sweeps"] // every``; None after an explicit ``every``: the same)."""
        every = self.parameters["measure_every"] if every is None else every
        every = _count("every", every)
        if every == 0:
            raise InvalidParameterError("every: must be at least 1 (got 0)", "every")
        count = self.parameters["sweeps"] // every if count is None else _count("count", count)
        for i in range(count):
            self._live.advance(every, 0, False, None)
            if progress is not None:
                progress(i + 1, count, "configurations")
            yield _array(self._live.configurations())

    def __repr__(self) -> str:
        p = self.parameters
        return (
            f"<Sampler {p['lattice']} L={p['size']} beta={p['beta']:.6g} {p['algorithm']} "
            f"{p['chains']} chains on {self.backend['kind']} ({p['kernel']}), {self.sweeps_done} sweeps done>"
        )


def _count(name: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= int(n) <= 2**32 - 1:
        raise InvalidParameterError(f"{name}: must be a number of sweeps from 0 to 4294967295 (got {n!r})", name)
    return int(n)


def run_job(
    job: Union[PathLike, Mapping[str, Any]],
    *,
    output: Optional[PathLike] = None,
    summary: Optional[PathLike] = None,
    quiet: bool = False,
    progress: Optional[Progress] = None,
    **overrides: Any,
) -> JobResults:
    """Run a job: ``blockspin sample --job``.

    ``job`` is a job file (TOML) or a dict of the same keys (``measure_every`` or
    ``"measure-every"``; ``temperature``, ``beta``, ``size``, ``field`` and ``coupling``
    may be a number, a list or a range ``{"start", "stop", "step" | "count"}``).
    ``overrides`` are :func:`sample`'s sampling parameters and override the job, as flags
    do. ``output`` and ``summary`` write the job's JSON and CSV (default: ``output`` with
    ``.csv``). Every grid point gets its own seed, recorded in its parameters.

    Returns :class:`JobResults`.
    """
    unknown = sorted(set(overrides) - set(SAMPLING))
    if unknown:
        raise TypeError(f"run_job() got unexpected keyword arguments {unknown}; overrides are {list(SAMPLING)}")
    params = _pick(overrides, SAMPLING)
    params.update(output=output, summary=summary)
    args = _argv(["sample"], params)
    if isinstance(job, Mapping):
        text, points = _blockspin.run_job(args, None, dict(job), progress, quiet)
        command = ["blockspin", *args, "--job=<dict>"]
    else:
        text, points = _blockspin.run_job(args, os.fspath(job), None, progress, quiet)
        command = ["blockspin", *args, f"--job={os.fspath(job)}"]
    return JobResults(bytes(text), [_results(p, command) for p in points])


class RgReport(Report):
    """The ``blockspin/rg/1`` report of :func:`rg`. Besides the fields (``parameters``,
    ``basis``, ``couplings``, ``by_order``, ``exact``, ``trajectory``, ``fixed_point``,
    ``mutual_information``, …), :meth:`couplings_by_order` gives each cumulant order's
    renormalized couplings."""

    def couplings_by_order(self) -> Dict[int, Dict[str, Estimate]]:
        """``{order: {coupling: Estimate(mean, error)}}`` of the cumulant partial sums."""
        out: Dict[int, Dict[str, Estimate]] = {}
        for o in self.data.get("by_order") or []:
            out[int(o["order"])] = {k: Estimate._of(v) for k, v in o["couplings"].items()}
        return out

    def full_couplings(self) -> Dict[str, Estimate]:
        """The full (log-mean-exp) estimate of each coupling (empty when not computed)."""
        return {k: Estimate._of(v) for k, v in (self.data.get("couplings") or {}).items()}


def rg(
    *,
    lattice: Optional[str] = None,
    size: Optional[int] = None,
    coupling: Optional[float] = None,
    field: Optional[float] = None,
    rule: Optional[str] = None,
    lambda_: Optional[Sequence[float]] = None,
    block: Optional[int] = None,
    order: Optional[int] = None,
    samples: Optional[int] = None,
    configurations: Union[int, str, None] = None,
    steps: Optional[int] = None,
    fixed_point: bool = False,
    use_full: bool = False,
    seed: Optional[int] = None,
    backend: Optional[str] = None,
    mutual_information: bool = False,
    buffer: Optional[int] = None,
    method: Optional[str] = None,
    environments: Optional[int] = None,
    optimize_lambda: bool = False,
    lambda_max: Optional[float] = None,
    output: Optional[PathLike] = None,
    quiet: bool = False,
    progress: Optional[Progress] = None,
) -> RgReport:
    """Block-spin RG by block-wise conditional sampling and cumulants: ``blockspin rg``.

    K[x] = K Σ_<ij> x_i x_j + h Σ_i x_i with x = ±1: here ``coupling`` is the reduced
    K = βJ and ``field`` the reduced h. Defaults are the command line's: lattice "chain"
    (size 16; square 8, triangular 6), rule "decimation" ("majority", "stochastic" with
    ``lambda_``), block 2 (triangular 3), order 4, samples 1000, configurations "all" up to
    2^12 else 256, seed 2, backend "auto", buffer 1, method "auto", environments 4000,
    lambda_max 4. ``steps`` iterates the flow, ``fixed_point`` finds K* and y_T,
    ``mutual_information`` / ``optimize_lambda`` the real-space mutual information.

    Returns :class:`RgReport` (the ``blockspin/rg/1`` JSON as attributes and arrays).
    """
    params = dict(locals())
    params.pop("progress")
    args = _argv(["rg"], params)
    text = bytes(_blockspin.rg(args, progress)).decode("utf-8")
    report = RgReport(json.loads(text), text)
    _warn_non_finite(report)
    return report


class McrgReport(Report):
    """The ``blockspin/mcrg/1`` report of :func:`mcrg`: ``parameters``, ``backend``,
    ``operators``, ``levels`` and ``reference`` as attributes; :meth:`couplings` and
    :meth:`exponents` per level."""

    def couplings(self, level: int) -> Dict[str, Estimate]:
        """``{operator: Estimate(mean, error)}`` of the renormalized couplings at ``level``
        (empty where the coarse torus is too small)."""
        for lv in self.data["levels"]:
            if lv["level"] == level:
                return {k: Estimate._of(v) for k, v in (lv.get("couplings") or {}).items()}
        raise KeyError(f"no level {level}")

    def exponents(self, level: int, sector: str = "even") -> Dict[int, Estimate]:
        """``{operators: Estimate(y, error)}`` of the leading exponent at ``level`` in
        ``sector`` ("even" or "odd") for each truncation (NaN where none)."""
        for lv in self.data["levels"]:
            if lv["level"] == level:
                ex = (lv.get("exponents") or {}).get(sector) or []
                return {int(x["operators"]): Estimate(_float(x.get("y")), _float(x.get("error"))) for x in ex}
        raise KeyError(f"no level {level}")


def mcrg(
    input: Union[PathLike, np.ndarray, None] = None,
    *,
    lattice: Optional[str] = None,
    size: Optional[int] = None,
    units: Optional[str] = None,
    beta: Optional[float] = None,
    temperature: Optional[float] = None,
    coupling: Optional[float] = None,
    field: Optional[float] = None,
    algorithm: Optional[str] = None,
    thermalize: Optional[int] = None,
    sweeps: Optional[int] = None,
    measure_every: Optional[int] = None,
    chains: Optional[int] = None,
    seed: Optional[int] = None,
    start: Optional[str] = None,
    backend: Optional[str] = None,
    kernel: Optional[str] = None,
    levels: Optional[int] = None,
    block: Optional[int] = None,
    rule: Optional[str] = None,
    lambda_: Optional[Sequence[float]] = None,
    basis: Optional[Sequence[str]] = None,
    even_operators: Optional[int] = None,
    odd_operators: Optional[int] = None,
    jackknife_blocks: Optional[int] = None,
    output: Optional[PathLike] = None,
    plot: Optional[PathLike] = None,
    quiet: bool = False,
    progress: Optional[Progress] = None,
) -> McrgReport:
    """Monte Carlo renormalization group: ``blockspin mcrg``.

    Blocks configurations level by level (``levels`` 2, ``block`` 2, ``rule`` "majority"
    by default) and estimates the renormalized couplings of ``basis`` (Callen's identity)
    and the exponents y of the linearized RG, with jackknife errors
    (``jackknife_blocks`` groups, 32).

    The configurations are either sampled here, with :func:`sample`'s sampling parameters,
    or given as ``input``: an NPY file or a numpy array of shape ``[n, L]`` (chain),
    ``[n, L, L]`` (square) or ``[n, L, L, L]`` (cubic) with values ±1 or 0/1 (e.g.
    stacked :meth:`Sampler.configurations`); ``seed`` then seeds the blocking's coins.

    Returns :class:`McrgReport`.
    """
    params = dict(locals())
    for k in ("input", "progress"):
        params.pop(k)
    array = None
    if input is not None and not isinstance(input, (str, os.PathLike)):
        array = np.asarray(input)
        if array.dtype not in (np.int8, np.uint8):
            conv = array.astype(np.int8)
            if not np.array_equal(conv, array):
                raise InvalidParameterError("input: the array's values must be ±1 or 0/1", "input")
            array = conv
        array = np.ascontiguousarray(array)
    elif input is not None:
        params["input"] = input
    args = _argv(["mcrg"], params)
    given = None if array is None else (array.tobytes(), list(array.shape), array.dtype == np.int8)
    text = bytes(_blockspin.mcrg(args, given, progress)).decode("utf-8")
    return McrgReport(json.loads(text), text)


def _warn_non_finite(report: Report) -> None:
    bad = report.data.get("non_finite") or []
    if bad:
        import warnings

        warnings.warn(f"estimates that are not numbers (NaN in the arrays, null in the JSON): {', '.join(bad)}", RuntimeWarning, stacklevel=3)


def version() -> Dict[str, str]:
    """The library's version and git revision this package was built from."""
    v, rev = _blockspin.version()
    return {"version": v, "git_revision": rev}


from . import dbm  # noqa: E402

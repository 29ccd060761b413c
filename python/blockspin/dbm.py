"""Three-layer deep Boltzmann machines: ``blockspin dbm``, from numpy arrays.

Energy (visible v, bernoulli 0/1 or spin ±1, biases a; intermediate h and deep s, each
gaussian (means μ, standard deviations σ) or bernoulli (biases d); weights W (n_v × n_h)
and M (n_h × n_s))::

    E = −aᵀv + ½(h−μ)ᵀP_h(h−μ) + ½(s−ν)ᵀP_s(s−ν) − vᵀWh − hᵀMs,   P = diag(1/σ²)

>>> m = Model(W, M, visible_bias=a, hidden_std=sigma, deep_std=tau)
>>> r = m.analyze()            # exact: r.J_v, r.f_v, r.log_partition, …
>>> m.validate(chains=1024)    # sampling at every level against the recursion
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Union

import numpy as np

from . import Estimate, Progress, Report, _array, _blockspin, _warn_non_finite
from ._args import argv as _argv

__all__ = ["Model", "AnalyzeReport", "SampleReport", "ValidateReport", "analyze", "sample", "validate"]

PathLike = Union[str, "os.PathLike[str]"]


def _vector(name: str, x: Any) -> list:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name}: must be a vector (got shape {a.shape})")
    return a.tolist()


def _matrix(name: str, x: Any) -> list:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: must be a matrix (got shape {a.shape})")
    return a.tolist()


def _layer(name: str, n: int, mean: Any, std: Any, bias: Any) -> tuple:
    if bias is not None:
        if mean is not None or std is not None:
            raise ValueError(f"{name}_bias: a bernoulli {name} layer has biases, not means and standard deviations")
        return ("bernoulli", _vector(f"{name}_bias", bias), None)
    mean = np.zeros(n) if mean is None else mean
    std = np.ones(n) if std is None else std
    return ("gaussian", _vector(f"{name}_mean", mean), _vector(f"{name}_std", std))


class Model:
    """A three-layer DBM: ``W`` (n_v × n_h), ``M`` (n_h × n_s), ``visible_bias`` (a);
    the hidden and deep layers are gaussian with means and standard deviations (default 0
    and 1) or, given ``hidden_bias`` / ``deep_bias``, bernoulli. Checked as a model file is
    (sizes, finite values, positive standard deviations): :class:`InvalidParameterError`
    naming ``model`` otherwise."""

    def __init__(
        self,
        W: Any,
        M: Any,
        visible_bias: Any = None,
        *,
        visible_units: str = "bernoulli",
        hidden_mean: Any = None,
        hidden_std: Any = None,
        hidden_bias: Any = None,
        deep_mean: Any = None,
        deep_std: Any = None,
        deep_bias: Any = None,
    ) -> None:
        w = _matrix("W", W)
        m = _matrix("M", M)
        nv = len(w)
        nh = len(w[0]) if w else 0
        ns = len(m[0]) if m else 0
        a = _vector("visible_bias", np.zeros(nv) if visible_bias is None else visible_bias)
        self._toml: str = _blockspin.dbm_model_toml(
            visible_units,
            a,
            _layer("hidden", nh, hidden_mean, hidden_std, hidden_bias),
            _layer("deep", ns, deep_mean, deep_std, deep_bias),
            w,
            m,
        )
        self.name = "numpy arrays"

    @classmethod
    def from_toml(cls, text: str, name: str = "toml text") -> "Model":
        """A model from the text of a model file (checked as ``--model`` is)."""
        self = cls.__new__(cls)
        _blockspin.dbm_model_arrays(text)
        self._toml = text
        self.name = name
        return self

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """A model from a model file (TOML)."""
        with open(path, encoding="utf-8") as f:
            return cls.from_toml(f.read(), os.fspath(path))

    def to_toml(self) -> str:
        """The model file's text (``blockspin dbm analyze --model`` reads it)."""
        return self._toml

    def save(self, path: PathLike) -> None:
        """Writes the model file."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._toml)

    def to_dict(self) -> Dict[str, Any]:
        """The arrays: W, M, visible_bias, visible_units and each layer's mean and std
        (gaussian) or bias (bernoulli)."""
        d = dict(_blockspin.dbm_model_arrays(self._toml))
        return {k: v if isinstance(v, str) else _array(v).copy() for k, v in d.items()}

    @property
    def sizes(self) -> tuple:
        """(n_visible, n_hidden, n_deep)."""
        d = self.to_dict()
        return (d["W"].shape[0], d["W"].shape[1], d["M"].shape[1])

    def analyze(self, order: Optional[int] = None, output: Optional[PathLike] = None) -> "AnalyzeReport":
        """See :func:`analyze`."""
        return analyze(self, order=order, output=output)

    def sample(self, **kwargs: Any) -> "SampleReport":
        """See :func:`sample`."""
        return sample(self, **kwargs)

    def validate(self, **kwargs: Any) -> "ValidateReport":
        """See :func:`validate`."""
        return validate(self, **kwargs)

    def __repr__(self) -> str:
        nv, nh, ns = self.sizes
        return f"<dbm.Model {nv} visible, {nh} hidden, {ns} deep units>"


def _model(model: Union[Model, PathLike]) -> Model:
    return model if isinstance(model, Model) else Model.load(model)


class AnalyzeReport(Report):
    """``dbm analyze``: the exact recursion. Arrays: :attr:`J_v` (visible_coupling) and
    :attr:`f_v` (visible_field) of the pairwise visible model, hidden_field,
    hidden_precision, hidden_coupling, …; scalars constant and log_partition; ``exact``
    (enumeration with a bernoulli layer) with means and multi-body couplings."""

    @property
    def J_v(self) -> Any:
        """The visible couplings J_v (n_v × n_v), or None without a closed form."""
        return self.visible_coupling

    @property
    def f_v(self) -> Any:
        """The visible fields f_v (n_v), or None without a closed form."""
        return self.visible_field


class SampleReport(Report):
    """``dbm sample``: per-unit means with errors (``visible``, ``hidden``, ``deep``: lists
    of {mean, error}); :meth:`means` gives them as arrays; :attr:`samples` holds the
    visible snapshots (int8 ``[snapshots, chains, n_visible]``) when asked for."""

    samples: Optional[np.ndarray] = None

    def means(self, layer: str = "visible") -> Estimate:
        """Estimate(mean array, error array) of a layer's units."""
        units = self.data.get(layer) or []
        return Estimate(
            np.array([np.nan if u["mean"] is None else u["mean"] for u in units], dtype=np.float64),
            np.array([np.nan if u["error"] is None else u["error"] for u in units], dtype=np.float64),
        )


class ValidateReport(Report):
    """``dbm validate``: every check (``checks``), ``passed``, ``checks_failed``, …"""

    def __bool__(self) -> bool:
        return bool(self.data.get("passed"))


def analyze(model: Union[Model, PathLike], *, order: Optional[int] = None, output: Optional[PathLike] = None) -> AnalyzeReport:
    """Integrate out the deep and hidden layers exactly: ``blockspin dbm analyze``.

    ``order`` (default 4) is the cumulant order for a bernoulli deep layer and the highest
    order of the exact visible multi-body couplings. Returns :class:`AnalyzeReport`; its
    :meth:`~Report.to_json` is the command line's ``--output`` file byte for byte."""
    m = _model(model)
    args = _argv(["dbm", "analyze", "--model=-"], {"order": order, "output": output})
    text = bytes(_blockspin.dbm_analyze(args, m.to_toml())).decode("utf-8")
    r = AnalyzeReport(json.loads(text), text)
    _warn_non_finite(r)
    return r


def sample(
    model: Union[Model, PathLike],
    *,
    level: Optional[str] = None,
    chains: Optional[int] = None,
    thermalize: Optional[int] = None,
    sweeps: Optional[int] = None,
    measure_every: Optional[int] = None,
    seed: Optional[int] = None,
    backend: Optional[str] = None,
    output: Optional[PathLike] = None,
    samples: Union[bool, PathLike, None] = None,
    quiet: bool = False,
    progress: Optional[Progress] = None,
) -> SampleReport:
    """Block Gibbs sampling of one level of the recursion: ``blockspin dbm sample``.

    ``level``: "full" (default), "visible-hidden", "visible" (the pairwise J_v, f_v model),
    "hidden-prior". Defaults as the command line: chains 2048, thermalize 100, sweeps 300,
    measure_every 3, seed 1, backend "auto". ``samples=True`` keeps the visible snapshots in
    :attr:`SampleReport.samples`; a path writes them as NPY (as ``--samples``)."""
    m = _model(model)
    keep = samples is True
    path = None if isinstance(samples, bool) else samples
    params = {
        "level": level,
        "chains": chains,
        "thermalize": thermalize,
        "sweeps": sweeps,
        "measure_every": measure_every,
        "seed": seed,
        "backend": backend,
        "output": output,
        "samples": path,
        "quiet": quiet,
    }
    args = _argv(["dbm", "sample", "--model=-"], params)
    text, snapshots = _blockspin.dbm_sample(args, m.to_toml(), m.name, keep, progress)
    text = bytes(text).decode("utf-8")
    r = SampleReport(json.loads(text), text)
    r.samples = None if snapshots is None else _array(snapshots)
    _warn_non_finite(r)
    return r


def validate(
    model: Union[Model, PathLike],
    *,
    chains: Optional[int] = None,
    thermalize: Optional[int] = None,
    sweeps: Optional[int] = None,
    measure_every: Optional[int] = None,
    seed: Optional[int] = None,
    backend: Optional[str] = None,
    max_pairs: Optional[int] = None,
    alpha: Optional[float] = None,
    output: Optional[PathLike] = None,
    quiet: bool = False,
    progress: Optional[Progress] = None,
) -> ValidateReport:
    """Check the analytic recursion against sampling at every level: ``blockspin dbm
    validate``. Returns :class:`ValidateReport` (truthy when every check passed; the
    command line exits 1 otherwise). ``max_pairs`` 256, ``alpha`` 1e-3 (family-wise)."""
    m = _model(model)
    params = {
        "chains": chains,
        "thermalize": thermalize,
        "sweeps": sweeps,
        "measure_every": measure_every,
        "seed": seed,
        "backend": backend,
        "max_pairs": max_pairs,
        "alpha": alpha,
        "output": output,
        "quiet": quiet,
    }
    args = _argv(["dbm", "validate", "--model=-"], params)
    text = bytes(_blockspin.dbm_validate(args, m.to_toml(), progress)).decode("utf-8")
    return ValidateReport(json.loads(text), text)


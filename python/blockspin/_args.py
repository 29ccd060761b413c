"""Keyword arguments to the command line's arguments (the compiled module parses them with
the command line's own definitions, so names, defaults and validation are the CLI's)."""

from __future__ import annotations

import numbers
import os
from typing import Any, Dict, List, Mapping, Sequence

# values of these are names: `heat_bath` is accepted for `heat-bath`
_NAMES = {"lattice", "units", "algorithm", "start", "backend", "kernel", "rule", "method", "level"}

# sample's sampling flags (shared by sample, Sampler, run_job and mcrg)
SAMPLING = (
    "lattice",
    "size",
    "units",
    "beta",
    "temperature",
    "coupling",
    "field",
    "algorithm",
    "thermalize",
    "thermalize_cap",
    "sweeps",
    "measure_every",
    "chains",
    "seed",
    "start",
    "backend",
    "kernel",
)


def _text(name: str, value: Any) -> str:
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        return text.replace("_", "-") if name in _NAMES else text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        # repr is the shortest string that reads back as the same double
        return repr(float(value))
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, Sequence):
        return ",".join(_text(name, v) for v in value)
    raise TypeError(f"{name}: {type(value).__name__} is not a valid value")


def flag(name: str) -> str:
    """``measure_every`` → ``--measure-every`` (``lambda_`` → ``--lambda``)."""
    return "--" + name.rstrip("_").replace("_", "-")


def argv(command: Sequence[str], params: Mapping[str, Any]) -> List[str]:
    """The command line of ``command`` with ``params`` (None and False leave a flag out;
    True gives a switch)."""
    out = list(command)
    for name, value in params.items():
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag(name))
        else:
            out.append(f"{flag(name)}={_text(name, value)}")
    return out


def pick(params: Dict[str, Any], names: Sequence[str]) -> Dict[str, Any]:
    return {n: params[n] for n in names if n in params}

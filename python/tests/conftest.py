"""Shared helpers: the command-line binary built from the same checkout, and the results
texts with provenance and timing (the only parts that may differ) cut out."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli_path() -> Path:
    if os.environ.get("BLOCKSPIN_CLI"):
        return Path(os.environ["BLOCKSPIN_CLI"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "blockspin"


@pytest.fixture(scope="session")
def cli() -> Path:
    """target/release/blockspin (built with `cargo build --release` if it is missing)."""
    path = _cli_path()
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "blockspin"], cwd=REPO, check=True)
    return path


def run_cli(cli: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    """Runs the CLI; checks its exit status."""
    p = subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=600)
    assert p.returncode == expect, f"exit {p.returncode}: {p.stderr}"
    return p


_PROVENANCE = re.compile(r'"provenance": \{[^{}]*\}')
_TIMING = re.compile(r'"timing": \{[^{}]*\}')


def strip(text: str) -> str:
    """A results text without its provenance and timing objects (everything else must be
    equal byte for byte)."""
    return _TIMING.sub('"timing": {}', _PROVENANCE.sub('"provenance": {}', text))


def flags(**params) -> List[str]:
    """Keyword arguments as the command line's flags (as a user would type them)."""
    out = []
    for k, v in params.items():
        flag = "--" + k.rstrip("_").replace("_", "-")
        if v is True:
            out.append(flag)
        elif isinstance(v, (list, tuple)):
            out += [flag, ",".join(str(x) for x in v)]
        else:
            out += [flag, str(v)]
    return out

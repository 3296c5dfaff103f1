"""Load the examples into an engine by name (``interp`` or ``kernel``) through pybpf.load:
the same Object either way, so each test body runs unchanged on both."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DATA = ROOT / "tests" / "data"
CFLAGS = ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I/usr/include/x86_64-linux-gnu"]


def build(name: str, out_dir: Path) -> Path:
    """Compile examples/<name>.c with clang-19 (the command the examples document)."""
    out = out_dir / f"{name}.o"
    if not out.exists():
        subprocess.run(["clang-19", *CFLAGS, "-c", str(EXAMPLES / f"{name}.c"), "-o", str(out)],
                       check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def example_object(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    out_dir = tmp_path_factory.mktemp("examples")
    return lambda name: build(name, out_dir)


def pybpf_load(path: Path, engine: str, rodata: dict | None = None, **options: Any) -> Any:
    import pybpf

    spec = pybpf.open(str(path))
    for name, value in (rodata or {}).items():
        spec.rodata[name] = value
    return spec.load(engine=engine, **options)


@pytest.fixture
def load(example_object: Callable[[str], Path]) -> Callable[[str, str], Any]:
    """``load(example, engine)``: the example's object in ``engine``, closed afterwards."""
    opened: list[Any] = []

    def _load(name: str, engine: str, **options: Any) -> Any:
        obj = pybpf_load(example_object(name), engine, **options)
        opened.append(obj)
        return obj

    yield _load
    for obj in opened:
        obj.close()

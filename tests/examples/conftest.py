"""Load the examples into an engine by name: ``interp`` through pybpf, ``kernel`` through
pybpf's kernel engine, or, where pybpf.load has no kernel engine, through libbpf itself
(pybpf.kernel.libbpf), which also makes libbpf the reference for how the object loads.

Every loaded object offers what the tests use: ``programs[name].test_run(data=...)``
(``.retval``, ``.data``) and ``maps[name]`` with ``lookup``/``update``/``items``, plus
``ringbuf_events(name)`` for the SYN example.
"""

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
        path = example_object(name)
        obj = None
        if engine == "kernel":
            obj = _kernel_engine(path, **options)
        if obj is None:
            obj = pybpf_load(path, engine, **options)
        opened.append(obj)
        return obj

    yield _load
    for obj in opened:
        obj.close()


def _kernel_engine(path: Path, **options: Any) -> Any:
    """pybpf's kernel engine, or None when it is not there yet (then libbpf loads it)."""
    import pybpf

    try:
        return pybpf_load(path, "kernel", **options)
    except pybpf.BpfError as e:
        if "not available" not in str(e):
            raise
    if options:
        pytest.skip("the libbpf stand-in for the kernel engine takes no load options")
    return LibbpfObject(path)


# -- libbpf as the kernel loader --------------------------------------------------------

class _Result:
    def __init__(self, retval: int, data: bytes | None, duration_ns: int):
        self.retval, self.data, self.duration_ns = retval, data, duration_ns
        self.redirect = None
        self.r0 = None


class _Program:
    def __init__(self, kernel: Any, name: str):
        self._kernel, self.name, self.engine = kernel, name, "kernel"
        self.type = kernel.programs[name].prog_type

    def test_run(self, data: bytes | None = None, ctx: bytes | None = None,
                 repeat: int = 1) -> _Result:
        r = self._kernel.test_run(self.name, data, ctx, repeat)
        return _Result(r.retval, r.data, r.duration_ns)


class _Map:
    """The userspace map API the tests use, over a kernel map (absent keys give None)."""

    def __init__(self, kernel: Any, name: str):
        self._kernel, self._map, self.name = kernel, kernel.maps[name], name
        self.key_size, self.value_size = self._map.key_size, self._map.value_size

    def lookup(self, key: bytes) -> bytes | None:
        return self._map.get(key)

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        self._map.update(key, value, flags)

    def keys(self) -> list[bytes]:
        return list(self._map.keys())

    def items(self) -> list[tuple[bytes, Any]]:
        return list(self._kernel.dump(self.name).items())


class LibbpfObject:
    """An object loaded by libbpf (pybpf.kernel.libbpf), shaped as the tests use objects."""

    engine = "kernel"

    def __init__(self, path: Path):
        from pybpf.kernel.libbpf import LibbpfObject as Loaded

        self._kernel = Loaded(path)
        self.programs = {name: _Program(self._kernel, name) for name in self._kernel.programs}
        self.maps = {name: _Map(self._kernel, name) for name in self._kernel.maps}

    def ringbuf_events(self, name: str) -> list[bytes]:
        return self._kernel.ringbuf_events(name)

    def close(self) -> None:
        self._kernel.close()

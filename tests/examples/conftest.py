"""Load the examples into an engine by name: ``interp`` through pybpf, ``kernel`` through
pybpf's kernel engine, or, where pybpf.load has no kernel engine, through libbpf itself
(ctypes on libbpf.so), which also makes libbpf the reference for how the object loads.

Every loaded object offers what the tests use: ``programs[name].test_run(data=...)``
(``.retval``, ``.data``) and ``maps[name]`` with ``lookup``/``update``/``items``, plus
``ringbuf_events(name)`` for the SYN example.
"""

from __future__ import annotations

import ctypes
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


# -- libbpf through ctypes -------------------------------------------------------------

_RINGBUF_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    sigs = {
        "bpf_object__open_file": (vp, [cp, vp]), "bpf_object__load": (i, [vp]),
        "bpf_object__close": (None, [vp]),
        "bpf_object__find_program_by_name": (vp, [vp, cp]), "bpf_program__fd": (i, [vp]),
        "bpf_object__find_map_by_name": (vp, [vp, cp]), "bpf_map__fd": (i, [vp]),
        "bpf_map__key_size": (ctypes.c_uint32, [vp]),
        "bpf_map__value_size": (ctypes.c_uint32, [vp]),
        "bpf_map_lookup_elem": (i, [i, vp, vp]),
        "bpf_map_update_elem": (i, [i, vp, vp, ctypes.c_uint64]),
        "bpf_map_get_next_key": (i, [i, vp, vp]),
        "ring_buffer__new": (vp, [i, _RINGBUF_CB, vp, vp]), "ring_buffer__poll": (i, [vp, i]),
        "ring_buffer__free": (None, [vp]),
        "libbpf_get_error": (ctypes.c_long, [vp]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


class _Result:
    def __init__(self, retval: int, data: bytes, duration_ns: int):
        self.retval, self.data, self.duration_ns = retval, data, duration_ns
        self.redirect = None
        self.r0 = None


class LibbpfProgram:
    def __init__(self, name: str, fd: int, prog_type: int):
        from pybpf.kernel import KernelProgram
        from pybpf.kernel.fd import Fd

        self.name = name
        self.type = prog_type
        self.engine = "kernel"
        self._prog = KernelProgram(Fd(fd), prog_type)
        self._prog.fd.detach()   # libbpf owns the descriptor
        self._prog.fd = _BorrowedFd(fd)

    def test_run(self, data: bytes | None = None, ctx: bytes | None = None,
                 repeat: int = 1) -> _Result:
        r = self._prog.test_run(data or b"", ctx, repeat)
        return _Result(r.retval, r.data_out, r.duration_ns)


class _BorrowedFd:
    def __init__(self, fd: int):
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


class LibbpfMap:
    def __init__(self, lib: ctypes.CDLL, handle: int, name: str):
        self._lib = lib
        self.name = name
        self.fd = lib.bpf_map__fd(handle)
        self.key_size = lib.bpf_map__key_size(handle)
        self.value_size = lib.bpf_map__value_size(handle)

    def lookup(self, key: bytes) -> bytes | None:
        k = ctypes.create_string_buffer(bytes(key), self.key_size)
        v = ctypes.create_string_buffer(self.value_size)
        if self._lib.bpf_map_lookup_elem(self.fd, k, v):
            return None
        return v.raw

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        k = ctypes.create_string_buffer(bytes(key), self.key_size)
        v = ctypes.create_string_buffer(bytes(value), self.value_size)
        if self._lib.bpf_map_update_elem(self.fd, k, v, flags):
            raise OSError(ctypes.get_errno(), f"update {self.name}")

    def keys(self) -> list[bytes]:
        out, prev = [], None
        nxt = ctypes.create_string_buffer(self.key_size)
        while not self._lib.bpf_map_get_next_key(self.fd, prev, nxt):
            out.append(nxt.raw)
            prev = ctypes.create_string_buffer(nxt.raw, self.key_size)
        return out

    def items(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k in self.keys() if (v := self.lookup(k)) is not None]


class LibbpfObject:
    """An object loaded by libbpf: programs and maps by name, as the tests use them."""

    engine = "kernel"

    def __init__(self, path: Path):
        from elftools.elf.elffile import ELFFile

        self._lib = lib = _libbpf()
        self._obj = lib.bpf_object__open_file(str(path).encode(), None)
        if not self._obj or lib.libbpf_get_error(self._obj):
            raise OSError(ctypes.get_errno(), f"libbpf cannot open {path}")
        if lib.bpf_object__load(self._obj):
            raise OSError(ctypes.get_errno(), f"libbpf cannot load {path}")
        self.programs: dict[str, LibbpfProgram] = {}
        self.maps: dict[str, LibbpfMap] = {}
        with open(path, "rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            sections = {i: s.name for i, s in enumerate(elf.iter_sections())}
            for sym in symtab.iter_symbols():
                shndx = sym["st_shndx"]
                section = sections.get(shndx) if isinstance(shndx, int) else None
                if sym["st_info"]["type"] == "STT_FUNC" and sym["st_info"]["bind"] == "STB_GLOBAL":
                    prog = lib.bpf_object__find_program_by_name(self._obj, sym.name.encode())
                    if prog:
                        self.programs[sym.name] = LibbpfProgram(
                            sym.name, lib.bpf_program__fd(prog), _section_type(section or ""))
                elif section == ".maps" and sym["st_info"]["type"] == "STT_OBJECT":
                    handle = lib.bpf_object__find_map_by_name(self._obj, sym.name.encode())
                    if handle:
                        self.maps[sym.name] = LibbpfMap(lib, handle, sym.name)

    def ringbuf_events(self, name: str) -> list[bytes]:
        events: list[bytes] = []

        @_RINGBUF_CB
        def callback(ctx: int, data: int, size: int) -> int:
            events.append(ctypes.string_at(data, size))
            return 0

        rb = self._lib.ring_buffer__new(self.maps[name].fd, callback, None, None)
        try:
            self._lib.ring_buffer__poll(rb, 0)
        finally:
            self._lib.ring_buffer__free(rb)
        return events

    def close(self) -> None:
        if self._obj:
            self._lib.bpf_object__close(self._obj)
            self._obj = None


def _section_type(section: str) -> int:
    from pybpf.isa.uapi import ProgType

    kind = section.split("/")[0]
    return {"xdp": ProgType.XDP, "tc": ProgType.SCHED_CLS, "classifier": ProgType.SCHED_CLS,
            "socket": ProgType.SOCKET_FILTER, "cgroup_skb": ProgType.CGROUP_SKB}.get(
                kind, ProgType.UNSPEC)

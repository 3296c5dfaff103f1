"""Load an ELF object into the kernel with libbpf itself (libbpf.so through ctypes).

This is the reference loader the tests and benchmarks compare pybpf with: libbpf does
the relocations, global data, BTF and CO-RE exactly as a user's loader would, and the
programs and maps it creates are then driven through pybpf's own bpf(2) layer
(:class:`KernelProgram`, :class:`KernelMap`, on duplicates of libbpf's descriptors).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pybpf.errors import BpfError, BpfMapError
from pybpf.isa.uapi import MapType, ProgType
from pybpf.kernel.fd import Fd
from pybpf.kernel.maps import PERCPU_MAP_TYPES, KernelMap
from pybpf.kernel.programs import KernelProgram

_RINGBUF_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_size_t)
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def _libbpf() -> ctypes.CDLL:
    global _lib
    with _lock:
        if _lib is None:
            name = ctypes.util.find_library("bpf") or "libbpf.so.1"
            try:
                lib = ctypes.CDLL(name, use_errno=True)
            except OSError as e:
                raise BpfError(f"libbpf is not installed ({e}); install libbpf1") from None
            vp, cp, i, u32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32
            for fn, res, args in (
                ("bpf_object__open_mem", vp, [vp, ctypes.c_size_t, vp]),
                ("bpf_object__load", i, [vp]), ("bpf_object__close", None, [vp]),
                ("bpf_object__next_program", vp, [vp, vp]), ("bpf_program__name", cp, [vp]),
                ("bpf_program__fd", i, [vp]), ("bpf_program__type", i, [vp]),
                ("bpf_object__next_map", vp, [vp, vp]), ("bpf_map__name", cp, [vp]),
                ("bpf_map__fd", i, [vp]), ("bpf_map__type", i, [vp]),
                ("bpf_map__key_size", u32, [vp]), ("bpf_map__value_size", u32, [vp]),
                ("bpf_map__max_entries", u32, [vp]), ("bpf_map__map_flags", u32, [vp]),
                ("libbpf_get_error", ctypes.c_long, [vp]),
                ("ring_buffer__new", vp, [i, _RINGBUF_CALLBACK, vp, vp]),
                ("ring_buffer__poll", i, [vp, i]), ("ring_buffer__free", None, [vp]),
            ):
                getattr(lib, fn).restype, getattr(lib, fn).argtypes = res, args
            _lib = lib
    return _lib


@dataclass
class KernelRun:
    """What BPF_PROG_TEST_RUN answered."""

    retval: int
    duration_ns: int
    data: bytes | None
    ctx: bytes | None


class LibbpfObject:
    """An object libbpf loaded: ``programs`` and ``maps`` by name, test_run, map dumps.

    Global-data maps are named by their section (``.bss``, ``.rodata``...), as pybpf
    names them, not libbpf's ``<object>.<section>``.
    """

    def __init__(self, elf: bytes | str | os.PathLike):
        lib = _libbpf()
        data = bytes(elf) if isinstance(elf, (bytes, bytearray)) else Path(elf).read_bytes()
        self._buffer = ctypes.create_string_buffer(data, len(data))
        obj = lib.bpf_object__open_mem(self._buffer, len(data), None)
        if not obj or lib.libbpf_get_error(obj):
            raise BpfError(f"libbpf cannot open the object: {os.strerror(ctypes.get_errno())}")
        self._lib, self._obj = lib, obj
        self.programs: dict[str, KernelProgram] = {}
        self.maps: dict[str, KernelMap] = {}
        if lib.bpf_object__load(obj):
            err = ctypes.get_errno()
            self.close()
            raise BpfError(f"libbpf cannot load the object: {os.strerror(err)}")
        prog = lib.bpf_object__next_program(obj, None)
        while prog:
            fd = Fd(os.dup(lib.bpf_program__fd(prog)))
            self.programs[lib.bpf_program__name(prog).decode()] = KernelProgram(
                fd, ProgType(lib.bpf_program__type(prog)))
            prog = lib.bpf_object__next_program(obj, prog)
        handle = lib.bpf_object__next_map(obj, None)
        while handle:
            name = lib.bpf_map__name(handle).decode()
            if "." in name:                       # libbpf's "<object>.<section>"
                name = name[name.index("."):]
            self.maps[name] = KernelMap.borrow(
                os.dup(lib.bpf_map__fd(handle)), lib.bpf_map__type(handle),
                lib.bpf_map__key_size(handle), lib.bpf_map__value_size(handle),
                lib.bpf_map__max_entries(handle), lib.bpf_map__map_flags(handle), name)
            handle = lib.bpf_object__next_map(obj, handle)

    def test_run(self, program: str, data: bytes | None = None, ctx: bytes | None = None,
                 repeat: int = 1, cpu: int | None = 0) -> KernelRun:
        """BPF_PROG_TEST_RUN on ``cpu`` (the calling thread is pinned there meanwhile, as
        test_run runs where it is called; None: wherever the thread is)."""
        prog = self.programs[program]
        saved = os.sched_getaffinity(0)
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        try:
            r = prog.test_run(data if data is not None else b"", ctx, repeat)
        finally:
            os.sched_setaffinity(0, saved)
        return KernelRun(r.retval, r.duration_ns, r.data_out if data is not None else None,
                         r.ctx_out if ctx is not None else None)

    def dump(self, name: str) -> dict[bytes, bytes | list[bytes]]:
        """Every entry of map ``name``; per-CPU maps give one value per possible CPU."""
        m = self.maps[name]
        return dict(_entries(m))

    def ringbuf_events(self, name: str) -> list[bytes]:
        """Consume every record waiting in ring buffer ``name``."""
        events: list[bytes] = []

        @_RINGBUF_CALLBACK
        def callback(ctx: int, data: int, size: int) -> int:
            events.append(ctypes.string_at(data, size))
            return 0

        rb = self._lib.ring_buffer__new(self.maps[name].fileno(), callback, None, None)
        if not rb:
            raise BpfError(f"libbpf cannot open ring buffer {name}")
        try:
            self._lib.ring_buffer__poll(rb, 0)
        finally:
            self._lib.ring_buffer__free(rb)
        return events

    def close(self) -> None:
        for owner in (*self.programs.values(), *self.maps.values()):
            owner.close()
        if self._obj:
            self._lib.bpf_object__close(self._obj)
            self._obj = None

    def __enter__(self) -> "LibbpfObject":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _entries(m: KernelMap) -> Iterator[tuple[bytes, bytes | list[bytes]]]:
    percpu = m.map_type in PERCPU_MAP_TYPES
    for key in list(m.keys()):
        try:
            yield key, (m.lookup_percpu(key) if percpu else m.lookup(key))
        except BpfMapError:        # deleted meanwhile
            continue


__all__ = ["KernelRun", "LibbpfObject", "MapType"]

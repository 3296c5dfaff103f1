"""The top-level calls: ``pybpf.compile``, ``pybpf.open``, ``pybpf.load``.

A source is a path (``.c`` is compiled first, anything else must be an ELF object) or
ELF bytes. ``open`` gives the spec, to adjust before ``spec.load``; ``load`` does both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence


if TYPE_CHECKING:
    from pybpf.elf.spec import ObjectSpec
    from pybpf.engine import Object

Source = str | os.PathLike | bytes | bytearray | memoryview


def compile(source: str | os.PathLike, cflags: Sequence[str] = (), **options: Any) -> bytes:
    """Compile C to a BPF ELF object (bytes); :class:`pybpf.CompileError` carries clang's
    diagnostics."""
    from pybpf import cc

    return cc.compile(source, cflags, **options)


def open(source: Source, *, cflags: Sequence[str] = ()) -> "ObjectSpec":
    """Read an object (compiling C first) into an :class:`~pybpf.elf.spec.ObjectSpec`."""
    from pybpf.elf import open_object

    if isinstance(source, (bytes, bytearray, memoryview)):
        return open_object(bytes(source))
    path = Path(source)
    if path.suffix.lower() == ".c":
        return open_object(compile(path, cflags), path=str(path))
    return open_object(path)


def load(source: Source, *, engine: str = "interp", cflags: Sequence[str] = (),
         **options: Any) -> "Object":
    """``open(source)`` then ``load`` into ``engine`` (options: env, rodata, target_btf,
    budget)."""
    return open(source, cflags=cflags).load(engine=engine, **options)

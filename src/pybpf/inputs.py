"""Recognise a program input the same way everywhere: object, C, assembly or raw bytecode."""

from __future__ import annotations

import os
from pathlib import Path

from pybpf.errors import BpfError
from pybpf.isa import Instruction, decode

ELF_MAGIC = b"\x7fELF"


def kind_of(path: str | os.PathLike, data: bytes) -> str:
    """``elf``, ``c``, ``asm`` or ``raw``: by content first (ELF magic), then by suffix."""
    if data.startswith(ELF_MAGIC):
        return "elf"
    suffix = Path(path).suffix.lower()
    if suffix == ".c":
        return "c"
    if suffix in (".s", ".asm"):
        return "asm"
    return "raw"


def read_program(path: str | os.PathLike, syntax: str = "llvm") -> list[Instruction]:
    """The instructions of a program file (``-`` is standard input, raw or assembly; an
    object or C source must hold exactly one program)."""
    import sys

    if str(path) == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise BpfError(f"{path}: cannot read: {e.strerror}") from None
    kind = kind_of(path, data)
    if kind in ("elf", "c"):
        import pybpf

        spec = pybpf.open(data if kind == "elf" else path)
        if len(spec.programs) != 1:
            raise BpfError(f"{path}: has {len(spec.programs)} programs "
                           f"({', '.join(spec.programs) or 'none'}); choose one")
        return next(iter(spec.programs.values())).insns
    if kind == "asm":
        from pybpf.asm import assemble

        try:
            text = data.decode()
        except UnicodeDecodeError as e:
            raise BpfError(f"{path}: assembly is not UTF-8 text (byte {e.start})") from None
        return assemble(text, syntax=syntax, filename=str(path))
    return decode(data)

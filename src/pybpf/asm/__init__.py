"""Assemblers and disassemblers: LLVM syntax (default) and the uBPF/bpf_conformance syntax."""

from __future__ import annotations

from typing import Sequence

from pybpf.isa import Instruction

SYNTAXES = ("llvm", "ubpf")


def _module(syntax: str):
    if syntax == "llvm":
        from pybpf.asm import llvm
        return llvm
    if syntax == "ubpf":
        from pybpf.asm import ubpf
        return ubpf
    raise ValueError(f"unknown assembly syntax {syntax!r} (expected one of {', '.join(SYNTAXES)})")


def assemble(text: str, syntax: str = "llvm", filename: str | None = None) -> list[Instruction]:
    """Assemble source text into instructions; raises AsmError naming line and column."""
    return _module(syntax).assemble(text, filename=filename)


def disassemble(insns: Sequence[Instruction], syntax: str = "llvm") -> list[str]:
    """One line of text per instruction (lddw is one line), without indexes."""
    return _module(syntax).disassemble(insns)


def format_instruction(insn: Instruction, syntax: str = "llvm") -> str:
    """The text of one instruction."""
    return _module(syntax).format_instruction(insn)


__all__ = ["SYNTAXES", "assemble", "disassemble", "format_instruction"]

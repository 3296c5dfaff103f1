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


def listing(insns: Sequence[Instruction], source_lines: Sequence[object] | None = None,
            syntax: str = "llvm") -> list[str]:
    """Numbered lines as ``llvm-objdump -d -S`` prints them: ``slot: text``, each run of
    instructions from a new C source line preceded by ``; <that line>``. An instruction
    that refers to a map or function by name ends with ``; <name>``."""
    texts = disassemble(insns, syntax)
    lines: list[str] = []
    slot = 0
    previous = None
    for i, (insn, text) in enumerate(zip(insns, texts)):
        source = source_lines[i] if source_lines is not None and i < len(source_lines) else None
        where = (getattr(source, "file", None), getattr(source, "line", source))
        if source is not None and where != previous:
            code = getattr(source, "text", "") or str(source)
            lines.append(f"; {code.strip()}")
            previous = where
        if insn.reference:
            text += f"  ; {insn.reference}"
        lines.append(f"{slot:>5}: {text}")
        slot += insn.slots
    return lines


def format_instruction(insn: Instruction, syntax: str = "llvm") -> str:
    """The text of one instruction."""
    return _module(syntax).format_instruction(insn)


__all__ = ["SYNTAXES", "assemble", "disassemble", "format_instruction", "listing"]

"""Interpreter-versus-kernel comparison of whole register files, shared by tests and the bench.

A program (as :mod:`pybpf.testing.progen` makes them: every register written before it is
read, no pointers left in registers) runs once in the interpreter and once in the kernel
through :class:`pybpf.kernel.oracle.KernelOracle` with ``capture_regs=True``; r0-r9 at
exit must agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pybpf.isa import Instruction, encode, slot_indexes
from pybpf.kernel.oracle import CAPTURED_REGS, KernelOracle

Regs = tuple[int, ...]


def interpreter_regs(insns: Sequence[Instruction]) -> Regs:
    """r0-r9 after running ``insns`` once in the interpreter."""
    from pybpf.vm import Machine

    result = Machine(list(insns)).run()
    if result.regs is None:
        raise AssertionError("the interpreter reported no registers (a helper ended the run)")
    return tuple(result.regs[:CAPTURED_REGS])


@dataclass(frozen=True)
class Disagreement:
    """One program on which the interpreter and the kernel disagree."""

    insns: tuple[Instruction, ...]
    interpreter: Regs | str  # the registers, or the error the interpreter raised
    kernel: Regs

    def report(self) -> str:
        lines = ["program:", listing(self.insns), "registers at exit (interpreter vs kernel):"]
        if isinstance(self.interpreter, str):
            lines.append(f"  interpreter failed: {self.interpreter}")
            lines += [f"  r{i} kernel {k:#018x}" for i, k in enumerate(self.kernel)]
        else:
            for i, (mine, theirs) in enumerate(zip(self.interpreter, self.kernel)):
                mark = "   " if mine == theirs else "!= "
                lines.append(f"  {mark}r{i}: {mine:#018x} {theirs:#018x}")
        lines.append(f"bytes: {encode(self.insns).hex()}")
        return "\n".join(lines)


def interpreter_outcome(insns: Sequence[Instruction]) -> Regs | str:
    """r0-r9 from the interpreter, or the error it raised as text.

    Any exception counts: the kernel ran the same program, so the interpreter failing on
    it (with a BpfError or with a bug of its own) is a disagreement to report, not a crash.
    """
    try:
        return interpreter_regs(insns)
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def compare(insns: Sequence[Instruction], oracle: KernelOracle) -> Disagreement | None:
    """Run ``insns`` in both engines; the disagreement, or None when r0-r9 all agree."""
    kernel = oracle.run(insns, capture_regs=True).regs
    assert kernel is not None
    mine = interpreter_outcome(insns)
    return None if mine == kernel else Disagreement(tuple(insns), mine, kernel)


def listing(insns: Sequence[Instruction]) -> str:
    """One line per instruction: slot index, encoded bytes, and the assembly text."""
    try:
        from pybpf.asm import disassemble

        texts = disassemble(list(insns))
    except Exception:  # the listing must never hide the report it is part of
        texts = ["" for _ in insns]
    return "\n".join(f"  {pc:4}: {insn.encode().hex():<32} {text}"
                     for pc, insn, text in zip(slot_indexes(insns), insns, texts))


__all__ = ["Disagreement", "compare", "interpreter_outcome",
           "interpreter_regs", "listing"]

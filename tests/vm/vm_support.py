"""Helpers the VM tests share: instruction shorthand and a one-call run."""

from pybpf.isa import Instruction
from pybpf.vm import Machine

I = Instruction.make


def lddw(reg: int, value: int) -> Instruction:
    return I("lddw", dst=reg, imm=value & ((1 << 64) - 1))


def run_prog(*insns: Instruction, mem: bytes | None = None, **kw):
    return Machine(list(insns), **kw).run(mem=mem)

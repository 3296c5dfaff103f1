"""Differential testing of the JIT against the interpreter: the same program, two machines.

:func:`outcome` runs a program on one machine class and describes what happened in terms
that do not depend on where the machine's buffers happen to live: r0-r10 and every error
message with addresses replaced by ``region+offset`` (or a placeholder), plus the bytes
of the memory handed to the program. :func:`compare` runs both and returns the first
difference. Two program sources: :func:`pybpf.testing.progen.generate` (verifier-clean
programs: ALU, stack memory, atomics, branches) and :func:`soup` (any valid instruction
with small offsets: faults, wild jumps, calls, r10 writes, helper ids...).
"""

from __future__ import annotations

import ctypes
import random
import re
from dataclasses import dataclass
from typing import Any, Sequence

from pybpf.errors import BpfError
from pybpf.isa import FORMS, Instruction, Kind
from pybpf.vm import HelperRegistry, Memory, ProgramExit, Region

M64 = (1 << 64) - 1
MEM_SIZE = 64
_ADDRESS = re.compile(r"0x[0-9a-f]{6,}")


def helpers() -> HelperRegistry:
    """A small registry for fuzzing: helper 5 ends the program when r2 is 0, else returns
    r2 ^ r3; helper 6 returns r2 + r3 (any other id is an unknown helper). Neither looks
    at r1, which holds the memory's address."""
    registry = HelperRegistry()

    @registry.helper(5, "unwind")
    def unwind(call: Any, r1: int, r2: int, r3: int, *_: int) -> int:
        if r2 == 0:
            raise ProgramExit(0)
        return r2 ^ r3

    registry.helper(6, "add")(lambda call, r1, r2, r3, *_: r2 + r3)
    return registry


@dataclass(frozen=True)
class Outcome:
    """What one run did, comparable across machines."""

    kind: str                          # "ok" or the error class name
    r0: Any = None
    regs: tuple | None = None
    mem: bytes | None = None
    message: str = ""
    pc: int | None = None


def _describe(memory: Memory, value: int) -> Any:
    """A register value as ``(region, offset)`` when it points into (or just past) a region."""
    region = memory.find(value, 1)
    if region is not None:
        return (region.name, value - region.address)
    region = memory.find(value - 1, 1) if value else None
    if region is not None and value == region.end:
        return (region.name, region.size)
    return value


def _message(text: str) -> str:
    # Which region is "nearest" to a wild address depends on the allocator: leave it out.
    return _ADDRESS.sub("ADDR", text.split("; nearest region")[0])


def outcome(cls: type, insns: Sequence[Instruction], *, budget: int | None = 10_000,
            mem: bytes | None = bytes(range(MEM_SIZE)), args: Sequence[int] = (),
            hold: list | None = None) -> Outcome:
    """Run ``insns`` once on a fresh ``cls`` machine; r1 = the memory, r2 = its length.
    ``hold`` keeps the run's memory alive (so the next run's buffers are elsewhere)."""
    memory = Memory()
    if hold is not None:
        hold.append(memory)
    region = memory.add(Region("mem", mem, kind="mem")) if mem is not None else None
    regs = [region.address, len(mem)] if region is not None else list(args)
    try:
        machine = cls(list(insns), helpers=helpers(), memory=memory, budget=budget, name="fuzz")
        result = machine.run(*regs)
    except BpfError as e:
        return Outcome(type(e).__name__, message=_message(str(e)), pc=getattr(e, "pc", None),
                       mem=region.read() if region is not None else None)
    final = tuple(_describe(memory, v) for v in result.regs) if result.regs else None
    return Outcome("ok", _describe(memory, result.r0), final,
                   region.read() if region is not None else None)


def compare(insns: Sequence[Instruction], **kw: Any) -> tuple[str, Outcome, Outcome]:
    """("same" | "differ" | "unstable", interpreter outcome, jit outcome).

    "unstable": interpreter runs with their buffers at other addresses already
    disagree (the program computes with pointer bits: xor of r10, a helper id taken from
    an address...), so the JIT's answer cannot be judged; such programs are skipped.
    """
    from pybpf.jit import JitMachine
    from pybpf.vm import Machine

    hold: list = []
    interp = outcome(Machine, insns, hold=hold, **kw)
    jit = outcome(JitMachine, insns, hold=hold, **kw)
    if interp == jit:
        return "same", interp, jit
    for size in (40, 1000, 4056):
        hold.append((ctypes.c_ubyte * size)())       # move the next buffers along
        if outcome(Machine, insns, hold=hold, **kw) != interp:
            return "unstable", interp, jit
    return "differ", interp, jit


_IMMS = (0, 1, -1, 2, 5, 6, 8, 16, 31, 32, 63, 64, -8, -(1 << 31), (1 << 31) - 1, 0x80, 0xFF)
# Not kfuncs (they only fault) and not pseudo-func lddw (it puts a code address in a register).
_FORMS = tuple(f for f in FORMS if not (f.kind is Kind.CALL and f.op == "kfunc")
               and not (f.kind is Kind.LDDW and f.op == "func"))
_MEMORY = (Kind.LOAD, Kind.LOADSX, Kind.STORE, Kind.STORE_IMM, Kind.ATOMIC, Kind.LOAD_ACQ,
           Kind.STORE_REL)
_DATA_REGS = (0, 2, 3, 4, 5, 6, 7, 8, 9)


def soup_instruction(rng: random.Random) -> Instruction:
    """Any valid instruction with operands that often hit edges: small jumps and offsets,
    memory at r1 and r10 (the stack), writes to r10 (which fault).

    r1 and r10 hold addresses, whose bits differ between two machines: they are used only
    as the base of memory accesses, never as a value (an operand, a stored value), so an
    outcome never depends on where the buffers are.
    """
    form = rng.choice(_FORMS)
    ops = form.operands
    kind = form.kind
    if kind is Kind.LDDW:
        imm = rng.choice((rng.randrange(1 << 64), 0, M64, 1 << 63, rng.randrange(4)))
    elif kind is Kind.CALL and form.op == "local":
        imm = rng.randrange(-3, 5)
    else:
        imm = rng.choice(_IMMS + (rng.randrange(-(1 << 31), 1 << 31),))
    if kind in _MEMORY:
        off = rng.choice((0, 4, 8, -8, -16, 60, 62, -512, -4, 1))
        base = rng.choice((1, 10, 1, 10, rng.choice(_DATA_REGS)))
        value = rng.choice(_DATA_REGS)
        loading = kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ)
        dst, src = (rng.choice(_DATA_REGS + (1, 10)), base) if loading else (base, value)
    else:
        off = rng.randrange(-4, 6)
        dst = rng.choice(_DATA_REGS + (10,)) if kind in (Kind.ALU, Kind.NEG, Kind.MOVSX,
                                                         Kind.END) else rng.choice(_DATA_REGS)
        src = rng.choice(_DATA_REGS)
    return Instruction(form.opcode,
                       dst=dst if "dst" in ops else 0,
                       src=form.src if form.src is not None else (src if "src" in ops else 0),
                       off=form.off if form.off is not None else (off if "off" in ops else 0),
                       imm=form.imm if form.imm is not None else (imm if "imm" in ops else 0))


def soup(rng: random.Random, length: int | None = None) -> list[Instruction]:
    """A random program of valid instructions (it may fault, loop, or fall off the end)."""
    n = length if length is not None else rng.randint(1, 16)
    insns = [soup_instruction(rng) for _ in range(n)]
    if rng.randint(0, 3):
        insns.append(Instruction.make("exit"))
    return insns

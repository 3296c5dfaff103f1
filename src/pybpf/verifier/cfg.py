"""Control flow before abstract interpretation: the kernel's ``resolve_pseudo_ldimm64``
opcode checks, ``check_subprogs`` and ``check_cfg``, with the kernel's messages.

The program here is a list of raw slots ``(opcode, dst, src, off, imm)`` (lddw second
halves included), so bad input (unknown opcodes, broken lddw, wild jumps) is judged as
the kernel judges it rather than failing to decode.
"""

from __future__ import annotations

from typing import NamedTuple

from pybpf.isa.opcodes import FORMS_BY_OPCODE, JMP, JMP32, OPCODE_LDDW

VALID_OPCODES = frozenset(FORMS_BY_OPCODE)
MAX_CALL_FRAMES = 8
MAX_SUBPROGS = 256


class Slot(NamedTuple):
    opcode: int
    dst: int
    src: int
    off: int
    imm: int


class CfgError(Exception):
    def __init__(self, message: str, insn: int | None = None):
        super().__init__(message)
        self.message = message
        self.insn = insn


def is_pseudo_call(s: Slot) -> bool:
    return s.opcode == (JMP | 0x80) and s.src == 1


def is_pseudo_func(s: Slot) -> bool:
    return s.opcode == OPCODE_LDDW and s.src == 4


def check_opcodes(slots: list[Slot]) -> None:
    """``resolve_pseudo_ldimm64``'s per-instruction checks."""
    i = 0
    n = len(slots)
    while i < n:
        s = slots[i]
        if s.opcode == OPCODE_LDDW:
            if i == n - 1 or slots[i + 1].opcode or slots[i + 1].dst or slots[i + 1].src \
                    or slots[i + 1].off:
                raise CfgError("invalid bpf_ld_imm64 insn", i)
            if s.src not in (0, 1, 2, 3, 4, 5, 6):
                raise CfgError("unrecognized bpf_ld_imm64 insn", i)
            if s.src in (1, 5) and slots[i + 1].imm != 0:
                raise CfgError("unrecognized bpf_ld_imm64 insn", i)
            i += 2
            continue
        if s.opcode not in VALID_OPCODES:
            raise CfgError(f"unknown opcode {s.opcode:02x}", i)
        i += 1


def find_subprogs(slots: list[Slot]) -> list[int]:
    """``add_subprog_and_kfunc`` + ``check_subprogs``: start index of each subprogram."""
    starts = {0}
    n = len(slots)
    for i, s in enumerate(slots):
        if is_pseudo_call(s) or is_pseudo_func(s):
            target = i + s.imm + 1
            if target < 0 or target >= n:
                raise CfgError("call to invalid destination" if is_pseudo_call(s)
                               else "invalid bpf_ld_imm64 insn", i)
            starts.add(target)
    subs = sorted(starts)
    if len(subs) > MAX_SUBPROGS:
        raise CfgError("too many subprograms")
    bounds = subs + [n]
    for k in range(len(subs)):
        start, end = bounds[k], bounds[k + 1]
        for i in range(start, end):
            s = slots[i]
            cls = s.opcode & 7
            if cls not in (JMP, JMP32):
                continue
            op = s.opcode & 0xF0
            if op in (0x80, 0x90):   # call, exit
                continue
            off = s.imm if (cls == JMP32 and op == 0x00) else s.off
            target = i + off + 1
            if target < start or target >= end:
                raise CfgError(f"jump out of range from insn {i} to {target}", i)
        last = slots[end - 1]
        if last.opcode not in (JMP | 0x90, JMP | 0x00, JMP32 | 0x00):
            raise CfgError("last insn is not an exit or jmp", end - 1)
    return subs


def successors(slots: list[Slot], i: int) -> list[int]:
    s = slots[i]
    cls = s.opcode & 7
    if s.opcode == OPCODE_LDDW:
        return [i + 2]
    if cls in (JMP, JMP32):
        op = s.opcode & 0xF0
        if op == 0x90:
            return []
        if op == 0x80:
            return [i + 1]
        if op == 0x00:
            off = s.imm if cls == JMP32 else s.off
            return [i + off + 1]
        return [i + 1, i + s.off + 1]
    return [i + 1]


def check_cfg(slots: list[Slot], subprogs: list[int]) -> tuple[set[int], set[int]]:
    """Every slot reachable from its subprogram's start; returns (prune points, loop
    heads). Raises with ``unreachable insn N`` / ``jump into the middle of ldimm64``."""
    n = len(slots)
    seen = [False] * n
    prune: set[int] = set()
    back: set[int] = set()
    for start in subprogs:
        stack = [start]
        seen[start] = True
        while stack:
            i = stack.pop()
            s = slots[i]
            cls = s.opcode & 7
            succ = successors(slots, i)
            if cls in (JMP, JMP32) and s.opcode & 0xF0 not in (0x80, 0x90, 0x00):
                prune.add(i)
                prune.add(succ[1])
            elif cls in (JMP, JMP32) and s.opcode & 0xF0 == 0x00:
                prune.add(succ[0])
            elif is_pseudo_call(s):
                prune.add(i)
            for t in succ:
                if t <= i:
                    back.add(t)
                if 0 <= t < n and not seen[t]:
                    seen[t] = True
                    stack.append(t)
    i = 0
    while i < n:
        if not seen[i]:
            raise CfgError(f"unreachable insn {i}", i)
        if slots[i].opcode == OPCODE_LDDW:
            if i + 1 < n and seen[i + 1]:
                raise CfgError(f"jump into the middle of ldimm64 insn {i}", i)
            i += 2
        else:
            i += 1
    return prune, back

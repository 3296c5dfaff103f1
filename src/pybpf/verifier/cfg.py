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
        if s.opcode not in VALID_OPCODES or s.opcode == (JMP | 0x88):   # no callx
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
            elif cls == JMP and s.opcode & 0xF0 == 0x80:
                # visit_func_call_insn: after any call, and a bpf-to-bpf call itself
                prune.add(i + 1)
                if is_pseudo_call(s):
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


# --- register liveness (the kernel's compute_live_registers) ---------------------------------

_CALLER_SAVED = 0x3F          # r0-r5


def _use_def(slots: list[Slot], i: int) -> tuple[int, int]:
    """Registers instruction ``i`` reads and writes, as bit masks."""
    s = slots[i]
    code, cls = s.opcode, s.opcode & 7
    dst, src = 1 << s.dst, 1 << s.src
    if cls in (4, 7):                                  # ALU, ALU64
        op = code & 0xF0
        if op == 0xB0:                                 # mov
            return (src if code & 0x08 else 0), dst
        if op in (0x80, 0xD0):                         # neg, end
            return dst, dst
        return dst | (src if code & 0x08 else 0), dst
    if cls == 1:                                       # LDX
        return src, dst
    if cls == 2:                                       # ST
        return dst, 0
    if cls == 3:                                       # STX
        if code & 0xE0 == 0xC0:                        # atomic
            imm = s.imm
            if imm == 0x100:                           # load-acquire
                return src, dst
            if imm == 0xF1:                            # cmpxchg
                return dst | src | 1, 1
            if imm & 1:                                # fetch: src receives the old value
                return dst | src, src
        return dst | src, 0
    if cls == 0:                                       # LD
        if code == OPCODE_LDDW:
            return 0, dst
        mode = code & 0xE0
        use = 1 << 6 | (src if mode == 0x40 else 0)   # ld_abs/ind read r6 (and src)
        return use, _CALLER_SAVED
    op = code & 0xF0                                   # JMP, JMP32
    if op == 0x00:
        return 0, 0
    if op == 0x90:
        return 1, 0
    if op == 0x80:
        use = _CALLER_SAVED & ~1
        if s.src == 0:
            from pybpf.vm.helpers.protos import PROTOS
            proto = PROTOS.get(s.imm)
            if proto is not None:
                use = ((1 << (len(proto.args) + 1)) - 1) & ~1
        return use, _CALLER_SAVED
    if op == 0xE0:                                     # may_goto
        return 0, 0
    return dst | (src if code & 0x08 else 0), 0


def live_registers(slots: list[Slot]) -> list[int]:
    """For each slot, the registers live before it (read on some path before being
    written), as a bit mask: a backward data-flow over each subprogram's control flow
    (calls fall through to the next instruction, exits end the function)."""
    n = len(slots)
    use = [0] * n
    defs = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    i = 0
    while i < n:
        use[i], defs[i] = _use_def(slots, i)
        succ[i] = [t for t in successors(slots, i) if 0 <= t < n]
        i += 2 if slots[i].opcode == OPCODE_LDDW else 1
    live = [0] * n
    changed = True
    while changed:
        changed = False
        for i in range(n - 1, -1, -1):
            out = 0
            for t in succ[i]:
                out |= live[t]
            new = use[i] | (out & ~defs[i])
            if new != live[i]:
                live[i] = new
                changed = True
    return live

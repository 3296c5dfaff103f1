"""Control flow before abstract interpretation: the kernel's ``resolve_pseudo_ldimm64``
opcode checks, ``check_subprogs`` and ``check_cfg``, with the kernel's messages.

The program here is a list of raw slots ``(opcode, dst, src, off, imm)`` (lddw second
halves included), so bad input (unknown opcodes, broken lddw, wild jumps) is judged as
the kernel judges it rather than failing to decode.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from pybpf.isa.opcodes import FORMS_BY_OPCODE, JMP, JMP32, OPCODE_LDDW
from pybpf.vm.helpers.protos import PROTOS

VALID_OPCODES = frozenset(FORMS_BY_OPCODE)
_CALL, _CALLX = JMP | 0x80, JMP | 0x88
MAX_CALL_FRAMES = 8
MAX_SUBPROGS = 256


class Slot(NamedTuple):
    opcode: int
    dst: int
    src: int
    off: int
    imm: int


class CfgError(Exception):
    def __init__(self, message: str, insn: int | None = None, errno: int = 22):
        super().__init__(message)
        self.message = message
        self.insn = insn
        self.errno = errno


_EBADF, _EPROTO = 9, 71
_MAX_VAR_OFF = 1 << 29           # BPF_MAX_VAR_OFF
_ARRAY = 2                       # BPF_MAP_TYPE_ARRAY: the one with map_direct_value_addr


def check_opcodes(slots: list[Slot], maps: dict[int, Any] | None = None) -> None:
    """``resolve_pseudo_ldimm64``, before any instruction is walked: reserved fields of
    loads, each ``lddw``'s form and the map it names (``maps``: by instruction index;
    fds and indexes resolve to nothing else), direct value offsets, known opcodes."""
    i = 0
    n = len(slots)
    valid = VALID_OPCODES
    maps = maps or {}
    while i < n:
        code, _dst, src, _off, imm = slots[i]
        if code & 7 == 1 and (code & 0xE0 not in (0x60, 0x80) or imm):      # LDX
            raise CfgError("BPF_LDX uses reserved fields", i)
        if code == OPCODE_LDDW:
            if i == n - 1:
                raise CfgError("invalid bpf_ld_imm64 insn", i)
            code2, dst2, src2, off2, imm2 = slots[i + 1]
            if code2 or dst2 or src2 or off2:
                raise CfgError("invalid bpf_ld_imm64 insn", i)
            if src not in (0, 1, 2, 3, 4, 5, 6):
                raise CfgError("unrecognized bpf_ld_imm64 insn", i)
            if src in (1, 5) and imm2 != 0:
                raise CfgError("unrecognized bpf_ld_imm64 insn", i)
            if src in (1, 2, 5, 6):
                _check_map_ldimm64(slots[i], imm2, maps.get(i), bool(maps), i)
            i += 2
            continue
        if code not in valid or code == _CALLX:
            raise CfgError(f"unknown opcode {code:02x}", i)
        i += 1


def _check_map_ldimm64(slot: Slot, off: int, m: Any, any_maps: bool, i: int) -> None:
    """An lddw naming a map (src 1/5) or a map's value (2/6): the map exists (``m``), and
    a direct value access is to an array, inside its value."""
    src, imm = slot[2], slot[4] & 0xFFFFFFFF
    if m is None:
        if src in (5, 6) and not any_maps:
            raise CfgError("fd_idx without fd_array is invalid", i, _EPROTO)
        fd = imm - (1 << 32) if imm >> 31 else imm
        raise CfgError(f"fd {fd} is not pointing to valid bpf_map", i, _EBADF)
    if src in (2, 6):
        off &= 0xFFFFFFFF
        if off >= _MAX_VAR_OFF:
            raise CfgError(f"direct value offset of {off} is not allowed", i)
        if int(m.type) != _ARRAY:
            raise CfgError("no direct value access support for this map type", i)
        if off >= m.value_size:
            raise CfgError(f"invalid access to map value pointer, value_size={m.value_size} "
                           f"off={off}", i)


def find_subprogs(slots: list[Slot]) -> list[int]:
    """``add_subprog_and_kfunc``: the start index of each subprogram (the main program's
    and each call's or pseudo-func lddw's target)."""
    starts = {0}
    n = len(slots)
    for i, (code, _dst, src, _off, imm) in enumerate(slots):
        if (code == _CALL and src == 1) or (code == OPCODE_LDDW and src == 4):
            target = i + imm + 1
            if target < 0 or target >= n:
                raise CfgError("call to invalid destination" if code == _CALL
                               else "invalid bpf_ld_imm64 insn", i)
            starts.add(target)
    subs = sorted(starts)
    if len(subs) > MAX_SUBPROGS:
        raise CfgError("too many subprograms")
    return subs


def check_subprogs(slots: list[Slot], subs: list[int]) -> None:
    """``check_subprogs``: every jump stays in its subprogram, which ends in an exit or a
    jump."""
    n = len(slots)
    bounds = subs + [n]
    for k in range(len(subs)):
        start, end = bounds[k], bounds[k + 1]
        for i in range(start, end):
            code, _dst, _src, off, imm = slots[i]
            cls = code & 7
            if cls != JMP and cls != JMP32:
                continue
            op = code & 0xF0
            if op == 0x80 or op == 0x90:   # call, exit
                continue
            if cls == JMP32 and op == 0x00:
                off = imm
            target = i + off + 1
            if target < start or target >= end:
                raise CfgError(f"jump out of range from insn {i} to {target}", i)
        last = slots[end - 1].opcode
        if last != JMP | 0x90 and last != JMP | 0x00 and last != JMP32 | 0x00:
            raise CfgError("last insn is not an exit or jmp", end - 1)


def successors(slots: list[Slot], i: int) -> list[int]:
    code, _dst, _src, off, imm = slots[i]
    return list(_targets(code, off, imm, i))


def _targets(code: int, off: int, imm: int, i: int) -> tuple[int, ...]:
    """Where control goes after instruction ``i`` (calls fall through)."""
    cls = code & 7
    if code == OPCODE_LDDW:
        return (i + 2,)
    if cls == JMP or cls == JMP32:
        op = code & 0xF0
        if op == 0x90:
            return ()
        if op == 0x80:
            return (i + 1,)
        if op == 0x00:
            return (i + (imm if cls == JMP32 else off) + 1,)
        return (i + 1, i + off + 1)
    return (i + 1,)


def check_cfg(slots: list[Slot], subprogs: list[int]) -> tuple[set[int], set[int], set[int]]:
    """Every slot reachable from its subprogram's start; returns (prune points, loop
    heads, jmp points). Raises with ``unreachable insn N`` / ``jump into the middle of
    ldimm64``.

    Jmp points are the instructions a path may reach other than from the one before
    (branch targets, where calls return, function and callback entries) and the
    conditional jumps, as the kernel marks them: each visit of one is recorded in the
    path's history with where it came from, for precision backtracking."""
    n = len(slots)
    seen = [False] * n
    prune: set[int] = set()
    back: set[int] = set()
    jmp: set[int] = set(subprogs[1:])
    for start in subprogs:
        stack = [start]
        seen[start] = True
        while stack:
            i = stack.pop()
            code, _dst, src, off, imm = slots[i]
            cls = code & 7
            if code == OPCODE_LDDW:
                succ: tuple[int, ...] = (i + 2,)
                if src == 4:
                    jmp.add(i + imm + 1)            # a callback's entry
            elif cls == JMP or cls == JMP32:
                op = code & 0xF0
                if op == 0x90:
                    succ = ()
                elif op == 0x80:
                    succ = (i + 1,)
                    jmp.add(i + 1)
                    if cls == JMP:
                        # visit_func_call_insn: after any call, and a bpf-to-bpf call itself
                        prune.add(i + 1)
                        if code == _CALL and src == 1:
                            prune.add(i)
                            jmp.add(i + imm + 1)
                elif op == 0x00:
                    succ = (i + (imm if cls == JMP32 else off) + 1,)
                    prune.add(succ[0])
                    jmp.add(succ[0])
                else:
                    succ = (i + 1, i + off + 1)
                    prune.add(i)
                    prune.add(succ[1])
                    jmp.update((i, succ[1]))
            else:
                succ = (i + 1,)
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
    return prune, back, jmp


# --- register liveness (the kernel's compute_live_registers) ---------------------------------

_CALLER_SAVED = 0x3F          # r0-r5
_ALL_REGS = 0x7FF             # r0-r10


def _use_def(s: Slot, protos: "Callable[[int], Any] | None" = None) -> tuple[int, int]:
    """Registers instruction ``s`` reads and writes, as bit masks (``compute_insn_live_regs``):
    a helper call reads the arguments of its prototype (``protos(id)``: the one the program
    may call, else None and it reads r1-r5), legacy packet loads every register."""
    code, dst_reg, src_reg, _off, imm = s
    cls = code & 7
    dst, src = 1 << dst_reg, 1 << src_reg
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
        return _ALL_REGS, 0                            # ld_abs/ind: the kernel's defaults
    op = code & 0xF0                                   # JMP, JMP32
    if op == 0x00:
        return 0, 0
    if op == 0x90:
        return 1, 0
    if op == 0x80:
        use = _CALLER_SAVED & ~1
        if src_reg == 0:
            proto = (protos or PROTOS.get)(imm)
            if proto is not None:
                use = ((1 << (len(proto.args) + 1)) - 1) & ~1
        return use, _CALLER_SAVED
    if op == 0xE0:                                     # may_goto
        return 0, 0
    return dst | (src if code & 0x08 else 0), 0


def loop_components(slots: list[Slot]) -> list[int]:
    """``compute_scc``: each slot's strongly connected component of the control-flow
    graph (calls fall through), numbered from 1 as Tarjan's algorithm completes them in
    a depth-first walk from each slot in order (fall-through before jump target), or 0
    for a slot that is alone in its component and does not jump to itself."""
    n = len(slots)
    succ = [tuple(t for t in _targets(s[0], s[3], s[4], i) if 0 <= t < n)
            for i, s in enumerate(slots)]
    pre, low, scc = [0] * n, [0] * n, [0] * n
    off_stack = n + 1                      # (NOT_ON_STACK: above any preorder number)
    next_pre, next_scc = 1, 1
    for root in range(n):
        if pre[root]:
            continue
        stack: list[int] = []
        dfs = [root]
        while dfs:
            w = dfs[-1]
            if not pre[w]:
                pre[w] = low[w] = next_pre
                next_pre += 1
                stack.append(w)
            descended = False
            for t in succ[w]:
                if pre[t]:
                    low[w] = min(low[w], low[t])
                else:
                    dfs.append(t)
                    descended = True
                    break
            if descended:
                continue
            dfs.pop()
            if low[w] < pre[w]:           # part of a component rooted further up
                continue
            assign = stack[-1] != w or w in succ[w]
            while True:
                t = stack.pop()
                low[t] = off_stack
                if assign:
                    scc[t] = next_scc
                if t == w:
                    break
            if assign:
                next_scc += 1
    return scc


def live_registers(slots: list[Slot], protos: "Callable[[int], Any] | None" = None) -> list[int]:
    """For each slot, the registers live before it (read on some path before being
    written), as a bit mask: a backward data-flow over each subprogram's control flow
    (calls fall through to the next instruction, exits end the function). One pass in
    reverse order is exact without backward jumps; with them it repeats until stable."""
    n = len(slots)
    use = [0] * n
    keep = [-1] * n                  # registers an instruction does not write
    succ: list[tuple[int, ...]] = [()] * n
    backward = False
    i = 0
    while i < n:
        s = slots[i]
        use[i], defs = _use_def(s, protos)
        keep[i] = ~defs
        targets = _targets(s[0], s[3], s[4], i)
        for t in targets:
            if not 0 <= t < n:
                targets = tuple(t for t in targets if 0 <= t < n)
                break
        for t in targets:
            if t <= i:
                backward = True
        succ[i] = targets
        i += 2 if s[0] == OPCODE_LDDW else 1
    live = [0] * n
    changed = True
    while changed:
        changed = False
        for i in range(n - 1, -1, -1):
            out = 0
            for t in succ[i]:
                out |= live[t]
            new = use[i] | (out & keep[i])
            if new != live[i]:
                live[i] = new
                changed = True
        changed = changed and backward
    return live

"""Verifier state: call frames (registers and stack), acquired references, and the
comparison used for state pruning (the kernel's ``states_equal``).

A stack slot is eight bytes, each with a kind: ``?`` never written, ``m`` some data,
``0`` known zero, ``r`` part of a spilled register (whose state is ``spilled``). Slot
``spi`` covers ``fp-8*(spi+1)`` .. ``fp-8*spi-1``; byte index 7 of a slot is its lowest
address, as the kernel stores ``slot_type``.
"""

from __future__ import annotations

from pybpf.verifier import tnum as tn
from pybpf.verifier.regs import (
    NOT_INIT, PTR_TO_STACK, SCALAR, Reg, not_init, pointer,
)

INVALID, SPILL, MISC, ZERO = "?", "r", "m", "0"
MAX_BPF_STACK = 512


class Slot:
    __slots__ = ("types", "spilled")

    def __init__(self) -> None:
        self.types = [INVALID] * 8
        self.spilled = not_init()

    def copy(self) -> "Slot":
        s = Slot.__new__(Slot)
        s.types = list(self.types)
        s.spilled = self.spilled.copy()
        return s

    @property
    def is_spill(self) -> bool:
        return self.types[7] == SPILL

    @property
    def is_full_spill(self) -> bool:
        return all(t == SPILL for t in self.types)


class Frame:
    __slots__ = ("regs", "stack", "frameno", "callsite", "subprog", "allocated")

    def __init__(self, frameno: int = 0, callsite: int = -1, subprog: int = 0) -> None:
        self.regs = [not_init() for _ in range(11)]
        self.stack: dict[int, Slot] = {}
        self.frameno = frameno
        self.callsite = callsite
        self.subprog = subprog
        self.allocated = 0

    def copy(self) -> "Frame":
        f = Frame.__new__(Frame)
        f.regs = [r.copy() for r in self.regs]
        f.stack = {k: v.copy() for k, v in self.stack.items()}
        f.frameno, f.callsite, f.subprog = self.frameno, self.callsite, self.subprog
        f.allocated = self.allocated
        return f

    def slot(self, spi: int) -> Slot:
        s = self.stack.get(spi)
        if s is None:
            s = self.stack[spi] = Slot()
        return s

    def grow(self, size: int) -> None:
        """``grow_stack_state``: the frame has touched ``size`` bytes below fp."""
        size = (size + 7) // 8 * 8
        if size > self.allocated:
            self.allocated = size


def entry_frame(frameno: int = 0, callsite: int = -1, subprog: int = 0) -> Frame:
    f = Frame(frameno, callsite, subprog)
    f.regs[10] = pointer(PTR_TO_STACK, frameno=frameno)
    return f


class Ref:
    __slots__ = ("id", "insn", "kind")

    def __init__(self, id: int, insn: int, kind: str = "ptr") -> None:
        self.id, self.insn, self.kind = id, insn, kind


class State:
    """One path's state: frames, references, the branch decisions that led here."""

    __slots__ = ("frames", "refs", "active_lock", "path", "insn_idx", "prev_insn_idx",
                 "log_pos", "branches", "parent", "loop_entry", "may_goto_depth",
                 "jmp_history")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.refs: list[Ref] = []
        self.active_lock: tuple | None = None
        self.path: tuple = ()
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.log_pos = 0
        self.branches = 0
        self.parent = None
        self.loop_entry = None
        self.may_goto_depth = 0
        self.jmp_history = 0

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    @property
    def regs(self) -> list[Reg]:
        return self.frames[-1].regs

    def copy(self) -> "State":
        s = State.__new__(State)
        s.frames = [f.copy() for f in self.frames]
        s.refs = [Ref(r.id, r.insn, r.kind) for r in self.refs]
        s.active_lock = self.active_lock
        s.path = self.path
        s.insn_idx, s.prev_insn_idx = self.insn_idx, self.prev_insn_idx
        s.log_pos = self.log_pos
        s.branches = 0
        s.parent = self.parent
        s.loop_entry = self.loop_entry
        s.may_goto_depth = self.may_goto_depth
        s.jmp_history = 0
        return s

    def all_regs(self):
        """Every register and spilled register of every frame."""
        for f in self.frames:
            yield from f.regs
            for slot in f.stack.values():
                if slot.is_spill:
                    yield slot.spilled


# --- pruning: is an already-verified state at least as general as the current one? --------

def _range_within(old: Reg, cur: Reg) -> bool:
    return (old.umin <= cur.umin and old.umax >= cur.umax and old.smin <= cur.smin
            and old.smax >= cur.smax and old.u32min <= cur.u32min and old.u32max >= cur.u32max
            and old.s32min <= cur.s32min and old.s32max >= cur.s32max)


class IdMap:
    """``check_ids``: ids in the old state must map one-to-one onto ids in the current."""

    def __init__(self) -> None:
        self.fwd: dict[int, int] = {}
        self.back: dict[int, int] = {}

    def check(self, old: int, cur: int) -> bool:
        if not old and not cur:
            return True
        if not old or not cur:
            return False
        a = self.fwd.get(old)
        b = self.back.get(cur)
        if a is None and b is None:
            self.fwd[old], self.back[cur] = cur, old
            return True
        return a == cur and b == old

    def check_scalar(self, old: int, cur: int) -> bool:
        if not old:
            return True     # no link required by the old state
        if not cur:
            return False
        return self.check(old, cur)


def regsafe(old: Reg, cur: Reg, ids: IdMap, exact: bool = False) -> bool:
    if old.type == NOT_INIT:
        return True
    if cur.type == NOT_INIT:
        return False
    if exact:
        return old.key() == cur.key()
    if old.type == SCALAR:
        if cur.type != SCALAR:
            return False
        return (ids.check_scalar(old.id, cur.id) and _range_within(old, cur)
                and tn.contains(old.var_off, cur.var_off))
    if old.type != cur.type or old.maybe_null != cur.maybe_null or old.rdonly != cur.rdonly \
            or old.ringbuf != cur.ringbuf:
        return False
    if old.map is not cur.map or old.mem_size != cur.mem_size or old.frameno != cur.frameno:
        return False
    if old.off != cur.off:
        return False
    if old.is_pkt and old.range > cur.range:
        return False
    if not (_range_within(old, cur) and tn.contains(old.var_off, cur.var_off)):
        return False
    if not ids.check(old.id, cur.id):
        return False
    if not ids.check(old.ref_obj_id, cur.ref_obj_id):
        return False
    return True


def _stacksafe(old: Frame, cur: Frame, ids: IdMap) -> bool:
    for spi, oslot in old.stack.items():
        cslot = cur.stack.get(spi)
        for i in range(8):
            ot = oslot.types[i]
            if ot == INVALID:
                continue
            ct = cslot.types[i] if cslot is not None else INVALID
            if ot == MISC and ct in (MISC, ZERO):
                continue
            if ot == MISC and ct == SPILL and cslot.spilled.type == SCALAR:
                continue
            if ot == ZERO and ct == ZERO:
                continue
            if ot == ZERO and ct == SPILL and cslot.spilled.is_const() \
                    and cslot.spilled.var_off.value == 0:
                continue
            if ot != ct:
                return False
        if oslot.is_spill:
            if cslot is None or not cslot.is_spill or \
                    oslot.types.count(SPILL) != cslot.types.count(SPILL):
                return False
            if not regsafe(oslot.spilled, cslot.spilled, ids):
                return False
    return True


def states_equal(old: State, cur: State, exact: bool = False) -> bool:
    if len(old.frames) != len(cur.frames):
        return False
    if old.active_lock != cur.active_lock:
        return False
    ids = IdMap()
    if len(old.refs) != len(cur.refs):
        return False
    for a, b in zip(old.refs, cur.refs):
        if not ids.check(a.id, b.id):
            return False
    for fo, fc in zip(old.frames, cur.frames):
        if fo.callsite != fc.callsite:
            return False
        for ro, rc in zip(fo.regs, fc.regs):
            if not regsafe(ro, rc, ids, exact):
                return False
        if not _stacksafe(fo, fc, ids):
            return False
    return True

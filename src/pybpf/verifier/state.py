"""Verifier state: call frames (registers and stack), acquired references, and the
comparison used for state pruning (the kernel's ``states_equal``).

A stack slot is eight bytes, each with a kind: ``?`` never written, ``m`` some data,
``0`` known zero, ``r`` part of a spilled register (whose state is ``spilled``). Slot
``spi`` covers ``fp-8*(spi+1)`` .. ``fp-8*spi-1``; byte index 7 of a slot is its lowest
address, as the kernel stores ``slot_type``.
"""

from __future__ import annotations

from array import array

from pybpf.verifier import tnum as tn
from pybpf.verifier.regs import (
    NOT_INIT, NOT_INIT_REG, PTR_TO_STACK, SCALAR, Reg, mark_unknown, pointer, unknown_scalar,
)

_new = object.__new__
_copy_reg = Reg.copy
_reg_key = Reg.key

INVALID, SPILL, MISC, ZERO = "?", "r", "m", "0"
MAX_BPF_STACK = 512


class Slot:
    __slots__ = ("types", "spilled")

    def __init__(self) -> None:
        self.types = [INVALID] * 8
        self.spilled = NOT_INIT_REG

    def copy(self) -> "Slot":
        s = _new(Slot)
        s.types = self.types[:]
        sp = self.spilled
        s.spilled = sp if sp is NOT_INIT_REG else _copy_reg(sp)
        return s

    @property
    def is_spill(self) -> bool:
        return self.types[7] == SPILL

    @property
    def is_full_spill(self) -> bool:
        return all(t == SPILL for t in self.types)


class Frame:
    __slots__ = ("regs", "stack", "frameno", "callsite", "subprog", "allocated",
                 "callback_ret", "callback_depth")

    def __init__(self, frameno: int = 0, callsite: int = -1, subprog: int = 0) -> None:
        self.regs = [NOT_INIT_REG] * 11
        self.stack: dict[int, Slot] = {}
        self.frameno = frameno
        self.callsite = callsite
        self.subprog = subprog
        self.allocated = 0
        # a callback's frame: the range its R0 must be in at exit (else None)
        self.callback_ret: tuple[int, int] | None = None
        # callbacks of the helper call in this frame being simulated (bpf_loop's bound)
        self.callback_depth = 0

    def copy(self) -> "Frame":
        f = _new(Frame)
        f.regs = [r if r is NOT_INIT_REG else _copy_reg(r) for r in self.regs]
        f.stack = {k: v.copy() for k, v in self.stack.items()} if self.stack else {}
        f.frameno, f.callsite, f.subprog = self.frameno, self.callsite, self.subprog
        f.allocated = self.allocated
        f.callback_ret, f.callback_depth = self.callback_ret, self.callback_depth
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


_FP = pointer(PTR_TO_STACK)     # template of R10, never changed


def entry_frame(frameno: int = 0, callsite: int = -1, subprog: int = 0) -> Frame:
    f = Frame(frameno, callsite, subprog)
    fp = f.regs[10] = _copy_reg(_FP)
    fp.frameno = frameno
    return f


class Ref:
    __slots__ = ("id", "insn", "kind")

    def __init__(self, id: int, insn: int, kind: str = "ptr") -> None:
        self.id, self.insn, self.kind = id, insn, kind


class Paths:
    """The branch decisions of all paths, as a tree kept in one flat array of integers:
    decision ``k`` is ``insn * 2 + taken`` at ``2k`` and the index of the decision before
    it on its path (-1: none) at ``2k + 1``. A state's ``path`` is the index of its latest
    decision. (A linked list of tuples would keep one object per decision alive, hundreds
    of thousands in long walks, for the garbage collector to go through again and again.)"""

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = array("q")

    def add(self, path: int, insn: int, taken: bool) -> int:
        """The path ``path`` continued by the decision at ``insn``."""
        nodes = self.nodes
        k = len(nodes) >> 1
        nodes.append(insn << 1 | taken)
        nodes.append(path)
        return k

    def decisions(self, path: int) -> list[tuple[int, bool]]:
        """The branch decisions of ``path``, in order."""
        nodes = self.nodes
        out = []
        while path >= 0:
            code = nodes[2 * path]
            out.append((code >> 1, bool(code & 1)))
            path = nodes[2 * path + 1]
        out.reverse()
        return out


class State:
    """One path's state: frames, references, the branch decisions that led here."""

    __slots__ = ("frames", "refs", "active_lock", "path", "insn_idx", "prev_insn_idx",
                 "log_pos", "branches", "parent", "loop_entry", "may_goto_depth",
                 "hist", "first_insn_idx", "last_insn_idx", "speculative")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.refs: list[Ref] = []
        self.active_lock: tuple | None = None
        self.path = -1             # branch decisions: an index into Paths (-1: none yet)
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.log_pos = 0
        self.branches = 0
        self.parent = None
        self.loop_entry = None
        self.may_goto_depth = 0
        # this state's part of the path (since its checkpoint, see .precision): where it
        # starts and ends, and its history entries (idx, prev_idx, stack slot or None)
        self.hist: list[tuple] = []
        self.first_insn_idx = 0
        self.last_insn_idx = -1
        # a path the CPU may take only speculatively (Spectre v1 simulation, !CAP_PERFMON)
        self.speculative = False

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    @property
    def regs(self) -> list[Reg]:
        return self.frames[-1].regs

    def copy(self) -> "State":
        s = _new(State)
        s.frames = [f.copy() for f in self.frames]
        s.refs = [Ref(r.id, r.insn, r.kind) for r in self.refs] if self.refs else []
        s.active_lock = self.active_lock
        s.path = self.path
        s.insn_idx, s.prev_insn_idx = self.insn_idx, self.prev_insn_idx
        s.log_pos = self.log_pos
        s.branches = 0
        s.parent = self.parent
        s.loop_entry = self.loop_entry
        s.may_goto_depth = self.may_goto_depth
        s.hist = self.hist[:]
        s.first_insn_idx, s.last_insn_idx = self.first_insn_idx, self.last_insn_idx
        s.speculative = self.speculative
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


# How states_equal compares (the kernel's enum exact_level): scalars nobody needed
# precise match any scalar (NOT_EXACT), or are compared by range too (RANGE_WITHIN:
# loops, whose trips must converge), or everything must be equal (EXACT).
NOT_EXACT, EXACT, RANGE_WITHIN = 0, 1, 2


def regsafe(old: Reg, cur: Reg, ids: IdMap, exact: int = NOT_EXACT) -> bool:
    if old.type == NOT_INIT:
        return True
    if cur.type == NOT_INIT:
        return False
    if exact == EXACT:
        return old.key() == cur.key()
    if old.type == SCALAR:
        if cur.type != SCALAR:
            return False
        if not old.precise and exact == NOT_EXACT:
            return True
        return (ids.check_scalar(old.id, cur.id) and _range_within(old, cur)
                and tn.contains(old.var_off, cur.var_off))
    if old.type != cur.type or old.maybe_null != cur.maybe_null or old.rdonly != cur.rdonly \
            or old.ringbuf != cur.ringbuf:
        return False
    if old.map is not cur.map or old.mem_size != cur.mem_size or old.frameno != cur.frameno:
        return False
    if old.off != cur.off:
        return False
    if old.is_pkt and (old.range != cur.range if old.range < 0 or cur.range < 0
                       else old.range > cur.range):    # ([BEYOND|AT]_PKT_END match exactly)
        return False
    if not (_range_within(old, cur) and tn.contains(old.var_off, cur.var_off)):
        return False
    if not ids.check(old.id, cur.id):
        return False
    if not ids.check(old.ref_obj_id, cur.ref_obj_id):
        return False
    return True


_UNBOUND = unknown_scalar()


def _stacksafe(old: Frame, cur: Frame, ids: IdMap, exact: int) -> bool:
    for spi, oslot in old.stack.items():
        cslot = cur.stack.get(spi)
        if oslot.is_full_spill and oslot.spilled.type == SCALAR and cslot is not None \
                and all(t == MISC for t in cslot.types):
            # a spilled scalar against 8 bytes of data (an unknown scalar when read)
            if not regsafe(oslot.spilled, _UNBOUND, ids, exact):
                return False
            continue
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
            if not regsafe(oslot.spilled, cslot.spilled, ids, exact):
                return False
    return True


def frame_key(st: State) -> tuple:
    """The current frame's depth and registers, exactly: two states whose keys are equal
    pass the kernel's ``states_maybe_looping`` (a cheap first test for an infinite loop);
    a checkpoint's key is computed once and kept (checkpoints never change)."""
    return (len(st.frames),) + tuple(r.key() for r in st.frames[-1].regs)


def maybe_looping(key: tuple, cur: State) -> bool:
    """``states_maybe_looping``: ``cur``'s current frame matches a checkpoint's
    :func:`frame_key`. Compares each register's type and tnum (items 0 and 2 of its key)
    first, as in a loop some register's tnum nearly always differs, then whole keys."""
    if key[0] != len(cur.frames):
        return False
    regs = cur.frames[-1].regs
    i = 1
    for r in regs:
        k = key[i]
        if k[2] != r.var_off or k[0] != r.type:
            return False
        i += 1
    i = 1
    for r in regs:
        if key[i] != _reg_key(r):
            return False
        i += 1
    return True


def states_equal(old: State, cur: State, exact: int = NOT_EXACT,
                 live: list[int] | None = None, idx: int = 0) -> bool:
    """Is ``old`` (a checkpoint at instruction ``idx``) at least as general as ``cur``?
    With ``live`` (registers live before each instruction), only the registers live in
    each frame are compared: at ``idx`` in the innermost frame, at the call in callers."""
    if len(old.frames) != len(cur.frames):
        return False
    if old.active_lock != cur.active_lock or (old.speculative and not cur.speculative):
        return False
    ids = IdMap()
    if len(old.refs) != len(cur.refs):
        return False
    for a, b in zip(old.refs, cur.refs):
        if not ids.check(a.id, b.id):
            return False
    frames = old.frames
    last = len(frames) - 1
    for k, (fo, fc) in enumerate(zip(frames, cur.frames)):
        if fo.callsite != fc.callsite or fo.callback_depth > fc.callback_depth:
            return False
        mask = -1 if live is None else live[idx if k == last else frames[k + 1].callsite]
        for r, (ro, rc) in enumerate(zip(fo.regs, fc.regs)):
            if mask >> r & 1 and not regsafe(ro, rc, ids, exact):
                return False
        if not _stacksafe(fo, fc, ids, exact):
            return False
    return True


def widen_imprecise_scalars(old: State, cur: State) -> None:
    """After a callback returns to its call: every scalar (register or spilled) that
    differs from the same one in the previous visit of the call becomes unknown, so that
    repeated callback visits converge (the kernel's ``widen_imprecise_scalars``): all
    but those some check relied on (precise)."""
    ids = IdMap()
    for fo, fc in zip(old.frames, cur.frames):
        pairs = list(zip(fo.regs, fc.regs))
        for spi, oslot in fo.stack.items():
            cslot = fc.stack.get(spi)
            if oslot.is_spill and cslot is not None and cslot.is_spill:
                pairs.append((oslot.spilled, cslot.spilled))
        for ro, rc in pairs:
            if ro.type != SCALAR or rc.type != SCALAR:
                continue
            if ro.precise or rc.precise or _regs_exact(ro, rc, ids):
                continue
            mark_unknown(rc)


def _regs_exact(old: Reg, cur: Reg, ids: IdMap) -> bool:
    return (old.var_off == cur.var_off and old.smin == cur.smin and old.smax == cur.smax
            and old.umin == cur.umin and old.umax == cur.umax
            and old.s32min == cur.s32min and old.s32max == cur.s32max
            and old.u32min == cur.u32min and old.u32max == cur.u32max
            and old.off == cur.off and ids.check(old.id, cur.id)
            and ids.check(old.ref_obj_id, cur.ref_obj_id))

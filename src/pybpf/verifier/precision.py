"""Precision tracking: which scalars' exact values the verdicts of a path relied on.

A scalar is *precise* in a checkpoint when some later decision depended on its exact
range (a branch the verifier found decided, pointer arithmetic, a helper's size
argument, a program's return value...). Pruning compares only precise scalars: a
checkpoint whose scalar nobody relied on matches any scalar there. When a check relies
on a register, :func:`mark_chain_precision` walks the path back (the kernel's
``__mark_chain_precision`` and ``backtrack_insn``) to the instructions that gave it its
value, through stack spills and fills and across calls, and marks the registers and
spilled slots that value came from precise in each checkpoint on the way, logging as
the kernel does (``mark_precise: frame0: regs=r3 stack= before 6: (07) r3 += 1``).

The path is known from each state's history: the instructions reached other than by
falling through (``jmp points``: branch targets, conditional jumps, return sites,
function entries) with the instruction before them, and the register spills and fills,
with the stack slot they used. A history entry is ``(idx, prev_idx, slot)``, ``slot``
``(frameno, spi)`` or None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.verifier.log import format_insn, format_state
from pybpf.verifier.regs import SCALAR

if TYPE_CHECKING:
    from pybpf.verifier.state import State
    from pybpf.verifier.walk import Verifier

ARGS = 0b111110          # r1-r5
MAX_FRAMES = 8


class NotSupported(Exception):
    """backtrack_insn's -ENOTSUPP: fall back to forcing every scalar precise."""


class Backtrack:
    """``struct backtrack_state``: the registers and stack slots still wanted, by frame."""

    def __init__(self, frame: int):
        self.frame = frame
        self.regs = [0] * MAX_FRAMES
        self.stack = [0] * MAX_FRAMES

    def empty(self) -> bool:
        return not any(self.regs) and not any(self.stack)

    def reg(self, r: int) -> bool:
        return bool(self.regs[self.frame] >> r & 1)

    def set_reg(self, r: int, frame: int | None = None) -> None:
        self.regs[self.frame if frame is None else frame] |= 1 << r

    def clear_reg(self, r: int, frame: int | None = None) -> None:
        self.regs[self.frame if frame is None else frame] &= ~(1 << r)

    def slot(self, frame: int, spi: int) -> bool:
        return bool(self.stack[frame] >> spi & 1)

    def set_slot(self, frame: int, spi: int) -> None:
        self.stack[frame] |= 1 << spi

    def clear_slot(self, frame: int, spi: int) -> None:
        self.stack[frame] &= ~(1 << spi)

    def enter(self) -> None:
        """``bt_subprog_enter``: backtracking goes into a called function's frame."""
        if self.frame + 1 >= MAX_FRAMES:
            raise NotSupported
        self.frame += 1

    def exit(self) -> None:
        """``bt_subprog_exit``: back out to the caller's frame."""
        if self.frame == 0:
            raise NotSupported
        self.frame -= 1


def reg_mask_text(mask: int) -> str:
    return ",".join(f"r{i}" for i in range(11) if mask >> i & 1)


def stack_mask_text(mask: int) -> str:
    return ",".join(str(-(i + 1) * 8) for i in range(64) if mask >> i & 1)


def mark_chain_precision(v: "Verifier", regno: int) -> None:
    """The register ``regno`` of the current frame must be precise: mark where its value
    came from in the checkpoints of the current path (not in the current state, where
    it is not needed)."""
    if regno < 0:
        return
    bt = Backtrack(len(v.state.frames) - 1)
    bt.set_reg(regno)
    _mark(v, v.state, bt)


def mark_slot_precision(v: "Verifier", frameno: int, spi: int) -> None:
    """The scalar spilled at stack slot ``spi`` of frame ``frameno`` must be precise."""
    bt = Backtrack(len(v.state.frames) - 1)
    bt.set_slot(frameno, spi)
    _mark(v, v.state, bt)


def propagate_precision(v: "Verifier", old: "State") -> None:
    """The current state was pruned by the checkpoint ``old``: what ``old``'s
    continuation needed precise, the current path needs too."""
    bt = Backtrack(len(v.state.frames) - 1)
    log = v.log if v.log.level >= 2 else None
    for fr in range(len(old.frames) - 1, -1, -1):
        frame = old.frames[fr]
        names = []
        for i, reg in enumerate(frame.regs[:10]):
            if reg.type == SCALAR and reg.precise:
                names.append(f"r{i}")
                bt.set_reg(i, fr)
        for spi in sorted(frame.stack):
            slot = frame.stack[spi]
            if slot.is_spill and slot.spilled.type == SCALAR and slot.spilled.precise:
                names.append(f"fp{-(spi + 1) * 8}")
                bt.set_slot(fr, spi)
        if names and log is not None:
            log(f"frame {fr}: propagating {','.join(names)}\n")
    _mark(v, v.state, bt)


def _mark(v: "Verifier", start: "State", bt: Backtrack) -> None:
    """``__mark_chain_precision`` from the current instruction of ``start``."""
    if bt.empty():
        return
    log = v.log if v.log.level >= 2 else None
    st = start
    first_idx, last_idx, subseq_idx = st.first_insn_idx, v.insn_idx, -1
    skip_first = True
    parent = v.parent_cp
    insns = v.insns
    while True:
        if log is not None:
            log(f"mark_precise: frame{bt.frame}: last_idx {last_idx} first_idx {first_idx} "
                f"subseq_idx {subseq_idx} \n")
        if last_idx < 0:
            # the entry of a global function walked on its own: only its arguments
            frame0 = st.frames[0]
            if len(st.frames) == 1 and not bt.stack[0] and not bt.regs[0] & ~ARGS:
                for i in range(1, 6):
                    if bt.regs[0] >> i & 1 and frame0.regs[i].type == SCALAR:
                        frame0.regs[i].precise = True
                return
            _force_all(v, start)
            return
        hist = st.hist
        history = len(hist)
        first = st.first_insn_idx
        i = last_idx
        while True:
            if skip_first:
                skip_first = False
            else:
                entry = hist[history - 1] if history and hist[history - 1][0] == i else None
                insn = insns[i]
                cls = insn.opcode & 7
                # (the common cases, silently: an ALU op or a load into a register not
                # wanted, a store to no wanted slot, a jump on a constant leave the
                # wanted set as it is)
                code = insn.opcode
                if log is None and ((cls in (5, 6) and not code & 0x08
                                     and code & 0xF0 not in (0x80, 0x90))
                                    or (not bt.regs[bt.frame] >> insn.dst & 1 and (
                                        cls in (1, 4, 7) or (cls == 2 and entry is None)
                                        or (cls == 3 and entry is None
                                            and code & 0xE0 != 0xC0)))):
                    pass
                else:
                    try:
                        backtrack_insn(v, i, subseq_idx, entry, bt)
                    except NotSupported:
                        _force_all(v, start)
                        return
                    if bt.empty():
                        return
            subseq_idx = i
            # get_prev_insn_idx: the instruction before i on the path
            if i == first and (history == 0 or (history == 1 and hist[0][0] == i)):
                break
            if history and hist[history - 1][0] == i:
                i = hist[history - 1][1]
                history -= 1
            else:
                i -= 1
        if parent is None:
            break
        st = parent.state
        parent = parent.parent
        for fr in range(bt.frame, -1, -1):
            frame = st.frames[fr]
            for r in range(11):
                if not bt.regs[fr] >> r & 1:
                    continue
                reg = frame.regs[r]
                if reg.type != SCALAR or reg.precise:
                    bt.clear_reg(r, fr)
                else:
                    _set_precise(frame.regs, r)
            for spi in range(64):
                if not bt.stack[fr] >> spi & 1:
                    continue
                slot = frame.stack.get(spi)
                if slot is None or not slot.is_spill or slot.spilled.type != SCALAR:
                    bt.clear_slot(fr, spi)
                    continue
                if slot.spilled.precise:
                    bt.clear_slot(fr, spi)
                else:
                    slot.spilled = slot.spilled.copy()
                    slot.spilled.precise = True
            if log is not None:
                log(f"mark_precise: frame{fr}: parent state regs={reg_mask_text(bt.regs[fr])} "
                    f"stack={stack_mask_text(bt.stack[fr])}: "
                    f"{format_state(st, True, frame=frame)}\n")
        if bt.empty():
            return
        subseq_idx = first_idx
        last_idx, first_idx = st.last_insn_idx, st.first_insn_idx
    if not bt.empty():
        _force_all(v, start)


def _set_precise(regs: list, r: int) -> None:
    reg = regs[r].copy()        # (registers are never shared between states, but the
    reg.precise = True          # frozen NOT_INIT one is: a scalar is never that one)
    regs[r] = reg


def _force_all(v: "Verifier", start: "State") -> None:
    """``mark_all_scalars_precise``: every scalar of every checkpoint of the path."""
    log = v.log if v.log.level >= 2 else None
    if log is not None:
        log(f"mark_precise: frame{len(start.frames) - 1}: falling back to forcing all "
            f"scalars precise\n")
    cp = v.parent_cp
    while cp is not None:
        for fr, frame in enumerate(cp.state.frames):
            for r in range(10):
                reg = frame.regs[r]
                if reg.type == SCALAR and not reg.precise:
                    _set_precise(frame.regs, r)
                    if log is not None:
                        log(f"force_precise: frame{fr}: forcing r{r} to be precise\n")
            for spi in sorted(frame.stack):
                slot = frame.stack[spi]
                if slot.is_spill and slot.spilled.type == SCALAR and not slot.spilled.precise:
                    slot.spilled = slot.spilled.copy()
                    slot.spilled.precise = True
                    if log is not None:
                        log(f"force_precise: frame{fr}: forcing fp{-(spi + 1) * 8} to be "
                            f"precise\n")
        cp = cp.parent


def backtrack_insn(v: "Verifier", idx: int, subseq_idx: int, hist: tuple | None,
                   bt: Backtrack) -> None:
    """``backtrack_insn``: what was wanted after instruction ``idx``, wanted before it."""
    insn = v.insns[idx]
    code = insn.opcode
    if code == 0:
        return
    if v.log.level >= 2:
        v.log(f"mark_precise: frame{bt.frame}: regs={reg_mask_text(bt.regs[bt.frame])} "
              f"stack={stack_mask_text(bt.stack[bt.frame])} before {idx}: "
              f"{format_insn(insn, v.allow_ptr_leaks)}\n")
    cls, op = code & 7, code & 0xF0
    dreg, sreg = insn.dst, insn.src
    slot = hist[2] if hist is not None else None
    if cls in (4, 7):                                   # ALU, ALU64
        if not bt.reg(dreg):
            return
        if op in (0xD0, 0x80):                          # END, NEG
            return
        if op == 0xB0:                                  # MOV
            bt.clear_reg(dreg)
            if code & 0x08 and sreg != 10:
                bt.set_reg(sreg)
        elif code & 0x08 and sreg != 10:
            bt.set_reg(sreg)
    elif cls == 1 or (cls == 3 and code & 0xE0 == 0xC0 and insn.imm == 0x100):
        # LDX (a load-acquire too)
        if not bt.reg(dreg):
            return
        bt.clear_reg(dreg)
        if slot is not None:            # a fill: the slot's scalar is what is wanted
            bt.set_slot(*slot)
    elif cls in (2, 3):                                 # ST, STX
        if bt.reg(dreg):
            raise NotSupported          # a scalar used as a pointer: pointer subtraction
        if slot is None or not bt.slot(*slot):
            return
        bt.clear_slot(*slot)
        if cls == 3:
            bt.set_reg(sreg)
    elif cls in (5, 6):                                 # JMP, JMP32
        if op == 0x80 and sreg == 1:                    # a bpf-to-bpf call
            if idx + insn.imm + 1 in v.global_funcs:
                if bt.regs[bt.frame] & ARGS:
                    raise NotSupported
                bt.clear_reg(0)         # a global function sets R0, nothing else
                return
            # the call's callee part was walked back: only its arguments are left
            if bt.regs[bt.frame] & ~ARGS or bt.stack[bt.frame]:
                raise NotSupported
            for r in range(1, 6):
                if bt.reg(r):
                    bt.clear_reg(r)
                    bt.set_reg(r, bt.frame - 1)
            bt.exit()
        elif op == 0x80 and idx in v.callback_calls and idx != subseq_idx - 1:
            # back from a callback to the helper that called it
            if bt.regs[bt.frame] & ~ARGS or bt.stack[bt.frame]:
                raise NotSupported
            for r in range(1, 6):
                bt.clear_reg(r)
            bt.exit()
        elif op == 0x80:                                # a helper call (kfunc)
            if sreg == 2 and insn.imm == 0:
                raise NotSupported
            bt.clear_reg(0)
            if bt.regs[bt.frame] & ARGS:
                raise NotSupported
            if sreg == 0 and insn.imm == 12 and subseq_idx - idx != 1:
                bt.enter()                              # into a tail call's target
        elif op == 0x90:                                # EXIT: back into the callee
            if subseq_idx >= 0 and subseq_idx in v.callback_calls:
                for r in range(1, 6):
                    bt.clear_reg(r)
            if bt.regs[bt.frame] & ARGS:
                raise NotSupported
            caller = v.insns[subseq_idx - 1] if subseq_idx >= 1 else None
            r0 = caller is not None and caller.opcode == 0x85 and caller.src == 1 and \
                bt.reg(0)
            bt.clear_reg(0)
            bt.enter()
            if r0:
                bt.set_reg(0)
        elif op not in (0x00, 0xE0) and code & 0x08:    # dreg <cond> sreg
            if not bt.reg(dreg) and not bt.reg(sreg):
                return
            bt.set_reg(sreg)
            bt.set_reg(dreg)
    elif cls == 0:                                      # LD: lddw, ld_abs, ld_ind
        if not bt.reg(dreg):
            return
        bt.clear_reg(dreg)
        if code & 0xE0 in (0x20, 0x40):
            raise NotSupported

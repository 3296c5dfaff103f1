"""The verifier log, in the kernel's format.

:class:`Log` is a buffer that can be rewound (the kernel rewinds the log to where a
branch was pushed when it pops the branch at level 1, so a level-1 log shows only the
path that failed). :func:`format_insn` is the kernel's ``print_bpf_insn``; the register
and stack state text is ``print_verifier_state``.
"""

from __future__ import annotations

from typing import Any

from pybpf.isa.opcodes import (
    ALU, ALU64, JMP, JMP32, LD, LDX, MODE_ABS, MODE_ATOMIC, MODE_IMM, MODE_IND, MODE_MEM,
    MODE_MEMSX, SIZE_BYTES, ST, STX,
)
from pybpf.isa.uapi import HELPER_NAMES
from pybpf.verifier.regs import NOT_INIT, format_reg

ALIGN = 40
MIN_ALIGN = 8

_ALU_OPS = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=",
            0x60: "<<=", 0x70: ">>=", 0x80: "neg", 0x90: "%=", 0xA0: "^=", 0xB0: "=",
            0xC0: "s>>=", 0xD0: "endian"}
_JMP_OPS = {0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>",
            0x70: "s>=", 0xA0: "<", 0xB0: "<=", 0xC0: "s<", 0xD0: "s<="}
_SIZE_NAMES = {n: f"u{n * 8}" for n in (1, 2, 4, 8)}


class Log:
    """The log text with the kernel's rewinding (``bpf_vlog_reset``): positions count
    characters, so a rewind can land inside a line exactly as the kernel's does."""

    def __init__(self, level: int = 0):
        self.level = level
        self.buf: list[str] = []
        self.ends: list[int] = []      # log position after each piece of ``buf``
        self.length = 0
        self.prev_log_pos = 0          # end of the last instruction line
        self.prev_insn_print_pos = 0   # that line's length

    def __call__(self, text: str) -> None:
        if self.level and text:
            self.buf.append(text)
            self.length += len(text)
            self.ends.append(self.length)

    @property
    def pos(self) -> int:
        return self.length

    def reset(self, pos: int) -> None:
        """Rewind to ``pos``: whole pieces after it are dropped (amortised O(1): each
        piece is dropped at most once), the piece it falls in is cut."""
        if pos >= self.length:
            return
        buf, ends = self.buf, self.ends
        while ends and ends[-1] > pos:
            piece = buf.pop()
            end = ends.pop()
            start = end - len(piece)
            if start < pos:
                buf.append(piece[:pos - start])
                ends.append(pos)
                break
        self.length = pos

    def text(self) -> str:
        return "".join(self.buf)


def _r(reg: int, wide: bool) -> str:
    return f"{'r' if wide else 'w'}{reg}"


def format_insn(insn, allow_ptr_leaks: bool = True) -> str:
    """One instruction as the kernel's verifier log prints it: ``(b7) r0 = 0``."""
    code = insn.opcode
    cls = code & 7
    head = f"({code:02x})"
    if cls in (ALU, ALU64):
        wide = cls == ALU64
        op = code & 0xF0
        if op == 0xD0:
            if cls == ALU64:
                return f"{head} r{insn.dst} = bswap{insn.imm} r{insn.dst}"
            kind = "be" if code & 0x08 else "le"
            return f"{head} r{insn.dst} = {kind}{insn.imm} r{insn.dst}"
        if op == 0x80:
            return f"{head} {_r(insn.dst, wide)} = -{_r(insn.dst, wide)}"
        name = _ALU_OPS.get(op, "?")
        if op in (0x30, 0x90) and insn.off == 1:
            name = "s" + name
        if code & 0x08:
            cast = ""
            if op == 0xB0 and insn.off in (8, 16, 32):
                cast = f"(s{insn.off})"
            return f"{head} {_r(insn.dst, wide)} {name} {cast}{_r(insn.src, wide)}"
        return f"{head} {_r(insn.dst, wide)} {name} {insn.imm}"
    if cls == STX:
        mode = code & 0xE0
        size = SIZE_BYTES[code & 0x18]
        sz = _SIZE_NAMES[size]
        where = f"(r{insn.dst} {insn.off:+d})"
        if mode == MODE_MEM:
            return f"{head} *({sz} *){where} = r{insn.src}"
        if mode == MODE_ATOMIC:
            imm = insn.imm
            w = "r"                   # (disasm.c names the registers r whatever the size)
            fn = "atomic64" if size == 8 else "atomic"
            ops = {0x00: "add", 0x40: "or", 0x50: "and", 0xA0: "xor"}
            sym = {0x00: "+=", 0x40: "|=", 0x50: "&=", 0xA0: "^="}
            if imm in sym:
                return f"{head} lock *({sz} *){where} {sym[imm]} {w}{insn.src}"
            if imm & ~1 in ops and imm & 1:
                return (f"{head} {w}{insn.src} = {fn}_fetch_{ops[imm & ~1]}(({sz} *){where}, "
                        f"{w}{insn.src})")
            if imm == 0xE1:
                return f"{head} {w}{insn.src} = {fn}_xchg(({sz} *){where}, {w}{insn.src})"
            if imm == 0xF1:
                return (f"{head} {w}0 = {fn}_cmpxchg(({sz} *){where}, {w}0, "
                        f"{w}{insn.src})")
            if imm == 0x100:
                return f"{head} r{insn.dst} = load_acquire(({sz} *)(r{insn.src} {insn.off:+d}))"
            if imm == 0x110:
                return f"{head} store_release(({sz} *){where}, r{insn.src})"
        return f"BUG_{code:02x}"
    if cls == ST:
        size = SIZE_BYTES[code & 0x18]
        return f"{head} *({_SIZE_NAMES[size]} *)(r{insn.dst} {insn.off:+d}) = {insn.imm}"
    if cls == LDX:
        size = SIZE_BYTES[code & 0x18]
        if code & 0xE0 == MODE_MEMSX:
            return f"{head} r{insn.dst} = *(s{size * 8} *)(r{insn.src} {insn.off:+d})"
        return f"{head} r{insn.dst} = *({_SIZE_NAMES[size]} *)(r{insn.src} {insn.off:+d})"
    if cls == LD:
        mode = code & 0xE0
        size = SIZE_BYTES.get(code & 0x18, 0)
        if mode == MODE_ABS:
            return f"{head} r0 = *({_SIZE_NAMES.get(size, '?')} *)skb[{insn.imm}]"
        if mode == MODE_IND:
            return f"{head} r0 = *({_SIZE_NAMES.get(size, '?')} *)skb[r{insn.src} + {insn.imm}]"
        if mode == MODE_IMM and size == 8:
            imm = insn.imm & ((1 << 64) - 1)
            if insn.src in (1, 2) and not allow_ptr_leaks:
                imm = 0
            return f"{head} r{insn.dst} = {imm:#x}"
        return f"{head} BUG_ld_{code:02x}"
    if cls in (JMP, JMP32):
        op = code & 0xF0
        wide = cls == JMP
        if op == 0x80:
            if insn.src == 1:
                return f"{head} call pc{insn.imm:+d}"
            if insn.src == 2:
                return f"{head} call kernel-function"
            name = HELPER_NAMES.get(insn.imm, "unknown")
            return f"{head} call {name}#{insn.imm}"
        if op == 0x90:
            return f"{head} exit"
        if op == 0x00:
            if cls == JMP32:
                return f"{head} gotol pc{insn.imm:+d}"
            return f"{head} goto pc{insn.off:+d}"
        if op == 0xE0:
            return f"{head} may_goto pc{insn.off:+d}"
        name = _JMP_OPS.get(op, "?")
        if code & 0x08:
            return f"{head} if {_r(insn.dst, wide)} {name} {_r(insn.src, wide)} goto pc{insn.off:+d}"
        return (f"{head} if {_r(insn.dst, wide)} {name} {insn.imm & 0xFFFFFFFF:#x} "
                f"goto pc{insn.off:+d}")
    return f"{head} ???"


def format_state(state, print_all: bool, scratched_regs: set[int] | None = None,
                 scratched_slots: set[int] | None = None, frame: Any = None) -> str:
    """`` R1=ctx() R10=fp0 fp-8=mmmmmmmm`` for the current frame, or ``frame`` (leading
    space each; a called function's frame says which it is first: `` frame1:``)."""
    frame = state.cur if frame is None else frame
    out = []
    if frame.frameno:
        out.append(f" frame{frame.frameno}:")
    for i, reg in enumerate(frame.regs):
        if reg.type == NOT_INIT:
            continue
        if not print_all and (scratched_regs is None or i not in scratched_regs):
            continue
        out.append(f" R{i}={format_reg(reg, frame.frameno)}")
    for spi in sorted(frame.stack):
        if not print_all and (scratched_slots is None or spi not in scratched_slots):
            continue
        slot = frame.stack[spi]
        if all(t == "?" for t in slot.types):
            continue
        if slot.types[7] == "r":
            prefix = ""
            for t in slot.types:
                if t == "r":
                    break
                prefix += t
            out.append(f" fp{-(spi + 1) * 8}={prefix}{format_reg(slot.spilled, frame.frameno)}")
        else:
            out.append(f" fp{-(spi + 1) * 8}={''.join(slot.types)}")
    if state.refs:
        out.append(" refs=" + ",".join(str(r.id) for r in state.refs))
    return "".join(out)


def alignment(pos: int) -> int:
    """``vlog_alignment``: spaces so that ``;`` lands in column 40, or for a longer line
    at the next multiple of 8 at least 4 columns on."""
    return -(-max(pos + MIN_ALIGN // 2, ALIGN) // MIN_ALIGN) * MIN_ALIGN - pos - 1


def stats_line(processed: int, max_states: int, total: int, peak: int) -> str:
    return (f"processed {processed} insns (limit 1000000) max_states_per_insn {max_states} "
            f"total_states {total} peak_states {peak} mark_read 0\n")

"""Flow graph to instructions (libpcap's ``icode_to_fcode``).

Blocks are laid out in reverse post-order of a depth-first walk that visits the false
successor before the true one, so the first block is the root and each block's successors
follow it. A branch further than 255 instructions gets an extra ``ja`` after it and the
layout starts over.
"""

from __future__ import annotations

from pybpf.cbpf.insn import CInsn, JA, JMP
from pybpf.cbpf.filter.blocks import NOP, Block
from pybpf.cbpf.filter.errors import FilterError


class Marker:
    """libpcap's mark scheme: a block is marked when ``b.mark == cur_mark``."""

    def __init__(self) -> None:
        self.cur = 1

    def unmark_all(self) -> None:
        self.cur += 1


def slength(stmts) -> int:
    return sum(1 for s in stmts if s.code != NOP)


def _reachable_postorder(root: Block, marker: Marker) -> list[Block]:
    """Blocks in the order convert_code_r finishes them (false branch first)."""
    marker.unmark_all()
    cur = marker.cur
    out: list[Block] = []
    root.mark = cur
    stack = [(root, 0)]
    while stack:
        b, phase = stack[-1]
        if phase == 0:
            stack[-1] = (b, 1)
            nxt = b.ef.succ
        elif phase == 1:
            stack[-1] = (b, 2)
            nxt = b.et.succ
        else:
            stack.pop()
            out.append(b)
            continue
        if nxt is not None and nxt.mark != cur:
            nxt.mark = cur
            stack.append((nxt, 0))
    return out


def icode_to_fcode(root: Block, marker: Marker) -> list[CInsn]:
    """The instructions for the flow graph rooted at ``root``.

    libpcap lays the program out, and on meeting the first branch that cannot reach its
    target marks that block as needing an extra jump and starts over. Extra jumps only
    lengthen other branches, so marking every too-long branch at once reaches the same
    final set of marks in a few rounds instead of one round per mark."""
    order = _reachable_postorder(root, marker)
    live = {id(b): slength(b.stmts) for b in order}
    while True:
        tail = sum(live[id(b)] + 1 + b.longjt + b.longjf for b in order)
        for p in order:
            tail -= live[id(p)] + 1 + p.longjt + p.longjf
            p.offset = tail
        more = False
        for p in order:
            jt = p.et.succ
            if jt is None:
                continue
            base = p.offset + live[id(p)] + 1
            if not p.longjt and jt.offset - base >= 256:
                p.longjt = 1
                more = True
            if not p.longjf and p.ef.succ.offset - base >= 256:
                p.longjf = 1
                more = True
        if not more:
            break
    n = sum(live[id(b)] + 1 + b.longjt + b.longjf for b in order)
    return _convert(order, n)


def _convert(order: list[Block], n: int) -> list[list[int]]:
    out = [[0, 0, 0, 0] for _ in range(n)]
    tail = n
    for p in order:
        live = [s for s in p.stmts if s.code != NOP]
        slen = len(live)
        tail -= slen + 1 + p.longjt + p.longjf
        p.offset = dst = tail
        pos = {id(s): i for i, s in enumerate(p.stmts[:slen])}
        for off, src in enumerate(live):
            ins = out[dst]
            ins[0] = src.code
            ins[3] = src.k
            if (src.code & 0x07) == JMP and src.code != (JMP | JA) and off != slen - 2:
                if src.jt is None or src.jf is None:
                    raise FilterError(f"no jmp destination for block-local relative jump: "
                                      f"off={off}")
                ti, fi = pos.get(id(src.jt)), pos.get(id(src.jf))
                if ti is None or fi is None:
                    raise FilterError(f"no destination found for block-local relative "
                                      f"jump: off={off}")
                if ti - off - 1 >= 256 or fi - off - 1 >= 256:
                    raise FilterError(f"out-of-range jump for block-local relative jump: "
                                      f"off={off}")
                ins[1] = (ti - off - 1) & 0xFF
                ins[2] = (fi - off - 1) & 0xFF
            dst += 1
        ins = out[dst]
        ins[0] = p.code
        ins[3] = p.k
        jt, jf = p.et.succ, p.ef.succ
        if jt is not None:
            extra = 0
            off = (jt.offset - (p.offset + slen) - 1) & 0xFFFFFFFF
            if off >= 256:
                assert p.longjt
                ins[1] = extra
                extra += 1
                out[dst + extra][0] = JMP | JA
                out[dst + extra][3] = (off - extra) & 0xFFFFFFFF
            else:
                ins[1] = off
            off = (jf.offset - (p.offset + slen) - 1) & 0xFFFFFFFF
            if off >= 256:
                assert p.longjf
                ins[2] = extra
                extra += 1
                out[dst + extra][0] = JMP | JA
                out[dst + extra][3] = (off - extra) & 0xFFFFFFFF
            else:
                ins[2] = off
    return [CInsn(c, jt, jf, k) for c, jt, jf, k in out]

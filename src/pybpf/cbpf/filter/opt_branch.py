"""Branch optimisations: jump threading through dominating edges (``opt_j``) and the
and/or "pull-ups" that hoist a repeated test above a chain of different ones.

``opt_j`` is the heart of libpcap's optimiser: if every path into an edge passed an edge
that tested the same value the same way, the edge's target can skip straight to the
branch that test already decided. Edge codes carry the sense: ``et.code`` is the block's
jump opcode and ``ef.code`` its negation.
"""

from __future__ import annotations

from pybpf.cbpf.insn import JEQ, JMP, K
from pybpf.cbpf.filter.blocks import A_ATOM, N_ATOMS, Block, Edge

_JEQ_K = JMP | JEQ | K


def use_conflict(b: Block, succ: Block) -> bool:
    use = succ.out_use
    if use == 0:
        return False
    bv, sv = b.val, succ.val
    for atom in range(N_ATOMS):
        if use >> atom & 1 and bv[atom] != sv[atom]:
            return True
    return False


def fold_edge(child: Block, ep: Edge) -> Block | None:
    code = ep.code
    if code < 0:
        code = -code
        sense = False
    else:
        sense = True
    if child.code != code:
        return None
    if child.val[A_ATOM] != ep.pred.val[A_ATOM]:
        return None
    if child.oval == ep.pred.oval:
        return child.et.succ if sense else child.ef.succ
    if sense and code == _JEQ_K:
        return child.ef.succ
    return None


def edge_index(levels: list[list[Block]]) -> dict[tuple[int, int], int]:
    """Edges of the live blocks by (opcode, A value at the branch): the only dominating
    edges ``fold_edge`` can use for a child with that opcode and A value."""
    idx: dict[tuple[int, int], int] = {}
    for level in levels:
        for b in level:
            a = b.val[A_ATOM]
            for ep in (b.et, b.ef):
                key = (abs(ep.code), a)
                idx[key] = idx.get(key, 0) | (1 << ep.id)
    return idx


def opt_j(st, ep: Edge, edges: list[Edge], idx: dict[tuple[int, int], int]) -> None:
    """Move ``ep`` past blocks whose test a dominating edge has already decided.

    libpcap walks every dominating edge in id order calling fold_edge; only edges with the
    child's opcode and A value can succeed, so this walks just those (same order)."""
    succ = ep.succ
    if succ.et.succ is None:
        return
    if succ.et.succ is succ.ef.succ:
        if not use_conflict(ep.pred, succ.et.succ):
            st.changed()
            ep.succ = succ.et.succ
    while True:
        child = ep.succ
        x = ep.edom & idx.get((child.code, child.val[A_ATOM]), 0)
        moved = False
        while x:
            low = x & -x
            x ^= low
            dom = edges[low.bit_length() - 1]
            if child.oval == dom.pred.oval:
                target = child.et.succ if dom.code > 0 else child.ef.succ
            elif dom.code > 0 and child.code == _JEQ_K:
                target = child.ef.succ
            else:
                continue
            if target is not None and not use_conflict(ep.pred, target):
                st.done = False
                ep.succ = target
                if target.et.succ is not None:
                    moved = True
                    break
                return
        if not moved:
            return


def _pullup(st, b: Block, along: str, common: str) -> None:
    """or_pullup (along='ef', common='et') and and_pullup (along='et', common='ef')."""
    edges = b.in_edges
    if not edges:
        return
    val = edges[0].pred.val[A_ATOM]
    for e in edges[1:]:
        if val != e.pred.val[A_ATOM]:
            return
    pred0 = edges[0].pred
    diff = pred0.et if pred0.et.succ is b else pred0.ef
    b_common = getattr(b, common).succ
    bit = 1 << b.id
    at_top = True
    while True:
        d = diff.succ
        if d is None:
            return
        if getattr(d, common).succ is not b_common:
            return
        if not d.dom & bit:
            return
        if d.val[A_ATOM] != val:
            break
        diff = getattr(d, along)
        at_top = False
    same = getattr(diff.succ, along)
    while True:
        sm = same.succ
        if sm is None:
            return
        if getattr(sm, common).succ is not b_common:
            return
        if not sm.dom & bit:
            return
        if sm.val[A_ATOM] == val:
            break
        same = getattr(sm, along)
    pull = same.succ
    same.succ = getattr(pull, along).succ
    getattr(pull, along).succ = diff.succ
    if at_top:
        for e in edges:
            p = e.pred
            if p.et.succ is b:
                p.et.succ = pull
            else:
                p.ef.succ = pull
    else:
        diff.succ = pull
    st.done = False


def or_pullup(st, b: Block) -> None:
    _pullup(st, b, "ef", "et")


def and_pullup(st, b: Block) -> None:
    _pullup(st, b, "et", "ef")

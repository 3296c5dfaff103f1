"""Graph facts the optimiser recomputes on every pass: block numbering, levels (distance
from the leaves), dominators, edge dominators, predecessor edges, and which registers each
block uses, defines and leaves live (libpcap's find_levels, find_dom, find_edom, find_ud,
find_inedges).

Sets are Python ints used as bit sets; traversals are iterative but visit blocks in the
same order as libpcap's recursive ones, since the order of the level lists decides the
order in which later passes transform blocks.
"""

from __future__ import annotations

from pybpf.cbpf.insn import IND, JMP, LD, LDX, MEM, MISC, RET, ST, STX, ALU, TXA, TAX, X, A
from pybpf.cbpf.filter.blocks import A_ATOM, NOP, X_ATOM, Block

AX_ATOM = 18


def atomuse(code: int, k: int) -> int:
    """The register a statement reads (AX_ATOM for both A and X), or -1."""
    if code == NOP:
        return -1
    cls = code & 0x07
    if cls == RET:
        rv = code & 0x18
        return A_ATOM if rv == A else X_ATOM if rv == X else -1
    if cls in (LD, LDX):
        mode = code & 0xE0
        return X_ATOM if mode == IND else k if mode == MEM else -1
    if cls == ST:
        return A_ATOM
    if cls == STX:
        return X_ATOM
    if cls in (JMP, ALU):
        return AX_ATOM if code & X else A_ATOM
    return X_ATOM if (code & 0xF8) == TXA else A_ATOM          # MISC


def atomdef(code: int, k: int) -> int:
    """The register a statement writes, or -1."""
    if code == NOP:
        return -1
    cls = code & 0x07
    if cls in (LD, ALU):
        return A_ATOM
    if cls == LDX:
        return X_ATOM
    if cls in (ST, STX):
        return k
    if cls == MISC:
        return X_ATOM if (code & 0xF8) == TAX else A_ATOM
    return -1


def number_blocks(root: Block, marker) -> list[Block]:
    """Depth-first preorder, true branch first: the blocks by id."""
    marker.unmark_all()
    cur = marker.cur
    blocks: list[Block] = []
    stack = [root]
    while stack:
        p = stack.pop()
        if p is None or p.mark == cur:
            continue
        p.mark = cur
        p.id = len(blocks)
        blocks.append(p)
        stack.append(p.ef.succ)
        stack.append(p.et.succ)
    return blocks


def find_levels(root: Block, marker, n_blocks: int) -> list[list[Block]]:
    """levels[i]: the blocks at height i, in libpcap's list order."""
    marker.unmark_all()
    cur = marker.cur
    levels: list[list[Block]] = [[] for _ in range(n_blocks)]
    root.mark = cur
    stack = [[root, 0]]
    while stack:
        frame = stack[-1]
        b = frame[0]
        jt = b.et.succ
        if jt is None:
            stack.pop()
            b.level = 0
            levels[0].append(b)
            continue
        phase = frame[1]
        if phase == 0:
            frame[1] = 1
            if jt.mark != cur:
                jt.mark = cur
                stack.append([jt, 0])
        elif phase == 1:
            frame[1] = 2
            jf = b.ef.succ
            if jf.mark != cur:
                jf.mark = cur
                stack.append([jf, 0])
        else:
            stack.pop()
            jl, fl = jt.level, b.ef.succ.level
            b.level = (jl if jl > fl else fl) + 1
            levels[b.level].append(b)
    for lv in levels:
        lv.reverse()
    return levels


_USE_K = -2                 # "the register named by k" (ld M[k] / st M[k])
_USE: dict[int, int] = {}
_DEF: dict[int, int] = {}


def use_def(code: int) -> tuple[int, int]:
    """(atomuse, atomdef) of an opcode, with _USE_K standing for "M[k]" (memoised)."""
    u = _USE.get(code)
    if u is None:
        u = atomuse(code, _USE_K)
        d = atomdef(code, _USE_K)
        _USE[code] = u
        _DEF[code] = d
    return u, _DEF[code]


def compute_local_ud(b: Block) -> None:
    defs = use = killed = 0
    for s in b.stmts:
        code = s.code
        if code == NOP:
            continue
        atom, dfn = _USE.get(code), _DEF.get(code)
        if atom is None:
            atom, dfn = use_def(code)
        if atom != -1:
            if atom == AX_ATOM:
                if not defs >> X_ATOM & 1:
                    use |= 1 << X_ATOM
                if not defs >> A_ATOM & 1:
                    use |= 1 << A_ATOM
            else:
                if atom == _USE_K:
                    atom = s.k
                if not defs >> atom & 1:
                    use |= 1 << atom
        if dfn != -1:
            if dfn == _USE_K:
                dfn = s.k
            if not use >> dfn & 1:
                killed |= 1 << dfn
            defs |= 1 << dfn
    if (b.code & 0x07) == JMP:
        atom = atomuse(b.code, b.k)
        if atom == AX_ATOM:
            if not defs >> X_ATOM & 1:
                use |= 1 << X_ATOM
            if not defs >> A_ATOM & 1:
                use |= 1 << A_ATOM
        elif atom >= 0 and not defs >> atom & 1:
            use |= 1 << atom
    b.defs = defs
    b.kill = killed
    b.in_use = use


def find_facts(root: Block, blocks: list[Block], levels: list[list[Block]]) -> None:
    """find_dom, find_edom and find_ud in one walk (they do not depend on each other)."""
    n = len(blocks)
    full_n = (1 << n) - 1
    full_e = (1 << (2 * n)) - 1
    for b in blocks:
        b.dom = full_n
        b.et.edom = full_e
        b.ef.edom = full_e
    root.dom = 0
    root.et.edom = 0
    root.ef.edom = 0
    for level in range(root.level, -1, -1):
        for b in levels[level]:
            dom = b.dom | (1 << b.id)
            b.dom = dom
            et, ef = b.et, b.ef
            ete = et.edom | (1 << et.id)
            et.edom = ete
            efe = ef.edom | (1 << ef.id)
            ef.edom = efe
            jt = et.succ
            if jt is not None:
                jf = ef.succ
                jt.dom &= dom
                jf.dom &= dom
                jt.et.edom &= ete
                jt.ef.edom &= ete
                jf.et.edom &= efe
                jf.ef.edom &= efe
            compute_local_ud(b)
            b.out_use = 0
    for i in range(1, root.level + 1):
        for p in levels[i]:
            p.out_use |= p.et.succ.in_use | p.ef.succ.in_use
            p.in_use |= p.out_use & ~p.kill


def find_inedges(root: Block, blocks: list[Block], levels: list[list[Block]]) -> None:
    """Predecessor edges of every block, most recently linked first (libpcap's order)."""
    for b in blocks:
        b.in_edges = []
    for level in range(root.level, 0, -1):
        for b in levels[level]:
            b.et.succ.in_edges.append(b.et)
            b.ef.succ.in_edges.append(b.ef)
    for b in blocks:
        if len(b.in_edges) > 1:
            b.in_edges.reverse()

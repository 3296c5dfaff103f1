"""The optimiser driver (libpcap's bpf_optimize): two fixed-point loops, the first moving
branches only, the second also rewriting statements; then identical blocks are merged and
a root that jumps the same way either way is skipped."""

from __future__ import annotations

from pybpf.cbpf.insn import JMP, RET
from pybpf.cbpf.filter.blocks import NOP, Block
from pybpf.cbpf.filter.opt_branch import and_pullup, edge_index, opt_j, or_pullup
from pybpf.cbpf.filter.opt_flow import find_facts, find_inedges, find_levels, number_blocks
from pybpf.cbpf.filter.opt_values import ValueState, opt_blk


class OptState(ValueState):
    def __init__(self, root: Block, marker) -> None:
        super().__init__()
        self.root = root
        self.marker = marker
        self.blocks = number_blocks(root, marker)
        n = len(self.blocks)
        self.edges = [b.et for b in self.blocks] + [b.ef for b in self.blocks]
        for i, b in enumerate(self.blocks):
            b.et.id = i
            b.ef.id = n + i
            b.et.pred = b
            b.ef.pred = b
        self.levels: list[list[Block]] = []


def opt_blks(st: OptState, do_stmts: bool) -> None:
    st.init_val()
    root, levels = st.root, st.levels
    maxlevel = root.level
    find_inedges(root, st.blocks, levels)
    for i in range(maxlevel, -1, -1):
        for p in levels[i]:
            opt_blk(st, p, do_stmts)
    if do_stmts:
        return
    edges = st.edges
    idx = edge_index(levels)
    for i in range(1, maxlevel + 1):
        for p in levels[i]:
            opt_j(st, p.et, edges, idx)
            opt_j(st, p.ef, edges, idx)
    find_inedges(root, st.blocks, levels)
    for i in range(1, maxlevel + 1):
        for p in levels[i]:
            or_pullup(st, p)
            and_pullup(st, p)


def opt_loop(st: OptState, do_stmts: bool) -> None:
    loop_count = 0
    while True:
        st.done = True
        st.nbm = False
        st.levels = find_levels(st.root, st.marker, len(st.blocks))
        find_facts(st.root, st.blocks, st.levels)
        opt_blks(st, do_stmts)
        if st.done:
            return
        if st.nbm:
            loop_count = 0
        else:
            loop_count += 1
            if loop_count >= 100:
                st.done = True
                return


def _mark_reachable(root: Block, marker) -> int:
    marker.unmark_all()
    cur = marker.cur
    stack = [root]
    while stack:
        p = stack.pop()
        if p.mark == cur:
            continue
        p.mark = cur
        if (p.code & 0x07) != RET:
            stack.append(p.ef.succ)
            stack.append(p.et.succ)
    return cur




def intern_blocks(st: OptState) -> None:
    """Merge blocks with the same statements, test and successors (repeat until none)."""
    blocks = st.blocks
    n = len(blocks)
    sigs = {id(b): tuple((s.code, s.k) for s in b.stmts if s.code != NOP) for b in blocks}

    def key(b: Block) -> tuple:
        return (b.code, b.k, id(b.et.succ), id(b.ef.succ), sigs[id(b)])
    while True:
        for b in blocks:
            b.link = None
        cur = _mark_reachable(st.root, st.marker)
        first: dict[tuple, Block] = {}
        if n and blocks[n - 1].mark == cur:
            first[key(blocks[n - 1])] = blocks[n - 1]
        for i in range(n - 2, -1, -1):
            b = blocks[i]
            if b.mark != cur:
                continue
            kb = key(b)
            j = first.get(kb)
            if j is not None:
                b.link = j.link if j.link is not None else j
            first[kb] = b
        done = True
        for p in blocks:
            jt = p.et.succ
            if jt is None:
                continue
            if jt.link is not None:
                done = False
                p.et.succ = jt.link
            jf = p.ef.succ
            if jf.link is not None:
                done = False
                p.ef.succ = jf.link
        if done:
            return


def opt_root(root: Block) -> Block:
    s = root.stmts
    root.stmts = []
    while (root.code & 0x07) == JMP and root.et.succ is root.ef.succ:
        root = root.et.succ
    if root.stmts:
        s = s + root.stmts
    root.stmts = s
    if (root.code & 0x07) == RET:
        root.stmts = []
    return root


def optimize(root: Block, marker) -> Block:
    st = OptState(root, marker)
    opt_loop(st, False)
    opt_loop(st, True)
    intern_blocks(st)
    return opt_root(st.root)

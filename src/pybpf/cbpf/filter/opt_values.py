"""Value numbering inside blocks: constant folding and propagation, redundant load removal,
the peephole rewrites, and dead store elimination (libpcap's opt_stmt, opt_peep,
opt_deadstores and opt_blk).

A value number names "whatever this computation yields"; two statements computing the same
number need not both run. Numbers are assigned per pass; ``consts`` maps the numbers of
``ld #k`` values to k. Changes set ``state.done = False`` (another pass is needed) and, for
changes other than moving branches, ``state.nbm`` (libpcap's loop detector counts passes
that only move branches).
"""

from __future__ import annotations

from pybpf.cbpf.insn import (ABS, ADD, ALU, AND, B, DIV, IMM, IND, JEQ, JGE, JGT, JMP, JSET,
                             K, LD, LDX, LEN, LSH, MEM, MISC, MOD, MSH, MUL, NEG, OR, RET,
                             RSH, ST, STX, SUB, TAX, TXA, X, XOR)
from pybpf.cbpf.filter.blocks import A_ATOM, N_ATOMS, NOP, X_ATOM, Block
from pybpf.cbpf.filter.errors import FilterError
from pybpf.cbpf.filter.opt_flow import _USE_K, AX_ATOM, atomuse, use_def

M32 = 0xFFFFFFFF
_LD_ABS = {LD | ABS | W_ for W_ in (0x00, 0x08, 0x10)}
_LD_IND = {LD | IND | W_ for W_ in (0x00, 0x08, 0x10)}
_ALU_K = {ALU | op | K for op in (ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH)}
_ALU_X = {ALU | op | X for op in (ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH)}


class ValueState:
    """Value numbering tables (reset at the start of each pass) and the change flags."""

    def __init__(self) -> None:
        self.done = True
        self.nbm = False
        self.table: dict[tuple[int, int, int], int] = {}
        self.consts: dict[int, int] = {}
        self.curval = 0

    def init_val(self) -> None:
        self.table = {}
        self.consts = {}
        self.curval = 0

    def F(self, code: int, v0: int, v1: int) -> int:
        key = (code, v0, v1)
        val = self.table.get(key)
        if val is None:
            self.curval += 1
            val = self.curval
            self.table[key] = val
            if (code & 0xE0) == IMM and (code & 0x07) in (LD, LDX):
                self.consts[val] = v0
        return val

    def K(self, k: int) -> int:
        return self.F(LD | IMM, k, 0)

    def changed(self) -> None:
        self.nbm = True
        self.done = False


def _fold(st: ValueState, s, a: int, b: int) -> None:
    op = s.code & 0xF0
    if op == ADD:
        a = (a + b) & M32
    elif op == SUB:
        a = (a - b) & M32
    elif op == MUL:
        a = (a * b) & M32
    elif op == DIV:
        if b == 0:
            raise FilterError("division by zero")
        a //= b
    elif op == MOD:
        if b == 0:
            raise FilterError("modulus by zero")
        a %= b
    elif op == AND:
        a &= b
    elif op == OR:
        a |= b
    elif op == XOR:
        a ^= b
    elif op == LSH:
        a = (a << b) & M32 if b < 32 else 0
    elif op == RSH:
        a = a >> b if b < 32 else 0
    s.k = a
    s.code = LD | IMM
    st.changed()


def opt_stmt(st: ValueState, s, val: list[int], alter: bool) -> None:
    code = s.code
    consts = st.consts
    if code in _LD_ABS:
        v = st.F(code, s.k, 0)
        _vstore(s, val, A_ATOM, v, alter)
    elif code in _LD_IND:
        v = val[X_ATOM]
        if alter and v in consts:
            s.code = LD | ABS | (code & 0x18)
            s.k = (s.k + consts[v]) & M32
            v = st.F(s.code, s.k, 0)
            st.changed()
        else:
            v = st.F(code, s.k, v)
        _vstore(s, val, A_ATOM, v, alter)
    elif code == LD | LEN:
        _vstore(s, val, A_ATOM, st.F(code, 0, 0), alter)
    elif code == LD | IMM:
        _vstore(s, val, A_ATOM, st.K(s.k), alter)
    elif code == LDX | IMM:
        _vstore(s, val, X_ATOM, st.K(s.k), alter)
    elif code == LDX | MSH | B:
        _vstore(s, val, X_ATOM, st.F(code, s.k, 0), alter)
    elif code == ALU | NEG:
        a = val[A_ATOM]
        if alter and a in consts:
            s.code = LD | IMM
            s.k = (-consts[a]) & M32
            val[A_ATOM] = st.K(s.k)
        else:
            val[A_ATOM] = st.F(code, a, 0)
    elif code in _ALU_K:
        op = code & 0xF0
        if alter:
            if s.k == 0:
                if op in (ADD, LSH, RSH, OR, XOR):
                    s.code = NOP
                    return
                if op in (MUL, AND):
                    s.code = LD | IMM
                    val[A_ATOM] = st.K(s.k)
                    return
                if op == DIV:
                    raise FilterError("division by zero")
                if op == MOD:
                    raise FilterError("modulus by zero")
            a = val[A_ATOM]
            if a in consts:
                _fold(st, s, consts[a], s.k)
                val[A_ATOM] = st.K(s.k)
                return
        val[A_ATOM] = st.F(code, val[A_ATOM], st.K(s.k))
    elif code in _ALU_X:
        op = code & 0xF0
        x = val[X_ATOM]
        if alter and x in consts:
            a = val[A_ATOM]
            if a in consts:
                _fold(st, s, consts[a], consts[x])
                val[A_ATOM] = st.K(s.k)
            else:
                s.code = ALU | K | op
                s.k = consts[x]
                if op in (LSH, RSH) and s.k > 31:
                    raise FilterError("shift by more than 31 bits")
                st.changed()
                val[A_ATOM] = st.F(s.code, a, st.K(s.k))
            return
        a = val[A_ATOM]
        if alter and consts.get(a, 1) == 0 and a in consts:
            if op in (ADD, OR, XOR):
                s.code = MISC | TXA
                _vstore(s, val, A_ATOM, val[X_ATOM], alter)
                return
            if op in (MUL, DIV, MOD, AND, LSH, RSH):
                s.code = LD | IMM
                s.k = 0
                _vstore(s, val, A_ATOM, st.K(0), alter)
                return
        val[A_ATOM] = st.F(code, a, x)
    elif code == MISC | TXA:
        _vstore(s, val, A_ATOM, val[X_ATOM], alter)
    elif code == LD | MEM:
        v = val[s.k]
        if alter and v in consts:
            s.code = LD | IMM
            s.k = consts[v]
            st.changed()
        _vstore(s, val, A_ATOM, v, alter)
    elif code == MISC | TAX:
        _vstore(s, val, X_ATOM, val[A_ATOM], alter)
    elif code == LDX | MEM:
        v = val[s.k]
        if alter and v in consts:
            s.code = LDX | IMM
            s.k = consts[v]
            st.changed()
        _vstore(s, val, X_ATOM, v, alter)
    elif code == ST:
        _vstore(s, val, s.k, val[A_ATOM], alter)
    elif code == STX:
        _vstore(s, val, s.k, val[X_ATOM], alter)


def _vstore(s, val: list[int], idx: int, newval: int, alter: bool) -> None:
    if alter and newval != 0 and val[idx] == newval:
        s.code = NOP
    else:
        val[idx] = newval


def _this_op(stmts, i: int) -> int:
    n = len(stmts)
    while i < n and stmts[i].code == NOP:
        i += 1
    return i


def opt_peep(st: ValueState, b: Block) -> None:
    stmts = b.stmts
    n = len(stmts)
    if not n:
        return
    last = 0
    i = 0
    while True:
        i = _this_op(stmts, i)
        if i >= n:
            break
        nxt = _this_op(stmts, i + 1)
        if nxt >= n:
            break
        last = nxt
        s, ns = stmts[i], stmts[nxt]
        if s.code == ST and ns.code == LDX | MEM and s.k == ns.k:
            st.changed()
            ns.code = MISC | TAX
        if s.code == LD | IMM and ns.code == MISC | TAX:
            s.code = LDX | IMM
            ns.code = MISC | TXA
            st.changed()
        if s.code == LD | IMM and not b.out_use >> X_ATOM & 1:
            add = nxt if ns.code != LDX | MSH | B else _this_op(stmts, nxt + 1)
            if add < n and stmts[add].code == ALU | ADD | X:
                tax = _this_op(stmts, add + 1)
                if tax < n and stmts[tax].code == MISC | TAX:
                    ild = _this_op(stmts, tax + 1)
                    if ild < n and (stmts[ild].code & 0x07) == LD and \
                            (stmts[ild].code & 0xE0) == IND:
                        stmts[ild].k = (stmts[ild].k + s.k) & M32
                        s.code = NOP
                        stmts[add].code = NOP
                        stmts[tax].code = NOP
                        st.changed()
        i = nxt
    if b.code == JMP | JEQ | K and not b.out_use >> A_ATOM & 1:
        ls = stmts[last]
        if ls.code == ALU | SUB | X:
            xv = b.val[X_ATOM]
            if xv in st.consts:
                b.k = (b.k + st.consts[xv]) & M32
                ls.code = NOP
                st.changed()
            elif b.k == 0:
                ls.code = NOP
                b.code = JMP | JEQ | X
                st.changed()
        elif ls.code == ALU | SUB | K:
            ls.code = NOP
            b.k = (b.k + ls.k) & M32
            st.changed()
        elif ls.code == ALU | AND | K and b.k == 0:
            b.k = ls.k
            b.code = JMP | K | JSET
            ls.code = NOP
            st.changed()
            b.et.succ, b.ef.succ = b.ef.succ, b.et.succ
    if b.code == JMP | K | JSET:
        if b.k == 0:
            b.et.succ = b.ef.succ
        if b.k == M32:
            b.ef.succ = b.et.succ
    xv = b.val[X_ATOM]
    if xv in st.consts and b.code & X:
        b.code &= ~X
        b.k = st.consts[xv]
    av = b.val[A_ATOM]
    if av in st.consts and not b.code & X:
        v = st.consts[av]
        op = b.code & 0xF0
        if op == JEQ:
            v = v == b.k
        elif op == JGT:
            v = v > b.k
        elif op == JGE:
            v = v >= b.k
        elif op == JSET:
            v &= b.k
        else:
            raise AssertionError(hex(b.code))
        if b.ef.succ is not b.et.succ:
            st.changed()
        if v:
            b.ef.succ = b.et.succ
        else:
            b.et.succ = b.ef.succ


def opt_deadstores(st: ValueState, b: Block) -> None:
    """Drop stores whose value is overwritten, or dead on exit, before anything reads it."""
    last: list = [None] * N_ATOMS
    for s in b.stmts:
        code = s.code
        if code == NOP:
            continue
        atom, dfn = use_def(code)
        if atom != -1:
            if atom == AX_ATOM:
                last[X_ATOM] = None
                last[A_ATOM] = None
            else:
                last[s.k if atom == _USE_K else atom] = None
        if dfn != -1:
            if dfn == _USE_K:
                dfn = s.k
            prev = last[dfn]
            if prev is not None:
                st.changed()
                prev.code = NOP
            last[dfn] = s
    atom = atomuse(b.code, b.k)             # the branch reads, never writes
    if atom == AX_ATOM:
        last[X_ATOM] = None
        last[A_ATOM] = None
    elif atom >= 0:
        last[atom] = None
    out_use = b.out_use
    for atom in range(N_ATOMS):
        if last[atom] is not None and not out_use >> atom & 1:
            last[atom].code = NOP
            st.changed()


def opt_blk(st: ValueState, b: Block, do_stmts: bool) -> None:
    edges = b.in_edges
    if not edges:
        val = [0] * N_ATOMS
    else:
        val = list(edges[0].pred.val)
        for e in edges[1:]:
            pv = e.pred.val
            if pv != val:                   # paths merging with different values: unknown
                val = [v if v == p else 0 for v, p in zip(val, pv)]
    b.val = val
    aval, xval = val[A_ATOM], val[X_ATOM]
    for s in b.stmts:
        opt_stmt(st, s, val, do_stmts)
    if do_stmts and ((b.out_use == 0 and aval != 0 and val[A_ATOM] == aval and xval != 0
                      and val[X_ATOM] == xval) or (b.code & 0x07) == RET):
        if b.stmts:
            b.stmts = []
            st.changed()
    else:
        opt_peep(st, b)
        opt_deadstores(st, b)
    b.oval = st.K(b.k) if not b.code & X else val[X_ATOM]
    b.et.code = b.code
    b.ef.code = -b.code

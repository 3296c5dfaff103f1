"""The code generator's flow graph: statements, basic blocks, edges, and the and/or/not glue.

This is libpcap's intermediate form, kept as it is because the optimiser's result depends
on its exact shape. A block holds straight-line statements and ends in one conditional
jump (or a return); its two edges lead to the true and false successors. While an
expression is being built, the unresolved branches of a sub-expression form a list
threaded through those successor fields: ``sense`` says which field of a block is the link
(false means the true branch is unresolved), and ``head`` is the entry block. ``gen_and``
and ``gen_or`` splice such lists together; ``gen_not`` just flips the sense.
"""

from __future__ import annotations

from pybpf.cbpf.insn import JMP, RET, K

NOP = -1
N_ATOMS = 18          # M[0..15], A, X
A_ATOM = 16
X_ATOM = 17


class Stmt:
    """One statement; ``jt``/``jf`` name other statements for block-local jumps (only
    protochain and geneve make those)."""

    __slots__ = ("code", "k", "jt", "jf")

    def __init__(self, code: int, k: int = 0):
        self.code = code
        self.k = k & 0xFFFFFFFF
        self.jt: Stmt | None = None
        self.jf: Stmt | None = None

    def __repr__(self) -> str:
        return f"Stmt({self.code:#x}, {self.k:#x})"


class Edge:
    __slots__ = ("id", "code", "edom", "succ", "pred")

    def __init__(self, pred: "Block"):
        self.id = 0
        self.code = 0
        self.edom = 0
        self.succ: Block | None = None
        self.pred = pred


class Block:
    __slots__ = ("id", "stmts", "code", "k", "mark", "longjt", "longjf", "level", "offset",
                 "sense", "et", "ef", "head", "link", "dom", "closure", "in_edges", "defs",
                 "kill", "in_use", "out_use", "oval", "val")

    def __init__(self, code: int, k: int = 0):
        self.id = 0
        self.stmts: list[Stmt] = []
        self.code = code
        self.k = k & 0xFFFFFFFF
        self.mark = 0
        self.longjt = 0
        self.longjf = 0
        self.level = 0
        self.offset = 0
        self.sense = False
        self.et = Edge(self)
        self.ef = Edge(self)
        self.head = self
        self.link: Block | None = None
        self.dom = 0
        self.closure = 0
        self.in_edges: list[Edge] = []
        self.defs = 0
        self.kill = 0
        self.in_use = 0
        self.out_use = 0
        self.oval = 0
        self.val = [0] * N_ATOMS

    def __repr__(self) -> str:
        return f"Block#{self.id}({self.code:#x}, {self.k:#x})"


def jmp_block(op: int, k: int = 0, src: int = K) -> Block:
    return Block(JMP | op | src, k)


def ret_block(k: int) -> Block:
    return Block(RET | K, k)


def backpatch(lst: Block | None, target: Block) -> None:
    """Point every unresolved branch in the list at ``target``."""
    while lst is not None:
        if not lst.sense:
            nxt = lst.et.succ
            lst.et.succ = target
        else:
            nxt = lst.ef.succ
            lst.ef.succ = target
        lst = nxt


def merge(b0: Block, b1: Block | None) -> None:
    """Append list ``b1`` to the end of list ``b0``."""
    p = b0
    while True:
        edge = p.ef if p.sense else p.et
        if edge.succ is None:
            edge.succ = b1
            return
        p = edge.succ


def gen_and(b0: Block, b1: Block) -> None:
    backpatch(b0, b1.head)
    b0.sense = not b0.sense
    b1.sense = not b1.sense
    merge(b1, b0)
    b1.sense = not b1.sense
    b1.head = b0.head


def gen_or(b0: Block, b1: Block) -> None:
    b0.sense = not b0.sense
    backpatch(b0, b1.head)
    b0.sense = not b0.sense
    merge(b1, b0)
    b1.head = b0.head


def gen_not(b: Block) -> None:
    b.sense = not b.sense

"""Random eBPF programs near the verifier's edge, for soundness fuzzing.

"A program the verifier accepts must never fault in the interpreter." Random bytecode is
nearly always rejected, so :func:`generate` writes *structured* programs (LLVM-syntax
assembly, so a failure is readable as it is) for ``socket_filter``, ``xdp`` and
``sched_cls``: context loads and stores, packet reads and writes behind ``data + N >
data_end`` checks, array/hash map lookups with and without null checks, pointer arithmetic
with constants and with bounded or unbounded scalars, stack spills and fills (also with a
variable offset), helper calls, bounded loops, if/else on scalars, division and 32-bit ops.

The generator keeps its own model of every register (:class:`Reg`), and for scalars that
come from one input byte (a packet byte, a map value byte) the *exact* value of the
register for every value of that byte. So it knows the true extremes of an offset before
it uses it, chooses accesses that are in bounds most of the time and just out of bounds
on purpose the rest of the time (the per-program ``slip`` rate), and records the input
bytes that drive each offset to its extremes (:attr:`FuzzProgram.pokes`): the runner
(:mod:`pybpf.testing.soundness`) puts exactly those bytes in a packet or map value, so an
unsound acceptance of a wrong range is hit, not just possible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from pybpf.isa.uapi import ProgType
from pybpf.vm.semantics import bswap, sdiv, smod

M64, M32 = (1 << 64) - 1, (1 << 32) - 1
PROG_TYPES = (ProgType.SOCKET_FILTER, ProgType.XDP, ProgType.SCHED_CLS)
MAX_VALS = 4096

# UAPI context offsets: struct __sk_buff and struct xdp_md.
SKB = {"len": 0, "pkt_type": 4, "mark": 8, "queue_mapping": 12, "protocol": 16,
       "vlan_present": 20, "vlan_tci": 24, "vlan_proto": 28, "priority": 32,
       "ingress_ifindex": 36, "ifindex": 40, "tc_index": 44, "cb0": 48, "cb1": 52, "cb2": 56,
       "cb3": 60, "cb4": 64, "hash": 68, "tc_classid": 72, "data": 76, "data_end": 80,
       "napi_id": 84, "data_meta": 140, "wire_len": 160, "gso_segs": 164, "gso_size": 176}
XDP_MD = {"data": 0, "data_end": 4, "data_meta": 8, "ingress_ifindex": 12,
          "rx_queue_index": 16, "egress_ifindex": 20}
_SKB_COMMON = ("len", "pkt_type", "mark", "queue_mapping", "protocol", "vlan_present",
               "vlan_tci", "vlan_proto", "priority", "ingress_ifindex", "ifindex", "tc_index",
               "cb0", "cb1", "cb2", "cb3", "cb4", "hash")
READABLE = {
    ProgType.SOCKET_FILTER: _SKB_COMMON,
    ProgType.SCHED_CLS: _SKB_COMMON + ("tc_classid", "napi_id", "wire_len", "gso_segs",
                                       "gso_size"),
    ProgType.XDP: ("ingress_ifindex", "rx_queue_index"),
}
WRITABLE = {
    ProgType.SOCKET_FILTER: ("cb0", "cb1", "cb2", "cb3", "cb4"),
    ProgType.SCHED_CLS: ("mark", "priority", "tc_index", "cb0", "cb1", "cb2", "cb3", "cb4",
                         "tc_classid"),
    ProgType.XDP: (),
}

_BIN = ("add", "sub", "mul", "div", "mod", "and", "or", "xor", "lsh", "rsh", "arsh",
        "sdiv", "smod")
_SYM = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "mod": "%=", "and": "&=",
        "or": "|=", "xor": "^=", "lsh": "<<=", "rsh": ">>=", "arsh": "s>>=", "sdiv": "s/=",
        "smod": "s%="}
_UNARY = ("neg", "sx8", "sx16", "sx32", "bswap16", "bswap32", "bswap64", "le16", "le32",
          "be16", "be32")
_CONDS = ("==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "&")


# --- exact scalar semantics ----------------------------------------------------------------

def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def alu(op: str, bits: int, a: int, b: int = 0) -> int:
    """``a op b`` as eBPF computes it (32-bit forms zero-extend); ``b`` is already the
    operand as the instruction sees it (a 64-bit immediate sign-extended)."""
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "div":
        r = a // b if b else 0
    elif op == "mod":
        r = a % b if b else a
    elif op == "and":
        r = a & b
    elif op == "or":
        r = a | b
    elif op == "xor":
        r = a ^ b
    elif op == "lsh":
        r = a << (b & (bits - 1))
    elif op == "rsh":
        r = a >> (b & (bits - 1))
    elif op == "arsh":
        r = _signed(a, bits) >> (b & (bits - 1))
    elif op == "sdiv":
        r = sdiv(a, b, bits)
    elif op == "smod":
        r = smod(a, b, bits)
    elif op == "neg":
        r = -a
    elif op.startswith("sx"):
        r = _signed(a, int(op[2:]))
    elif op.startswith("bswap") or op.startswith("be"):
        r = bswap(a, int(op.lstrip("bswape")))
    elif op.startswith("le"):
        r = a & ((1 << int(op[2:])) - 1)
    else:
        raise ValueError(op)
    return r & mask


def taken(cond: str, bits: int, a: int, b: int) -> bool:
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if cond.startswith("s"):
        a, b, cond = _signed(a, bits), _signed(b, bits), cond[1:]
    return {"==": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b,
            "&": bool(a & b)}[cond]


# --- the model of a register ---------------------------------------------------------------

@dataclass
class Reg:
    """What the generator believes a register holds.

    ``kind``: scalar, ctx, pkt, pkt_end, map, map_or_null, fp. A scalar has ``vals``
    (source byte value -> register value, exact) when it derives from one input byte or
    constant, else None (unknown; ``umax`` is an upper bound when one is known). ``src``
    names the input byte (``("pkt", off)`` / ``("map", i, key, off)``). Pointers have
    ``off`` (constant offset), ``pid`` (packet pointers sharing a variable offset) and
    ``var`` (the (min, max) variable offset added), ``map`` (index) for map values.
    """

    kind: str
    vals: dict | None = None
    src: tuple | None = None
    umax: int | None = None
    off: int = 0
    pid: int = 0
    var: tuple[int, int] = (0, 0)
    var_src: tuple | None = None     # the pokes that drive var to its min and max
    map: int = 0

    def copy(self) -> "Reg":
        return Reg(self.kind, None if self.vals is None else dict(self.vals), self.src,
                   self.umax, self.off, self.pid, self.var, self.var_src, self.map)

    def range(self) -> tuple[int, int] | None:
        """(min, max) of a scalar as unsigned, or None when unknown."""
        if self.vals:
            v = self.vals.values()
            return min(v), max(v)
        return None

    def same(self, other: "Reg") -> bool:
        return (self.kind == other.kind and self.off == other.off and self.pid == other.pid
                and self.map == other.map and self.var == other.var)


def const(v: int) -> Reg:
    return Reg("scalar", {0: v & M64})


@dataclass
class FuzzProgram:
    """One generated program: assembly, where it runs, its maps, and the inputs to try."""

    text: str
    prog_type: ProgType
    maps: list[dict]
    priv: str = "root"
    pokes: list[tuple] = field(default_factory=list)   # (("pkt", off) | ("map", i, key, off), byte)
    pkt_lens: list[int] = field(default_factory=list)  # packet lengths worth trying
    pkt_base: int = 0                                  # input byte of packet offset 0

    def header(self) -> str:
        import json
        return (f"## type: {self.prog_type.name.lower()}\n## priv: {self.priv}\n"
                f"## maps: {json.dumps(self.maps)}\n")


class Generator:
    """Writes one program; see the module doc. ``slip`` is the chance that a step is wrong
    on purpose (out-of-bounds offset, missing check, unbounded scalar...)."""

    def __init__(self, rng: random.Random, max_steps: int = 14):
        self.rng = rng
        self.lines: list[str] = []
        self.nlabel = 0
        self.npid = 0
        self.pt: ProgType = rng.choice(PROG_TYPES)
        self.priv = "root" if rng.random() < 0.75 else "cap_bpf"
        self.slip = rng.choice((0.0, 0.0, 0.01, 0.03, 0.03, 0.08, 0.2))
        self.steps = rng.randint(2, max_steps)
        self.maps = [self._map_spec() for _ in range(rng.choice((0, 1, 1, 2)))]
        self.regs: dict[int, Reg] = {6: Reg("ctx")}
        self.stack: dict[int, Reg] = {}          # 8-byte aligned slot -> spilled register
        self.init: set[int] = set()              # initialised stack offsets (negative)
        self.pkt_range: dict[int, int] = {}      # pid -> bytes known in bounds from var base
        self.pokes: list[tuple] = []
        self.lens: set[int] = set()
        self.pkt_base = 14 if self.pt == ProgType.SOCKET_FILTER else 0
        self.exit_label = self.label()
        self.loop_depth = 0
        self.reserved: set[int] = set()          # loop counters

    # -- small helpers ---------------------------------------------------------------------

    def p(self, chance: float) -> bool:
        return self.rng.random() < chance

    def bad(self) -> bool:
        return self.rng.random() < self.slip

    def label(self) -> str:
        self.nlabel += 1
        return f"L{self.nlabel}"

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def _map_spec(self) -> dict:
        rng = self.rng
        kind = rng.choice(("array", "array", "hash"))
        return {"type": kind, "key_size": 4 if kind == "array" else rng.choice((4, 4, 8)),
                "value_size": rng.choice((1, 2, 4, 8, 8, 12, 16, 16, 24, 32, 48, 64)),
                "max_entries": rng.choice((1, 2, 4, 8, 16))}

    def scratch(self, prefer_saved: bool = False) -> int:
        """A register to write: r0-r5, r7-r9 (r6 keeps the context)."""
        pool = [7, 8, 9] if prefer_saved and self.p(0.85) else [0, 1, 2, 3, 4, 5, 7, 8, 9]
        pool = [r for r in pool if r not in self.reserved] or [0, 1, 2, 3, 4, 5]
        free = [r for r in pool if r not in self.regs or self.regs[r].kind == "scalar"]
        if free and self.p(0.85):
            return self.rng.choice(free)
        return self.rng.choice(pool)

    def regs_of(self, *kinds: str) -> list[int]:
        return [r for r, v in sorted(self.regs.items()) if v.kind in kinds]

    def scalars(self, known: bool | None = None) -> list[int]:
        out = self.regs_of("scalar")
        if known is not None:
            out = [r for r in out if (self.regs[r].vals is not None) == known]
        return out

    def set(self, r: int, reg: Reg | None) -> None:
        if reg is None:
            self.regs.pop(r, None)
        else:
            self.regs[r] = reg

    def clobber_call(self) -> None:
        for r in (1, 2, 3, 4, 5):
            self.regs.pop(r, None)

    @staticmethod
    def mem(size: int, reg: int, off: int, signed: bool = False) -> str:
        sign = "-" if off < 0 else "+"
        return f"*({'s' if signed else 'u'}{size * 8} *)(r{reg} {sign} {abs(off)})"

    def imm(self) -> int:
        rng = self.rng
        return rng.choice((0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 255, 256, -1, -2, -8,
                           -256, 0x7FFFFFFF, -0x80000000, 0xFFFF, rng.randint(-300, 300)))

    # -- program ----------------------------------------------------------------------------

    def program(self) -> FuzzProgram:
        self.emit("r6 = r1")
        if self.pt != ProgType.SOCKET_FILTER and self.p(0.7):
            self.pkt_pointers()
        for _ in range(self.rng.randint(0, 2)):
            off = -8 * self.rng.randint(1, 8)
            self.emit(f"*(u64 *)(r10 - {-off}) = {self.imm()}")
            self.init.update(range(off, off + 8))
        for _ in range(self.steps):
            self.step(0)
        self.finish()
        return FuzzProgram("\n".join(self.lines) + "\n", self.pt, self.maps, self.priv,
                           self.pokes, sorted(self.lens), self.pkt_base)

    def finish(self) -> None:
        sc = self.scalars()
        if sc and self.p(0.3) and self.pt == ProgType.SOCKET_FILTER:
            self.emit(f"r0 = r{self.rng.choice(sc)}")
        else:
            codes = (0, 1, 2, 2, 3) if self.pt == ProgType.XDP else (0, 1, 2, 64)
            self.emit(f"r0 = {self.rng.choice(codes)}")
        self.emit("exit")
        if any(line.endswith(f"goto {self.exit_label}") for line in self.lines):
            self.emit(f"{self.exit_label}:")
            self.emit("r0 = 0" if self.pt != ProgType.XDP else "r0 = 1")
            self.emit("exit")

    def step(self, depth: int) -> None:
        choices: list[tuple[float, Callable[[], None]]] = [
            (3, self.scalar_source), (3, self.alu), (2, self.bound), (1, self.ctx_load),
            (1, self.helper_scalar), (1, self.spill_fill), (0.6, self.var_stack),
        ]
        if self.pt != ProgType.SOCKET_FILTER:
            choices += [(2, self.pkt_check), (3, self.pkt_access), (1.5, self.pkt_var)]
        if self.pt != ProgType.XDP:
            choices += [(0.7, self.load_bytes), (0.5, self.ld_abs)]
        if WRITABLE[self.pt]:
            choices.append((0.6, self.ctx_store))
        if self.maps:
            choices += [(2.5, self.map_lookup), (3, self.map_access), (0.6, self.map_update)]
        if depth < 2:
            choices.append((1.5, lambda: self.branch(depth)))
        if depth < 2 and not self.loop_depth:
            choices.append((0.8, lambda: self.loop(depth)))
        if self.bad():
            choices.append((3, self.mischief))
        total = sum(w for w, _ in choices)
        x = self.rng.random() * total
        for w, fn in choices:
            x -= w
            if x < 0:
                fn()
                return
        choices[-1][1]()

    # -- scalars ----------------------------------------------------------------------------

    def scalar_source(self) -> None:
        rng = self.rng
        d = self.scratch()
        pkts = [r for r in self.regs_of("pkt") if self._pkt_room(r) >= 1]
        maps = self.regs_of("map")
        what = rng.random()
        if what < 0.35 and pkts:
            r = rng.choice(pkts)
            off = rng.randint(0, self._pkt_room(r) - 1)
            self.emit(f"r{d} = {self.mem(1, r, off)}")
            reg = self.regs[r]
            src = ("pkt", reg.off + off) if reg.var == (0, 0) else None
            self.set(d, Reg("scalar", {b: b for b in range(256)}, src))
        elif what < 0.6 and maps:
            r = rng.choice(maps)
            reg = self.regs[r]
            vs = self.maps[reg.map]["value_size"]
            if reg.var != (0, 0) or reg.off >= vs:
                return self.scalar_const(d)
            off = rng.randint(0, vs - reg.off - 1)
            self.emit(f"r{d} = {self.mem(1, r, off)}")
            src = None
            if reg.var_src and reg.var_src[0] == "key":
                src = ("map", reg.map, reg.var_src[1], reg.off + off)
            self.set(d, Reg("scalar", {b: b for b in range(256)}, src))
        elif what < 0.75:
            mask = rng.choice((1, 3, 7, 15, 63, 255, 1023))
            self.emit("call 7")
            self.clobber_call()
            self.emit(f"r0 &= {mask}")
            if d != 0:
                self.emit(f"r{d} = r0")
            self.set(0, Reg("scalar", {v: v for v in range(mask + 1)}))
            self.set(d, Reg("scalar", {v: v for v in range(mask + 1)}))
        else:
            self.scalar_const(d)

    def scalar_const(self, d: int) -> None:
        v = self.imm()
        if self.p(0.1):
            v = self.rng.getrandbits(64)
            self.emit(f"r{d} = {v:#x} ll")
        elif self.p(0.2):
            self.emit(f"w{d} = {v}")
            v &= M32
        else:
            self.emit(f"r{d} = {v}")
        self.set(d, const(v))

    def alu(self) -> None:
        rng = self.rng
        sc = self.scalars()
        if not sc:
            return self.scalar_source()
        d = rng.choice(sc)
        reg = self.regs[d]
        bits = 32 if self.p(0.35) else 64
        r = "w" if bits == 32 else "r"
        if self.p(0.2):
            op = rng.choice(_UNARY)
            if op == "neg":
                self.emit(f"{r}{d} = -{r}{d}")
            elif op.startswith("sx"):
                n = int(op[2:])
                if bits == 32 and n == 32:
                    op, n = "sx16", 16
                self.emit(f"{r}{d} = (s{n}){r}{d}")
            else:
                bits = 64
                self.emit(f"r{d} = {op} r{d}")
            self._apply(d, lambda v: alu(op, bits, v))
            return
        op = rng.choice(_BIN)
        other = [s for s in sc if self.regs[s].vals is not None and len(self.regs[s].vals) <= 16]
        if other and self.p(0.25) and op not in ("lsh", "rsh", "arsh"):
            s = rng.choice(other)
            self.emit(f"{r}{d} {_SYM[op]} {r}{s}")
            svals = set(self.regs[s].vals.values())
            if reg.vals is not None and len(reg.vals) * len(svals) <= MAX_VALS and s != d:
                # two sources: values kept exactly, provenance dropped
                out = {alu(op, bits, v, b) for v in reg.vals.values() for b in svals}
                self.set(d, Reg("scalar", {v: v for v in out}))
            elif s == d and reg.vals is not None:
                self._apply(d, lambda v: alu(op, bits, v, v))
            else:
                self.set(d, Reg("scalar"))
            return
        if op in ("lsh", "rsh", "arsh"):
            k = rng.randint(0, bits - 1) if self.p(0.3) else rng.randint(0, 8)
        else:
            k = self.imm() if self.p(0.5) else rng.randint(1, 16)
            if op in ("div", "mod", "sdiv", "smod") and k == 0:
                k = 3
        self.emit(f"{r}{d} {_SYM[op]} {k}")
        kv = k & M64 if bits == 64 else k & M32
        self._apply(d, lambda v: alu(op, bits, v, kv))

    def _apply(self, d: int, fn: Callable[[int], int]) -> None:
        reg = self.regs[d]
        if reg.vals is None:
            self.set(d, Reg("scalar"))
        else:
            self.set(d, Reg("scalar", {k: fn(v) for k, v in reg.vals.items()}, reg.src))

    def bound(self) -> None:
        """A guard that bounds a scalar: a compare that exits, a mask or a modulo."""
        rng = self.rng
        sc = self.scalars()
        if not sc:
            return self.scalar_source()
        d = rng.choice(sc)
        k = rng.choice((1, 3, 7, 8, 15, 16, 31, 60, 63, 64, 127, 255))
        how = rng.random()
        if how < 0.45:
            bits = 32 if self.p(0.3) else 64
            cond = rng.choice((">", ">=", "s>", "s>="))
            r = "w" if bits == 32 else "r"
            self.emit(f"if {r}{d} {cond} {k} goto {self.exit_label}")
            if cond.startswith("s") and not self.bad():
                self.emit(f"if {r}{d} s< 0 goto {self.exit_label}")
                self._filter(d, lambda v: not taken("s<", bits, v, 0), None)
            self._filter(d, lambda v: not taken(cond, bits, v, k),
                         k if bits == 64 and not cond.startswith("s") else None)
        elif how < 0.8:
            bits = 32 if self.p(0.3) else 64
            r = "w" if bits == 32 else "r"
            self.emit(f"{r}{d} &= {k}")
            self._apply_or_bound(d, lambda v: alu("and", bits, v, k), k)
        else:
            self.emit(f"r{d} %= {k + 1}")
            self._apply_or_bound(d, lambda v: alu("mod", 64, v, k + 1), k)

    def _filter(self, d: int, keep: Callable[[int], bool], umax: int | None) -> None:
        reg = self.regs[d]
        if reg.vals is not None:
            vals = {s: v for s, v in reg.vals.items() if keep(v)}
            self.set(d, Reg("scalar", vals or None, reg.src if vals else None, umax))
        elif umax is not None:
            self.set(d, Reg("scalar", {v: v for v in range(umax + 1)}))

    def _apply_or_bound(self, d: int, fn: Callable[[int], int], umax: int) -> None:
        if self.regs[d].vals is None:
            self.set(d, Reg("scalar", {v: v for v in range(umax + 1)}))
        else:
            self._apply(d, fn)

    def ctx_load(self) -> None:
        rng = self.rng
        d = self.scratch()
        fields = READABLE[self.pt]
        table = XDP_MD if self.pt == ProgType.XDP else SKB
        if self.bad():
            off, size = rng.randint(0, 200), rng.choice((1, 2, 4, 8))
        else:
            off, size = table[rng.choice(fields)], rng.choice((4, 4, 4, 2, 1))
            if self.pt == ProgType.XDP:
                size = 4
        self.emit(f"r{d} = {self.mem(size, 6, off)}")
        self.set(d, Reg("scalar", umax=(1 << (8 * size)) - 1))

    def ctx_store(self) -> None:
        sc = self.scalars()
        name = self.rng.choice(WRITABLE[self.pt])
        off = SKB[name] if not self.bad() else self.rng.choice((0, 4, 76, 16))
        if sc and self.p(0.6):
            self.emit(f"*(u32 *)(r6 + {off}) = w{self.rng.choice(sc)}")
        else:
            self.emit(f"*(u32 *)(r6 + {off}) = {self.imm()}")

    def helper_scalar(self) -> None:
        self.emit(f"call {self.rng.choice((5, 7, 8))}")
        self.clobber_call()
        self.set(0, Reg("scalar"))

    # -- packet -----------------------------------------------------------------------------

    def pkt_pointers(self) -> None:
        table = XDP_MD if self.pt == ProgType.XDP else SKB
        a, b = self.rng.sample((7, 8, 9), 2)
        self.emit(f"r{a} = *(u32 *)(r6 + {table['data']})")
        self.emit(f"r{b} = *(u32 *)(r6 + {table['data_end']})")
        self.set(a, Reg("pkt", pid=0))
        self.set(b, Reg("pkt_end"))

    def _pkt_room(self, r: int) -> int:
        reg = self.regs[r]
        return self.pkt_range.get(reg.pid, 0) - reg.off

    def _need_pkt(self) -> tuple[int, int] | None:
        pkts, ends = self.regs_of("pkt"), self.regs_of("pkt_end")
        if not pkts or not ends:
            self.pkt_pointers()
            pkts, ends = self.regs_of("pkt"), self.regs_of("pkt_end")
        return self.rng.choice(pkts), self.rng.choice(ends)

    def pkt_check(self, base: int | None = None) -> None:
        rng = self.rng
        got = self._need_pkt()
        if got is None:
            return
        p, e = got
        if base is not None:
            p = base
        reg = self.regs[p]
        n = rng.choice((1, 2, 4, 8, 14, 20, 34, 40, 54, 64, rng.randint(1, 120)))
        t = self.scratch()
        self.emit(f"r{t} = r{p}")
        self.emit(f"r{t} += {n}")
        shape = rng.random()
        if shape < 0.5:
            self.emit(f"if r{t} > r{e} goto {self.exit_label}")
        elif shape < 0.7:
            self.emit(f"if r{e} < r{t} goto {self.exit_label}")
        elif shape < 0.85:
            ok = self.label()
            self.emit(f"if r{t} <= r{e} goto {ok}")
            self.emit(f"goto {self.exit_label}")
            self.emit(f"{ok}:")
        else:
            # the off-by-one shape: >= keeps the range, so does this
            self.emit(f"if r{t} >= r{e} goto {self.exit_label}")
        if self.bad() and self.p(0.5):
            n += rng.randint(1, 4)    # believe in a little more than was checked
        self.set(t, Reg("pkt", off=reg.off + n, pid=reg.pid, var=reg.var))
        self.pkt_range[reg.pid] = max(self.pkt_range.get(reg.pid, 0), reg.off + n)
        if reg.var == (0, 0):
            self.lens.update((reg.off + n - 1, reg.off + n))
        elif reg.var[1] + reg.off + n < 1500:
            self.lens.update((reg.var[1] + reg.off + n, reg.var[1] + reg.off + n + 1))

    def pkt_access(self) -> None:
        rng = self.rng
        pkts = [r for r in self.regs_of("pkt") if self._pkt_room(r) > 0]
        if not pkts:
            return self.pkt_check()
        r = rng.choice(pkts)
        room = self._pkt_room(r)
        size = rng.choice([s for s in (1, 2, 4, 8) if s <= room] or [1])
        off = rng.randint(0, max(room - size, 0))
        if self.bad():
            off = rng.choice((room - size + 1, -1, room, -self.regs[r].off - 1))
        off = max(-512, min(off, 512))
        if self.p(0.3) and self.pt != ProgType.SOCKET_FILTER:
            sc = self.scalars()
            if sc and self.p(0.5):
                self.emit(f"*(u{size * 8} *)(r{r} {'-' if off < 0 else '+'} {abs(off)}) = "
                          f"{'w' if size < 8 else 'r'}{rng.choice(sc)}")
            else:
                self.emit(f"{self.mem(size, r, off)} = {rng.randint(0, 255)}")
            return
        d = self.scratch()
        self.emit(f"r{d} = {self.mem(size, r, off)}")
        reg = self.regs[r]
        if size == 1:
            src = ("pkt", reg.off + off) if reg.var == (0, 0) else None
            self.set(d, Reg("scalar", {b: b for b in range(256)}, src))
        else:
            self.set(d, Reg("scalar", umax=(1 << (8 * size)) - 1))

    def pkt_var(self) -> None:
        """``p = data + scalar``, then (usually) a check of p + N, then accesses."""
        rng = self.rng
        got = self._need_pkt()
        if got is None:
            return
        base = self.regs_of("pkt")
        base = [r for r in base if self.regs[r].var == (0, 0) and self.regs[r].off == 0] or base
        b = rng.choice(base)
        sc = [s for s in self.scalars() if self.regs[s].range() is not None
              and self.regs[s].range()[1] < 0x4000]
        if not sc or self.bad():
            sc = self.scalars()
        if not sc:
            return self.scalar_source()
        s = rng.choice(sc)
        sreg = self.regs[s]
        d = self.scratch(prefer_saved=True)
        while d == s:
            d = self.scratch()
        self.emit(f"r{d} = r{b}")
        self.emit(f"r{d} += r{s}")
        self.npid += 1
        rg = sreg.range() or (0, M64)
        self.set(d, Reg("pkt", pid=self.npid, var=rg, off=self.regs[b].off))
        self.pkt_range[self.npid] = 0
        self._poke_extremes(sreg)
        if self.p(0.85):
            self.pkt_check(base=d)
            if self.p(0.8):
                self.pkt_access()

    def _poke_extremes(self, sreg: Reg) -> None:
        """Remember the input bytes that give ``sreg`` its smallest and largest value."""
        if sreg.vals and sreg.src:
            lo = min(sreg.vals, key=lambda k: sreg.vals[k])
            hi = max(sreg.vals, key=lambda k: sreg.vals[k])
            smin = min(sreg.vals, key=lambda k: _signed(sreg.vals[k], 64))
            for k in {lo, hi, smin}:
                self.pokes.append((sreg.src, k))

    def load_bytes(self) -> None:
        """bpf_skb_load_bytes(ctx, off, fp - n, len)."""
        rng = self.rng
        n = rng.choice((4, 8, 16, 32))
        ln = rng.randint(1, n)
        if self.bad():
            ln = n + rng.randint(1, 8)
        self.emit("r1 = r6")
        self.emit(f"r2 = {rng.randint(0, 40)}")
        self.emit("r3 = r10")
        self.emit(f"r3 += -{n + 8 * rng.randint(0, 4)}")
        sc = [s for s in self.scalars() if s not in (1, 2, 3)
              and (self.regs[s].range() or (0, M64))[1] <= n]
        if sc and self.p(0.4):
            s = rng.choice(sc)
            self.emit(f"r4 = r{s}")
            self.emit(f"if r4 == 0 goto {self.exit_label}")   # a zero size is refused
        else:
            self.emit(f"r4 = {ln}")
        self.emit("call 26")
        self.clobber_call()
        self.set(0, Reg("scalar"))

    def ld_abs(self) -> None:
        off = self.rng.randint(0, 60)
        size = self.rng.choice((1, 2, 4))
        self.emit(f"r0 = *(u{size * 8} *)skb[{off}]")
        self.clobber_call()
        if size == 1:
            self.set(0, Reg("scalar", {b: b for b in range(256)}, ("pkt", off)))
        else:
            self.set(0, Reg("scalar", umax=(1 << (8 * size)) - 1))

    # -- maps -------------------------------------------------------------------------------

    def map_lookup(self) -> None:
        rng = self.rng
        i = rng.randrange(len(self.maps))
        spec = self.maps[i]
        ks = spec["key_size"]
        key = rng.randrange(spec["max_entries"] + (1 if self.p(0.2) else 0))
        koff = -8 * rng.randint(1, 4)
        sc = self.scalars()
        keyed = None
        if sc and self.p(0.2):
            self.emit(f"*(u{ks * 8} *)(r10 - {-koff}) = {'w' if ks == 4 else 'r'}{rng.choice(sc)}")
        elif not self.bad():
            self.emit(f"*(u{ks * 8} *)(r10 - {-koff}) = {key}")
            keyed = key
        self.init.update(range(koff, koff + ks))
        self.emit("r2 = r10")
        self.emit(f"r2 += {koff}")
        self.emit(f"ld_pseudo r1, 5, {i}")
        self.emit("call 1")
        self.clobber_call()
        d = self.scratch(prefer_saved=True)
        if d != 0:
            self.emit(f"r{d} = r0")
        checked = not self.bad()
        if checked:
            if self.p(0.7):
                self.emit(f"if r{d} == 0 goto {self.exit_label}")
            else:
                ok = self.label()
                self.emit(f"if r{d} != 0 goto {ok}")
                self.emit(f"goto {self.exit_label}")
                self.emit(f"{ok}:")
        kind = "map" if checked else "map_or_null"
        reg = Reg(kind, map=i, var_src=("key", keyed) if keyed is not None else None)
        self.set(d, reg)
        if d != 0:
            self.set(0, reg.copy())

    def map_access(self) -> None:
        rng = self.rng
        ms = self.regs_of("map", "map_or_null") if self.bad() else self.regs_of("map")
        if not ms:
            return self.map_lookup()
        r = rng.choice(ms)
        reg = self.regs[r]
        vs = self.maps[reg.map]["value_size"]
        var_lo, var_hi = reg.var
        if self.p(0.4) and reg.var == (0, 0):
            # add a bounded scalar first
            sc = [s for s in self.scalars() if self.regs[s].range() is not None]
            if self.bad():
                sc = self.scalars()
            if sc:
                s = rng.choice(sc)
                sreg = self.regs[s]
                rg = sreg.range() or (0, M64)
                d = self.scratch(prefer_saved=True)
                while d == s:
                    d = self.scratch()
                self.emit(f"r{d} = r{r}")
                self.emit(f"r{d} += r{s}")
                self._poke_extremes(sreg)
                self.set(d, Reg(reg.kind, off=reg.off, var=rg, map=reg.map, var_src=reg.var_src))
                r, (var_lo, var_hi) = d, rg
                reg = self.regs[d]
        room = vs - reg.off - var_hi
        sizes = [s for s in (1, 2, 4, 8) if s <= room]
        size = rng.choice(sizes or [1])
        lo_off = -reg.off - var_lo if var_lo <= vs else 0
        off = rng.randint(max(lo_off, 0), max(room - size, 0)) if room >= size else 0
        if self.bad():
            off = rng.choice((room - size + 1, -1, vs, room))
        off = max(-512, min(off, 512))
        what = rng.random()
        if what < 0.45:
            d = self.scratch()
            signed = size < 8 and self.p(0.1)
            self.emit(f"r{d} = {self.mem(size, r, off, signed)}")
            if size == 1 and not signed and reg.var == (0, 0):
                src = None
                if reg.var_src:
                    src = ("map", reg.map, reg.var_src[1], reg.off + off)
                self.set(d, Reg("scalar", {b: b for b in range(256)}, src))
            else:
                self.set(d, Reg("scalar"))
        elif what < 0.8:
            sc = self.scalars()
            if sc and self.p(0.6):
                self.emit(f"{self.mem(size, r, off)} = {'w' if size < 8 else 'r'}{rng.choice(sc)}")
            else:
                self.emit(f"{self.mem(size, r, off)} = {self.imm()}")
        else:
            sc = self.scalars()
            if not sc or size < 4:
                return
            w = "w" if size == 4 else "r"
            s = rng.choice(sc)
            if self.p(0.5):
                self.emit(f"lock {self.mem(size, r, off)} += {w}{s}")
            else:
                sign = "-" if off < 0 else "+"
                self.emit(f"{w}{s} = atomic_fetch_add((u{size * 8} *)(r{r} {sign} {abs(off)}), "
                          f"{w}{s})")
                self.set(s, Reg("scalar"))

    def map_update(self) -> None:
        rng = self.rng
        i = rng.randrange(len(self.maps))
        spec = self.maps[i]
        ks, vs = spec["key_size"], spec["value_size"]
        vbase = -8 * rng.randint(9, 20)
        for o in range(0, vs, 8):
            n = min(8, vs - o)
            size = 8 if n == 8 else (4 if n >= 4 else (2 if n >= 2 else 1))
            if self.bad() and self.p(0.3):
                continue
            self.emit(f"*(u{size * 8} *)(r10 - {-(vbase + o)}) = {rng.randint(0, 255)}")
            for k in range(o, o + size):
                self.init.add(vbase + k)
            for k in range(o + size, o + n):       # the odd tail, a byte at a time
                self.emit(f"*(u8 *)(r10 - {-(vbase + k)}) = {rng.randint(0, 255)}")
                self.init.add(vbase + k)
        self.emit(f"*(u{ks * 8} *)(r10 - 8) = {rng.randrange(spec['max_entries'] + 1)}")
        self.emit("r2 = r10")
        self.emit("r2 += -8")
        self.emit("r3 = r10")
        self.emit(f"r3 += {vbase}")
        self.emit(f"ld_pseudo r1, 5, {i}")
        self.emit(f"r4 = {0 if not self.bad() else 4}")
        self.emit("call 2" if self.p(0.8) else "call 3")
        self.clobber_call()
        self.set(0, Reg("scalar"))

    # -- stack ------------------------------------------------------------------------------

    def spill_fill(self) -> None:
        rng = self.rng
        if self.stack and self.p(0.5):
            off, reg = rng.choice(sorted(self.stack.items(), key=lambda kv: kv[0]))
            d = self.scratch(prefer_saved=reg.kind != "scalar")
            if self.bad():
                self.emit(f"r{d} = *(u32 *)(r10 - {-off})")
                self.set(d, Reg("scalar"))
            else:
                self.emit(f"r{d} = *(u64 *)(r10 - {-off})")
                self.set(d, reg.copy())
            return
        live = [r for r in self.regs if r != 6 or self.p(0.2)]
        if not live:
            return self.scalar_source()
        r = rng.choice(live)
        off = -8 * rng.randint(1, 8)
        self.emit(f"*(u64 *)(r10 - {-off}) = r{r}")
        self.stack[off] = self.regs[r].copy()
        self.init.update(range(off, off + 8))

    def var_stack(self) -> None:
        """A store and a load through fp + bounded scalar."""
        rng = self.rng
        sc = [s for s in self.scalars() if (self.regs[s].range() or (0, M64))[1] <= 64]
        if not sc or self.bad():
            sc = self.scalars()
        if not sc:
            return self.scalar_source()
        s = rng.choice(sc)
        rg = self.regs[s].range() or (0, M64)
        base = -8 * rng.randint(9, 30)
        d = self.scratch()
        while d == s:
            d = self.scratch()
        self.emit(f"r{d} = r10")
        self.emit(f"r{d} += {base}")
        self.emit(f"r{d} += r{s}")
        self._poke_extremes(self.regs[s])
        self.set(d, Reg("fp", off=base, var=rg))
        size = rng.choice((1, 2, 4, 8))
        self.emit(f"{self.mem(size, d, 0)} = {rng.randint(0, 255)}")
        if self.p(0.5):
            t = self.scratch()
            self.emit(f"r{t} = {self.mem(size, d, 0)}")
            self.set(t, Reg("scalar"))

    # -- control flow -----------------------------------------------------------------------

    def branch(self, depth: int) -> None:
        """if/else on a scalar; each arm a few steps; the model merges at the join."""
        rng = self.rng
        sc = self.scalars()
        if not sc:
            return self.scalar_source()
        d = rng.choice(sc)
        cond = rng.choice(_CONDS)
        bits = 32 if self.p(0.3) else 64
        r = "w" if bits == 32 else "r"
        k = self.imm()
        other = self.scalars()
        by_reg = self.p(0.25) and other
        rhs = f"{r}{rng.choice(other)}" if by_reg else str(k)
        skip, end = self.label(), self.label()
        self.emit(f"if {r}{d} {cond} {rhs} goto {skip}")
        saved = self._snapshot()
        if not by_reg:                       # fall through: the condition was false
            self._filter_keep(d, lambda v: not taken(cond, bits, v, k))
        for _ in range(rng.randint(1, 3)):
            self.step(depth + 1)
        shape = rng.random()
        then_state = self._snapshot()
        if shape < 0.2:
            self.emit("r0 = 2")
            self.emit("exit")
            then_state = None
        else:
            self.emit(f"goto {end}")
        self._restore(saved)
        self.emit(f"{skip}:")
        if not by_reg:
            self._filter_keep(d, lambda v: taken(cond, bits, v, k))
        if shape > 0.5:
            for _ in range(rng.randint(1, 3)):
                self.step(depth + 1)
        self.emit(f"{end}:")
        if then_state is not None:
            self._merge(then_state)

    def _filter_keep(self, d: int, keep: Callable[[int], bool]) -> None:
        reg = self.regs.get(d)
        if reg is None or reg.kind != "scalar" or reg.vals is None:
            return
        vals = {s: v for s, v in reg.vals.items() if keep(v)}
        if vals:
            self.set(d, Reg("scalar", vals, reg.src))

    def _snapshot(self) -> tuple:
        return ({r: v.copy() for r, v in self.regs.items()},
                {o: v.copy() for o, v in self.stack.items()}, set(self.init),
                dict(self.pkt_range))

    def _restore(self, snap: tuple) -> None:
        regs, stack, init, rng = snap
        self.regs = {r: v.copy() for r, v in regs.items()}
        self.stack = {o: v.copy() for o, v in stack.items()}
        self.init, self.pkt_range = set(init), dict(rng)

    def _merge(self, other: tuple) -> None:
        regs, stack, init, prange = other
        merged: dict[int, Reg] = {}
        for r, a in self.regs.items():
            b = regs.get(r)
            if b is None or not a.same(b):
                continue
            if a.kind == "scalar":
                merged[r] = _join(a, b)
            else:
                merged[r] = a
        self.regs = merged
        self.stack = {o: v for o, v in self.stack.items() if o in stack and stack[o].same(v)}
        self.init &= init
        self.pkt_range = {k: min(v, prange[k]) for k, v in self.pkt_range.items() if k in prange}

    def loop(self, depth: int) -> None:
        """``c = 0; top: <steps>; c += 1; if c < N goto top`` (N small)."""
        rng = self.rng
        c = self.rng.choice([r for r in (7, 8, 9) if self.regs.get(r) is None
                             or self.regs[r].kind == "scalar"] or [9])
        n = rng.randint(1, 6)
        self.emit(f"r{c} = 0")
        top = self.label()
        self.emit(f"{top}:")
        before = self._snapshot()
        self.loop_depth += 1
        self.regs.pop(c, None)
        self.reserved.add(c)
        for _ in range(rng.randint(1, 3)):
            self.step(depth + 1)
        self.loop_depth -= 1
        self.reserved.discard(c)
        for r in list(self.regs):       # whatever the body wrote is unknown afterwards
            if r == c:
                continue
            if r not in before[0] or not before[0][r].same(self.regs[r]) \
                    or self.regs[r].kind == "scalar" and self.regs[r].vals != before[0][r].vals:
                self.regs.pop(r)
        for r in list(self.regs):
            if r not in before[0]:
                self.regs.pop(r)
        self._merge(before)
        self.emit(f"r{c} += {1 if not self.bad() else 0}")
        self.emit(f"if r{c} < {n} goto {top}")
        self.set(c, Reg("scalar", {n: n}))

    # -- deliberate trouble -----------------------------------------------------------------

    def mischief(self) -> None:
        rng = self.rng
        ptrs = [r for r, v in self.regs.items() if v.kind != "scalar"]
        what = rng.randrange(8)
        if what == 0 and ptrs:                      # arithmetic with an unbounded scalar
            p = rng.choice(ptrs)
            self.emit("call 7")
            self.clobber_call()
            if p in (1, 2, 3, 4, 5, 0) or p not in self.regs:
                return
            self.emit(f"r{p} += r0")
            self.emit(f"r0 = {self.mem(1, p, 0)}")
            self.set(0, Reg("scalar"))
        elif what == 1 and ptrs:                    # 32-bit or bitwise op on a pointer
            p = rng.choice(ptrs)
            self.emit(rng.choice((f"w{p} += 1", f"r{p} &= -8", f"r{p} <<= 1", f"r{p} = -r{p}")))
            self.set(p, Reg("scalar"))
        elif what == 2:                             # read of an uninitialised register
            free = [r for r in range(10) if r not in self.regs]
            if free:
                d = self.scratch()
                self.emit(f"r{d} = r{rng.choice(free)}")
                self.set(d, Reg("scalar"))
        elif what == 3 and ptrs:                    # leak a pointer into a map or return it
            ms = self.regs_of("map")
            p = rng.choice(ptrs)
            if ms and self.maps[self.regs[ms[0]].map]["value_size"] >= 8:
                self.emit(f"*(u64 *)(r{ms[0]} + 0) = r{p}")
        elif what == 4 and ptrs:                    # compare two pointers
            a, b = rng.choice(ptrs), rng.choice(ptrs)
            self.emit(f"if r{a} > r{b} goto {self.exit_label}")
        elif what == 5:                             # stack out of bounds
            self.emit(f"*(u64 *)(r10 - {rng.choice((512, 516, 520, 0))}) = 1")
        elif what == 6 and ptrs:                    # dereference something
            p = rng.choice(ptrs)
            d = self.scratch()
            self.emit(f"r{d} = {self.mem(rng.choice((1, 4, 8)), p, rng.randint(-8, 80))}")
            self.set(d, Reg("scalar"))
        else:                                       # divide by a scalar that may be zero
            sc = self.scalars()
            if len(sc) >= 2:
                a, b = rng.sample(sc, 2)
                op = rng.choice(("/=", "%=", "s/=", "s%="))
                w = rng.choice("rw")
                self.emit(f"{w}{a} {op} {w}{b}")
                self.set(a, Reg("scalar"))


def _join(a: Reg, b: Reg) -> Reg:
    """The scalar that is ``a`` on one path and ``b`` on the other."""
    if a.vals is None or b.vals is None or len(a.vals) + len(b.vals) > MAX_VALS:
        return Reg("scalar")
    if a.src == b.src and all(a.vals.get(k, v) == v for k, v in b.vals.items()):
        return Reg("scalar", {**a.vals, **b.vals}, a.src)
    return Reg("scalar", {v: v for v in set(a.vals.values()) | set(b.vals.values())})


def generate(seed: Any, max_steps: int = 14) -> FuzzProgram:
    """Program for ``seed`` (anything ``random.Random`` takes)."""
    return Generator(random.Random(seed), max_steps).program()


__all__ = ["FuzzProgram", "Generator", "Reg", "alu", "generate", "taken"]

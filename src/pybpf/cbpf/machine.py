"""The classic BPF machine, with the Linux kernel's semantics.

``run(program, packet)`` gives what a socket filter returns for ``packet`` (the bytes from
``skb->data``: for an AF_PACKET ``SOCK_RAW`` socket, the frame from its link-layer header):
the number of bytes to keep, 0 to drop. ``compile_filter(program)`` turns a program, once,
into a Python function ``f(packet, wirelen=None, ancillary=None)`` for filtering many
packets (see :class:`_Generator` for how).

Semantics (net/core/filter.c and the eBPF it becomes; libpcap's ``bpf_filter`` agrees
unless noted):

* A, X and ``M[0..15]`` are 32-bit and start at 0; arithmetic wraps at 32 bits.
* A load that does not fit in the packet ends the filter with 0; so does ``div``/``mod``
  by X = 0 (a constant 0 divisor is refused by :func:`pybpf.cbpf.check.check`).
* ``lsh``/``rsh`` by X use ``X & 31`` as the kernel's eBPF does (libpcap gives 0 for
  X >= 32; constant shifts >= 32 are refused by the checker).
* ``ld #len``/``ldx #len`` give ``wirelen`` (default: the packet's length; the kernel's
  ``skb->len``); loads are bounded by the packet's length (libpcap's ``buflen``).
* Loads at ``SKF_AD_OFF + n`` read :class:`Ancillary` fields; offsets at
  ``SKF_NET_OFF + n`` / ``SKF_LL_OFF + n`` (also reached by ``[x + k]`` and ``ldxb``) are
  relative to the network / link-layer header, placed by ``Ancillary.net_offset`` and
  ``Ancillary.mac_offset`` relative to the packet's first byte (negative: in
  ``Ancillary.head``, the bytes before it). libpcap fails all of these with 0.
"""

from __future__ import annotations

import random as _random
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

from pybpf.cbpf.insn import (
    A, ABS, ADD, ALU, AND, B, BPF_CLASS, BPF_MODE, BPF_OP, BPF_SIZE, BPF_SRC, DIV, H, IMM, IND,
    JA, JEQ, JGE, JGT, JMP, JSET, K, LD, LDX, LEN, LSH, MEM, MISC, MOD, MSH, MUL, NEG, OR, RET,
    RSH, SKF_AD_ALU_XOR_X, SKF_AD_CPU, SKF_AD_HATYPE, SKF_AD_IFINDEX, SKF_AD_MARK,
    SKF_AD_NLATTR, SKF_AD_NLATTR_NEST, SKF_AD_PAY_OFFSET, SKF_AD_PKTTYPE, SKF_AD_PROTOCOL,
    SKF_AD_QUEUE, SKF_AD_RANDOM, SKF_AD_RXHASH, SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT,
    SKF_AD_VLAN_TPID, SKF_LL_OFF, SKF_NET_OFF, ST, STX, SUB, TAX, TXA, W, X, XOR, CInsn,
    ancillary_offset, as_program, encode, is_conditional_jump,
)

ETH_HLEN = 14
ARPHRD_ETHER = 1
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
ETH_P_802_3, ETH_P_802_2, ETH_P_8021Q, ETH_P_8021AD = 0x0001, 0x0004, 0x8100, 0x88A8


@dataclass
class Ancillary:
    """What a Linux socket filter can read besides the packet (the ``sk_buff``'s fields).

    ``protocol`` is the host-order ethertype (``ntohs(skb->protocol)``), ``pkttype`` a
    ``PACKET_*`` value, ``hatype`` the device's ``ARPHRD_*``; ``vlan_*`` describe a tag
    the kernel took off the frame (AF_PACKET sees frames untagged); ``pay_offset`` is what
    the kernel's flow dissector would compute (SKF_AD_PAY_OFFSET); ``random_seed`` seeds
    the values SKF_AD_RANDOM loads return, in order. ``net_offset``/``mac_offset`` place
    the network and link-layer headers relative to the packet's first byte
    (``mac_offset=None``: no link-layer header), ``head`` holds the bytes before it.
    """

    protocol: int = 0
    pkttype: int = PACKET_HOST
    ifindex: int = 0
    mark: int = 0
    queue: int = 0
    hatype: int = ARPHRD_ETHER
    rxhash: int = 0
    cpu: int = 0
    vlan_tci: int = 0
    vlan_present: bool = False
    vlan_proto: int = 0
    pay_offset: int = 0
    random_seed: int = 0
    net_offset: int = ETH_HLEN
    mac_offset: int | None = 0
    head: bytes = b""
    _rng: _random.Random | None = field(default=None, repr=False, compare=False)

    def next_random(self) -> int:
        """The next SKF_AD_RANDOM value (a 32-bit number from the seeded generator)."""
        if self._rng is None:
            self._rng = _random.Random(self.random_seed)
        return self._rng.getrandbits(32)


DEFAULT_ANCILLARY = Ancillary()
_U32 = struct.Struct(">I")


def as_received(frame: bytes, *, dev_mac: bytes = bytes(6), ifindex: int = 0,
                untag: bool = True, **fields: object) -> tuple[bytes, Ancillary]:
    """An Ethernet frame as an AF_PACKET ``SOCK_RAW`` filter sees it on receive.

    Like ``eth_type_trans`` (pkttype from the destination MAC against ``dev_mac``, protocol
    from the ethertype) and, with ``untag``, ``skb_vlan_untag`` (an outer 802.1Q/802.1ad
    tag moves out of the frame into ``vlan_tci``/``vlan_proto``). Returns (packet, ancillary).
    """
    data = bytes(frame)
    anc = Ancillary(ifindex=ifindex, **fields)  # type: ignore[arg-type]
    proto = int.from_bytes(data[12:14], "big") if len(data) >= 14 else 0
    if untag and proto in (ETH_P_8021Q, ETH_P_8021AD) and len(data) >= 18:
        anc.vlan_present, anc.vlan_proto = True, proto
        anc.vlan_tci = int.from_bytes(data[14:16], "big")
        data = data[:12] + data[16:]
        proto = int.from_bytes(data[12:14], "big")
    dest = data[:6]
    if dest != dev_mac:
        if dest and dest[0] & 1:
            anc.pkttype = PACKET_BROADCAST if dest == b"\xff" * 6 else PACKET_MULTICAST
        else:
            anc.pkttype = PACKET_OTHERHOST
    if proto >= 0x600:
        anc.protocol = proto
    else:
        anc.protocol = ETH_P_802_3 if data[14:16] == b"\xff\xff" else ETH_P_802_2
    return data, anc


def slow_load(packet: bytes, length: int, anc: Ancillary, k: int, size: int) -> int | None:
    """A load at unsigned offset ``k`` that the fast path could not do: past the end, or a
    negative (SKF_NET_OFF / SKF_LL_OFF relative) offset. None: the filter returns 0.

    The kernel (bpf_skb_load_helper_convert_offset) turns a relative offset into one from
    ``skb->data`` and then reads like any load, bounded by ``skb->len``.
    """
    off = k - (1 << 32) if k & 0x80000000 else k
    if off < 0:
        if off >= SKF_NET_OFF:
            off = off - SKF_NET_OFF + anc.net_offset
        elif off >= SKF_LL_OFF and anc.mac_offset is not None:
            off = off - SKF_LL_OFF + anc.mac_offset
        else:
            return None
    if length - off < size:
        return None
    if off >= 0:
        return int.from_bytes(packet[off:off + size], "big")
    head = anc.head
    if -off > len(head):
        return None           # the kernel would read headroom bytes nobody gave us
    joined = bytes(head[len(head) + off:]) + bytes(packet[:max(0, off + size)])
    return int.from_bytes(joined[:size], "big")


def _nla_find(packet: bytes, start: int, length: int, attr: int) -> int:
    """nla_find: the offset of the first attribute of type ``attr`` in [start, start+length)."""
    pos, rem = start, length
    while rem >= 4:
        nla_len = int.from_bytes(packet[pos:pos + 2], "little")
        nla_type = int.from_bytes(packet[pos + 2:pos + 4], "little")
        if nla_len < 4 or nla_len > rem:
            break
        if nla_type & 0x3FFF == attr:
            return pos
        step = (nla_len + 3) & ~3
        pos += step
        rem -= step
    return 0


def nlattr(packet: bytes, a: int, x: int) -> int:
    """SKF_AD_NLATTR: offset of netlink attribute type X in the attributes at offset A."""
    n = len(packet)
    if n < 4 or a > n - 4:
        return 0
    return _nla_find(packet, a, n - a, x)


def nlattr_nest(packet: bytes, a: int, x: int) -> int:
    """SKF_AD_NLATTR_NEST: attribute type X inside the nested attribute at offset A."""
    n = len(packet)
    if n < 4 or a > n - 4:
        return 0
    nla_len = int.from_bytes(packet[a:a + 2], "little")
    if nla_len > n - a:
        return 0
    return _nla_find(packet, a + 4, nla_len - 4, x)


Filter = Callable[..., int]


def compile_filter(program: Sequence[CInsn] | bytes, *, name: str = "filter") -> Filter:
    """The program as a Python function ``f(packet, wirelen=None, ancillary=None) -> int``.

    The program is checked first as the kernel checks it (BpfDecodeError otherwise).
    """
    from pybpf.cbpf.check import check

    insns = as_program(program)
    check(insns)
    return _build(insns, name)


# -- the compiler -------------------------------------------------------------------------
#
# A checked program only jumps forward, so it is a DAG of basic blocks that all end in a
# ``ret``. Each block becomes straight-line Python over locals (A, X, m0..m15); a branch
# target is inlined where it has one predecessor (up to a nesting depth), a lone ``ret`` is
# inlined everywhere, and any other block becomes a function that the branch tail-calls
# (``return b7(P, L, WL, ANC, A, X, ...)``), which returns the filter's verdict. Absolute
# packet loads of a block share one bounds check at its top: a failing load anywhere in a
# straight line ends the filter with 0, so checking the furthest one first is the same.

_M32 = 0xFFFFFFFF
_INLINE_DEPTH = 24           # indentation levels (CPython allows 100)
_INLINE_CHAIN = 200          # blocks inlined into one another (bounds our recursion)
_CMP = {JEQ: "==", JGT: ">", JGE: ">="}
_ALU_TEXT = {ADD: "A = (A + {v}) & 0xFFFFFFFF", SUB: "A = (A - {v}) & 0xFFFFFFFF",
             MUL: "A = (A * {v}) & 0xFFFFFFFF", AND: "A &= {v}", OR: "A |= {v}",
             XOR: "A ^= {v}"}
_ANC_TEXT = {
    SKF_AD_PROTOCOL: "A = ANC.protocol & 0xFFFF", SKF_AD_PKTTYPE: "A = ANC.pkttype & 7",
    SKF_AD_IFINDEX: "A = ANC.ifindex & 0xFFFFFFFF", SKF_AD_MARK: "A = ANC.mark & 0xFFFFFFFF",
    SKF_AD_QUEUE: "A = ANC.queue & 0xFFFF", SKF_AD_HATYPE: "A = ANC.hatype & 0xFFFF",
    SKF_AD_RXHASH: "A = ANC.rxhash & 0xFFFFFFFF", SKF_AD_CPU: "A = ANC.cpu & 0xFFFFFFFF",
    SKF_AD_ALU_XOR_X: "A ^= X", SKF_AD_VLAN_TAG: "A = ANC.vlan_tci & 0xFFFF",
    SKF_AD_VLAN_TAG_PRESENT: "A = 1 if ANC.vlan_present else 0",
    SKF_AD_PAY_OFFSET: "A = ANC.pay_offset & 0xFFFFFFFF", SKF_AD_RANDOM: "A = ANC.next_random()",
    SKF_AD_VLAN_TPID: "A = ANC.vlan_proto & 0xFFFF",
    SKF_AD_NLATTR: "A = NLATTR(P, A, X)", SKF_AD_NLATTR_NEST: "A = NLATTR_NEST(P, A, X)",
}
_READ = {1: "P[{o}]", 2: "(P[{o}] << 8 | P[{o} + 1])", 4: "U32(P, {o})[0]"}
_SIZES = {W: 4, H: 2, B: 1}


def _needs_ancillary(insn: CInsn) -> bool:
    """Whether an instruction may read the Ancillary (ancillary, relative or indirect loads)."""
    mode = BPF_MODE(insn.code)
    if BPF_CLASS(insn.code) == LD and mode == IND:
        return True
    return BPF_CLASS(insn.code) in (LD, LDX) and mode in (ABS, MSH) and insn.k >= 0x80000000


class _Generator:
    def __init__(self, insns: list[CInsn]):
        self.insns = insns
        n = len(insns)
        leaders = {0}
        for pc, insn in enumerate(insns):
            for t in self._targets(pc, insn):
                leaders.add(t)
            if BPF_CLASS(insn.code) in (JMP, RET):
                leaders.add(pc + 1)
        self.starts = sorted(t for t in leaders if t < n)
        self.end = {s: e - 1 for s, e in zip(self.starts, self.starts[1:] + [n])}
        self.preds: dict[int, int] = {}
        seen, todo = {0}, [0]
        while todo:
            for t in self.successors(todo.pop()):
                self.preds[t] = self.preds.get(t, 0) + 1
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        cells = sorted({i.k for i in insns if i.code in (ST, STX, LD | MEM, LDX | MEM)})
        self.state = "A, X" + "".join(f", m{k}" for k in cells)
        self.cells = cells
        self.functions: list[int] = []
        self.wanted: set[int] = set()
        self.nesting = 0

    @staticmethod
    def _targets(pc: int, insn: CInsn) -> list[int]:
        if insn.code == JMP | JA:
            return [pc + 1 + insn.k]
        if is_conditional_jump(insn.code):
            return [pc + 1 + insn.jt, pc + 1 + insn.jf]
        return []

    def successors(self, start: int) -> list[int]:
        last = self.end[start]
        insn = self.insns[last]
        if BPF_CLASS(insn.code) == RET:
            return []
        if BPF_CLASS(insn.code) == JMP:
            return list(dict.fromkeys(self._targets(last, insn)))
        return [last + 1]

    # -- emitting ----------------------------------------------------------------------

    def source(self) -> str:
        out = ["def run(P, WL=None, ANC=None):", "    L = len(P)"]
        if any(i.code in (LD | W | LEN, LDX | W | LEN) for i in self.insns):
            out.append("    if WL is None: WL = L")
        if any(_needs_ancillary(i) for i in self.insns):
            out.append("    if ANC is None: ANC = DEFAULT")
        out.append("    A = X = " + "".join(f"m{k} = " for k in self.cells) + "0")
        self.block(0, 1, out)
        done = 0
        while done < len(self.functions):
            start = self.functions[done]
            done += 1
            out.append(f"def b{start}(P, L, WL, ANC, {self.state}):")
            self.block(start, 1, out)
        return "\n".join(out) + "\n"

    def goto(self, target: int, depth: int, out: list[str]) -> None:
        pad = "    " * depth
        insn = self.insns[target]
        if insn.code == RET | K:
            out.append(f"{pad}return {insn.k & _M32}")
        elif insn.code == RET | A:
            out.append(f"{pad}return A")
        elif self.preds.get(target, 0) <= 1 and depth < _INLINE_DEPTH \
                and self.nesting < _INLINE_CHAIN:
            self.nesting += 1
            self.block(target, depth, out)
            self.nesting -= 1
        else:
            if target not in self.wanted:
                self.wanted.add(target)
                self.functions.append(target)
            out.append(f"{pad}return b{target}(P, L, WL, ANC, {self.state})")

    def block(self, start: int, depth: int, out: list[str]) -> None:
        pad = "    " * depth
        last = self.end[start]
        reach = 0
        for insn in self.insns[start:last + 1]:
            if BPF_CLASS(insn.code) in (LD, LDX) and BPF_MODE(insn.code) in (ABS, MSH) \
                    and insn.k < 0x80000000:
                size = 1 if BPF_MODE(insn.code) == MSH else _SIZES[BPF_SIZE(insn.code)]
                reach = max(reach, insn.k + size)
        if reach:
            out.append(f"{pad}if L < {reach}: return 0")
        for insn in self.insns[start:last]:
            out.extend(pad + line for line in self.statement(insn))
        insn = self.insns[last]
        code = insn.code
        if code == RET | K:
            out.append(f"{pad}return {insn.k & _M32}")
        elif code == RET | A:
            out.append(f"{pad}return A")
        elif code == JMP | JA:
            self.goto(last + 1 + insn.k, depth, out)
        elif is_conditional_jump(code):
            jt, jf = last + 1 + insn.jt, last + 1 + insn.jf
            if jt == jf:
                self.goto(jt, depth, out)
                return
            v = "X" if BPF_SRC(code) == X else str(insn.k & _M32)
            op = BPF_OP(code)
            cond = f"A & {v}" if op == JSET else f"A {_CMP[op]} {v}"
            out.append(f"{pad}if {cond}:")
            self.goto(jt, depth + 1, out)
            self.goto(jf, depth, out)
        else:
            out.extend(pad + line for line in self.statement(insn))
            self.goto(last + 1, depth, out)

    def statement(self, insn: CInsn) -> list[str]:
        code, k = insn.code, insn.k & _M32
        cls, mode = BPF_CLASS(code), BPF_MODE(code)
        if cls == LD and mode == ABS:
            anc = ancillary_offset(k)
            if anc is not None:
                return [_ANC_TEXT[anc]]
            size = _SIZES[BPF_SIZE(code)]
            if k < 0x80000000:
                return ["A = " + _READ[size].format(o=k)]
            return [f"A = SLOW(P, L, ANC, {k}, {size})", "if A is None: return 0"]
        if cls == LD and mode == IND:
            size = _SIZES[BPF_SIZE(code)]
            return [f"T = (X + {k}) & 0xFFFFFFFF", f"if T > L - {size}:",
                    f"    A = SLOW(P, L, ANC, T, {size})", "    if A is None: return 0",
                    "else: A = " + _READ[size].format(o="T")]
        if code == LDX | B | MSH:
            if k < 0x80000000:
                return [f"X = (P[{k}] & 15) << 2"]
            return [f"X = SLOW(P, L, ANC, {k}, 1)", "if X is None: return 0",
                    "X = (X & 15) << 2"]
        if code in (LD | IMM, LDX | IMM):
            return [f"{'A' if cls == LD else 'X'} = {k}"]
        if code in (LD | W | LEN, LDX | W | LEN):
            return [f"{'A' if cls == LD else 'X'} = WL & 0xFFFFFFFF"]
        if code in (LD | MEM, LDX | MEM):
            return [f"{'A' if cls == LD else 'X'} = m{k}"]
        if code in (ST, STX):
            return [f"m{k} = {'A' if cls == ST else 'X'}"]
        if code == MISC | TAX:
            return ["X = A"]
        if code == MISC | TXA:
            return ["A = X"]
        if cls == ALU:
            return self.alu(code, k)
        raise AssertionError(f"opcode {code:#x} passed the checker")   # pragma: no cover

    @staticmethod
    def alu(code: int, k: int) -> list[str]:
        op, by_x = BPF_OP(code), BPF_SRC(code) == X
        v = "X" if by_x else str(k)
        if op in _ALU_TEXT:
            return [_ALU_TEXT[op].format(v=v)]
        if op == NEG:
            return ["A = -A & 0xFFFFFFFF"]
        if op in (DIV, MOD):
            sym = "//" if op == DIV else "%"
            return (["if not X: return 0"] if by_x else []) + [f"A {sym}= {v}"]
        if op == LSH:
            return [f"A = (A << {'(X & 31)' if by_x else v}) & 0xFFFFFFFF"]
        if op == RSH:
            return [f"A >>= {'X & 31' if by_x else v}"]
        raise AssertionError(f"ALU op {op:#x}")   # pragma: no cover


def _build(insns: list[CInsn], name: str) -> Filter:
    source = _Generator(insns).source()
    namespace = {"DEFAULT": DEFAULT_ANCILLARY, "SLOW": slow_load, "NLATTR": nlattr,
                 "NLATTR_NEST": nlattr_nest, "U32": _U32.unpack_from}
    exec(compile(source, f"<cbpf {name}>", "exec"), namespace)
    fn = namespace["run"]
    fn.source = source            # type: ignore[attr-defined]
    return fn


def filter_source(program: Sequence[CInsn] | bytes) -> str:
    """The Python the program compiles to (for debugging the compiler)."""
    from pybpf.cbpf.check import check

    insns = as_program(program)
    check(insns)
    return _Generator(insns).source()


@lru_cache(maxsize=128)
def _cached(code: bytes) -> Filter:
    return compile_filter(code)


def run(program: Sequence[CInsn] | bytes, packet: bytes, *, wirelen: int | None = None,
        ancillary: Ancillary | None = None) -> int:
    """What the filter returns for ``packet``: the length to accept, 0 to drop."""
    code = bytes(program) if isinstance(program, (bytes, bytearray, memoryview)) \
        else encode(as_program(program))
    return _cached(code)(packet, wirelen, ancillary)


__all__ = ["Ancillary", "DEFAULT_ANCILLARY", "Filter", "as_received", "compile_filter",
           "filter_source", "nlattr", "nlattr_nest", "run", "slow_load"]

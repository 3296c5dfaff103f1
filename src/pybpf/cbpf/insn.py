"""Classic BPF instructions: ``struct sock_filter`` (code, jt, jf, k) and its opcode bits.

The opcode layout is the one in <linux/filter.h> and libpcap's <pcap/bpf.h>: class in the
low 3 bits, then size and mode (loads and stores), or op and source (ALU and jumps).
"""

from __future__ import annotations

import struct
from typing import Iterable, NamedTuple, Sequence

from pybpf.errors import BpfDecodeError

# classes
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
# sizes (loads)
W, H, B = 0x00, 0x08, 0x10
# modes (loads)
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
# ALU / JMP operations
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (0x00, 0x10, 0x20, 0x30, 0x40, 0x50,
                                                       0x60, 0x70, 0x80, 0x90, 0xA0)
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
# sources
K, X = 0x00, 0x08
# RET values
A = 0x10
# MISC
TAX, TXA = 0x00, 0x80

MEMWORDS = 16                 # BPF_MEMWORDS: the scratch memory M[0..15]
MAXINSNS = 4096               # BPF_MAXINSNS
SKF_AD_OFF = -0x1000          # Linux ancillary data: loads at SKF_AD_OFF + SKF_AD_*
SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000

_SLOT = struct.Struct("<HBBI")


def BPF_CLASS(code: int) -> int:
    return code & 0x07


def BPF_SIZE(code: int) -> int:
    return code & 0x18


def BPF_MODE(code: int) -> int:
    return code & 0xE0


def BPF_OP(code: int) -> int:
    return code & 0xF0


def BPF_SRC(code: int) -> int:
    return code & 0x08


def BPF_RVAL(code: int) -> int:
    return code & 0x18


def BPF_MISCOP(code: int) -> int:
    return code & 0xF8


class CInsn(NamedTuple):
    """One classic instruction (``struct sock_filter``): ``k`` is unsigned 32-bit."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def encode(self) -> bytes:
        return _SLOT.pack(self.code, self.jt, self.jf, self.k & 0xFFFFFFFF)


def stmt(code: int, k: int = 0) -> CInsn:
    """BPF_STMT(code, k)."""
    return CInsn(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> CInsn:
    """BPF_JUMP(code, k, jt, jf)."""
    return CInsn(code, jt, jf, k & 0xFFFFFFFF)


def encode(program: Iterable[CInsn]) -> bytes:
    """The program as the kernel and libpcap take it: 8 bytes per instruction."""
    return b"".join(insn.encode() for insn in program)


def decode(data: bytes | bytearray | memoryview) -> list[CInsn]:
    """Instructions from their 8-byte encoding (BpfDecodeError naming a bad length)."""
    data = bytes(data)
    if len(data) % 8:
        raise BpfDecodeError(f"length {len(data)} is not a multiple of 8", len(data) // 8)
    return [CInsn(*fields) for fields in _SLOT.iter_unpack(data)]


def as_program(program: Sequence[CInsn] | bytes) -> list[CInsn]:
    """A list of CInsn from instructions or their encoding."""
    if isinstance(program, (bytes, bytearray, memoryview)):
        return decode(program)
    return [insn if isinstance(insn, CInsn) else CInsn(*insn) for insn in program]


# -- Linux ancillary data (<linux/filter.h>): loads at SKF_AD_OFF + SKF_AD_* ---------------
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
SKF_AD_IFINDEX = 8
SKF_AD_NLATTR = 12
SKF_AD_NLATTR_NEST = 16
SKF_AD_MARK = 20
SKF_AD_QUEUE = 24
SKF_AD_HATYPE = 28
SKF_AD_RXHASH = 32
SKF_AD_CPU = 36
SKF_AD_ALU_XOR_X = 40
SKF_AD_VLAN_TAG = 44
SKF_AD_VLAN_TAG_PRESENT = 48
SKF_AD_PAY_OFFSET = 52
SKF_AD_RANDOM = 56
SKF_AD_VLAN_TPID = 60
SKF_AD_MAX = 64

# What libpcap's bpf_image prints for each (``ld [proto]``) and bpf_asm's spelling (``ld #proto``).
ANCILLARY_NAMES: dict[int, str] = {
    SKF_AD_PROTOCOL: "proto", SKF_AD_PKTTYPE: "type", SKF_AD_IFINDEX: "ifidx",
    SKF_AD_NLATTR: "nla", SKF_AD_NLATTR_NEST: "nlan", SKF_AD_MARK: "mark",
    SKF_AD_QUEUE: "queue", SKF_AD_HATYPE: "hatype", SKF_AD_RXHASH: "rxhash",
    SKF_AD_CPU: "cpu", SKF_AD_ALU_XOR_X: "xor_x", SKF_AD_VLAN_TAG: "vlan_tci",
    SKF_AD_VLAN_TAG_PRESENT: "vlanp", SKF_AD_PAY_OFFSET: "poff", SKF_AD_RANDOM: "random",
    SKF_AD_VLAN_TPID: "vlan_tpid",
}
ASM_ANCILLARY: dict[str, int] = {
    "proto": SKF_AD_PROTOCOL, "type": SKF_AD_PKTTYPE, "poff": SKF_AD_PAY_OFFSET,
    "ifidx": SKF_AD_IFINDEX, "nla": SKF_AD_NLATTR, "nlan": SKF_AD_NLATTR_NEST,
    "mark": SKF_AD_MARK, "queue": SKF_AD_QUEUE, "hatype": SKF_AD_HATYPE,
    "rxhash": SKF_AD_RXHASH, "cpu": SKF_AD_CPU, "vlan_tci": SKF_AD_VLAN_TAG,
    "vlan_pr": SKF_AD_VLAN_TAG_PRESENT, "vlan_avail": SKF_AD_VLAN_TAG_PRESENT,
    "vlan_tpid": SKF_AD_VLAN_TPID, "rand": SKF_AD_RANDOM,
}

# Opcodes the kernel accepts in a socket filter (net/core/filter.c chk_code_allowed).
LD_W_ABS, LD_H_ABS, LD_B_ABS = LD | W | ABS, LD | H | ABS, LD | B | ABS
LD_W_IND, LD_H_IND, LD_B_IND = LD | W | IND, LD | H | IND, LD | B | IND
LD_W_LEN, LDX_W_LEN, LDX_B_MSH = LD | W | LEN, LDX | W | LEN, LDX | B | MSH
LD_IMM, LDX_IMM, LD_MEM, LDX_MEM = LD | IMM, LDX | IMM, LD | MEM, LDX | MEM
RET_K, RET_A = RET | K, RET | A
SOCKET_FILTER_CODES: frozenset[int] = frozenset(
    [ALU | op | src for op in (ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH) for src in (K, X)]
    + [ALU | NEG, LD_W_ABS, LD_H_ABS, LD_B_ABS, LD_W_LEN, LD_W_IND, LD_H_IND, LD_B_IND, LD_IMM,
       LD_MEM, LDX_W_LEN, LDX_B_MSH, LDX_IMM, LDX_MEM, ST, STX, MISC | TAX, MISC | TXA, RET_K,
       RET_A, JMP | JA]
    + [JMP | op | src for op in (JEQ, JGE, JGT, JSET) for src in (K, X)])


def is_conditional_jump(code: int) -> bool:
    """A JMP-class instruction with jt/jf targets (everything but ``ja``)."""
    return BPF_CLASS(code) == JMP and BPF_OP(code) != JA


def ancillary_offset(k: int) -> int | None:
    """``k - SKF_AD_OFF`` when ``k`` (unsigned) is a known ancillary load, else None."""
    off = (k & 0xFFFFFFFF) - (SKF_AD_OFF & 0xFFFFFFFF)
    return off if off in ANCILLARY_NAMES else None

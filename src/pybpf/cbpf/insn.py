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

"""Tracked numbers (the kernel's ``tnum``): a value whose bits are known where ``mask`` is 0.

``value`` holds the known bits, ``mask`` the unknown ones (``value & mask == 0``). The
operations follow kernel/bpf/tnum.c; all arithmetic is on 64-bit unsigned integers.
"""

from __future__ import annotations

from typing import NamedTuple

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


class Tnum(NamedTuple):
    value: int
    mask: int

    def is_const(self) -> bool:
        return self.mask == 0

    def is_unknown(self) -> bool:
        return self.mask == U64

    def __str__(self) -> str:
        return f"({self.value:#x}; {self.mask:#x})"


UNKNOWN = Tnum(0, U64)


def const(value: int) -> Tnum:
    return Tnum(value & U64, 0)


def trange(lo: int, hi: int) -> Tnum:
    """The tnum of every value in [lo, hi] (unsigned)."""
    chi = lo ^ hi
    bits = chi.bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return Tnum(lo & ~delta & U64, delta)


def lshift(a: Tnum, n: int) -> Tnum:
    return Tnum((a.value << n) & U64, (a.mask << n) & U64)


def rshift(a: Tnum, n: int) -> Tnum:
    return Tnum(a.value >> n, a.mask >> n)


def _sign(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def arshift(a: Tnum, n: int, bits: int) -> Tnum:
    """Arithmetic right shift in a ``bits``-wide (32 or 64) register."""
    m = (1 << bits) - 1
    return Tnum((_sign(a.value, bits) >> n) & m, (_sign(a.mask, bits) >> n) & m)


def add(a: Tnum, b: Tnum) -> Tnum:
    sm = (a.mask + b.mask) & U64
    sv = (a.value + b.value) & U64
    sigma = (sm + sv) & U64
    chi = sigma ^ sv
    mu = chi | a.mask | b.mask
    return Tnum(sv & ~mu & U64, mu)


def sub(a: Tnum, b: Tnum) -> Tnum:
    dv = (a.value - b.value) & U64
    alpha = (dv + a.mask) & U64
    beta = (dv - b.mask) & U64
    chi = alpha ^ beta
    mu = chi | a.mask | b.mask
    return Tnum(dv & ~mu & U64, mu)


def neg(a: Tnum) -> Tnum:
    return sub(Tnum(0, 0), a)


def and_(a: Tnum, b: Tnum) -> Tnum:
    alpha = a.value | a.mask
    beta = b.value | b.mask
    v = a.value & b.value
    return Tnum(v, alpha & beta & ~v & U64)


def or_(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    mu = a.mask | b.mask
    return Tnum(v, mu & ~v & U64)


def xor(a: Tnum, b: Tnum) -> Tnum:
    v = a.value ^ b.value
    mu = a.mask | b.mask
    return Tnum(v & ~mu & U64, mu)


def mul(a: Tnum, b: Tnum) -> Tnum:
    acc_v = (a.value * b.value) & U64
    acc_m = Tnum(0, 0)
    while a.value or a.mask:
        if a.value & 1:
            acc_m = add(acc_m, Tnum(0, b.mask))
        elif a.mask & 1:
            acc_m = add(acc_m, Tnum(0, b.value | b.mask))
        a = rshift(a, 1)
        b = lshift(b, 1)
    return add(Tnum(acc_v, 0), acc_m)


def intersect(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    mu = a.mask & b.mask
    return Tnum(v & ~mu & U64, mu)


def union(a: Tnum, b: Tnum) -> Tnum:
    """Every value either may take (kernel ``tnum_union``)."""
    v = a.value & b.value
    mu = a.mask | b.mask | (a.value ^ b.value)
    return Tnum(v & ~mu & U64, mu)


def cast(a: Tnum, size: int) -> Tnum:
    m = (1 << (size * 8)) - 1
    return Tnum(a.value & m, a.mask & m)


def subreg(a: Tnum) -> Tnum:
    return cast(a, 4)


def clear_subreg(a: Tnum) -> Tnum:
    return lshift(rshift(a, 32), 32)


def with_subreg(a: Tnum, sub32: Tnum) -> Tnum:
    return or_(clear_subreg(a), subreg(sub32))


def const_subreg(a: Tnum, value: int) -> Tnum:
    return with_subreg(a, const(value & U32))


def is_aligned(a: Tnum, size: int) -> bool:
    if not size:
        return True
    return not ((a.value | a.mask) & (size - 1))


def contains(a: Tnum, b: Tnum) -> bool:
    """``tnum_in(a, b)``: every value of ``b`` is a value of ``a``."""
    if b.mask & ~a.mask & U64:
        return False
    return a.value == (b.value & ~a.mask & U64)


def sbin(a: Tnum, bits: int = 64) -> str:
    return "".join("x" if a.mask >> i & 1 else str(a.value >> i & 1) for i in range(bits - 1, -1, -1))

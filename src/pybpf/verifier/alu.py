"""Scalar arithmetic on abstract values: the kernel's ``adjust_scalar_min_max_vals``.

Each operation updates the tnum and the four ranges of ``dst`` from ``src``; 32-bit
operations then zero-extend; :func:`bounds_sync` lets tnum and ranges refine each other.
Operations the kernel does not track (div, mod, shifts by a non-constant) give an
unknown scalar, all 64 bits of it even for a 32-bit operation, as they do there.
"""

from __future__ import annotations

from pybpf.verifier import tnum as tn
from pybpf.verifier.regs import (
    S32_MAX, S32_MIN, S64_MAX, S64_MIN, U32, U64, Reg, bounds_sync, mark_32_unbounded,
    mark_64_unbounded, mark_unknown, s32, s64, set_known, update_32, update_bounds, zext_32_to_64,
)


def _add(d: Reg, s: Reg) -> None:
    smin, smax = d.s32min + s.s32min, d.s32max + s.s32max
    if not (S32_MIN <= smin <= S32_MAX and S32_MIN <= smax <= S32_MAX):
        smin, smax = S32_MIN, S32_MAX
    d.s32min, d.s32max = smin, smax
    # unsigned: exact if all sums wrap or none does (then both ends wrap alike)
    umin, umax = d.u32min + s.u32min, d.u32max + s.u32max
    if umin <= U32 < umax:
        umin, umax = 0, U32
    d.u32min, d.u32max = umin & U32, umax & U32
    smin, smax = d.smin + s.smin, d.smax + s.smax
    if not (S64_MIN <= smin <= S64_MAX and S64_MIN <= smax <= S64_MAX):
        smin, smax = S64_MIN, S64_MAX
    d.smin, d.smax = smin, smax
    umin, umax = d.umin + s.umin, d.umax + s.umax
    if umin <= U64 < umax:
        umin, umax = 0, U64
    d.umin, d.umax = umin & U64, umax & U64
    d.var_off = tn.add(d.var_off, s.var_off)


def _sub(d: Reg, s: Reg) -> None:
    smin, smax = d.s32min - s.s32max, d.s32max - s.s32min
    if not (S32_MIN <= smin <= S32_MAX and S32_MIN <= smax <= S32_MAX):
        smin, smax = S32_MIN, S32_MAX
    d.s32min, d.s32max = smin, smax
    # unsigned: exact if all differences wrap or none does
    umin, umax = d.u32min - s.u32max, d.u32max - s.u32min
    if umin < 0 <= umax:
        umin, umax = 0, U32
    d.u32min, d.u32max = umin & U32, umax & U32
    smin, smax = d.smin - s.smax, d.smax - s.smin
    if not (S64_MIN <= smin <= S64_MAX and S64_MIN <= smax <= S64_MAX):
        smin, smax = S64_MIN, S64_MAX
    d.smin, d.smax = smin, smax
    umin, umax = d.umin - s.umax, d.umax - s.umin
    if umin < 0 <= umax:
        umin, umax = 0, U64
    d.umin, d.umax = umin & U64, umax & U64
    d.var_off = tn.sub(d.var_off, s.var_off)


def _mul(d: Reg, s: Reg) -> None:
    umin, umax = d.u32min * s.u32min, d.u32max * s.u32max
    d.u32min, d.u32max = (umin, umax) if umax <= U32 else (0, U32)
    prods = [a * b for a in (d.s32min, d.s32max) for b in (s.s32min, s.s32max)]
    if all(S32_MIN <= p <= S32_MAX for p in prods):
        d.s32min, d.s32max = min(prods), max(prods)
    else:
        d.s32min, d.s32max = S32_MIN, S32_MAX
    umin, umax = d.umin * s.umin, d.umax * s.umax
    d.umin, d.umax = (umin, umax) if umax <= U64 else (0, U64)
    prods = [a * b for a in (d.smin, d.smax) for b in (s.smin, s.smax)]
    if all(S64_MIN <= p <= S64_MAX for p in prods):
        d.smin, d.smax = min(prods), max(prods)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX
    d.var_off = tn.mul(d.var_off, s.var_off)


def _signed_from_unsigned(d: Reg) -> None:
    if s64(d.umin) <= s64(d.umax):
        d.smin, d.smax = s64(d.umin), s64(d.umax)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX
    if s32(d.u32min) <= s32(d.u32max):
        d.s32min, d.s32max = s32(d.u32min), s32(d.u32max)
    else:
        d.s32min, d.s32max = S32_MIN, S32_MAX


def _bitwise(d: Reg, s: Reg, op: str) -> None:
    v32 = tn.subreg(d.var_off)
    if op == "and":
        d.var_off = tn.and_(d.var_off, s.var_off)
    elif op == "or":
        d.var_off = tn.or_(d.var_off, s.var_off)
    else:
        d.var_off = tn.xor(d.var_off, s.var_off)
    del v32
    v = d.var_off
    w = tn.subreg(v)
    if op == "and":
        d.u32min, d.u32max = w.value, min(d.u32max, s.u32max)
        d.umin, d.umax = v.value, min(d.umax, s.umax)
    elif op == "or":
        d.u32min, d.u32max = max(d.u32min, s.u32min), w.value | w.mask
        d.umin, d.umax = max(d.umin, s.umin), v.value | v.mask
    else:
        d.u32min, d.u32max = w.value, w.value | w.mask
        d.umin, d.umax = v.value, v.value | v.mask
    _signed_from_unsigned(d)
    update_bounds(d)


def _lsh(d: Reg, n: int, width: int) -> None:
    if width == 64:
        d.smax = d.s32max << 32 if n == 32 and d.s32max >= 0 else S64_MAX
        d.smin = d.s32min << 32 if n == 32 and d.s32min >= 0 else S64_MIN
        if d.umax > (1 << (63 - n)):
            d.umin, d.umax = 0, U64
        else:
            d.umin, d.umax = d.umin << n, d.umax << n
    d.s32min, d.s32max = S32_MIN, S32_MAX
    if n > 31 or d.u32max > (1 << (31 - n)):
        d.u32min, d.u32max = 0, U32
    else:
        d.u32min, d.u32max = d.u32min << n, d.u32max << n
    if width == 64:
        d.var_off = tn.lshift(d.var_off, n)
    else:
        d.var_off = tn.with_subreg(d.var_off, tn.lshift(tn.subreg(d.var_off), n))
    update_bounds(d)


def _rsh(d: Reg, n: int, width: int) -> None:
    if width == 64:
        d.smin, d.smax = S64_MIN, S64_MAX
        d.var_off = tn.rshift(d.var_off, n)
        d.umin >>= n
        d.umax >>= n
        mark_32_unbounded(d)
        update_bounds(d)
    else:
        d.s32min, d.s32max = S32_MIN, S32_MAX
        d.var_off = tn.rshift(tn.subreg(d.var_off), n)
        d.u32min >>= n
        d.u32max >>= n
        mark_64_unbounded(d)
        update_32(d)


def _arsh(d: Reg, n: int, width: int) -> None:
    if width == 64:
        d.smin >>= n
        d.smax >>= n
        d.var_off = tn.arshift(d.var_off, n, 64)
        d.umin, d.umax = 0, U64
        mark_32_unbounded(d)
        update_bounds(d)
    else:
        d.s32min >>= n
        d.s32max >>= n
        d.var_off = tn.arshift(tn.subreg(d.var_off), n, 32)
        d.u32min, d.u32max = 0, U32
        mark_64_unbounded(d)
        update_32(d)


def scalar_alu(op: str, d: Reg, s: Reg, width: int) -> None:
    """``dst = dst OP src`` for two scalars, in place on ``d`` (``s`` is not changed)."""
    d.id = 0
    if not d.var_off.mask and not s.var_off.mask:
        fold = _FOLD.get(op)
        if fold is not None and (op not in _SHIFTS or s.var_off.value < width):
            set_known(d, fold(d.var_off.value, s.var_off.value, width))
            return
    # is_safe_to_compute_dst_reg_range: other operations make the register wholly
    # unknown, 64 bits of it even for a 32-bit one (the kernel returns before zero-
    # extending: `w1 %= 8` leaves R1=scalar())
    if op in ("lsh", "rsh", "arsh"):
        if not (s.is_const() and s.umax < width):
            mark_unknown(d)
            return
    elif op not in ("add", "sub", "mul", "and", "or", "xor"):
        mark_unknown(d)
        return
    if width == 32:
        s = s.copy()
        s.var_off = tn.subreg(s.var_off)
        _take_32(s)
        _take_32(d)
    if op == "add":
        _add(d, s)
    elif op == "sub":
        _sub(d, s)
    elif op == "mul":
        _mul(d, s)
    elif op in ("and", "or", "xor"):
        _bitwise(d, s, op)
    elif op == "lsh":
        _lsh(d, s.umin, width)
    elif op == "rsh":
        _rsh(d, s.umin, width)
    else:
        _arsh(d, s.umin, width)
    if width == 32:
        zext_32_to_64(d)
    bounds_sync(d)


def _sx(v: int, width: int) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


# Two constants give a constant (the tnum operations are exact on constants, and the
# ranges then follow the tnum): the result, zero-extended for 32-bit operations.
_SHIFTS = ("lsh", "rsh", "arsh")
_FOLD = {
    "add": lambda a, b, w: (a + b) & ((1 << w) - 1),
    "sub": lambda a, b, w: (a - b) & ((1 << w) - 1),
    "mul": lambda a, b, w: (a * b) & ((1 << w) - 1),
    "and": lambda a, b, w: a & b & ((1 << w) - 1),
    "or": lambda a, b, w: (a | b) & ((1 << w) - 1),
    "xor": lambda a, b, w: (a ^ b) & ((1 << w) - 1),
    "lsh": lambda a, b, w: (a << (b & ((1 << w) - 1))) & ((1 << w) - 1),
    "rsh": lambda a, b, w: (a & ((1 << w) - 1)) >> (b & ((1 << w) - 1)),
    "arsh": lambda a, b, w: (_sx(a, w) >> (b & ((1 << w) - 1))) & ((1 << w) - 1),
}


def _take_32(r: Reg) -> None:
    """For a 32-bit operation the 64-bit ranges mirror the 32-bit ones (zero-extended)."""
    r.var_off = tn.subreg(r.var_off)
    r.umin, r.umax = r.u32min, r.u32max
    r.smin, r.smax = r.u32min, r.u32max


def neg(d: Reg, width: int) -> None:
    zero = Reg()
    zero.type = "scalar"
    from pybpf.verifier.regs import set_known
    set_known(zero, 0)
    v = d.copy()
    d.assign(zero)
    scalar_alu("sub", d, v, width)


def byteswap(d: Reg, kind: str, bits: int) -> None:
    """le/be/bswap: constants stay exact, anything else becomes an unknown of ``bits``."""
    if d.is_const():
        v = d.var_off.value
        mask = (1 << bits) - 1
        if kind == "le":
            out = v & mask
        else:
            out = int.from_bytes((v & mask).to_bytes(bits // 8, "little"), "big")
        from pybpf.verifier.regs import set_known
        set_known(d, out)
        return
    mark_unknown(d)
    if bits < 64:
        d.var_off = tn.Tnum(0, (1 << bits) - 1)
        d.umin, d.umax = 0, (1 << bits) - 1
        d.smin, d.smax = 0, (1 << bits) - 1
        bounds_sync(d)

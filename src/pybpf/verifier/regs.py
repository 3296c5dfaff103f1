"""Register state: type, fixed offset, known bits and the four ranges, kept in sync.

A :class:`Reg` is the kernel's ``struct bpf_reg_state``: ``type`` (scalar or a pointer
kind), ``off`` (a pointer's fixed offset), ``var_off`` (a :class:`Tnum`), the signed and
unsigned 64- and 32-bit ranges, ``id`` (null-check and linked-scalar identity),
``ref_obj_id`` (acquired reference), ``range`` (checked packet bytes) and what the
pointer points to (``map``, ``mem_size``, ``frameno``). :func:`bounds_sync` is
``reg_bounds_sync``: each of tnum and ranges learns from the others.
"""

from __future__ import annotations

from operator import attrgetter

from pybpf.verifier import tnum as tn
from pybpf.verifier.tnum import U32, U64, Tnum

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1
BPF_MAX_VAR_OFF = 1 << 29
MAX_PACKET_OFF = 0xFFFF

# Register types (base types; MAYBE_NULL etc. are flags on Reg).
NOT_INIT = "not_init"
SCALAR = "scalar"
PTR_TO_CTX = "ctx"
CONST_PTR_TO_MAP = "map_ptr"
PTR_TO_MAP_VALUE = "map_value"
PTR_TO_MAP_KEY = "map_key"
PTR_TO_STACK = "fp"
PTR_TO_PACKET = "pkt"
PTR_TO_PACKET_META = "pkt_meta"
PTR_TO_PACKET_END = "pkt_end"
PTR_TO_MEM = "mem"
PTR_TO_FLOW_KEYS = "flow_keys"
PTR_TO_SOCK_COMMON = "sock_common"
PTR_TO_SOCKET = "sock"
PTR_TO_FUNC = "func"

PKT_TYPES = (PTR_TO_PACKET, PTR_TO_PACKET_META)


def s64(x: int) -> int:
    x &= U64
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= U32
    return x - (1 << 32) if x >> 31 else x


class Reg:
    __slots__ = ("type", "off", "var_off", "smin", "smax", "umin", "umax", "s32min", "s32max",
                 "u32min", "u32max", "id", "ref_obj_id", "range", "map", "mem_size",
                 "frameno", "maybe_null", "rdonly", "ringbuf", "subprog", "precise")

    def __init__(self) -> None:
        self.type = NOT_INIT
        self.off = 0
        self.id = 0
        self.ref_obj_id = 0
        self.range = 0
        self.map = None
        self.mem_size = 0
        self.frameno = 0
        self.maybe_null = False
        self.rdonly = False
        self.ringbuf = False
        self.subprog = 0
        self.precise = False
        self.mark_unbounded()

    def mark_unbounded(self) -> None:
        """``__mark_reg_unbounded``: nothing known of the value (its type stays)."""
        self.var_off = tn.UNKNOWN
        self.smin, self.smax, self.umin, self.umax = S64_MIN, S64_MAX, 0, U64
        self.s32min, self.s32max, self.u32min, self.u32max = S32_MIN, S32_MAX, 0, U32

    def copy(self) -> "Reg":       # replaced below by a generated straight-line version
        r = Reg.__new__(Reg)
        for name in Reg.__slots__:
            setattr(r, name, getattr(self, name))
        return r

    def assign(self, other: "Reg") -> None:   # likewise
        for name in Reg.__slots__:
            setattr(self, name, getattr(other, name))

    # --- kinds --------------------------------------------------------------------------
    @property
    def is_scalar(self) -> bool:
        return self.type == SCALAR

    @property
    def is_pointer(self) -> bool:
        return self.type not in (SCALAR, NOT_INIT)

    @property
    def is_pkt(self) -> bool:
        return self.type in PKT_TYPES

    def is_const(self, bits: int = 64) -> bool:
        if self.type != SCALAR:
            return False
        return (tn.subreg(self.var_off) if bits == 32 else self.var_off).is_const()

    def const_value(self, bits: int = 64) -> int:
        return (self.var_off.value & U32) if bits == 32 else self.var_off.value

    def type_str(self) -> str:
        t = self.type
        if t == PTR_TO_MEM and self.ringbuf:
            t = "ringbuf_mem"
        if self.rdonly:
            t = "rdonly_" + t
        if self.maybe_null:
            t += "_or_null"
        return t

    def key(self) -> tuple:
        return _KEY(self)

    def __repr__(self) -> str:
        return f"<Reg {format_reg(self, 0)}>"


def _straight_line_copiers() -> None:
    """``Reg.copy`` and ``Reg.assign`` as one assignment per field (copying registers is
    the verifier's commonest operation; a loop over ``__slots__`` is several times slower)."""
    fields = ", ".join(f"self.{n}" for n in Reg.__slots__)
    src = (f"def copy(self):\n    r = _new(Reg)\n"
           f"    {', '.join('r.' + n for n in Reg.__slots__)} = {fields}\n    return r\n"
           f"def assign(self, other):\n"
           f"    {fields} = {', '.join('other.' + n for n in Reg.__slots__)}\n")
    ns: dict = {"Reg": Reg, "_new": object.__new__}
    exec(src, ns)
    Reg.copy = ns["copy"]
    Reg.assign = ns["assign"]


_straight_line_copiers()


class _FrozenReg(Reg):
    """A register no one may change (a write raises): :data:`NOT_INIT_REG`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"NOT_INIT_REG is shared and read only (set {name})")


# The one not-initialised register that fresh frames, cleared registers and fresh stack
# slots share instead of each holding a copy (copying registers is what states spend
# their time on). Code that writes a register in place first replaces this one with a
# copy (``Verifier.write_reg``), or replaces the register as a whole.
NOT_INIT_REG = Reg()
NOT_INIT_REG.__class__ = _FrozenReg
_NOT_INIT = Reg()
_UNKNOWN_SCALAR = Reg()
_UNKNOWN_SCALAR.type = SCALAR
_KEY = attrgetter(*(n for n in Reg.__slots__ if n != "precise"))


# --- construction --------------------------------------------------------------------------

def not_init() -> Reg:
    return _NOT_INIT.copy()


def unknown_scalar() -> Reg:
    return _UNKNOWN_SCALAR.copy()


def known_scalar(value: int) -> Reg:
    r = _UNKNOWN_SCALAR.copy()
    set_known(r, value)
    return r


def set_known(r: Reg, value: int) -> None:
    value &= U64
    r.var_off = _tnum(Tnum, (value, 0))
    r.smin = r.smax = value - _2_64 if value >> 63 else value
    r.umin = r.umax = value
    v32 = value & U32
    r.s32min = r.s32max = v32 - _2_32 if v32 >> 31 else v32
    r.u32min = r.u32max = v32


def set_known32(r: Reg, value: int) -> None:
    value &= U32
    r.var_off = tn.const_subreg(r.var_off, value)
    r.s32min = r.s32max = s32(value)
    r.u32min = r.u32max = value


def mark_unknown(r: Reg) -> None:
    """``__mark_reg_unknown``: a scalar with nothing known (identity dropped)."""
    r.assign(_UNKNOWN_SCALAR)


def pointer(type_: str, **fields: object) -> Reg:
    r = _KNOWN_ZERO.copy()
    r.type = type_
    for name, value in fields.items():
        setattr(r, name, value)
    return r


def mark_32_unbounded(r: Reg) -> None:
    r.s32min, r.s32max, r.u32min, r.u32max = S32_MIN, S32_MAX, 0, U32


def mark_64_unbounded(r: Reg) -> None:
    r.smin, r.smax, r.umin, r.umax = S64_MIN, S64_MAX, 0, U64


# --- bounds synchronisation (reg_bounds_sync) -----------------------------------------------

def update_32(r: Reg) -> None:
    v = tn.subreg(r.var_off)
    r.s32min = max(r.s32min, s32(v.value | (v.mask & 0x80000000)))
    r.s32max = min(r.s32max, s32(v.value | (v.mask & 0x7FFFFFFF)))
    r.u32min = max(r.u32min, v.value)
    r.u32max = min(r.u32max, v.value | v.mask)


def update_64(r: Reg) -> None:
    v = r.var_off
    r.smin = max(r.smin, s64(v.value | (v.mask & (1 << 63))))
    r.smax = min(r.smax, s64(v.value | (v.mask & S64_MAX)))
    r.umin = max(r.umin, v.value)
    r.umax = min(r.umax, v.value | v.mask)


def update_bounds(r: Reg) -> None:
    update_32(r)
    update_64(r)


def _deduce32(r: Reg) -> None:
    if (r.umin >> 32) == (r.umax >> 32):
        r.u32min = max(r.u32min, r.umin & U32)
        r.u32max = min(r.u32max, r.umax & U32)
        if s32(r.umin) <= s32(r.umax):
            r.s32min = max(r.s32min, s32(r.umin))
            r.s32max = min(r.s32max, s32(r.umax))
    if (r.smin >> 32) == (r.smax >> 32):
        r.u32min = max(r.u32min, r.smin & U32)
        r.u32max = min(r.u32max, r.smax & U32)
        if s32(r.smin) <= s32(r.smax):
            r.s32min = max(r.s32min, s32(r.smin))
            r.s32max = min(r.s32max, s32(r.smax))
    if (((r.umin >> 32) + 1) & U32) == ((r.umax >> 32) & U32) and s32(r.umin) < 0 <= s32(r.umax):
        r.s32min = max(r.s32min, s32(r.umin))
        r.s32max = min(r.s32max, s32(r.umax))
    if (((r.smin >> 32) + 1) & U32) == ((r.smax >> 32) & U32) and s32(r.smin) < 0 <= s32(r.smax):
        r.s32min = max(r.s32min, s32(r.smin))
        r.s32max = min(r.s32max, s32(r.smax))
    if s32(r.u32min) <= s32(r.u32max):
        r.s32min = max(r.s32min, s32(r.u32min))
        r.s32max = min(r.s32max, s32(r.u32max))
    if (r.s32min & U32) <= (r.s32max & U32):
        r.u32min = max(r.u32min, r.s32min & U32)
        r.u32max = min(r.u32max, r.s32max & U32)


def _deduce64(r: Reg) -> None:
    if s64(r.umin) <= s64(r.umax):
        r.smin = max(r.smin, s64(r.umin))
        r.smax = min(r.smax, s64(r.umax))
    if (r.smin & U64) <= (r.smax & U64):
        r.umin = max(r.umin, r.smin & U64)
        r.umax = min(r.umax, r.smax & U64)


def _deduce_mixed(r: Reg) -> None:
    hi = U64 & ~U32
    r.umin = max(r.umin, (r.umin & hi) | r.u32min)
    r.umax = min(r.umax, (r.umax & hi) | r.u32max)
    r.smin = max(r.smin, s64((r.smin & hi) | r.u32min))
    r.smax = min(r.smax, s64((r.smax & hi) | r.u32max))
    if r.s32min >= 0 and r.smin >= S32_MIN and r.smax <= S32_MAX:
        r.smin, r.smax = r.s32min, r.s32max
        r.umin, r.umax = r.s32min, r.s32max
        r.var_off = tn.intersect(r.var_off, tn.trange(r.smin, r.smax))


def deduce(r: Reg) -> None:
    _deduce32(r)
    _deduce64(r)
    _deduce_mixed(r)


def bound_offset(r: Reg) -> None:
    v64 = tn.intersect(r.var_off, tn.trange(r.umin, r.umax))
    v32 = tn.intersect(tn.subreg(v64), tn.trange(r.u32min, r.u32max))
    r.var_off = tn.or_(tn.clear_subreg(v64), v32)


def bounds_sync(r: Reg) -> None:
    """``reg_bounds_sync``: update from the tnum, deduce twice, bound the tnum by the
    ranges, update again. The steps of :func:`update_bounds`, :func:`deduce` and
    :func:`bound_offset`, written out on local variables (this runs for almost every
    instruction), with exact shortcuts for a constant and for a fully unknown value."""
    vv, vm = r.var_off
    smin, smax, umin, umax = r.smin, r.smax, r.umin, r.umax
    s32min, s32max, u32min, u32max = r.s32min, r.s32max, r.u32min, r.u32max
    if vm == 0:
        v32 = vv & U32
        sv = vv - _2_64 if vv >> 63 else vv
        sv32 = v32 - _2_32 if v32 >> 31 else v32
        if umin <= vv <= umax and smin <= sv <= smax and u32min <= v32 <= u32max \
                and s32min <= sv32 <= s32max:
            r.smin = r.smax = sv
            r.umin = r.umax = vv
            r.s32min = r.s32max = sv32
            r.u32min = r.u32max = v32
            return
    elif vm == U64 and umin == 0 and umax == U64 and smin == S64_MIN and smax == S64_MAX \
            and u32min == 0 and u32max == U32 and s32min == S32_MIN and s32max == S32_MAX:
        return
    key = (vv, vm, smin, smax, umin, umax, s32min, s32max, u32min, u32max)
    done = _SYNCED.get(key)
    if done is not None:
        (r.var_off, r.smin, r.smax, r.umin, r.umax,
         r.s32min, r.s32max, r.u32min, r.u32max) = done
        return
    for rnd in (0, 1):
        # __update_reg_bounds (32 then 64) from the tnum
        wv, wm = vv & U32, vm & U32
        x = wv | (wm & 0x80000000)
        x = x - _2_32 if x >> 31 else x
        if x > s32min:
            s32min = x
        x = wv | (wm & 0x7FFFFFFF)
        x = x - _2_32 if x >> 31 else x
        if x < s32max:
            s32max = x
        if wv > u32min:
            u32min = wv
        if wv | wm < u32max:
            u32max = wv | wm
        x = vv | (vm & _BIT63)
        x = x - _2_64 if x >> 63 else x
        if x > smin:
            smin = x
        x = vv | (vm & S64_MAX)
        x = x - _2_64 if x >> 63 else x
        if x < smax:
            smax = x
        if vv > umin:
            umin = vv
        if vv | vm < umax:
            umax = vv | vm
        if rnd:
            break
        for rep in (0, 1):
            if rep:
                # the second __reg_deduce_bounds changes nothing after a first that didn't
                now = (smin, smax, umin, umax, s32min, s32max, u32min, u32max, vv, vm)
                if now == before:
                    break
            else:
                before = (smin, smax, umin, umax, s32min, s32max, u32min, u32max, vv, vm)
            # __reg32_deduce_bounds
            if (umin >> 32) == (umax >> 32):
                if umin & U32 > u32min:
                    u32min = umin & U32
                if umax & U32 < u32max:
                    u32max = umax & U32
                a = ((umin & U32 ^ _SB32) - _SB32)
                b = ((umax & U32 ^ _SB32) - _SB32)
                if a <= b:
                    if a > s32min:
                        s32min = a
                    if b < s32max:
                        s32max = b
            if (smin >> 32) == (smax >> 32):
                if smin & U32 > u32min:
                    u32min = smin & U32
                if smax & U32 < u32max:
                    u32max = smax & U32
                a = ((smin & U32 ^ _SB32) - _SB32)
                b = ((smax & U32 ^ _SB32) - _SB32)
                if a <= b:
                    if a > s32min:
                        s32min = a
                    if b < s32max:
                        s32max = b
            if (((umin >> 32) + 1) & U32) == ((umax >> 32) & U32):
                a = ((umin & U32 ^ _SB32) - _SB32)
                b = ((umax & U32 ^ _SB32) - _SB32)
                if a < 0 <= b:
                    if a > s32min:
                        s32min = a
                    if b < s32max:
                        s32max = b
            if (((smin >> 32) + 1) & U32) == ((smax >> 32) & U32):
                a = ((smin & U32 ^ _SB32) - _SB32)
                b = ((smax & U32 ^ _SB32) - _SB32)
                if a < 0 <= b:
                    if a > s32min:
                        s32min = a
                    if b < s32max:
                        s32max = b
            a = ((u32min & U32 ^ _SB32) - _SB32)
            b = ((u32max & U32 ^ _SB32) - _SB32)
            if a <= b:
                if a > s32min:
                    s32min = a
                if b < s32max:
                    s32max = b
            a, b = s32min & U32, s32max & U32
            if a <= b:
                if a > u32min:
                    u32min = a
                if b < u32max:
                    u32max = b
            # __reg64_deduce_bounds
            a = ((umin & U64 ^ _BIT63) - _BIT63)
            b = ((umax & U64 ^ _BIT63) - _BIT63)
            if a <= b:
                if a > smin:
                    smin = a
                if b < smax:
                    smax = b
            a, b = smin & U64, smax & U64
            if a <= b:
                if a > umin:
                    umin = a
                if b < umax:
                    umax = b
            # __reg_deduce_mixed_bounds
            a = (umin & _HI32) | u32min
            if a > umin:
                umin = a
            a = (umax & _HI32) | u32max
            if a < umax:
                umax = a
            a = ((((smin & _HI32) | u32min) & U64 ^ _BIT63) - _BIT63)
            if a > smin:
                smin = a
            a = ((((smax & _HI32) | u32max) & U64 ^ _BIT63) - _BIT63)
            if a < smax:
                smax = a
            if s32min >= 0 and smin >= S32_MIN and smax <= S32_MAX:
                smin, smax = s32min, s32max
                umin, umax = s32min, s32max
                # var_off = tnum_intersect(var_off, tnum_range(smin, smax))
                bits = (smin ^ smax).bit_length()
                if bits <= 63:
                    delta = (1 << bits) - 1
                    vv |= smin & ~delta
                    vm &= delta
                    vv &= ~vm
        # __reg_bound_offset: var_off ∩ tnum_range(umin, umax), its low half also
        # ∩ tnum_range(u32min, u32max)
        bits = (umin ^ umax).bit_length()
        if bits <= 63:
            delta = (1 << bits) - 1
            vv |= umin & ~delta & U64
            vm &= delta
            vv &= ~vm
        bits = (u32min ^ u32max).bit_length()
        delta = (1 << bits) - 1
        lv = (vv & U32) | (u32min & ~delta & U32)
        lm = vm & delta & U32
        lv &= ~lm
        vv = (vv & _HI32) | lv
        vm = ((vm & _HI32) | lm) & ~vv & U64
    var_off = r.var_off = _tnum(Tnum, (vv, vm))
    r.smin, r.smax, r.umin, r.umax = smin, smax, umin, umax
    r.s32min, r.s32max, r.u32min, r.u32max = s32min, s32max, u32min, u32max
    if len(_SYNCED) >= _SYNCED_MAX:
        _SYNCED.clear()
    _SYNCED[key] = (var_off, smin, smax, umin, umax, s32min, s32max, u32min, u32max)


# bounds_sync's results by its inputs (tnum and the eight bounds): a pure function whose
# general case costs a few microseconds, while the same inputs recur (loop iterations,
# the same loads in every program), so a bounded memo pays for itself.
_SYNCED: dict[tuple, tuple] = {}
_SYNCED_MAX = 1 << 14
_2_64, _2_32, _BIT63, _HI32 = 1 << 64, 1 << 32, 1 << 63, U64 & ~U32
_SB32 = 1 << 31
_tnum = tuple.__new__
_KNOWN_ZERO = Reg()        # a known zero (type NOT_INIT): the template of pointer()
set_known(_KNOWN_ZERO, 0)


def _s32(x: int) -> int:
    x &= U32
    return x - _2_32 if x >> 31 else x


def _s64(x: int) -> int:
    x &= U64
    return x - _2_64 if x >> 63 else x


def bounds_sane(r: Reg) -> bool:
    return (r.umin <= r.umax and r.smin <= r.smax and r.u32min <= r.u32max
            and r.s32min <= r.s32max and r.var_off.value & r.var_off.mask == 0)


def assign_32_into_64(r: Reg) -> None:
    r.umin, r.umax = r.u32min, r.u32max
    if r.s32min >= 0 and r.s32max >= 0:   # __reg_assign_32_into_64
        r.smin, r.smax = r.s32min, r.s32max
    else:
        r.smin, r.smax = 0, U32


def zext_32_to_64(r: Reg) -> None:
    r.var_off = tn.subreg(r.var_off)
    assign_32_into_64(r)


def coerce_to_size(r: Reg, size: int) -> None:
    """``coerce_reg_to_size``: keep the low ``size`` bytes (zero extension)."""
    r.var_off = tn.cast(r.var_off, size)
    mask = (1 << (size * 8)) - 1
    if (r.umin & ~mask) == (r.umax & ~mask):
        r.umin &= mask
        r.umax &= mask
    else:
        r.umin, r.umax = 0, mask
    r.smin, r.smax = r.umin, r.umax
    if size < 4:
        mark_32_unbounded(r)
    bounds_sync(r)


def coerce_to_size_sx(r: Reg, size: int) -> None:
    """``coerce_reg_to_size_sx``: the low ``size`` bytes sign-extended - exact for a
    constant; a range whose bits above ``size`` bytes agree at both ends and whose sign
    extension does not straddle zero stays a range; else the narrow signed type's."""
    bits = size * 8
    if r.var_off.is_const():
        set_known(r, _sext(r.var_off.value, bits))
        return
    if (r.smax & U64) >> bits == (r.smin & U64) >> bits:
        a, b = _sext(r.smax, bits), _sext(r.smin, bits)
        lo, hi = min(a, b), max(a, b)
        if (hi >= 0) == (lo >= 0):
            r.smin, r.smax = lo, hi
            r.s32min, r.s32max = s32(lo), s32(hi)
            r.umin, r.umax = lo & U64, hi & U64
            r.u32min, r.u32max = lo & U32, hi & U32
            r.var_off = tn.trange(lo & U64, hi & U64)
            return
    r.smin = r.s32min = -(1 << (bits - 1))      # set_sext64_default_val
    r.smax = r.s32max = (1 << (bits - 1)) - 1
    r.umin = r.u32min = 0
    r.umax, r.u32max = U64, U32
    r.var_off = tn.UNKNOWN


def _sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# --- log text ---------------------------------------------------------------------------

# verbose_snum / verbose_unum: decimal within a 16-bit range, hex beyond it
SNUM_DECIMAL, UNUM_MAX_DECIMAL = range(-0x8000, 0x8000), 0xFFFF


def snum(v: int) -> str:
    v = s64(v)
    return str(v) if v in SNUM_DECIMAL else f"{v & U64:#x}"


def unum(v: int) -> str:
    v &= U64
    return str(v) if v <= UNUM_MAX_DECIMAL else f"{v:#x}"


def _ranges(r: Reg) -> list[str]:
    def sv32(v: int) -> int:
        return v if v in SNUM_DECIMAL else v & U32
    items = [
        ["smin", r.smin, r.smin == S64_MIN],
        ["smax", r.smax, r.smax == S64_MAX],
        ["umin", r.umin, r.umin == 0],
        ["umax", r.umax, r.umax == U64],
        ["smin32", sv32(r.s32min), r.s32min == S32_MIN],
        ["smax32", sv32(r.s32max), r.s32max == S32_MAX],
        ["umin32", r.u32min, r.u32min == 0],
        ["umax32", r.u32max, r.u32max == U32],
    ]
    out = []
    for i, (name, val, omit) in enumerate(items):
        if omit:
            continue
        neg1 = name[0] == "s" and s64(val) < 0
        text = name + "="
        for j in range(i + 2, len(items), 2):
            n2, v2, o2 = items[j]
            if o2 or (v2 & U64) != (val & U64):
                continue
            neg2 = n2[0] == "s" and s64(v2) < 0
            if neg2 != neg1:
                continue
            items[j][2] = True
            text += n2 + "="
        text += snum(val) if name[0] == "s" else unum(val)
        out.append(text)
    return out


def format_reg(r: Reg, frameno: int) -> str:
    """``print_reg_state``: ``0``, ``ctx()``, ``fp-8``, ``map_value(map=m,ks=4,vs=8)``..."""
    t = r.type
    prefix = "P" if t == SCALAR and r.precise else ""
    if t == SCALAR and r.var_off.is_const():
        return prefix + snum(r.var_off.value)
    text = prefix + r.type_str()
    if t == PTR_TO_STACK:
        if r.frameno != frameno:
            text += f"[{r.frameno}]"
        if r.var_off.is_const():
            return text + snum(r.var_off.value + r.off)
    parts = []
    if r.id:
        parts.append(f"id={r.id}")
    if r.ref_obj_id:
        parts.append(f"ref_obj_id={r.ref_obj_id}")
    if t in (CONST_PTR_TO_MAP, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE) and r.map is not None:
        if r.map.name:
            parts.append(f"map={r.map.name}")
        parts.append(f"ks={r.map.key_size},vs={r.map.value_size}")
    if t != SCALAR and r.off:
        parts.append(f"off={snum(r.off)}")
    if r.is_pkt:
        parts.append(f"r={unum(r.range)}")       # (past or at pkt_end: a negative, as u64)
    if t == PTR_TO_MEM:
        parts.append(f"sz={r.mem_size}")
    if t == SCALAR or not r.var_off.is_const():
        parts.extend(_ranges(r))
        if not r.var_off.is_unknown():
            parts.append(f"var_off={r.var_off}")
    return f"{text}({','.join(parts)})"

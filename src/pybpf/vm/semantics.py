"""What each instruction does, as Python statements: the definition of correct.

:func:`statements` turns one instruction into the Python source lines that perform it on
registers held in local variables ``r0``..``r10`` (always unsigned 64-bit ints). The
block compiler (:mod:`pybpf.vm.compiler`) strings these together; nothing else in the
interpreter knows what an opcode means. Control transfer (jumps, calls, exit) is left
to the compiler: this module covers everything that computes or touches memory.

Semantics follow RFC 9669 and Linux: 32-bit ALU results are zero-extended; unsigned
division by zero gives 0 and modulo by zero leaves dst (truncated to 32 bits in the
32-bit forms); signed division truncates toward zero and INT_MIN / -1 wraps to INT_MIN
(INT_MIN % -1 is 0); shift counts are masked to the operand width; the immediate of a
64-bit operation is sign-extended to 64 bits.
"""

from __future__ import annotations

from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import Form

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64 = 1 << 63
S32 = 1 << 31


def sdiv(a: int, b: int, bits: int) -> int:
    """Signed division of two unsigned ``bits``-wide values, truncating toward zero."""
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    a = ((a & mask) ^ sign) - sign
    b = ((b & mask) ^ sign) - sign
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return q & mask


def smod(a: int, b: int, bits: int) -> int:
    """Signed remainder (sign of the dividend); by zero the dividend is kept."""
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    sa = ((a & mask) ^ sign) - sign
    sb = ((b & mask) ^ sign) - sign
    if sb == 0:
        return a & mask
    r = abs(sa) % abs(sb)
    if sa < 0:
        r = -r
    return r & mask


def bswap(value: int, bits: int) -> int:
    """Reverse the byte order of the low ``bits`` of ``value``."""
    n = bits // 8
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(n, "little"), "big")


RUNTIME = {"M64": M64, "M32": M32, "S64": S64, "S32": S32, "SDIV": sdiv, "SMOD": smod,
           "BSWAP": bswap}


def _imm(insn: Instruction, width: int) -> int:
    """The immediate as an unsigned operand of the given width (sign-extended first)."""
    return insn.imm & (M64 if width == 64 else M32)


_ALU_BINARY = {"add": "+", "sub": "-", "mul": "*"}
_ALU_BITWISE = {"or": "|", "and": "&", "xor": "^"}


def alu(insn: Instruction, form: Form) -> list[str]:
    """ALU and ALU64 operations on dst with a register or immediate source."""
    d = f"r{insn.dst}"
    width = form.width
    mask = "M64" if width == 64 else "M32"
    if form.source_is_reg:
        x = f"r{insn.src}"
        const = None
    else:
        const = _imm(insn, width)
        x = hex(const)
    op = form.op
    shift_mask = width - 1
    if op in _ALU_BINARY:
        return [f"{d} = ({d} {_ALU_BINARY[op]} {x}) & {mask}"]
    if op in _ALU_BITWISE:
        if width == 64:
            return [f"{d} = {d} {_ALU_BITWISE[op]} {x}"]
        return [f"{d} = ({d} {_ALU_BITWISE[op]} {x}) & M32"]
    if op == "mov":
        return [f"{d} = {x}" if width == 64 or const is not None else f"{d} = {x} & M32"]
    if op == "lsh":
        count = f"({x} & {shift_mask})" if const is None else str(const & shift_mask)
        return [f"{d} = ({d} << {count}) & {mask}"]
    if op == "rsh":
        count = f"({x} & {shift_mask})" if const is None else str(const & shift_mask)
        src = d if width == 64 else f"({d} & M32)"
        return [f"{d} = {src} >> {count}"]
    if op == "arsh":
        count = f"({x} & {shift_mask})" if const is None else str(const & shift_mask)
        sign = "S64" if width == 64 else "S32"
        src = d if width == 64 else f"({d} & M32)"
        return [f"{d} = ((({src} ^ {sign}) - {sign}) >> {count}) & {mask}"]
    if op == "div":
        if const is not None:
            return [f"{d} = ({d} & {mask}) // {x}" if const else f"{d} = 0"]
        if width == 64:
            return [f"{d} = {d} // {x} if {x} else 0"]
        return [f"_b = {x} & M32", f"{d} = ({d} & M32) // _b if _b else 0"]
    if op == "mod":
        if const is not None:
            return [f"{d} = ({d} & {mask}) % {x}" if const else f"{d} = {d} & {mask}"]
        if width == 64:
            return [f"{d} = {d} % {x} if {x} else {d}"]
        return [f"_b = {x} & M32", f"{d} = ({d} & M32) % _b if _b else {d} & M32"]
    if op == "sdiv":
        return [f"{d} = SDIV({d}, {x}, {width})"]
    if op == "smod":
        return [f"{d} = SMOD({d}, {x}, {width})"]
    raise AssertionError(f"no semantics for ALU op {op}")


def end(insn: Instruction, form: Form) -> list[str]:
    """Byte-order conversion on a little-endian machine: ``le`` truncates, others swap."""
    d = f"r{insn.dst}"
    bits = form.width
    if form.op == "le":
        return [] if bits == 64 else [f"{d} = {d} & {hex((1 << bits) - 1)}"]
    if bits == 16:
        return [f"{d} = (({d} & 0xff) << 8) | (({d} >> 8) & 0xff)"]
    return [f"{d} = BSWAP({d}, {bits})"]


def memory(insn: Instruction, form: Form) -> list[str]:
    """Loads, stores and atomics: address = base register + offset, checked by the memory."""
    kind = form.kind
    size = form.size
    if kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ):
        base, target = insn.src, insn.dst
    else:
        base, target = insn.dst, insn.src
    addr = f"r{base}" if insn.off == 0 else f"(r{base} + {insn.off}) & M64"
    if kind in (Kind.LOAD, Kind.LOAD_ACQ):
        return [f"r{target} = L{size}({addr}, PC)"]
    if kind is Kind.LOADSX:
        return [f"r{target} = S{size}({addr}, PC) & M64"]
    if kind is Kind.STORE_IMM:
        return [f"W{size}({addr}, {insn.imm & M64:#x}, PC)"]
    if kind in (Kind.STORE, Kind.STORE_REL):
        return [f"W{size}({addr}, r{target}, PC)"]
    # Read-modify-write atomics. W masks the value to the access size.
    s = f"r{insn.src}"
    lines = [f"_a = {addr}", f"_o = L{size}(_a, PC)"]
    op = form.op
    if op in ("add", "or", "and", "xor"):
        sym = {"add": "+", "or": "|", "and": "&", "xor": "^"}[op]
        lines.append(f"W{size}(_a, _o {sym} {s}, PC)")
        if form.fetch:
            lines.append(f"{s} = _o")
    elif op == "xchg":
        lines += [f"W{size}(_a, {s}, PC)", f"{s} = _o"]
    elif op == "cmpxchg":
        expected = "r0" if size == 8 else "(r0 & M32)"
        lines += [f"if _o == {expected}:", f"    W{size}(_a, {s}, PC)", "r0 = _o"]
    else:
        raise AssertionError(f"no semantics for atomic op {op}")
    return lines


def movsx(insn: Instruction, form: Form) -> list[str]:
    bits = form.off or 0
    sign = 1 << (bits - 1)
    mask = "M64" if form.width == 64 else "M32"
    return [f"r{insn.dst} = (((r{insn.src} & {hex((1 << bits) - 1)}) ^ {hex(sign)}) - {hex(sign)})"
            f" & {mask}"]


def packet(insn: Instruction, form: Form) -> list[str]:
    """Legacy packet loads: big-endian, from the run's packet; failure ends the program."""
    size = form.size
    if form.kind is Kind.LD_ABS:
        return [f"r0 = PKT{size}({insn.imm}, PC)"]
    return [f"r0 = PKT{size}((r{insn.src} + {insn.imm}) & M32, PC)"]


def writes_register(insn: Instruction, form: Form) -> set[int]:
    """Registers an instruction writes (used to refuse writes to r10)."""
    kind = form.kind
    if kind in (Kind.ALU, Kind.NEG, Kind.MOVSX, Kind.END, Kind.LDDW, Kind.LOAD, Kind.LOADSX,
                Kind.LOAD_ACQ, Kind.ADDR_SPACE_CAST):
        return {insn.dst}
    if kind is Kind.ATOMIC:
        return {insn.src, 0} if form.op == "cmpxchg" else ({insn.src} if form.fetch else set())
    if kind in (Kind.LD_ABS, Kind.LD_IND, Kind.CALL, Kind.CALLX):
        return {0}
    return set()


def statements(insn: Instruction, form: Form) -> list[str]:
    """The Python statements performing a non-control-flow instruction."""
    kind = form.kind
    if kind is Kind.ALU:
        return alu(insn, form)
    if kind is Kind.NEG:
        return [f"r{insn.dst} = -r{insn.dst} & {'M64' if form.width == 64 else 'M32'}"]
    if kind is Kind.MOVSX:
        return movsx(insn, form)
    if kind is Kind.END:
        return end(insn, form)
    if kind in (Kind.LOAD, Kind.LOADSX, Kind.STORE_IMM, Kind.STORE, Kind.ATOMIC,
                Kind.LOAD_ACQ, Kind.STORE_REL):
        return memory(insn, form)
    if kind in (Kind.LD_ABS, Kind.LD_IND):
        return packet(insn, form)
    if kind is Kind.ADDR_SPACE_CAST:
        return [f"r{insn.dst} = ADDR_SPACE_CAST(r{insn.src}, {insn.imm}, PC)"]
    raise AssertionError(f"{form.name} is control flow, not a statement")

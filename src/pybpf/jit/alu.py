"""ALU, ALU64, neg, movsx and byte-order instructions as LLVM IR.

The semantics are :mod:`pybpf.vm.semantics`'s: 32-bit results are zero-extended; the
immediate of a 64-bit operation is sign-extended; shift counts are masked to the width;
unsigned x/0 is 0 and x%0 is x; signed division truncates toward zero with x/0 = 0,
x%0 = x, INT_MIN/-1 = INT_MIN and INT_MIN%-1 = 0. LLVM's ``udiv``/``sdiv`` are undefined
on those inputs, so the divisor is replaced by 1 where the result is chosen by ``select``
anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import Form

if TYPE_CHECKING:
    from pybpf.jit.codegen import FunctionBuilder

_SIMPLE = {"add": "add", "sub": "sub", "mul": "mul", "or": "or_", "and": "and_", "xor": "xor"}
_SHIFTS = {"lsh": "shl", "rsh": "lshr", "arsh": "ashr"}


def emit(fb: "FunctionBuilder", insn: Instruction, form: Form) -> None:
    kind = form.kind
    if kind is Kind.ALU:
        value = _alu(fb, insn, form)
    elif kind is Kind.NEG:
        d = _operand(fb, insn.dst, form.width)
        value = fb.builder.neg(d)
    elif kind is Kind.MOVSX:
        b = fb.builder
        low = b.trunc(fb.reg(insn.src), ir.IntType(form.off or 0))
        value = b.sext(low, ir.IntType(form.width))
    else:
        value = _end(fb, insn, form)
        if value is None:
            return
    fb.set_reg(insn.dst, value)


def _operand(fb: "FunctionBuilder", reg: int, width: int) -> ir.Value:
    value = fb.reg(reg)
    return fb.builder.trunc(value, ir.IntType(32)) if width == 32 else value


def _alu(fb: "FunctionBuilder", insn: Instruction, form: Form) -> ir.Value:
    b = fb.builder
    width = form.width
    ty = ir.IntType(width)
    op = form.op
    if form.source_is_reg:
        x = _operand(fb, insn.src, width)
    else:
        x = ir.Constant(ty, insn.imm & ((1 << width) - 1))
    if op == "mov":
        return x
    d = _operand(fb, insn.dst, width)
    if op in _SIMPLE:
        return getattr(b, _SIMPLE[op])(d, x)
    if op in _SHIFTS:
        return getattr(b, _SHIFTS[op])(d, b.and_(x, ir.Constant(ty, width - 1)))
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    by_zero = b.icmp_unsigned("==", x, zero)
    if op in ("div", "mod"):
        safe = b.select(by_zero, one, x)
        if op == "div":
            return b.select(by_zero, zero, b.udiv(d, safe))
        return b.select(by_zero, d, b.urem(d, safe))
    minus_one = b.icmp_unsigned("==", x, ir.Constant(ty, (1 << width) - 1))
    if op == "sdiv":
        int_min = b.icmp_unsigned("==", d, ir.Constant(ty, 1 << (width - 1)))
        # x/0 is chosen below; INT_MIN / -1 wraps to INT_MIN, which is INT_MIN / 1.
        safe = b.select(b.or_(by_zero, b.and_(int_min, minus_one)), one, x)
        return b.select(by_zero, zero, b.sdiv(d, safe))
    if op == "smod":
        # x % -1 is 0, which is x % 1 (and INT_MIN % -1 would trap).
        safe = b.select(b.or_(by_zero, minus_one), one, x)
        return b.select(by_zero, d, b.srem(d, safe))
    raise AssertionError(f"no translation for ALU op {op}")


def _end(fb: "FunctionBuilder", insn: Instruction, form: Form) -> ir.Value | None:
    """le truncates (le64 does nothing); be and bswap reverse the low ``width`` bits."""
    b = fb.builder
    bits = form.width
    if form.op == "le":
        if bits == 64:
            return None
        return b.trunc(fb.reg(insn.dst), ir.IntType(bits))
    low = b.trunc(fb.reg(insn.dst), ir.IntType(bits)) if bits < 64 else fb.reg(insn.dst)
    return b.call(fb.mb.intrinsic("llvm.bswap", bits), [low])

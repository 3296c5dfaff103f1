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

from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import Form

if TYPE_CHECKING:
    from pybpf.jit.codegen import FunctionBuilder

_SIMPLE = {"add": "add", "sub": "sub", "mul": "mul", "or": "or", "and": "and", "xor": "xor"}
_SHIFTS = {"lsh": "shl", "rsh": "lshr", "arsh": "ashr"}


def emit(fb: "FunctionBuilder", insn: Instruction, form: Form) -> None:
    kind = form.kind
    width = form.width
    if kind is Kind.ALU:
        value = _alu(fb, insn, form)
    elif kind is Kind.NEG:
        value = fb.op(f"sub i{width} 0, {fb.trunc(fb.reg(insn.dst), width)}")
    elif kind is Kind.MOVSX:
        bits = form.off or 0            # movsx forms name 8, 16 or 32
        value = fb.op(f"sext i{bits} {fb.trunc(fb.reg(insn.src), bits)} to i{width}")
    else:
        ended = _end(fb, insn, form)
        if ended is None:
            return
        value, width = ended
    fb.set_reg(insn.dst, value, width)


def _alu(fb: "FunctionBuilder", insn: Instruction, form: Form) -> str:
    """The operation's i<width> result."""
    width = form.width
    ty = f"i{width}"
    op = form.op
    if form.source_is_reg:
        x = fb.trunc(fb.reg(insn.src), width)
    else:
        x = str(insn.imm & ((1 << width) - 1))
    if op == "mov":
        return x
    d = fb.trunc(fb.reg(insn.dst), width)
    if op in _SIMPLE:
        return fb.op(f"{_SIMPLE[op]} {ty} {d}, {x}")
    if op in _SHIFTS:
        return fb.op(f"{_SHIFTS[op]} {ty} {d}, {fb.op(f'and {ty} {x}, {width - 1}')}")
    by_zero = fb.op(f"icmp eq {ty} {x}, 0")
    if op in ("div", "mod"):
        safe = fb.op(f"select i1 {by_zero}, {ty} 1, {ty} {x}")
        if op == "div":
            return fb.op(f"select i1 {by_zero}, {ty} 0, {ty} {fb.op(f'udiv {ty} {d}, {safe}')}")
        return fb.op(f"select i1 {by_zero}, {ty} {d}, {ty} {fb.op(f'urem {ty} {d}, {safe}')}")
    minus_one = fb.op(f"icmp eq {ty} {x}, {(1 << width) - 1}")
    if op == "sdiv":
        int_min = fb.op(f"icmp eq {ty} {d}, {1 << (width - 1)}")
        # x/0 is chosen below; INT_MIN / -1 wraps to INT_MIN, which is INT_MIN / 1.
        wraps = fb.op(f"and i1 {int_min}, {minus_one}")
        safe = fb.op(f"select i1 {fb.op(f'or i1 {by_zero}, {wraps}')}, {ty} 1, {ty} {x}")
        return fb.op(f"select i1 {by_zero}, {ty} 0, {ty} {fb.op(f'sdiv {ty} {d}, {safe}')}")
    if op == "smod":
        # x % -1 is 0, which is x % 1 (and INT_MIN % -1 would trap).
        safe = fb.op(f"select i1 {fb.op(f'or i1 {by_zero}, {minus_one}')}, {ty} 1, {ty} {x}")
        return fb.op(f"select i1 {by_zero}, {ty} {d}, {ty} {fb.op(f'srem {ty} {d}, {safe}')}")
    raise AssertionError(f"no translation for ALU op {op}")


def _end(fb: "FunctionBuilder", insn: Instruction, form: Form) -> tuple[str, int] | None:
    """le truncates (le64 does nothing); be and bswap reverse the low ``width`` bits. The
    result and its width."""
    bits = form.width
    if form.op == "le":
        if bits == 64:
            return None
        return fb.trunc(fb.reg(insn.dst), bits), bits
    low = fb.trunc(fb.reg(insn.dst), bits)
    return fb.op(f"call i{bits} {fb.mb.intrinsic('llvm.bswap', bits)}(i{bits} {low})"), bits

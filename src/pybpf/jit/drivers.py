"""Native loops that run a program many times with no Python between runs.

``bpf_repeat(ctx, entry, n, budget) -> runs`` calls a program's entry ``n`` times on
the same arguments, as BPF_PROG_TEST_RUN's ``repeat`` does (the same context and packet
each time, so what one run changes the next one sees). It stops early at the first run
that ends with a status (a fault, or a Python exception such as a tail call that Python
follows), and returns how many runs finished normally before it: the caller deals with
that run and calls again for the rest.
"""

from __future__ import annotations

from llvmlite import ir

from pybpf.jit import abi
from pybpf.jit.codegen import CTX_T, I64, c64

REPEAT = "bpf_repeat"
ENTRY_PTR_T = ir.FunctionType(I64, [CTX_T]).as_pointer()
REPEAT_T = ir.FunctionType(I64, [CTX_T, ENTRY_PTR_T, I64, I64])


def exported() -> list[str]:
    return [REPEAT]


def define(module: ir.Module) -> None:
    _define_repeat(module)


def _slot(b: ir.IRBuilder, ctx: ir.Value, index: int) -> ir.Value:
    return b.gep(ctx, [c64(index)], inbounds=True)


def _define_repeat(module: ir.Module) -> ir.Function:
    fn = ir.Function(module, REPEAT_T, REPEAT)
    ctx, entry_fn, count, budget = fn.args
    start, loop, body, step, done = (fn.append_basic_block(n)
                                     for n in ("start", "loop", "body", "step", "done"))
    b = ir.IRBuilder(start)
    args = [b.load(_slot(b, ctx, abi.ARGS + i)) for i in range(5)]
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64, "i")
    i.add_incoming(c64(0), start)
    b.cbranch(b.icmp_unsigned("<", i, count), body, done)
    b.position_at_end(body)
    # Slots 0..8 as Python's _enter sets them (the CPU slot stays as it is).
    for index, value in ((abi.STATUS, c64(abi.ST_OK)), (abi.PC, c64(0)),
                         (abi.BUDGET, budget), (abi.CLEAR, c64(1))):
        b.store(value, _slot(b, ctx, index))
    for k, value in enumerate(args):
        b.store(value, _slot(b, ctx, abi.ARGS + k))
    b.call(entry_fn, [ctx])
    failed = b.icmp_unsigned("!=", b.load(_slot(b, ctx, abi.STATUS)), c64(abi.ST_OK))
    b.cbranch(failed, done, step)
    b.position_at_end(step)
    following = b.add(i, c64(1))
    i.add_incoming(following, step)
    b.branch(loop)
    b.position_at_end(done)
    b.ret(i)
    return fn

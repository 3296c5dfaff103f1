"""Loads, stores, atomics and legacy packet loads as LLVM IR, each access checked.

Every access is checked against the memory's region table before native code touches
the address, as :class:`pybpf.vm.memory.Memory` checks it for the interpreter:

* inline, the address is compared with the last region hit (one for loads, one for
  stores: the run context keeps its start and size; only regions of 8 bytes or more are
  remembered, so ``address - start <= size - access`` never wraps) and on a hit the
  access is one native load or store;
* otherwise the shared runtime (:mod:`.runtime`) binary-searches the table, remembers the
  region, and does the access natively, through the Python callback for a context
  region, or records the fault (the status is checked after the call);
* ``r10 + off`` with the whole access inside the frame's 512 bytes needs no check at all:
  r10 is read-only and always the end of the frame's stack region.

Memory is little-endian whatever the host is (values are byte-swapped on a big-endian
one). Atomics use ``atomicrmw``/``cmpxchg`` (sequentially consistent), load-acquire and
store-release atomic loads and stores, when the address is naturally aligned; a
misaligned one (which some hosts trap on) is done as a plain load and store, as the
interpreter does every access.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable

from llvmlite import ir

from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import Form
from pybpf.jit import abi
from pybpf.jit.codegen import CTX_T, I32, I64, UNLIKELY, c64
from pybpf.jit.runtime import (
    CHECK, LOAD, MEMORY_CB_T, READ, STORE, UPDATE, WRITE, swap_bytes,
)
from pybpf.vm.compiler import MAX_STACK

if TYPE_CHECKING:
    from pybpf.jit.codegen import FunctionBuilder

LITTLE_ENDIAN = sys.byteorder == "little"
PACKET_CB_T = ir.FunctionType(I64, [CTX_T] + [I64] * 3)
_RMW = {"add": "add", "or": "or", "and": "and", "xor": "xor", "xchg": "xchg"}
_COMBINE = {"add": "add", "or": "or_", "and": "and_", "xor": "xor"}


def _cache_hit(fb: "FunctionBuilder", addr: ir.Value, size: int, mode: int) -> ir.Value:
    """Whether the access lies inside the last region hit for its kind."""
    b = fb.builder
    start, span = (abi.READ_START, abi.READ_SPAN) if mode == READ else \
        (abi.WRITE_START, abi.WRITE_SPAN)
    offset = b.sub(addr, fb.load_slot(start))
    return b.icmp_unsigned("<=", offset, b.sub(fb.load_slot(span), c64(size)))


def _diamond(fb: "FunctionBuilder", hit: ir.Value, fast: Callable[[], ir.Value | None],
             slow: Callable[[], ir.Value | None]) -> ir.Value | None:
    """``fast()`` when ``hit`` (likely), else ``slow()``; the merged value, if any."""
    b = fb.builder
    fast_bb, slow_bb, merge = fb.new_block("fast"), fb.new_block("slow"), fb.new_block("merge")
    b.cbranch(hit, fast_bb, slow_bb).set_weights([UNLIKELY[1], UNLIKELY[0]])
    b.position_at_end(fast_bb)
    v1 = fast()
    end1 = b.block
    b.branch(merge)
    b.position_at_end(slow_bb)
    v2 = slow()
    end2 = b.block
    b.branch(merge)
    b.position_at_end(merge)
    if v1 is None:
        return None
    phi = b.phi(v1.type)
    phi.add_incoming(v1, end1)
    phi.add_incoming(v2, end2)
    return phi


def _aligned(fb: "FunctionBuilder", addr: ir.Value, bits: int, atomic: Callable[[], ir.Value | None],
             plain: Callable[[], ir.Value | None]) -> ir.Value | None:
    """``atomic()`` when ``addr`` is naturally aligned, else ``plain()``."""
    if bits == 8:
        return atomic()
    b = fb.builder
    aligned = b.icmp_unsigned("==", b.and_(addr, c64(bits // 8 - 1)), c64(0))
    return _diamond(fb, aligned, atomic, plain)


def _native_load(fb: "FunctionBuilder", addr: ir.Value, bits: int, acquire: bool) -> ir.Value:
    b = fb.builder
    ptr = b.inttoptr(addr, ir.IntType(bits).as_pointer())
    if acquire:
        value = _aligned(fb, addr, bits, lambda: b.load_atomic(ptr, "acquire", bits // 8),
                         lambda: b.load(ptr, align=1))
    else:
        value = b.load(ptr, align=1)
    value = swap_bytes(b, fb.mb.module, value)
    return b.zext(value, I64) if bits < 64 else value


def _native_store(fb: "FunctionBuilder", addr: ir.Value, value: ir.Value, release: bool) -> None:
    b = fb.builder
    bits = value.type.width
    value = swap_bytes(b, fb.mb.module, value)
    ptr = b.inttoptr(addr, value.type.as_pointer())
    if release:
        _aligned(fb, addr, bits,
                 lambda: _none(b.store_atomic(value, ptr, "release", bits // 8)),
                 lambda: _none(b.store(value, ptr, align=1)))
    else:
        b.store(value, ptr, align=1)


def _none(_value: object) -> None:
    return None


# -- instructions ---------------------------------------------------------------------------

def emit(fb: "FunctionBuilder", insn: Instruction, form: Form, pc: int) -> None:
    kind = form.kind
    b = fb.builder
    size = form.size
    bits = size * 8
    loading = kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ)
    base = insn.src if loading else insn.dst
    addr = fb.reg(base) if insn.off == 0 else b.add(fb.reg(base), c64(insn.off))
    stack = base == 10 and -MAX_STACK <= insn.off and insn.off + size <= 0
    if kind is Kind.ATOMIC:
        _atomic(fb, insn, form, pc, addr, stack)
        return
    if loading:
        acquire = kind is Kind.LOAD_ACQ

        def runtime_load() -> ir.Value:
            value = b.call(fb.mb.runtime[LOAD], [fb.ctx, addr, c64(size), c64(pc)])
            fb.check_status()
            return value

        def slow_load() -> ir.Value:
            """The context's load view first (the last context region a load met): a
            value it holds needs no call; anything else goes to the runtime."""
            offset = b.sub(addr, fb.load_slot(abi.VIEW_START))
            inside = b.icmp_unsigned("<", offset, fb.load_slot(abi.VIEW_SIZE))
            probe, found = fb.new_block("view_probe"), fb.new_block("view_found")
            missed, merge = fb.new_block("view_missed"), fb.new_block("view_merge")
            b.cbranch(inside, probe, missed)
            b.position_at_end(probe)
            view = b.inttoptr(fb.load_slot(abi.VIEW), I64.as_pointer())
            record = b.gep(view, [b.mul(offset, c64(abi.VIEW_WORDS))], inbounds=True)
            known = b.icmp_unsigned("!=", b.and_(b.load(record), c64(size)), c64(0))
            b.cbranch(known, found, missed)
            b.position_at_end(found)
            remembered = b.load(b.gep(record, [c64(size.bit_length())], inbounds=True))
            b.branch(merge)
            b.position_at_end(missed)
            value = runtime_load()
            end = b.block
            b.branch(merge)
            b.position_at_end(merge)
            phi = b.phi(I64)
            phi.add_incoming(remembered, found)
            phi.add_incoming(value, end)
            return phi

        if stack:
            value = _native_load(fb, addr, bits, acquire)
        else:
            value = _diamond(fb, _cache_hit(fb, addr, size, READ),
                             lambda: _native_load(fb, addr, bits, acquire), slow_load)
        if kind is Kind.LOADSX:      # a context field's value too: as Memory.load_signed
            value = b.sext(b.trunc(value, ir.IntType(bits)), I64)
        fb.set_reg(insn.dst, value)
        return
    source = c64(insn.imm) if kind is Kind.STORE_IMM else fb.reg(insn.src)
    data = b.trunc(source, ir.IntType(bits)) if bits < 64 else source
    release = kind is Kind.STORE_REL

    def slow_store() -> None:
        b.call(fb.mb.runtime[STORE], [fb.ctx, addr, c64(size), c64(pc), b.zext(data, I64)
                                      if bits < 64 else data])
        fb.check_status()

    if stack:
        _native_store(fb, addr, data, release)
    else:
        _diamond(fb, _cache_hit(fb, addr, size, WRITE),
                 lambda: _native_store(fb, addr, data, release), slow_store)


def _atomic(fb: "FunctionBuilder", insn: Instruction, form: Form, pc: int, addr: ir.Value,
            stack: bool) -> None:
    """Read-modify-write: the old value goes to src (fetch forms) or r0 (cmpxchg).

    Checked as a read, then as a write of a writable region (so a miss faults as the
    interpreter's load would, a read-only region as its store would); native memory gets
    the atomic instruction, a context region a load and a store through Python."""
    b = fb.builder
    size, bits = form.size, form.width
    ty = ir.IntType(bits)
    op = form.op
    src = fb.reg(insn.src)
    operand = b.trunc(src, ty) if bits < 64 else src
    expected = None
    if op == "cmpxchg":
        r0 = fb.reg(0)
        expected = b.trunc(r0, ty) if bits < 64 else r0

    def update(load: Callable[[], ir.Value], store: Callable[[ir.Value], None]) -> ir.Value:
        """The operation as a load and a store (misaligned, or a context region)."""
        old = load()
        if op == "cmpxchg":
            equal, merge = fb.new_block("cx_equal"), fb.new_block("cx_done")
            b.cbranch(b.icmp_unsigned("==", old, expected), equal, merge)
            b.position_at_end(equal)
            store(operand)
            b.branch(merge)
            b.position_at_end(merge)
            return old
        store(getattr(b, _COMBINE[op])(old, operand) if op in _COMBINE else operand)
        return old

    def native() -> ir.Value:
        ptr = b.inttoptr(addr, ty.as_pointer())
        module = fb.mb.module

        def plain() -> ir.Value:
            return update(lambda: swap_bytes(b, module, b.load(ptr, align=1)),
                          lambda v: _none(b.store(swap_bytes(b, module, v), ptr, align=1)))

        if not LITTLE_ENDIAN:
            return plain()

        def atomic() -> ir.Value:
            if op == "cmpxchg":
                return b.extract_value(b.cmpxchg(ptr, expected, operand, "seq_cst", "seq_cst"), 0)
            return b.atomic_rmw(_RMW[op], ptr, operand, "seq_cst")

        return _aligned(fb, addr, bits, atomic, plain)

    def python() -> ir.Value:
        return update(lambda: b.trunc(_python_access(fb, addr, size, pc), ty),
                      lambda v: _none(_python_access(fb, addr, size, pc, v)))

    def slow() -> ir.Value:
        status = b.call(fb.mb.runtime[CHECK], [fb.ctx, addr, c64(size), c64(UPDATE), c64(pc)])
        native_bb, py_bb = fb.new_block("atomic_native"), fb.new_block("atomic_py")
        switch = b.switch(status, fb.bail)
        switch.add_case(ir.Constant(I32, 0), native_bb)
        switch.add_case(ir.Constant(I32, 1), py_bb)
        b.position_at_end(py_bb)
        return _diamond_from(fb, native_bb, native, python)

    if stack:
        old = native()
    else:
        old = _diamond(fb, _cache_hit(fb, addr, size, UPDATE), native, slow)
    if op == "cmpxchg":
        fb.set_reg(0, old)
    elif form.fetch:
        fb.set_reg(insn.src, old)


def _diamond_from(fb: "FunctionBuilder", other: ir.Block, first: Callable[[], ir.Value],
                  second: Callable[[], ir.Value]) -> ir.Value:
    """Emit ``second()`` here and ``first()`` in block ``other``; merge their values."""
    b = fb.builder
    v2 = second()
    end2 = b.block
    merge = fb.new_block("merge")
    b.branch(merge)
    b.position_at_end(other)
    v1 = first()
    end1 = b.block
    b.branch(merge)
    b.position_at_end(merge)
    phi = b.phi(v1.type)
    phi.add_incoming(v1, end1)
    phi.add_incoming(v2, end2)
    return phi


def _python_access(fb: "FunctionBuilder", addr: ir.Value, size: int, pc: int,
                   store: ir.Value | None = None) -> ir.Value:
    """A context-region access through the Python callback (unwinding if it failed)."""
    b = fb.builder
    callback = b.inttoptr(fb.load_slot(abi.MEMORY_CB), MEMORY_CB_T.as_pointer())
    value = b.call(callback, [fb.ctx, addr, c64(size), c64(pc), c64(0 if store is None else 1),
                              c64(0) if store is None else b.zext(store, I64)])
    fb.check_status()
    return value


def packet(fb: "FunctionBuilder", insn: Instruction, form: Form, pc: int) -> None:
    """r0 = the big-endian value at a packet offset (LD_ABS: imm; LD_IND: src + imm, as a
    signed 32-bit offset). Native when the packet is a plain buffer and the offset is in
    it; anything else (no packet, negative offsets, packet views) goes to Python, which
    ends the program with r0 = 0 where the kernel would."""
    b = fb.builder
    size = form.size
    bits = size * 8
    if form.kind is Kind.LD_ABS:
        offset = c64(insn.imm)
    else:
        offset = b.sext(b.trunc(b.add(fb.reg(insn.src), c64(insn.imm)), I32), I64)
    native_bb, slow, merge = fb.new_block("pkt_native"), fb.new_block("pkt_slow"), \
        fb.new_block("pkt_merge")
    usable = b.and_(b.icmp_unsigned("!=", fb.load_slot(abi.PACKET_NATIVE), c64(0)),
                    b.icmp_signed(">=", offset, c64(0)))
    inside = b.icmp_signed("<=", b.add(offset, c64(size)), fb.load_slot(abi.PACKET_LEN))
    b.cbranch(b.and_(usable, inside), native_bb, slow)
    b.position_at_end(native_bb)
    ptr = b.inttoptr(b.add(fb.load_slot(abi.PACKET_ADDR), offset), ir.IntType(bits).as_pointer())
    raw = b.load(ptr, align=1)
    if bits > 8 and LITTLE_ENDIAN:        # packet data is big-endian
        raw = b.call(fb.mb.intrinsic("llvm.bswap", bits), [raw])
    value = b.zext(raw, I64)
    native_end = b.block
    b.branch(merge)
    b.position_at_end(slow)
    callback = b.inttoptr(fb.load_slot(abi.PACKET_CB), PACKET_CB_T.as_pointer())
    slow_value = b.call(callback, [fb.ctx, offset, c64(size), c64(pc)])
    fb.check_status()
    slow_end = b.block
    b.branch(merge)
    b.position_at_end(merge)
    phi = b.phi(I64)
    phi.add_incoming(value, native_end)
    phi.add_incoming(slow_value, slow_end)
    fb.set_reg(0, phi)

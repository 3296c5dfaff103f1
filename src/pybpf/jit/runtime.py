"""What every compiled program shares, compiled once: the slow paths of memory access.

``bpf_check(ctx, address, size, mode, pc) -> i32`` finds the region holding an access
(binary search of the region table in the run context), remembers it as the last region
hit, and returns 0 (native memory), 1 (a context region: the access goes to Python) or 2
(a fault, recorded in the context as the interpreter would report it). ``bpf_load`` and
``bpf_store`` are a whole slow-path access: check, then the native access or the Python
callback. Programs declare these and the JIT links them to the one copy, which keeps each
program's module (and its compile time) small.
"""

from __future__ import annotations

import sys

from llvmlite import ir

from pybpf.jit import abi
from pybpf.jit.codegen import CTX_T, I32, I64, c64

READ, WRITE, UPDATE = 0, 1, 2      # bpf_check modes (UPDATE: read-modify-write)
CHECK, LOAD, STORE, FIND = "bpf_check", "bpf_load", "bpf_store", "bpf_find"
FIND_T = ir.FunctionType(I64.as_pointer(), [CTX_T, I64])                # ctx, addr
# ``site``: the access cache entry to remember a native region in (see abi.ACCESS_CACHE),
# or 0
CHECK_T = ir.FunctionType(I32, [CTX_T] + [I64] * 5)      # ctx, addr, size, mode, pc, site
LOAD_T = ir.FunctionType(I64, [CTX_T] + [I64] * 4)       # ctx, addr, size, pc, site
STORE_T = ir.FunctionType(ir.VoidType(), [CTX_T] + [I64] * 5)  # ctx, addr, size, pc, value, site
MEMORY_CB_T = ir.FunctionType(I64, [CTX_T] + [I64] * 5)
SIGNATURES = {CHECK: CHECK_T, LOAD: LOAD_T, STORE: STORE_T}


def declare(module: ir.Module) -> dict[str, ir.Function]:
    """The runtime's functions, declared in a program's module."""
    out = {}
    for name, ftype in SIGNATURES.items():
        fn = ir.Function(module, ftype, name)
        fn.attributes.add("cold")
        fn.attributes.add("nounwind")
        out[name] = fn
    return out


def exported() -> list[str]:
    """The runtime's symbols that programs link to."""
    from pybpf.jit import drivers, natives

    return list(SIGNATURES) + list(abi.NATIVE_HELPERS.values()) + \
        list(abi.TRUSTED_HELPERS.values()) + natives.exported() + drivers.exported()


def module_ir() -> str:
    from pybpf.jit import drivers, natives

    module = ir.Module(name="bpf_runtime")
    find = define_find(module)
    check = define_check(module, find)
    _define_access(module, check, store=False)
    _define_access(module, check, store=True)
    natives.define(module, find, check)
    drivers.define(module)
    return str(module)


def define_find(module: ir.Module) -> ir.Function:
    """``i64* bpf_find(ctx, address)``: the region table entry (start, end, flags, view) of the
    last region starting at or below ``address``, or null.

    The regions found last are remembered in the context (abi.RECENT: start, end and
    entry of each), so a program going back and forth between a few regions (context,
    packet, map values, stack) finds them without the binary search of the table."""
    fn = ir.Function(module, FIND_T, FIND)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    ctx, addr = fn.args
    entry = fn.append_basic_block("entry")
    b = ir.IRBuilder(entry)

    def slot(index: ir.Value | int) -> ir.Value:
        return b.gep(ctx, [index if isinstance(index, ir.Value) else c64(index)], inbounds=True)

    for k in range(abi.RECENT_ENTRIES):
        base = abi.RECENT + 3 * k
        hit, following = fn.append_basic_block(f"recent{k}"), fn.append_basic_block(f"next{k}")
        inside = b.and_(b.icmp_unsigned("<=", b.load(slot(base)), addr),
                        b.icmp_unsigned("<", addr, b.load(slot(base + 1))))
        b.cbranch(inside, hit, following)
        b.position_at_end(hit)
        b.ret(b.inttoptr(b.load(slot(base + 2)), I64.as_pointer()))
        b.position_at_end(following)
    search = b.block
    loop, body, done = (fn.append_basic_block(n) for n in ("loop", "body", "done"))
    table = b.inttoptr(b.load(slot(abi.REGIONS)), I64.as_pointer())
    count = b.load(slot(abi.NREGIONS))
    b.branch(loop)
    # lo = the number of regions starting at or below the address.
    b.position_at_end(loop)
    lo, hi = b.phi(I64, "lo"), b.phi(I64, "hi")
    lo.add_incoming(c64(0), search)
    hi.add_incoming(count, search)
    b.cbranch(b.icmp_unsigned("<", lo, hi), body, done)
    b.position_at_end(body)
    mid = b.lshr(b.add(lo, hi), c64(1))
    start = b.load(b.gep(table, [b.mul(mid, c64(abi.ENTRY_WORDS))], inbounds=True))
    below = b.icmp_unsigned("<=", start, addr)
    lo.add_incoming(b.select(below, b.add(mid, c64(1)), lo), body)
    hi.add_incoming(b.select(below, hi, mid), body)
    b.branch(loop)
    b.position_at_end(done)
    none, remember = fn.append_basic_block("none"), fn.append_basic_block("remember")
    b.cbranch(b.icmp_unsigned("==", lo, c64(0)), none, remember)
    b.position_at_end(none)
    b.ret(ir.Constant(I64.as_pointer(), None))
    b.position_at_end(remember)
    found = b.gep(table, [b.mul(b.sub(lo, c64(1)), c64(abi.ENTRY_WORDS))], inbounds=True)
    # Replace the entries round-robin (RECENT_NEXT counts replacements).
    turn = b.load(slot(abi.RECENT_NEXT))
    b.store(b.add(turn, c64(1)), slot(abi.RECENT_NEXT))
    base = b.add(c64(abi.RECENT), b.mul(b.urem(turn, c64(abi.RECENT_ENTRIES)), c64(3)))
    b.store(b.load(found), slot(base))
    b.store(b.load(b.gep(found, [c64(1)], inbounds=True)), slot(b.add(base, c64(1))))
    b.store(b.ptrtoint(found, I64), slot(b.add(base, c64(2))))
    b.ret(found)
    return fn


def define_check(module: ir.Module, find: ir.Function) -> ir.Function:
    """``i32 bpf_check(ctx, address, size, mode, pc, site)``: find the region; remember a
    native one in the access cache entry ``site`` (when not 0)."""
    fn = ir.Function(module, CHECK_T, CHECK)
    fn.attributes.add("nounwind")
    ctx, addr, size, mode, pc, site = fn.args
    entry, found, bounds, native, fault = (fn.append_basic_block(n) for n in
                                           ("entry", "found", "bounds", "native", "fault"))
    b = ir.IRBuilder(entry)

    def slot(i: int) -> ir.Value:
        return b.gep(ctx, [c64(i)], inbounds=True)

    entry_ptr = b.call(find, [ctx, addr])
    b.cbranch(b.icmp_unsigned("==", entry_ptr, ir.Constant(entry_ptr.type, None)), fault, found)
    b.position_at_end(found)
    r_start = b.load(entry_ptr)
    r_end = b.load(b.gep(entry_ptr, [c64(1)], inbounds=True))
    flags = b.load(b.gep(entry_ptr, [c64(2)], inbounds=True))
    inside = b.and_(b.icmp_unsigned("<", addr, r_end),
                    b.icmp_unsigned(">=", b.sub(r_end, addr), size))
    b.cbranch(inside, bounds, fault)
    # In bounds: a store needs a writable region (a read-only one faults as a write).
    b.position_at_end(bounds)
    writable = b.icmp_unsigned("!=", b.and_(flags, c64(abi.RF_WRITABLE)), c64(0))
    refused = b.and_(b.icmp_unsigned("!=", mode, c64(READ)), b.not_(writable))
    python = b.icmp_unsigned("!=", b.and_(flags, c64(abi.RF_PYTHON)), c64(0))
    ok = fn.append_basic_block("ok")
    b.cbranch(refused, fault, ok)
    b.position_at_end(ok)
    py_bb = fn.append_basic_block("python")
    b.cbranch(python, py_bb, native)
    b.position_at_end(py_bb)
    view = b.load(b.gep(entry_ptr, [c64(3)], inbounds=True))
    b.store(view, slot(abi.VIEW))
    b.store(r_start, slot(abi.VIEW_START))
    # (no view: a size of 0, so inline probes never read one)
    b.store(b.select(b.icmp_unsigned("!=", view, c64(0)), b.sub(r_end, r_start), c64(0)),
            slot(abi.VIEW_SIZE))
    b.ret(ir.Constant(I32, 1))
    # Native: remembered for the site (only regions of 8 bytes or more, so that the inline
    # check ``address - start <= size - access`` never wraps; a store's site only ever
    # sees regions it may write, having faulted on the others).
    b.position_at_end(native)
    span = b.sub(r_end, r_start)
    remember, done_ok = fn.append_basic_block("remember"), fn.append_basic_block("done_ok")
    b.cbranch(b.and_(b.icmp_unsigned(">=", span, c64(8)), b.icmp_unsigned("!=", site, c64(0))),
              remember, done_ok)
    b.position_at_end(remember)
    entry_p = b.inttoptr(site, I64.as_pointer())
    b.store(r_start, entry_p)
    b.store(span, b.gep(entry_p, [c64(1)], inbounds=True))
    b.branch(done_ok)
    b.position_at_end(done_ok)
    b.ret(ir.Constant(I32, 0))
    # A fault: a write flag only when the region refused a store (or a store missed).
    b.position_at_end(fault)
    refused_store = b.phi(ir.IntType(1), "refused")
    refused_store.add_incoming(ir.Constant(ir.IntType(1), 0), entry)
    refused_store.add_incoming(ir.Constant(ir.IntType(1), 0), found)
    refused_store.add_incoming(ir.Constant(ir.IntType(1), 1), bounds)
    write = b.zext(b.or_(refused_store, b.icmp_unsigned("==", mode, c64(WRITE))), I64)
    for index, value in ((abi.FAULT_ADDR, addr), (abi.FAULT_SIZE, size),
                         (abi.FAULT_WRITE, write), (abi.PC, pc), (abi.STATUS, c64(abi.ST_MEMORY))):
        b.store(value, slot(index))
    b.ret(ir.Constant(I32, 2))
    return fn


def swap_bytes(b: ir.IRBuilder, module: ir.Module, value: ir.Value) -> ir.Value:
    """BPF memory is little-endian: swap on a big-endian host (nothing to do on others)."""
    if sys.byteorder == "little" or value.type.width == 8:
        return value
    return b.call(module.declare_intrinsic("llvm.bswap", [value.type]), [value])


def _view_load(fn: ir.Function, b: ir.IRBuilder, ctx: ir.Value, addr: ir.Value,
               size: ir.Value) -> None:
    """Return the context region's remembered value for this load when its view has one
    (see abi's load view); else go on (positioned where the callback is made)."""
    view = b.load(b.gep(ctx, [c64(abi.VIEW)], inbounds=True))
    have_view, hit, miss = (fn.append_basic_block(n) for n in ("have_view", "view_hit",
                                                                "view_miss"))
    b.cbranch(b.icmp_unsigned("!=", view, c64(0)), have_view, miss)
    b.position_at_end(have_view)
    offset = b.sub(addr, b.load(b.gep(ctx, [c64(abi.VIEW_START)], inbounds=True)))
    record = b.gep(b.inttoptr(view, I64.as_pointer()), [b.mul(offset, c64(abi.VIEW_WORDS))],
                   inbounds=True)
    known = b.load(record)
    b.cbranch(b.icmp_unsigned("!=", b.and_(known, size), c64(0)), hit, miss)
    b.position_at_end(hit)
    cttz = ir.Function(fn.module, ir.FunctionType(I64, [I64, ir.IntType(1)]), "llvm.cttz.i64")
    index = b.add(b.call(cttz, [size, ir.Constant(ir.IntType(1), 1)]), c64(1))
    b.ret(b.load(b.gep(record, [index], inbounds=True)))
    b.position_at_end(miss)


def _define_access(module: ir.Module, check: ir.Function, store: bool) -> ir.Function:
    """``bpf_load``/``bpf_store``: check, then a native access by size or the callback."""
    fn = ir.Function(module, STORE_T if store else LOAD_T, STORE if store else LOAD)
    fn.attributes.add("nounwind")
    ctx, addr, size, pc = fn.args[:4]
    site = fn.args[-1]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    status = b.call(check, [ctx, addr, size, c64(WRITE if store else READ), pc, site])
    native, python, failed = (fn.append_basic_block(n) for n in ("native", "python", "failed"))
    switch = b.switch(status, failed)
    switch.add_case(ir.Constant(I32, 0), native)
    switch.add_case(ir.Constant(I32, 1), python)
    b.position_at_end(failed)
    b.ret_void() if store else b.ret(c64(0))
    b.position_at_end(python)
    if not store:
        _view_load(fn, b, ctx, addr, size)
    callback = b.inttoptr(b.load(b.gep(ctx, [c64(abi.MEMORY_CB)], inbounds=True)),
                          MEMORY_CB_T.as_pointer())
    value = fn.args[4] if store else c64(0)
    result = b.call(callback, [ctx, addr, size, pc, c64(1 if store else 0), value])
    b.ret_void() if store else b.ret(result)
    b.position_at_end(native)
    bad = fn.append_basic_block("bad_size")
    switch = b.switch(size, bad)
    for nbytes in (1, 2, 4, 8):
        bb = fn.append_basic_block(f"size{nbytes}")
        switch.add_case(c64(nbytes), bb)
        b.position_at_end(bb)
        ty = ir.IntType(nbytes * 8)
        ptr = b.inttoptr(addr, ty.as_pointer())
        if store:
            data = b.trunc(fn.args[4], ty) if nbytes < 8 else fn.args[4]
            b.store(swap_bytes(b, module, data), ptr, align=1)
            b.ret_void()
        else:
            loaded = swap_bytes(b, module, b.load(ptr, align=1))
            b.ret(b.zext(loaded, I64) if nbytes < 8 else loaded)
    b.position_at_end(bad)
    b.unreachable()
    return fn

"""Loads, stores, atomics and legacy packet loads as LLVM IR, each access checked.

Every access is checked against the memory's region table before native code touches
the address, as :class:`pybpf.vm.memory.Memory` checks it for the interpreter:

* inline, the address is compared with the region this access *site* (instruction) hit
  last (the run context's access cache keeps each site's start and size; only regions
  of 8 bytes or more are remembered, so ``address - start <= size - access`` never
  wraps), and on a hit the access is one native load or store: a site nearly always
  meets the same region, whatever the others meet;
* otherwise the shared runtime (:mod:`.runtime`) binary-searches the table, remembers the
  region for the site, and does the access natively, through the Python callback for a
  context region, or records the fault (the status is checked after the call);
* ``r10 + off`` with the whole access inside the frame's 512 bytes needs no check at all:
  r10 is read-only and always the end of the frame's stack region; nor does an access
  the verifier proved in bounds of native memory (a *trusted* pc: only when the program
  was loaded ``unchecked=True``).

Memory is little-endian whatever the host is (values are byte-swapped on a big-endian
one). Atomics use ``atomicrmw``/``cmpxchg`` (sequentially consistent), load-acquire and
store-release atomic loads and stores, when the address is naturally aligned; a
misaligned one (which some hosts trap on) is done as a plain load and store, as the
interpreter does every access.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, Iterable

from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import Form
from pybpf.jit import abi
from pybpf.jit.codegen import LIKELY, M64
from pybpf.jit.mapcalls import argument_sites
from pybpf.jit.runtime import CHECK, LOAD, STORE, UPDATE
from pybpf.vm.compiler import MAX_STACK

if TYPE_CHECKING:
    from pybpf.jit.codegen import FunctionBuilder
    from pybpf.vm.compiler import Program

LITTLE_ENDIAN = sys.byteorder == "little"
_RMW = {"add": "add", "or": "or", "and": "and", "xor": "xor", "xchg": "xchg"}
_COMBINE = {"add": "add", "or": "or", "and": "and", "xor": "xor"}


def _swap(fb: "FunctionBuilder", value: str, bits: int) -> str:
    """BPF memory is little-endian: swap on a big-endian host (nothing to do on others)."""
    if LITTLE_ENDIAN or bits == 8:
        return value
    return fb.op(f"call i{bits} {fb.mb.intrinsic('llvm.bswap', bits)}(i{bits} {value})")


MEMORY_KINDS = frozenset({Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ, Kind.STORE, Kind.STORE_IMM,
                          Kind.STORE_REL, Kind.ATOMIC})


def in_frame(offset: int, size: int) -> bool:
    """Whether ``size`` bytes at ``r10 + offset`` lie inside the frame's stack (which is
    always there: they need no check)."""
    return -MAX_STACK <= offset and offset + size <= 0


def unchecked(insn: Instruction, form: Form, pc: int, trusted: frozenset[int] | None) -> bool:
    """Whether a load/store/atomic needs no check: ``r10 + off`` inside the frame, or an
    access the verifier proved in bounds of native memory (``trusted``)."""
    base = insn.src if form.kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ) else insn.dst
    return (base == 10 and in_frame(insn.off, form.size)) or \
        (trusted is not None and pc in trusted)


def access_sites(prog: "Program", trusted: frozenset[int] | None,
                 map_calls: Iterable[int] = ()) -> dict[int | tuple[int, int], int]:
    """The checked access sites: each one's entry in the access cache. A load, store or
    atomic's is keyed by its pc (pc order); then, in checked code, the pointer arguments
    of the map helper calls ``map_calls`` (see .mapcalls), keyed (pc, register)."""
    sites: list[int | tuple[int, int]] = [
        pc for pc, (insn, form) in sorted(prog.by_pc.items())
        if form.kind in MEMORY_KINDS and not unchecked(insn, form, pc, trusted)]
    if trusted is None:
        sites += argument_sites(prog, map_calls)
    return {key: index for index, key in enumerate(sites)}


def site_address(fb: "FunctionBuilder", key: int | tuple[int, int]) -> str:
    """The address of the access cache entry of site ``key`` (see access_sites)."""
    entry = fb.op(f"getelementptr inbounds i64, ptr %cache, i64 {2 * fb.mb.sites[key]}")
    return fb.op(f"ptrtoint ptr {entry} to i64")


def _cache_hit(fb: "FunctionBuilder", addr: str, size: int, site: str) -> str:
    """Whether the access lies inside the region its site hit last."""
    entry = fb.op(f"inttoptr i64 {site} to ptr")
    span_at = fb.op(f"getelementptr inbounds i64, ptr {entry}, i64 1")
    offset = fb.op(f"sub i64 {addr}, {fb.op(f'load i64, ptr {entry}')}")
    room = fb.op(f"sub i64 {fb.op(f'load i64, ptr {span_at}')}, {size}")
    return fb.op(f"icmp ule i64 {offset}, {room}")


def _diamond(fb: "FunctionBuilder", hit: str, fast: Callable[[], str | None],
             slow: Callable[[], str | None], ty: str | None = None) -> str | None:
    """``fast()`` when ``hit`` (likely), else ``slow()``; their values merged (of type
    ``ty``), if they have any."""
    fast_bb, slow_bb, merge = fb.new_label(), fb.new_label(), fb.new_label()
    fb.cbr(hit, fast_bb, slow_bb, LIKELY)
    fb.start(fast_bb)
    v1 = fast()
    end1 = fb.label
    fb.br(merge)
    fb.start(slow_bb)
    v2 = slow()
    end2 = fb.label
    fb.br(merge)
    fb.start(merge)
    if ty is None:
        return None
    return fb.op(f"phi {ty} [{v1}, %{end1}], [{v2}, %{end2}]")


def _aligned(fb: "FunctionBuilder", addr: str, bits: int, atomic: Callable[[], str | None],
             plain: Callable[[], str | None], ty: str | None = None) -> str | None:
    """``atomic()`` when ``addr`` is naturally aligned, else ``plain()``."""
    if bits == 8:
        return atomic()
    low = fb.op(f"and i64 {addr}, {bits // 8 - 1}")
    return _diamond(fb, fb.op(f"icmp eq i64 {low}, 0"), atomic, plain, ty)


def _native_load(fb: "FunctionBuilder", addr: str, bits: int, acquire: bool) -> str:
    """The i64 (zero-extended) at native address ``addr``."""
    ty = f"i{bits}"
    ptr = fb.op(f"inttoptr i64 {addr} to ptr")
    if acquire:
        value = _aligned(fb, addr, bits,
                         lambda: fb.op(f"load atomic {ty}, ptr {ptr} acquire, align {bits // 8}"),
                         lambda: fb.op(f"load {ty}, ptr {ptr}, align 1"), ty)
    else:
        value = fb.op(f"load {ty}, ptr {ptr}, align 1")
    assert value is not None
    return fb.zext(_swap(fb, value, bits), bits)


def _native_store(fb: "FunctionBuilder", addr: str, data: str, bits: int,
                  release: bool) -> None:
    """Store i<bits> ``data`` at native address ``addr``."""
    ty = f"i{bits}"
    value = _swap(fb, data, bits)
    ptr = fb.op(f"inttoptr i64 {addr} to ptr")
    if release:
        atomic = f"store atomic {ty} {value}, ptr {ptr} release, align {bits // 8}"
        _aligned(fb, addr, bits, lambda: fb.emit(atomic),
                 lambda: fb.emit(f"store {ty} {value}, ptr {ptr}, align 1"))
    else:
        fb.emit(f"store {ty} {value}, ptr {ptr}, align 1")


# -- instructions ---------------------------------------------------------------------------

def emit(fb: "FunctionBuilder", insn: Instruction, form: Form, pc: int) -> None:
    kind = form.kind
    size = form.size
    bits = size * 8
    loading = kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ)
    base = insn.src if loading else insn.dst
    addr = fb.reg(base) if insn.off == 0 else fb.op(f"add i64 {fb.reg(base)}, {insn.off & M64}")
    stack = unchecked(insn, form, pc, fb.mb.trusted)
    site = "0" if stack else site_address(fb, pc)
    if kind is Kind.ATOMIC:
        _atomic(fb, insn, form, pc, addr, stack, site)
        return
    if loading:
        acquire = kind is Kind.LOAD_ACQ

        def runtime_load() -> str:
            value = fb.op(f"call i64 {fb.mb.runtime(LOAD)}(ptr %ctx, i64 {addr}, i64 {size}, "
                          f"i64 {pc}, i64 {site})")
            fb.check_status()
            return value

        def slow_load() -> str:
            """The context's load view first (the last context region a load met): a
            value it holds needs no call; anything else goes to the runtime."""
            offset = fb.op(f"sub i64 {addr}, {fb.load_slot(abi.VIEW_START)}")
            inside = fb.op(f"icmp ult i64 {offset}, {fb.load_slot(abi.VIEW_SIZE)}")
            probe, found, missed, merge = (fb.new_label() for _ in range(4))
            fb.cbr(inside, probe, missed)
            fb.start(probe)
            view = fb.op(f"inttoptr i64 {fb.load_slot(abi.VIEW)} to ptr")
            index = fb.op(f"mul i64 {offset}, {abi.VIEW_WORDS}")
            record = fb.op(f"getelementptr inbounds i64, ptr {view}, i64 {index}")
            sizes = fb.op(f"and i64 {fb.op(f'load i64, ptr {record}')}, {size}")
            fb.cbr(fb.op(f"icmp ne i64 {sizes}, 0"), found, missed)
            fb.start(found)
            slot = fb.op(f"getelementptr inbounds i64, ptr {record}, i64 {size.bit_length()}")
            remembered = fb.op(f"load i64, ptr {slot}")
            fb.br(merge)
            fb.start(missed)
            value = runtime_load()
            end = fb.label
            fb.br(merge)
            fb.start(merge)
            return fb.op(f"phi i64 [{remembered}, %{found}], [{value}, %{end}]")

        if stack:
            value = _native_load(fb, addr, bits, acquire)
        else:
            merged = _diamond(fb, _cache_hit(fb, addr, size, site),
                              lambda: _native_load(fb, addr, bits, acquire), slow_load, "i64")
            assert merged is not None
            value = merged
        if kind is Kind.LOADSX:      # a context field's value too: as Memory.load_signed
            value = fb.op(f"sext i{bits} {fb.trunc(value, bits)} to i64")
        fb.set_reg(insn.dst, value)
        return
    if kind is Kind.STORE_IMM:
        data = str(insn.imm & ((1 << bits) - 1))
    else:
        data = fb.trunc(fb.reg(insn.src), bits)
    release = kind is Kind.STORE_REL

    def slow_store() -> None:
        fb.emit(f"call void {fb.mb.runtime(STORE)}(ptr %ctx, i64 {addr}, i64 {size}, i64 {pc}, "
                f"i64 {fb.zext(data, bits)}, i64 {site})")
        fb.check_status()

    if stack:
        _native_store(fb, addr, data, bits, release)
    else:
        _diamond(fb, _cache_hit(fb, addr, size, site),
                 lambda: _native_store(fb, addr, data, bits, release), slow_store)


def _atomic(fb: "FunctionBuilder", insn: Instruction, form: Form, pc: int, addr: str,
            stack: bool, site: str) -> None:
    """Read-modify-write: the old value goes to src (fetch forms) or r0 (cmpxchg).

    Checked as a read, then as a write of a writable region (so a miss faults as the
    interpreter's load would, a read-only region as its store would); native memory gets
    the atomic instruction, a context region a load and a store through Python."""
    size, bits = form.size, form.width
    ty = f"i{bits}"
    op = form.op
    operand = fb.trunc(fb.reg(insn.src), bits)
    expected = fb.trunc(fb.reg(0), bits) if op == "cmpxchg" else ""

    def update(load: Callable[[], str], store: Callable[[str], None]) -> str:
        """The operation as a load and a store (misaligned, or a context region)."""
        old = load()
        if op == "cmpxchg":
            equal, merge = fb.new_label(), fb.new_label()
            fb.cbr(fb.op(f"icmp eq {ty} {old}, {expected}"), equal, merge)
            fb.start(equal)
            store(operand)
            fb.br(merge)
            fb.start(merge)
            return old
        store(fb.op(f"{_COMBINE[op]} {ty} {old}, {operand}") if op in _COMBINE else operand)
        return old

    def native() -> str | None:
        ptr = fb.op(f"inttoptr i64 {addr} to ptr")

        def plain() -> str:
            return update(lambda: _swap(fb, fb.op(f"load {ty}, ptr {ptr}, align 1"), bits),
                          lambda v: fb.emit(f"store {ty} {_swap(fb, v, bits)}, ptr {ptr}, "
                                            f"align 1"))

        if not LITTLE_ENDIAN:
            return plain()

        def atomic() -> str:
            if op == "cmpxchg":
                pair = fb.op(f"cmpxchg ptr {ptr}, {ty} {expected}, {ty} {operand} seq_cst "
                             f"seq_cst")
                return fb.op(f"extractvalue {{{ty}, i1}} {pair}, 0")
            return fb.op(f"atomicrmw {_RMW[op]} ptr {ptr}, {ty} {operand} seq_cst")

        return _aligned(fb, addr, bits, atomic, plain, ty)

    def python() -> str:
        def store(value: str) -> None:
            _python_access(fb, addr, size, pc, fb.zext(value, bits))

        return update(lambda: fb.trunc(_python_access(fb, addr, size, pc), bits), store)

    def slow() -> str:
        status = fb.op(f"call i32 {fb.mb.runtime(CHECK)}(ptr %ctx, i64 {addr}, i64 {size}, "
                       f"i64 {UPDATE}, i64 {pc}, i64 {site})")
        native_bb, py_bb = fb.new_label(), fb.new_label()
        fb.emit(f"switch i32 {status}, label %{fb.bail} [i32 0, label %{native_bb} "
                f"i32 1, label %{py_bb}]")
        fb.start(py_bb)
        return _diamond_from(fb, native_bb, native, python, ty)

    if stack:
        old = native()
    else:
        old = _diamond(fb, _cache_hit(fb, addr, size, site), native, slow, ty)
    assert old is not None
    if op == "cmpxchg":
        fb.set_reg(0, old, bits)
    elif form.fetch:
        fb.set_reg(insn.src, old, bits)


def _diamond_from(fb: "FunctionBuilder", other: str, first: Callable[[], str | None],
                  second: Callable[[], str], ty: str) -> str:
    """Emit ``second()`` here and ``first()`` in block ``other``; merge their values."""
    v2 = second()
    end2 = fb.label
    merge = fb.new_label()
    fb.br(merge)
    fb.start(other)
    v1 = first()
    end1 = fb.label
    fb.br(merge)
    fb.start(merge)
    return fb.op(f"phi {ty} [{v1}, %{end1}], [{v2}, %{end2}]")


def _python_access(fb: "FunctionBuilder", addr: str, size: int, pc: int,
                   store: str | None = None) -> str:
    """A context-region access through the Python callback (unwinding if it failed); a
    store's value is an i64."""
    callback = fb.op(f"inttoptr i64 {fb.load_slot(abi.MEMORY_CB)} to ptr")
    writing = "i64 0, i64 0" if store is None else f"i64 1, i64 {store}"
    value = fb.op(f"call i64 {callback}(ptr %ctx, i64 {addr}, i64 {size}, i64 {pc}, {writing})")
    fb.check_status()
    return value


def packet(fb: "FunctionBuilder", insn: Instruction, form: Form, pc: int) -> None:
    """r0 = the big-endian value at a packet offset (LD_ABS: imm; LD_IND: src + imm, as a
    signed 32-bit offset). Native when the packet is a plain buffer and the offset is in
    it; anything else (no packet, negative offsets, packet views) goes to Python, which
    ends the program with r0 = 0 where the kernel would."""
    size = form.size
    bits = size * 8
    if form.kind is Kind.LD_ABS:
        offset = str(insn.imm & M64)
    else:
        low = fb.trunc(fb.op(f"add i64 {fb.reg(insn.src)}, {insn.imm & M64}"), 32)
        offset = fb.op(f"sext i32 {low} to i64")
    native_bb, slow, merge = fb.new_label(), fb.new_label(), fb.new_label()
    native = fb.op(f"icmp ne i64 {fb.load_slot(abi.PACKET_NATIVE)}, 0")
    usable = fb.op(f"and i1 {native}, {fb.op(f'icmp sge i64 {offset}, 0')}")
    end = fb.op(f"add i64 {offset}, {size}")
    inside = fb.op(f"icmp sle i64 {end}, {fb.load_slot(abi.PACKET_LEN)}")
    fb.cbr(fb.op(f"and i1 {usable}, {inside}"), native_bb, slow)
    fb.start(native_bb)
    address = fb.op(f"add i64 {fb.load_slot(abi.PACKET_ADDR)}, {offset}")
    raw = fb.op(f"load i{bits}, ptr {fb.op(f'inttoptr i64 {address} to ptr')}, align 1")
    if bits > 8 and LITTLE_ENDIAN:        # packet data is big-endian
        raw = fb.op(f"call i{bits} {fb.mb.intrinsic('llvm.bswap', bits)}(i{bits} {raw})")
    value = fb.zext(raw, bits)
    native_end = fb.label
    fb.br(merge)
    fb.start(slow)
    callback = fb.op(f"inttoptr i64 {fb.load_slot(abi.PACKET_CB)} to ptr")
    slow_value = fb.op(f"call i64 {callback}(ptr %ctx, i64 {offset}, i64 {size}, i64 {pc})")
    fb.check_status()
    slow_end = fb.label
    fb.br(merge)
    fb.start(merge)
    fb.set_reg(0, fb.op(f"phi i64 [{value}, %{native_end}], [{slow_value}, %{slow_end}]"))

"""Map helper calls on a map the loader resolved: checked inline, then the map's own code.

A checked ``bpf_map_{lookup,update,delete}_elem`` call costs more in its checks than in
the map operation: the native helper first makes sure r1 is a map's handle (a region
lookup), then that the key (and value) are readable (another each). Where r1 holds, at
the call, what a map ``lddw`` loaded in the straight code before it (``r1 = map ll``, as
clang emits it before every such call), it is a map's handle by construction: only the
pointer arguments need checking, and those go through the access cache as a load does
(:mod:`.memops`: one access cache entry per argument, and the runtime's ``bpf_check``
when the region differs from last time). Then a lookup goes straight to its map kind's
code - an array's inline (the kernel inlines it too: ``array_map_gen_lookup``), a hash
table's or an LPM trie's to the runtime's - and an update or delete to the helper's
trusted variant, with nothing left to check. Unchecked code (``unchecked=True``: the
verifier proved the arguments) has no checks to make.

Everything else is as the checked helper does it, in the same order: a map whose kind
the native helper does not handle goes to the checked helper (hence to Python) before
anything is checked; a key or value in a context region too (Python reads it); an
unreadable one faults as the checked helper's check would.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, Iterable

from pybpf.isa import Kind
from pybpf.isa.uapi import MapType
from pybpf.jit import abi
from pybpf.jit.codegen import LIKELY
from pybpf.jit.natives import LOOKUP_HASH, LOOKUP_LPM
from pybpf.jit.runtime import CHECK, READ
from pybpf.maps._base import (HANDLE_AUX, HANDLE_CPUS, HANDLE_KEY_SIZE, HANDLE_KIND,
                              HANDLE_MAX_ENTRIES,
                              HANDLE_STRIDE, HANDLE_TYPE, HANDLE_VALUE_SIZE, HANDLE_VALUES,
                              NATIVE_ARRAY, NATIVE_HASH, NATIVE_LPM)
from pybpf.maps.lpm_trie import FLAGS as LPM_FLAGS, NODE_HDR, NODE_IM as LPM_NODE_IM
from pybpf.maps._table import CTL_BYTES, CTL_NBUCKETS, GOLDEN64, MERSENNE61
from pybpf.maps._table import HASH as TABLE_HASH, HDR as TABLE_HDR, NEXT as TABLE_NEXT
from pybpf.maps.lpm_trie import PLEN as LPM_PLEN
from pybpf.vm import compiler, semantics

if TYPE_CHECKING:
    from pybpf.jit.codegen import FunctionBuilder
    from pybpf.vm.compiler import Program

# By helper: the map kinds its native implementation handles, and its pointer arguments
# with the offset in the map handle of the u32 giving their size (key_size, value_size).
NATIVE_KINDS = {1: (NATIVE_ARRAY, NATIVE_HASH, NATIVE_LPM), 2: (NATIVE_ARRAY, NATIVE_HASH),
                3: (NATIVE_ARRAY, NATIVE_HASH)}
POINTER_ARGS = {1: ((2, HANDLE_KEY_SIZE),), 3: ((2, HANDLE_KEY_SIZE),),
                2: ((2, HANDLE_KEY_SIZE), (3, HANDLE_VALUE_SIZE))}
_MAP_LDDW = ("map_fd", "map_idx")
_LPM_NODE4 = NODE_HDR + 8      # an LPM trie node with 4 bytes of data (rounded up to 8)
_INLINE_HASHES = (MapType.HASH, MapType.PERCPU_HASH)   # (LRU lookups also reorder)
_JUMPS = (Kind.JUMP, Kind.JA, Kind.GOTOL, Kind.MAY_GOTO)


class _Straight:
    """Walks back from an instruction through the straight code before it (no jump lands
    in between: each instruction there ran just before the next) to where a register got
    its value."""

    def __init__(self, prog: "Program"):
        self.prog = prog
        self.landings = set(prog.functions)     # where control may arrive from elsewhere
        for pc, (insn, form) in prog.by_pc.items():
            if form.kind in _JUMPS:
                self.landings.update(compiler._targets(pc, insn, form))
        self.pcs = list(prog.by_pc)              # in order
        self.position = {pc: k for k, pc in enumerate(self.pcs)}

    def origin(self, at: int, reg: int) -> tuple[str, int] | None:
        """What ``reg`` holds before the instruction at ``at``: ("lddw", its pc) for what
        a map ``lddw`` loaded, ("stack", offset) for r10 plus a constant, else None."""
        prog, pcs = self.prog, self.pcs
        k = self.position[at]
        offset = 0
        while k > 0 and pcs[k] not in self.landings:
            k -= 1
            insn, form = prog.by_pc[pcs[k]]
            kind = form.kind
            if kind in (Kind.CALL, Kind.CALLX):
                if reg <= 5:                # a call's r0..r5 are its own afterwards
                    return None
                continue
            if reg not in semantics.writes_register(insn, form):
                continue
            if kind is Kind.LDDW:
                return ("lddw", pcs[k]) if form.op in _MAP_LDDW and not offset else None
            if kind is not Kind.ALU or form.width != 64 or insn.off:
                return None
            if form.op == "mov" and form.source_is_reg:
                if insn.src == 10:
                    return "stack", offset
                reg = insn.src
            elif form.op == "add" and not form.source_is_reg:
                offset += insn.imm
            else:
                return None
        return None


def known_map_calls(prog: "Program", const_pcs: Iterable[int]) -> dict[int, int]:
    """The map helper calls whose r1 is what a resolved map ``lddw`` loaded, in straight
    code before the call: the pc of the call -> the pc of the ``lddw``. Each call's
    instructions are walked back from it (code generation pays for this: the program is
    not walked whole)."""
    consts = frozenset(const_pcs)
    calls = [pc for pc, (insn, form) in prog.by_pc.items()
             if form.kind is Kind.CALL and form.op == "helper" and insn.imm in NATIVE_KINDS]
    if not calls or not consts:
        return {}
    walk = _Straight(prog)
    found: dict[int, int] = {}
    for call in calls:
        origin = walk.origin(call, 1)
        if origin is not None and origin[0] == "lddw" and origin[1] in consts:
            found[call] = origin[1]
    return found


def stack_arguments(prog: "Program", calls: Iterable[int]) -> dict[tuple[int, int], int]:
    """The pointer arguments of ``calls`` that are r10 plus a constant (a key or value on
    the stack, as clang passes them): (call pc, register) -> the offset."""
    calls = list(calls)
    if not calls:
        return {}
    walk = _Straight(prog)
    found = {}
    for call in calls:
        for reg, _ in POINTER_ARGS[prog.by_pc[call][0].imm]:
            origin = walk.origin(call, reg)
            if origin is not None and origin[0] == "stack":
                found[call, reg] = origin[1]
    return found


# The handle's u32 fields code generation may take as constants when it knows the map
# (see map_shapes): fixed for a map's life, and the same for every map of that shape.
SHAPE_FIELDS = (HANDLE_TYPE, HANDLE_KEY_SIZE, HANDLE_VALUE_SIZE, HANDLE_MAX_ENTRIES,
                HANDLE_KIND, HANDLE_CPUS, HANDLE_STRIDE)


def map_shapes(calls: dict[int, int],
               handles: dict[int, bytes]) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """For each map ``lddw`` the known calls use whose map is known (``handles``: its
    handle's bytes by the ``lddw``'s pc), the handle's SHAPE_FIELDS: what code generation
    folds in as constants (part of the compiled code's cache key)."""
    return tuple((pc, tuple(int.from_bytes(handles[pc][at:at + 4], "little")
                            for at in SHAPE_FIELDS))
                 for pc in sorted(set(calls.values())) if pc in handles)


def argument_sites(prog: "Program", calls: Iterable[int]) -> list[tuple[int, int]]:
    """The access cache entries the calls' pointer arguments need: (call pc, register)."""
    return [(pc, reg) for pc in sorted(calls)
            for reg, _ in POINTER_ARGS[prog.by_pc[pc][0].imm]]


def emit(fb: "FunctionBuilder", hid: int, pc: int, trusted: str, checked: str) -> None:
    """r0 = the map helper ``hid`` at ``pc``: the trusted variant (symbol ``trusted``)
    after the inline checks, or ``checked`` (the helper unchecked code calls otherwise:
    the trusted variant there) for what they leave. Where the map's shape is known, its
    kind, sizes and limits are constants and what they decide folds away."""
    from pybpf.jit.memops import in_frame, site_address

    regs = [fb.reg(i) for i in range(1, 6)]
    handle = regs[0]
    args = f"(ptr %ctx, i64 {hid}, i64 {pc}, " + ", ".join(f"i64 {r}" for r in regs) + ")"

    shape = fb.mb.map_shapes.get(fb.mb.map_calls[pc])
    constants = dict(zip(SHAPE_FIELDS, shape)) if shape is not None else {}

    def field(offset: int) -> str:
        """The handle's u32 at ``offset``: a constant where the map's shape is known."""
        if offset in constants:
            return str(constants[offset])
        return fb.zext(_load(fb, handle, offset, align=4), 32)

    kind = field(HANDLE_KIND)
    known = _any(fb, kind, NATIVE_KINDS[hid])
    inline, generic, done = fb.new_label(), fb.new_label(), fb.new_label()
    fb.cbr(known, inline, generic, LIKELY)
    fb.start(inline)
    for reg, size_at in POINTER_ARGS[hid] if fb.mb.trusted is None else ():
        address, size = regs[reg - 1], field(size_at)
        offset = fb.mb.stack_args.get((pc, reg))
        if offset is not None and size_at in constants and \
                in_frame(offset, constants[size_at]):
            continue        # on the frame's stack: always there
        site = site_address(fb, (pc, reg))
        ready, miss = fb.new_label(), fb.new_label()
        fb.cbr(_span_hit(fb, address, size, site), ready, miss, LIKELY)
        fb.start(miss)
        status = fb.op(f"call i32 {fb.mb.runtime(CHECK)}(ptr %ctx, i64 {address}, i64 {size}, "
                       f"i64 {READ}, i64 {pc}, i64 {site})")
        fb.emit(f"switch i32 {status}, label %{fb.bail} [i32 0, label %{ready} "
                f"i32 1, label %{generic}]")
        fb.start(ready)
    if hid == 1:
        # A lookup goes straight to its kind's code: an array's is inline (as the
        # kernel's is), a hash table's and an LPM trie's the runtime's.
        array, hash_, lpm = fb.new_label(), fb.new_label(), fb.new_label()
        fb.emit(f"switch i64 {kind}, label %{lpm} [i64 {NATIVE_ARRAY}, label %{array} "
                f"i64 {NATIVE_HASH}, label %{hash_}]")
        fb.start(array)
        fb.set_reg(0, _array_value(fb, handle, regs[1], field))
        fb.br(done)
        for label, name in ((hash_, LOOKUP_HASH), (lpm, LOOKUP_LPM)):
            fb.start(label)
            if name == LOOKUP_LPM and constants.get(HANDLE_KEY_SIZE) == 8:
                _lpm_ipv4_lookup(fb, handle, regs[1], constants[HANDLE_STRIDE], done)
                continue
            if name == LOOKUP_HASH and constants.get(HANDLE_TYPE) in _INLINE_HASHES and \
                    constants.get(HANDLE_KEY_SIZE) in (4, 8):
                _hash_lookup(fb, handle, regs[1], constants, done)
                continue
            operands = [handle, regs[1]] + \
                ([fb.load_slot(abi.CPU)] if name == LOOKUP_HASH else [])
            types = ", ".join("i64" for _ in operands)
            fb.mb.declarations.setdefault(name, f"declare i64 @{name}({types}) nounwind")
            listed = ", ".join(f"i64 {a}" for a in operands)
            fb.set_reg(0, fb.op(f"call i64 @{name}({listed})"))
            fb.br(done)
    else:
        fb.set_reg(0, fb.op(f"call i64 @{trusted}{args}"))
        fb.br(done)
    fb.start(generic)
    fb.sync_out()
    r0 = fb.op(f"call i64 @{checked}{args}")
    fb.check_status()
    fb.sync_in()
    fb.set_reg(0, r0)
    fb.br(done)
    fb.start(done)


def _array_value(fb: "FunctionBuilder", handle: str, key: str,
                 field: Callable[[int], str]) -> str:
    """The address of an array map's value for the u32 index at ``key``, or 0 past the
    end (a per-CPU array's value for the run's CPU): the native lookup's array case."""
    from pybpf.jit.memops import _swap

    index = fb.zext(_swap(fb, _load(fb, key, 0), 32), 32)
    inside = fb.op(f"icmp ult i64 {index}, {field(HANDLE_MAX_ENTRIES)}")
    percpu = fb.op(f"icmp eq i64 {field(HANDLE_TYPE)}, {int(MapType.PERCPU_ARRAY)}")
    cpu_slot = fb.op(f"add i64 {fb.op(f'mul i64 {index}, {field(HANDLE_CPUS)}')}, "
                     f"{fb.load_slot(abi.CPU)}")
    slot = fb.op(f"select i1 {percpu}, i64 {cpu_slot}, i64 {index}")
    values = _load(fb, handle, HANDLE_VALUES, 64, align=8)
    value = fb.op(f"add i64 {values}, {fb.op(f'mul i64 {slot}, {field(HANDLE_STRIDE)}')}")
    return fb.op(f"select i1 {inside}, i64 {value}, i64 0")


def _hash_lookup(fb: "FunctionBuilder", handle: str, key: str, shape: dict[int, int],
                 done: str) -> None:
    """r0 = a hash map's value for a 4- or 8-byte ``key`` (a per-CPU map's for the run's
    CPU), or 0, then on to ``done``: the runtime's bpf_lookup_hash inline, for a table the
    code knows (not LRU, whose lookups also move the element: those call the runtime).
    The key's hash and the chain walk are pybpf.maps._table's."""
    from pybpf.jit.memops import _swap

    key_size = shape[HANDLE_KEY_SIZE]
    bits = 8 * key_size

    def load(address: str, offset: int, width: int = 32) -> str:
        return _load(fb, address, offset, width)

    elems, ctl = load(handle, HANDLE_AUX, 64), load(handle, HANDLE_AUX + 8, 64)
    word = fb.zext(_swap(fb, load(key, 0, bits), bits), bits)   # the key as a LE integer
    if key_size == 8:          # mod 2**61 - 1: one fold (2**61 = 1)
        folded = fb.op(f"add i64 {fb.op(f'and i64 {word}, {MERSENNE61}')}, "
                       f"{fb.op(f'lshr i64 {word}, 61')}")
        over = fb.op(f"icmp uge i64 {folded}, {MERSENNE61}")
        word = fb.op(f"select i1 {over}, i64 {fb.op(f'sub i64 {folded}, {MERSENNE61}')}, "
                     f"i64 {folded}")
    h = fb.op(f"lshr i64 {fb.op(f'mul i64 {word}, {GOLDEN64}')}, 32")
    mask = fb.op(f"sub i64 {fb.zext(load(ctl, 4 * CTL_NBUCKETS), 32)}, 1")
    slot = fb.op(f"shl i64 {fb.op(f'and i64 {h}, {mask}')}, 2")
    bucket = fb.op(f"add i64 {ctl}, {fb.op(f'add i64 {slot}, {CTL_BYTES}')}")
    first = fb.zext(load(bucket, 0), 32)
    wanted = load(key, 0, bits)
    entry, walk, body, compare, hit, miss = (fb.label, *(fb.new_label() for _ in range(5)))
    fb.br(walk)
    fb.start(walk)
    index = f"%hash_i{walk}"
    fb.emit(f"{index} = phi i64 [{first}, %{entry}], [%hash_next{walk}, %{compare}]")
    fb.cbr(fb.op(f"icmp eq i64 {index}, 0"), miss, body)
    fb.start(body)
    element = _element(fb, elems, index, TABLE_HDR + -(-key_size // 8) * 8)
    same_hash = fb.op(f"icmp eq i64 {fb.zext(load(element, 4 * TABLE_HASH), 32)}, {h}")
    fb.emit(f"%hash_next{walk} = zext i32 {load(element, 4 * TABLE_NEXT)} to i64")
    same_key = fb.op(f"icmp eq i{bits} {load(element, TABLE_HDR, bits)}, {wanted}")
    fb.cbr(fb.op(f"and i1 {same_hash}, {same_key}"), hit, compare)
    fb.start(compare)
    fb.br(walk)
    fb.start(hit)
    stride = shape[HANDLE_STRIDE]
    percpu = shape[HANDLE_TYPE] == MapType.PERCPU_HASH
    per_element = stride * shape[HANDLE_CPUS] if percpu else stride
    value = _element(fb, load(handle, HANDLE_VALUES, 64), index, per_element)
    if percpu:
        value = fb.op(f"add i64 {value}, {fb.op(f'mul i64 {fb.load_slot(abi.CPU)}, {stride}')}")
    fb.set_reg(0, value)
    fb.br(done)
    fb.start(miss)
    fb.set_reg(0, "0")
    fb.br(done)


def _lpm_ipv4_lookup(fb: "FunctionBuilder", handle: str, key: str, stride: int,
                     done: str) -> None:
    """r0 = an IPv4 LPM trie's value for ``key`` (``struct { u32 prefixlen; u8 addr[4]; }``),
    or 0, then on to ``done``: the runtime's bpf_lookup_lpm walk inline, for a trie the
    code knows (32-bit keys: one compare of the address per node)."""
    from pybpf.jit.memops import _swap

    def load(address: str, offset: int, bits: int = 32) -> str:
        return _load(fb, address, offset, bits, align=min(bits // 8, 4))

    def big_endian(word: str) -> str:
        """The address bytes as one big-endian number (network order)."""
        if sys.byteorder == "big":
            return word
        return fb.op(f"call i32 {fb.mb.intrinsic('llvm.bswap', 32)}(i32 {word})")

    def value(index: str) -> str:
        """The address of node ``index``'s value (1-based)."""
        return _element(fb, values, index, stride)

    nodes, ctl = load(handle, HANDLE_AUX, 64), load(handle, HANDLE_AUX + 8, 64)
    values = load(handle, HANDLE_VALUES, 64)
    root = fb.zext(load(ctl, 0), 32)
    plen = fb.zext(_swap(fb, load(key, 0), 32), 32)
    want = big_endian(load(key, 4))
    entry, walk, body, hit, step, deeper, out = (fb.label, *(fb.new_label() for _ in range(6)))
    fb.cbr(fb.op(f"icmp ugt i64 {plen}, 32"), out, walk)
    fb.start(walk)
    node_i, best = f"%lpm_i{walk}", f"%lpm_best{walk}"
    fb.emit(f"{node_i} = phi i64 [{root}, %{entry}], [%lpm_child{walk}, %{deeper}]")
    fb.emit(f"{best} = phi i64 [0, %{entry}], [%lpm_next{walk}, %{deeper}]")
    fb.cbr(fb.op(f"icmp eq i64 {node_i}, 0"), out, body)
    fb.start(body)
    node = _element(fb, nodes, node_i, _LPM_NODE4)
    differ = fb.op(f"xor i32 {big_endian(load(node, NODE_HDR))}, {want}")
    ctlz = fb.mb.declare("llvm.ctlz.i32", "declare i32 @llvm.ctlz.i32(i32, i1)")
    same = fb.zext(fb.op(f"call i32 {ctlz}(i32 {differ}, i1 false)"), 32)   # 32 if equal
    node_plen = fb.zext(load(node, 4 * LPM_PLEN), 32)
    m = fb.op(f"select i1 {fb.op(f'icmp ult i64 {same}, {node_plen}')}, i64 {same}, "
              f"i64 {node_plen}")
    m = fb.op(f"select i1 {fb.op(f'icmp ult i64 {m}, {plen}')}, i64 {m}, i64 {plen}")
    fb.cbr(fb.op(f"icmp eq i64 {m}, 32"), hit, step)
    fb.start(hit)                     # the whole address matched: this node
    fb.set_reg(0, value(node_i))
    fb.br(done)
    fb.start(step)
    fb.cbr(fb.op(f"icmp ult i64 {m}, {node_plen}"), out, deeper)
    fb.start(deeper)                  # a real node is the best match so far; on by the bit
    flags = fb.zext(load(node, 4 * LPM_FLAGS), 32)
    real = fb.op(f"icmp eq i64 {fb.op(f'and i64 {flags}, {LPM_NODE_IM}')}, 0")
    fb.emit(f"%lpm_next{walk} = select i1 {real}, i64 {node_i}, i64 {best}")
    shift = fb.op(f"trunc i64 {fb.op(f'sub i64 31, {node_plen}')} to i32")
    bit = fb.op(f"and i32 {fb.op(f'lshr i32 {want}, {shift}')}, 1")
    child_at = fb.op(f"add i64 {node}, {fb.op(f'mul i64 {fb.zext(bit, 32)}, 4')}")
    fb.emit(f"%lpm_child{walk} = zext i32 {load(child_at, 0)} to i64")
    fb.br(walk)
    fb.start(out)                     # the best real node met, if any
    found = fb.op(f"phi i64 [0, %{entry}], [{best}, %{walk}], [{best}, %{step}]")
    none = fb.op(f"icmp eq i64 {found}, 0")
    fb.set_reg(0, fb.op(f"select i1 {none}, i64 0, i64 {value(found)}"))
    fb.br(done)


def _load(fb: "FunctionBuilder", address: str, offset: int, bits: int = 32,
          align: int = 1) -> str:
    """The i<bits> at native address ``address`` + ``offset``."""
    at = fb.op(f"inttoptr i64 {fb.op(f'add i64 {address}, {offset}')} to ptr")
    return fb.op(f"load i{bits}, ptr {at}, align {align}")


def _element(fb: "FunctionBuilder", base: str, index: str, size: int) -> str:
    """The address of element ``index`` (1-based, as the tables number them) of ``size``
    bytes each from ``base``."""
    before = fb.op(f"sub i64 {index}, 1")
    return fb.op(f"add i64 {base}, {fb.op(f'mul i64 {before}, {size}')}")


def _any(fb: "FunctionBuilder", value: str, constants: Iterable[int]) -> str:
    """Whether ``value`` is one of ``constants``."""
    result = "false"
    for k in constants:
        result = fb.op(f"or i1 {result}, {fb.op(f'icmp eq i64 {value}, {k}')}")
    return result


def _span_hit(fb: "FunctionBuilder", address: str, size: str, site: str) -> str:
    """Whether [address, address + size) lies inside the region the site hit last (any
    size: the offset is checked against the region's size before the room is)."""
    entry = fb.op(f"inttoptr i64 {site} to ptr")
    span = fb.op(f"load i64, ptr {fb.op(f'getelementptr inbounds i64, ptr {entry}, i64 1')}")
    offset = fb.op(f"sub i64 {address}, {fb.op(f'load i64, ptr {entry}')}")
    inside = fb.op(f"icmp ule i64 {offset}, {span}")
    room = fb.op(f"icmp uge i64 {fb.op(f'sub i64 {span}, {offset}')}, {size}")
    return fb.op(f"and i1 {inside}, {room}")

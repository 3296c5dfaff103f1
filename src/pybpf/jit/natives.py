"""Helpers in native code: map lookup/update/delete, the ring buffer helpers (output,
reserve, submit, discard, query), ``bpf_csum_diff``, the clocks, prandom, the CPU id;
the packet helpers are in :mod:`.natives_packet`.

Each is ``u64 bpf_native_<name>(ctx, id, pc, r1, r2, r3, r4, r5)``, the signature of the
Python helper callback, so a program calls it exactly where it would call the callback,
and it can hand the call to Python (the callback in the run context) whenever it meets
what it does not do natively: a map family without native storage access, a key in a
context region, an LPM update. The results are the Python helpers' results bit for bit:
the same storage (see :mod:`pybpf.maps._table`, ``arraymap``, ``lpm_trie``), the same
errno for each failure, the same LRU order, the same faults for unreadable keys and values.

A map pointer is trusted only when it is the start of a region flagged ``RF_MAP`` in the
region table (a map's read-only handle), so a forged pointer goes to Python, which
refuses it as the interpreter does.
"""

from __future__ import annotations

import errno
import sys

from llvmlite import ir

from pybpf.isa.uapi import MapType
from pybpf.jit import abi
from pybpf.jit.abi import NATIVE_HELPERS
from pybpf.jit.codegen import CTX_T, HELPER_T, I1, I8, I32, I64, c64
from pybpf.jit.runtime import READ, swap_bytes
from pybpf.maps import _base as handle
from pybpf.maps.arraymap import ProgArray
from pybpf.vm.machine import MAX_TAIL_CALLS
from pybpf.maps import _table as table
from pybpf.maps import lpm_trie as lpm
from pybpf.maps import ringbuf as rb
from pybpf.maps._common import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, PAGE_SIZE

_PERCPU = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)
# Byte offsets of the hash table's fields and ctl words (pybpf.maps._table's u32 words).
_NEXT, _HASH, _USED, _PREV, _LNEXT = (4 * w for w in (table.NEXT, table.HASH, table.USED,
                                                       table.PREV, table.LNEXT))
_KEY = table.HDR
_COUNT, _FREE, _HEAD, _TAIL, _FRESH, _NBUCKETS, _CAPACITY, _STRIDE = (
    4 * w for w in (table.CTL_COUNT, table.CTL_FREE, table.CTL_HEAD, table.CTL_TAIL,
                    table.CTL_FRESH, table.CTL_NBUCKETS, table.CTL_CAPACITY, table.CTL_STRIDE))
# Byte offsets in an LPM trie node (pybpf.maps.lpm_trie's u32 words), and its flag bit.
_LPM_PLEN, _LPM_FLAGS, _LPM_HDR, _LPM_IM = 4 * lpm.PLEN, 4 * lpm.FLAGS, lpm.NODE_HDR, lpm.NODE_IM


# bpf_csum_diff: the most both buffers may hold together (MAX_BPF_STACK, as the helper).
# Map lookups by kind, exported for known map calls (see .mapcalls): (map, key, cpu) and
# (map, key) -> the value's address or 0.
LOOKUP_HASH, LOOKUP_LPM = "bpf_lookup_hash", "bpf_lookup_lpm"
CSUM_MAX = 512
# ``bpf_csum_diff`` is offered to some program types only, which the run's state (Python)
# knows: the first call of a run goes to the Python helper, which checks; when it passes,
# the helper marks the run in the context and the run's later calls are native. The mark
# is the value CSUM_OPEN in the CLEAR slot, which the entry function zeroes as a run (or a
# callback) starts and which is not read again until Python or the repeat driver sets it
# for the next entry.
CSUM_GATE = abi.CLEAR
CSUM_OPEN = 2
_M32 = 0xFFFFFFFF


def _err(code: int) -> ir.Constant:
    return c64(-code)


class _Fn:
    """An IR function under construction, with terse memory and block helpers."""

    def __init__(self, module: ir.Module, ftype: ir.FunctionType, name: str,
                 internal: bool = True):
        self.fn = ir.Function(module, ftype, name)
        if internal:
            self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    def block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def at(self, block: ir.Block) -> None:
        self.b.position_at_end(block)

    def ptr(self, address: ir.Value, ty: ir.Type) -> ir.Value:
        return self.b.inttoptr(address, ty.as_pointer())

    def u32(self, address: ir.Value, offset: int = 0) -> ir.Value:
        """The u32 at ``address + offset``, zero-extended to i64."""
        a = self.b.add(address, c64(offset)) if offset else address
        return self.b.zext(self.b.load(self.ptr(a, I32), align=4), I64)

    def set32(self, address: ir.Value, offset: int, value: ir.Value) -> None:
        a = self.b.add(address, c64(offset)) if offset else address
        self.b.store(self.b.trunc(value, I32), self.ptr(a, I32), align=4)

    def u64(self, address: ir.Value, offset: int = 0) -> ir.Value:
        a = self.b.add(address, c64(offset)) if offset else address
        return self.b.load(self.ptr(a, I64), align=8)

    def slot(self, ctx: ir.Value, index: int) -> ir.Value:
        return self.b.gep(ctx, [c64(index)], inbounds=True)

    def if_(self, cond: ir.Value, name: str) -> tuple[ir.Block, ir.Block]:
        """Branch on ``cond``: positions at the 'then' block; returns (then, after)."""
        then, after = self.block(name), self.block(name + "_end")
        self.b.cbranch(cond, then, after)
        self.at(then)
        return then, after


class _Runtime:
    """The native helpers, defined in the shared runtime module."""

    def __init__(self, module: ir.Module, find: ir.Function, check: ir.Function):
        self.module = module
        self.find = find
        self.check = check
        void_p = I8.as_pointer()
        self.memcpy = module.declare_intrinsic("llvm.memcpy", [void_p, void_p, I64])
        self.memset = module.declare_intrinsic("llvm.memset", [void_p, I64])
        self.memcmp = ir.Function(module, ir.FunctionType(I32, [void_p, void_p, I64]), "memcmp")
        self.ctlz8 = ir.Function(module, ir.FunctionType(I8, [I8, I1]), "llvm.ctlz.i8")
        self._hash_fns: dict[str, ir.Function] = {}
        # Building the trusted variants of the map helpers (abi.TRUSTED_HELPERS): their
        # map pointer and key/value pointers were proven by the verifier, not checked.
        self.trusted = False

    # -- shared pieces ------------------------------------------------------------------

    def python(self, f: _Fn) -> ir.Value:
        """Hand the call to the Python helper (the callback in the run context)."""
        b = f.b
        ctx = f.fn.args[0]
        callback = b.inttoptr(b.load(f.slot(ctx, abi.HELPER_CB)), HELPER_T.as_pointer())
        return b.call(callback, list(f.fn.args))

    def readable(self, f: _Fn, address: ir.Value, size: ir.Value, fallback: ir.Block,
                 fault: ir.Block, mode: int = READ) -> None:
        """Continue where [address, address + size) is native memory an access of ``mode``
        (runtime.READ or WRITE) may touch; a context region goes to ``fallback`` (Python
        accesses it), a bad pointer to ``fault``. (A trusted helper's pointers are
        readable: nothing to check.)"""
        if self.trusted:
            return
        b = f.b
        ctx, pc = f.fn.args[0], f.fn.args[2]
        status = b.call(self.check, [ctx, address, size, c64(mode), pc, c64(0)])
        ok = f.block("readable")
        switch = b.switch(status, fault)
        switch.add_case(ir.Constant(I32, 0), ok)
        switch.add_case(ir.Constant(I32, 1), fallback)
        f.at(ok)

    def map_handle(self, f: _Fn, fallback: ir.Block, pointer: ir.Value | None = None) -> ir.Value:
        """The native kind of the map ``pointer`` (default r1) points at; non-maps and
        non-native maps go to ``fallback``. (A trusted helper's map pointer is a map's.)"""
        b = f.b
        ctx = f.fn.args[0]
        address = f.fn.args[3] if pointer is None else pointer
        if self.trusted:
            return f.u32(address, handle.HANDLE_KIND)
        entry = b.call(self.find, [ctx, address])
        have, after = f.block("have_region"), f.block("is_map")
        b.cbranch(b.icmp_unsigned("==", entry, ir.Constant(entry.type, None)), fallback, have)
        f.at(have)
        start = b.load(entry)
        flags = b.load(b.gep(entry, [c64(2)], inbounds=True))
        is_map = b.and_(b.icmp_unsigned("==", start, address),
                        b.icmp_unsigned("!=", b.and_(flags, c64(abi.RF_MAP)), c64(0)))
        b.cbranch(is_map, after, fallback)
        f.at(after)
        return f.u32(address, handle.HANDLE_KIND)

    def percpu(self, f: _Fn, map_: ir.Value) -> ir.Value:
        b = f.b
        mtype = f.u32(map_, 0)
        out = ir.Constant(I1, 0)
        for t in _PERCPU:
            out = b.or_(out, b.icmp_unsigned("==", mtype, c64(int(t))))
        return out

    def copy(self, f: _Fn, dst: ir.Value, src: ir.Value, size: ir.Value) -> None:
        f.b.call(self.memcpy, [f.ptr(dst, I8), f.ptr(src, I8), size, ir.Constant(I1, 0)])

    def zero(self, f: _Fn, dst: ir.Value, size: ir.Value) -> None:
        f.b.call(self.memset, [f.ptr(dst, I8), ir.Constant(I8, 0), size, ir.Constant(I1, 0)])

    # -- the hash table (pybpf.maps._table) ---------------------------------------------

    def key_hash(self) -> ir.Function:
        """``u64 hash(key, key_size)``: the key as a little-endian integer mod 2**61-1
        (Horner over bytes from the most significant), times the golden ratio, >> 32."""
        if "hash" in self._hash_fns:
            return self._hash_fns["hash"]
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64]), "bpf_key_hash")
        b = f.b
        key, size = f.fn.args
        entry, loop, body, done = f.block("bytes"), f.block("loop"), f.block("body"), f.block("done")
        # 4- and 8-byte keys (the usual ones) in one load: a 4-byte key is below the
        # modulus already; an 8-byte one needs one fold (2**61 = 1 mod 2**61-1).
        four, eight, other = f.block("key4"), f.block("key8"), entry
        switch = b.switch(size, other)
        switch.add_case(c64(4), four)
        switch.add_case(c64(8), eight)
        f.at(four)
        h4 = b.zext(swap_bytes(b, self.module, b.load(f.ptr(key, I32), align=1)), I64)
        b.branch(done)
        f.at(eight)
        k8 = swap_bytes(b, self.module, b.load(f.ptr(key, I64), align=1))
        m61 = c64(table.MERSENNE61)
        h8 = b.add(b.and_(k8, m61), b.lshr(k8, c64(61)))                  # < 2**61 + 8
        h8 = b.select(b.icmp_unsigned(">=", h8, m61), b.sub(h8, m61), h8)
        b.branch(done)
        f.at(entry)
        b.branch(loop)
        f.at(loop)
        i, h = b.phi(I64, "i"), b.phi(I64, "h")
        i.add_incoming(size, entry)
        h.add_incoming(c64(0), entry)
        b.cbranch(b.icmp_unsigned("==", i, c64(0)), done, body)
        f.at(body)
        nxt = b.sub(i, c64(1))
        byte = b.zext(b.load(f.ptr(b.add(key, nxt), I8)), ir.IntType(128))
        i128 = ir.IntType(128)
        x = b.add(b.shl(b.zext(h, i128), ir.Constant(i128, 8)), byte)      # < 2**69
        p = ir.Constant(i128, table.MERSENNE61)
        x = b.add(b.and_(x, p), b.lshr(x, ir.Constant(i128, 61)))         # < 2**61 + 2**8
        x = b.select(b.icmp_unsigned(">=", x, p), b.sub(x, p), x)
        i.add_incoming(nxt, body)
        h.add_incoming(b.trunc(x, I64), body)
        b.branch(loop)
        f.at(done)
        result = b.phi(I64, "k")
        result.add_incoming(h, loop)
        result.add_incoming(h4, four)
        result.add_incoming(h8, eight)
        b.ret(b.lshr(b.mul(result, c64(table.GOLDEN64)), c64(32)))
        self._hash_fns["hash"] = f.fn
        return f.fn

    @staticmethod
    def storage(f: _Fn, map_: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(elements or nodes, ctl) addresses of a hash table or LPM trie map."""
        return f.u64(map_, handle.HANDLE_AUX), f.u64(map_, handle.HANDLE_AUX + 8)

    @staticmethod
    def bucket(f: _Fn, ctl: ir.Value, h: ir.Value) -> ir.Value:
        """Address of the bucket word for hash ``h`` (the buckets follow ctl)."""
        b = f.b
        index = b.and_(h, b.sub(f.u32(ctl, _NBUCKETS), c64(1)))
        return b.add(ctl, b.add(c64(table.CTL_BYTES), b.mul(index, c64(4))))

    def elem(self, f: _Fn, elems: ir.Value, ctl: ir.Value, i: ir.Value) -> ir.Value:
        """Address of hash table element ``i`` (1-based)."""
        b = f.b
        return b.add(elems, b.mul(b.sub(i, c64(1)), f.u32(ctl, _STRIDE)))

    def table_find(self) -> ir.Function:
        """``u64 find(map, key)``: the index of ``key`` in the map's table, or 0."""
        if "find" in self._hash_fns:
            return self._hash_fns["find"]
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64]), "bpf_table_find")
        b = f.b
        map_, key = f.fn.args
        ks = f.u32(map_, 4)
        elems, ctl = self.storage(f, map_)
        h = b.call(self.key_hash(), [key, ks])
        first = f.u32(self.bucket(f, ctl, h))
        entry, loop, body, compare, nxt_bb, hit, miss = (
            b.block, f.block("loop"), f.block("body"), f.block("compare"), f.block("next"),
            f.block("hit"), f.block("miss"))
        b.branch(loop)
        f.at(loop)
        i = b.phi(I64, "i")
        i.add_incoming(first, entry)
        b.cbranch(b.icmp_unsigned("==", i, c64(0)), miss, body)
        f.at(body)
        e = self.elem(f, elems, ctl, i)
        b.cbranch(b.icmp_unsigned("==", f.u32(e, _HASH), h), compare, nxt_bb)
        f.at(compare)
        # 4- and 8-byte keys (the usual ones) compared in one load each; others by memcmp
        stored = b.add(e, c64(_KEY))
        four, eight, other = f.block("same4"), f.block("same8"), f.block("same")
        switch = b.switch(ks, other)
        switch.add_case(c64(4), four)
        switch.add_case(c64(8), eight)
        for block, ty in ((four, I32), (eight, I64)):
            f.at(block)
            same = b.icmp_unsigned("==", b.load(f.ptr(stored, ty), align=1),
                                   b.load(f.ptr(key, ty), align=1))
            b.cbranch(same, hit, nxt_bb)
        f.at(other)
        same = b.call(self.memcmp, [f.ptr(stored, I8), f.ptr(key, I8), ks])
        b.cbranch(b.icmp_unsigned("==", same, ir.Constant(I32, 0)), hit, nxt_bb)
        f.at(nxt_bb)
        i.add_incoming(f.u32(e, _NEXT), nxt_bb)
        b.branch(loop)
        f.at(hit)
        b.ret(i)
        f.at(miss)
        b.ret(c64(0))
        self._hash_fns["find"] = f.fn
        return f.fn

    def lru_fns(self) -> tuple[ir.Function, ir.Function]:
        """``unlink(map, i)`` and ``push_head(map, i)`` on the recency list."""
        if "unlink" in self._hash_fns:
            return self._hash_fns["unlink"], self._hash_fns["push"]
        ftype = ir.FunctionType(ir.VoidType(), [I64, I64])
        # unlink
        f = _Fn(self.module, ftype, "bpf_lru_unlink")
        map_, i = f.fn.args
        elems, ctl = self.storage(f, map_)
        e = self.elem(f, elems, ctl, i)
        prev, nxt = f.u32(e, _PREV), f.u32(e, _LNEXT)
        self.link(f, elems, ctl, prev, _LNEXT, nxt, _HEAD)
        self.link(f, elems, ctl, nxt, _PREV, prev, _TAIL)
        f.b.ret_void()
        unlink = f.fn
        # push_head
        f = _Fn(self.module, ftype, "bpf_lru_push_head")
        map_, i = f.fn.args
        elems, ctl = self.storage(f, map_)
        e = self.elem(f, elems, ctl, i)
        head = f.u32(ctl, _HEAD)
        f.set32(e, _PREV, c64(0))
        f.set32(e, _LNEXT, head)
        self.link(f, elems, ctl, head, _PREV, i, _TAIL)
        f.set32(ctl, _HEAD, i)
        f.b.ret_void()
        self._hash_fns["unlink"], self._hash_fns["push"] = unlink, f.fn
        return unlink, f.fn

    def link(self, f: _Fn, elems: ir.Value, ctl: ir.Value, target: ir.Value, field: int,
             value: ir.Value, ctl_field: int) -> None:
        """Element ``target``'s ``field`` = ``value``; when ``target`` is 0 (none), the
        list end in ``ctl_field`` instead."""
        b = f.b
        some, none, done = f.block("some"), f.block("none"), f.block("linked")
        b.cbranch(b.icmp_unsigned("!=", target, c64(0)), some, none)
        f.at(some)
        f.set32(self.elem(f, elems, ctl, target), field, value)
        b.branch(done)
        f.at(none)
        f.set32(ctl, ctl_field, value)
        b.branch(done)
        f.at(done)

    def touch(self, f: _Fn, map_: ir.Value, i: ir.Value) -> None:
        """Make element ``i`` the most recently used."""
        b = f.b
        unlink, push = self.lru_fns()
        ctl = f.u64(map_, handle.HANDLE_AUX + 8)
        _, after = f.if_(b.icmp_unsigned("!=", f.u32(ctl, _HEAD), i), "touch")
        b.call(unlink, [map_, i])
        b.call(push, [map_, i])
        b.branch(after)
        f.at(after)

    def value_of(self, f: _Fn, map_: ir.Value, i: ir.Value, per_elem: ir.Value) -> ir.Value:
        b = f.b
        return b.add(f.u64(map_, handle.HANDLE_VALUES), b.mul(b.sub(i, c64(1)), per_elem))

    def per_elem(self, f: _Fn, map_: ir.Value) -> ir.Value:
        """Bytes of values per element: the stride, times the CPUs for per-CPU maps."""
        b = f.b
        stride = f.u32(map_, handle.HANDLE_STRIDE)
        return b.select(self.percpu(f, map_), b.mul(stride, f.u32(map_, handle.HANDLE_CPUS)),
                        stride)

    def table_remove(self) -> ir.Function:
        """``remove(map, i)``: unchain element ``i``, unlink it, free it."""
        if "remove" in self._hash_fns:
            return self._hash_fns["remove"]
        f = _Fn(self.module, ir.FunctionType(ir.VoidType(), [I64, I64]), "bpf_table_remove")
        b = f.b
        map_, i = f.fn.args
        elems, ctl = self.storage(f, map_)
        e = self.elem(f, elems, ctl, i)
        bucket_addr = self.bucket(f, ctl, f.u32(e, _HASH))
        first = f.u32(bucket_addr)
        entry = b.block
        at_head, walk, body, relink, done = (f.block("at_head"), f.block("walk"), f.block("body"),
                                             f.block("relink"), f.block("done"))
        b.cbranch(b.icmp_unsigned("==", first, i), at_head, walk)
        f.at(at_head)
        f.set32(bucket_addr, 0, f.u32(e, _NEXT))
        b.branch(done)
        f.at(walk)
        j = b.phi(I64, "j")
        j.add_incoming(first, entry)
        ej = self.elem(f, elems, ctl, j)
        nj = f.u32(ej, _NEXT)
        b.cbranch(b.icmp_unsigned("==", nj, i), relink, body)
        f.at(body)
        j.add_incoming(nj, body)
        b.branch(walk)
        f.at(relink)
        f.set32(ej, _NEXT, f.u32(e, _NEXT))
        b.branch(done)
        f.at(done)
        unlink, _ = self.lru_fns()
        b.call(unlink, [map_, i])
        f.set32(e, _USED, c64(0))
        f.set32(e, _NEXT, f.u32(ctl, _FREE))
        f.set32(ctl, _FREE, i)
        f.set32(ctl, _COUNT, b.sub(f.u32(ctl, _COUNT), c64(1)))
        b.ret_void()
        self._hash_fns["remove"] = f.fn
        return f.fn

    def table_insert(self) -> ir.Function:
        """``u64 insert(map, key)``: a new element for ``key`` with a zeroed value."""
        if "insert" in self._hash_fns:
            return self._hash_fns["insert"]
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64]), "bpf_table_insert")
        b = f.b
        map_, key = f.fn.args
        elems, ctl = self.storage(f, map_)
        free = f.u32(ctl, _FREE)
        entry = b.block
        reuse, fresh, got = f.block("reuse"), f.block("fresh"), f.block("got")
        b.cbranch(b.icmp_unsigned("!=", free, c64(0)), reuse, fresh)
        f.at(reuse)
        f.set32(ctl, _FREE, f.u32(self.elem(f, elems, ctl, free), _NEXT))
        b.branch(got)
        f.at(fresh)
        new = f.u32(ctl, _FRESH)
        f.set32(ctl, _FRESH, b.add(new, c64(1)))
        b.branch(got)
        f.at(got)
        i = b.phi(I64, "i")
        i.add_incoming(free, reuse)
        i.add_incoming(new, fresh)
        del entry
        ks = f.u32(map_, 4)
        h = b.call(self.key_hash(), [key, ks])
        bucket_addr = self.bucket(f, ctl, h)
        e = self.elem(f, elems, ctl, i)
        f.set32(e, _NEXT, f.u32(bucket_addr))
        f.set32(e, _HASH, h)
        f.set32(e, _USED, c64(1))
        self.copy(f, b.add(e, c64(_KEY)), key, ks)
        per_elem = self.per_elem(f, map_)
        self.zero(f, self.value_of(f, map_, i, per_elem), per_elem)
        f.set32(bucket_addr, 0, i)
        f.set32(ctl, _COUNT, b.add(f.u32(ctl, _COUNT), c64(1)))
        _, push = self.lru_fns()
        b.call(push, [map_, i])
        b.ret(i)
        self._hash_fns["insert"] = f.fn
        return f.fn

    # -- the helpers --------------------------------------------------------------------

    def helper(self, name: str) -> _Fn:
        return _Fn(self.module, HELPER_T, name, internal=False)

    def map_helper(self, hid: int) -> _Fn:
        """Helper ``hid``'s function, or its trusted variant while building those."""
        return self.helper((abi.TRUSTED_HELPERS if self.trusted else NATIVE_HELPERS)[hid])

    def lookup(self) -> None:
        f = self.map_helper(1)
        b = f.b
        ctx, _, _, r1, r2 = f.fn.args[:5]
        fallback, fault = f.block("python"), f.block("fault")
        kind = self.map_handle(f, fallback)
        native = f.block("native")
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_NONE)), fallback, native)
        f.at(native)
        self.readable(f, r2, f.u32(r1, 4), fallback, fault)
        cpu = b.load(f.slot(ctx, abi.CPU))
        array, hash_, lpm = f.block("array"), f.block("hash"), f.block("lpm")
        switch = b.switch(kind, fallback)
        switch.add_case(c64(handle.NATIVE_ARRAY), array)
        switch.add_case(c64(handle.NATIVE_HASH), hash_)
        switch.add_case(c64(handle.NATIVE_LPM), lpm)
        # array: element index * stride (per-CPU: (index * cpus + cpu) * stride)
        f.at(array)
        index = f.u32(r2)
        inside, miss = f.block("inside"), f.block("miss")
        b.cbranch(b.icmp_unsigned("<", index, f.u32(r1, 12)), inside, miss)
        f.at(inside)
        stride = f.u32(r1, handle.HANDLE_STRIDE)
        slot = b.select(self.percpu(f, r1),
                        b.add(b.mul(index, f.u32(r1, handle.HANDLE_CPUS)), cpu), index)
        b.ret(b.add(f.u64(r1, handle.HANDLE_VALUES), b.mul(slot, stride)))
        f.at(miss)
        b.ret(c64(0))
        f.at(hash_)
        b.ret(b.call(self.hash_lookup(), [r1, r2, cpu]))
        # lpm
        f.at(lpm)
        b.ret(b.call(self.lpm_find(), [r1, r2]))
        f.at(fallback)
        b.ret(self.python(f))
        f.at(fault)
        b.ret(c64(0))

    def hash_lookup(self) -> ir.Function:
        """``u64 bpf_lookup_hash(map, key, cpu)`` (exported: see .mapcalls): the address of
        a hash map's value for ``key`` (for ``cpu`` in a per-CPU map), or 0; an LRU map's
        element found becomes the most recently used."""
        if LOOKUP_HASH in self._hash_fns:
            return self._hash_fns[LOOKUP_HASH]
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64, I64]), LOOKUP_HASH, internal=False)
        self._hash_fns[LOOKUP_HASH] = f.fn
        b = f.b
        map_, key, cpu = f.fn.args
        i = b.call(self.table_find(), [map_, key])
        found, miss = f.block("found"), f.block("miss")
        b.cbranch(b.icmp_unsigned("==", i, c64(0)), miss, found)
        f.at(miss)
        b.ret(c64(0))
        f.at(found)
        _, after = f.if_(b.icmp_unsigned("!=", f.u32(map_, handle.HANDLE_LRU), c64(0)), "lru")
        self.touch(f, map_, i)
        b.branch(after)
        f.at(after)
        value = self.value_of(f, map_, i, self.per_elem(f, map_))
        stride = f.u32(map_, handle.HANDLE_STRIDE)
        b.ret(b.select(self.percpu(f, map_), b.add(value, b.mul(cpu, stride)), value))
        return f.fn

    def lpm_find(self) -> ir.Function:
        """``u64 bpf_lookup_lpm(map, key)`` (exported: see .mapcalls): the value address
        of the longest matching prefix, or 0."""
        if LOOKUP_LPM in self._hash_fns:
            return self._hash_fns[LOOKUP_LPM]
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64]), LOOKUP_LPM, internal=False)
        self._hash_fns[LOOKUP_LPM] = f.fn
        b = f.b
        map_, key = f.fn.args
        data_size = b.sub(f.u32(map_, 4), c64(4))
        max_plen = b.mul(data_size, c64(8))
        plen = f.u32(key)
        nodes, ctl = self.storage(f, map_)
        nstride = b.add(c64(_LPM_HDR), b.and_(b.add(data_size, c64(7)), c64(~7)))
        entry = b.block
        walk, body, bits, bits_body, bits_done, step, done = (
            f.block("walk"), f.block("body"), f.block("bits"), f.block("bits_body"),
            f.block("bits_done"), f.block("step"), f.block("done"))
        nothing = f.block("nothing")
        root = f.u32(ctl)
        b.cbranch(b.icmp_unsigned(">", plen, max_plen), nothing, walk)
        f.at(nothing)
        b.ret(c64(0))
        f.at(walk)
        i, best = b.phi(I64, "i"), b.phi(I64, "best")
        i.add_incoming(root, entry)
        best.add_incoming(c64(0), entry)
        b.cbranch(b.icmp_unsigned("==", i, c64(0)), done, body)
        f.at(body)
        node = b.add(nodes, b.mul(b.sub(i, c64(1)), nstride))
        # The leading bits the node's data and the key's share: an IPv4 address's in one
        # 32-bit compare, others byte by byte.
        word = f.block("word")
        b.cbranch(b.icmp_unsigned("==", data_size, c64(4)), word, bits)
        f.at(word)
        be32 = self.module.declare_intrinsic("llvm.bswap", [I32]) if sys.byteorder == "little" \
            else None
        words = [b.load(f.ptr(b.add(address, c64(offset)), I32), align=1)
                 for address, offset in ((node, _LPM_HDR), (key, 4))]
        if be32 is not None:
            words = [b.call(be32, [w]) for w in words]
        x32 = b.xor(*words)
        ctlz32 = self.module.globals.get("llvm.ctlz.i32") or \
            ir.Function(self.module, ir.FunctionType(I32, [I32, I1]), "llvm.ctlz.i32")
        same32 = b.zext(b.call(ctlz32, [x32, ir.Constant(I1, 0)]), I64)   # 32 when equal
        b.branch(bits_done)
        f.at(bits)
        k = b.phi(I64, "k")
        k.add_incoming(c64(0), body)
        b.cbranch(b.icmp_unsigned("<", k, data_size), bits_body, bits_done)
        f.at(bits_body)
        x = b.xor(b.load(f.ptr(b.add(node, b.add(c64(_LPM_HDR), k)), I8)),
                  b.load(f.ptr(b.add(key, b.add(c64(4), k)), I8)))
        differ = f.block("differ")
        k.add_incoming(b.add(k, c64(1)), bits_body)
        b.cbranch(b.icmp_unsigned("!=", x, ir.Constant(I8, 0)), differ, bits)
        f.at(differ)
        lead = b.zext(b.call(self.ctlz8, [x, ir.Constant(I1, 1)]), I64)
        first_differing = b.add(b.mul(k, c64(8)), lead)
        b.branch(bits_done)
        f.at(bits_done)
        same = b.phi(I64, "same")
        same.add_incoming(max_plen, bits)
        same.add_incoming(first_differing, differ)
        same.add_incoming(same32, word)
        node_plen = f.u32(node, _LPM_PLEN)
        m = b.select(b.icmp_unsigned("<", same, node_plen), same, node_plen)
        m = b.select(b.icmp_unsigned("<", m, plen), m, plen)
        exact = f.block("exact")
        b.cbranch(b.icmp_unsigned("==", m, max_plen), exact, step)
        f.at(exact)
        b.ret(b.add(f.u64(map_, handle.HANDLE_VALUES),
                    b.mul(b.sub(i, c64(1)), f.u32(map_, handle.HANDLE_STRIDE))))
        f.at(step)
        go = f.block("go")
        b.cbranch(b.icmp_unsigned("<", m, node_plen), done, go)
        f.at(go)
        real = b.icmp_unsigned("==", b.and_(f.u32(node, _LPM_FLAGS), c64(_LPM_IM)), c64(0))
        new_best = b.select(real, i, best)
        byte = b.zext(b.load(f.ptr(b.add(key, b.add(c64(4), b.lshr(node_plen, c64(3)))), I8)),
                      I64)
        bit = b.and_(b.lshr(byte, b.sub(c64(7), b.and_(node_plen, c64(7)))), c64(1))
        child = f.u32(b.add(node, b.mul(bit, c64(4))))
        i.add_incoming(child, go)
        best.add_incoming(new_best, go)
        b.branch(walk)
        f.at(done)
        result = b.phi(I64, "result")
        result.add_incoming(best, walk)
        result.add_incoming(best, step)
        values = b.add(f.u64(map_, handle.HANDLE_VALUES),
                       b.mul(b.sub(result, c64(1)), f.u32(map_, handle.HANDLE_STRIDE)))
        b.ret(b.select(b.icmp_unsigned("==", result, c64(0)), c64(0), values))
        return f.fn

    def update(self) -> None:
        f = self.map_helper(2)
        b = f.b
        ctx, _, _, r1, r2, r3, r4 = f.fn.args[:7]
        fallback, fault = f.block("python"), f.block("fault")
        kind = self.map_handle(f, fallback)
        native = f.block("native")
        hash_check = f.block("hash_check")
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_ARRAY)), native, hash_check)
        f.at(hash_check)
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_HASH)), native, fallback)
        f.at(native)
        value_size = f.u32(r1, 8)
        self.readable(f, r2, f.u32(r1, 4), fallback, fault)
        self.readable(f, r3, value_size, fallback, fault)
        cpu = b.load(f.slot(ctx, abi.CPU))
        stride = f.u32(r1, handle.HANDLE_STRIDE)
        percpu = self.percpu(f, r1)
        _, flags_ok = f.if_(b.icmp_unsigned(">", b.and_(r4, c64(~BPF_F_LOCK)), c64(BPF_EXIST)),
                            "bad_flags")
        b.ret(_err(errno.EINVAL))
        f.at(flags_ok)
        array, hash_ = f.block("array"), f.block("hash")
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_ARRAY)), array, hash_)
        # array: index in range, NOEXIST refused, BPF_F_LOCK refused, then the copy
        f.at(array)
        index = f.u32(r2)
        _, in_range = f.if_(b.icmp_unsigned(">=", index, f.u32(r1, 12)), "too_big")
        b.ret(_err(errno.E2BIG))
        f.at(in_range)
        _, may = f.if_(b.icmp_unsigned("!=", b.and_(r4, c64(BPF_NOEXIST)), c64(0)), "noexist")
        b.ret(_err(errno.EEXIST))
        f.at(may)
        _, unlocked = f.if_(b.icmp_unsigned("!=", b.and_(r4, c64(BPF_F_LOCK)), c64(0)), "lock")
        b.ret(_err(errno.EINVAL))
        f.at(unlocked)
        slot = b.select(percpu, b.add(b.mul(index, f.u32(r1, handle.HANDLE_CPUS)), cpu), index)
        self.copy(f, b.add(f.u64(r1, handle.HANDLE_VALUES), b.mul(slot, stride)), r3, value_size)
        b.ret(c64(0))
        # hash
        f.at(hash_)
        _, unlocked = f.if_(b.icmp_unsigned("!=", b.and_(r4, c64(BPF_F_LOCK)), c64(0)), "hlock")
        b.ret(_err(errno.EINVAL))
        f.at(unlocked)
        i = b.call(self.table_find(), [r1, r2])
        present, absent, write = f.block("present"), f.block("absent"), f.block("write")
        b.cbranch(b.icmp_unsigned("!=", i, c64(0)), present, absent)
        f.at(present)
        _, touch = f.if_(b.icmp_unsigned("==", r4, c64(BPF_NOEXIST)), "exists")
        b.ret(_err(errno.EEXIST))
        f.at(touch)
        self.touch(f, r1, i)
        present_end = b.block
        b.branch(write)
        f.at(absent)
        _, may = f.if_(b.icmp_unsigned("==", r4, c64(BPF_EXIST)), "missing")
        b.ret(_err(errno.ENOENT))
        f.at(may)
        ctl = f.u64(r1, handle.HANDLE_AUX + 8)
        full, insert = f.block("full"), f.block("insert")
        b.cbranch(b.icmp_unsigned(">=", f.u32(ctl, _COUNT), f.u32(ctl, _CAPACITY)), full, insert)
        f.at(full)
        _, evict = f.if_(b.icmp_unsigned("==", f.u32(r1, handle.HANDLE_LRU), c64(0)), "no_room")
        b.ret(_err(errno.E2BIG))
        f.at(evict)
        b.call(self.table_remove(), [r1, f.u32(ctl, _TAIL)])
        b.branch(insert)
        f.at(insert)
        new = b.call(self.table_insert(), [r1, r2])
        insert_end = b.block
        b.branch(write)
        f.at(write)
        elem = b.phi(I64, "elem")
        elem.add_incoming(i, present_end)
        elem.add_incoming(new, insert_end)
        value = self.value_of(f, r1, elem, self.per_elem(f, r1))
        dst = b.select(percpu, b.add(value, b.mul(cpu, stride)), value)
        self.copy(f, dst, r3, value_size)
        b.ret(c64(0))
        f.at(fallback)
        b.ret(self.python(f))
        f.at(fault)
        b.ret(c64(0))

    def delete(self) -> None:
        f = self.map_helper(3)
        b = f.b
        r1, r2 = f.fn.args[3:5]
        fallback, fault = f.block("python"), f.block("fault")
        kind = self.map_handle(f, fallback)
        array, not_array = f.block("array"), f.block("not_array")
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_ARRAY)), array, not_array)
        f.at(not_array)
        native = f.block("native")
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_HASH)), native, fallback)
        f.at(array)
        self.readable(f, r2, f.u32(r1, 4), fallback, fault)
        b.ret(_err(errno.EINVAL))
        f.at(native)
        self.readable(f, r2, f.u32(r1, 4), fallback, fault)
        i = b.call(self.table_find(), [r1, r2])
        _, found = f.if_(b.icmp_unsigned("==", i, c64(0)), "missing")
        b.ret(_err(errno.ENOENT))
        f.at(found)
        b.call(self.table_remove(), [r1, i])
        b.ret(c64(0))
        f.at(fallback)
        b.ret(self.python(f))
        f.at(fault)
        b.ret(c64(0))

    def clocks(self) -> None:
        """The clock reads ``clock_ns`` and advances it by ``clock_step_ns``."""
        for hid, boot in ((5, False), (160, False), (208, False), (125, True)):
            f = self.helper(NATIVE_HELPERS[hid])
            b = f.b
            ctx = f.fn.args[0]
            clock = f.slot(ctx, abi.CLOCK)
            now = b.load(clock)
            b.store(b.add(now, b.load(f.slot(ctx, abi.CLOCK_STEP))), clock)
            b.ret(b.add(now, b.load(f.slot(ctx, abi.BOOT_OFFSET))) if boot else now)

    def prandom(self) -> None:
        """``prandom_u32_state`` on the four words in the context (see pybpf.env)."""
        from pybpf.env import TAUSWORTHE

        f = self.helper(NATIVE_HELPERS[7])
        b = f.b
        ctx = f.fn.args[0]
        words = []
        for n in range(2):
            pair = b.load(f.slot(ctx, abi.RND + n))
            words += [b.trunc(pair, I32), b.trunc(b.lshr(pair, c64(32)), I32)]
        out = ir.Constant(I32, 0)
        new = []
        for s, (a, sb, c, d, _) in zip(words, TAUSWORTHE):
            k = lambda v: ir.Constant(I32, v)   # noqa: E731
            s = b.xor(b.shl(b.and_(s, k(c)), k(d)), b.lshr(b.xor(b.shl(s, k(a)), s), k(sb)))
            new.append(s)
            out = b.xor(out, s)
        for n in range(2):
            lo, hi = b.zext(new[2 * n], I64), b.zext(new[2 * n + 1], I64)
            b.store(b.or_(lo, b.shl(hi, c64(32))), f.slot(ctx, abi.RND + n))
        b.ret(b.zext(out, I64))

    def cpu(self) -> None:
        f = self.helper(NATIVE_HELPERS[8])
        f.b.ret(f.b.load(f.slot(f.fn.args[0], abi.CPU)))

    def tail_call(self) -> None:
        """``bpf_tail_call(ctx, prog_array, index)`` through the array's jump table (see
        ``ProgArray``): the target's entry runs here, on its own run context set up as
        a tail call sees it (this run's budget, CPU, Env, packet, batch state and region
        table, one more tail call), and this program unwinds with ST_EXIT and the
        target's final registers. Its faults stay its own (FAULT_CTX names its context,
        so Python raises them through its machine). An empty slot, an index out of
        range or the 33-call limit return -ENOENT as the Python helper does; anything
        else (not a prog array, a target native code cannot enter) goes to Python."""
        f = self.helper(NATIVE_HELPERS[12])
        b = f.b
        ctx, _, _, r1, r2, r3 = f.fn.args[:6]
        fallback = f.block("python")
        kind = self.map_handle(f, fallback, r2)
        prog_array = f.block("prog_array")
        b.cbranch(b.icmp_unsigned("==", kind, c64(handle.NATIVE_PROG_ARRAY)), prog_array,
                  fallback)
        f.at(prog_array)
        index = b.and_(r3, c64(_M32))
        count = b.load(f.slot(ctx, abi.TAIL_COUNT))
        refused = b.or_(b.icmp_unsigned(">=", index, f.u32(r2, 12)),
                        b.icmp_unsigned(">=", count, c64(MAX_TAIL_CALLS)))
        _, allowed = f.if_(refused, "refused")
        b.ret(_err(errno.ENOENT))
        f.at(allowed)
        words = b.add(f.u64(r2, handle.HANDLE_VALUES), b.mul(index, c64(8 * ProgArray.TARGET_WORDS)))
        target = f.u64(words)
        _, occupied = f.if_(b.icmp_unsigned("==", target, c64(0)), "empty")
        b.ret(_err(errno.ENOENT))
        f.at(occupied)
        tctx = b.inttoptr(f.u64(words, 8), CTX_T)
        elsewhere = b.or_(b.icmp_unsigned("==", target, c64(1)),
                          b.icmp_unsigned("!=", f.u64(words, 16),
                                          b.load(f.slot(ctx, abi.MEMORY_ID))))
        enter = f.block("enter")
        b.cbranch(elsewhere, fallback, enter)
        f.at(enter)

        # A program may tail-call itself: then the target's context is this one, and its
        # caller (for Python's state) and a fault's origin stay what they are.
        itself = b.icmp_unsigned("==", tctx, ctx)
        caller = b.select(itself, b.load(f.slot(ctx, abi.CALLER_CTX)), b.ptrtoint(ctx, I64))

        def copy(index: int, to: ir.Value = tctx, source: ir.Value = ctx) -> None:
            b.store(b.load(f.slot(source, index)), f.slot(to, index))

        for index, value in ((abi.STATUS, c64(abi.ST_OK)), (abi.PC, c64(0)), (abi.CLEAR, c64(1)),
                             (abi.ARGS, r1), (abi.ARGS + 1, c64(0)), (abi.ARGS + 2, c64(0)),
                             (abi.ARGS + 3, c64(0)), (abi.ARGS + 4, c64(0)),
                             (abi.TAIL_COUNT, b.add(count, c64(1))), (abi.FAULT_CTX, c64(0)),
                             (abi.CALLER_CTX, caller),
                             (abi.VIEW, c64(0)), (abi.VIEW_SIZE, c64(0))):
            b.store(value, f.slot(tctx, index))
        for index in (abi.BUDGET, abi.CPU, abi.PACKET_ADDR, abi.PACKET_LEN, abi.PACKET_NATIVE,
                      abi.BATCH, abi.REGIONS, abi.NREGIONS,
                      *range(abi.CLOCK, abi.RND + 2), *abi.PKT_SLOTS):
            copy(index)
        for index in range(abi.RECENT, abi.RECENT_NEXT + 1):
            b.store(c64(0), f.slot(tctx, index))
        # the target's access cache may name regions gone since its last run: reset it
        self.copy(f, b.load(f.slot(tctx, abi.ACCESS_CACHE)), b.load(f.slot(tctx, abi.ACCESS_RESET)),
                  b.load(f.slot(tctx, abi.ACCESS_BYTES)))
        function = b.inttoptr(target, ir.FunctionType(I64, [CTX_T]).as_pointer())
        r0 = b.call(function, [tctx])
        for index in (abi.BUDGET, abi.BATCH, *range(abi.CLOCK, abi.RND + 2), *abi.PKT_SLOTS):
            copy(index, ctx, tctx)
        # the target's packet slots were this run's: only a run from Python sets them again
        b.store(b.select(itself, b.load(f.slot(ctx, abi.PKT_ALLOW)), c64(0)),
                f.slot(tctx, abi.PKT_ALLOW))
        failed, done = f.block("failed"), f.block("done")
        b.cbranch(b.icmp_unsigned("!=", b.load(f.slot(tctx, abi.STATUS)), c64(abi.ST_OK)),
                  failed, done)
        f.at(failed)
        for index in (abi.STATUS, abi.PC, abi.FAULT_ADDR, abi.FAULT_SIZE, abi.FAULT_WRITE,
                      abi.MESSAGE):
            copy(index, ctx, tctx)
        inner = b.load(f.slot(tctx, abi.FAULT_CTX))
        origin = b.select(b.icmp_unsigned("!=", inner, c64(0)), inner, b.ptrtoint(tctx, I64))
        b.store(b.select(itself, inner, origin), f.slot(ctx, abi.FAULT_CTX))
        b.ret(c64(0))
        f.at(done)
        for index in range(abi.REGS, abi.REGS + 11):
            copy(index, ctx, tctx)
        b.store(c64(abi.ST_EXIT), f.slot(ctx, abi.STATUS))
        b.ret(r0)
        f.at(fallback)
        b.ret(self.python(f))


class _Ring:
    """The ring buffer helpers over :mod:`pybpf.maps.ringbuf`'s data area and control
    block (the same steps as ``RingBufMap.reserve``/``_commit``/``output``/``query``)."""

    def __init__(self, rt: _Runtime):
        self.rt = rt
        self.module = rt.module
        self.memmove = rt.module.declare_intrinsic(
            "llvm.memmove", [I8.as_pointer(), I8.as_pointer(), I64])
        self._reserve = self._commit = self._owner = None

    @staticmethod
    def layout(f: _Fn, map_: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
        """(data address, control block address, mask) of the ring at handle ``map_``."""
        return (f.u64(map_, handle.HANDLE_VALUES), f.u64(map_, handle.HANDLE_AUX),
                f.b.sub(f.u32(map_, 12), c64(1)))

    def ring(self, f: _Fn, fallback: ir.Block) -> None:
        """Continue where r1 is a ring buffer's handle; anything else goes to Python."""
        kind = self.rt.map_handle(f, fallback)
        ok = f.block("ringbuf")
        f.b.cbranch(f.b.icmp_unsigned("==", kind, c64(handle.NATIVE_RINGBUF)), ok, fallback)
        f.at(ok)

    def reserve_fn(self) -> ir.Function:
        """``u64 reserve(map, size)``: the sample's address, or 0 when it does not fit."""
        if self._reserve is not None:
            return self._reserve
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64]), "bpf_ringbuf_reserve_in")
        b = f.b
        map_, size = f.fn.args
        data, ctl, mask = self.layout(f, map_)
        hdr = rb.BPF_RINGBUF_HDR_SZ
        length = b.and_(b.add(size, c64(hdr + 7)), c64(~7))
        _, sized = f.if_(b.or_(b.icmp_unsigned(">", size, c64(rb.RINGBUF_MAX_RECORD_SZ)),
                               b.icmp_unsigned(">", length, b.add(mask, c64(1)))), "too_big")
        b.ret(c64(0))
        f.at(sized)
        prod = f.u64(ctl, 8 * rb.RB_PRODUCER)
        first = f.u64(ctl, 8 * rb.RB_PENDING)
        start = b.block
        # Advance past records already committed to the oldest one still busy.
        loop, body, step, done = f.block("pending"), f.block("pending_body"), \
            f.block("pending_step"), f.block("pending_done")
        b.branch(loop)
        f.at(loop)
        pend = b.phi(I64, "pend")
        pend.add_incoming(first, start)
        b.cbranch(b.icmp_unsigned("<", pend, prod), body, done)
        f.at(body)
        word = f.u32(b.add(data, b.and_(pend, mask)))
        b.cbranch(b.icmp_unsigned("!=", b.and_(word, c64(rb.BPF_RINGBUF_BUSY_BIT)), c64(0)),
                  done, step)
        f.at(step)
        plain = b.and_(word, c64(~rb.BPF_RINGBUF_DISCARD_BIT & _M32))
        pend.add_incoming(b.add(pend, b.and_(b.add(plain, c64(hdr + 7)), c64(~7))), step)
        b.branch(loop)
        f.at(done)
        pend_end = b.phi(I64, "pend_end")
        pend_end.add_incoming(pend, loop)
        pend_end.add_incoming(pend, body)
        b.store(pend_end, f.ptr(b.add(ctl, c64(8 * rb.RB_PENDING)), I64), align=8)
        new_prod = b.add(prod, length)
        cons = f.u64(ctl, 8 * rb.RB_CONSUMER)
        full = b.or_(b.icmp_unsigned(">", b.sub(new_prod, cons), mask),
                     b.icmp_unsigned(">", b.sub(new_prod, pend_end), mask))
        _, room = f.if_(full, "full")
        b.ret(c64(0))
        f.at(room)
        offset = b.and_(prod, mask)
        at = b.add(data, offset)
        f.set32(at, 0, b.or_(size, c64(rb.BPF_RINGBUF_BUSY_BIT)))
        f.set32(at, 4, b.udiv(offset, c64(PAGE_SIZE)))
        b.store(new_prod, f.ptr(b.add(ctl, c64(8 * rb.RB_PRODUCER)), I64), align=8)
        b.ret(b.add(at, c64(hdr)))
        self._reserve = f.fn
        return f.fn

    def commit_fn(self) -> ir.Function:
        """``u64 commit(map, address, discard)``: 0, or 1 when ``address`` is not a reserved
        sample of the ring (Python raises the error)."""
        if self._commit is not None:
            return self._commit
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64, I64]), "bpf_ringbuf_commit_in")
        b = f.b
        map_, address, discard = f.fn.args
        data, ctl, mask = self.layout(f, map_)
        offset = b.sub(b.sub(address, c64(rb.BPF_RINGBUF_HDR_SZ)), data)
        bad = b.or_(b.icmp_unsigned(">", offset, mask),
                    b.icmp_unsigned("!=", b.and_(offset, c64(7)), c64(0)))
        _, aligned = f.if_(bad, "not_sample")
        b.ret(c64(1))
        f.at(aligned)
        at = b.add(data, offset)
        word = f.u32(at)
        _, busy = f.if_(b.icmp_unsigned("==", b.and_(word, c64(rb.BPF_RINGBUF_BUSY_BIT)),
                                        c64(0)), "not_reserved")
        b.ret(c64(1))
        f.at(busy)
        size = b.and_(word, c64(~rb.BPF_RINGBUF_BUSY_BIT & _M32))
        end = b.add(b.add(offset, c64(rb.BPF_RINGBUF_HDR_SZ)), size)
        top = b.add(mask, c64(1))
        wraps = b.and_(b.icmp_unsigned("==", f.u64(ctl, 8 * rb.RB_DOUBLE), c64(0)),
                       b.icmp_unsigned(">", end, top))
        _, copied = f.if_(wraps, "wrapped")          # copy the wrapped tail to the front
        b.call(self.memmove, [f.ptr(data, I8), f.ptr(b.add(data, top), I8), b.sub(end, top),
                              ir.Constant(I1, 0)])
        b.branch(copied)
        f.at(copied)
        flag = b.select(b.icmp_unsigned("!=", discard, c64(0)),
                        c64(rb.BPF_RINGBUF_DISCARD_BIT), c64(0))
        f.set32(at, 0, b.or_(size, flag))
        b.ret(c64(0))
        self._commit = f.fn
        return f.fn

    def owner_fn(self) -> ir.Function:
        """``u64 owner(ctx, address)``: the handle of the ring buffer map whose data holds
        ``address``, of the map handles in the region table (as the Python helper looks
        through the memory's maps), or 0."""
        if self._owner is not None:
            return self._owner
        from pybpf.jit.codegen import CTX_T

        f = _Fn(self.module, ir.FunctionType(I64, [CTX_T, I64]), "bpf_ringbuf_owner")
        b = f.b
        ctx, address = f.fn.args
        regions = b.load(f.slot(ctx, abi.REGIONS))
        count = b.load(f.slot(ctx, abi.NREGIONS))
        start_bb = b.block
        loop, body, is_map, is_ring, nxt, found, none = (
            f.block("loop"), f.block("body"), f.block("is_map"), f.block("is_ring"),
            f.block("next"), f.block("found"), f.block("none"))
        b.branch(loop)
        f.at(loop)
        i = b.phi(I64, "i")
        i.add_incoming(c64(0), start_bb)
        b.cbranch(b.icmp_unsigned("<", i, count), body, none)
        f.at(body)
        entry = b.add(regions, b.mul(i, c64(8 * abi.ENTRY_WORDS)))
        flags = f.u64(entry, 16)
        b.cbranch(b.icmp_unsigned("!=", b.and_(flags, c64(abi.RF_MAP)), c64(0)), is_map, nxt)
        f.at(is_map)
        start = f.u64(entry)
        b.cbranch(b.icmp_unsigned("==", f.u32(start, handle.HANDLE_KIND),
                                  c64(handle.NATIVE_RINGBUF)), is_ring, nxt)
        f.at(is_ring)
        data = f.u64(start, handle.HANDLE_VALUES)
        span = b.mul(f.u32(start, 12), c64(2))
        inside = b.and_(b.icmp_unsigned("<", data, address),
                        b.icmp_unsigned("<", b.sub(address, data), span))
        b.cbranch(inside, found, nxt)
        f.at(nxt)
        i.add_incoming(b.add(i, c64(1)), nxt)
        b.branch(loop)
        f.at(found)
        b.ret(start)
        f.at(none)
        b.ret(c64(0))
        self._owner = f.fn
        return f.fn

    def output(self) -> None:
        f = self.rt.helper(NATIVE_HELPERS[130])
        b = f.b
        r1, r2, r3, r4 = f.fn.args[3:7]
        fallback, fault = f.block("python"), f.block("fault")
        self.ring(f, fallback)
        # The data is read before anything is reserved (the Python helper copies it first):
        # data inside the ring itself goes to Python.
        data, _, mask = self.layout(f, r1)
        has_data, read, go = f.block("has_data"), f.block("read"), f.block("go")
        b.cbranch(b.icmp_unsigned("!=", r3, c64(0)), has_data, go)
        f.at(has_data)
        span = b.mul(b.add(mask, c64(1)), c64(2))
        apart = b.or_(b.icmp_unsigned("<=", b.add(r2, r3), data),
                      b.icmp_unsigned(">=", r2, b.add(data, span)))
        b.cbranch(apart, read, fallback)
        f.at(read)
        self.rt.readable(f, r2, r3, fallback, fault)
        b.branch(go)
        f.at(go)
        _, flags_ok = f.if_(b.icmp_unsigned(
            "!=", b.and_(r4, c64(~(rb.BPF_RB_NO_WAKEUP | rb.BPF_RB_FORCE_WAKEUP))), c64(0)),
            "bad_flags")
        b.ret(_err(errno.EINVAL))
        f.at(flags_ok)
        address = b.call(self.reserve_fn(), [r1, r3])
        _, reserved = f.if_(b.icmp_unsigned("==", address, c64(0)), "no_room")
        b.ret(_err(errno.EAGAIN))
        f.at(reserved)
        self.rt.copy(f, address, r2, r3)
        b.call(self.commit_fn(), [r1, address, c64(0)])
        b.ret(c64(0))
        f.at(fallback)
        b.ret(self.rt.python(f))
        f.at(fault)
        b.ret(c64(0))

    def reserve(self) -> None:
        f = self.rt.helper(NATIVE_HELPERS[131])
        b = f.b
        r1, r2, r3 = f.fn.args[3:6]
        fallback = f.block("python")
        self.ring(f, fallback)
        _, no_flags = f.if_(b.icmp_unsigned("!=", r3, c64(0)), "flags")
        b.ret(c64(0))
        f.at(no_flags)
        b.ret(b.call(self.reserve_fn(), [r1, r2]))
        f.at(fallback)
        b.ret(self.rt.python(f))

    def commit(self, hid: int, discard: bool) -> None:
        f = self.rt.helper(NATIVE_HELPERS[hid])
        b = f.b
        ctx, r1 = f.fn.args[0], f.fn.args[3]
        fallback = f.block("python")
        owner = b.call(self.owner_fn(), [ctx, r1])
        found = f.block("found")
        b.cbranch(b.icmp_unsigned("==", owner, c64(0)), fallback, found)
        f.at(found)
        refused = b.call(self.commit_fn(), [owner, r1, c64(int(discard))])
        done = f.block("done")
        b.cbranch(b.icmp_unsigned("!=", refused, c64(0)), fallback, done)
        f.at(done)
        b.ret(c64(0))
        f.at(fallback)
        b.ret(self.rt.python(f))

    def query(self) -> None:
        f = self.rt.helper(NATIVE_HELPERS[134])
        b = f.b
        r1, r2 = f.fn.args[3:5]
        fallback = f.block("python")
        self.ring(f, fallback)
        _, ctl, mask = self.layout(f, r1)
        cons, prod = f.u64(ctl, 8 * rb.RB_CONSUMER), f.u64(ctl, 8 * rb.RB_PRODUCER)
        other = f.block("other")
        switch = b.switch(r2, other)
        for flag, value in ((rb.BPF_RB_AVAIL_DATA, lambda: b.sub(prod, cons)),
                            (rb.BPF_RB_RING_SIZE, lambda: b.add(mask, c64(1))),
                            (rb.BPF_RB_CONS_POS, lambda: cons),
                            (rb.BPF_RB_PROD_POS, lambda: prod)):
            bb = f.block(f"flag{flag}")
            switch.add_case(c64(flag), bb)
            f.at(bb)
            b.ret(value())
        f.at(other)
        b.ret(c64(0))
        f.at(fallback)
        b.ret(self.rt.python(f))


class _Csum:
    """``bpf_csum_diff`` (pybpf.vm.progtypes.csum: the kernel's csum_partial arithmetic)."""

    def __init__(self, rt: _Runtime):
        self.rt = rt
        self.module = rt.module

    def partial_fn(self) -> ir.Function:
        """``u32 csum_partial(address, size, seed)``: 32-bit little-endian words, then a
        u16 and a u8 tail, onto ``seed``, with end-around carry (sizes up to CSUM_MAX, so
        two folds of the 64-bit sum are enough). Reads only the ``size`` bytes."""
        f = _Fn(self.module, ir.FunctionType(I64, [I64, I64, I64]), "bpf_csum_partial")
        b = f.b
        address, size, seed = f.fn.args
        whole = b.and_(size, c64(~3))
        seed32 = b.and_(seed, c64(_M32))
        start = b.block
        loop, body, tail = f.block("loop"), f.block("body"), f.block("tail")
        b.branch(loop)
        f.at(loop)
        i, total = b.phi(I64, "i"), b.phi(I64, "total")
        i.add_incoming(c64(0), start)
        total.add_incoming(seed32, start)
        b.cbranch(b.icmp_unsigned("<", i, whole), body, tail)
        f.at(body)
        word = b.zext(b.load(f.ptr(b.add(address, i), I32), align=1), I64)
        i.add_incoming(b.add(i, c64(4)), body)
        total.add_incoming(b.add(total, word), body)
        b.branch(loop)
        f.at(tail)
        acc = total
        for bit, ty, at in ((2, ir.IntType(16), lambda: b.add(address, whole)),
                            (1, I8, lambda: b.add(address, b.sub(size, c64(1))))):
            before = b.block
            add, after = f.block(f"tail{bit}"), f.block(f"tail{bit}_done")
            b.cbranch(b.icmp_unsigned("!=", b.and_(size, c64(bit)), c64(0)), add, after)
            f.at(add)
            more = b.add(acc, b.zext(b.load(f.ptr(at(), ty), align=1), I64))
            b.branch(after)
            f.at(after)
            merged = b.phi(I64)
            merged.add_incoming(acc, before)
            merged.add_incoming(more, add)
            acc = merged
        for _ in range(2):
            acc = b.add(b.and_(acc, c64(_M32)), b.lshr(acc, c64(32)))
        b.ret(acc)
        return f.fn

    def helper(self) -> None:
        f = self.rt.helper(NATIVE_HELPERS[28])
        b = f.b
        ctx, _, _, r1, r2, r3, r4, r5 = f.fn.args
        fallback, fault = f.block("python"), f.block("fault")
        gate = f.slot(ctx, CSUM_GATE)
        native = f.block("native")
        b.cbranch(b.icmp_unsigned("==", b.load(gate), c64(CSUM_OPEN)), native, fallback)
        f.at(native)
        from_size, to_size = b.and_(r2, c64(_M32)), b.and_(r4, c64(_M32))
        _, sized = f.if_(b.icmp_unsigned(">", b.add(from_size, to_size), c64(CSUM_MAX)),
                         "too_big")
        b.ret(_err(errno.EINVAL))
        f.at(sized)
        for address, size, name in ((r1, from_size, "from"), (r3, to_size, "to")):
            check, after = f.block(f"{name}_check"), f.block(f"{name}_ok")
            b.cbranch(b.icmp_unsigned("!=", size, c64(0)), check, after)
            f.at(check)
            self.rt.readable(f, address, size, fallback, fault)
            b.branch(after)
            f.at(after)
        seed = b.trunc(r5, I32)
        partial = self.partial_fn()
        to_sum = b.trunc(b.call(partial, [r3, to_size, b.zext(seed, I64)]), I32)
        no_from, some_from = f.block("no_from"), f.block("some_from")
        b.cbranch(b.icmp_unsigned("==", from_size, c64(0)), no_from, some_from)
        f.at(no_from)               # only "to" (or neither: the seed)
        b.ret(self.fold(b, to_sum))
        f.at(some_from)
        both, only_from = f.block("both"), f.block("only_from")
        b.cbranch(b.icmp_unsigned("!=", to_size, c64(0)), both, only_from)
        f.at(both)
        from_sum = b.trunc(b.call(partial, [r1, from_size, c64(0)]), I32)
        b.ret(self.fold(b, self.add(b, to_sum, b.not_(from_sum))))
        f.at(only_from)
        from_sum = b.trunc(b.call(partial, [r1, from_size, b.zext(b.not_(seed), I64)]), I32)
        b.ret(self.fold(b, b.not_(from_sum)))
        # The first call of a run: the Python helper (it checks the program type); when it
        # did not fail, the run's later calls are native.
        f.at(fallback)
        r0 = self.rt.python(f)
        ok = b.icmp_unsigned("==", b.load(f.slot(ctx, abi.STATUS)), c64(abi.ST_OK))
        b.store(b.select(ok, c64(CSUM_OPEN), b.load(gate)), gate)
        b.ret(r0)
        f.at(fault)
        b.ret(c64(0))

    @staticmethod
    def add(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
        """csum_add: 32-bit add with end-around carry."""
        res = b.add(x, y)
        return b.add(res, b.zext(b.icmp_unsigned("<", res, y), I32))

    @staticmethod
    def fold(b: ir.IRBuilder, csum: ir.Value) -> ir.Value:
        """csum_from32to16, as the u64 the helper returns."""
        rotated = b.or_(b.lshr(csum, ir.Constant(I32, 16)), b.shl(csum, ir.Constant(I32, 16)))
        return b.zext(b.lshr(b.add(csum, rotated), ir.Constant(I32, 16)), I64)


def exported() -> list[str]:
    """The runtime functions besides the helpers that generated code calls."""
    return [LOOKUP_HASH, LOOKUP_LPM]


def define(module: ir.Module, find: ir.Function, check: ir.Function) -> None:
    """Add every native helper to the runtime module."""
    from pybpf.jit import natives_packet     # it builds on this module's pieces

    rt = _Runtime(module, find, check)
    for trusted in (False, True):
        rt.trusted = trusted
        rt.lookup()
        rt.update()
        rt.delete()
    rt.trusted = False
    rt.clocks()
    rt.prandom()
    rt.cpu()
    rt.tail_call()
    ring = _Ring(rt)
    ring.output()
    ring.reserve()
    ring.commit(132, discard=False)
    ring.commit(133, discard=True)
    ring.query()
    _Csum(rt).helper()
    natives_packet.define(rt)


__all__ = ["LOOKUP_HASH", "LOOKUP_LPM", "define", "exported"]

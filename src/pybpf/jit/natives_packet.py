"""Packet helpers in native code: ``bpf_skb_load_bytes``, ``bpf_skb_store_bytes``,
``bpf_l3_csum_replace``, ``bpf_l4_csum_replace``, ``bpf_xdp_adjust_head``,
``bpf_xdp_adjust_tail`` and ``bpf_redirect_map``.

They work on the run's packet as the run context mirrors it (abi.PKT_*: the buffer, the
offsets of data_meta, data and data_end in it, a redirect chosen natively), which the
machine copies in from the program type's state (``SkbState``, ``XdpState``) and back out
around every call into Python. ``PKT_ALLOW`` says which of them the state offers; any
other case goes to the Python helper, which decides as it always does: a helper the
program type is not offered, a flag with Python-side effects (``BPF_F_INVALIDATE_HASH``),
a zero size, a frame with fragments, a map that is not a devmap/cpumap/xskmap, a
context pointer that is not the context. Results, errnos and checksums are the Python
helpers' (:mod:`pybpf.vm.helpers.net`, :mod:`pybpf.vm.progtypes.csum`) bit for bit.

An XDP helper that moves ``data``, ``data_end`` or ``data_meta`` also writes the new
values into the context's load view (see abi), so the program's next loads of them are
answered natively.
"""

from __future__ import annotations

import errno

from llvmlite import ir

from pybpf.isa.uapi import MapType
from pybpf.jit import abi
from pybpf.jit.abi import NATIVE_HELPERS
from pybpf.jit.codegen import I1, I8, I32, I64, c64
from pybpf.jit.natives import _err, _Fn, _Runtime
from pybpf.jit.runtime import WRITE, swap_bytes
from pybpf.maps import _base as handle
from pybpf.vm.helpers import net
from pybpf.vm.progtypes import xdp
from pybpf.vm.progtypes.base import ETH_HLEN

I16 = ir.IntType(16)
_M32 = 0xFFFFFFFF


class _Packet:
    """The packet helpers, defined in the shared runtime module."""

    def __init__(self, rt: _Runtime):
        self.rt = rt
        void_p = I8.as_pointer()
        self.memmove = rt.module.declare_intrinsic("llvm.memmove", [void_p, void_p, I64])

    def begin(self, hid: int, bit: int) -> tuple[_Fn, ir.Block, ir.Block]:
        """A helper whose native path needs ``bit`` in PKT_ALLOW: (function, Python
        fallback, fault) with the builder on the native path."""
        f = self.rt.helper(NATIVE_HELPERS[hid])
        b = f.b
        fallback, fault = f.block("python"), f.block("fault")
        native = f.block("native")
        allow = b.load(f.slot(f.fn.args[0], abi.PKT_ALLOW))
        b.cbranch(b.icmp_unsigned("!=", b.and_(allow, c64(bit)), c64(0)), native, fallback)
        f.at(fault)
        b.ret(c64(0))
        f.at(fallback)
        b.ret(self.rt.python(f))
        f.at(native)
        return f, fallback, fault

    def slot(self, f: _Fn, index: int) -> ir.Value:
        return f.b.load(f.slot(f.fn.args[0], index))

    def set_slot(self, f: _Fn, index: int, value: ir.Value) -> None:
        f.b.store(value, f.slot(f.fn.args[0], index))

    def move(self, f: _Fn, dst: ir.Value, src: ir.Value, size: ir.Value) -> None:
        f.b.call(self.memmove, [f.ptr(dst, I8), f.ptr(src, I8), size, ir.Constant(I1, 0)])

    def skb_bytes(self, f: _Fn, offset: ir.Value, size: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(whether [offset, offset + size) lies in the skb's linear data, its address)."""
        b = f.b
        data, end = self.slot(f, abi.PKT_DATA), self.slot(f, abi.PKT_END)
        inside = b.and_(b.icmp_unsigned("<=", offset, c64(net.INT_MAX)),
                        b.icmp_unsigned("<=", b.add(offset, size), b.sub(end, data)))
        return inside, b.add(self.slot(f, abi.PKT_FRAME), b.add(data, offset))

    # -- skb ------------------------------------------------------------------------------

    def skb_load_bytes(self) -> None:
        f, fallback, fault = self.begin(26, abi.PH_SKB_LOAD)
        b = f.b
        r3, r4 = f.fn.args[5:7]
        offset, size = b.and_(f.fn.args[4], c64(_M32)), b.and_(r4, c64(_M32))
        _, sized = f.if_(b.icmp_unsigned("==", size, c64(0)), "empty")
        b.branch(fallback)
        f.at(sized)
        self.rt.readable(f, r3, size, fallback, fault, WRITE)
        inside, source = self.skb_bytes(f, offset, size)
        copy, outside = f.block("copy"), f.block("outside")
        b.cbranch(inside, copy, outside)
        f.at(copy)
        self.move(f, r3, source, size)
        b.ret(c64(0))
        f.at(outside)
        self.rt.zero(f, r3, size)
        b.ret(_err(errno.EFAULT))

    def skb_store_bytes(self) -> None:
        f, fallback, fault = self.begin(9, abi.PH_SKB_STORE)
        b = f.b
        r3, r4, r5 = f.fn.args[5:8]
        offset, size = b.and_(f.fn.args[4], c64(_M32)), b.and_(r4, c64(_M32))
        _, known = f.if_(b.icmp_unsigned("!=", b.and_(r5, c64(~(net.BPF_F_RECOMPUTE_CSUM
                                                                 | net.BPF_F_INVALIDATE_HASH))),
                                          c64(0)), "bad_flags")
        b.ret(_err(errno.EINVAL))
        f.at(known)
        # clearing the hash is Python's, and so is the rare empty store
        python = b.or_(b.icmp_unsigned("!=", b.and_(r5, c64(net.BPF_F_INVALIDATE_HASH)), c64(0)),
                       b.icmp_unsigned("==", size, c64(0)))
        go = f.block("go")
        b.cbranch(python, fallback, go)
        f.at(go)
        inside, target = self.skb_bytes(f, offset, size)
        _, fits = f.if_(b.not_(inside), "outside")
        b.ret(_err(errno.EFAULT))
        f.at(fits)
        self.rt.readable(f, r3, size, fallback, fault)
        self.move(f, target, r3, size)
        b.ret(c64(0))

    def csum_replace(self, hid: int) -> None:
        """``bpf_l3_csum_replace`` (hid 10) and ``bpf_l4_csum_replace`` (11)."""
        l4 = hid == 11
        f, _, _ = self.begin(hid, abi.PH_CSUM)
        b = f.b
        r2, r3, r4, r5 = f.fn.args[4:8]
        offset = b.and_(r2, c64(_M32))
        allowed = net.BPF_F_HDR_FIELD_MASK | (net.BPF_F_MARK_MANGLED_0 | net.BPF_F_MARK_ENFORCE
                                              | net.BPF_F_PSEUDO_HDR | net.BPF_F_IPV6 if l4 else 0)
        _, known = f.if_(b.icmp_unsigned("!=", b.and_(r5, c64(~allowed)), c64(0)), "bad_flags")
        b.ret(_err(errno.EINVAL))
        f.at(known)
        inside, field = self.skb_bytes(f, offset, c64(2))
        bad = b.or_(b.not_(inside), b.or_(b.icmp_unsigned(">", offset, c64(0xFFFF)),
                                          b.icmp_unsigned("!=", b.and_(offset, c64(1)), c64(0))))
        _, fits = f.if_(bad, "bad_field")
        b.ret(_err(errno.EFAULT))
        f.at(fits)
        pointer = f.ptr(field, I16)
        old = b.zext(swap_bytes(b, self.rt.module, b.load(pointer, align=1)), I32)
        mangled0 = b.icmp_unsigned("!=", b.and_(r5, c64(net.BPF_F_MARK_MANGLED_0)), c64(0))
        if l4:       # MANGLED_0 without ENFORCE leaves a zero (no) checksum alone
            enforce = b.icmp_unsigned("!=", b.and_(r5, c64(net.BPF_F_MARK_ENFORCE)), c64(0))
            skip = b.and_(b.and_(mangled0, b.not_(enforce)), b.icmp_unsigned("==", old,
                                                                               ir.Constant(I32, 0)))
            _, go = f.if_(skip, "no_csum")
            b.ret(c64(0))
            f.at(go)
        size = b.and_(r5, c64(net.BPF_F_HDR_FIELD_MASK))
        frm, to = b.trunc(r3, I32), b.trunc(r4, I32)
        invalid = f.block("invalid")
        switch = b.switch(size, invalid)
        results = []
        for width in (0, 2, 4):
            case = f.block(f"size{width}")
            switch.add_case(c64(width), case)
            f.at(case)
            if width == 0:
                _, by_diff = f.if_(b.icmp_unsigned("!=", r3, c64(0)), "from_set")
                b.branch(invalid)
                f.at(by_diff)
                new = _by_diff(b, old, to)
            elif width == 2 and not l4:
                new = _replace2(b, old, frm, to)
            else:           # l4's 2-byte fields are replaced as 4-byte values of them
                mask = ir.Constant(I32, 0xFFFF if width == 2 else _M32)
                new = _replace4(b, old, b.and_(frm, mask), b.and_(to, mask))
            results.append((new, b.block))
        f.at(invalid)
        b.ret(_err(errno.EINVAL))
        store = f.block("store")
        for _, block in results:
            f.at(block)
            b.branch(store)
        f.at(store)
        new = b.phi(I32)
        for value, block in results:
            new.add_incoming(value, block)
        if l4:       # MANGLED_0: a checksum that comes out zero is sent as 0xffff
            zero = b.and_(mangled0, b.icmp_unsigned("==", new, ir.Constant(I32, 0)))
            new = b.select(zero, ir.Constant(I32, 0xFFFF), new)
        b.store(swap_bytes(b, self.rt.module, b.trunc(new, I16)), pointer, align=1)
        b.ret(c64(0))

    # -- XDP ------------------------------------------------------------------------------

    def view_record(self, f: _Fn, fallback: ir.Block) -> ir.Value:
        """The address of r1's load view (r1 must be the start of a context region), or
        0 when it keeps none; anything else goes to Python."""
        b = f.b
        ctx, r1 = f.fn.args[0], f.fn.args[3]
        entry = b.call(self.rt.find, [ctx, r1])
        have, is_ctx = f.block("have_region"), f.block("is_ctx")
        b.cbranch(b.icmp_unsigned("==", entry, ir.Constant(entry.type, None)), fallback, have)
        f.at(have)
        flags = b.load(b.gep(entry, [c64(2)], inbounds=True))
        ok = b.and_(b.icmp_unsigned("==", b.load(entry), r1),
                    b.icmp_unsigned("!=", b.and_(flags, c64(abi.RF_PYTHON)), c64(0)))
        b.cbranch(ok, is_ctx, fallback)
        f.at(is_ctx)
        return b.load(b.gep(entry, [c64(3)], inbounds=True))

    def tell_view(self, f: _Fn, view: ir.Value, field: int, value: ir.Value) -> None:
        """The view now knows the u32 load of ``xdp_md`` ``field``: ``value``."""
        b = f.b
        _, after = f.if_(b.icmp_unsigned("!=", view, c64(0)), f"view{field}")
        record = b.add(view, c64(8 * abi.VIEW_WORDS * field))
        b.store(c64(4), f.ptr(record, I64), align=8)
        b.store(value, f.ptr(b.add(record, c64(8 * 3)), I64), align=8)
        b.branch(after)
        f.at(after)

    def xdp_adjust_head(self) -> None:
        f, fallback, _ = self.begin(44, abi.PH_XDP)
        b = f.b
        view = self.view_record(f, fallback)
        offset = b.sext(b.trunc(f.fn.args[4], I32), I64)
        frame = self.slot(f, abi.PKT_FRAME)
        meta, data, end = (self.slot(f, s) for s in (abi.PKT_META, abi.PKT_DATA, abi.PKT_END))
        keeps_meta = b.icmp_unsigned("!=", b.and_(self.slot(f, abi.PKT_ALLOW),
                                                  c64(abi.PH_XDP_META)), c64(0))
        metalen = b.select(keeps_meta, b.sub(data, meta), c64(0))
        moved = b.add(data, offset)
        bad = b.or_(b.icmp_signed("<", moved, b.add(c64(xdp.XDP_FRAME_SIZE), metalen)),
                    b.icmp_signed(">", moved, b.sub(end, c64(ETH_HLEN))))
        _, fits = f.if_(bad, "bad")
        b.ret(_err(errno.EINVAL))
        f.at(fits)
        _, after = f.if_(b.icmp_unsigned("!=", metalen, c64(0)), "move_meta")
        self.move(f, b.add(frame, b.add(meta, offset)), b.add(frame, meta), metalen)
        b.branch(after)
        f.at(after)
        new_meta = b.add(meta, offset)
        self.set_slot(f, abi.PKT_META, new_meta)
        self.set_slot(f, abi.PKT_DATA, moved)
        self.set_slot(f, abi.PKT_CHANGED, c64(1))
        self.tell_view(f, view, xdp.DATA, b.add(frame, moved))
        self.tell_view(f, view, xdp.DATA_META, b.add(frame, new_meta))
        b.ret(c64(0))

    def xdp_adjust_tail(self) -> None:
        f, fallback, _ = self.begin(65, abi.PH_XDP_TAIL)
        b = f.b
        view = self.view_record(f, fallback)
        offset = b.sext(b.trunc(f.fn.args[4], I32), I64)
        frame, data, end = (self.slot(f, s) for s in (abi.PKT_FRAME, abi.PKT_DATA, abi.PKT_END))
        moved = b.add(end, offset)
        bad = b.or_(b.icmp_signed(">", moved, c64(xdp.HARD_END)),
                    b.icmp_signed("<", moved, b.add(data, c64(ETH_HLEN))))
        _, fits = f.if_(bad, "bad")
        b.ret(_err(errno.EINVAL))
        f.at(fits)
        _, after = f.if_(b.icmp_signed(">", offset, c64(0)), "grow")
        self.rt.zero(f, b.add(frame, end), offset)
        b.branch(after)
        f.at(after)
        self.set_slot(f, abi.PKT_END, moved)
        self.set_slot(f, abi.PKT_CHANGED, c64(1))
        self.tell_view(f, view, xdp.DATA_END, b.add(frame, moved))
        b.ret(c64(0))

    def redirect_map(self) -> None:
        """A devmap, cpumap or xskmap slot (NATIVE_SLOTS), flags no more than the action
        on a miss; a devmap_hash, and the flags that need checking, go to Python."""
        f, fallback, _ = self.begin(51, abi.PH_XDP)
        b = f.b
        r1, r2, r3 = f.fn.args[3:6]
        kind = self.rt.map_handle(f, fallback)
        slots = f.block("slots")
        plain = b.and_(b.icmp_unsigned("==", kind, c64(handle.NATIVE_SLOTS)),
                       b.icmp_unsigned("==", b.and_(r3, c64(~3)), c64(0)))
        b.cbranch(plain, slots, fallback)
        f.at(slots)
        key = b.and_(r2, c64(_M32))
        inside = f.block("inside")
        miss = f.block("miss")
        b.cbranch(b.icmp_unsigned("<", key, f.u32(r1, 12)), inside, miss)
        f.at(inside)
        present = b.load(f.ptr(b.add(f.u64(r1, handle.HANDLE_AUX), key), I8))
        hit = f.block("hit")
        b.cbranch(b.icmp_unsigned("!=", present, ir.Constant(I8, 0)), hit, miss)
        f.at(miss)                      # forgets the redirect chosen before
        self.set_slot(f, abi.PKT_REDIRECT, c64(abi.REDIRECT_CLEARED))
        self.set_slot(f, abi.PKT_CHANGED, c64(1))
        b.ret(r3)
        f.at(hit)
        value = b.add(f.u64(r1, handle.HANDLE_VALUES),
                      b.mul(key, f.u32(r1, handle.HANDLE_STRIDE)))
        devmap = b.icmp_unsigned("==", f.u32(r1, 0), c64(int(MapType.DEVMAP)))
        target = b.select(devmap, f.u32(value), key)    # a devmap's value starts with the ifindex
        self.set_slot(f, abi.PKT_REDIRECT, c64(abi.REDIRECT_SET))
        self.set_slot(f, abi.PKT_REDIRECT + 1, target)
        self.set_slot(f, abi.PKT_CHANGED, c64(1))
        b.ret(c64(net.XDP_REDIRECT))


# -- the kernel's checksum arithmetic (include/net/checksum.h) on u32 / u16 ---------------

def _add32(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """csum_add: 32-bit add with end-around carry."""
    res = b.add(x, y)
    return b.add(res, b.zext(b.icmp_unsigned("<", res, y), I32))


def _fold(b: ir.IRBuilder, csum: ir.Value) -> ir.Value:
    """csum_fold: 32 -> 16 bits with end-around carry, complemented (as an i32)."""
    mask = ir.Constant(I32, 0xFFFF)
    s = b.add(b.and_(csum, mask), b.lshr(csum, ir.Constant(I32, 16)))
    s = b.add(b.and_(s, mask), b.lshr(s, ir.Constant(I32, 16)))
    return b.and_(b.not_(s), mask)


def _replace4(b: ir.IRBuilder, sum16: ir.Value, old: ir.Value, new: ir.Value) -> ir.Value:
    return _fold(b, _add32(b, _add32(b, b.not_(sum16), b.not_(old)), new))


def _by_diff(b: ir.IRBuilder, sum16: ir.Value, diff: ir.Value) -> ir.Value:
    return _fold(b, _add32(b, diff, b.not_(sum16)))


def _replace2(b: ir.IRBuilder, sum16: ir.Value, old: ir.Value, new: ir.Value) -> ir.Value:
    """csum_replace2 in 16 bits: ~csum16_add(csum16_sub(~sum16, old), new)."""
    def add16(x: ir.Value, y: ir.Value) -> ir.Value:      # csum16_add
        res = b.add(x, y)
        return b.add(res, b.zext(b.icmp_unsigned("<", res, y), I16))

    r = add16(b.trunc(b.not_(sum16), I16), b.not_(b.trunc(old, I16)))
    return b.zext(b.not_(add16(r, b.trunc(new, I16))), I32)


def define(rt: _Runtime) -> None:
    """Add the packet helpers to the runtime module."""
    p = _Packet(rt)
    p.skb_load_bytes()
    p.skb_store_bytes()
    p.csum_replace(10)
    p.csum_replace(11)
    p.xdp_adjust_head()
    p.xdp_adjust_tail()
    p.redirect_map()


__all__ = ["define"]

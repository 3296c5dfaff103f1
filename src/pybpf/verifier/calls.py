"""Helper calls, checked against the typed prototypes of :mod:`pybpf.vm.helpers.protos`
(the kernel's ``check_helper_call`` / ``check_func_arg``), and bpf-to-bpf calls."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pybpf.isa.uapi import HELPER_NAMES, HelperId as H, MapType as MT
from pybpf.verifier.mem import (
    READ, WRITE, VerifyFail, check_mem_access, fail, helper_mem_access,
)
from pybpf.verifier.precision import mark_chain_precision, mark_slot_precision
from pybpf.verifier.regs import (
    CONST_PTR_TO_MAP, NOT_INIT, NOT_INIT_REG, PTR_TO_CTX, PTR_TO_FUNC, PTR_TO_MAP_KEY,
    PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_SOCK_COMMON,
    PTR_TO_SOCKET, PTR_TO_STACK, SCALAR,
    BPF_MAX_VAR_OFF, bounds_sync, mark_unknown, not_init, pointer, s64,
)
from pybpf.vm.helpers import protos as P

if TYPE_CHECKING:
    from pybpf.verifier.walk import Verifier

BPF_MAX_VAR_SIZ = 1 << 29
MAX_HELPER_ID = max(HELPER_NAMES) + 1

_MEM_TYPES = ("fp", "pkt", "pkt_meta", "map_key", "map_value", "mem", "ringbuf_mem", "buf",
              "trusted_ptr_")
_KEY_VALUE_TYPES = _MEM_TYPES
_COMPATIBLE = {
    P.ARG_CONST_MAP_PTR: ("map_ptr",),
    P.ARG_PTR_TO_MAP_KEY: _KEY_VALUE_TYPES,
    P.ARG_PTR_TO_MAP_VALUE: _KEY_VALUE_TYPES,
    P.ARG_PTR_TO_UNINIT_MAP_VALUE: _KEY_VALUE_TYPES,
    P.ARG_PTR_TO_MEM: _MEM_TYPES,
    P.ARG_PTR_TO_MEM_OR_NULL: _MEM_TYPES,
    P.ARG_PTR_TO_WMEM: _MEM_TYPES,
    P.ARG_PTR_TO_UNINIT_MEM: _MEM_TYPES,
    P.ARG_PTR_TO_CTX: ("ctx",),
    P.ARG_PTR_TO_RINGBUF_MEM: ("ringbuf_mem",),
    # btf_id_sock_common_types; a possibly-NULL socket matches none of them
    P.ARG_PTR_TO_SOCK_COMMON_RELEASE: (PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, "tcp_sock", "xdp_sock",
                                       "ptr_", "trusted_ptr_"),
    P.ARG_PTR_TO_FUNC: ("func",),
    P.ARG_PTR_TO_STACK_OR_NULL: ("fp",),
    P.ARG_PTR_TO_SPIN_LOCK: ("map_value", "ptr_"),
    P.ARG_CONST_SIZE: ("scalar",),
    P.ARG_CONST_SIZE_OR_ZERO: ("scalar",),
    P.ARG_CONST_ALLOC_SIZE_OR_ZERO: ("scalar",),
}
_SOCKET_RETS = {P.RET_PTR_TO_SOCKET_OR_NULL: PTR_TO_SOCKET,
                P.RET_PTR_TO_SOCK_COMMON_OR_NULL: PTR_TO_SOCK_COMMON}
_NULLABLE = (P.ARG_PTR_TO_MEM_OR_NULL, P.ARG_PTR_TO_STACK_OR_NULL)
_READONLY_ARGS = (P.ARG_PTR_TO_MEM, P.ARG_PTR_TO_MEM_OR_NULL, P.ARG_PTR_TO_MAP_KEY,
                  P.ARG_PTR_TO_MAP_VALUE)

# check_map_func_compatibility, the part that matters for the map types pybpf has.
_MAP_ONLY_HELPERS = {
    H.ringbuf_output: (MT.RINGBUF,), H.ringbuf_reserve: (MT.RINGBUF,),
    H.ringbuf_query: (MT.RINGBUF,),
    H.tail_call: (MT.PROG_ARRAY,),
    H.perf_event_output: (MT.PERF_EVENT_ARRAY,), H.get_stackid: (MT.STACK_TRACE,),
    H.redirect_map: (MT.DEVMAP, MT.DEVMAP_HASH, MT.CPUMAP, MT.XSKMAP),
    H.map_push_elem: (MT.QUEUE, MT.STACK, MT.BLOOM_FILTER),
    H.map_pop_elem: (MT.QUEUE, MT.STACK), H.map_peek_elem: (MT.QUEUE, MT.STACK,
                                                            MT.BLOOM_FILTER),
}
_MAP_HELPERS = {
    MT.RINGBUF: (H.ringbuf_output, H.ringbuf_reserve, H.ringbuf_query),
    MT.PROG_ARRAY: (H.tail_call,),
    MT.PERF_EVENT_ARRAY: (H.perf_event_read, H.perf_event_output, H.skb_output,
                          H.perf_event_read_value, H.xdp_output),
    MT.QUEUE: (H.map_pop_elem, H.map_peek_elem, H.map_push_elem),
    MT.STACK: (H.map_pop_elem, H.map_peek_elem, H.map_push_elem),
    MT.BLOOM_FILTER: (H.map_peek_elem, H.map_push_elem),
    MT.STACK_TRACE: (H.get_stackid,),
}


def _func(hid: int) -> str:
    return f"{HELPER_NAMES.get(hid, 'unknown')}#{hid}"


def check_helper_call(v: "Verifier", insn, idx: int) -> None:
    hid = insn.imm
    if hid < 0 or hid >= MAX_HELPER_ID:
        raise fail(f"invalid func {_func(hid)}", 22)
    proto = P.func_proto(hid, v.prog_type, perfmon=v.perfmon, bpf_capable=True)
    if proto is None:
        raise fail(f"program of this type cannot use helper {_func(hid)}"
                   if hid in P.PROTOS and v.known_prog_type
                   else f"unknown func {_func(hid)}", 22)
    if proto.gpl_only and not v.gpl:
        raise fail("cannot call GPL-restricted function from non-GPL compatible program", 22)
    if v.state.active_lock is not None and hid not in (H.spin_unlock,):
        raise fail("function calls are not allowed while holding a lock", 22)
    regs = v.state.regs
    meta: dict = {"map": None, "raw_mode": False, "release_regno": 0, "ref_obj_id": 0,
                  "mem_size": 0, "access_size": 0, "regno": 0, "func": None}
    for i, arg in enumerate(proto.args):
        _check_arg(v, proto, i, arg, meta)
    if meta["access_size"]:
        for i in range(meta["access_size"]):
            check_mem_access(v, meta["regno"], i, 1, WRITE, None, imm=None)
    if meta["release_regno"]:
        rid = meta["ref_obj_id"]
        reg = regs[meta["release_regno"]]
        if rid:
            v.release_reference(rid)
        elif not (reg.is_const() and reg.var_off.value == 0):
            raise fail(f"func {_func(hid)} reference has not been acquired before", 22)
    if hid == H.tail_call and (meta["map"] is None or int(meta["map"].type) != MT.PROG_ARRAY):
        raise VerifyFail("expected prog array map for tail call", errno=22,  # record_func_key
                         newline=False)      # (the kernel's verbose() has no newline here)
    if hid == H.tail_call and regs[3].is_const() and \
            regs[3].var_off.value < meta["map"].max_entries:
        mark_chain_precision(v, 3)               # (the JIT may call its target directly)
    const_key = _constant_map_key(v, regs[2], meta["map"]) \
        if hid == H.map_lookup_elem and meta["map"] is not None and \
        int(meta["map"].type) in (MT.ARRAY, MT.PERCPU_ARRAY) else None
    if hid == H.tail_call and v.state.refs:
        raise v.reference_leak("tail_call")
    if hid == H.loop:
        # bpf_loop: the callback is visited again while fewer visits than R1 allows
        if v.state.cur.callback_depth < regs[1].umax:
            v.push_callback(v.insn_idx, meta["func"], hid)
        else:
            v.state.cur.callback_depth = 0
    elif hid == H.for_each_map_elem:
        v.push_callback(v.insn_idx, meta["func"], hid)
    if hid == H.spin_lock:
        if v.state.active_lock is not None:
            raise fail("Locking two bpf_spin_locks are not allowed", 22)
        reg = regs[1]
        v.state.active_lock = (reg.map.name if reg.map else None, reg.id)
    elif hid == H.spin_unlock:
        if v.state.active_lock is None:
            raise fail("bpf_spin_unlock without taking a lock", 22)
        v.state.active_lock = None
    for r in range(1, 6):
        regs[r] = NOT_INIT_REG
        v.scratch_reg(r)
    r0 = v.write_reg(0)
    if proto.ret == P.RET_INTEGER:
        mark_unknown(r0)
        if hid == H.get_smp_processor_id:    # do_refine_retval_range
            top = nr_cpu_ids() - 1
            r0.umin = r0.u32min = r0.smin = r0.s32min = 0
            r0.umax = r0.u32max = r0.smax = r0.s32max = top
            bounds_sync(r0)
    elif proto.ret == P.RET_VOID:
        r0.assign(not_init())
    elif proto.ret == P.RET_PTR_TO_MAP_VALUE_OR_NULL:
        m = meta["map"]
        if const_key is not None and int(m.type) in (MT.ARRAY, MT.PERCPU_ARRAY) and \
                0 <= const_key < m.max_entries:
            # an array looked up with a constant key in range: never NULL
            r0.assign(pointer(PTR_TO_MAP_VALUE, map=m))
        else:
            r0.assign(pointer(PTR_TO_MAP_VALUE, map=m, maybe_null=True))
            r0.id = v.new_id()
    elif proto.ret == P.RET_PTR_TO_RINGBUF_MEM_OR_NULL:
        r0.assign(pointer(PTR_TO_MEM, ringbuf=True, maybe_null=True, mem_size=meta["mem_size"]))
        r0.id = v.new_id()
    elif proto.ret in _SOCKET_RETS:
        r0.assign(pointer(_SOCKET_RETS[proto.ret], maybe_null=True))
        r0.id = v.new_id()
    if proto.acquire:
        # the new reference's id doubles as the null-check id (mark_ptr_or_null_reg)
        rid = v.acquire_reference(v.insn_idx)
        r0.id = rid
        r0.ref_obj_id = rid
    _map_compat(meta["map"], hid)
    if proto.changes_pkt_data:
        v.clear_pkt_pointers()


def nr_cpu_ids() -> int:
    """What bpf_get_smp_processor_id's result is below: the kernel's nr_cpu_ids (from
    sysfs), else the CPUs Python sees."""
    from pybpf.kernel.maps import nr_cpu_ids as kernel_nr_cpu_ids

    try:
        return kernel_nr_cpu_ids()
    except (OSError, ValueError):
        return os.cpu_count() or 1


def _constant_map_key(v: "Verifier", key, m) -> int | None:
    """``get_constant_map_key``: the key a stack pointer points to when it is known
    (zeroed bytes, or a spilled constant of exactly the key's size), else None."""
    if key.type != PTR_TO_STACK or not key.var_off.is_const():
        return None
    addr = key.off + s64(key.var_off.value)
    slot_no = -addr - 1
    spi, off = slot_no // 8, slot_no % 8
    slot = v.frame_of(key).stack.get(spi)
    if slot is None:
        return None
    types = slot.types
    zero = 0
    i = off
    while i >= 0 and types[i] == "0":
        zero += 1
        i -= 1
    if zero >= m.key_size:
        return 0
    if not slot.is_spill or slot.spilled.type != SCALAR:
        return None
    spill = 0
    i = off
    while i >= 0 and types[i] == "r":
        spill += 1
        i -= 1
    if spill != m.key_size or not slot.spilled.var_off.is_const():
        return None
    mark_slot_precision(v, v.frame_of(key).frameno, spi)    # (the verdict relies on it)
    return slot.spilled.var_off.value


def _map_compat(m, hid: int) -> None:
    if m is None:
        return
    allowed = _MAP_HELPERS.get(m.type)
    if allowed is not None and hid not in allowed and hid not in (
            H.map_lookup_elem, H.map_update_elem, H.map_delete_elem) :
        raise fail(f"cannot pass map_type {int(m.type)} into func {_func(hid)}", 22)
    if allowed is not None and hid in (H.map_lookup_elem, H.map_update_elem, H.map_delete_elem) \
            and m.type in (MT.RINGBUF, MT.QUEUE, MT.STACK, MT.BLOOM_FILTER, MT.PERF_EVENT_ARRAY,
                           MT.STACK_TRACE if hid != H.map_lookup_elem else -1):
        raise fail(f"cannot pass map_type {int(m.type)} into func {_func(hid)}", 22)
    need = _MAP_ONLY_HELPERS.get(hid)
    if need is not None and m.type not in need:
        raise fail(f"cannot pass map_type {int(m.type)} into func {_func(hid)}", 22)


def _is_null(reg) -> bool:
    return reg.type == SCALAR and reg.is_const() and reg.var_off.value == 0


def _check_arg(v: "Verifier", proto, i: int, arg: str, meta: dict) -> None:
    regno = i + 1
    regs = v.state.regs
    reg = regs[regno]
    v.scratch_reg(regno)
    if reg.type == NOT_INIT:
        raise fail(f"R{regno} !read_ok")
    if arg == P.ARG_ANYTHING:
        if v.is_pointer_value(reg):
            raise fail(f"R{regno} leaks addr into helper function")
        return
    if reg.is_pkt and not (v.ctx.pkt_read() and proto.pkt_access):
        raise fail("helper access to the packet is not allowed")
    skip = arg in _NULLABLE and _is_null(reg)
    if not skip:
        _check_type(v, reg, regno, arg)
        if arg in P.RELEASE_ARGS and (reg.off or not reg.var_off.is_const()
                                      or reg.var_off.value):
            raise fail(f"R{regno} must have zero offset when passed to release func or "
                       f"trusted arg to kfunc")
        if arg == P.ARG_PTR_TO_CTX:
            if reg.off:
                raise fail(f"dereference of modified ctx ptr R{regno} off={reg.off} "
                           f"disallowed")
            if not reg.var_off.is_const() or reg.var_off.value:
                raise fail(f"variable ctx access var_off={reg.var_off} disallowed")
    if arg in P.RELEASE_ARGS:
        if not reg.ref_obj_id and not _is_null(reg):
            raise fail(f"R{regno} must be referenced when passed to release function", 22)
        meta["release_regno"] = regno
    if reg.ref_obj_id:
        meta["ref_obj_id"] = reg.ref_obj_id
    if arg == P.ARG_CONST_MAP_PTR:
        meta["map"] = reg.map
    elif arg == P.ARG_PTR_TO_MAP_KEY:
        if meta["map"] is None:
            raise fail("invalid map_ptr to access map->key")
        helper_mem_access(v, regno, meta["map"].key_size, READ, False, None)
    elif arg in (P.ARG_PTR_TO_MAP_VALUE, P.ARG_PTR_TO_UNINIT_MAP_VALUE):
        if meta["map"] is None:
            raise fail("invalid map_ptr to access map->value")
        meta["raw_mode"] = arg == P.ARG_PTR_TO_UNINIT_MAP_VALUE
        helper_mem_access(v, regno, meta["map"].value_size,
                          WRITE if arg == P.ARG_PTR_TO_UNINIT_MAP_VALUE else READ, False, meta)
    elif arg in P.MEM_ARGS:
        meta["raw_mode"] = arg == P.ARG_PTR_TO_UNINIT_MEM
    elif arg in P.SIZE_ARGS:
        prev = proto.args[i - 1]
        _check_size(v, reg, regno, WRITE if prev in (P.ARG_PTR_TO_UNINIT_MEM, P.ARG_PTR_TO_WMEM)
                    else READ, arg == P.ARG_CONST_SIZE_OR_ZERO, meta)
    elif arg == P.ARG_CONST_ALLOC_SIZE_OR_ZERO:
        if not reg.var_off.is_const():
            raise fail(f"R{regno} is not a known constant'")
        meta["mem_size"] = reg.var_off.value
        mark_chain_precision(v, regno)
    elif arg == P.ARG_PTR_TO_FUNC:
        meta["func"] = reg.subprog


def _check_type(v: "Verifier", reg, regno: int, arg: str) -> None:
    allowed = _COMPATIBLE.get(arg, ())
    name = reg.type_str()
    if arg in (P.ARG_PTR_TO_MEM, P.ARG_PTR_TO_MEM_OR_NULL, P.ARG_PTR_TO_MAP_KEY,
               P.ARG_PTR_TO_MAP_VALUE) and name.startswith("rdonly_"):
        name = name[len("rdonly_"):]
    ok = name in allowed
    if not ok:
        expected = ", ".join(allowed)
        raise fail(f"R{regno} type={reg.type_str()} expected={expected}")


def _check_size(v: "Verifier", reg, regno: int, kind: str, zero_ok: bool, meta: dict) -> None:
    if not reg.var_off.is_const():
        meta = None
    if reg.smin < 0:
        raise fail(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
    if reg.umin == 0 and not zero_ok:
        raise fail(f"R{regno} invalid zero-sized read: u64=[{reg.umin},{reg.umax}]")
    if reg.umax >= BPF_MAX_VAR_SIZ:
        raise fail(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")
    helper_mem_access(v, regno - 1, reg.umax, kind, zero_ok, meta)
    mark_chain_precision(v, regno)


__all__ = ["check_helper_call"]
del CONST_PTR_TO_MAP, PTR_TO_CTX, PTR_TO_FUNC, PTR_TO_MAP_KEY, PTR_TO_PACKET, \
    PTR_TO_PACKET_META, BPF_MAX_VAR_OFF

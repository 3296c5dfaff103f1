"""Map helpers: lookup/update/delete, push/pop/peek, tail calls, redirect_map, ring
buffers, perf events and for_each_map_elem, over :mod:`pybpf.maps`.

A map argument is the map's handle address (what ``lddw`` of a map yields); keys and
values are read from the program's memory. Failures the kernel reports as return
values come back as negative errnos; a pointer that is not a map is a runtime error
(the kernel's verifier would have refused the program).
"""

from __future__ import annotations

import errno

from pybpf.errors import BpfHelperError
from pybpf.isa.uapi import MapType
from pybpf.vm.helpers.registry import CallContext, TailCall, helper

_M64 = (1 << 64) - 1
BPF_F_CURRENT_CPU = 0xFFFFFFFF
BPF_F_INDEX_MASK = 0xFFFFFFFF
XDP_ABORTED, XDP_REDIRECT = 0, 4
_ACTIONS = 3                        # XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX
BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS = 8, 16
_REDIRECT_MAPS = (MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP)


def _err(code: int) -> int:
    return -code & _M64


def map_arg(call: CallContext, address: int, helper_name: str):
    """The map a helper's map argument points at."""
    from pybpf.maps import map_at

    m = map_at(address)
    if m is None:
        raise BpfHelperError(f"{helper_name}: {address:#x} is not a map pointer", call.pc)
    return m


def _key(call: CallContext, m, address: int) -> bytes:
    return call.memory.read_bytes(address, m.key_size, call.pc)


def _value(call: CallContext, m, address: int) -> bytes:
    return call.memory.read_bytes(address, m.value_size, call.pc)


@helper(1, "bpf_map_lookup_elem")
def map_lookup_elem(call: CallContext, r1: int, r2: int, *_: int) -> int:
    m = map_arg(call, r1, "bpf_map_lookup_elem")
    return m.prog_lookup(_key(call, m, r2), call.cpu)


@helper(2, "bpf_map_update_elem")
def map_update_elem(call: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = map_arg(call, r1, "bpf_map_update_elem")
    return m.prog_update(_key(call, m, r2), _value(call, m, r3), r4, call.cpu) & _M64


@helper(3, "bpf_map_delete_elem")
def map_delete_elem(call: CallContext, r1: int, r2: int, *_: int) -> int:
    m = map_arg(call, r1, "bpf_map_delete_elem")
    return m.prog_delete(_key(call, m, r2)) & _M64


@helper(87, "bpf_map_push_elem")
def map_push_elem(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    m = map_arg(call, r1, "bpf_map_push_elem")
    return m.prog_push(_value(call, m, r2), r3) & _M64


def _pop_or_peek(call: CallContext, r1: int, r2: int, name: str, peek: bool) -> int:
    m = map_arg(call, r1, name)
    if m.type == MapType.BLOOM_FILTER and peek:
        # bloom_filter's peek takes the value to test, and writes nothing.
        ret, _ = m.prog_peek(call.cpu, _value(call, m, r2))
        return ret & _M64
    ret, data = (m.prog_peek if peek else m.prog_pop)(call.cpu)
    if ret == 0 and data is not None:
        call.memory.write_bytes(r2, data, call.pc)
    return ret & _M64


@helper(88, "bpf_map_pop_elem")
def map_pop_elem(call: CallContext, r1: int, r2: int, *_: int) -> int:
    return _pop_or_peek(call, r1, r2, "bpf_map_pop_elem", peek=False)


@helper(89, "bpf_map_peek_elem")
def map_peek_elem(call: CallContext, r1: int, r2: int, *_: int) -> int:
    return _pop_or_peek(call, r1, r2, "bpf_map_peek_elem", peek=True)


@helper(12, "bpf_tail_call")
def tail_call(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """Replace the running program with prog_array[index]; fall through when the slot is
    empty, the index is out of range, or 33 tail calls have already chained."""
    from pybpf.vm.machine import MAX_TAIL_CALLS

    m = map_arg(call, r2, "bpf_tail_call")
    if m.type != MapType.PROG_ARRAY:
        raise BpfHelperError(f"bpf_tail_call: map {m.name} is a {m.type.name.lower()}, "
                             f"not a prog_array", call.pc)
    index = r3 & 0xFFFFFFFF
    if index >= m.max_entries or call.tail_calls >= MAX_TAIL_CALLS:
        return _err(errno.ENOENT)
    target = m.program_at(index)
    if target is None:
        return _err(errno.ENOENT)
    machine = getattr(target.runner, "machine", None)
    if machine is None:
        raise BpfHelperError(f"bpf_tail_call: program {target.name} was loaded by the "
                             f"{target.engine} engine, not this one", call.pc)
    raise TailCall(machine)


@helper(51, "bpf_redirect_map")
def redirect_map(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """XDP_REDIRECT to the device, CPU or socket at ``key`` (``__bpf_xdp_redirect_map``).

    On a miss the redirect chosen before is forgotten and the action in the low two bits
    of ``flags`` is returned; a flag the map type does not take is XDP_ABORTED. A devmap
    broadcast (BPF_F_BROADCAST) redirects without a lookup hit; its flags stay with the
    redirect (a plain one keeps none)."""
    m = map_arg(call, r1, "bpf_redirect_map")
    if m.type not in _REDIRECT_MAPS:
        raise BpfHelperError(f"bpf_redirect_map: map {m.name} is a {m.type.name.lower()}, "
                             f"not a devmap, cpumap or xskmap", call.pc)
    devmap = m.type in (MapType.DEVMAP, MapType.DEVMAP_HASH)
    if r3 & ~(_ACTIONS | (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS if devmap else 0)):
        return XDP_ABORTED
    key = (r2 & 0xFFFFFFFF).to_bytes(4, "little")
    address = m.prog_lookup(key, call.cpu)
    broadcast = bool(r3 & BPF_F_BROADCAST)
    if address == 0 and not broadcast:
        if getattr(call.ctx, "kind", None) == "xdp":
            call.ctx.redirect = None
        return r3 & _ACTIONS
    from pybpf.vm.progtypes.skb import Redirect

    if getattr(call.ctx, "kind", None) != "xdp":
        raise BpfHelperError("bpf_redirect_map is only available to XDP programs", call.pc)
    # A devmap's value starts with the ifindex; a cpumap/xskmap target is named by its key.
    target = r2 & 0xFFFFFFFF
    if devmap:
        target = call.memory.load(address, 4, call.pc) if address else 0
    call.ctx.redirect = Redirect(target, r3 if broadcast else 0)
    return XDP_REDIRECT


# -- ring buffers and perf events ---------------------------------------------------------

def _ring_arg(call: CallContext, address: int, name: str):
    """The ring buffer map at ``address`` (a helper error for another kind of map)."""
    m = map_arg(call, address, name)
    if m.type != MapType.RINGBUF:
        raise BpfHelperError(f"{name}: map {m.name} is a {m.type.name.lower()}, not a "
                             f"ringbuf", call.pc)
    return m


@helper(130, "bpf_ringbuf_output")
def ringbuf_output(call: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    m = _ring_arg(call, r1, "bpf_ringbuf_output")
    return m.output(call.memory.read_bytes(r2, r3, call.pc), r4) & _M64


@helper(131, "bpf_ringbuf_reserve")
def ringbuf_reserve(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    m = _ring_arg(call, r1, "bpf_ringbuf_reserve")
    if r3 != 0:
        return 0
    return m.reserve(r2)


def _ringbuf_of(call: CallContext, address: int, name: str):
    """The ring buffer map whose data holds the record at ``address``: of the maps in the
    program's memory (its object's, and inner maps added to them), as the JIT's native
    helpers find it (the map handles in the region table)."""
    from pybpf.maps import map_at

    for region in call.memory.regions:
        if region.kind == "map":
            m = map_at(region.address)
            if m is not None and m.type == MapType.RINGBUF and m.owns_record(address):
                return m
    raise BpfHelperError(f"{name}: {address:#x} is not a record reserved from a ring buffer",
                         call.pc)


@helper(132, "bpf_ringbuf_submit")
def ringbuf_submit(call: CallContext, r1: int, r2: int, *_: int) -> int:
    _ringbuf_of(call, r1, "bpf_ringbuf_submit").submit(r1, r2)
    return 0


@helper(133, "bpf_ringbuf_discard")
def ringbuf_discard(call: CallContext, r1: int, r2: int, *_: int) -> int:
    _ringbuf_of(call, r1, "bpf_ringbuf_discard").discard(r1, r2)
    return 0


@helper(134, "bpf_ringbuf_query")
def ringbuf_query(call: CallContext, r1: int, r2: int, *_: int) -> int:
    return _ring_arg(call, r1, "bpf_ringbuf_query").query(r2) & _M64


@helper(25, "bpf_perf_event_output")
def perf_event_output(call: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    m = map_arg(call, r2, "bpf_perf_event_output")
    if m.type != MapType.PERF_EVENT_ARRAY:
        raise BpfHelperError(f"bpf_perf_event_output: map {m.name} is not a "
                             f"perf_event_array", call.pc)
    if r3 & ~BPF_F_INDEX_MASK & _M64:
        return _err(errno.EINVAL)
    index = call.cpu if r3 & BPF_F_INDEX_MASK == BPF_F_CURRENT_CPU else r3 & BPF_F_INDEX_MASK
    if index >= m.max_entries:
        return _err(errno.E2BIG)
    return m.output(index, call.memory.read_bytes(r4, r5, call.pc)) & _M64


# -- stack traces (from the Env's simulated call chains) --------------------------------

BPF_F_SKIP_FIELD_MASK = 0xFF
BPF_F_USER_STACK = 1 << 8


def _stack(call: CallContext, flags: int) -> tuple[int, ...]:
    env = call.env
    if env is None:
        return ()
    return env.user_stack if flags & BPF_F_USER_STACK else env.kernel_stack


@helper(27, "bpf_get_stackid")
def get_stackid(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """The id under which stack_trace map ``r2`` stores the current call chain."""
    m = map_arg(call, r2, "bpf_get_stackid")
    if m.type != MapType.STACK_TRACE:
        raise BpfHelperError(f"bpf_get_stackid: map {m.name} is not a stack_trace map", call.pc)
    return m.prog_get_stackid(list(_stack(call, r3)), r3) & _M64


@helper(67, "bpf_get_stack")
def get_stack(call: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """Copy the call chain (u64 addresses) into ``buf``; the bytes copied, the rest of the
    buffer zeroed."""
    if r4 & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | 1 << 11) or r3 % 8:
        return _err(errno.EINVAL)
    skip = r4 & BPF_F_SKIP_FIELD_MASK
    ips = _stack(call, r4)[skip:skip + r3 // 8]
    if not ips:
        call.memory.write_bytes(r2, bytes(r3), call.pc)
        return _err(errno.EFAULT)
    data = b"".join((ip & _M64).to_bytes(8, "little") for ip in ips)
    call.memory.write_bytes(r2, data.ljust(r3, b"\0"), call.pc)
    return len(data)


# -- iteration ----------------------------------------------------------------------------

@helper(164, "bpf_for_each_map_elem")
def for_each_map_elem(call: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """Call ``callback(map, &key, &value, ctx)`` per element until it returns 1; the
    number of elements visited."""
    if r4 != 0:
        return _err(errno.EINVAL)
    m = map_arg(call, r1, "bpf_for_each_map_elem")
    scratch = call.program.scratch(max(m.key_size, 8))
    visited = 0
    for key in list(m.keys()):
        value = m.prog_lookup(key, call.cpu)
        if not value:
            continue
        scratch.write(0, key)
        visited += 1
        if call.program.call_function(r2, r1, scratch.address, value, r3) & _M64 == 1:
            break
    return visited

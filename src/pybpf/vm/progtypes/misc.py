"""The flow dissector and the tracing contexts (tracepoint, raw tracepoint, kprobe,
perf_event).

Flow dissector (bpf_prog_test_run_flow_dissector): the program sees ``__sk_buff.data``,
``data_end`` (the whole frame, from the Ethernet header) and ``flow_keys``, a pointer to a
``struct bpf_flow_keys`` it fills; test_run returns those keys as data_out.

Tracing contexts are the caller's bytes: a tracepoint record laid out as given (the first
8 bytes, the common fields, are not readable), raw tracepoint arguments as u64s (at most
12; reading past ctx_size_in is the kernel's EINVAL), ``struct pt_regs`` for kprobes,
``struct bpf_perf_event_data`` for perf events.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from typing import Any

from pybpf.vm.memory import Memory, Region
from pybpf.vm.progtypes import skb_layout as L
from pybpf.vm.progtypes.base import (
    ETH_HLEN, PAGE_SIZE, BytesAccess, CtxAccess, Field, Invocation, ProgramType,
    check_data_out, check_tail_zero, narrow_ok, syscall_error,
)

FLOW_KEYS_SIZE = 56
FLOW_KEYS_FLAGS = 48
FLOW_ACTIONS = {0: "BPF_OK", 2: "BPF_DROP"}


@dataclass(eq=False)
class FlowState:
    prog_type: int
    type_name: str
    env: Any
    packet: Region
    keys: Region

    kind = "flow_dissector"

    @property
    def len(self) -> int:
        return self.packet.size

    def read(self, offset: int, size: int) -> bytes | None:
        if offset < 0 or offset + size > self.packet.size:
            return None
        return self.packet.read(offset, size)


def _flow_valid(off: int, size: int, write: bool) -> bool:
    """``flow_dissector_is_valid_access``."""
    if off < 0 or off >= L.SIZE or write:
        return False
    if L.DATA <= off < L.DATA + 4 or L.DATA_END <= off < L.DATA_END + 4:
        return size == 4 and off % 4 == 0
    if L.FLOW_KEYS <= off < L.FLOW_KEYS + 8:
        return size == 8 and off == L.FLOW_KEYS
    return False


FLOW_FIELDS = {f.offset: f for f in (
    Field("data", L.DATA, 4, lambda s: s.packet.address, target=8),
    Field("data_end", L.DATA_END, 4, lambda s: s.packet.end, target=8),
    Field("flow_keys", L.FLOW_KEYS, 8, lambda s: s.keys.address, target=8),
)}


def _clamp_u16(value: int, low: int, high: int) -> int:
    value, low, high = value & 0xFFFF, low & 0xFFFF, high & 0xFFFF
    return max(low, min(value, high))


class FlowDissectorProgramType(ProgramType):
    ctx_size = L.SIZE
    return_codes = FLOW_ACTIONS

    def _prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None,
                 data_size_out: int | None) -> Invocation:
        data = bytes(data or b"")
        if len(data) < ETH_HLEN or len(data) > PAGE_SIZE:
            raise syscall_error(errno.EINVAL, f"data_size_in {len(data)} outside "
                                              f"[{ETH_HLEN}, {PAGE_SIZE}] for flow_dissector")
        user = None
        if ctx is not None:
            user = check_tail_zero(ctx, FLOW_KEYS_SIZE, "struct bpf_flow_keys")
            if any(user[:FLOW_KEYS_FLAGS]) or any(user[FLOW_KEYS_FLAGS + 4:]):
                raise syscall_error(errno.EINVAL, "ctx_in may set only bpf_flow_keys.flags")
        flags = struct.unpack_from("<I", user, FLOW_KEYS_FLAGS)[0] if user else 0
        inv = Invocation(memory, None, ())
        packet = inv.own(Region(f"{self.name}.packet", data, kind="packet"))
        keys = inv.own(Region(f"{self.name}.flow_keys", FLOW_KEYS_SIZE, kind="data"))
        # bpf_flow_dissect: zeroed keys, n_proto from the Ethernet header, nhoff = thoff = 14.
        keys.write(0, struct.pack("<HH", ETH_HLEN, ETH_HLEN))
        keys.write(10, data[12:14])
        keys.write(FLOW_KEYS_FLAGS, struct.pack("<I", flags))
        state = FlowState(self.prog_type, self.name, env, packet, keys)
        access = CtxAccess(state, L.SIZE, FLOW_FIELDS, _flow_valid)
        region = inv.own(Region(f"{self.name}.ctx", L.SIZE, kind="ctx", access=access))
        inv.ctx, inv.args = state, (region.address,)

        def finish(r0: int) -> tuple[int, bytes, bytes | None]:
            nhoff, thoff = struct.unpack("<HH", keys.read(0, 4))
            nhoff = _clamp_u16(nhoff, ETH_HLEN, len(data))
            thoff = _clamp_u16(thoff, nhoff, len(data))
            keys.write(0, struct.pack("<HH", nhoff, thoff))
            out = keys.read()
            check_data_out(out, data_size_out, r0 & 0xFFFFFFFF)
            return r0 & 0xFFFFFFFF, out, bytes(user) if user is not None else None
        inv._finish = finish
        return inv


# -- tracing ------------------------------------------------------------------------------

PT_REGS_SIZE = 168          # struct pt_regs on x86-64
PERF_EVENT_SIZE = PT_REGS_SIZE + 16
MAX_BPF_FUNC_ARGS = 12
PERF_MAX_TRACE_SIZE = 8192


def tracepoint_valid(off: int, size: int, write: bool) -> bool:
    """``tp_prog_is_valid_access``: read only, and not the common fields' first 8 bytes."""
    return not write and 8 <= off < PERF_MAX_TRACE_SIZE and off % size == 0


def raw_tp_valid(off: int, size: int, write: bool) -> bool:
    """``raw_tp_prog_is_valid_access``."""
    return not write and 0 <= off < MAX_BPF_FUNC_ARGS * 8 and off % size == 0


def kprobe_valid(off: int, size: int, write: bool) -> bool:
    """``kprobe_prog_is_valid_access``."""
    return (not write and 0 <= off < PT_REGS_SIZE and off % size == 0
            and off + size <= PT_REGS_SIZE)


def perf_event_valid(off: int, size: int, write: bool) -> bool:
    """``pe_prog_is_valid_access``."""
    if write or off < 0 or off >= PERF_EVENT_SIZE or off % size:
        return False
    if off >= PT_REGS_SIZE:                  # sample_period, addr: u64, narrow reads allowed
        return narrow_ok(size, 8)
    return size <= 8


class TracingProgramType(ProgramType):
    """A context of caller bytes, read only: no data, no data_out, no ctx_out.

    ``max_ctx``: the largest ctx_in the kernel accepts (raw_tp: 12 u64 arguments);
    ``fixed``: the context has a fixed size (pt_regs, bpf_perf_event_data) and a shorter
    ctx_in is zero-padded.
    """

    def __init__(self, prog_type: int, name: str, valid: Any, *, ctx_size: int,
                 max_ctx: int | None = None, fixed: bool = False, kernel_test_run: bool = False,
                 attach_type: int | None = None):
        super().__init__(prog_type, name, attach_type)
        self.valid = valid
        self.ctx_size = ctx_size
        self.max_ctx = max_ctx
        self.fixed = fixed
        self.kernel_test_run = kernel_test_run
        self.return_codes = {}

    def _prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None,
                 data_size_out: int | None) -> Invocation:
        if data:
            raise syscall_error(errno.EINVAL, f"{self.name} programs take no data_in")
        raw = bytes(ctx or b"")
        if self.max_ctx is not None and len(raw) > self.max_ctx:
            raise syscall_error(errno.EINVAL, f"ctx_size_in {len(raw)} is more than "
                                              f"{self.max_ctx} for {self.name}")
        limit = len(raw)
        if self.fixed:
            raw = check_tail_zero(raw, self.ctx_size, f"the {self.name} context")
            limit = self.ctx_size
        buf = bytearray(raw) or bytearray(1)
        access = BytesAccess(buf, self.valid, limit=limit)
        inv = Invocation(memory, buf, ())
        region = inv.own(Region(f"{self.name}.ctx", max(len(buf), self.ctx_size), kind="ctx",
                                access=access))
        inv.args = (region.address,)
        return inv


__all__ = ["FlowDissectorProgramType", "FlowState", "TracingProgramType", "kprobe_valid",
           "perf_event_valid", "raw_tp_valid", "tracepoint_valid"]

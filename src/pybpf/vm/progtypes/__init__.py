"""The program-type table: context layout and access rules, test_run input and output rules,
return codes — one row per ``BPF_PROG_TYPE_*`` the userspace engines run.

``program_type(prog_type, attach_type)`` gives the row; ``row.prepare(memory, env, data,
ctx)`` checks the input as ``BPF_PROG_TEST_RUN`` does (raising :class:`BpfSyscallError`
with the kernel's errno) and builds an :class:`Invocation`; the loader runs the program on
``inv.args`` with ``inv.packet`` for legacy packet loads and ``inv.ctx`` as the helpers'
state, then ``inv.finish(r0)`` gives (retval, data_out, ctx_out) and ``inv.close()`` frees
the regions.
"""

from __future__ import annotations

from typing import Callable

from pybpf.errors import BpfError
from pybpf.isa.uapi import ProgType as PT
from pybpf.vm.progtypes.base import ENOTSUPP, Invocation, ProgramType
from pybpf.vm.progtypes.misc import (
    PERF_EVENT_SIZE, PERF_MAX_TRACE_SIZE, PT_REGS_SIZE, FlowDissectorProgramType,
    TracingProgramType, kprobe_valid, perf_event_valid, raw_tp_valid, tracepoint_valid,
)
from pybpf.vm.progtypes.skb import (
    CG_SKB_ACTIONS, LWT_ACTIONS, SK_ACTIONS, TC_ACTIONS, SkbProgramType, SkbState,
)
from pybpf.vm.progtypes.sock import (
    CGROUP_DEV_SIZE, SA_SIZE, SOCK_OPS_SIZE, SOCK_SIZE, BytesProgramType, cgroup_dev_valid,
    cgroup_sock_valid, sock_addr_valid, sock_ops_valid,
)
from pybpf.vm.progtypes.xdp import XdpProgramType, XdpState

_ALLOW = {0: "reject", 1: "allow"}


def _skb(kind: str, codes: dict[int, str]) -> Callable[[int, str, int], ProgramType]:
    return lambda t, n, a: SkbProgramType(t, n, kind, codes, a)


_TABLE: dict[int, Callable[[int, str, int], ProgramType]] = {
    PT.SOCKET_FILTER: _skb("sk_filter", {}),
    PT.SCHED_CLS: _skb("tc", TC_ACTIONS),
    PT.SCHED_ACT: _skb("tc", TC_ACTIONS),
    PT.CGROUP_SKB: _skb("cg_skb", CG_SKB_ACTIONS),
    PT.LWT_IN: _skb("lwt", LWT_ACTIONS),
    PT.LWT_OUT: _skb("lwt", LWT_ACTIONS),
    PT.LWT_XMIT: _skb("lwt", LWT_ACTIONS),
    PT.SK_SKB: _skb("sk_skb", SK_ACTIONS),
    PT.XDP: lambda t, n, a: XdpProgramType(t, n, a),
    PT.FLOW_DISSECTOR: lambda t, n, a: FlowDissectorProgramType(t, n, a),
    PT.RAW_TRACEPOINT: lambda t, n, a: TracingProgramType(
        t, n, raw_tp_valid, ctx_size=96, max_ctx=96, kernel_test_run=True, attach_type=a),
    PT.TRACEPOINT: lambda t, n, a: TracingProgramType(
        t, n, tracepoint_valid, ctx_size=PERF_MAX_TRACE_SIZE, max_ctx=PERF_MAX_TRACE_SIZE,
        attach_type=a),
    PT.KPROBE: lambda t, n, a: TracingProgramType(
        t, n, kprobe_valid, ctx_size=PT_REGS_SIZE, fixed=True, attach_type=a),
    PT.PERF_EVENT: lambda t, n, a: TracingProgramType(
        t, n, perf_event_valid, ctx_size=PERF_EVENT_SIZE, fixed=True, attach_type=a),
    PT.CGROUP_SOCK: lambda t, n, a: BytesProgramType(
        t, n, SOCK_SIZE, cgroup_sock_valid(a), _ALLOW, a),
    PT.CGROUP_SOCK_ADDR: lambda t, n, a: BytesProgramType(
        t, n, SA_SIZE, sock_addr_valid(a), _ALLOW, a),
    PT.SOCK_OPS: lambda t, n, a: BytesProgramType(t, n, SOCK_OPS_SIZE, sock_ops_valid, {}, a),
    PT.CGROUP_DEVICE: lambda t, n, a: BytesProgramType(
        t, n, CGROUP_DEV_SIZE, cgroup_dev_valid, _ALLOW, a, ctx_out=False),
}


def _name(prog_type: int) -> str:
    try:
        return PT(prog_type).name.lower()
    except ValueError:
        return f"#{prog_type}"


def program_type(prog_type: int, attach_type: int | None = None) -> ProgramType:
    """The table row for ``prog_type`` (and ``expected_attach_type``)."""
    make = _TABLE.get(int(prog_type))
    if make is None:
        raise BpfError(f"program type {_name(prog_type)} ({int(prog_type)}) is not supported "
                       f"by the userspace engines")
    return make(int(prog_type), _name(prog_type), attach_type or 0)


def supported_program_types() -> tuple[int, ...]:
    return tuple(sorted(_TABLE))


__all__ = [
    "ENOTSUPP", "Invocation", "ProgramType", "SkbState", "XdpState", "program_type",
    "supported_program_types",
]

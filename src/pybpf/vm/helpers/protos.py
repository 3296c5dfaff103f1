"""Typed helper prototypes: the kernel's ``struct bpf_func_proto`` for each helper, and which
program types may call it (the kernel's ``*_func_proto`` switch statements).

Names and ids come from :mod:`pybpf.isa.uapi` (``HelperId``); nothing here retypes them.
The verifier (:mod:`pybpf.verifier`) checks every helper call against this table:
argument types (``ARG_*``), the return type (``RET_*``), whether the helper needs a GPL
license, and whether the loader's privilege (``perfmon``: CAP_PERFMON or CAP_SYS_ADMIN)
allows it, as ``bpf_base_func_proto`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.isa.uapi import HELPER_NAMES, HelperId as H, ProgType as PT

# Argument types (``enum bpf_arg_type``), flags folded into the names the verifier needs.
ARG_DONTCARE = "dontcare"
ARG_ANYTHING = "anything"
ARG_CONST_MAP_PTR = "const_map_ptr"
ARG_PTR_TO_MAP_KEY = "map_key"
ARG_PTR_TO_MAP_VALUE = "map_value"
ARG_PTR_TO_UNINIT_MAP_VALUE = "uninit_map_value"     # ARG_PTR_TO_MAP_VALUE | MEM_UNINIT
ARG_PTR_TO_MEM = "mem"                              # read by the helper (| MEM_RDONLY)
ARG_PTR_TO_MEM_OR_NULL = "mem_or_null"
ARG_PTR_TO_WMEM = "wmem"                            # written by the helper, must be initialised
ARG_PTR_TO_UNINIT_MEM = "uninit_mem"                # written by the helper (| MEM_UNINIT)
ARG_CONST_SIZE = "const_size"
ARG_CONST_SIZE_OR_ZERO = "const_size_or_zero"
ARG_CONST_ALLOC_SIZE_OR_ZERO = "const_alloc_size_or_zero"
ARG_PTR_TO_CTX = "ctx"
ARG_PTR_TO_RINGBUF_MEM = "ringbuf_mem"              # | OBJ_RELEASE
# ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE (bpf_sk_release)
ARG_PTR_TO_SOCK_COMMON_RELEASE = "sock_common_release"
ARG_PTR_TO_FUNC = "func"
ARG_PTR_TO_STACK_OR_NULL = "stack_or_null"
ARG_PTR_TO_SPIN_LOCK = "spin_lock"

SIZE_ARGS = (ARG_CONST_SIZE, ARG_CONST_SIZE_OR_ZERO)
MEM_ARGS = (ARG_PTR_TO_MEM, ARG_PTR_TO_MEM_OR_NULL, ARG_PTR_TO_WMEM, ARG_PTR_TO_UNINIT_MEM)
RELEASE_ARGS = (ARG_PTR_TO_RINGBUF_MEM, ARG_PTR_TO_SOCK_COMMON_RELEASE)   # OBJ_RELEASE

# Return types (``enum bpf_return_type``).
RET_INTEGER = "integer"
RET_VOID = "void"
RET_PTR_TO_MAP_VALUE_OR_NULL = "map_value_or_null"
RET_PTR_TO_RINGBUF_MEM_OR_NULL = "ringbuf_mem_or_null"
RET_PTR_TO_SOCKET_OR_NULL = "sock_or_null"
RET_PTR_TO_SOCK_COMMON_OR_NULL = "sock_common_or_null"


@dataclass(frozen=True)
class FuncProto:
    """One helper's ``bpf_func_proto``: return type, up to five argument types, and flags."""

    id: int
    ret: str
    args: tuple[str, ...] = ()
    gpl_only: bool = False
    perfmon: bool = False          # only for a loader with CAP_PERFMON (bpf_base_func_proto)
    bpf_capable: bool = False      # only for a loader with CAP_BPF
    pkt_access: bool = False       # may take packet pointers for its memory arguments
    changes_pkt_data: bool = False
    acquire: bool = False          # returns a reference the program must release
                                   # (the kernel's is_acquire_function)

    @property
    def name(self) -> str:
        return HELPER_NAMES[self.id]


def _p(hid: int, ret: str, *args: str, **flags: bool) -> FuncProto:
    return FuncProto(int(hid), ret, tuple(args), **flags)


A, CTX, MAP = ARG_ANYTHING, ARG_PTR_TO_CTX, ARG_CONST_MAP_PTR
I = RET_INTEGER

PROTOS: dict[int, FuncProto] = {p.id: p for p in (
    _p(H.map_lookup_elem, RET_PTR_TO_MAP_VALUE_OR_NULL, MAP, ARG_PTR_TO_MAP_KEY, pkt_access=True),
    _p(H.map_update_elem, I, MAP, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE, A, pkt_access=True),
    _p(H.map_delete_elem, I, MAP, ARG_PTR_TO_MAP_KEY, pkt_access=True),
    _p(H.map_push_elem, I, MAP, ARG_PTR_TO_MAP_VALUE, A, pkt_access=True),
    _p(H.map_pop_elem, I, MAP, ARG_PTR_TO_UNINIT_MAP_VALUE),
    _p(H.map_peek_elem, I, MAP, ARG_PTR_TO_UNINIT_MAP_VALUE),
    _p(H.probe_read, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A, gpl_only=True),
    _p(H.probe_read_str, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A, gpl_only=True),
    _p(H.probe_read_user, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A, gpl_only=True),
    _p(H.probe_read_kernel, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A, gpl_only=True,
       perfmon=True),
    _p(H.probe_read_user_str, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A,
       gpl_only=True),
    _p(H.probe_read_kernel_str, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A,
       gpl_only=True, perfmon=True),
    _p(H.ktime_get_ns, I),
    _p(H.ktime_get_boot_ns, I),
    _p(H.ktime_get_coarse_ns, I),
    _p(H.ktime_get_tai_ns, I),
    _p(H.jiffies64, I, bpf_capable=True),
    _p(H.trace_printk, I, ARG_PTR_TO_MEM, ARG_CONST_SIZE, gpl_only=True, perfmon=True),
    _p(H.get_prandom_u32, I),
    _p(H.get_smp_processor_id, I),
    _p(H.get_numa_node_id, I),
    _p(H.skb_store_bytes, I, CTX, A, ARG_PTR_TO_MEM, ARG_CONST_SIZE, A, changes_pkt_data=True),
    _p(H.l3_csum_replace, I, CTX, A, A, A, A, changes_pkt_data=True),
    _p(H.l4_csum_replace, I, CTX, A, A, A, A, changes_pkt_data=True),
    _p(H.tail_call, RET_VOID, CTX, MAP, A),
    _p(H.clone_redirect, I, CTX, A, A, changes_pkt_data=True),
    _p(H.get_current_pid_tgid, I),
    _p(H.get_current_uid_gid, I),
    _p(H.get_current_comm, I, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE),
    _p(H.get_current_task, I, gpl_only=True, perfmon=True),
    _p(H.get_cgroup_classid, I, CTX),
    _p(H.skb_vlan_push, I, CTX, A, A, changes_pkt_data=True),
    _p(H.skb_vlan_pop, I, CTX, changes_pkt_data=True),
    _p(H.redirect, I, A, A),
    _p(H.get_route_realm, I, CTX),
    _p(H.perf_event_output, I, CTX, MAP, A, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, gpl_only=True),
    _p(H.skb_load_bytes, I, CTX, A, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE),
    _p(H.skb_load_bytes_relative, I, CTX, A, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE, A),
    _p(H.get_stackid, I, CTX, MAP, A, gpl_only=True),
    _p(H.get_stack, I, CTX, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, A, gpl_only=True),
    _p(H.csum_diff, I, ARG_PTR_TO_MEM_OR_NULL, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_MEM_OR_NULL,
       ARG_CONST_SIZE_OR_ZERO, A, pkt_access=True),
    _p(H.csum_update, I, CTX, A),
    _p(H.csum_level, I, CTX, A),
    _p(H.skb_change_proto, I, CTX, A, A, changes_pkt_data=True),
    _p(H.skb_change_type, I, CTX, A),
    _p(H.get_hash_recalc, I, CTX),
    _p(H.set_hash_invalid, I, CTX),
    _p(H.set_hash, I, CTX, A),
    _p(H.skb_change_tail, I, CTX, A, A, changes_pkt_data=True),
    _p(H.skb_pull_data, I, CTX, A, changes_pkt_data=True),
    _p(H.skb_change_head, I, CTX, A, A, changes_pkt_data=True),
    _p(H.skb_adjust_room, I, CTX, A, A, A, changes_pkt_data=True),
    _p(H.skb_cgroup_id, I, CTX),
    _p(H.skb_ecn_set_ce, I, CTX),
    _p(H.get_socket_cookie, I, CTX),
    _p(H.get_socket_uid, I, CTX),
    _p(H.get_current_cgroup_id, I),
    _p(H.xdp_adjust_head, I, CTX, A, changes_pkt_data=True),
    _p(H.xdp_adjust_meta, I, CTX, A, changes_pkt_data=True),
    _p(H.xdp_adjust_tail, I, CTX, A, changes_pkt_data=True),
    _p(H.xdp_get_buff_len, I, CTX),
    _p(H.xdp_load_bytes, I, CTX, A, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE),
    _p(H.xdp_store_bytes, I, CTX, A, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE),
    _p(H.redirect_map, I, MAP, A, A),
    _p(H.fib_lookup, I, CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE, A),
    _p(H.spin_lock, RET_VOID, ARG_PTR_TO_SPIN_LOCK, bpf_capable=True),
    _p(H.spin_unlock, RET_VOID, ARG_PTR_TO_SPIN_LOCK, bpf_capable=True),
    _p(H.ringbuf_output, I, MAP, ARG_PTR_TO_MEM, ARG_CONST_SIZE_OR_ZERO, A),
    _p(H.ringbuf_reserve, RET_PTR_TO_RINGBUF_MEM_OR_NULL, MAP, ARG_CONST_ALLOC_SIZE_OR_ZERO, A,
       acquire=True),
    _p(H.ringbuf_submit, RET_VOID, ARG_PTR_TO_RINGBUF_MEM, A),
    _p(H.ringbuf_discard, RET_VOID, ARG_PTR_TO_RINGBUF_MEM, A),
    _p(H.ringbuf_query, I, MAP, A),
    # the socket lookups: the tuple is read (ARG_PTR_TO_MEM | MEM_RDONLY), its size constant
    _p(H.sk_lookup_tcp, RET_PTR_TO_SOCKET_OR_NULL, CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE, A, A,
       pkt_access=True, acquire=True),
    _p(H.sk_lookup_udp, RET_PTR_TO_SOCKET_OR_NULL, CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE, A, A,
       pkt_access=True, acquire=True),
    _p(H.skc_lookup_tcp, RET_PTR_TO_SOCK_COMMON_OR_NULL, CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE,
       A, A, pkt_access=True, acquire=True),
    _p(H.sk_release, I, ARG_PTR_TO_SOCK_COMMON_RELEASE),
    _p(H.for_each_map_elem, I, MAP, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, A),
    _p(H.loop, I, A, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, A),
)}

# ``bpf_base_func_proto``: every program type may call these (some only with privilege).
BASE = frozenset(int(h) for h in (
    H.map_lookup_elem, H.map_update_elem, H.map_delete_elem, H.map_push_elem, H.map_pop_elem,
    H.map_peek_elem, H.get_prandom_u32, H.get_smp_processor_id, H.get_numa_node_id,
    H.tail_call, H.ktime_get_ns, H.ktime_get_boot_ns, H.ktime_get_coarse_ns, H.ktime_get_tai_ns,
    H.ringbuf_output, H.ringbuf_reserve, H.ringbuf_submit, H.ringbuf_discard, H.ringbuf_query,
    H.for_each_map_elem, H.loop, H.spin_lock, H.spin_unlock, H.jiffies64, H.trace_printk,
    H.get_current_task, H.probe_read_user, H.probe_read_kernel, H.probe_read_user_str,
    H.probe_read_kernel_str, H.get_current_pid_tgid,
))

_TRACING = frozenset(int(h) for h in (
    H.probe_read, H.probe_read_str, H.get_current_pid_tgid, H.get_current_uid_gid,
    H.get_current_comm, H.get_current_cgroup_id, H.perf_event_output, H.get_stackid,
    H.get_stack,
))
_SK_FILTER = frozenset(int(h) for h in (
    H.skb_load_bytes, H.skb_load_bytes_relative, H.get_socket_cookie, H.get_socket_uid,
    H.perf_event_output,
))
# The socket lookups and bpf_sk_release (CONFIG_INET), which tc, xdp, sk_skb and
# cgroup/sock_addr programs get; sk_lookup programs get only the release.
_SK_LOOKUP_HELPERS = (H.sk_lookup_tcp, H.sk_lookup_udp, H.skc_lookup_tcp, H.sk_release)
_TC = frozenset(int(h) for h in _SK_LOOKUP_HELPERS + (
    H.skb_store_bytes, H.skb_load_bytes, H.skb_load_bytes_relative, H.skb_pull_data,
    H.csum_diff, H.csum_update, H.csum_level, H.l3_csum_replace, H.l4_csum_replace,
    H.clone_redirect, H.get_cgroup_classid, H.skb_vlan_push, H.skb_vlan_pop,
    H.skb_change_proto, H.skb_change_type, H.skb_adjust_room, H.skb_change_tail,
    H.skb_change_head, H.redirect, H.redirect_map, H.get_route_realm, H.get_hash_recalc,
    H.set_hash_invalid, H.set_hash, H.perf_event_output, H.get_socket_cookie, H.get_socket_uid,
    H.fib_lookup, H.skb_ecn_set_ce, H.skb_cgroup_id,
))
_XDP = frozenset(int(h) for h in _SK_LOOKUP_HELPERS + (
    H.perf_event_output, H.csum_diff, H.xdp_adjust_head, H.xdp_adjust_meta, H.xdp_adjust_tail,
    H.redirect, H.redirect_map, H.fib_lookup, H.xdp_get_buff_len, H.xdp_load_bytes,
    H.xdp_store_bytes,
))
_CG_SKB = frozenset(int(h) for h in (
    H.skb_load_bytes, H.skb_load_bytes_relative, H.get_socket_cookie, H.get_socket_uid,
    H.perf_event_output, H.skb_cgroup_id, H.skb_ecn_set_ce, H.get_current_cgroup_id,
))
_SOCK_ADDR = frozenset(int(h) for h in _SK_LOOKUP_HELPERS + (
    H.get_current_pid_tgid, H.get_current_uid_gid, H.get_current_comm,
    H.get_current_cgroup_id, H.get_socket_cookie, H.perf_event_output,
))
_SOCK_OPS = frozenset(int(h) for h in (H.get_socket_cookie, H.perf_event_output))
_SK_SKB = frozenset(int(h) for h in _SK_LOOKUP_HELPERS)
_SK_LOOKUP = frozenset({int(H.sk_release)})

PROG_TYPE_HELPERS: dict[int, frozenset[int]] = {
    PT.SOCKET_FILTER: _SK_FILTER,
    PT.SCHED_CLS: _TC,
    PT.SCHED_ACT: _TC,
    PT.XDP: _XDP,
    PT.CGROUP_SKB: _CG_SKB,
    PT.TRACEPOINT: _TRACING,
    PT.RAW_TRACEPOINT: _TRACING,
    PT.KPROBE: _TRACING,
    PT.PERF_EVENT: _TRACING,
    PT.CGROUP_SOCK_ADDR: _SOCK_ADDR,
    PT.SOCK_OPS: _SOCK_OPS,
    PT.SK_SKB: _SK_SKB,
    PT.SK_LOOKUP: _SK_LOOKUP,
}

_TRACING_TYPES = frozenset({PT.TRACEPOINT, PT.RAW_TRACEPOINT, PT.KPROBE, PT.PERF_EVENT})


def func_proto(helper_id: int, prog_type: int, *, perfmon: bool = True,
               bpf_capable: bool = True) -> FuncProto | None:
    """The prototype program type ``prog_type`` gets for ``helper_id``, or None when the
    kernel's ``get_func_proto`` for that type (with the loader's privileges) has none."""
    proto = PROTOS.get(helper_id)
    if proto is None:
        return None
    specific = PROG_TYPE_HELPERS.get(int(prog_type))
    if specific is not None and helper_id in specific:
        return proto
    if helper_id not in BASE:
        return None
    if proto.perfmon and not perfmon:
        return None
    if proto.bpf_capable and not bpf_capable:
        return None
    if helper_id in (H.probe_read_user, H.probe_read_user_str) and not perfmon:
        return None
    return proto


__all__ = [name for name in dir() if name.startswith(("ARG_", "RET_"))] + [
    "BASE", "FuncProto", "PROG_TYPE_HELPERS", "PROTOS", "func_proto",
]

"""Packet and socket helpers (net/core/filter.c), over the program-type states of
:mod:`pybpf.vm.progtypes`: ``call.ctx`` is an ``SkbState``, ``XdpState`` or ``FlowState``.

Each helper has the kernel's semantics and return codes (negative errnos) for a packet as
``BPF_PROG_TEST_RUN`` builds it: ``ip_summed`` is CHECKSUM_NONE, so the ``skb->csum``
bookkeeping of the kernel (BPF_F_RECOMPUTE_CSUM, pseudo-header updates) changes nothing
visible. A helper the kernel does not offer to the running program type raises
:class:`BpfHelperError` (the kernel's verifier would have refused the program).
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.errors import BpfHelperError
from pybpf.vm.helpers.registry import CallContext, helper
from pybpf.vm.progtypes import csum as C
from pybpf.vm.progtypes.base import ENOTSUPP
from pybpf.vm.progtypes.skb import (
    ETH_P_IP, ETH_P_IPV6, Redirect, known_ifindexes,
)

M32 = 0xFFFFFFFF
INT_MAX = 0x7FFFFFFF
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7
XDP_ABORTED, XDP_REDIRECT = 0, 4
BPF_F_RECOMPUTE_CSUM, BPF_F_INVALIDATE_HASH = 1, 2
BPF_F_HDR_FIELD_MASK, BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0 = 0xF, 0x10, 0x20
BPF_F_MARK_ENFORCE, BPF_F_IPV6 = 0x40, 0x80
BPF_F_INGRESS = 1
SKB_MAX_ALLOC = 16384 - 320       # SKB_MAX_ORDER(0, 2) on x86-64
VLAN_HLEN = 4

_SKB = {"sk_filter", "tc", "cg_skb", "lwt", "sk_skb"}


def _i32(value: int) -> int:
    value &= M32
    return value - (1 << 32) if value & 0x80000000 else value


def _swab16(value: int) -> int:
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


# Who is offered a helper: the state kinds, and which lwt program types among them.
LOAD_BYTES_OFFER = (_SKB | {"flow_dissector"}, None)
STORE_BYTES_OFFER = ({"tc", "lwt", "sk_skb"}, {"lwt_xmit"})
CSUM_REPLACE_OFFER = ({"tc", "lwt"}, {"lwt_xmit"})


def offers(state: Any, kinds: set[str], prog_types: set[str] | None = None) -> bool:
    """Whether a run with this program-type state may call a helper offered to ``kinds``
    (and, of the lwt kinds, to ``prog_types`` only)."""
    kind = getattr(state, "kind", None)
    return kind in kinds and not (prog_types is not None and kind == "lwt"
                                  and getattr(state, "type_name", None) not in prog_types)


def _state(call: CallContext, name: str, kinds: set[str], prog_types: set[str] | None = None):
    """The run's state if ``name`` is offered to its program type, else BpfHelperError."""
    state = call.ctx
    if not offers(state, kinds, prog_types):
        type_name = getattr(state, "type_name", None)
        raise BpfHelperError(f"helper {name} is not available to program type "
                             f"{type_name or 'without a context'}", call.pc)
    return state


# -- reading and writing the packet ----------------------------------------------------------

@helper(26, "bpf_skb_load_bytes")
def skb_load_bytes(call: CallContext, r1: int, offset: int, to: int, size: int, r5: int) -> int:
    state = _state(call, "bpf_skb_load_bytes", *LOAD_BYTES_OFFER)
    offset, size = offset & M32, size & M32
    data = None
    if state.kind == "flow_dissector":
        # test_run dissects without an skb (ctx->skb is NULL): the helper always fails.
        data = None
    elif offset <= INT_MAX:
        data = state.read(offset, size)
    if data is None:
        call.memory.write_bytes(to, bytes(size), call.pc)
        return -errno.EFAULT
    call.memory.write_bytes(to, data, call.pc)
    return 0


@helper(68, "bpf_skb_load_bytes_relative")
def skb_load_bytes_relative(call: CallContext, r1: int, offset: int, to: int, size: int,
                            start_header: int) -> int:
    state = _state(call, "bpf_skb_load_bytes_relative", {"sk_filter", "tc", "cg_skb"})
    offset, size, start_header = offset & M32, size & M32, start_header & M32
    starts = {0: state.mac_header, 1: state.network_header}
    if offset <= 0xFFFF and start_header in starts:
        start = starts[start_header] + offset
        if start + size <= state.buf.tail:
            call.memory.write_bytes(to, state.buf.read(start, size), call.pc)
            return 0
    call.memory.write_bytes(to, bytes(size), call.pc)
    return -errno.EFAULT


@helper(9, "bpf_skb_store_bytes")
def skb_store_bytes(call: CallContext, r1: int, offset: int, frm: int, size: int,
                    flags: int) -> int:
    state = _state(call, "bpf_skb_store_bytes", *STORE_BYTES_OFFER)
    offset, size = offset & M32, size & M32
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return -errno.EINVAL
    if offset > INT_MAX or offset + size > state.len:
        return -errno.EFAULT
    state.write(offset, call.memory.read_bytes(frm, size, call.pc))
    if flags & BPF_F_INVALIDATE_HASH:
        state.clear_hash()
    return 0


@helper(39, "bpf_skb_pull_data")
def skb_pull_data(call: CallContext, r1: int, size: int, *_: int) -> int:
    state = _state(call, "bpf_skb_pull_data", {"tc", "lwt", "sk_skb"})
    size = size & M32
    return 0 if size <= state.len else -errno.ENOMEM


# -- checksums ---------------------------------------------------------------------------------

def _csum_field(state: Any, offset: int) -> int | None:
    if offset > 0xFFFF or offset & 1 or offset + 2 > state.len:
        return None
    return int.from_bytes(state.read(offset, 2), "little")


@helper(10, "bpf_l3_csum_replace")
def l3_csum_replace(call: CallContext, r1: int, offset: int, frm: int, to: int,
                    flags: int) -> int:
    state = _state(call, "bpf_l3_csum_replace", *CSUM_REPLACE_OFFER)
    offset = offset & M32
    if flags & ~BPF_F_HDR_FIELD_MASK:
        return -errno.EINVAL
    old = _csum_field(state, offset)
    if old is None:
        return -errno.EFAULT
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return -errno.EINVAL
        new = C.csum_replace_by_diff(old, to)
    elif size == 2:
        new = C.csum_replace2(old, frm, to)
    elif size == 4:
        new = C.csum_replace4(old, frm, to)
    else:
        return -errno.EINVAL
    state.write(offset, new.to_bytes(2, "little"))
    return 0


@helper(11, "bpf_l4_csum_replace")
def l4_csum_replace(call: CallContext, r1: int, offset: int, frm: int, to: int,
                    flags: int) -> int:
    state = _state(call, "bpf_l4_csum_replace", *CSUM_REPLACE_OFFER)
    offset = offset & M32
    if flags & ~(BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR
                 | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6):
        return -errno.EINVAL
    old = _csum_field(state, offset)
    if old is None:
        return -errno.EFAULT
    mangled0 = bool(flags & BPF_F_MARK_MANGLED_0)
    if mangled0 and not flags & BPF_F_MARK_ENFORCE and not old:
        return 0
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return -errno.EINVAL
        new = C.csum_replace_by_diff(old, to)
    elif size == 2:
        new = C.csum_replace4(old, frm & 0xFFFF, to & 0xFFFF)
    elif size == 4:
        new = C.csum_replace4(old, frm, to)
    else:
        return -errno.EINVAL
    if mangled0 and not new:
        new = 0xFFFF
    state.write(offset, new.to_bytes(2, "little"))
    return 0


@helper(28, "bpf_csum_diff")
def csum_diff(call: CallContext, frm: int, from_size: int, to: int, to_size: int,
              seed: int) -> int:
    _state(call, "bpf_csum_diff", {"tc", "lwt", "xdp"})
    from_size, to_size = from_size & M32, to_size & M32
    if from_size + to_size > 512:         # MAX_BPF_STACK: the verifier bounds both anyway
        return -errno.EINVAL
    return C.csum_diff(call.memory.read_bytes(frm, from_size, call.pc),
                       call.memory.read_bytes(to, to_size, call.pc), seed)


@helper(40, "bpf_csum_update")
def csum_update(call: CallContext, r1: int, csum: int, *_: int) -> int:
    _state(call, "bpf_csum_update", {"tc", "lwt"}, {"lwt_xmit"})
    return -ENOTSUPP            # only CHECKSUM_COMPLETE skbs have a csum to update


@helper(135, "bpf_csum_level")
def csum_level(call: CallContext, r1: int, level: int, *_: int) -> int:
    state = _state(call, "bpf_csum_level", {"tc", "lwt"}, {"lwt_xmit"})
    unnecessary = state.csum_unnecessary
    if level == 1:                       # BPF_CSUM_LEVEL_INC
        if unnecessary:
            state.csum_level = min(state.csum_level + 1, 3)
        else:
            unnecessary, state.csum_level = True, 0
    elif level == 2:                     # DEC
        if unnecessary:
            if state.csum_level == 0:
                unnecessary = False
            else:
                state.csum_level -= 1
    elif level == 3:                     # RESET
        unnecessary, state.csum_level = False, 0
    elif level == 0:                     # QUERY
        return state.csum_level if unnecessary else -errno.EACCES
    else:
        return -errno.EINVAL
    state.csum_unnecessary = unnecessary
    return 0


# -- hashes, marks, cookies --------------------------------------------------------------------

def _flow_hash(state: Any) -> int:
    """A stable flow hash (the kernel's is a keyed siphash; its value is not reproducible)."""
    import zlib
    return zlib.crc32(state.bytes()[:64]) or 1


@helper(34, "bpf_get_hash_recalc")
def get_hash_recalc(call: CallContext, *_: int) -> int:
    state = _state(call, "bpf_get_hash_recalc", {"tc", "lwt"})
    if not state.l4_hash and not state.sw_hash:
        state.hash = _flow_hash(state)
    return state.hash


@helper(48, "bpf_set_hash")
def set_hash(call: CallContext, r1: int, value: int, *_: int) -> int:
    state = _state(call, "bpf_set_hash", {"tc"})
    state.hash, state.sw_hash, state.l4_hash = value & M32, True, True
    return 0


@helper(41, "bpf_set_hash_invalid")
def set_hash_invalid(call: CallContext, *_: int) -> int:
    _state(call, "bpf_set_hash_invalid", {"tc", "lwt"}, {"lwt_xmit"}).clear_hash()
    return 0


@helper(17, "bpf_get_cgroup_classid")
def get_cgroup_classid(call: CallContext, *_: int) -> int:
    _state(call, "bpf_get_cgroup_classid", {"tc", "lwt"})
    return 0


@helper(24, "bpf_get_route_realm")
def get_route_realm(call: CallContext, *_: int) -> int:
    _state(call, "bpf_get_route_realm", {"tc", "lwt"})
    return 0


@helper(46, "bpf_get_socket_cookie")
def get_socket_cookie(call: CallContext, *_: int) -> int:
    return _state(call, "bpf_get_socket_cookie", {"sk_filter", "tc", "cg_skb", "sk_skb"}).cookie


@helper(47, "bpf_get_socket_uid")
def get_socket_uid(call: CallContext, *_: int) -> int:
    _state(call, "bpf_get_socket_uid", {"sk_filter", "tc", "cg_skb", "sk_skb"})
    return 0                    # test_run's socket has no owner: uid 0


@helper(79, "bpf_skb_cgroup_id")
def skb_cgroup_id(call: CallContext, *_: int) -> int:
    state = _state(call, "bpf_skb_cgroup_id", {"tc", "cg_skb"})
    task = getattr(state.env, "task", None)
    return getattr(task, "cgroup_id", 0)


@helper(97, "bpf_skb_ecn_set_ce")
def skb_ecn_set_ce(call: CallContext, *_: int) -> int:
    """Set CE on an ECN-capable IPv4/IPv6 packet (INET_ECN_set_ce); 1 if it now carries CE."""
    state = _state(call, "bpf_skb_ecn_set_ce", {"tc", "cg_skb"})
    net = state.network_offset
    if state.protocol == ETH_P_IP:
        hdr = state.read(net, 20)
        if hdr is None:
            return 0
        tos = hdr[1]
        if not (tos + 1) & 2:              # Not-ECT (0) or already CE (3)
            return int((tos + 1) & 3 == 0)
        old = int.from_bytes(hdr[10:12], "big")
        # The kernel's incremental update: check += htons(0xFFFB + (ECT_0 bit)).
        add = 0xFFFB + ((tos + 1) & 3)     # ECT(1): 0xFFFD, ECT(0): 0xFFFE
        check = old + add
        check = (check + (check >= 0x10000)) & 0xFFFF
        state.write(net + 1, bytes([tos | 3]))
        state.write(net + 10, check.to_bytes(2, "big"))
        return 1
    if state.protocol == ETH_P_IPV6:
        hdr = state.read(net, 2)
        if hdr is None:
            return 0
        word = int.from_bytes(hdr, "big")
        ecn = (word >> 4) & 3
        if ecn == 0:
            return 0
        state.write(net, (word | 0x30).to_bytes(2, "big"))
        return 1
    return 0


# -- redirect --------------------------------------------------------------------------------

@helper(23, "bpf_redirect")
def redirect(call: CallContext, ifindex: int, flags: int, *_: int) -> int:
    state = _state(call, "bpf_redirect", {"tc", "lwt", "xdp"}, {"lwt_xmit"})
    ifindex = ifindex & M32
    if state.kind == "xdp":
        if flags:
            return XDP_ABORTED
        state.redirect = Redirect(ifindex, 0)
        return XDP_REDIRECT
    if flags & ~BPF_F_INGRESS:
        return TC_ACT_SHOT
    state.redirect = Redirect(ifindex, flags & BPF_F_INGRESS)
    return TC_ACT_REDIRECT


@helper(13, "bpf_clone_redirect")
def clone_redirect(call: CallContext, r1: int, ifindex: int, flags: int, *_: int) -> int:
    state = _state(call, "bpf_clone_redirect", {"tc", "lwt"}, {"lwt_xmit"})
    ifindex = ifindex & M32
    if flags & ~BPF_F_INGRESS:
        return -errno.EINVAL
    if ifindex not in known_ifindexes(state.env):
        return -errno.EINVAL
    data = state.buf.read(state.mac_header, state.buf.tail - state.mac_header)
    state.clones.append(Redirect(ifindex, flags & BPF_F_INGRESS, data))
    return 0

"""Packet helpers that change a packet's shape: protocol and VLAN changes, room and tail
adjustments for skbs, and XDP's head/tail/meta adjustments (net/core/filter.c).

The states and rules are those of :mod:`pybpf.vm.helpers.net`; this module holds the
helpers that move the packet's data or headers.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.vm.helpers.net import M32, SKB_MAX_ALLOC, VLAN_HLEN, _i32, _state, _swab16
from pybpf.vm.helpers.registry import CallContext, helper
from pybpf.vm.progtypes.base import ENOTSUPP, ETH_HLEN
from pybpf.vm.progtypes.skb import ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6


# -- changing the packet's shape (skb) ---------------------------------------------------------

def _hdr_push(state: Any, off: int, length: int) -> None:
    """bpf_skb_net_hdr_push: open ``length`` zero bytes at ``off`` from data (the mac header)."""
    trans_same = state.transport_header == state.network_header
    state.push(length)
    state.buf.move(state.buf.data, state.buf.data + length, off)
    state.buf.zero(state.buf.data + off, length)
    state.mac_header -= length
    state.network_header -= length
    if trans_same:
        state.transport_header = state.network_header


def _hdr_pop(state: Any, off: int, length: int) -> int:
    if off + length > state.len:
        return -errno.ENOMEM
    trans_same = state.transport_header == state.network_header
    old = state.buf.data
    state.pull(length)
    state.buf.move(state.buf.data, old, off)
    state.mac_header += length
    state.network_header += length
    if trans_same:
        state.transport_header = state.network_header
    return 0


@helper(31, "bpf_skb_change_proto")
def skb_change_proto(call: CallContext, r1: int, proto: int, flags: int, *_: int) -> int:
    state = _state(call, "bpf_skb_change_proto", {"tc"})
    if flags:
        return -errno.EINVAL
    to = _swab16(proto & 0xFFFF)
    off = state.mac_len
    if state.protocol == ETH_P_IP and to == ETH_P_IPV6:
        _hdr_push(state, off, 20)
    elif state.protocol == ETH_P_IPV6 and to == ETH_P_IP:
        err = _hdr_pop(state, off, 20)
        if err:
            return err
    else:
        return -ENOTSUPP
    state.protocol = to
    state.clear_hash()
    return 0


@helper(32, "bpf_skb_change_type")
def skb_change_type(call: CallContext, r1: int, pkt_type: int, *_: int) -> int:
    state = _state(call, "bpf_skb_change_type", {"tc"})
    pkt_type &= M32
    if state.pkt_type > 3 or pkt_type > 3:       # skb_pkt_type_ok: up to PACKET_OTHERHOST
        return -errno.EINVAL
    state.pkt_type = pkt_type
    return 0


@helper(18, "bpf_skb_vlan_push")
def skb_vlan_push(call: CallContext, r1: int, vlan_proto: int, vlan_tci: int, *_: int) -> int:
    state = _state(call, "bpf_skb_vlan_push", {"tc"})
    proto = _swab16(vlan_proto & 0xFFFF)
    if proto not in (ETH_P_8021Q, ETH_P_8021AD):
        proto = ETH_P_8021Q
    if state.vlan_present:
        if state.buf.data != state.mac_header:
            return -errno.EINVAL
        # __vlan_insert_tag: move the addresses down 4 bytes and write the old tag in.
        state.push(VLAN_HLEN)
        state.buf.move(state.buf.data, state.buf.data + VLAN_HLEN, 12)
        state.mac_header -= VLAN_HLEN
        tag = state.vlan_proto.to_bytes(2, "big") + state.vlan_tci.to_bytes(2, "big")
        state.write(12, tag)
        state.protocol = state.vlan_proto
    state.vlan_present, state.vlan_proto, state.vlan_tci = True, proto, vlan_tci & 0xFFFF
    return 0


def _vlan_pop_from_data(state: Any) -> int | None:
    """__skb_vlan_pop: remove the tag after the addresses; returns the TCI or an errno."""
    if state.buf.data != state.mac_header:
        return None
    if state.len < ETH_HLEN + VLAN_HLEN:
        return -errno.ENOMEM
    hdr = state.read(0, 18)
    tci = int.from_bytes(hdr[14:16], "big")
    inner = int.from_bytes(hdr[16:18], "big")
    state.buf.move(state.buf.data + VLAN_HLEN, state.buf.data, 12)
    state.pull(VLAN_HLEN)
    state.mac_header += VLAN_HLEN
    state.protocol = inner if inner >= 0x0600 else state.protocol
    if state.network_header - state.buf.data < ETH_HLEN:
        state.network_header = state.buf.data + ETH_HLEN
    return tci


@helper(19, "bpf_skb_vlan_pop")
def skb_vlan_pop(call: CallContext, *_: int) -> int:
    state = _state(call, "bpf_skb_vlan_pop", {"tc"})
    if state.vlan_present:
        state.vlan_present, state.vlan_tci, state.vlan_proto = False, 0, 0
    else:
        if state.protocol not in (ETH_P_8021Q, ETH_P_8021AD):
            return 0
        tci = _vlan_pop_from_data(state)
        if tci is None:
            return -errno.EINVAL
        if tci < 0:
            return tci
    if state.protocol not in (ETH_P_8021Q, ETH_P_8021AD):
        return 0
    proto = state.protocol
    tci = _vlan_pop_from_data(state)
    if tci is None:
        return -errno.EINVAL
    if tci < 0:
        return tci
    state.vlan_present, state.vlan_proto, state.vlan_tci = True, proto, tci
    return 0


ADJ_FIXED_GSO, ADJ_ENCAP_L3_IPV4, ADJ_ENCAP_L3_IPV6 = 1, 2, 4
ADJ_ENCAP_L4_GRE, ADJ_ENCAP_L4_UDP, ADJ_NO_CSUM_RESET, ADJ_ENCAP_L2_ETH = 8, 16, 32, 64
ADJ_DECAP_L3_IPV4, ADJ_DECAP_L3_IPV6 = 128, 256
_ADJ_MASK = (ADJ_FIXED_GSO | ADJ_ENCAP_L3_IPV4 | ADJ_ENCAP_L3_IPV6 | ADJ_ENCAP_L4_GRE
             | ADJ_ENCAP_L4_UDP | ADJ_ENCAP_L2_ETH | (0xFF << 56))


def _gso_blocks(state: Any, flags: int) -> bool:
    """UDP (non-TCP) GSO packets may change size only with BPF_F_ADJ_ROOM_FIXED_GSO."""
    return bool(state.gso_size) and not (state.gso_type & 0x10 and flags & ADJ_FIXED_GSO)


@helper(50, "bpf_skb_adjust_room")
def skb_adjust_room(call: CallContext, r1: int, len_diff: int, mode: int, flags: int,
                    r5: int) -> int:
    state = _state(call, "bpf_skb_adjust_room", {"tc"})
    diff = _i32(len_diff)
    mode &= M32
    amount = abs(diff)
    if flags & ~(_ADJ_MASK | ADJ_NO_CSUM_RESET | ADJ_DECAP_L3_IPV4 | ADJ_DECAP_L3_IPV6):
        return -errno.EINVAL
    if amount > 0xFFF:
        return -errno.EFAULT
    if state.protocol not in (ETH_P_IP, ETH_P_IPV6):
        return -ENOTSUPP
    base = 20 if state.protocol == ETH_P_IP else 40
    off = state.mac_len
    if mode == 0:          # BPF_ADJ_ROOM_NET
        off += base
    elif mode != 1:        # BPF_ADJ_ROOM_MAC
        return -ENOTSUPP
    len_cur = state.len - state.network_offset
    if diff < 0 and (amount >= len_cur or len_cur - amount < base):
        return -ENOTSUPP
    if diff >= 0 and state.len + amount > SKB_MAX_ALLOC and not state.gso_size:
        return -ENOTSUPP
    if diff < 0:
        if flags & ~(ADJ_FIXED_GSO | ADJ_NO_CSUM_RESET | ADJ_DECAP_L3_IPV4 | ADJ_DECAP_L3_IPV6):
            return -errno.EINVAL
        if flags & ADJ_DECAP_L3_IPV4 and flags & ADJ_DECAP_L3_IPV6:
            return -errno.EINVAL
        if _gso_blocks(state, flags):
            return -ENOTSUPP
        err = _hdr_pop(state, off, amount)
        if err:
            return err
        if state.protocol == ETH_P_IP and flags & ADJ_DECAP_L3_IPV6:
            state.protocol = ETH_P_IPV6
        elif state.protocol == ETH_P_IPV6 and flags & ADJ_DECAP_L3_IPV4:
            state.protocol = ETH_P_IP
    else:
        if flags & (ADJ_DECAP_L3_IPV4 | ADJ_DECAP_L3_IPV6):
            return -errno.EINVAL
        if _gso_blocks(state, flags):
            return -ENOTSUPP
        err = _grow_room(state, off, amount, flags)
        if err:
            return err
    if not flags & ADJ_NO_CSUM_RESET:
        state.csum_unnecessary, state.csum_level = False, 0
    return 0


def _grow_room(state: Any, off: int, amount: int, flags: int) -> int:
    inner_mac_len = (flags >> 56) & 0xFF
    encap = bool(flags & (ADJ_ENCAP_L3_IPV4 | ADJ_ENCAP_L3_IPV6))
    if encap:
        if flags & ADJ_ENCAP_L3_IPV4 and flags & ADJ_ENCAP_L3_IPV6:
            return -errno.EINVAL
        if flags & ADJ_ENCAP_L4_GRE and flags & ADJ_ENCAP_L4_UDP:
            return -errno.EINVAL
        if flags & ADJ_ENCAP_L2_ETH and inner_mac_len < ETH_HLEN:
            return -errno.EINVAL
        if state.encapsulation:
            return -errno.EALREADY
        if inner_mac_len > amount:
            return -errno.EINVAL
    mac_len = state.mac_len
    _hdr_push(state, off, amount)
    if encap:
        state.encapsulation = True
        state.network_header = state.mac_header + mac_len
        if flags & (ADJ_ENCAP_L4_GRE | ADJ_ENCAP_L4_UDP):
            nh_len = 40 if flags & ADJ_ENCAP_L3_IPV6 else 20
            state.transport_header = state.mac_header + mac_len + nh_len
        if state.protocol == ETH_P_IP and flags & ADJ_ENCAP_L3_IPV6:
            state.protocol = ETH_P_IPV6
        elif state.protocol == ETH_P_IPV6 and flags & ADJ_ENCAP_L3_IPV4:
            state.protocol = ETH_P_IP
    return 0


@helper(38, "bpf_skb_change_tail")
def skb_change_tail(call: CallContext, r1: int, new_len: int, flags: int, *_: int) -> int:
    state = _state(call, "bpf_skb_change_tail", {"tc", "lwt", "sk_skb"}, {"lwt_xmit"})
    new_len &= M32
    min_len = state.network_offset
    if state.transport_header >= 0:
        min_len = state.transport_header - state.buf.data
    if flags or new_len > SKB_MAX_ALLOC or new_len < min_len:
        return -errno.EINVAL
    if state.encapsulation:
        return -ENOTSUPP
    if new_len > state.len:
        state.put(new_len - state.len)
    elif new_len < state.len:
        state.trim(new_len)
    if state.gso_size:
        state.gso_size = state.gso_segs = state.gso_type = 0
    return 0


@helper(43, "bpf_skb_change_head")
def skb_change_head(call: CallContext, r1: int, head_room: int, flags: int, *_: int) -> int:
    state = _state(call, "bpf_skb_change_head", {"tc", "lwt", "sk_skb"}, {"lwt_xmit"})
    head_room &= M32
    new_len = (state.len + head_room) & M32
    if flags or (not state.gso_size and new_len > SKB_MAX_ALLOC) or new_len < state.len:
        return -errno.EINVAL
    state.push(head_room)
    state.buf.zero(state.buf.data, head_room)
    state.mac_header = state.buf.data
    return 0


# -- XDP --------------------------------------------------------------------------------------

def _xdp(call: CallContext, name: str) -> Any:
    return _state(call, name, {"xdp"})


@helper(44, "bpf_xdp_adjust_head")
def xdp_adjust_head(call: CallContext, r1: int, offset: int, *_: int) -> int:
    from pybpf.vm.progtypes.xdp import XDP_FRAME_SIZE
    state = _xdp(call, "bpf_xdp_adjust_head")
    offset = _i32(offset)
    metalen = state.metalen
    data = state.data + offset
    if data < XDP_FRAME_SIZE + metalen or data > state.data_end - ETH_HLEN:
        return -errno.EINVAL
    if metalen:
        state.buf.move(state.data_meta + offset, state.data_meta, metalen)
    state.data_meta += offset
    state.data = data
    return 0


@helper(65, "bpf_xdp_adjust_tail")
def xdp_adjust_tail(call: CallContext, r1: int, offset: int, *_: int) -> int:
    from pybpf.vm.progtypes.xdp import HARD_END
    state = _xdp(call, "bpf_xdp_adjust_tail")
    offset = _i32(offset)
    if state.frags:
        return _xdp_adjust_tail_frags(state, offset)
    data_end = state.data_end + offset
    if data_end > HARD_END:
        return -errno.EINVAL
    if data_end < state.data + ETH_HLEN:
        return -errno.EINVAL
    if offset > 0:
        state.buf.zero(state.data_end, offset)
    state.data_end = data_end
    return 0


def _xdp_adjust_tail_frags(state: Any, offset: int) -> int:
    """Multi-buffer frames: grow or shrink the last fragment (frag tailroom is a page)."""
    if offset >= 0:
        last = len(state.frags) % 4096 or 4096
        if last + offset > 4096:
            return -errno.EINVAL
        state.frags += bytes(offset)
        return 0
    shrink = -offset
    if shrink > len(state.frags) + state.len - ETH_HLEN:
        return -errno.EINVAL
    take = min(shrink, len(state.frags))
    state.frags = state.frags[:len(state.frags) - take]
    state.data_end -= shrink - take
    return 0


@helper(54, "bpf_xdp_adjust_meta")
def xdp_adjust_meta(call: CallContext, r1: int, offset: int, *_: int) -> int:
    from pybpf.vm.progtypes.xdp import XDP_FRAME_SIZE, metalen_invalid
    state = _xdp(call, "bpf_xdp_adjust_meta")
    offset = _i32(offset)
    meta = state.data_meta + offset
    if not state.meta_supported:
        return -ENOTSUPP
    if meta < XDP_FRAME_SIZE or meta > state.data:
        return -errno.EINVAL
    if metalen_invalid(state.data - meta):
        return -errno.EACCES
    state.data_meta = meta
    return 0


@helper(188, "bpf_xdp_get_buff_len")
def xdp_get_buff_len(call: CallContext, *_: int) -> int:
    state = _xdp(call, "bpf_xdp_get_buff_len")
    return state.len + len(state.frags)


def _xdp_span(state: Any, offset: int, size: int) -> bool:
    return offset + size <= state.len + len(state.frags)


@helper(189, "bpf_xdp_load_bytes")
def xdp_load_bytes(call: CallContext, r1: int, offset: int, buf: int, size: int, r5: int) -> int:
    state = _xdp(call, "bpf_xdp_load_bytes")
    offset, size = offset & M32, size & M32
    if not _xdp_span(state, offset, size):
        return -errno.EINVAL
    whole = state.bytes() + state.frags
    call.memory.write_bytes(buf, whole[offset:offset + size], call.pc)
    return 0


@helper(190, "bpf_xdp_store_bytes")
def xdp_store_bytes(call: CallContext, r1: int, offset: int, buf: int, size: int,
                    r5: int) -> int:
    state = _xdp(call, "bpf_xdp_store_bytes")
    offset, size = offset & M32, size & M32
    if not _xdp_span(state, offset, size):
        return -errno.EINVAL
    data = call.memory.read_bytes(buf, size, call.pc)
    linear = state.len
    head = data[:max(0, linear - offset)]
    if head:
        state.buf.write(state.data + offset, head)
    rest = data[len(head):]
    if rest:
        start = max(0, offset - linear)
        state.frags = state.frags[:start] + rest + state.frags[start + len(rest):]
    return 0


@helper(69, "bpf_fib_lookup")
def fib_lookup(call: CallContext, r1: int, params: int, plen: int, flags: int, r5: int) -> int:
    """Look ``struct bpf_fib_lookup`` up in ``env.routes`` (see pybpf.vm.progtypes.fib)."""
    from pybpf.vm.progtypes import fib
    state = _state(call, "bpf_fib_lookup", {"tc", "xdp"})
    plen &= M32
    if plen < fib.SIZE:
        return -errno.EINVAL
    if flags & ~fib.FLAGS:
        return -errno.EINVAL
    raw = bytearray(call.memory.read_bytes(params, fib.SIZE, call.pc))
    skb_len = state.len if state.kind == "tc" else None
    ret = fib.lookup(raw, flags, state.env, skb_len)
    call.memory.write_bytes(params, bytes(raw), call.pc)
    return ret

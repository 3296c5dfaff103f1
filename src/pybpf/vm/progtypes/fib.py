"""``bpf_fib_lookup`` against the routing table of an :class:`pybpf.env.Env`.

The kernel's ``bpf_ipv4_fib_lookup``/``bpf_ipv6_fib_lookup`` (net/core/filter.c), with the
environment's routes as the FIB and each route's ``dst_mac`` as the neighbour entry:
longest-prefix match, the MTU check when ``tot_len`` is given (and, for skb programs,
against the packet when it is not), the gateway replacing the destination, the egress
ifindex, and smac/dmac from the route — or a BPF_FIB_LKUP_RET_* code saying why not.
Forwarding is taken to be enabled on every interface of the environment.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from typing import Any

SIZE = 64
FLAGS = 0x1F
DIRECT, OUTPUT, SKIP_NEIGH, TBID, SRC = 1, 2, 4, 8, 16
AF_INET, AF_INET6 = 2, 10
RET_SUCCESS, RET_BLACKHOLE, RET_UNREACHABLE, RET_PROHIBIT, RET_NOT_FWDED = 0, 1, 2, 3, 4
RET_FWD_DISABLED, RET_UNSUPP_LWT, RET_NO_NEIGH, RET_FRAG_NEEDED, RET_NO_SRC_ADDR = 5, 6, 7, 8, 9
# struct bpf_fib_lookup
FAMILY, TOT_LEN, IFINDEX, METRIC, SRC_ADDR, DST_ADDR, VLAN, SMAC, DMAC = 0, 6, 8, 12, 16, 32, \
    48, 52, 58
ETH_HLEN = 14


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", "").replace("-", ""))


def _best_route(env: Any, address: ipaddress._BaseAddress) -> Any:
    best = None
    for route in getattr(env, "routes", None) or ():
        net = route.network
        if net.version != address.version or address not in net:
            continue
        if best is None or net.prefixlen > best.network.prefixlen:
            best = route
    return best


def lookup(params: bytearray, flags: int, env: Any, skb_len: int | None) -> int:
    """Fill ``params`` in place; return the helper's result (negative errno or RET_*)."""
    from pybpf.vm.progtypes.skb import known_ifindexes

    family = params[FAMILY]
    if family == AF_INET:
        dst = ipaddress.IPv4Address(bytes(params[DST_ADDR:DST_ADDR + 4]))
    elif family == AF_INET6:
        dst = ipaddress.IPv6Address(bytes(params[DST_ADDR:DST_ADDR + 16]))
    else:
        return -errno.EAFNOSUPPORT
    ifindex = struct.unpack_from("<I", params, IFINDEX)[0]
    if ifindex not in known_ifindexes(env):
        return -errno.ENODEV
    route = _best_route(env, dst)
    if route is None:
        return RET_NOT_FWDED
    tot_len = struct.unpack_from("<H", params, TOT_LEN)[0]
    mtu = 0
    if tot_len:
        mtu = route.mtu
        if tot_len > mtu:
            struct.pack_into("<H", params, TOT_LEN, mtu)
            return RET_FRAG_NEEDED
    if route.gateway is not None:
        gateway = ipaddress.ip_address(route.gateway)
        if gateway.version == dst.version:
            params[DST_ADDR:DST_ADDR + len(gateway.packed)] = gateway.packed
    struct.pack_into("<I", params, METRIC, 0)
    struct.pack_into("<I", params, IFINDEX, route.ifindex)
    if flags & SRC:
        return RET_NO_SRC_ADDR          # routes carry no preferred source address
    if not flags & SKIP_NEIGH:
        if route.dst_mac is None:
            return RET_NO_NEIGH
        params[DMAC:DMAC + 6] = _mac(route.dst_mac)
        params[SMAC:SMAC + 6] = _mac(route.src_mac)
    struct.pack_into("<I", params, VLAN, 0)
    if mtu:
        struct.pack_into("<H", params, TOT_LEN, mtu)
    if skb_len is not None and not tot_len:
        if skb_len - ETH_HLEN > route.mtu:
            struct.pack_into("<H", params, TOT_LEN, route.mtu)
            return RET_FRAG_NEEDED
        struct.pack_into("<H", params, TOT_LEN, route.mtu)
    return RET_SUCCESS

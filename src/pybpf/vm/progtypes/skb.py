"""Socket-buffer program types: socket filter, tc (sched_cls/sched_act), cgroup_skb, lwt_*, sk_skb.

``bpf_prog_test_run_skb`` (net/bpf/test_run.c) builds an skb from data_in with
NET_SKB_PAD + NET_IP_ALIGN (64 on x86-64) bytes of headroom, runs ``eth_type_trans`` on it
as if it arrived on the loopback device (or on ``__sk_buff.ifindex``), leaves ``data`` at
the network header except for tc, whose programs see the Ethernet header, and after the
run pushes back a zeroed Ethernet header for the types that do not (so data_out always
starts with 14 bytes of link layer). :class:`SkbState` is that skb.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from dataclasses import dataclass, field
from typing import Any

from pybpf.vm.memory import Memory, Region
from pybpf.vm.progtypes import skb_layout as L
from pybpf.vm.progtypes.base import (
    ETH_HLEN, PAGE_SIZE, BytesAccess, CtxAccess, Invocation, ProgramType, check_data_out,
    check_tail_zero, syscall_error,
)
from pybpf.vm.progtypes.packet import PacketBuffer
from pybpf.vm.progtypes.sock import sock_bytes, sock_common_valid

HEADROOM = 64                  # NET_SKB_PAD + NET_IP_ALIGN on x86-64
TAILROOM = 320                 # SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
MAX_DATA = PAGE_SIZE - HEADROOM - TAILROOM
GSO_MAX_SEGS = 65535
GSO_LEGACY_MAX_SIZE = 65536
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
ETH_P_802_3, ETH_P_802_2 = 0x0001, 0x0004
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
LOOPBACK_IFINDEX = 1

TC_ACTIONS = {0xFFFFFFFF: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY",
              2: "TC_ACT_SHOT", 3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED",
              6: "TC_ACT_REPEAT", 7: "TC_ACT_REDIRECT", 8: "TC_ACT_TRAP"}
LWT_ACTIONS = {0: "BPF_OK", 2: "BPF_DROP", 7: "BPF_REDIRECT", 128: "BPF_LWT_REROUTE"}
CG_SKB_ACTIONS = {0: "DROP", 1: "PASS", 2: "DROP|CN", 3: "PASS|CN"}
SK_ACTIONS = {0: "SK_DROP", 1: "SK_PASS"}


def known_ifindexes(env: Any) -> set[int]:
    """Interfaces that exist for a run: loopback, the env's route interfaces, and
    ``env.interfaces`` (ifindex → MAC) where the environment has it."""
    known = {LOOPBACK_IFINDEX}
    for route in getattr(env, "routes", None) or ():
        known.add(route.ifindex)
    known.update((getattr(env, "interfaces", None) or {}).keys())
    return known


def interface_mac(env: Any, ifindex: int) -> bytes:
    """The MAC of interface ``ifindex`` (loopback: zeros)."""
    if ifindex == LOOPBACK_IFINDEX:
        return bytes(6)
    mac = (getattr(env, "interfaces", None) or {}).get(ifindex)
    if mac is None:
        for route in getattr(env, "routes", None) or ():
            if route.ifindex == ifindex:
                mac = route.src_mac
                break
    if mac is None:
        return bytes(6)
    return bytes.fromhex(mac.replace(":", "")) if isinstance(mac, str) else bytes(mac)


@dataclass
class SockInfo:
    """The socket test_run attaches to the skb (addresses taken from the packet)."""

    family: int = 0
    src4: bytes = bytes(4)
    dst4: bytes = bytes(4)
    src6: bytes = bytes(16)
    dst6: bytes = bytes(16)
    sport: int = 0
    dport: int = 0


@dataclass
class Redirect:
    """Where ``bpf_redirect``/``bpf_clone_redirect`` sent the packet."""

    ifindex: int
    flags: int
    data: bytes | None = None     # the clone's bytes (clone_redirect)

    @property
    def ingress(self) -> bool:
        return bool(self.flags & 1)


@dataclass(eq=False)
class SkbState:
    """The sk_buff of one run. Header offsets are from the start of the buffer region."""

    kind: str
    prog_type: int
    type_name: str
    env: Any
    inv: Invocation
    buf: Any = None                       # PacketBuffer
    mac_header: int = 0
    network_header: int = 0
    transport_header: int = -1
    protocol: int = 0
    pkt_type: int = PACKET_HOST
    mark: int = 0
    priority: int = 0
    skb_iif: int = 0
    ifindex: int = LOOPBACK_IFINDEX
    tc_index: int = 0
    cb: bytearray = field(default_factory=lambda: bytearray(20))
    hash: int = 0
    sw_hash: bool = False
    l4_hash: bool = False
    tc_classid: int = 0
    queue_mapping: int = 0
    vlan_present: bool = False
    vlan_tci: int = 0
    vlan_proto: int = 0
    tstamp: int = 0
    pkt_len: int = 0
    gso_segs: int = 0
    gso_size: int = 0
    gso_type: int = 0
    hwtstamp: int = 0
    encapsulation: bool = False
    csum_level: int = 0
    csum_unnecessary: bool = False
    sock: SockInfo = field(default_factory=SockInfo)
    sock_region: Region | None = None
    redirect: Redirect | None = None
    clones: list[Redirect] = field(default_factory=list)
    cookie: int = 0

    # -- what the context fields read ----------------------------------------------------

    @property
    def len(self) -> int:
        return self.buf.len

    @property
    def data(self) -> int:
        return self.buf.data

    def data_pointer(self) -> int:
        return self.buf.data_address

    def data_end_pointer(self) -> int:
        return self.buf.tail_address

    def data_meta_pointer(self) -> int:
        return self.buf.data_address

    def sock_pointer(self) -> int:
        return self.sock_region.address if self.sock_region is not None else 0

    # -- packet surgery for helpers --------------------------------------------------------

    def bytes(self) -> bytes:
        return self.buf.bytes()

    def read(self, offset: int, size: int) -> bytes | None:
        """``size`` bytes at ``offset`` from data, or None past the end (skb_header_pointer)."""
        if offset < 0 or size < 0 or offset + size > self.len:
            return None
        return self.buf.read(self.buf.data + offset, size)

    def write(self, offset: int, data: bytes) -> None:
        self.buf.write(self.buf.data + offset, data)

    def _shift(self, delta: int) -> None:
        if delta:
            self.mac_header += delta
            self.network_header += delta
            if self.transport_header >= 0:
                self.transport_header += delta

    def push(self, n: int) -> None:
        """skb_push (growing the headroom like skb_cow_head when needed)."""
        buf = self.buf
        if n > buf.data:
            self._shift(buf.ensure(headroom=n))
        buf.data -= n

    def pull(self, n: int) -> None:
        self.buf.data += n

    def put(self, n: int) -> None:
        """skb_put: extend the tail by ``n`` (zeroed) bytes."""
        self._shift(self.buf.ensure(tailroom=n))
        self.buf.zero(self.buf.tail, n)
        self.buf.tail += n

    def trim(self, new_len: int) -> None:
        self.buf.tail = self.buf.data + new_len

    @property
    def network_offset(self) -> int:
        return self.network_header - self.buf.data

    @property
    def mac_len(self) -> int:
        return self.network_header - self.mac_header

    def clear_hash(self) -> None:
        self.hash, self.sw_hash, self.l4_hash = 0, False, False

    @property
    def redirect_target(self) -> tuple[int, int] | None:
        """(ifindex, flags) of the last bpf_redirect, for routing the verdict."""
        return (self.redirect.ifindex, self.redirect.flags) if self.redirect else None


SKF_NET_OFF, SKF_LL_OFF = -0x100000, -0x200000


def _cb(state: SkbState) -> bytearray:
    """Where ``__sk_buff.cb`` loads and stores go."""
    return state.cb


# The buffer of every _LdAbsView: one is never addressable, nor read (its reads are the skb's).
_NO_BUFFER = (ctypes.c_ubyte * 1)()


class _LdAbsView(Region):
    """What LD_ABS/LD_IND read: the skb's bytes from data, as they are at that moment."""

    __slots__ = ("_state",)

    def __init__(self, state: SkbState):
        self._state = state
        super().__init__("skb.ld_abs", _NO_BUFFER, writable=False, kind="packet")

    @property
    def size(self) -> int:              # type: ignore[override]
        return self._state.len

    @size.setter
    def size(self, value: int) -> None:
        pass

    def read(self, offset: int = 0, size: int | None = None) -> bytes:
        size = self._state.len - offset if size is None else size
        return self._state.read(offset, size) or b""

    def read_relative(self, offset: int, size: int) -> bytes | None:
        """A load at SKF_NET_OFF + n or SKF_LL_OFF + n: from the network or link-layer
        header, anywhere between the buffer's head and the packet's tail (the kernel's
        bpf_internal_load_pointer_neg_helper); None outside."""
        state = self._state
        if offset >= SKF_NET_OFF:
            start = state.network_header + offset - SKF_NET_OFF
        elif offset >= SKF_LL_OFF:
            start = state.mac_header + offset - SKF_LL_OFF
        else:
            return None
        if start < 0 or start + size > state.buf.tail:
            return None
        return state.buf.region.read(start, size)


def eth_classify(frame: bytes, dev_mac: bytes, loopback: bool) -> tuple[int, int]:
    """(pkt_type, protocol) of an Ethernet frame arriving on a device, as eth_type_trans
    finds them."""
    dest, proto = frame[:6], int.from_bytes(frame[12:14], "big")
    pkt_type = PACKET_HOST
    if dest != dev_mac:
        if dest[0] & 1:
            broadcast = not loopback and dest == b"\xff" * 6
            pkt_type = PACKET_BROADCAST if broadcast else PACKET_MULTICAST
        else:
            pkt_type = PACKET_OTHERHOST
    if proto >= 0x0600:
        return pkt_type, proto
    return pkt_type, ETH_P_802_3 if frame[14:16] == b"\xff\xff" else ETH_P_802_2


def eth_type_trans(state: SkbState, dev_mac: bytes, loopback: bool) -> None:
    """Set pkt_type and protocol from the Ethernet header and pull it, as the kernel does."""
    buf = state.buf
    state.pkt_type, state.protocol = eth_classify(
        buf.read(buf.data, min(buf.tail - buf.data, ETH_HLEN + 2)), dev_mac, loopback)
    state.mac_header = buf.data
    state.pull(ETH_HLEN)
    state.network_header = buf.data


def _packet_sock(sock: SockInfo, protocol: int, net: bytes) -> SockInfo:
    """``sock`` with test_run's addresses: the packet's (``net``: from its network
    header); an IP packet too short for its header is test_run's EINVAL."""
    if protocol == ETH_P_IP:
        if len(net) < 20:
            raise syscall_error(errno.EINVAL, f"an IPv4 packet needs a 20-byte header, "
                                              f"data_in has {len(net)} bytes after Ethernet")
        sock.family, sock.src4, sock.dst4 = 2, net[12:16], net[16:20]
    elif protocol == ETH_P_IPV6:
        if len(net) < 40:
            raise syscall_error(errno.EINVAL, f"an IPv6 packet needs a 40-byte header, "
                                              f"data_in has {len(net)} bytes after Ethernet")
        sock.family, sock.src6, sock.dst6 = 10, net[8:24], net[24:40]
    return sock


def _sock_data(state: SkbState) -> bytes:
    """The ``struct bpf_sock`` test_run attaches to ``state``: its packet's addresses
    (``state.sock`` filled in from the network header on)."""
    buf, net = state.buf, state.network_header
    return sock_bytes(_packet_sock(state.sock, state.protocol, buf.read(net, buf.tail - net)))


class SkbProgramType(ProgramType):
    """One of the skb program types; ``kind`` picks the access rules and test_run shape."""

    ctx_size = L.SIZE

    def __init__(self, prog_type: int, name: str, kind: str, return_codes: dict[int, str],
                 attach_type: int | None = None):
        super().__init__(prog_type, name, attach_type)
        self.kind = kind
        self.return_codes = return_codes
        self.is_l2 = kind == "tc"
        self.valid = L.VALIDITY[kind]
        # sk_skb has no BPF_PROG_TEST_RUN in the kernel (ENOTSUPP); it runs here as an skb
        # with test_run's input rules.
        self.kernel_test_run = kind != "sk_skb"

    def _prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None,
                 data_size_out: int | None) -> Invocation:
        data = bytes(data or b"")
        if len(data) < ETH_HLEN or len(data) > MAX_DATA:
            raise syscall_error(errno.EINVAL, f"data_size_in {len(data)} outside "
                                              f"[{ETH_HLEN}, {MAX_DATA}] for {self.name}")
        uctx = bytearray(check_tail_zero(ctx, L.SIZE, "struct __sk_buff")) \
            if ctx is not None else None
        inv = Invocation(memory, None, (), spares=self.spares)
        try:
            state = self._build(inv, env, data, uctx)
        except BaseException:
            inv.close()
            raise
        ctx_region = inv.borrow(f"{self.name}.ctx", L.SIZE, "ctx")
        ctx_region.access = CtxAccess(state, L.SIZE, L.FIELDS, self.valid,
                                      raw=(L.CB, L.CB_END), raw_buffer=_cb)
        inv.ctx = state
        inv.args = (ctx_region.address,)
        inv.packet = _LdAbsView(state)
        inv._finish = lambda r0: self._finish(state, uctx, r0, data_size_out)
        return inv

    def _build(self, inv: Invocation, env: Any, data: bytes, uctx: bytearray | None) -> SkbState:
        state = SkbState(self.kind, self.prog_type, self.name, env, inv)
        name = f"{self.name}.packet"
        state.buf = PacketBuffer(name, HEADROOM, data, TAILROOM, inv.replace,
                                 inv.borrow(name, HEADROOM + len(data) + TAILROOM, "packet"))
        state.cookie = 0x1000 + (getattr(env, "seed", 0) & 0xFFFF)
        ifindex = LOOPBACK_IFINDEX
        if uctx is not None:
            requested = struct.unpack_from("<I", uctx, L.IFINDEX)[0]
            if requested > 1:
                if requested not in known_ifindexes(env):
                    raise syscall_error(errno.ENODEV, f"__sk_buff.ifindex {requested}: no "
                                                      f"such device")
                ifindex = requested
        state.ifindex = ifindex
        eth_type_trans(state, interface_mac(env, ifindex), ifindex == LOOPBACK_IFINDEX)
        self._attach_sock(state, inv)
        if self.is_l2:
            state.push(ETH_HLEN)
        if uctx is not None:
            self._apply_ctx(state, uctx)
        return state

    @staticmethod
    def _attach_sock(state: SkbState, inv: Invocation) -> None:
        data = _sock_data(state)
        region = state.sock_region = inv.borrow(f"{state.type_name}.sk", len(data), "ctx")
        region.write(0, data)
        region.access = BytesAccess(bytearray(data), sock_common_valid)

    def follow_frame(self, state: SkbState, length: int) -> None:
        """A batch's next packet (``length`` bytes, its Ethernet header included) is now
        in ``state``'s buffer where the first one's was (a state made with no ctx_in and
        not changed since): the fields a fresh run of that packet starts with that
        depend on the packet (the rest are equal)."""
        buf = state.buf
        mac = state.mac_header
        buf.tail = mac + length
        state.pkt_type, state.protocol = eth_classify(
            buf.read(mac, min(length, ETH_HLEN + 2)), interface_mac(state.env, state.ifindex),
            state.ifindex == LOOPBACK_IFINDEX)
        state.sock = SockInfo()
        state.sock_region.access.data[:] = _sock_data(state)

    def _apply_ctx(self, state: SkbState, uctx: bytearray) -> None:
        """convert___skb_to_skb."""
        bad = L.first_forbidden_byte(uctx)
        if bad is not None:
            raise syscall_error(errno.EINVAL, f"ctx_in sets __sk_buff.{L.field_name(bad)}, "
                                              f"which test_run does not accept")
        u32 = lambda off: struct.unpack_from("<I", uctx, off)[0]   # noqa: E731
        u64 = lambda off: struct.unpack_from("<Q", uctx, off)[0]   # noqa: E731
        state.mark, state.priority, state.skb_iif = u32(L.MARK), u32(L.PRIORITY), \
            u32(L.INGRESS_IFINDEX)
        state.tstamp = u64(L.TSTAMP)
        state.cb[:] = uctx[L.CB:L.CB_END]
        wire_len = u32(L.WIRE_LEN)
        if wire_len == 0:
            state.pkt_len = state.len
        elif wire_len < state.len or wire_len > GSO_LEGACY_MAX_SIZE:
            raise syscall_error(errno.EINVAL, f"__sk_buff.wire_len {wire_len} outside "
                                              f"[{state.len}, {GSO_LEGACY_MAX_SIZE}]")
        else:
            state.pkt_len = wire_len
        if u32(L.GSO_SEGS) > GSO_MAX_SEGS:
            raise syscall_error(errno.EINVAL, f"__sk_buff.gso_segs {u32(L.GSO_SEGS)} is more "
                                              f"than {GSO_MAX_SEGS}")
        state.gso_segs = u32(L.GSO_SEGS)
        state.gso_size = u32(L.GSO_SIZE) & 0xFFFF
        state.hwtstamp = u64(L.HWTSTAMP)

    def _finish(self, state: SkbState, uctx: bytearray | None, r0: int,
                data_size_out: int | None) -> tuple[int, bytes, bytes | None]:
        retval = r0 & 0xFFFFFFFF
        if not self.is_l2:
            state.push(ETH_HLEN)
            state.buf.zero(state.buf.data, ETH_HLEN)
        out = state.bytes()
        ctx_out = None
        if uctx is not None:
            c = bytearray(uctx)
            struct.pack_into("<I", c, L.MARK, state.mark)
            struct.pack_into("<III", c, L.PRIORITY, state.priority, state.skb_iif, state.ifindex)
            struct.pack_into("<Q", c, L.TSTAMP, state.tstamp)
            c[L.CB:L.CB_END] = state.cb
            struct.pack_into("<II", c, L.WIRE_LEN, state.pkt_len, state.gso_segs)
            struct.pack_into("<Q", c, L.HWTSTAMP, state.hwtstamp)
            ctx_out = bytes(c)
        check_data_out(out, data_size_out, retval)
        return retval, out, ctx_out


__all__ = ["Redirect", "SkbProgramType", "SkbState", "SockInfo", "known_ifindexes"]

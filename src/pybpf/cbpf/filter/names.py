"""Name and number conversions as libpcap's nametoaddr.c does them.

Host names resolve only when numeric or listed in /etc/hosts (no DNS: a filter compiles the
same everywhere and never waits on the network); when /etc/hosts lists a name, the C
library's own getaddrinfo gives the addresses, so their order is libpcap's. Services,
protocols, networks and Ethernet host names come from the C library (/etc/services,
/etc/protocols, /etc/networks, /etc/ethers) exactly as libpcap asks for them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import socket

from pybpf.cbpf.filter.consts import IPPROTO_TCP, IPPROTO_UDP, PROTO_UNDEF

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


@functools.lru_cache(maxsize=1)
def _hosts_names() -> frozenset[str]:
    names: set[str] = set()
    try:
        with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                names.update(n.lower() for n in fields[1:])
    except OSError:
        pass
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def nametoaddrinfo(name: str) -> tuple[tuple[int, bytes], ...] | None:
    """(family, packed address) pairs for ``name`` in getaddrinfo order, or None."""
    flags = 0
    if name.lower() not in _hosts_names():
        flags = socket.AI_NUMERICHOST
    try:
        res = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                 socket.IPPROTO_TCP, flags)
    except (OSError, UnicodeError):
        return None
    out = []
    for family, _t, _p, _c, sa in res:
        if family == socket.AF_INET:
            out.append((family, socket.inet_pton(family, sa[0])))
        elif family == socket.AF_INET6:
            out.append((family, socket.inet_pton(family, sa[0].split("%")[0])))
    return tuple(out)


def _servport(name: str, proto: str) -> int:
    try:
        return socket.getservbyname(name, proto)
    except (OSError, UnicodeError):
        return -1


@functools.lru_cache(maxsize=256)
def nametoport(name: str) -> tuple[int, int] | None:
    """(port, ip protocol or PROTO_UNDEF when TCP and UDP agree) for a service name."""
    if name.isdigit():
        n = int(name)
        return (n, PROTO_UNDEF) if n <= 65535 else None
    tcp = _servport(name, "tcp")
    udp = _servport(name, "udp")
    if tcp >= 0:
        return (tcp, PROTO_UNDEF if udp == tcp else IPPROTO_TCP)
    if udp >= 0:
        return (udp, IPPROTO_UDP)
    return None


_SCANF_INT = re.compile(r"\s*([-+]?\d+)")


def _scanf_d(s: str, pos: int) -> tuple[int, int] | None:
    m = _SCANF_INT.match(s, pos)
    if not m:
        return None
    v = int(m.group(1))
    return ((v + 2**31) % 2**32) - 2**31, m.end()


def nametoportrange(name: str) -> tuple[int, int, int] | None:
    """(port1, port2, protocol) for ``N-M`` or ``service-service``."""
    first = _scanf_d(name, 0)
    if first is not None and name[first[1]:first[1] + 1] == "-":
        second = _scanf_d(name, first[1] + 1)
        if second is not None:
            return first[0], second[0], PROTO_UNDEF
    if "-" not in name:
        return None
    a, b = name.split("-", 1)
    p1 = nametoport(a)
    if p1 is None:
        return None
    p2 = nametoport(b)
    if p2 is None:
        return None
    proto = p2[1] if p1[1] == p2[1] else PROTO_UNDEF
    return p1[0], p2[0], proto


@functools.lru_cache(maxsize=256)
def nametoproto(name: str) -> int:
    try:
        return socket.getprotobyname(name)
    except (OSError, UnicodeError):
        return PROTO_UNDEF


class _NetEnt(ctypes.Structure):
    _fields_ = [("n_name", ctypes.c_char_p), ("n_aliases", ctypes.POINTER(ctypes.c_char_p)),
                ("n_addrtype", ctypes.c_int), ("n_net", ctypes.c_uint32)]


@functools.lru_cache(maxsize=64)
def nametonetaddr(name: str) -> int:
    """getnetbyname(name)->n_net (host order), 0 when unknown."""
    try:
        fn = _c().getnetbyname
        fn.restype = ctypes.POINTER(_NetEnt)
        fn.argtypes = [ctypes.c_char_p]
        ent = fn(name.encode())
        return ent.contents.n_net if ent else 0
    except (OSError, AttributeError, UnicodeError):
        return 0


@functools.lru_cache(maxsize=64)
def ether_hostton(name: str) -> bytes | None:
    """ether_hostton(3): the MAC address /etc/ethers gives a name, or None."""
    try:
        fn = _c().ether_hostton
        buf = ctypes.create_string_buffer(6)
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        return buf.raw if fn(name.encode(), buf) == 0 else None
    except (OSError, AttributeError, UnicodeError):
        return None


def ether_aton(s: str) -> bytes:
    """pcap_ether_aton: a well-formed MAC string (any mix of ':', '.', '-') to 6 bytes."""
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        if s[i] in ":.-":
            i += 1
        d = int(s[i], 16)
        i += 1
        if i < n and s[i] in "0123456789abcdefABCDEF":
            d = (d << 4) | int(s[i], 16)
            i += 1
        out.append(d)
    return bytes(out)


def atoin(s: str) -> tuple[int, int]:
    """__pcap_atoin: (address, bit length) of a dotted prefix; length -1 if a part > 255."""
    addr = length = 0
    for part in s.split("."):
        n = 0
        for ch in part:
            if n > 25:
                return 0, -1
            n = n * 10 + ord(ch) - 48
        if n > 255:
            return 0, -1
        addr = ((addr << 8) | (n & 0xFF)) & 0xFFFFFFFF
        length += 8
    return addr, length


def atodn(s: str) -> tuple[int, int]:
    """__pcap_atodn: (DECnet address, 32) or (0, 0) when malformed."""
    m = re.match(r"\s*([-+]?\d+)\.\s*([-+]?\d+)", s)
    if not m:
        return 0, 0
    area, node = int(m.group(1)) & 0xFFFFFFFF, int(m.group(2)) & 0xFFFFFFFF
    return ((area << 10) & 0o176000) | (node & 0o1777), 32

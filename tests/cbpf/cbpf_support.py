"""Shared by the classic BPF tests: tcpdump's programs, generated frames, and the oracles
(libpcap's ``bpf_filter`` through ctypes, the kernel through AF_PACKET sockets in a network
namespace, eBPF socket filters in the interpreter and the kernel)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import shutil
import struct
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import dpkt

from pybpf.cbpf import CInsn, parse_ddd
from pybpf.cbpf.machine import as_received


# Filters tcpdump compiles for Ethernet into programs the kernel accepts (no protochain:
# libpcap implements it with backward jumps, which only its own interpreter runs).
EXPRESSIONS = [
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "vlan", "vlan 100",
    "udp dst port 9999", "tcp port 80", "port 53", "portrange 1000-2000", "src port 1234",
    "host 10.0.0.1", "src net 10.0.0.0/8", "dst host 192.168.1.1", "net 172.16.0.0/12",
    "ip6 host fe80::1", "ip6 net 2001:db8::/32", "ether host 02:00:00:00:00:01",
    "ether broadcast", "ether multicast", "ip broadcast", "ip multicast",
    "ether proto 0x88b5", "ether src 02:00:00:00:00:01 and not ip",
    "tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 0x12 = 0x12", "icmp[icmptype] = icmp-echo",
    "ip[2:2] > 100", "ip[8] < 64", "ip[6:2] & 0x1fff != 0", "ip[0] & 0xf > 5",
    "len > 100", "len <= 64", "greater 200", "less 80", "udp and len > 60 and len < 300",
    "ip[2] % 3 = 1 or ip[4] ^ 5 = 2 or ip[1] << 2 > 5 or ether[0] >> 1 = 3",
    "ip[0] | 1 = 0x45 or -ip[1] = 3 or ip[2:2] - ip[3] * 2 / 3 > 7",
    "tcp and (tcp[2:2] + tcp[0:2]) % 7 = 3", "udp[8:4] = 0xdeadbeef",
    "ip and not tcp and not udp", "not ip6 and not arp",
    "(tcp or udp) and (port 22 or port 443 or port 8080)", "ip proto 47 or ip6 proto 58",
    "ether[12:2] > 0x600 and ether[14] = 0xaa", "llc", "stp", "ip and ip[9] = 17 and udp[2:2] = 53",
    "vlan and ip and udp", "ip6 and tcp dst port 80", "ip or arp",
    "ip[0:4] = 0x45000054 or ip[16:4] = 0x0a000001",
]


def have_tcpdump() -> bool:
    return shutil.which("tcpdump") is not None


@lru_cache(maxsize=1)
def empty_pcap() -> str:
    """An empty Ethernet capture (snaplen 262144), so tcpdump compiles without a device."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pybpf-cbpf-empty-{os.getpid()}.pcap"
    with open(path, "wb") as f:
        dpkt.pcap.Writer(f, snaplen=262144, linktype=dpkt.pcap.DLT_EN10MB)
    return str(path)


def tcpdump(flag: str, expression: str) -> str:
    out = subprocess.run(["tcpdump", "-y", "EN10MB", "-r", empty_pcap(), flag, expression],
                         capture_output=True, text=True, check=True)
    return out.stdout


@lru_cache(maxsize=None)
def tcpdump_program(expression: str) -> tuple[CInsn, ...]:
    return tuple(parse_ddd(tcpdump("-ddd", expression)))


# -- frames ---------------------------------------------------------------------------------

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
DEV_MAC = MAC_B


def _eth(payload: object, etype: int, src: bytes = MAC_A, dst: bytes = MAC_B) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=src, dst=dst, type=etype, data=payload))


def _ip4(rng: random.Random, proto: int, l4: bytes, *, opts: bool = False) -> bytes:
    src = rng.choice([b"\x0a\x00\x00\x01", b"\xc0\xa8\x01\x01", b"\xac\x10\x05\x05",
                      bytes(rng.getrandbits(8) for _ in range(4))])
    dst = rng.choice([b"\xc0\xa8\x01\x01", b"\x0a\x00\x00\x01", b"\xff\xff\xff\xff",
                      b"\xe0\x00\x00\x01", bytes(rng.getrandbits(8) for _ in range(4))])
    ip = dpkt.ip.IP(src=src, dst=dst, p=proto, ttl=rng.choice([1, 63, 64, 128]),
                    id=rng.getrandbits(16), data=l4)
    ip.tos = rng.choice([0, 0, 0x10, 0xB8, 3])
    if opts:
        ip.opts = b"\x01" * 4 * rng.randint(1, 3)
        ip.hl = 5 + len(ip.opts) // 4
    ip.len = 20 + len(ip.opts) + len(l4)
    raw = bytearray(bytes(ip))
    if rng.random() < 0.15:           # fragments: MF, an offset, or both
        raw[6:8] = struct.pack("!H", rng.choice([0x2000, 0x0010, 0x2005]))
    return bytes(raw)


def _l4(rng: random.Random, proto: int) -> bytes:
    ports = [22, 53, 80, 443, 1234, 1500, 8080, 9999, rng.getrandbits(16)]
    payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 4, 12, 40, 40, 300, 900, 1300])))
    if proto == 6:
        return bytes(dpkt.tcp.TCP(sport=rng.choice(ports), dport=rng.choice(ports),
                                  flags=rng.choice([0x02, 0x12, 0x10, 0x18, 0x11]), data=payload))
    if proto == 17:
        if rng.random() < 0.1:
            payload = b"\xde\xad\xbe\xef" + payload
        return bytes(dpkt.udp.UDP(sport=rng.choice(ports), dport=rng.choice(ports),
                                  ulen=8 + len(payload), data=payload))
    if proto in (1, 58):
        return bytes([rng.choice([0, 8, 3, 128, 129]), 0, 0, 0]) + payload
    return payload


def frames(seed: int = 1, count: int = 300) -> list[bytes]:
    """Ethernet frames of many kinds, each of a distinct length (also once the kernel took
    a VLAN tag off), from 14 to 1514 bytes."""
    rng = random.Random(seed)
    out: list[bytes] = []
    used: set[int] = set()
    while len(out) < count:
        kind = rng.randrange(12)
        src = rng.choice([MAC_A, bytes.fromhex("0242ac110002")])
        dst = rng.choice([MAC_B, MAC_B, b"\xff" * 6, bytes.fromhex("01005e000001"),
                          bytes.fromhex("333300000001"), bytes.fromhex("02aabbccddee")])
        if kind <= 4:
            proto = rng.choice([6, 17, 1, 47, 6, 17])
            frame = _eth(_ip4(rng, proto, _l4(rng, proto), opts=kind == 4), 0x0800, src, dst)
        elif kind <= 6:
            proto = rng.choice([6, 17, 58])
            ip6 = dpkt.ip6.IP6(src=rng.choice([b"\xfe\x80" + bytes(13) + b"\x01",
                                               b"\x20\x01\x0d\xb8" + bytes(12)]),
                               dst=b"\xfe\x80" + bytes(13) + b"\x02", nxt=proto, hlim=64,
                               data=_l4(rng, proto))
            ip6.plen = len(ip6.data)
            frame = _eth(ip6, 0x86DD, src, dst)
        elif kind == 7:
            arp = dpkt.arp.ARP(sha=src, spa=b"\x0a\x00\x00\x01", tpa=b"\x0a\x00\x00\x02")
            frame = _eth(arp, rng.choice([0x0806, 0x8035]), src, dst)
        elif kind == 8:
            inner = _ip4(rng, 17, _l4(rng, 17))
            tag = struct.pack("!HH", rng.choice([100, 200, 0x2064]), 0x0800)
            frame = dst + src + b"\x81\x00" + tag + bytes(inner)
        elif kind == 9:
            body = b"\xaa\xaa\x03" + bytes(rng.getrandbits(8) for _ in range(rng.randint(3, 40)))
            if rng.random() < 0.3:
                body = b"\x42\x42\x03" + body[3:]
            frame = dst + src + struct.pack("!H", len(body)) + body
        elif kind == 10:
            frame = dst + src + b"\x88\xb5" + bytes(rng.getrandbits(8)
                                                     for _ in range(rng.randint(0, 30)))
        else:
            frame = bytes(rng.getrandbits(8) for _ in range(rng.randint(14, 80)))
        received = len(as_received(frame)[0])
        while received in used or len(frame) > 1514:
            if len(frame) > 1514:
                break
            frame += b"\0"
            received += 1
        if len(frame) > 1514 or received in used:
            continue
        used.add(received)
        out.append(frame)
    return out


# -- libpcap --------------------------------------------------------------------------------

class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


@lru_cache(maxsize=1)
def libpcap() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.bpf_filter.restype = ctypes.c_uint
    lib.bpf_filter.argtypes = [ctypes.POINTER(_BpfInsn), ctypes.c_char_p, ctypes.c_uint,
                               ctypes.c_uint]
    lib.bpf_image.restype = ctypes.c_char_p
    lib.bpf_image.argtypes = [ctypes.POINTER(_BpfInsn), ctypes.c_int]
    return lib


def pcap_filter(program: Sequence[CInsn]) -> Callable[[bytes], int]:
    """libpcap's ``bpf_filter`` bound to ``program`` (wirelen = buflen = the frame's length)."""
    lib = libpcap()
    arr = (_BpfInsn * len(program))(*[_BpfInsn(*i) for i in program])

    def run(frame: bytes, wirelen: int | None = None) -> int:
        return lib.bpf_filter(arr, frame, len(frame) if wirelen is None else wirelen, len(frame))
    run.keep = arr           # type: ignore[attr-defined]
    return run


def pcap_image(insn: CInsn, n: int) -> str:
    return libpcap().bpf_image(ctypes.byref(_BpfInsn(*insn)), n).decode()

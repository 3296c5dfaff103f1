"""Classic filters emitted as XDP and tc programs decide exactly as the classic filter
does: libpcap's own bpf_filter (through ctypes) is the reference, the programs run in the
interpreter and, where bpf(2) works, in the kernel after its verifier accepted them."""

from __future__ import annotations

import ctypes
import errno
import ctypes.util
import io
import random
import shutil
import subprocess
from pathlib import Path

import dpkt
import pytest

import pybpf
from pybpf.cbpf.emit import VERDICTS, to_hook
from pybpf.cbpf.insn import CInsn, encode, jump, stmt
from pybpf.cbpf import insn as C
from pybpf.elf.spec import ObjectSpec, ProgramSpec
from pybpf.isa.uapi import ProgType

EXPRESSIONS = [
    "ip", "ip6", "arp", "tcp", "udp", "icmp", "vlan", "not ip",
    "host 10.0.0.1", "src net 10.0.0.0/8", "dst host 192.168.1.20 and tcp",
    "port 53", "udp dst port 53", "tcp port 80 or tcp port 443", "portrange 1000-2000",
    "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "icmp[icmptype] == icmp-echo", "ip[8] < 32", "len > 100", "less 80", "greater 1000",
    "ether broadcast", "ether src 02:00:00:00:00:01", "ip broadcast or ip multicast",
    "ip[6:2] & 0x1fff != 0", "ip6 and tcp port 22", "udp and ip[2:2] > 60",
    "(tcp or udp) and not port 53 and src host 10.0.0.1", "vlan and udp",
    "ip proto 47", "ip[0] & 0xf > 5",
]


def _empty_capture(tmp: Path) -> Path:
    buf = io.BytesIO()
    dpkt.pcap.Writer(buf, linktype=1)
    path = tmp / "empty.pcap"
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="module")
def filters(tmp_path_factory) -> dict[str, list[CInsn]]:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (the dev script installs it)")
    capture = _empty_capture(tmp_path_factory.mktemp("cap"))
    out = {}
    for expr in EXPRESSIONS:
        lines = subprocess.run(["tcpdump", "-y", "EN10MB", "-r", str(capture), "-ddd", expr],
                               capture_output=True, text=True, check=True).stdout.split("\n")
        out[expr] = [CInsn(*map(int, line.split())) for line in lines[1:1 + int(lines[0])]]
    return out


def _libpcap():
    name = ctypes.util.find_library("pcap")
    if name is None:
        pytest.skip("libpcap is not installed (the dev script installs libpcap0.8)")
    lib = ctypes.CDLL(name)
    lib.bpf_filter.restype = ctypes.c_uint
    lib.bpf_filter.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    return lib


def reference(lib, program: list[CInsn], packet: bytes) -> int:
    return lib.bpf_filter(encode(program), packet, len(packet), len(packet))


def packets(seed: int = 7, count: int = 60) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        src = bytes([10, 0, 0, rng.choice([1, 2])]) if rng.random() < .5 else \
            bytes([192, 168, 1, rng.choice([20, 255])])
        dst = bytes([rng.choice([10, 192, 224, 255]), 0, 0, rng.randrange(256)])
        kind = i % 7
        if kind == 0:
            l4 = dpkt.tcp.TCP(sport=rng.randrange(65536), dport=rng.choice([22, 80, 443, 1500]),
                              flags=rng.choice([2, 16, 18, 4]))
            payload = dpkt.ip.IP(src=src, dst=dst, p=6, data=l4)
        elif kind == 1:
            l4 = dpkt.udp.UDP(sport=53, dport=rng.choice([53, 1234, 1999]), data=b"q" * rng.randrange(200))
            payload = dpkt.ip.IP(src=src, dst=dst, p=17, data=l4)
        elif kind == 2:
            payload = dpkt.ip.IP(src=src, dst=dst, p=1, data=dpkt.icmp.ICMP(type=rng.choice([0, 8]),
                                                                           data=dpkt.icmp.ICMP.Echo()))
        elif kind == 3:
            payload = dpkt.ip.IP(src=src, dst=dst, p=47, offset=rng.choice([0, 8, 40]),
                                 ttl=rng.choice([8, 64]), data=b"g" * 20)
        elif kind == 4:
            payload = dpkt.ip6.IP6(src=b"\xfe\x80" + bytes(14), dst=b"\xff\x02" + bytes(13) + b"\x01",
                                   nxt=6, hlim=64, data=dpkt.tcp.TCP(sport=22, dport=1000))
            frame = dpkt.ethernet.Ethernet(src=b"\x02" + bytes(5), dst=b"\x33\x33" + bytes(4),
                                           type=0x86DD, data=payload)
            out.append(bytes(frame))
            continue
        elif kind == 5:
            frame = bytes(dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\xff" * 6,
                                                 type=0x0806, data=b"\x00" * 28))
            out.append(frame)
            continue
        else:
            inner = dpkt.ip.IP(src=src, dst=dst, p=17, data=dpkt.udp.UDP(sport=9, dport=53))
            frame = b"\xff" * 6 + b"\x02" + bytes(5) + b"\x81\x00\x00\x05\x08\x00" + bytes(inner)
            out.append(frame)
            continue
        frame = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01",
                                       dst=rng.choice([b"\xff" * 6, b"\x02" * 6]), type=0x800,
                                       data=payload)
        raw = bytes(frame)
        out.append(raw[:rng.choice([len(raw), len(raw), 20, 40])])   # some truncated
    return [p for p in out if len(p) >= 14]


def _verdict(prog, frame: bytes) -> int | None:
    """The program's verdict, or None where test_run refuses the frame (tc: an IPv4/IPv6
    frame too short for its header, as the kernel's skb test_run checks)."""
    try:
        return prog.test_run(data=frame).retval
    except pybpf.BpfSyscallError as e:
        if e.errno != errno.EINVAL:
            raise
        return None


def _spec(code, hook: str) -> ObjectSpec:
    prog_type = ProgType.XDP if hook == "xdp" else ProgType.SCHED_CLS
    spec = ObjectSpec(license="GPL")
    spec.programs["filter"] = ProgramSpec("filter", hook, prog_type, code)
    return spec


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_interpreter_decides_as_libpcap(filters, hook):
    lib = _libpcap()
    drop, accept = VERDICTS[hook]
    frames = packets()
    for expr, program in filters.items():
        prog = _spec(to_hook(program, hook), hook).load().programs["filter"]
        for i, frame in enumerate(frames):
            want = accept if reference(lib, program, frame) else drop
            assert _verdict(prog, frame) in (want, None), (expr, i, frame.hex())


@pytest.mark.kernel
@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_kernel_accepts_and_decides_as_libpcap(filters, hook):
    lib = _libpcap()
    drop, accept = VERDICTS[hook]
    frames = packets()
    for expr, program in filters.items():
        with _spec(to_hook(program, hook), hook).load(engine="kernel") as obj:
            prog = obj.programs["filter"]
            for i, frame in enumerate(frames):
                want = accept if reference(lib, program, frame) else drop
                assert _verdict(prog, frame) in (want, None), (expr, i, frame.hex())


def test_ancillary_loads_the_hook_cannot_express_are_refused():
    protocol = [stmt(C.LD | C.H | C.ABS, C.SKF_AD_OFF), stmt(C.RET | C.A)]
    with pytest.raises(pybpf.BpfError, match="ancillary load protocol .* cannot be expressed "
                                             "at the xdp hook"):
        to_hook(protocol, "xdp")
    assert to_hook(protocol, "tc")                        # skb->protocol exists in tc
    with pytest.raises(pybpf.BpfError, match="choose one of xdp, tc"):
        to_hook(protocol, "socket")


def test_division_by_x_zero_drops():
    program = [stmt(C.LD | C.IMM, 10), stmt(C.LDX | C.IMM, 0), stmt(C.ALU | C.DIV | C.X),
               stmt(C.RET | C.K, 1)]
    prog = _spec(to_hook(program, "xdp"), "xdp").load().programs["filter"]
    assert prog.test_run(data=bytes(60)).retval == VERDICTS["xdp"][0]
    jumps = [stmt(C.LD | C.W | C.ABS, 0), jump(C.JMP | C.JGT | C.K, 0xFFFFFFF0, 0, 1),
             stmt(C.RET | C.K, 1), stmt(C.RET | C.K, 0)]
    prog = _spec(to_hook(jumps, "xdp"), "xdp").load().programs["filter"]
    assert prog.test_run(data=b"\xff" * 60).retval == VERDICTS["xdp"][1]     # unsigned compare
    assert prog.test_run(data=bytes(60)).retval == VERDICTS["xdp"][0]

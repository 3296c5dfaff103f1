"""The classic machine: each instruction's semantics, ancillary and relative loads, and the
compiled filter against libpcap's bpf_filter on tcpdump's programs."""

from __future__ import annotations

import struct

import pytest

from pybpf.cbpf import Ancillary, CInsn, assemble, compile_filter, run
from pybpf.cbpf.insn import SKF_LL_OFF, SKF_NET_OFF
from pybpf.cbpf.machine import as_received, filter_source, nlattr, nlattr_nest
from pybpf.errors import BpfDecodeError

import cbpf_support as S

PKT = bytes(range(64))


def r(text: str, packet: bytes = PKT, **kw: object) -> int:
    return run(assemble(text), packet, **kw)


@pytest.mark.parametrize("text, expected", [
    ("ld #5\n add #0xffffffff\n ret a", 4),
    ("ld #3\n sub #5\n ret a", 0xFFFFFFFE),
    ("ld #0x10000\n mul #0x10001\n ret a", 0x10000),
    ("ld #7\n div #2\n ret a", 3),
    ("ld #7\n mod #4\n ret a", 3),
    ("ld #0xf0\n and #0x3c\n ret a", 0x30),
    ("ld #0xf0\n or #0x0f\n ret a", 0xFF),
    ("ld #0xff\n xor #0x0f\n ret a", 0xF0),
    ("ld #1\n lsh #31\n ret a", 0x80000000),
    ("ld #0x80000000\n rsh #31\n ret a", 1),
    ("ld #1\n neg\n ret a", 0xFFFFFFFF),
    ("ld #0\n neg\n ret a", 0),
    ("ldx #3\n ld #10\n div x\n ret a", 3),
    ("ldx #0\n ld #10\n div x\n ret #99", 0),          # X = 0: the filter returns 0
    ("ldx #0\n ld #10\n mod x\n ret #99", 0),
    ("ldx #33\n ld #1\n lsh x\n ret a", 2),             # the kernel masks the count (X & 31)
    ("ldx #32\n ld #8\n rsh x\n ret a", 8),
    ("ld #9\n tax\n ld #1\n txa\n ret a", 9),
    ("ld #6\n st M[3]\n ldx M[3]\n txa\n add x\n ret a", 12),
    ("ldx #4\n stx M[15]\n ld M[15]\n ret a", 4),
    ("ret #-1", 0xFFFFFFFF),
    ("ld #len\n ret a", 64),
    ("ldx #len\n txa\n ret a", 64),
    ("ld [0]\n ret a", 0x00010203),
    ("ldh [62]\n ret a", 0x3E3F),
    ("ldh [63]\n ret #1", 0),                           # one byte short: 0
    ("ld [61]\n ret #1", 0),
    ("ldb [63]\n ret a", 63),
    ("ldb [64]\n ret #1", 0),
    ("ldx #10\n ldh [x + 4]\n ret a", 0x0E0F),
    ("ldx #60\n ld [x + 4]\n ret #1", 0),
    ("ldx #0xffffffff\n ldb [x + 1]\n ret a", 0),       # X + k wraps to 0
    ("ldxb 4*([14]&0xf)\n txa\n ret a", (14 & 0xF) * 4),
    ("ldxb 4*([64]&0xf)\n ret #1", 0),
    ("ld #2\n jeq #2, yes, no\n yes: ret #1\n no: ret #0", 1),
    ("ld #2\n jgt #2, yes, no\n yes: ret #1\n no: ret #0", 0),
    ("ld #2\n jge #2, yes, no\n yes: ret #1\n no: ret #0", 1),
    ("ld #6\n jset #1, yes, no\n yes: ret #1\n no: ret #0", 0),
    ("ld #0xffffffff\n jeq #-1, yes, no\n yes: ret #1\n no: ret #0", 1),
    ("ld #5\n ldx #5\n jeq x, yes, no\n yes: ret #1\n no: ret #0", 1),
    ("ld #5\n jne #5, yes\n ret #7\n yes: ret #8", 7),
    ("ld #4\n jlt #5, yes\n ret #7\n yes: ret #8", 8),
    ("ja skip\n ret #1\n skip: ret #2", 2),
])
def test_semantics(text: str, expected: int) -> None:
    assert r(text) == expected


def test_wirelen_is_len_and_loads_stay_in_the_buffer() -> None:
    assert r("ld #len\n ret a", wirelen=1500) == 1500
    assert r("ldb [100]\n ret #1", wirelen=1500) == 0


def test_ancillary_loads() -> None:
    anc = Ancillary(protocol=0x86DD, pkttype=3, ifindex=7, mark=0xABCD, queue=2, hatype=772,
                    rxhash=0x12345678, cpu=3, vlan_tci=0x2064, vlan_present=True,
                    vlan_proto=0x88A8, pay_offset=54)
    for name, want in [("proto", 0x86DD), ("type", 3), ("ifidx", 7), ("mark", 0xABCD),
                       ("queue", 2), ("hatype", 772), ("rxhash", 0x12345678), ("cpu", 3),
                       ("vlan_tci", 0x2064), ("vlan_avail", 1), ("vlan_tpid", 0x88A8),
                       ("poff", 54)]:
        for size in ("ld", "ldh", "ldb"):      # the size of an ancillary load does not matter
            assert r(f"{size} #{name}\n ret a", ancillary=anc) == want, (name, size)
    assert r("ld #vlan_avail\n ret a", ancillary=Ancillary()) == 0
    assert r("ld #0xf0\n ldx #0x0f\n ld #xor_x\n ret a") == 0xFF
    first = [r("ld #rand\n ret a", ancillary=Ancillary(random_seed=5)) for _ in range(2)]
    assert first[0] == first[1]
    two = compile_filter(assemble("ld #rand\n tax\n ld #rand\n jeq x, same, diff\n"
                                  "same: ret #1\n diff: ret #2"))
    assert two(PKT, None, Ancillary(random_seed=1)) == 2


def test_relative_loads() -> None:
    frame = bytes(range(14)) + bytes(range(100, 150))
    anc = Ancillary(net_offset=14, mac_offset=0)
    net, ll = SKF_NET_OFF & 0xFFFFFFFF, SKF_LL_OFF & 0xFFFFFFFF
    prog = [CInsn(0x30, 0, 0, net + 1), CInsn(0x16)]
    assert run(prog, frame, ancillary=anc) == 101
    assert run([CInsn(0x28, 0, 0, ll + 12), CInsn(0x16)], frame, ancillary=anc) == 0x0C0D
    # a packet from the network header (a SOCK_DGRAM view): the link layer is in head
    ip = frame[14:]
    anc = Ancillary(net_offset=0, mac_offset=-14, head=frame[:14])
    assert run([CInsn(0x28, 0, 0, ll + 12), CInsn(0x16)], ip, ancillary=anc) == 0x0C0D
    assert run([CInsn(0x20, 0, 0, ll + 12), CInsn(0x16)], ip, ancillary=anc) == 0x0C0D6465
    assert run([CInsn(0x30, 0, 0, net + 1000), CInsn(0x6, 0, 0, 1)], ip, ancillary=anc) == 0
    assert run([CInsn(0x30, 0, 0, ll + 1), CInsn(0x6, 0, 0, 1)], ip,
               ancillary=Ancillary(mac_offset=None)) == 0
    # [x + k] and ldxb reach them too
    prog = [CInsn(0x01, 0, 0, net), CInsn(0x50, 0, 0, 2), CInsn(0x16)]
    assert run(prog, frame, ancillary=Ancillary()) == 102
    prog = [CInsn(0xB1, 0, 0, net), CInsn(0x87), CInsn(0x16)]
    assert run(prog, frame, ancillary=Ancillary()) == (100 & 0xF) * 4
    # below SKF_LL_OFF nothing is addressable
    assert run([CInsn(0x30, 0, 0, 0x80000000), CInsn(0x6, 0, 0, 1)], frame) == 0


def test_netlink_attributes() -> None:
    def nla(kind: int, payload: bytes) -> bytes:
        raw = struct.pack("<HH", 4 + len(payload), kind) + payload
        return raw + bytes(-len(raw) % 4)
    msg = bytes(16) + nla(1, b"ab") + nla(2, nla(7, b"xyz1") + nla(9, b"q")) + nla(3, b"")
    assert nlattr(msg, 16, 3) == 16 + 8 + 20
    assert nlattr(msg, 16, 5) == 0
    assert nlattr_nest(msg, 24, 9) == 24 + 4 + 8
    prog = assemble("ld #16\n ldx #2\n ld #nla\n ret a")
    assert run(prog, msg) == 24
    assert run(assemble("ld #24\n ldx #9\n ld #nlan\n ret a"), msg) == 36
    assert run(assemble("ld #1000\n ldx #9\n ld #nla\n ret a"), msg) == 0


def test_as_received_untags_and_classifies() -> None:
    frame = b"\xff" * 6 + S.MAC_A + b"\x81\x00\x20\x64\x08\x00" + bytes(30)
    data, anc = as_received(frame, dev_mac=S.MAC_B, ifindex=4)
    assert data == frame[:12] + frame[16:]
    assert (anc.vlan_present, anc.vlan_tci, anc.vlan_proto) == (True, 0x2064, 0x8100)
    assert (anc.protocol, anc.pkttype, anc.ifindex) == (0x0800, 1, 4)
    assert as_received(S.MAC_B + S.MAC_A + b"\x00\x20" + b"\xff\xff")[1].protocol == 1
    assert as_received(b"\x01" + bytes(11) + b"\x00\x20\xaa\xaa")[1].pkttype == 2
    assert as_received(bytes(5) + b"\x01" + bytes(6) + b"\x08\x00",
                       dev_mac=bytes(6))[1].pkttype == 3


def test_compile_refuses_what_the_kernel_refuses() -> None:
    with pytest.raises(BpfDecodeError):
        compile_filter([CInsn(0x34, 0, 0, 0), CInsn(0x16)])       # div #0
    with pytest.raises(BpfDecodeError):
        run([CInsn(0x28, 0, 0, 12)], PKT)                           # no ret


def test_long_chains_compile() -> None:
    """4096 instructions of one long else-chain: no recursion or nesting limits."""
    body = []
    for i in range(2047):
        body.append(CInsn(0x15, 0, 1, i))        # jeq #i, next, skip
        body.append(CInsn(0x06, 0, 0, i + 1))    # ret #i+1 (reached only on equality)
    body += [CInsn(0x06, 0, 0, 0)]
    prog = [CInsn(0x00, 0, 0, 2000)] + body
    assert run(prog, PKT) == 2001
    assert "def run" in filter_source(prog)


def test_jumps_to_shared_blocks() -> None:
    prog = assemble("""
        ldb [0]
        jeq #0, a1, b1
    a1: ldb [1]
        jeq #1, shared, out
    b1: ldb [2]
        jeq #9, shared, out
    shared: ldb [3]
        add #100
        ret a
    out: ret #5
    """)
    assert run(prog, PKT) == 103
    assert run(prog, b"\x01\x00\x09\x07") == 107
    assert run(prog, b"\x01\x00\x08\x07") == 5


@pytest.mark.skipif(not S.have_tcpdump() or S.libpcap() is None, reason="needs tcpdump and libpcap")
def test_tcpdump_programs_agree_with_libpcap() -> None:
    """Every corpus program on every generated frame: the compiled filter and libpcap's
    bpf_filter give the same verdict (EXPRESSIONS x frames)."""
    frames = S.frames(seed=1, count=300) + S.frames(seed=2, count=300)
    compared = 0
    for expression in S.EXPRESSIONS:
        program = S.tcpdump_program(expression)
        mine, theirs = compile_filter(program), S.pcap_filter(program)
        for frame in frames:
            assert mine(frame) == theirs(frame), (expression, frame.hex())
            for cut in (13, 20, 34):             # truncated captures: loads run off the end
                assert mine(frame[:cut], len(frame)) == theirs(frame[:cut], len(frame))
            compared += 4
    assert compared == len(S.EXPRESSIONS) * len(frames) * 4

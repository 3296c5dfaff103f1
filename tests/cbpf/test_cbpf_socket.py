"""Classic filters on real sockets. In a network namespace with a veth pair, AF_PACKET
sockets with a filter receive exactly the frames (and as many bytes of each) that the
machine says, for tcpdump's programs and hand-written ones with ancillary loads; the
translated eBPF attached with SO_ATTACH_BPF does the same."""

from __future__ import annotations

import errno
import socket

import pytest

from pybpf.cbpf import assemble, compile_filter, to_ebpf
from pybpf.cbpf.machine import as_received
from pybpf.cbpf.socket import (
    attach_bpf, attach_filter, detach_filter, get_filter, kernel_accepts, lock_filter,
)
from pybpf.errors import BpfSyscallError

import cbpf_netns
import cbpf_support as S

pytestmark = pytest.mark.kernel

HAND_WRITTEN = {
    "udp dst port 9999 (by hand)": """
        ldh [12]
        jne #0x800, drop
        ldb [23]
        jne #17, drop
        ldh [20]
        jset #0x1fff, drop
        ldxb 4*([14]&0xf)
        ldh [x + 16]
        jne #9999, drop
        ret #-1
    drop: ret #0""",
    "vlan ancillary": "ld #vlan_avail\n jeq #1, tagged, plain\n tagged: ld #vlan_tci\n"
                      " and #0xfff\n add #1\n ret a\n plain: ret #0",
    "protocol, type, ifindex, hatype": "ld #proto\n tax\n ld #type\n lsh #16\n add x\n"
                                       " tax\n ld #hatype\n add x\n tax\n ld #ifidx\n add x\n"
                                       " and #0x3ff\n add #14\n ret a",
    "ret a truncates": "ld #len\n sub #3\n ret a",
    "shift by x >= 32 masks": "ldx #33\n ld #20\n lsh x\n ret a",
    "mark": "ld #mark\n jeq #0, yes, no\n yes: ret #-1\n no: ret #0",
}


@pytest.fixture(scope="module")
def veth():
    ok, reason = cbpf_netns.available()
    if not ok:
        pytest.skip(reason)
    with cbpf_netns.VethPair(S.MAC_A, S.MAC_B) as pair:
        yield pair


def expected(program, frames, ifindex: int) -> list[int]:
    f = compile_filter(program)
    out = []
    for frame in frames:
        packet, anc = as_received(frame, dev_mac=S.MAC_B, ifindex=ifindex)
        out.append(min(f(packet, None, anc), len(packet)))
    return out


def test_udp_port_filter_receives_only_matching_frames(veth) -> None:
    program = assemble(HAND_WRITTEN["udp dst port 9999 (by hand)"])
    frames = S.frames(seed=11, count=200)
    got = veth.verdicts(lambda s: attach_filter(s, program), frames)
    matching = [i for i, n in enumerate(got) if n]
    assert matching, "some generated frames go to udp port 9999"
    assert len(matching) < len(frames) // 4
    for i in matching:
        packet = as_received(frames[i])[0]
        assert packet[12:14] == b"\x08\x00" and packet[23] == 17
    assert got == expected(program, frames, veth.ifindex_b)


def test_tcpdump_programs_match_the_kernel(veth) -> None:
    if not S.have_tcpdump():
        pytest.skip("tcpdump is not installed")
    frames = S.frames(seed=12, count=300)
    compared = 0
    for expression in S.EXPRESSIONS:
        program = S.tcpdump_program(expression)
        got = veth.verdicts(lambda s: attach_filter(s, program), frames)
        assert got == expected(program, frames, veth.ifindex_b), expression
        compared += len(frames)
    assert compared == 300 * len(S.EXPRESSIONS)


@pytest.mark.parametrize("name", list(HAND_WRITTEN))
def test_hand_written_programs_match_the_kernel(veth, name: str) -> None:
    program = assemble(HAND_WRITTEN[name])
    frames = S.frames(seed=13, count=200)
    got = veth.verdicts(lambda s: attach_filter(s, program), frames)
    assert got == expected(program, frames, veth.ifindex_b)


@pytest.mark.parametrize("name", ["udp dst port 9999 (by hand)", "vlan ancillary",
                                  "ret a truncates", "shift by x >= 32 masks", "mark"])
def test_translated_ebpf_on_the_socket_matches(veth, name: str) -> None:
    from pybpf.isa.uapi import ProgType
    from pybpf.kernel import KernelProgram

    program = assemble(HAND_WRITTEN[name])
    kernel = KernelProgram.load(ProgType.SOCKET_FILTER, to_ebpf(program))
    try:
        frames = S.frames(seed=14, count=150)
        got = veth.verdicts(lambda s: attach_bpf(s, kernel), frames)
        assert got == expected(program, frames, veth.ifindex_b)
    finally:
        kernel.close()


def test_get_detach_lock() -> None:
    program = assemble("ldh [12]\n jeq #0x800, a, b\n a: ret #-1\n b: ret #0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert get_filter(s) == []
        attach_filter(s, program)
        assert get_filter(s) == program
        detach_filter(s)
        with pytest.raises(BpfSyscallError) as info:
            detach_filter(s)
        assert info.value.errno == errno.ENOENT
        attach_filter(s.fileno(), program)
        lock_filter(s)
        with pytest.raises(BpfSyscallError) as info:
            attach_filter(s, program)
        assert info.value.errno == errno.EPERM
        with pytest.raises(BpfSyscallError):
            detach_filter(s)
    assert kernel_accepts(program) == (True, 0)
    assert kernel_accepts(program[:-1]) == (False, errno.EINVAL)

"""cBPF → eBPF: the translation loads in the kernel as a socket filter and gives the same
verdict as the classic machine, in the interpreter and in the kernel.

How the packet is presented: BPF_PROG_TEST_RUN builds an skb from data_in, runs
``eth_type_trans`` on it (as received on loopback) and leaves ``skb->data`` at the
*network* header, so a socket filter's ``ld [0]`` reads the byte after the 14-byte
Ethernet header (``skb->len`` is 14 less, SKF_LL_OFF reaches the Ethernet header). An
AF_PACKET ``SOCK_RAW`` socket runs its filter with ``skb->data`` at the link-layer header.
To give a filter written for Ethernet frames the frame it expects through test_run, the
frame is prefixed here with a dummy 14-byte header (zero MACs, ethertype 0x88b5): the
filter then sees the frame from its first byte, ``SKF_AD_PROTOCOL`` is 0x88b5, the packet
type PACKET_HOST and the interface loopback (1). test_socket checks the faithful path.
"""

from __future__ import annotations

import pytest

from pybpf.cbpf import Ancillary, CInsn, assemble, run, to_ebpf
from pybpf.cbpf.insn import SKF_AD_OFF, SKF_LL_OFF, SKF_NET_OFF
from pybpf.elf.spec import ObjectSpec, ProgramSpec
from pybpf.env import Env
from pybpf.errors import BpfError
from pybpf.isa.uapi import ProgType
from pybpf.vm import Machine
from pybpf.vm.memory import Memory
from pybpf.vm.progtypes import program_type
import pybpf.vm.helpers  # noqa: F401  (registers the helpers)

import cbpf_support as S

FAKE_ETH = bytes(12) + b"\x88\xb5"
TEST_RUN_ANC = dict(protocol=0x88B5, pkttype=0, ifindex=1, net_offset=0, mac_offset=-14,
                    head=FAKE_ETH)

HAND_WRITTEN = {
    "alu k": "ldb [14]\n add #7\n sub #3\n mul #5\n div #3\n mod #11\n and #0xff\n or #0x100\n"
             " xor #0x55\n lsh #3\n rsh #1\n neg\n ret a",
    "alu x": "ldb [15]\n tax\n ldh [16]\n add x\n sub x\n mul x\n and x\n or x\n xor x\n"
             " ret a",
    "div/mod by x": "ldb [14]\n tax\n ld #1000\n div x\n mod x\n ret a",
    "shifts by x": "ldb [14]\n and #7\n tax\n ld #0xdeadbeef\n lsh x\n rsh x\n ret a",
    "mem": "ldb [14]\n st M[0]\n ldh [12]\n st M[15]\n ldx M[0]\n ld M[15]\n stx M[1]\n"
           " add x\n ld M[1]\n ret a",
    "msh + ind": "ldxb 4*([14]&0xf)\n ldh [x + 14]\n tax\n ldb [x + 0]\n ld [x + 2]\n ret a",
    "len": "ld #len\n ldx #len\n add x\n ret a",
    "negative jump immediates": "ld [14]\n jeq #0xffffffff, a, b\n a: ret #1\n"
             " b: jgt #0x80000000, c, d\n c: ret #2\n d: jset #0x80000001, e, f\n e: ret #3\n"
             " f: jge #0xfffffff0, g, h\n g: ret #4\n h: ret #5",
    "jump shapes": "ldb [20]\n jeq #6, t1, f1\n t1: jgt #3, f1, t2\n t2: jge #9, f1, t3\n"
             " t3: jset #1, f1, t4\n t4: ret #6\n f1: ldx #1\n jeq x, t5, f2\n t5: ret #7\n"
             " f2: jgt x, t6\n ret #8\n t6: ja t7\n ret #9\n t7: ret #10",
    "ret k big": "ret #-2",
    "ancillary": "ld #proto\n tax\n ld #type\n add x\n tax\n ld #ifidx\n add x\n tax\n"
                 " ld #mark\n add x\n tax\n ld #vlan_tci\n add x\n tax\n ld #vlan_avail\n add x\n"
                 " tax\n ld #vlan_tpid\n add x\n tax\n ld #queue\n add x\n tax\n ld #rxhash\n"
                 " add x\n ldx #0x0f\n ld #xor_x\n ret a",
}


def programs() -> dict[str, list[CInsn]]:
    out = {name: assemble(text) for name, text in HAND_WRITTEN.items()}
    if S.have_tcpdump():
        out.update({e: list(S.tcpdump_program(e)) for e in S.EXPRESSIONS})
    return out


def socket_filter_runner(insns: list) -> callable:
    """Run an eBPF socket filter in the interpreter the way test_run does."""
    memory, env = Memory(), Env(cpus=1)
    machine = Machine(insns, memory=memory, env=env)
    row = program_type(ProgType.SOCKET_FILTER)

    def run_one(data: bytes) -> int:
        inv = row.prepare(memory, env, data, None)
        try:
            machine.call.ctx = inv.ctx
            result = machine.run(*inv.args, packet=inv.packet)
            return inv.finish(result.r0)[0]
        finally:
            inv.close()
    return run_one


# Loads relative to the link-layer and network headers (SKF_LL_OFF / SKF_NET_OFF).
RELATIVE = {
    "relative loads": [CInsn(0x28, 0, 0, (SKF_LL_OFF & 0xFFFFFFFF) + 12), CInsn(0x07),
                       CInsn(0x30, 0, 0, (SKF_NET_OFF & 0xFFFFFFFF) + 1), CInsn(0x0C),
                       CInsn(0x16)],
}


def test_translation_agrees_in_the_interpreter() -> None:
    frames = S.frames(seed=3, count=150)
    compared = 0
    for name, program in {**programs(), **RELATIVE}.items():
        interp = socket_filter_runner(to_ebpf(program))
        for frame in frames:
            want = run(program, frame, ancillary=Ancillary(**TEST_RUN_ANC))
            assert interp(FAKE_ETH + frame) == want, (name, frame.hex())
            compared += 1
    assert compared >= 150 * len(HAND_WRITTEN)


def test_through_the_interp_engine() -> None:
    program = S.tcpdump_program("udp dst port 9999") if S.have_tcpdump() \
        else assemble(HAND_WRITTEN["msh + ind"])
    spec = ObjectSpec(programs={"f": ProgramSpec("f", "socket", ProgType.SOCKET_FILTER,
                                                 to_ebpf(program))})
    obj = spec.load("interp")
    for frame in S.frames(seed=4, count=60):
        got = obj.programs["f"].test_run(FAKE_ETH + frame).retval
        assert got == run(program, frame, ancillary=Ancillary(**TEST_RUN_ANC))


@pytest.mark.kernel
def test_translation_loads_and_agrees_in_the_kernel() -> None:
    from pybpf.kernel import KernelProgram

    frames = S.frames(seed=3, count=150)
    extra = RELATIVE
    compared = 0
    for name, program in {**programs(), **extra}.items():
        kernel = KernelProgram.load(ProgType.SOCKET_FILTER, to_ebpf(program))
        try:
            for frame in frames:
                want = run(program, frame, ancillary=Ancillary(**TEST_RUN_ANC))
                assert kernel.test_run(FAKE_ETH + frame).retval == want, (name, frame.hex())
                compared += 1
        finally:
            kernel.close()
    assert compared == 150 * (len(programs()) + len(extra))


@pytest.mark.kernel
def test_cpu_and_random_load_in_the_kernel() -> None:
    from pybpf.kernel import KernelProgram

    for text in ("ld #cpu\n ret #1", "ld #rand\n ldx #0\n jeq x, a, b\n a: ret #1\n b: ret #2"):
        program = assemble(text)
        kernel = KernelProgram.load(ProgType.SOCKET_FILTER, to_ebpf(program))
        assert kernel.test_run(FAKE_ETH + bytes(40)).retval in (1, 2)
        kernel.close()


@pytest.mark.parametrize("name", ["hatype", "poff", "nla", "nlan"])
def test_untranslatable_ancillary_loads(name: str) -> None:
    with pytest.raises(BpfError, match=r"instruction 1: SKF_AD_"):
        to_ebpf(assemble(f"ld #1\n ld #{name}\n ret a"))


def test_translation_checks_first() -> None:
    with pytest.raises(BpfError):
        to_ebpf([CInsn(0x34, 0, 0, 0), CInsn(0x16)])


def test_translation_shape() -> None:
    """The kernel's conventions: A = r0, X = r7, ctx r6; M[k] at r10 - 4(k+1); RET K is
    mov + exit; a jeq whose true target is next becomes a single jne."""
    from pybpf.asm import format_instruction

    ebpf = to_ebpf(assemble("ldh [12]\n jeq #0x800, no, yes\n yes: st M[2]\n ret #7\n no: ret a"))
    text = [format_instruction(i) for i in ebpf]
    assert text == ["w0 = 0x0", "w7 = 0x0", "r6 = r1", "r0 = *(u16 *)skb[0xc]",
                    "if r0 == 0x800 goto +0x3", "*(u32 *)(r10 - 0xc) = w0", "w0 = 0x7", "exit",
                    "exit"]
    assert SKF_AD_OFF < 0

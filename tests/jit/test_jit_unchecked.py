"""``unchecked=True``: the jit engine compiles the accesses pybpf's verifier proved in
bounds of native memory without checks (and only those), for verified programs only;
the results are the checked code's."""

from __future__ import annotations

from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.asm import assemble
from pybpf.elf.spec import ObjectSpec, ProgramSpec
from pybpf.errors import BpfError
from pybpf.isa.uapi import ProgType
from pybpf.net.pcap import read_packets

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [("xdp_ddos.c", "ddos.pcap"), ("lpm_firewall.c", "firewall.pcap"),
            ("tc_port_rewrite.c", "udp_ports.pcap"), ("socket_dns.c", "dns_mix.pcap")]


def spec_of(source: str, ptype: ProgType = ProgType.XDP) -> ObjectSpec:
    spec = ObjectSpec()
    spec.programs["p"] = ProgramSpec("p", "xdp", ptype, assemble(source))
    return spec


def test_only_for_verified_jit_programs():
    spec = spec_of("r0 = 2\nexit")
    with pytest.raises(BpfError, match="jit engine"):
        spec.load(engine="interp", unchecked=True)
    with pytest.raises(BpfError, match="verify=True"):
        spec.load(engine="jit", unchecked=True, verify=False)


def test_trusted_accesses_are_the_native_ones():
    """The context loads stay checked; the stack through another register, the packet
    after its bounds check, and a map value after its null check are trusted."""
    source = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 1
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 0)
        r6 = r10
        r6 += -8
        *(u64 *)(r6 + 0) = r5
        r0 = *(u64 *)(r6 + 0)
        exit
    out:
        r0 = 2
        exit
    """
    obj = spec_of(source).load(engine="jit", unchecked=True)
    machine = obj.programs["p"].runner.machine
    assert machine.trusted == {5, 8, 9}
    assert obj.programs["p"].test_run(data=bytes([7]) + bytes(63)).retval == 7


@pytest.mark.parametrize("source,capture", EXAMPLES)
def test_examples_give_the_checked_results(source, capture):
    packets = [p.data for p in read_packets(ROOT / "tests" / "data" / capture)][:200]
    results = []
    for unchecked in (False, True):
        with pybpf.load(ROOT / "examples" / source, engine="jit", unchecked=unchecked) as obj:
            prog = next(iter(obj.programs.values()))
            assert (prog.runner.machine.trusted is not None) is unchecked
            runs = [prog.test_run(data=packet) for packet in packets]
            maps = {name: sorted(m.items()) for name, m in obj.maps.items()
                    if m.type.name not in ("RINGBUF", "PROG_ARRAY")}
            results.append(([(r.retval, r.data) for r in runs], maps))
    assert results[0] == results[1]

"""The examples also compile with the pip-only toolchain (ziglang and pybpf's own bpf/*.h
headers), and behave exactly as the clang-19 builds over their captures."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.cc import ziglang_available
from pybpf.net.pcap import read_packets

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = {"xdp_ddos": "ddos", "lpm_firewall": "firewall", "tc_port_rewrite": "udp_ports",
            "socket_dns": "dns_mix", "syn_ringbuf": "syn", "tail_dispatch": "protocols"}

pytestmark = pytest.mark.skipif(not ziglang_available(),
                                reason="the ziglang package is not installed")


def _outcomes(elf: bytes, capture: str) -> tuple[list, dict]:
    obj = pybpf.load(elf, env=pybpf.Env(cpus=2))
    runs = {name: [(r.retval, r.data) for r in (
                prog.test_run(data=p.data) for p in read_packets(ROOT / "tests/data" / capture))]
            for name, prog in obj.programs.items()}
    maps = {name: sorted(m.items()) for name, m in obj.maps.items()
            if m.type not in (pybpf.MapType.PROG_ARRAY, pybpf.MapType.RINGBUF)}
    return runs, maps


@pytest.mark.parametrize("example", sorted(CAPTURES))
def test_zig_build_behaves_like_clang(example):
    source = ROOT / "examples" / f"{example}.c"
    zig = pybpf.compile(source, compiler="zig")
    clang = pybpf.compile(source)
    assert zig != clang                       # really two toolchains
    assert sorted(pybpf.open(zig).programs) == sorted(pybpf.open(clang).programs)
    capture = f"{CAPTURES[example]}.pcap"
    assert _outcomes(zig, capture) == _outcomes(clang, capture)

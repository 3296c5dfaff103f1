"""Every example over its capture in the interpreter and in the kernel: the differential
harness (pybpf.testing.compare_object) finds no difference in verdicts, packets or maps."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.net.pcap import read_packets
from pybpf.testing.objects import compare_object

ROOT = Path(__file__).resolve().parents[2]
# The DDoS example stamps each rate window with bpf_ktime_get_ns: the Env's clock in the
# interpreter, the real clock in the kernel. Everything else must match.
CLOCK_FIELDS = {"xdp_ddos": {"rates": (0, 8)}}
CAPTURES = {"xdp_ddos": "ddos", "lpm_firewall": "firewall", "tc_port_rewrite": "udp_ports",
            "socket_dns": "dns_mix", "syn_ringbuf": "syn", "tail_dispatch": "protocols"}


@pytest.mark.kernel
@pytest.mark.parametrize("example", sorted(CAPTURES))
def test_interpreter_and_kernel_agree(example):
    elf = pybpf.compile(ROOT / "examples" / f"{example}.c")
    packets = [p.data for p in read_packets(ROOT / "tests" / "data" / f"{CAPTURES[example]}.pcap")]
    for program in pybpf.open(elf).programs:
        result = compare_object(elf, program, packets, env=pybpf.Env(),
                                ignore_bytes=CLOCK_FIELDS.get(example))
        assert result.agree, f"{example}/{program}:\n{result.report()}"
        assert len(result.runs) == len(packets)

"""Generated expressions applied to real captures: pybpf's compiler and classic machine
match the same packets as libpcap's bpf_filter on libpcap's own program, and (on a sample)
as many as `tcpdump -r` prints."""

from __future__ import annotations

import ctypes.util
import shutil
import subprocess
from pathlib import Path

import pytest

import pcapfilter_oracle as O
from pcapfilter_gen import Gen
from pybpf.cbpf.filter import FilterError, compile_filter
from pybpf.cbpf.insn import encode
from pybpf.cbpf.machine import compile_filter as classic
from pybpf.net.pcap import read_packets

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = ["dns_mix.pcap", "protocols.pcap", "ddos.pcap", "firewall.pcap", "syn.pcap",
            "udp_ports.pcap"]


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return [p.data for name in CAPTURES for p in read_packets(DATA / name)]


@pytest.fixture(scope="module")
def expressions() -> list[str]:
    out = []
    for expr in Gen(4242, errors=0, depth=3).corpus(400):
        try:
            compile_filter(expr)
        except FilterError:
            continue
        out.append(expr)
    return out[:250]


@pytest.mark.skipif(not O.available(), reason="libpcap is not installed")
def test_match_counts_equal_libpcap(frames, expressions):
    import ctypes

    lib = ctypes.CDLL(ctypes.util.find_library("pcap"))
    lib.bpf_filter.restype = ctypes.c_uint
    lib.bpf_filter.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    assert len(expressions) >= 200
    matched_any = 0
    for expr in expressions:
        program = compile_filter(expr)
        reference = O.pcap_compile(expr)
        assert program == reference, expr
        run, code = classic(program), encode(reference)
        mine = sum(1 for f in frames if run(f))
        theirs = sum(1 for f in frames if lib.bpf_filter(code, f, len(f), len(f)))
        assert mine == theirs, expr
        matched_any += mine > 0
    assert matched_any > 20           # the corpus really exercises matching


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_match_counts_equal_tcpdump_r(expressions):
    for expr in expressions[::25]:
        run = classic(compile_filter(expr))
        for name in CAPTURES[:3]:
            mine = sum(1 for p in read_packets(DATA / name) if run(p.data))
            out = subprocess.run(["tcpdump", "-r", str(DATA / name), expr], capture_output=True,
                                 text=True)
            assert out.returncode == 0, (expr, out.stderr)
            assert mine == len(out.stdout.splitlines()), (expr, name)

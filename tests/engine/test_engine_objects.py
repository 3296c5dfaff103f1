"""Whole C objects through pybpf.load, checked by hand-computed expectations and, where
bpf(2) works, against the same object loaded by libbpf into the kernel.

The kernel's answers for the fixed packets below were recorded on 6.18 (x86_64, 2 CPUs)
and agree with the hand-computed values asserted here.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

import pybpf
from pybpf import BpfError
from pybpf.testing.objects import compare_object

DATA = Path(__file__).parent / "data"
CPUS = os.cpu_count() or 1


def ipv4(payload_len: int, proto: int = 17) -> bytes:
    """An Ethernet + IPv4 packet with ``payload_len`` bytes after the IP header."""
    eth = b"\x02" * 6 + b"\x01" * 6 + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0, 64, proto, 0,
                     b"\x0a\0\0\x01", b"\x0a\0\0\x02")
    return eth + ip + b"x" * payload_len


PACKETS = [ipv4(10), ipv4(10, 6), ipv4(1200), ipv4(30), bytes(14)]


@pytest.fixture(scope="module")
def counters() -> bytes:
    return pybpf.compile(DATA / "counters.c")


@pytest.fixture(scope="module")
def calls() -> bytes:
    return pybpf.compile(DATA / "calls.c")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def test_counters_xdp_verdicts_and_maps(counters):
    obj = pybpf.load(counters, env=pybpf.Env(cpus=2))
    prog = obj.programs["count_xdp"]
    assert (prog.section, prog.type) == ("xdp", pybpf.ProgType.XDP)
    verdicts = [prog.test_run(data=p).retval for p in PACKETS]
    assert verdicts == [2, 2, 1, 2, 2]            # 1248-byte packet >= drop_len: XDP_DROP
    by_len = {int.from_bytes(k, "little"): struct.unpack("<QQ", v)
              for k, v in obj.maps["by_len"].items()}
    assert by_len == {44: (2, 88), 1234: (1, 1234), 64: (1, 64), 14: (1, 14)}
    assert obj.maps["per_cpu"].lookup(bytes(4)) == [u64(5), u64(0)]
    assert obj.maps["by_proto"].lookup((17).to_bytes(4, "little")) == (3).to_bytes(4, "little")
    assert obj.maps["by_proto"].lookup((6).to_bytes(4, "little")) == (1).to_bytes(4, "little")
    assert obj.spec.bss["total_bytes"] == 0               # the spec is never changed
    globals_ = obj.maps[".bss"].lookup(bytes(4))
    assert int.from_bytes(globals_[:8], "little") == 44 * 2 + 1234 + 64 + 14
    assert obj.maps[".data"].lookup(bytes(4))[:5] == b"ipv4\0"


def test_rodata_set_at_load_changes_the_program(counters):
    obj = pybpf.load(counters, rodata={"drop_len": 60})
    assert [obj.programs["count_xdp"].test_run(data=p).retval for p in PACKETS] == \
        [2, 2, 1, 1, 2]
    spec = pybpf.open(counters)
    spec.rodata["drop_len"] = 10
    assert spec.load().programs["count_xdp"].test_run(data=PACKETS[-1]).retval == 1
    assert pybpf.open(counters).rodata["drop_len"] == 1000


def test_spec_map_adjusted_before_load(counters):
    spec = pybpf.open(counters)
    spec.maps["by_len"].max_entries = 1
    obj = spec.load()
    for p in PACKETS:
        obj.programs["count_xdp"].test_run(data=p)
    assert len(list(obj.maps["by_len"].keys())) == 1       # the rest got E2BIG
    assert obj.maps["by_len"].max_entries == 1


def test_socket_filter_with_ld_abs(counters):
    obj = pybpf.load(counters)
    prog = obj.programs["count_socket"]
    # test_run starts a socket filter's skb at the network header: len is 44 - 14.
    assert prog.test_run(data=ipv4(10)).retval == 30       # UDP: keep the whole packet
    assert prog.test_run(data=ipv4(10, 6)).retval == 0
    assert prog.test_run(data=ipv4(0)[:14 + 8] + bytes(12)).retval == 0


def test_typed_view_decodes_btf_structs(counters):
    obj = pybpf.load(counters)
    obj.programs["count_xdp"].test_run(data=ipv4(10))
    typed = obj.maps["by_len"].typed()
    assert typed[44] == {"packets": 1, "bytes": 44}
    typed[7] = {"packets": 3}
    assert obj.maps["by_len"].lookup((7).to_bytes(4, "little")) == u64(3) + u64(0)


def test_callbacks_tail_calls_queue_ringbuf_and_printk(calls):
    obj = pybpf.load(calls)
    prog = obj.programs["run_calls"]
    lengths = (20, 60, 120, 14)
    verdicts = [prog.test_run(data=bytes(n)).retval for n in lengths]
    assert verdicts == [2, 2, 3, 2]                      # > 100 bytes: tail call to XDP_TX
    # bpf_loop sums i*i for i = 0 .. len % 7 (the callback stops there).
    assert obj.trace_pipe == ["len 20 acc 91", "len 60 acc 30", "len 120 acc 1",
                              "len 14 acc 0"]
    assert obj.maps[".bss"].lookup(bytes(4))[16:20] == (1).to_bytes(4, "little")  # tail_hits
    events: list[bytes] = []
    assert pybpf.RingBuffer(obj.maps["events"], events.append).poll() == 4
    assert [int.from_bytes(e[:4], "little") for e in events] == list(lengths)
    queue = obj.maps["lengths"]
    assert [int.from_bytes(queue.pop(), "little") for _ in lengths] == list(lengths)
    assert queue.pop() is None


def test_prog_array_holds_program_objects(calls):
    obj = pybpf.load(calls)
    jumps = obj.maps["jumps"]
    assert jumps.lookup((2).to_bytes(4, "little")) == \
        obj.programs["tail_target"].id.to_bytes(4, "little")
    jumps.update(1, obj.programs["tail_target"])           # now 51..100 bytes also jump
    assert obj.programs["run_calls"].test_run(data=bytes(60)).retval == 3


def test_source_lines_and_listing(counters):
    prog = pybpf.load(counters).programs["count_xdp"]
    lines = prog.source_lines
    assert len(lines) == len(prog.insns)
    texts = {line.text.strip() for line in lines if line is not None}
    assert "total_bytes += len;" in texts
    from pybpf.asm import listing
    out = listing(prog.insns, lines)
    assert any(line == "; total_bytes += len;" for line in out)


def test_engine_errors(counters):
    with pytest.raises(BpfError, match="unknown engine 'vm'"):
        pybpf.load(counters, engine="vm")
    with pytest.raises(pybpf.ElfError):
        pybpf.load(b"\x7fELF" + bytes(60))
    with pytest.raises(KeyError, match="no variable 'nope'"):
        pybpf.load(counters, rodata={"nope": 1})
    with pytest.raises(pybpf.BpfSyscallError) as info:
        pybpf.load(counters).programs["count_xdp"].test_run(data=bytes(10))
    assert info.value.errno == 22    # the kernel's EINVAL: XDP input shorter than ETH_HLEN


@pytest.mark.kernel
@pytest.mark.parametrize("program", ["count_xdp", "count_socket"])
def test_counters_agree_with_the_kernel(counters, program):
    result = compare_object(counters, program, PACKETS, env=pybpf.Env(cpus=CPUS))
    assert result.agree, result.report()


@pytest.mark.kernel
def test_calls_agree_with_the_kernel(calls):
    packets = [bytes(n) for n in (20, 60, 64, 120, 200, 33, 14)]
    result = compare_object(calls, "run_calls", packets, env=pybpf.Env(cpus=CPUS))
    assert result.agree, result.report()
    assert [mine.retval for mine, _ in result.runs] == [2, 2, 2, 3, 3, 2, 2]

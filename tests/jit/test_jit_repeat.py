"""test_run(repeat=N) runs one prepared context N times, as BPF_PROG_TEST_RUN does: what
a run changes (packet bytes, skb fields, maps) the next run sees. The jit engine runs the
repeats in one native loop, leaving it only for a run that needs Python (a tail call)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf

SOURCE = Path(__file__).parent / "data" / "repeat.c"
FRAME = bytes(range(60))
ENGINES = ("interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel))
MARK = 8   # offsetof(struct __sk_buff, mark)


@pytest.fixture(scope="module")
def elf() -> bytes:
    return pybpf.compile(SOURCE)


def _runs(obj) -> int:
    return struct.unpack("<Q", obj.maps["runs"].lookup(struct.pack("<I", 0)))[0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("repeat", [1, 7, 300])
def test_xdp_repeat_accumulates(elf, engine, repeat):
    obj = pybpf.load(elf, engine=engine)
    r = obj.programs["bump_xdp"].test_run(data=FRAME, repeat=repeat)
    assert r.retval == 2
    assert r.data == bytes([repeat % 256]) + FRAME[1:]
    assert _runs(obj) == repeat


@pytest.mark.parametrize("engine", ENGINES)
def test_tc_repeat_accumulates_packet_and_context(elf, engine):
    obj = pybpf.load(elf, engine=engine)
    ctx = bytearray(192)            # struct __sk_buff, all zero
    r = obj.programs["bump_tc"].test_run(data=FRAME, ctx=bytes(ctx), repeat=5)
    assert r.retval == 0
    assert r.data[0] == 5
    assert struct.unpack_from("<I", r.ctx, MARK)[0] == 15
    assert _runs(obj) == 5


@pytest.mark.parametrize("engine", ENGINES)
def test_repeat_through_tail_calls(elf, engine):
    obj = pybpf.load(elf, engine=engine)
    r = obj.programs["bump_tail"].test_run(data=FRAME, repeat=6)
    assert r.retval == 0            # bump_tc's verdict: every run reached it
    assert r.data[0] == 6
    assert _runs(obj) == 12         # bump_tail and bump_tc count once each per run


def test_jit_repeat_reports_time_per_run(elf):
    obj = pybpf.load(elf, engine="jit")
    one = obj.programs["bump_xdp"].test_run(data=FRAME, repeat=1)
    many = obj.programs["bump_xdp"].test_run(data=FRAME, repeat=100_000)
    # One run pays Python's call into native code; 100,000 share it in one native loop.
    assert many.duration_ns < one.duration_ns
    assert _runs(obj) == 100_001


def test_jit_repeat_stops_at_a_fault():
    """A fault in run k of N raises the interpreter's error, not a crash or a wrong count."""
    from pybpf.errors import BpfMemoryError
    from pybpf.jit.machine import JitMachine
    from pybpf.asm import assemble

    # r0 = *(u64 *)(r1 + 0); r0 += 1; *(u64 *)(r1 + 0) = r0; faults once r0 reaches 3:
    # if r0 == 3 then load from address 0.
    prog = assemble("""
        r2 = *(u64 *)(r1 + 0)
        r2 += 1
        *(u64 *)(r1 + 0) = r2
        if r2 != 3 goto +2
        r3 = 0
        r0 = *(u64 *)(r3 + 0)
        r0 = r2
        exit
    """)
    machine = JitMachine(prog)
    with pytest.raises(BpfMemoryError):
        machine.run(mem=bytes(8), repeat=10)
    result = machine.run(mem=bytes(8), repeat=2)
    assert result.r0 == 2 and result.mem == struct.pack("<Q", 2)

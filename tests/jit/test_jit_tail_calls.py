"""Tail calls in the jit engine go through the prog array's native jump table: the target
runs on its own context within the same run (budget, CPU, Env, packet, tail call count),
and what it does is what the interpreter (and the kernel) does."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.errors import BpfMemoryError
from pybpf.net.batch import PacketBatch, run_batch

SOURCE = Path(__file__).parent / "data" / "tail_chain.c"
ROOT = Path(__file__).resolve().parents[2]
FRAME = bytes(range(64))
MARK = 8


@pytest.fixture(scope="module")
def elf() -> bytes:
    return pybpf.compile(SOURCE)


@pytest.mark.parametrize("engine", ["interp", "jit", pytest.param("kernel",
                                                                 marks=pytest.mark.kernel)])
def test_chain_stops_at_33_tail_calls(elf, engine):
    obj = pybpf.load(elf, engine=engine)
    r = obj.programs["chain"].test_run(data=FRAME, ctx=bytes(192), repeat=3)
    calls = struct.unpack("<Q", obj.maps["calls"].lookup(struct.pack("<I", 0)))[0]
    assert calls == 3 * 34               # the first run and 33 tail calls, three times
    assert r.retval == 3 * 34            # the last program's count (it could not go on)
    assert struct.unpack_from("<I", r.ctx, MARK)[0] == 3 * 34


def test_fault_in_a_target_is_reported_from_the_target():
    errors = {}
    for engine in ("interp", "jit"):
        obj = pybpf.load(Path(__file__).parent / "data" / "tail_fault.c", engine=engine,
                         verify=False)
        with pytest.raises(BpfMemoryError) as info:
            obj.programs["to_fault"].test_run(data=FRAME)
        errors[engine] = (str(info.value).split(" at 0x")[0], info.value.pc)
    assert errors["jit"] == errors["interp"]


def test_dispatch_batch_runs_natively():
    batch = PacketBatch.from_pcap(ROOT / "tests" / "data" / "protocols.pcap")
    jit = pybpf.load(ROOT / "examples" / "tail_dispatch.c", engine="jit")
    interp = pybpf.load(ROOT / "examples" / "tail_dispatch.c", engine="interp")
    got = run_batch(jit.programs["dispatch"], batch)
    want = run_batch(interp.programs["dispatch"], batch)
    assert list(got.verdicts) == list(want.verdicts) and got.redirects == want.redirects
    assert [got.data(i) for i in range(len(batch))] == [want.data(i) for i in range(len(batch))]
    assert got.native >= len(batch) - 1      # the UDP packet's bpf_redirect is Python's

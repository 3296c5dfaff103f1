"""Tiered compilation: a new JitMachine runs fast-tier code, a hot one full-tier code
(compiled in the background, or waited for by a call that runs a lot), and both tiers
behave the same; the caches keep the tiers apart and serve the full tier when they have it."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.asm import assemble
from pybpf.errors import BpfLimitError, BpfRuntimeError
from pybpf.jit import JitMachine, backend
from pybpf.jit.machine import HOT_RUNS
from pybpf.maps.arraymap import ProgArray
from pybpf.net.batch import PacketBatch, run_batch

ROOT = Path(__file__).resolve().parents[2]
_seeds = itertools.count(0x7153_0000)

# A loop with a helper call and a stack round trip: work for both tiers' code.
PROGRAM = """
r0 = {seed}
r6 = 0
loop:
*(u64 *)(r10 - 8) = r6
r7 = *(u64 *)(r10 - 8)
r0 += r7
r6 += 1
if r6 < r1 goto loop
r6 = r0
call 7
r0 = r6
exit
"""


def _program() -> list:
    """A program no other test compiled (so no cache has it)."""
    return assemble(PROGRAM.format(seed=next(_seeds)))


@pytest.fixture(autouse=True)
def no_disk_cache():
    backend.set_disk_cache(False)
    yield
    backend.set_disk_cache(None)


def _outcome(machine: JitMachine, *args: int, **kw) -> tuple:
    result = machine.run(*args, **kw)
    return result.r0, result.regs, result.executed


def test_a_new_machine_runs_the_fast_tier_and_the_full_tier_behaves_the_same():
    machine = JitMachine(_program())
    assert machine.tier == "fast"
    fast = [_outcome(machine, n) for n in (0, 1, 5, 40)]
    fast_ir = machine.source()
    machine.tier_up()
    assert machine.tier == "full" and machine.source() != fast_ir
    assert [_outcome(machine, n) for n in (0, 1, 5, 40)] == fast


@pytest.mark.parametrize("source, error", [
    ("r0 = 1\nif r0 > 0 goto +1\nexit\nr0 = 2", "fell off the end"),
    ("r0 = 0\nloop:\nr0 += 1\ngoto loop", "budget"),
])
def test_faults_are_the_same_at_both_tiers(source, error):
    insns = assemble(f"r9 = {next(_seeds)}\n" + source)
    messages = []
    for tier in ("fast", "full"):
        machine = JitMachine(insns, budget=1000)
        if tier == "full":
            machine.tier_up()
        assert machine.tier == tier
        with pytest.raises((BpfRuntimeError, BpfLimitError), match=error) as info:
            machine.run()
        messages.append((type(info.value), str(info.value), info.value.pc))
    assert messages[0] == messages[1]


def test_a_call_that_runs_a_lot_waits_for_the_full_tier():
    machine = JitMachine(_program())
    machine.run(3, repeat=2)
    assert machine.tier == "fast"
    r0 = machine.run(3, repeat=HOT_RUNS).r0
    assert machine.tier == "full" and r0 == machine.run(3).r0


def test_many_runs_move_the_machine_to_the_full_tier_in_the_background():
    machine = JitMachine(_program())
    want = _outcome(machine, 4)
    for _ in range(HOT_RUNS):
        assert _outcome(machine, 4) == want     # whichever tier runs, the same outcome
    deadline = time.monotonic() + 60
    while machine.tier != "full" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert machine.tier == "full"
    assert _outcome(machine, 4) == want


def test_the_full_tier_in_memory_serves_a_new_machine():
    insns = _program()
    first = JitMachine(insns)
    first.tier_up()
    second = JitMachine(list(insns))
    assert second.tier == "full" and second.compiled is first.compiled


def test_the_disk_cache_keeps_the_tiers_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    backend.set_disk_cache(True)
    insns = _program()

    def load() -> tuple[JitMachine, dict]:
        backend.cache_clear()
        before = backend.cache_stats()
        machine = JitMachine(insns)
        after = backend.cache_stats()
        return machine, {k: after[k] - before[k] for k in after}

    machine, counts = load()
    assert machine.tier == "fast" and counts["compiles"] == 1 and counts["disk_writes"] == 1
    machine, counts = load()
    assert machine.tier == "fast" and counts["compiles"] == 0 and counts["disk_hits"] == 1
    machine.tier_up()
    machine, counts = load()
    assert machine.tier == "full" and counts["compiles"] == 0 and counts["disk_hits"] == 1
    assert machine.run(2).r0 == JitMachine(insns).run(2).r0


def test_first_tier_from_the_environment(monkeypatch):
    monkeypatch.setenv("PYBPF_JIT_TIER", "full")
    assert JitMachine(_program()).tier == "full"


def test_tail_call_targets_enter_the_full_tier():
    obj = pybpf.load(ROOT / "examples" / "tail_dispatch.c", engine="jit")
    [handlers] = [m for m in obj.maps.values() if isinstance(m, ProgArray)]
    filled = 0
    for index in range(handlers.max_entries):
        target = handlers.program_at(index)
        if target is None:
            continue
        filled += 1
        machine = target.runner.machine
        assert machine.tier == "full"
        words = ProgArray.TARGET_WORDS
        assert handlers.targets[words * index] == machine._entry_addresses[0]
    assert filled


def test_a_batch_runs_the_full_tier():
    obj = pybpf.load(ROOT / "examples" / "xdp_ddos.c", engine="jit")
    prog = obj.programs["xdp_ddos"]
    batch = PacketBatch.from_pcap(ROOT / "tests" / "data" / "ddos.pcap")
    run_batch(prog, batch)
    assert prog.runner.machine.tier == "full"

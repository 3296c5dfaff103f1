"""A slice of bench/fuzz_verify.py: what the verifier accepts never faults in the interpreter.

Structured random programs (:mod:`pybpf.testing.verifier_fuzz`) go through pybpf's verifier;
each accepted one runs in the interpreter on random and extreme inputs with packet and
map value regions cut to their exact size (:mod:`pybpf.testing.soundness`). A fault is an
unsound acceptance: the test prints it as assembly with the seed that makes it again
(``bench/fuzz_verify.py --seed S --start I --count 1``). The fixed seeds are not chosen to
avoid anything; run the bench for more.
"""

from __future__ import annotations

import random

import pytest

from pybpf.isa.uapi import ProgType
from pybpf.testing.soundness import Outcome, assemble, check, run_inputs
from pybpf.testing.verifier_fuzz import FuzzProgram, generate

SEED = 20260
CHUNKS = 4
PER_CHUNK = 750           # 3000 programs in all
VERIFY_LIMIT = 2.0        # seconds; a verifier that runs longer is reported, not failed


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_accepted_programs_never_fault(chunk: int) -> None:
    accepted = rejected = 0
    timeouts, faults = [], []
    start = chunk * PER_CHUNK
    for i in range(start, start + PER_CHUNK):
        fp = generate(f"{SEED}/{i}")
        o = check(fp, seed=f"{SEED}/{i}", inputs=3, verify_limit=VERIFY_LIMIT)
        if o.accepted is None:
            timeouts.append(i)
        elif o.accepted:
            accepted += 1
        else:
            rejected += 1
        if o.faults:
            faults.append(o.report(f"program {i} (bench/fuzz_verify.py --seed {SEED} "
                                   f"--start {i} --count 1):"))
    if timeouts:
        print(f"pybpf's verifier gave no decision within {VERIFY_LIMIT} s on programs "
              f"{timeouts}")
    assert not faults, f"{len(faults)} accepted programs faulted:\n\n" + "\n\n".join(faults)
    # the slice means something only if it accepts a good part and rejects some
    assert 0.3 <= accepted / PER_CHUNK <= 0.9, (accepted, rejected)
    assert rejected >= PER_CHUNK // 10, (accepted, rejected)


UNSAFE = [
    # (program type, maps, program, what it does wrong)
    (ProgType.XDP, [], """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 14)
out:
r0 = 2
exit
""", "reads the byte after a 14-byte check"),
    (ProgType.SOCKET_FILTER, [{"type": "array", "key_size": 4, "value_size": 12,
                               "max_entries": 4}], """
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r0 = *(u8 *)(r0 + 12)
out:
r0 = 0
exit
""", "reads past a 12-byte array value (into its stride padding)"),
    (ProgType.SCHED_CLS, [{"type": "hash", "key_size": 4, "value_size": 8,
                           "max_entries": 4}], """
r6 = r1
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r7 = r0
r1 = *(u32 *)(r6 + 76)
r2 = *(u32 *)(r6 + 80)
r3 = r1
r3 += 1
if r3 > r2 goto out
r3 = *(u8 *)(r1 + 0)
r3 &= 15
r7 += r3
r0 = *(u8 *)(r7 + 0)
out:
r0 = 0
exit
""", "adds a packet byte & 15 to an 8-byte hash value"),
]


@pytest.mark.parametrize("case", UNSAFE, ids=lambda c: c[3])
def test_runs_catch_unsafe_programs(case: tuple) -> None:
    """The oracle has teeth: these unsafe programs, run as if accepted, fault."""
    prog_type, maps, text, _ = case
    fp = FuzzProgram(text.lstrip(), prog_type, maps, pkt_lens=[14],
                     pokes=[(("pkt", 0), 0xFF)])
    out = Outcome(fp, True, insns=assemble(fp))
    run_inputs(out, random.Random(0), 8)
    assert out.faults, f"no fault in {out.runs} runs"


def test_generator_is_deterministic() -> None:
    assert generate("x/1").text == generate("x/1").text
    texts = {generate(f"x/{i}").text for i in range(50)}
    assert len(texts) == 50

"""may_goto (BPF_JMP | BPF_JCOND): the verifier follows the jump and explores one more
trip through the fall-through, widening imprecise scalars against the trip before, so a
loop it bounds converges; the runtime ends it after its budget.

Each case carries the kernel's first error line (None: accepted), checked against the
live kernel where bpf(2) works, and the kernel's processed count where it is known.
"""

from __future__ import annotations

import struct

import pytest
from verify_support import PT, Case, kernel_verdict

from pybpf.verifier import verify
from pybpf.vm import Machine


def _raw(*insns: tuple[int, int, int, int]) -> bytes:
    """Instructions as (opcode, regs, off, imm)."""
    return b"".join(struct.pack("<BBhi", *insn) for insn in insns)


R0_0 = (0xB7, 0, 0, 0)
EXIT = (0x95, 0, 0, 0)
# r0 = 0; loop: may_goto +2; r0 += 1; goto loop; exit
COUNTER = _raw(R0_0, (0xE5, 0, 2, 0), (0x07, 0, 0, 1), (0x05, 0, -3, 0), EXIT)
# nested may_goto loops adding to a stack slot
NESTED = _raw((0xB7, 1, 0, 0), (0x7B, 0x1A, -8, 0),           # *(u64 *)(r10 - 8) = 0
              R0_0, (0xE5, 0, 6, 0),                          # outer: may_goto exit
              (0xE5, 0, 4, 0),                                # inner: may_goto next outer
              (0x79, 0xA1, -8, 0), (0x07, 1, 0, 3),            # r1 = *(fp-8); r1 += 3
              (0x7B, 0x1A, -8, 0), (0x05, 0, -5, 0),           # store; goto inner
              (0x05, 0, -7, 0),                               # goto outer
              EXIT)

CASES = [
    Case("counter_loop", COUNTER, None),
    Case("nested_stack_loop", NESTED, None),
    Case("reserved_imm", _raw(R0_0, (0xE5, 0, 0, 1), EXIT), "invalid may_goto imm 1"),
    Case("reserved_src", _raw(R0_0, (0xE5, 0x10, 0, 0), EXIT), "invalid may_goto imm 0"),
    Case("jmp32_jcond", _raw(R0_0, (0xE6, 0, 0, 0), EXIT), "unknown opcode e6"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("priv", ["root", "cap_bpf"])
def test_matches_recorded_kernel_answer(case: Case, priv: str) -> None:
    res = verify(case.code, prog_type=case.prog_type, priv=priv)
    assert res.accepted == (case.error is None), res.log
    assert res.error == case.error


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_live_kernel(case: Case) -> None:
    accepted, error, _log = kernel_verdict(case)
    assert (accepted, error) == (case.error is None, case.error)


def test_processed_like_the_kernel() -> None:
    """The kernel processes 14 instructions for the counter loop (corpus: loop_may_goto)."""
    assert verify(COUNTER, prog_type=PT.SOCKET_FILTER).stats["processed"] == 14


def test_the_runtime_ends_the_loop() -> None:
    """BPF_MAX_LOOPS (8M) trips, then may_goto falls through no more: r0 counts them."""
    result = Machine(COUNTER, budget=None).run()
    assert result.r0 == 8 * 1024 * 1024

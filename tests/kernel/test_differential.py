"""The interpreter against the kernel: r0-r9 at exit must agree.

Fixed edge cases hold the values the kernel gave (measured on Linux 6.18.44, x86_64, JIT
on, through ``run_in_kernel(..., capture_regs=True)``), written literally so that the
interpreter is still checked where there is no kernel; the kernel half re-measures them
where there is one. Random programs from :mod:`pybpf.testing.progen` compare the two
engines directly.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from pybpf.isa import Instruction
from pybpf.kernel import KernelOracle, run_in_kernel
from pybpf.testing import programs
from pybpf.testing.differential import compare, interpreter_regs, listing

make = Instruction.make
kernel = pytest.mark.kernel
U64 = (1 << 64) - 1
INT64_MIN = 1 << 63
INT32_MIN = 0x80000000
HI = 0xFFFFFFFF_00000000  # high bits that 32-bit operations must drop
WORD = 0xAAAAAAAA_11111111  # what the atomic cases store at r10-8 first
SRC = HI | 0x101  # the atomic operand: its high half is set, which 32-bit atomics ignore


def ld(reg: int, value: int) -> Instruction:
    return make("lddw", reg, imm=value & U64)


def op(name: str, dst: int, src: int = 0, imm: int = 0) -> Instruction:
    return make(name, dst, src, imm=imm)


def program(body: list[Instruction]) -> list[Instruction]:
    """Zero r0-r9 (the register capture reads them all), then the body, then exit."""
    return [make("mov64_imm", r, imm=0) for r in range(10)] + body + [make("exit")]


def atomic(name: str, r0: int = 0) -> list[Instruction]:
    """Store WORD at r10-8, apply the atomic with SRC in r2 (and r0), load it into r3."""
    return [ld(1, WORD), make("stx64", 10, 1, off=-8), ld(2, SRC), ld(0, r0),
            make(name, 10, 2, off=-8), make("ldx64", 3, 10, off=-8)]


# name, body, registers at exit as the kernel reported them (any register not listed is 0).
CASES: list[tuple[str, list[Instruction], dict[int, int]]] = [
    # Division by a zero register: the quotient is 0, the remainder leaves dst (32-bit: its
    # low half, zero-extended).
    ("div64 by zero", [ld(1, 7), op("div64_reg", 1, 2)], {}),
    ("mod64 by zero", [ld(1, 7), op("mod64_reg", 1, 2)], {1: 7}),
    ("div32 by zero", [ld(1, HI | 7), op("div32_reg", 1, 2)], {}),
    ("mod32 by zero", [ld(1, HI | 7), op("mod32_reg", 1, 2)], {1: 7}),
    ("sdiv64 by zero", [ld(1, -7), op("sdiv64_reg", 1, 2)], {}),
    ("smod64 by zero", [ld(1, -7), op("smod64_reg", 1, 2)], {1: 0xFFFFFFFFFFFFFFF9}),
    ("sdiv32 by zero", [ld(1, -7), op("sdiv32_reg", 1, 2)], {}),
    ("smod32 by zero", [ld(1, -7), op("smod32_reg", 1, 2)], {1: 0xFFFFFFF9}),
    # INT_MIN / -1 overflows: the kernel gives INT_MIN, and INT_MIN % -1 is 0.
    ("sdiv64 INT64_MIN / -1",
     [ld(1, INT64_MIN), ld(2, -1), op("sdiv64_reg", 1, 2), ld(3, INT64_MIN),
      op("sdiv64_imm", 3, imm=-1)],
     {1: INT64_MIN, 2: U64, 3: INT64_MIN}),
    ("smod64 INT64_MIN % -1",
     [ld(1, INT64_MIN), ld(2, -1), op("smod64_reg", 1, 2), ld(3, INT64_MIN),
      op("smod64_imm", 3, imm=-1)],
     {2: U64}),
    ("sdiv32 INT32_MIN / -1",
     [ld(1, HI | INT32_MIN), ld(2, -1), op("sdiv32_reg", 1, 2), ld(3, INT32_MIN),
      op("sdiv32_imm", 3, imm=-1)],
     {1: 0x80000000, 2: U64, 3: 0x80000000}),
    ("smod32 INT32_MIN % -1",
     [ld(1, HI | INT32_MIN), ld(2, -1), op("smod32_reg", 1, 2), ld(3, INT32_MIN),
      op("smod32_imm", 3, imm=-1)],
     {2: U64}),
    # Signed division truncates toward zero; the remainder takes the dividend's sign.
    ("sdiv/smod truncate",
     [ld(1, -7), op("sdiv64_imm", 1, imm=2), ld(2, -7), op("smod64_imm", 2, imm=2),
      ld(3, 7), op("smod64_imm", 3, imm=-2), ld(4, -7 & 0xFFFFFFFF), op("smod32_imm", 4, imm=2)],
     {1: 0xFFFFFFFFFFFFFFFD, 2: U64, 3: 1, 4: 0xFFFFFFFF}),
    # Unsigned division by a negative immediate: the immediate is sign-extended first.
    ("div by negative imm",
     [ld(1, -7), op("div64_imm", 1, imm=-1), ld(2, 100), op("div32_imm", 2, imm=-1),
      ld(3, -1), op("mod64_imm", 3, imm=-2)],
     {3: 1}),
    # Shifts by a register use the amount modulo the width (63 for 64-bit, 31 for 32-bit).
    ("lsh64 by reg 63, 64, -1",
     [ld(1, 1), ld(2, 1), ld(3, 1), ld(5, 63), ld(6, 64), ld(7, -1),
      op("lsh64_reg", 1, 5), op("lsh64_reg", 2, 6), op("lsh64_reg", 3, 7)],
     {1: INT64_MIN, 2: 1, 3: INT64_MIN, 5: 63, 6: 64, 7: U64}),
    ("rsh/arsh64 by reg 65, -1",
     [ld(1, INT64_MIN), ld(2, INT64_MIN), ld(5, 65), ld(6, -1),
      op("rsh64_reg", 1, 5), op("arsh64_reg", 2, 6)],
     {1: 0x4000000000000000, 2: U64, 5: 65, 6: U64}),
    ("shift32 by reg 32, 33",
     [ld(1, 1), ld(2, HI | INT32_MIN), ld(3, HI | INT32_MIN), ld(5, 32), ld(6, 33),
      op("lsh32_reg", 1, 6), op("rsh32_reg", 2, 5), op("arsh32_reg", 3, 6)],
     {1: 2, 2: 0x80000000, 3: 0xC0000000, 5: 32, 6: 33}),
    ("arsh32 of negatives",
     [ld(1, INT32_MIN), op("arsh32_imm", 1, imm=4), ld(2, -1), op("arsh32_imm", 2, imm=31),
      ld(3, 0x7FFFFFFF_80000001), op("arsh32_imm", 3, imm=1), ld(4, -16),
      op("arsh64_imm", 4, imm=2)],
     {1: 0xF8000000, 2: 0xFFFFFFFF, 3: 0xC0000000, 4: 0xFFFFFFFFFFFFFFFC}),
    # movsx: 64-bit forms sign-extend to 64 bits, 32-bit forms to 32 then zero-extend.
    ("movsx",
     [ld(1, 0x80), op("movsx64_8", 2, 1), ld(3, 0x8000), op("movsx64_16", 4, 3),
      ld(5, 0x80000000), op("movsx64_32", 6, 5), op("movsx32_8", 7, 1), op("movsx32_16", 8, 3),
      ld(9, 0x12345678_0000007F), op("movsx64_8", 9, 9)],
     {1: 0x80, 2: 0xFFFFFFFFFFFFFF80, 3: 0x8000, 4: 0xFFFFFFFFFFFF8000, 5: 0x80000000,
      6: 0xFFFFFFFF80000000, 7: 0xFFFFFF80, 8: 0xFFFF8000, 9: 0x7F}),
    ("bswap",
     [ld(1, 0x1122334455667788), ld(2, 0x1122334455667788), ld(3, 0x1122334455667788),
      op("bswap16", 1), op("bswap32", 2), op("bswap64", 3)],
     {1: 0x8877, 2: 0x88776655, 3: 0x8877665544332211}),
    # be/le of the low 16 or 32 bits drop the high bits (this host is little-endian).
    ("be/le on high bits",
     [*(ld(r, 0x1122334455667788) for r in range(1, 7)), op("be16", 1), op("be32", 2),
      op("be64", 3), op("le16", 4), op("le32", 5), op("le64", 6)],
     {1: 0x8877, 2: 0x88776655, 3: 0x8877665544332211, 4: 0x7788, 5: 0x55667788,
      6: 0x1122334455667788}),
    ("alu32 zero-extends",
     [ld(1, HI | 5), op("add32_imm", 1, imm=-1), ld(2, -1), op("mov32_imm", 2, imm=-1),
      ld(3, HI), op("neg32", 3), ld(4, HI | 3), op("mov32_reg", 4, 4), ld(5, -1),
      op("lsh32_imm", 5, imm=31), ld(6, HI | 2), op("mul32_imm", 6, imm=-1), ld(7, -1),
      op("xor32_imm", 7, imm=0)],
     {1: 4, 2: 0xFFFFFFFF, 4: 3, 5: 0x80000000, 6: 0xFFFFFFFE, 7: 0xFFFFFFFF}),
    ("alu64 imm sign-extends",
     [ld(1, 0), op("add64_imm", 1, imm=-1), ld(2, 0), op("or64_imm", 2, imm=-(1 << 31)),
      ld(3, -1), op("and64_imm", 3, imm=0x7FFFFFFF), op("mov64_imm", 4, imm=-2)],
     {1: U64, 2: 0xFFFFFFFF80000000, 3: 0x7FFFFFFF, 4: 0xFFFFFFFFFFFFFFFE}),
    # Atomics: 32-bit ones touch the low word only, ignore the operand's high half and
    # zero-extend what they fetch; cmpxchg32 compares only the low half of r0.
    ("atomic32 add", atomic("atomic32_add"), {1: WORD, 2: SRC, 3: 0xAAAAAAAA_11111212}),
    ("atomic32 fetch_add", atomic("atomic32_fetch_add"),
     {1: WORD, 2: 0x11111111, 3: 0xAAAAAAAA_11111212}),
    ("atomic32 or", atomic("atomic32_or"), {1: WORD, 2: SRC, 3: WORD}),
    ("atomic32 fetch_or", atomic("atomic32_fetch_or"), {1: WORD, 2: 0x11111111, 3: WORD}),
    ("atomic32 and", atomic("atomic32_and"), {1: WORD, 2: SRC, 3: 0xAAAAAAAA_00000101}),
    ("atomic32 fetch_and", atomic("atomic32_fetch_and"),
     {1: WORD, 2: 0x11111111, 3: 0xAAAAAAAA_00000101}),
    ("atomic32 xor", atomic("atomic32_xor"), {1: WORD, 2: SRC, 3: 0xAAAAAAAA_11111010}),
    ("atomic32 fetch_xor", atomic("atomic32_fetch_xor"),
     {1: WORD, 2: 0x11111111, 3: 0xAAAAAAAA_11111010}),
    ("atomic32 xchg", atomic("atomic32_xchg"), {1: WORD, 2: 0x11111111, 3: 0xAAAAAAAA_00000101}),
    ("atomic32 cmpxchg hit", atomic("atomic32_cmpxchg", r0=0xBBBBBBBB_11111111),
     {0: 0x11111111, 1: WORD, 2: SRC, 3: 0xAAAAAAAA_00000101}),
    ("atomic32 cmpxchg miss", atomic("atomic32_cmpxchg", r0=5),
     {0: 0x11111111, 1: WORD, 2: SRC, 3: WORD}),
    ("atomic64 add", atomic("atomic64_add"), {1: WORD, 2: SRC, 3: 0xAAAAAAA9_11111212}),
    ("atomic64 fetch_add", atomic("atomic64_fetch_add"),
     {1: WORD, 2: WORD, 3: 0xAAAAAAA9_11111212}),
    ("atomic64 or", atomic("atomic64_or"), {1: WORD, 2: SRC, 3: 0xFFFFFFFF_11111111}),
    ("atomic64 fetch_or", atomic("atomic64_fetch_or"), {1: WORD, 2: WORD, 3: 0xFFFFFFFF_11111111}),
    ("atomic64 and", atomic("atomic64_and"), {1: WORD, 2: SRC, 3: 0xAAAAAAAA_00000101}),
    ("atomic64 fetch_and", atomic("atomic64_fetch_and"),
     {1: WORD, 2: WORD, 3: 0xAAAAAAAA_00000101}),
    ("atomic64 xor", atomic("atomic64_xor"), {1: WORD, 2: SRC, 3: 0x55555555_11111010}),
    ("atomic64 fetch_xor", atomic("atomic64_fetch_xor"),
     {1: WORD, 2: WORD, 3: 0x55555555_11111010}),
    ("atomic64 xchg", atomic("atomic64_xchg"), {1: WORD, 2: WORD, 3: SRC}),
    ("atomic64 cmpxchg hit", atomic("atomic64_cmpxchg", r0=WORD),
     {0: WORD, 1: WORD, 2: SRC, 3: SRC}),
    ("atomic64 cmpxchg miss", atomic("atomic64_cmpxchg", r0=5), {0: WORD, 1: WORD, 2: SRC, 3: WORD}),
]
CASE_IDS = [name for name, _, _ in CASES]


def expected_regs(expected: dict[int, int]) -> tuple[int, ...]:
    return tuple(expected.get(r, 0) for r in range(10))


@kernel
@pytest.mark.parametrize("name, body, expected", CASES, ids=CASE_IDS)
def test_fixed_case_in_kernel(oracle: KernelOracle, name: str, body: list[Instruction],
                              expected: dict[int, int]) -> None:
    run = oracle.run(program(body), capture_regs=True)
    assert run.regs == expected_regs(expected), listing(program(body))
    assert run.r0 == expected.get(0, 0) and run.retval == run.r0 & 0xFFFFFFFF


@pytest.mark.parametrize("name, body, expected", CASES, ids=CASE_IDS)
def test_fixed_case_in_interpreter(name: str, body: list[Instruction],
                                   expected: dict[int, int]) -> None:
    assert interpreter_regs(program(body)) == expected_regs(expected), listing(program(body))


@kernel
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(insns=programs())
def test_interpreter_matches_kernel_on_random_programs(oracle: KernelOracle,
                                                       insns: list[Instruction]) -> None:
    disagreement = compare(insns, oracle)
    assert disagreement is None, disagreement.report()


@kernel
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(insns=programs(max_insns=24))
def test_r0_of_the_call_wrapper_matches_the_interpreter(oracle: KernelOracle,
                                                        insns: list[Instruction]) -> None:
    # The body runs as a bpf-to-bpf subprogram here, not with its exits rewritten.
    run = oracle.run(insns)
    assert run.r0 == interpreter_regs(insns)[0], listing(insns)
    assert run.retval == run.r0 & 0xFFFFFFFF


@kernel
def test_run_in_kernel_returns_all_64_bits_of_r0() -> None:
    run = run_in_kernel([ld(0, 0xFEDCBA98_76543210), make("exit")])
    assert (run.r0, run.retval, run.regs) == (0xFEDCBA98_76543210, 0x76543210, None)

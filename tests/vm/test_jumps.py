"""Conditional jumps (JMP and JMP32, register and immediate), ja, gotol, may_goto."""

import pytest

from vm_support import I, lddw, run_prog

M64 = (1 << 64) - 1


def taken(op: str, a: int, b: int, *, width: int = 64, reg: bool = True) -> bool:
    sfx = "" if width == 64 else "32"
    if reg:
        jump = [lddw(2, b), I(f"{op}{sfx}_reg", dst=1, src=2, off=2)]
    else:
        jump = [I(f"{op}{sfx}_imm", dst=1, imm=b, off=2)]
    prog = [lddw(1, a), *jump, I("mov64_imm", dst=0, imm=0), I("exit"),
            I("mov64_imm", dst=0, imm=1), I("exit")]
    return run_prog(*prog).r0 == 1


CASES = [
    ("jeq", 5, 5, True), ("jeq", 5, 6, False),
    ("jne", 5, 6, True), ("jne", 5, 5, False),
    ("jgt", M64, 1, True), ("jgt", 1, 1, False),            # unsigned
    ("jge", 1, 1, True), ("jge", 0, 1, False),
    ("jlt", 1, M64, True), ("jlt", 2, 1, False),
    ("jle", 1, 1, True), ("jle", 2, 1, False),
    ("jset", 0b1010, 0b0010, True), ("jset", 0b1010, 0b0101, False),
    ("jsgt", 1, M64, True), ("jsgt", M64, 1, False),        # signed: -1 < 1
    ("jsge", M64, M64, True), ("jsge", 1 << 63, 0, False),
    ("jslt", 1 << 63, 0, True), ("jslt", 0, 1 << 63, False),
    ("jsle", M64, 0, True), ("jsle", 0, M64, False),
]


@pytest.mark.parametrize("op,a,b,expected", CASES)
def test_jump64_register(op, a, b, expected):
    assert taken(op, a, b) is expected


@pytest.mark.parametrize("op,a,b,expected", [
    ("jeq", 0x1_00000005, 5, True),        # only the low halves compare
    ("jgt", 0x0_FFFFFFFF, 0x1_00000000, True),
    ("jsgt", 0x1, 0x1_FFFFFFFF, True),     # low half of b is -1
    ("jslt", 0x80000000, 0, True),
    ("jset", 0x1_00000000, 0x1_00000000, False),
    ("jsle", 0xFFFFFFFF, 0, True),
])
def test_jump32_register(op, a, b, expected):
    assert taken(op, a, b, width=32) is expected


@pytest.mark.parametrize("op,a,imm,width,expected", [
    ("jeq", M64, -1, 64, True),            # imm sign-extended to 64 bits
    ("jeq", 0xFFFFFFFF, -1, 64, False),
    ("jeq", 0xFFFFFFFF, -1, 32, True),
    ("jgt", M64, -2, 64, True),
    ("jsgt", 0, -1, 64, True),
    ("jslt", 0x80000000, 0, 32, True),
    ("jslt", 0x80000000, 0, 64, False),
    ("jset", 0x80000000_00000000, -1, 64, True),
    ("jset", 0x80000000_00000000, -1, 32, False),
])
def test_jump_immediate(op, a, imm, width, expected):
    assert taken(op, a, imm, width=width, reg=False) is expected


def test_ja_and_gotol():
    prog = [I("mov64_imm", dst=0, imm=1), I("ja", off=1), I("mov64_imm", dst=0, imm=2),
            I("gotol", imm=1), I("mov64_imm", dst=0, imm=3), I("exit")]
    assert run_prog(*prog).r0 == 1


def test_backward_loop_counts_instructions():
    prog = [I("mov64_imm", dst=0, imm=0), I("mov64_imm", dst=1, imm=10),
            I("add64_imm", dst=0, imm=2), I("sub64_imm", dst=1, imm=1),
            I("jne_imm", dst=1, imm=0, off=-3), I("exit")]
    result = run_prog(*prog)
    assert result.r0 == 20
    assert result.executed == 2 + 3 * 10 + 1


def test_may_goto_falls_through_until_budget_then_jumps():
    # r0 counts iterations; may_goto jumps to exit once the loop budget (8M) is used up.
    prog = [I("mov64_imm", dst=0, imm=0),
            I("may_goto", off=2), I("add64_imm", dst=0, imm=1), I("ja", off=-3),
            I("exit")]
    result = run_prog(*prog, budget=None)
    assert result.r0 == 8 * 1024 * 1024

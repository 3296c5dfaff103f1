"""ALU and ALU64 semantics with edge values; every expected value worked out by hand from RFC 9669."""

import pytest

from vm_support import I, lddw, run_prog

M64 = (1 << 64) - 1
INT64_MIN = 1 << 63
INT32_MIN = 1 << 31


def alu(op: str, a: int, b: int, *, reg: bool = True) -> int:
    """Run r0 = a; r0 OP= b (register or immediate), return r0."""
    if reg:
        prog = [lddw(0, a), lddw(1, b), I(f"{op}_reg", dst=0, src=1), I("exit")]
    else:
        imm = b - (1 << 32) if b >= 1 << 31 else b
        prog = [lddw(0, a), I(f"{op}_imm", dst=0, imm=imm), I("exit")]
    return run_prog(*prog).r0


CASES = [
    # 64-bit arithmetic wraps modulo 2**64
    ("add64", M64, 1, 0),
    ("add64", 0x7FFFFFFFFFFFFFFF, 1, INT64_MIN),
    ("sub64", 0, 1, M64),
    ("mul64", INT64_MIN, M64, INT64_MIN),          # INT64_MIN * -1 wraps
    ("mul64", 0x100000000, 0x100000000, 0),
    # 32-bit forms zero-extend into the upper half
    ("add32", 0xFFFFFFFF_FFFFFFFF, 1, 0),
    ("add32", 0x12345678_00000001, 2, 3),
    ("sub32", 0xAAAAAAAA_00000000, 1, 0xFFFFFFFF),
    ("mul32", 0x80000000, 0xFFFFFFFF, 0x80000000),
    ("mov32", 0, 0xFFFFFFFF_12345678, 0x12345678),
    ("mov64", 0, 0xFFFFFFFF_12345678, 0xFFFFFFFF_12345678),
    # unsigned division / modulo, by zero
    ("div64", 100, 7, 14),
    ("div64", M64, 2, 0x7FFFFFFFFFFFFFFF),
    ("div64", 123, 0, 0),
    ("div32", 0xFFFFFFFF_00000064, 7, 14),           # upper half of dst ignored
    ("div32", 100, 0x1_00000000, 0),                  # divisor's low 32 bits are 0
    ("mod64", 100, 7, 2),
    ("mod64", 123, 0, 123),                           # modulo by zero leaves dst
    ("mod32", 0xFFFFFFFF_00000064, 0, 0x64),          # ... truncated to 32 bits
    ("mod32", 100, 7, 2),
    # signed division / modulo
    ("sdiv64", (-7) & M64, 2, (-3) & M64),            # truncates toward zero
    ("sdiv64", INT64_MIN, M64, INT64_MIN),            # INT_MIN / -1 overflows to INT_MIN
    ("sdiv64", 5, 0, 0),
    ("sdiv32", 0xFFFFFFF9, 2, 0xFFFFFFFD),            # -7 / 2 = -3 (32-bit)
    ("sdiv32", INT32_MIN, 0xFFFFFFFF, INT32_MIN),
    ("smod64", (-7) & M64, 2, M64),                   # -7 % 2 = -1
    ("smod64", 7, (-2) & M64, 1),                     # sign of the dividend
    ("smod64", INT64_MIN, M64, 0),
    ("smod64", (-5) & M64, 0, (-5) & M64),            # by zero leaves dst
    ("smod32", 0xFFFFFFF9, 2, 0xFFFFFFFF),
    ("smod32", 0xFFFFFFFF_FFFFFFFB, 0, 0xFFFFFFFB),   # by zero: dst truncated to 32 bits
    ("smod32", INT32_MIN, 0xFFFFFFFF, 0),
    # bitwise
    ("or64", 0xF0, 0x0F, 0xFF),
    ("and64", 0xFF00FF, 0x0FF0F0, 0x0F00F0),
    ("xor64", M64, 0xFF, M64 ^ 0xFF),
    ("or32", 0xFFFFFFFF_00000000, 1, 1),
    # shifts mask the count to the width
    ("lsh64", 1, 63, INT64_MIN),
    ("lsh64", 1, 64, 1),                              # 64 & 63 = 0
    ("lsh64", 1, 65, 2),
    ("lsh32", 1, 31, 0x80000000),
    ("lsh32", 1, 32, 1),
    ("lsh32", 0xFFFFFFFF, 4, 0xFFFFFFF0),
    ("rsh64", INT64_MIN, 63, 1),
    ("rsh64", M64, 64, M64),
    ("rsh32", 0xFFFFFFFF_80000000, 31, 1),            # upper half ignored
    ("arsh64", INT64_MIN, 63, M64),
    ("arsh64", INT64_MIN, 1, 0xC000000000000000),
    ("arsh32", 0x80000000, 4, 0xF8000000),
    ("arsh32", 0xFFFFFFFF_7FFFFFFF, 4, 0x07FFFFFF),
    ("arsh32", 0x80000000, 32, 0x80000000),           # 32 & 31 = 0
]


@pytest.mark.parametrize("op,a,b,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_alu_register(op, a, b, expected):
    assert alu(op, a, b) == expected


IMM_CASES = [
    ("add64", 0, 0xFFFFFFFF, M64),                    # imm -1 sign-extends to 64 bits
    ("add32", 0, 0xFFFFFFFF, 0xFFFFFFFF),
    ("mov64", 0, 0x80000000, 0xFFFFFFFF80000000),
    ("mov32", 0xFFFFFFFF_FFFFFFFF, 0x80000000, 0x80000000),
    ("div64", M64, 0xFFFFFFFF, 1),                    # imm -1 as u64 divides M64 exactly once
    ("div32", 0xFFFFFFFF, 0xFFFFFFFF, 1),
    ("div64", 10, 0, 0),
    ("mod64", 10, 0, 10),
    ("mod32", 0x1_0000000A, 0, 10),
    ("sdiv64", 10, 0xFFFFFFFF, (-10) & M64),
    ("sdiv64", 10, 0, 0),
    ("smod64", (-10) & M64, 3, (-1) & M64),
    ("smod32", 10, 0, 10),
    ("and64", M64, 0x80000000, 0xFFFFFFFF80000000),
    ("and32", M64, 0x80000000, 0x80000000),
    ("xor64", 0, 0xFFFFFFFF, M64),
    ("lsh64", 3, 62, 0xC000000000000000),
    ("arsh64", INT64_MIN, 1, 0xC000000000000000),
]


@pytest.mark.parametrize("op,a,b,expected", IMM_CASES, ids=[f"{c[0]}-imm-{i}" for i, c in enumerate(IMM_CASES)])
def test_alu_immediate(op, a, b, expected):
    assert alu(op, a, b, reg=False) == expected


@pytest.mark.parametrize("form,value,expected", [
    ("neg64", 1, M64),
    ("neg64", INT64_MIN, INT64_MIN),
    ("neg64", 0, 0),
    ("neg32", 1, 0xFFFFFFFF),
    ("neg32", 0xFFFFFFFF_00000000, 0),
    ("neg32", INT32_MIN, INT32_MIN),
])
def test_neg(form, value, expected):
    assert run_prog(lddw(0, value), I(form, dst=0), I("exit")).r0 == expected


@pytest.mark.parametrize("form,value,expected", [
    ("movsx64_8", 0x80, 0xFFFFFFFFFFFFFF80),
    ("movsx64_8", 0x17F, 0x7F),
    ("movsx64_16", 0x8000, 0xFFFFFFFFFFFF8000),
    ("movsx64_32", 0x80000000, 0xFFFFFFFF80000000),
    ("movsx64_32", 0xFFFFFFFF_7FFFFFFF, 0x7FFFFFFF),
    ("movsx32_8", 0x80, 0xFFFFFF80),                 # sign-extended to 32, then zero-extended
    ("movsx32_16", 0xFFFF_8001, 0xFFFF8001),
    ("movsx32_16", 0x7FFF, 0x7FFF),
])
def test_movsx(form, value, expected):
    assert run_prog(lddw(1, value), I(form, dst=0, src=1), I("exit")).r0 == expected


@pytest.mark.parametrize("form,value,expected", [
    ("le16", 0x1122334455667788, 0x7788),
    ("le32", 0x1122334455667788, 0x55667788),
    ("le64", 0x1122334455667788, 0x1122334455667788),
    ("be16", 0x1122334455667788, 0x8877),
    ("be32", 0x1122334455667788, 0x88776655),
    ("be64", 0x1122334455667788, 0x8877665544332211),
    ("bswap16", 0x1122334455667788, 0x8877),
    ("bswap32", 0x1122334455667788, 0x88776655),
    ("bswap64", 0x1122334455667788, 0x8877665544332211),
])
def test_byte_order(form, value, expected):
    assert run_prog(lddw(0, value), I(form, dst=0), I("exit")).r0 == expected


def test_lddw_full_64_bits():
    assert run_prog(lddw(3, 0xFEDCBA9876543210), I("mov64_reg", dst=0, src=3), I("exit")).r0 == \
        0xFEDCBA9876543210

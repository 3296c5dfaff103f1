"""The uBPF / bpf_conformance syntax: the suite's files, round trips, encodings, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.asm import assemble as assemble_any, disassemble as disassemble_any
from pybpf.asm.ubpf import assemble, disassemble, format_instruction, spelling
from pybpf.conformance import parse_test_file
from pybpf.errors import AsmError, BpfDecodeError
from pybpf.isa import FORMS, FORMS_BY_NAME, Instruction, Kind, decode, encode

ROOT = Path(__file__).resolve().parents[2]
SUITE_DIR = ROOT.parent / "shared" / "bpf_conformance" / "tests"
SUITE_FILES = sorted(SUITE_DIR.glob("*.data"))
OWN_FILES = sorted((ROOT / "tests" / "conformance" / "data").glob("*.data"))
GOLDEN = ROOT / "tests" / "conformance" / "suite_bytecode.txt"

needs_suite = pytest.mark.skipif(not SUITE_FILES, reason=f"no conformance suite at {SUITE_DIR}")


def _golden() -> dict[str, bytes]:
    out = {}
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            name, hexcode = line.split()
            out[name] = bytes.fromhex(hexcode)
    return out


def test_the_suite_is_all_there():
    if not SUITE_FILES:
        pytest.skip(f"no conformance suite at {SUITE_DIR}")
    assert len(SUITE_FILES) == 313
    assert sorted(_golden()) == [p.name for p in SUITE_FILES]


# -- the conformance suite's files ----------------------------------------------------------

@needs_suite
@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_file_assembles_like_the_suite(path):
    """Every file assembles to the bytes the suite's own assembler makes (and to -- raw)."""
    case = parse_test_file(path)
    code = encode(assemble(case.asm, filename=str(path)))
    assert code == _golden()[path.name]
    if case.raw is not None:
        assert code == case.raw


@pytest.mark.parametrize("path", SUITE_FILES + OWN_FILES,
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_file_round_trips(path):
    insns = assemble(parse_test_file(path).asm)
    text = disassemble(insns)
    again = assemble("\n".join(text))
    assert again == insns
    assert encode(again) == encode(insns)
    assert decode(encode(insns)) == insns


def test_dispatch_from_pybpf_asm():
    insns = assemble_any("mov %r0, 1\nexit", syntax="ubpf")
    assert disassemble_any(insns, syntax="ubpf") == ["mov %r0, 1", "exit"]


# -- every form of the ISA table round-trips ------------------------------------------------

_IMM = (0, 1, 9, 10, -1, -10, 0x7FFF, -(1 << 31), (1 << 31) - 1)
_OFF = (0, 1, -1, -(1 << 15), (1 << 15) - 1)
_LDDW = (0, 1, 0xFFFFFFFF, 1 << 32, (1 << 63), (1 << 64) - 1, 0x123456789ABCDEF0, 0xFFFFFFFD)


def _samples(form):
    ops = form.operands
    dsts = (0, 10) if "dst" in ops else (0,)
    srcs = (1, 9) if "src" in ops else (0,)
    offs = _OFF if "off" in ops else (0,)
    if form.kind is Kind.LDDW:
        imms = _LDDW
    elif form.kind is Kind.ADDR_SPACE_CAST:
        imms = (0, 1, 1 << 16, -1, 0x7FFF0003)
    else:
        imms = _IMM if "imm" in ops else (0,)
    for dst in dsts:
        for src in srcs:
            for off in offs:
                for imm in imms:
                    yield Instruction.make(form.name, dst=dst, src=src, off=off, imm=imm)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_every_form_round_trips(form):
    for insn in _samples(form):
        text = format_instruction(insn)
        back = assemble(text)
        assert back == [insn], text
        assert format_instruction(back[0]) == text


def test_every_form_has_its_own_text():
    """No two forms print alike (with zero operands), so text names the form."""
    texts = {}
    for form in FORMS:
        text = format_instruction(Instruction.make(form.name))
        assert text not in texts, (form.name, texts.get(text))
        texts[text] = form.name


# -- encodings -------------------------------------------------------------------------------

def _one(text: str) -> Instruction:
    (insn,) = assemble(text)
    return insn


@pytest.mark.parametrize("text, opcode, dst, src, off, imm", [
    ("mov32 %r0, 1", 0xB4, 0, 0, 0, 1),
    ("mov %r0, -1", 0xB7, 0, 0, 0, -1),
    ("mov %r0, 0xffffffff", 0xB7, 0, 0, 0, -1),
    ("mov %r0, 4294967295", 0xB7, 0, 0, 0, -1),
    ("mov %r0, -2147483648", 0xB7, 0, 0, 0, -(1 << 31)),
    ("add %r1, %r2", 0x0F, 1, 2, 0, 0),
    ("add32 %r1, %r2", 0x0C, 1, 2, 0, 0),
    ("sdiv %r1, 3", 0x37, 1, 0, 1, 3),
    ("smod32 %r1, %r2", 0x9C, 1, 2, 1, 0),
    ("neg %r3", 0x87, 3, 0, 0, 0),
    ("neg32 %r3", 0x84, 3, 0, 0, 0),
    ("movsx832 %r0, %r1", 0xBC, 0, 1, 8, 0),
    ("movsx1664 %r0, %r1", 0xBF, 0, 1, 16, 0),
    ("movsx3264 %r0, %r1", 0xBF, 0, 1, 32, 0),
    ("be16 %r0", 0xDC, 0, 0, 0, 16),
    ("le32 %r0", 0xD4, 0, 0, 0, 32),
    ("swap64 %r0", 0xD7, 0, 0, 0, 64),
    ("bswap16 %r0", 0xD7, 0, 0, 0, 16),
    ("ldxw %r0, [%r1+4]", 0x61, 0, 1, 4, 0),
    ("ldxdw %r0, [%r1]", 0x79, 0, 1, 0, 0),
    ("ldxsb %r0, [%r1-1]", 0x91, 0, 1, -1, 0),
    ("ldxsh %r0, [%r1+2]", 0x89, 0, 1, 2, 0),
    ("ldxsw %r0, [%r1+0x10]", 0x81, 0, 1, 16, 0),
    ("ldxb %r0, [%r1+0xfff0]", 0x71, 0, 1, -16, 0),   # a hex offset as its 16-bit encoding
    ("stxdw [%r10-8], %r1", 0x7B, 10, 1, -8, 0),
    ("stw [%r1+2], 0x1", 0x62, 1, 0, 2, 1),
    ("sth [%r1], -1", 0x6A, 1, 0, 0, -1),
    ("stb [ %r1 + 2 ], 7", 0x72, 1, 0, 2, 7),
    ("jeq %r1, 0x10, +3", 0x15, 1, 0, 3, 16),
    ("jsle32 %r1, %r2, -2", 0xDE, 1, 2, -2, 0),
    ("jset %r1, -1, 0", 0x45, 1, 0, 0, -1),
    ("ja +1", 0x05, 0, 0, 1, 0),
    ("ja32 -5", 0x06, 0, 0, 0, -5),
    ("exit", 0x95, 0, 0, 0, 0),
    ("call 5", 0x85, 0, 0, 0, 5),
    ("call helper 5", 0x85, 0, 0, 0, 5),
    ("call %r2", 0x8D, 2, 0, 0, 0),          # callx: the suite puts the register in dst_reg
    ("call helper %r2", 0x8D, 2, 0, 0, 0),
    ("call local +3", 0x85, 0, 1, 0, 3),
    ("call local -1", 0x85, 0, 1, 0, -1),
    ("call runtime 7", 0x85, 0, 2, 0, 7),
    ("call runtime 7, 2", 0x85, 0, 2, 2, 7),
    ("lock add [%r10-8], %r1", 0xDB, 10, 1, -8, 0x00),
    ("lock fetch add [%r10-8], %r1", 0xDB, 10, 1, -8, 0x01),
    ("lock or32 [%r1], %r2", 0xC3, 1, 2, 0, 0x40),
    ("lock fetch and32 [%r1], %r2", 0xC3, 1, 2, 0, 0x51),
    ("lock fetch xor [%r1], %r2", 0xDB, 1, 2, 0, 0xA1),
    ("lock xchg [%r1], %r2", 0xDB, 1, 2, 0, 0xE1),
    ("lock fetch xchg [%r1], %r2", 0xDB, 1, 2, 0, 0xE1),
    ("lock cmpxchg32 [%r1+4], %r2", 0xC3, 1, 2, 4, 0xF1),
    ("ldabsw 0x10", 0x20, 0, 0, 0, 16),
    ("ldabsb 3", 0x30, 0, 0, 0, 3),
    ("ldindh %r1, 0x3", 0x48, 0, 1, 0, 3),
    ("ldxacqw %r0, [%r1+8]", 0xC3, 0, 1, 8, 0x100),
    ("stxrelb [%r1], %r2", 0xD3, 1, 2, 0, 0x110),
    ("may_goto +3", 0xE5, 0, 0, 3, 0),
    ("addr_space_cast %r0, %r1, 1, 0", 0xBF, 0, 1, 1, 1 << 16),
    ("MOV %R0, 1", 0xB7, 0, 0, 0, 1),
])
def test_encoding(text, opcode, dst, src, off, imm):
    assert _one(text) == Instruction(opcode, dst, src, off, imm)


@pytest.mark.parametrize("text, src, imm", [
    ("lddw %r0, 0x123", 0, 0x123),
    ("lddw %r0, 0x1122334455667788", 0, 0x1122334455667788),
    ("lddw %r0, 2147483648", 0, 0x80000000),
    ("lddw %r0, -1", 0, (1 << 64) - 1),
    ("lddw %r0, 18446744073709551615", 0, (1 << 64) - 1),
    ("lddw %r1, map_fd 3", 1, 3),
    ("lddw %r1, map_value 0x800000003", 2, 0x800000003),
    ("lddw %r1, btf_id 77", 3, 77),
    ("lddw %r1, func +3", 4, 3),
    ("lddw %r1, func -3", 4, 0xFFFFFFFD),
    ("lddw %r1, map_idx 0", 5, 0),
    ("lddw %r1, map_idx_value 0x100000000", 6, 1 << 32),
])
def test_lddw(text, src, imm):
    insn = _one(text)
    assert (insn.opcode, insn.dst == (0 if src == 0 else 1), insn.src, insn.imm) == \
        (0x18, True, src, imm)


def test_raw_bytes_of_the_suite_examples():
    assert encode(assemble("lddw %r0, 0x1122334455667788\nexit")).hex() == \
        "1800000088776655000000004433221195" + "00" * 7
    assert encode(assemble("call %r2")).hex() == "8d02000000000000"


def test_labels_resolve_to_slots():
    insns = assemble("""
        # comment line
        mov %r0, 0            # trailing comment
        jeq %r0, 0, skip
        lddw %r1, 0x1
    skip:
        ja back
        exit
    back: mov %r0, 2
        ja32 -2
    """)
    assert [i.off for i in insns[:4]] == [0, 2, 0, 1]  # lddw counts two slots
    assert insns[6].imm == -2
    assert insns[1].reference == "skip" and insns[3].reference == "back"
    assert insns[3].symbol == "skip" and insns[5].symbol == "back"


def test_call_local_label_and_metadata():
    insns = assemble("call local f\nexit\nf:\nmov %r0, 1\nexit", filename="x.s")
    assert insns[0] == Instruction(0x85, 0, 1, 0, 1)
    assert insns[0].reference == "f"
    assert insns[2].symbol == "f"
    assert insns[2].line == "x.s:4"


def test_lddw_func_label():
    # As for the kernel, the target is slot + imm + 1: relative to lddw's second slot.
    insns = assemble("lddw %r2, func double\nexit\ndouble:\nexit")
    assert insns[0].src == 4 and insns[0].imm == 2
    assert disassemble(insns)[0] == "lddw %r2, func +2"


def test_first_exit_is_a_label():
    insns = assemble("jeq %r0, 0, exit\nmov %r0, 1\nexit\nexit")
    assert insns[0].off == 1


def test_explicit_exit_label_wins():
    insns = assemble("jeq %r0, 0, exit\nexit\nmov %r0, 1\nexit:\nexit")
    assert insns[0].off == 2


def test_disassembly_spelling():
    text = disassemble(assemble(
        "mov %r0, 0xffffffff\nmov %r0, 0x80000000\nadd %r1, 255\nlock fetch add32 [%r10-8], %r1\n"
        "lock xchg [%r1], %r2\ncall %r3\ncall 5\ncall local +2\nlddw %r0, 5\nbswap16 %r1\n"
        "jne %r1, -1, -1\nstxdw [%r1], %r2"))
    assert text == ["mov %r0, -1", "mov %r0, 0x80000000", "add %r1, 0xff",
                    "lock fetch add32 [%r10-8], %r1", "lock xchg [%r1], %r2", "call %r3", "call 5",
                    "call local +2", "lddw %r0, 0x5", "swap16 %r1", "jne %r1, -1, -1",
                    "stxdw [%r1], %r2"]


def test_spelling_covers_every_form():
    names = {spelling(form)[0] for form in FORMS}
    assert {"mov32", "movsx832", "ldxsw", "ja32", "ldabsw", "ldindh", "swap64", "cmpxchg32",
            "ldxacqdw", "stxrelh", "may_goto", "addr_space_cast"} <= names


def test_format_rejects_invalid_instruction():
    with pytest.raises(BpfDecodeError):
        format_instruction(Instruction(0xFF))
    with pytest.raises(BpfDecodeError):
        format_instruction(Instruction(0x07, off=3))      # add with a reserved offset


def test_empty_program():
    assert assemble("") == []
    assert assemble("# nothing\n\n   \n") == []
    assert FORMS_BY_NAME["exit"].kind is Kind.EXIT


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, message", [
    ("mov %r0, 1\nfoo %r0, 1", 2, 1, "unknown mnemonic 'foo'"),
    ("mov %r11, 1", 1, 5, "invalid register '%r11' (expected %r0 to %r10)"),
    ("mov %x1, 1", 1, 5, "invalid register '%x1'"),
    ("mov %r0 1", 1, 9, "expected ',' after the destination register, found '1'"),
    ("mov %r0,", 1, 9, "expected register or immediate, found end of line"),
    ("mov 1, %r0", 1, 5, "expected register (%r0 to %r10), found '1'"),
    ("exit %r0", 1, 6, "unexpected '%r0' after the operands"),
    ("neg %r0, 1", 1, 8, "unexpected ',' after the operands"),
    ("mov32 %r0, 0x100000000", 1, 12, "immediate 4294967296 out of 32-bit range"),
    ("mov32 %r0, -2147483649", 1, 12, "immediate -2147483649 out of 32-bit range"),
    ("lddw %r0, 0x10000000000000000", 1, 11, "out of 64-bit range"),
    ("ldxb %r0, [%r1+32768]", 1, 15, "offset 32768 out of 16-bit range"),
    ("ja +40000", 1, 4, "offset 40000 out of 16-bit range"),
    ("ldxb %r0, %r1", 1, 11, "expected '[' to open a memory operand, found '%r1'"),
    ("ldxb %r0, [%r1+4", 1, 17, "expected ']' to close the memory operand, found end of line"),
    ("ldxb %r0, [%r1*4]", 1, 15, "unexpected character '*'"),
    ("ldxb %r0, [4]", 1, 12, "expected base register (%r0 to %r10), found '4'"),
    ("stxw [%r1], 5", 1, 13, "expected source register (%r0 to %r10), found '5'"),
    ("jeq %r0, 1, nowhere\nexit", 1, 13, "undefined label 'nowhere'"),
    ("ja", 1, 3, "expected jump offset (+N, -N) or label, found end of line"),
    ("a:\nexit\n  a:", 3, 3, "duplicate label 'a' (first defined on line 1)"),
    ("lock or [%r10-8]", 1, 17, "expected ',' after the memory operand"),
    ("lock nand [%r1], %r2", 1, 6, "unknown atomic operation 'nand'"),
    ("lock", 1, 5, "expected an atomic operation after 'lock', found end of line"),
    ("call foo", 1, 6, "expected helper number, register, 'local' or 'runtime'"),
    ("call local", 1, 11, "expected jump offset (+N, -N) or label, found end of line"),
    ("mov %r0, 0xzz", 1, 10, "invalid number '0xzz'"),
    ("movsx832 %r0, 1", 1, 15, "expected source register"),
    ("be16 %r0, %r1", 1, 9, "unexpected ','"),
    ("addr_space_cast %r0, %r1, 70000, 0", 1, 27, "address space 70000 out of range"),
    ("1:", 1, 1, "expected a mnemonic or label, found '1'"),
])
def test_errors(text, line, column, message):
    with pytest.raises(AsmError) as info:
        assemble(text, filename="prog.s")
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert message in err.message
    assert err.filename == "prog.s"
    assert str(err).startswith(f"prog.s:{line}:{column}: ")


def test_label_too_far_for_a_16_bit_offset():
    text = "ja far\n" + "exit\n" * 40000 + "far: exit\n"
    with pytest.raises(AsmError) as info:
        assemble(text)
    assert (info.value.line, info.value.column) == (1, 4)
    assert "out of 16-bit offset range" in info.value.message


def test_error_points_into_the_data_file():
    """parse_test_file keeps line numbers, so errors name the .data file's line."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".data", delete=False) as f:
        f.write("# header\n-- asm\nmov %r0, 1\nbogus\n-- result\n0x1\n")
    try:
        case = parse_test_file(f.name)
        with pytest.raises(AsmError) as info:
            assemble(case.asm, filename=f.name)
        assert info.value.line == 4
    finally:
        Path(f.name).unlink()

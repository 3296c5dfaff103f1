"""LLVM syntax: the corpus against LLVM's bytes and text, round trips, syntax, errors."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import pybpf.asm
from pybpf.asm import llvm
from pybpf.errors import AsmError, BpfDecodeError
from pybpf.isa import FORMS, Instruction, Kind, decode, encode

DATA = Path(__file__).parent / "data"
_OBJDUMP_LINE = re.compile(r"^\s*\d+:\t(.*?)(?: <[^<>]*>)?$")

# Forms llvm-mc-19 cannot encode from text at all (spellings of later LLVMs or pybpf's own).
NOT_IN_LLVM19 = {f.name for f in FORMS if f.kind in (Kind.LOAD_ACQ, Kind.STORE_REL)} | {
    "call_kfunc"}


def objdump_lines(text: str) -> list[str]:
    """The instruction text of each objdump line: index, address annotations stripped."""
    out = []
    for line in text.splitlines():
        m = _OBJDUMP_LINE.match(line)
        if m:
            out.append(m.group(1))
    return out


def as_objdump_prints(insn: Instruction, text: str) -> str:
    """llvm-objdump-19 prints a local call like a helper call (``call 0x5``); pybpf writes
    ``call pc+0x5`` so the text keeps src_reg. Map that one difference back."""
    if insn.form.name == "call_local":
        return "call " + text[len("call pc"):].lstrip("+")
    return text


def make(form_name: str, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Instruction:
    """An instruction of a form, with only the form's operand fields set."""
    form = next(f for f in FORMS if f.name == form_name)
    ops = form.operands
    return Instruction.make(form_name, dst=dst if "dst" in ops else 0,
                            src=src if "src" in ops else None,
                            off=off if "off" in ops else None,
                            imm=imm if "imm" in ops else None)


# --- the corpus ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_text() -> str:
    return (DATA / "corpus.s").read_text()


@pytest.fixture(scope="module")
def corpus_bin() -> bytes:
    return (DATA / "corpus.bin").read_bytes()


def test_corpus_size(corpus_text):
    lines = [ln for ln in corpus_text.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#") and not ln.rstrip().endswith(":")]
    assert len(lines) >= 500


def test_corpus_covers_every_form_llvm_can_encode(corpus_bin):
    seen = {insn.form.name for insn in decode(corpus_bin)}
    assert seen == {f.name for f in FORMS} - NOT_IN_LLVM19


def test_corpus_assembles_to_llvm_bytes(corpus_text, corpus_bin):
    assert encode(llvm.assemble(corpus_text, filename="corpus.s")) == corpus_bin


def test_corpus_disassembles_to_objdump_text(corpus_bin):
    expected = objdump_lines((DATA / "corpus.objdump.txt").read_text())
    insns = decode(corpus_bin)
    assert len(insns) == len(expected)
    got = [as_objdump_prints(i, t) for i, t in zip(insns, llvm.disassemble(insns))]
    assert got == expected


def test_corpus_round_trips(corpus_bin):
    text = "\n".join(llvm.disassemble(decode(corpus_bin)))
    again = encode(llvm.assemble(text))
    assert again == corpus_bin
    assert llvm.disassemble(decode(again)) == text.split("\n")


# --- every form of the ISA table -------------------------------------------------------

_REG_SETS = [(0, 0), (1, 2), (10, 9), (5, 10)]
_OFFS = [0, 1, -1, 0x7FFF, -0x8000, 0x10, -0x200]
_IMMS = [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0x1234, -0x10000]
_IMM64S = [0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0x1122334455667788, 0xFFFFFFFF,
           0x100000000]


def _variants(form) -> list[Instruction]:
    out = []
    imms = _IMM64S if form.kind is Kind.LDDW else _IMMS
    for k in range(max(len(_OFFS), len(imms))):
        dst, src = _REG_SETS[k % len(_REG_SETS)]
        if form.kind is Kind.LD_ABS or form.kind is Kind.LD_IND:
            dst = 0
        out.append(make(form.name, dst, src, _OFFS[k % len(_OFFS)], imms[k % len(imms)]))
    return out


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_every_form_prints_and_round_trips(form):
    for insn in _variants(form):
        text = llvm.format_instruction(insn)
        back = llvm.assemble(text)
        assert back == [insn], text
        assert encode(back) == encode([insn])
        assert llvm.format_instruction(back[0]) == text


def test_disassemble_is_format_per_instruction():
    insns = [make("mov64_imm", 1, imm=5), make("lddw", 2, imm=7), make("exit")]
    assert llvm.disassemble(insns) == ["r1 = 0x5", "r2 = 0x7 ll", "exit"]
    assert pybpf.asm.disassemble(insns) == llvm.disassemble(insns)
    assert pybpf.asm.format_instruction(insns[0], "llvm") == "r1 = 0x5"


def test_invalid_instruction_is_not_printed():
    with pytest.raises(BpfDecodeError):
        llvm.format_instruction(Instruction(0xFF))
    with pytest.raises(BpfDecodeError):
        llvm.format_instruction(Instruction(0x95, dst=1))  # exit with a register


# --- exact text for a sample of forms ------------------------------------------------------

EXAMPLES = [
    (make("ldx32", 0, 1, 4), "w0 = *(u32 *)(r1 + 0x4)"),
    (make("ldx64", 0, 1, -8), "r0 = *(u64 *)(r1 - 0x8)"),
    (make("jsgt32_imm", 1, off=5, imm=-3), "if w1 s> -0x3 goto +0x5"),
    (make("ja", off=3), "goto +0x3"),
    (make("ja", off=-0x8000), "goto -0x8000"),
    (make("lddw", 1, imm=0), "r1 = 0x0 ll"),
    (make("lddw", 1, imm=(1 << 64) - 1), "r1 = -0x1 ll"),
    (make("call", imm=12), "call 0xc"),
    (make("atomic64_add", 10, 1, -8), "lock *(u64 *)(r10 - 0x8) += r1"),
    (make("be16", 0), "r0 = be16 r0"),
    (make("bswap64", 3), "r3 = bswap64 r3"),
    (make("movsx32_8", 0, 1), "w0 = (s8)w1"),
    (make("gotol", imm=0x11170), "gotol +0x11170"),
    (make("atomic64_fetch_add", 10, 0, -8), "r0 = atomic_fetch_add((u64 *)(r10 - 0x8), r0)"),
    (make("atomic32_xchg", 1, 2, 0), "w2 = xchg32_32(r1 + 0x0, w2)"),
    (make("atomic64_cmpxchg", 1, 2, 4), "r0 = cmpxchg_64(r1 + 0x4, r0, r2)"),
    (make("st16", 10, off=-2, imm=-1), "*(u16 *)(r10 - 0x2) = -0x1"),
    (make("stx8", 10, 3, -1), "*(u8 *)(r10 - 0x1) = w3"),
    (make("ldabs8", imm=5), "r0 = *(u8 *)skb[0x5]"),
    (make("ldind16", src=1), "r0 = *(u16 *)skb[r1]"),
    (make("ldxs16", 1, 2, 6), "r1 = *(s16 *)(r2 + 0x6)"),
    (make("may_goto", off=-1), "may_goto -0x1"),
    (make("callx", 3), "callx r3"),
    (make("addr_space_cast", 1, 2, imm=0x10002), "r1 = addr_space_cast(r2, 0x1, 0x2)"),
    (make("lddw_map_fd", 1, imm=5), "ld_pseudo\tr1, 0x1, 0x5"),
    (make("lddw_map_value", 1, imm=0xFFFFFFFF), "ld_pseudo\tr1, 0x2, 0xffffffff"),
    # Forms llvm-objdump-19 cannot print (or prints without all their fields).
    (make("load_acquire64", 0, 1, 0), "r0 = load_acquire((u64 *)(r1 + 0x0))"),
    (make("load_acquire8", 0, 10, -1), "w0 = load_acquire((u8 *)(r10 - 0x1))"),
    (make("store_release16", 1, 2, 0), "store_release((u16 *)(r1 + 0x0), w2)"),
    (make("store_release64", 1, 2, 8), "store_release((u64 *)(r1 + 0x8), r2)"),
    (make("call_local", imm=5), "call pc+0x5"),
    (make("call_local", imm=-1), "call pc-0x1"),
    (make("call_kfunc", imm=0x1234), "call kfunc(0x1234)"),
    (make("call_kfunc", imm=0x1234, off=2), "call kfunc(0x1234, 0x2)"),
    (make("ldind32", src=4, imm=14), "r0 = *(u32 *)skb[r4 + 0xe]"),
    (make("ldind8", src=4, imm=-2), "r0 = *(u8 *)skb[r4 - 0x2]"),
    (make("lddw_map_value", 1, imm=0x0000001000000005), "ld_pseudo\tr1, 0x2, 0x5, 0x10"),
]


@pytest.mark.parametrize("insn,text", EXAMPLES, ids=[t for _, t in EXAMPLES])
def test_format_examples(insn, text):
    assert llvm.format_instruction(insn) == text
    assert llvm.assemble(text) == [insn]


# --- what the assembler accepts ------------------------------------------------------------

ACCEPTED = [
    # decimal, hex, octal, binary, character, expressions
    ("r0 = 5", "r0 = 0x5"),
    ("r0 = -5", "r0 = -0x5"),
    ("r0 = - 5", "r0 = -0x5"),
    ("r0 = 0xffffffff", "r0 = -0x1"),
    ("r0 = 0X1F", "r0 = 0x1f"),
    ("r0 = 017", "r0 = 0xf"),
    ("r0 = 0b101", "r0 = 0x5"),
    ("r0 = 'a'", "r0 = 0x61"),
    ("r0 = 5ll", "r0 = 0x5"),  # LLVM's lexer drops C integer suffixes: not the ll of lddw
    ("r0 = 0x10UL", "r0 = 0x10"),
    ("r0 = 0x10 ll", "r0 = 0x10 ll"),
    ("w3 = xchg32_32(r7 + 0x14efw3)", "w3 = xchg32_32(r7 + 0x14ef, w3)"),
    ("r0 = 1+2", "r0 = 0x3"),
    ("r0 += 5 * 2", "r0 += 0xa"),
    ("r0 = 2 * (1 + 2)", "r0 = 0x6"),
    ("r0 = 1 << 4 | 1", "r0 = 0x11"),
    ("r0 = -7 / 2", "r0 = -0x3"),
    ("r0 = -7 % 2", "r0 = -0x1"),
    ("r0 = 1 + ~1", "r0 = -0x1"),
    ("r0 = -0x80000000", "r0 = -0x80000000"),
    ("w0 = 0x80000000", "w0 = -0x80000000"),
    ("r1 = 0xffffffffffffffff ll", "r1 = -0x1 ll"),
    ("r1 = -0x8000000000000000 ll", "r1 = -0x8000000000000000 ll"),
    # whitespace: none, lots, tabs; operators split as LLVM splits them
    ("r0=*(u32*)(r1+4)", "w0 = *(u32 *)(r1 + 0x4)"),
    ("  r0  =  *  ( u32 * ) ( r1 + 4 )  ", "w0 = *(u32 *)(r1 + 0x4)"),
    ("\tr1\t+=\tr2", "r1 += r2"),
    ("r1 + = r2", "r1 += r2"),
    ("r1 s >>= 3", "r1 s>>= 0x3"),
    ("r1 s>>=3", "r1 s>>= 0x3"),
    ("if r1 > = r2 goto +1", "if r1 >= r2 goto +0x1"),
    ("if r1>r2 goto+1", "if r1 > r2 goto +0x1"),
    ("goto 5", "goto +0x5"),
    ("goto - 5", "goto -0x5"),
    ("*(u64 *)(r10 - 8) = r1", "*(u64 *)(r10 - 0x8) = r1"),
    ("*(u64 *)(r10 8) = r1", "*(u64 *)(r10 + 0x8) = r1"),  # llvm-mc takes it too
    ("r0 = *(u32 *)(r1 + 1 + 2)", "w0 = *(u32 *)(r1 + 0x3)"),
    # register widths llvm-mc also accepts (printed as objdump prints them)
    ("r1 = *(u8 *)(r2 + 0)", "w1 = *(u8 *)(r2 + 0x0)"),
    ("*(u16 *)(r1 + 0) = r2", "*(u16 *)(r1 + 0x0) = w2"),
    ("lock *(u32 *)(r1 + 0) += r2", "lock *(u32 *)(r1 + 0x0) += w2"),
    # case: llvm-mc takes upper case for the leading keyword or register
    ("IF r1 > r2 goto +1", "if r1 > r2 goto +0x1"),
    ("Exit", "exit"),
    ("R0 = 1", "r0 = 0x1"),
    ("MAY_GOTO +1", "may_goto +0x1"),
    # comments
    ("r0 = 1 # comment", "r0 = 0x1"),
    ("r0 = 1 // comment", "r0 = 0x1"),
    ("/* c */ r0 = 1 /* d */", "r0 = 0x1"),
    ("r0 = /* inside */ 1", "r0 = 0x1"),
    # lddw forms
    ("r1 = 5 ll", "r1 = 0x5 ll"),
    ("ld_pseudo r1, 1, 5", "ld_pseudo\tr1, 0x1, 0x5"),
    ("ld_pseudo r1, 1, -1", "ld_pseudo\tr1, 0x1, 0xffffffff"),
    ("ld_pseudo r1, 0, 5", "r1 = 0x5 ll"),
    ("ld_pseudo r2 2 7 9", "ld_pseudo\tr2, 0x2, 0x7, 0x9"),  # commas are optional, as in LLVM
    ("r0 = *(u8 *)skb[-1]", "r0 = *(u8 *)skb[-0x1]"),
    ("r0 = *(u8 *)skb[0xffffffff]", "r0 = *(u8 *)skb[-0x1]"),
    ("call -1", "call -0x1"),
    ("call 0xffffffff", "call -0x1"),
    ("r1 = addr_space_cast(r2, 5, 7)", "r1 = addr_space_cast(r2, 0x5, 0x7)"),
    ("gotol +70000", "gotol +0x11170"),  # llvm-mc-19 takes only 16 bits here
]


@pytest.mark.parametrize("source,text", ACCEPTED, ids=[s for s, _ in ACCEPTED])
def test_accepted_syntax(source, text):
    assert llvm.disassemble(llvm.assemble(source)) == [text]


def test_statement_separator_and_blank_lines():
    src = "\n\n  r0 = 1; r1 = 2 ;; exit ;\n\n"
    assert llvm.disassemble(llvm.assemble(src)) == ["r0 = 0x1", "r1 = 0x2", "exit"]


def test_multiline_block_comment_keeps_line_numbers():
    with pytest.raises(AsmError) as e:
        llvm.assemble("/* one\n two */ r0 = 1\nr0 = r11")
    assert (e.value.line, e.value.column) == (3, 6)


def test_ignored_directives():
    src = ".text\n.globl f\n.p2align 3\nf:\n r0 = 0\n exit\n"
    assert llvm.disassemble(llvm.assemble(src)) == ["r0 = 0x0", "exit"]


def test_empty_input():
    assert llvm.assemble("") == []
    assert llvm.assemble("# nothing\n\n") == []


# --- labels ----------------------------------------------------------------------------------


def test_labels_resolve_to_slot_offsets():
    src = """
    start:
        r1 = 0x1122334455667788 ll      # two slots
        if r1 > r2 goto out
        if w1 s< -5 goto start
        gotol out
        may_goto start
        call func
        goto out
    out:
        exit
    func: r0 = 0
        exit
    """
    insns = llvm.assemble(src, filename="prog.s")
    assert llvm.disassemble(insns) == [
        "r1 = 0x1122334455667788 ll",
        "if r1 > r2 goto +0x5",
        "if w1 s< -0x5 goto -0x4",
        "gotol +0x3",
        "may_goto -0x6",
        "call pc+0x2",
        "goto +0x0",
        "exit",
        "r0 = 0x0",
        "exit",
    ]
    assert insns[0].symbol == "start" and insns[7].symbol == "out" and insns[8].symbol == "func"
    assert insns[1].reference == "out" and insns[5].reference == "func"
    assert insns[1].line == "prog.s:4"


def test_label_after_last_instruction_and_local_labels():
    insns = llvm.assemble("goto .Lend\nr0 = 1\n.Lend:")
    assert llvm.disassemble(insns) == ["goto +0x1", "r0 = 0x1"]


def test_numeric_labels():
    src = "1:\n r0 = 1\n if r0 > 2 goto 1b\n goto 1f\n r0 = 2\n1: exit\n goto 1b"
    assert llvm.disassemble(llvm.assemble(src)) == [
        "r0 = 0x1", "if r0 > 0x2 goto -0x2", "goto +0x1", "r0 = 0x2", "exit", "goto -0x2"]


def test_several_labels_on_one_line():
    insns = llvm.assemble("a: b: r0 = 1\n goto a\n goto b\n r0 = 1; c: exit\n goto c")
    assert llvm.disassemble(insns) == ["r0 = 0x1", "goto -0x2", "goto -0x3", "r0 = 0x1",
                                       "exit", "goto -0x2"]


# --- errors ----------------------------------------------------------------------------------

ERRORS = [
    ("r0 = r11", 1, 6, "expected register, got 'r11'"),
    ("r11 = 1", 1, 1, "expected register, got 'r11'"),
    ("exit\nfoo r1", 2, 1, "unknown instruction 'foo'"),
    ("r0 = 0x1ffffffff", 1, 6, "immediate 0x1ffffffff out of range (-0x80000000 to 0xffffffff)"),
    ("r0 = -0x80000001", 1, 6, "immediate -0x80000001 out of range (-0x80000000 to 0xffffffff)"),
    ("  goto foo", 1, 8, "undefined label 'foo'"),
    ("call foo", 1, 6, "undefined label 'foo'"),
    ("goto 1b", 1, 6, "undefined label '1b'"),
    ("goto +0x8000", 1, 6, "jump offset 0x8000 out of range (-0x8000 to 0x7fff)"),
    ("goto far\n" + "r0 = 0\n" * 0x8000 + "far: exit", 1, 6,
     "jump offset 0x8000 to 'far' out of range (-0x8000 to 0x7fff)"),
    ("r0 = *(u64 *)(r1 + 0x8000)", 1, 18, "offset 0x8000 out of range (-0x8000 to 0x7fff)"),
    ("r0 = w1", 1, 6, "expected 64-bit register, got 'w1'"),
    ("w0 = r1", 1, 6, "expected 32-bit register, got 'r1'"),
    ("if r1 s> w2 goto +1", 1, 10, "expected 64-bit register, got 'w2'"),
    ("r0 = -r1", 1, 7,
     "expected r0, got 'r1' (both operands must be the same register)"),
    ("r0 = be16 r1", 1, 11,
     "expected r0, got 'r1' (both operands must be the same register)"),
    ("r3 = cmpxchg_64(r1 + 0, r3, r2)", 1, 1, "expected r0, got 'r3'"),
    ("lock *(u32 *)(r1 + 0) &= r2", 1, 26, "expected 32-bit register, got 'r2'"),
    ("w1 = 5 ll", 1, 8, "expected end of line, got 'll'"),
    ("exit 5", 1, 6, "expected end of line, got '5'"),
    ("if r1 > r2", 1, 11, "expected 'goto', got end of line"),
    ("if r1 > r2 goto", 1, 16, "expected immediate, got end of line"),
    ("r0 = *(u64 *)(r1)", 1, 17, "expected immediate, got ')'"),
    ("r0 = foo", 1, 6, "expected constant immediate, got symbol 'foo'"),
    ("r0 = 09", 1, 6, "invalid integer '09'"),
    ("r0 = ~1", 1, 6, "unexpected '~'"),
    ("r0 = 1 @ x", 1, 8, "unexpected character '@'"),
    ("r0 = 1/0", 1, 7, "division by zero in expression"),
    ("r0 = 0x10000000000000000 ll", 1, 6, "integer '0x10000000000000000' too large"),
    ("ld_pseudo r1, 7, 5", 1, 15, "ld_pseudo source 0x7 out of range (0x0 to 0x6)"),
    ("r1 = addr_space_cast(r2, 0x10000, 0)", 1, 26,
     "immediate 0x10000 out of range (0x0 to 0xffff)"),
    (".byte 1", 1, 1, "unsupported directive '.byte'"),
    ("r0 = 1; r0 = 1 junk", 1, 16, "expected 'll' or end of line, got 'junk'"),
    ("a: exit\na: exit", 2, 1, "label 'a' already defined on line 1"),
    ("*(u8 *)(w1 + 0) = w2", 1, 9, "expected 64-bit register, got 'w1'"),
    ("call pc+0x80000000", 1, 8, "call offset 0x80000000 out of range (-0x80000000 to 0x7fffffff)"),
    ("r2 = atomic_fetch_add((u64 *)(r1 + 0), r3)", 1, 40,
     "expected r2, got 'r3' (both operands must be the same register)"),
]


@pytest.mark.parametrize("source,line,column,message", ERRORS,
                         ids=[m for *_, m in ERRORS])
def test_errors(source, line, column, message):
    with pytest.raises(AsmError) as e:
        llvm.assemble(source, filename="bad.s")
    err = e.value
    assert (err.line, err.column, err.message) == (line, column, message)
    assert err.filename == "bad.s"
    assert str(err).startswith(f"bad.s:{line}:{column}: {message}")


def test_error_names_what_was_expected():
    with pytest.raises(AsmError) as e:
        llvm.assemble("r0 =")
    assert e.value.message.startswith("expected register, immediate")
    assert e.value.source == "r0 ="


def test_error_through_dispatcher():
    with pytest.raises(AsmError):
        pybpf.asm.assemble("bogus", syntax="llvm")


# --- speed -------------------------------------------------------------------------------------


def test_assembles_10000_lines_quickly(corpus_text):
    label_ref = re.compile(r"(goto|gotol|may_goto|call)\s+[A-Za-z_.]")
    lines = [ln for ln in corpus_text.splitlines()
             if ln.strip() and not ln.rstrip().endswith(":") and not label_ref.search(ln)]
    text = "\n".join((lines * (10000 // len(lines) + 1))[:10000])
    start = time.perf_counter()
    insns = llvm.assemble(text)
    elapsed = time.perf_counter() - start
    assert len(insns) >= 10000
    assert elapsed < 1.0, f"10,000 lines took {elapsed:.2f}s"


# --- the shared helpers ----------------------------------------------------------------------


def test_common_helpers():
    from pybpf.asm import _common as c

    assert [c.parse_int(t) for t in ("0", "17", "-5", "+5", "0x1F", "0b101", "0o17", "017")] == \
        [0, 17, -5, 5, 31, 5, 15, 15]
    assert c.parse_int("09") is None and c.parse_int("0x") is None and c.parse_int("5h") is None
    assert [c.hex_imm(v) for v in (0, 8, -8)] == ["0x0", "0x8", "-0x8"]
    assert c.to_signed(0xFFFFFFFF, 32) == -1 and c.to_signed(0x7FFF, 16) == 0x7FFF
    assert c.fits_signed(-0x8000, 16) and not c.fits_signed(0x8000, 16)
    assert c.fits_either(0xFFFFFFFF, 32) and not c.fits_either(1 << 32, 32)
    assert c.blank_block_comments("a /* b\nc */ d") == "a     \n     d"
    err = c.asm_error("boom", 2, 3, "x = y\n", "f.s")
    assert (err.line, err.column, err.source) == (2, 3, "x = y")
    assert str(err).splitlines()[0] == "f.s:2:3: boom"

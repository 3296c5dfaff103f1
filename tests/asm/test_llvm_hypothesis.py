"""Property tests: any valid instruction survives format_instruction -> assemble."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm import llvm
from pybpf.isa import FORMS, Instruction, Kind, decode, encode

regs = st.integers(0, 10)
offs = st.integers(-(1 << 15), (1 << 15) - 1)
imm32 = st.integers(-(1 << 31), (1 << 31) - 1)
imm64 = st.integers(0, (1 << 64) - 1)


@st.composite
def instructions(draw) -> Instruction:
    form = draw(st.sampled_from(FORMS))
    ops = form.operands
    return Instruction.make(
        form.name,
        dst=draw(regs) if "dst" in ops else 0,
        src=draw(regs) if "src" in ops else None,
        off=draw(offs) if "off" in ops else None,
        imm=draw(imm64 if form.kind is Kind.LDDW else imm32) if "imm" in ops else None,
    )


@settings(max_examples=2000, deadline=None)
@given(instructions())
def test_instruction_round_trips(insn):
    text = llvm.format_instruction(insn)
    assert llvm.assemble(text) == [insn]
    assert encode(llvm.assemble(text)) == encode([insn])


@settings(max_examples=200, deadline=None)
@given(st.lists(instructions(), min_size=1, max_size=40))
def test_program_round_trips(insns):
    text = "\n".join(llvm.disassemble(insns))
    code = encode(llvm.assemble(text))
    assert code == encode(insns)
    assert llvm.disassemble(decode(code)) == text.split("\n")


_PADDING = st.sampled_from(["", " ", "  ", "\t", " /* c */ "])


@settings(max_examples=500, deadline=None)
@given(instructions(), st.data())
def test_spacing_and_comments_do_not_matter(insn, data):
    """Extra blanks around operators and a trailing comment leave the bytes unchanged."""
    text = llvm.format_instruction(insn)
    pad = data.draw(_PADDING)
    spaced = text.replace(" = ", f" {pad}={pad} ").replace("(", f"({pad}")
    comment = data.draw(st.sampled_from(["", " # note", " // note", " /* note */"]))
    assert llvm.assemble(spaced + comment) == [insn]

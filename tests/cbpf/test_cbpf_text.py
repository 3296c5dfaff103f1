"""Text formats: ``tcpdump -d``/``-dd``/``-ddd`` reproduced exactly and read back, libpcap's
``bpf_image`` for every opcode, and bpf_asm syntax with its errors."""

from __future__ import annotations

import pytest

from pybpf.cbpf import (
    CInsn, assemble, disassemble, dump_bpf_asm, dump_c, dump_decimal, parse_dd, parse_ddd,
)
from pybpf.cbpf.insn import SKF_AD_OFF
from pybpf.cbpf.text import image
from pybpf.errors import AsmError, BpfError

import cbpf_support as S

def shown(program: list[CInsn]) -> list[CInsn]:
    """The program with the fields its text does not show zeroed."""
    out = []
    for n, insn in enumerate(program):
        text = image(insn, n)
        keep_k = any(ch.isdigit() for ch in text.split("jt")[0][6:]) and "unimp" not in text
        if insn.code & 0x07 in (0x04, 0x05) and insn.code & 0x08:      # alu x / jxx x
            keep_k = False
        out.append(CInsn(insn.code, insn.jt, insn.jf, insn.k if keep_k else 0))
    return out


needs_tcpdump = pytest.mark.skipif(not S.have_tcpdump(), reason="tcpdump is not installed")


@needs_tcpdump
@pytest.mark.parametrize("expression", S.EXPRESSIONS)
def test_tcpdump_formats(expression: str) -> None:
    d, dd, ddd = (S.tcpdump(flag, expression) for flag in ("-d", "-dd", "-ddd"))
    program = parse_ddd(ddd)
    assert parse_dd(dd) == program
    assert disassemble(program) == d.splitlines()
    assert "\n".join(dump_c(program)) + "\n" == dd
    assert "\n".join(dump_decimal(program)) + "\n" == ddd
    # the text leaves out fields the instruction ignores (libpcap leaves k set in a tax)
    assert assemble(d) == shown(program)
    assert assemble("\n".join(disassemble(program, style="asm"))) == shown(program)
    assert parse_ddd(dump_bpf_asm(program)) == program


@pytest.mark.skipif(S.libpcap() is None, reason="libpcap is not installed")
def test_every_opcode_prints_like_bpf_image() -> None:
    """All 65536 codes (several k, jt, jf, n each) against libpcap's own bpf_image."""
    ad = SKF_AD_OFF & 0xFFFFFFFF
    cases = [(0, 0, 0, 0), (ad + 4, 3, 255, 999), (ad + 68, 1, 2, 1000), (0x80000000, 7, 9, 5),
             (0xFFFFFFFF, 0, 0, 12345), (ad + 60, 255, 0, 7), (ad + 2, 0, 1, 3)]
    for code in range(0x10000):
        for k, jt, jf, n in cases:
            insn = CInsn(code, jt, jf, k)
            assert image(insn, n) == S.pcap_image(insn, n), insn


def test_asm_syntax() -> None:
    text = """
    # bpf_asm accepts '#' comment lines, ';' comments and /* blocks */
        ldh [12]            ; ethertype
        jne #0x800, drop
        ldb [23]
        jneq #17, drop      /* udp */
        ldxb 4*([14]&0xf)
        ldh [x + 16]
        jeq #9999, keep, drop
    keep:  ret #-1
    drop:  ret #0
    """
    prog = assemble(text)
    assert prog == [CInsn(0x28, 0, 0, 12), CInsn(0x15, 0, 6, 0x800), CInsn(0x30, 0, 0, 23),
                    CInsn(0x15, 0, 4, 17), CInsn(0xB1, 0, 0, 14), CInsn(0x48, 0, 0, 16),
                    CInsn(0x15, 0, 1, 9999), CInsn(0x06, 0, 0, 0xFFFFFFFF), CInsn(0x06)]
    ad = SKF_AD_OFF & 0xFFFFFFFF
    more = assemble("""
        ld #len
        ldx #len
        ld len
        ldi #5
        ldxi 7
        ld #proto
        ldh #vlan_tci
        ldb #rand
        ld [proto]
        ld M[3]
        ldx M[0b11]
        st M[010]
        stx M[0x3]
        ldx 4*([14]&0xf)
        ld [%x + -4]
        add %x
        sub #-1
        lsh x
        neg
        tax
        txa
        jlt #3, l1
    l1: jle x, l2, l2
    l2: jset #1, l3
    l3: jmp end
        RET A
    end: ret %a
        ret x
    """)
    assert more == [
        CInsn(0x80), CInsn(0x81), CInsn(0x80), CInsn(0x00, 0, 0, 5), CInsn(0x01, 0, 0, 7),
        CInsn(0x20, 0, 0, ad), CInsn(0x28, 0, 0, ad + 44), CInsn(0x30, 0, 0, ad + 56),
        CInsn(0x20, 0, 0, ad), CInsn(0x60, 0, 0, 3), CInsn(0x61, 0, 0, 3), CInsn(0x02, 0, 0, 8),
        CInsn(0x03, 0, 0, 3), CInsn(0xB1, 0, 0, 14), CInsn(0x40, 0, 0, 0xFFFFFFFC), CInsn(0x0C),
        CInsn(0x14, 0, 0, 0xFFFFFFFF), CInsn(0x6C), CInsn(0x84), CInsn(0x07), CInsn(0x87),
        CInsn(0x35, 0, 0, 3), CInsn(0x2D, 0, 0, 0), CInsn(0x45, 0, 0, 1), CInsn(0x05, 0, 0, 1),
        CInsn(0x16), CInsn(0x16), CInsn(0x0E)]


def test_asm_style_round_trips_ancillary_and_len() -> None:
    prog = assemble("ld #proto\n ldx #len\n ld #vlan_avail\n jeq #1, a, b\n a: ret a\n b: ret #0")
    text = disassemble(prog, style="asm")
    assert assemble("\n".join(text)) == prog
    assert disassemble(prog)[0] == "(000) ld       [proto]"
    assert disassemble(prog)[1] == "(001) unimp    0x81"          # as libpcap prints it
    with pytest.raises(BpfError):
        disassemble([CInsn(0xFF)], style="asm")


@pytest.mark.parametrize("text, line, column, message", [
    ("ldh [12]\n jeq #1, nowhere\n ret #0", 2, 10, "undefined label"),
    ("ldh [12\n ret #0", 1, 8, "expected ']'"),
    ("  frob #1", 1, 3, "unknown instruction"),
    ("ld #0x1ffffffff\nret #0", 1, 5, "does not fit"),
    ("ldxb 3*([14]&0xf)", 1, 6, "only 4*([k]&0xf)"),
    ("ret #1 #2", 1, 8, "unexpected"),
    ("x: ret #0\nx: ret #1", 2, 1, "defined twice"),
    ("(000) ldh [12]\n(005) ret #0", 2, 2, "is number 1"),
    ("(000) jeq #1 jt 300 jf 1\n(001) ret #0", 1, 17, "cannot reach"),
    ("ld $3", 1, 4, "unexpected character"),
    ("ld #09", 1, 5, "not an octal number"),
])
def test_asm_errors_name_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(AsmError) as info:
        assemble(text, filename="f.bpf")
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert message in err.message
    assert str(err).startswith(f"f.bpf:{line}:{column}:")


def test_dd_and_ddd_readers() -> None:
    prog = [CInsn(0x28, 0, 0, 12), CInsn(0x15, 0, 1, 0x800), CInsn(0x06, 0, 0, 0xFFFF),
            CInsn(0x06)]
    c_source = "struct sock_filter code[] = {\n" + "\n".join(
        f"\t{line} /* {i} */" for i, line in enumerate(dump_c(prog))) + "\n};\n"
    assert parse_dd(c_source) == prog
    assert parse_dd("{ 0x28,  0,  0, 0x0000000c },\n{ 0x06, 0, 0, 0xffff }") == prog[:1] + [prog[2]]
    assert parse_ddd("4\n40 0 0 12\n21 0 1 2048\n6 0 0 65535\n6 0 0 0\n") == prog
    assert parse_ddd("4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0,") == prog
    assert dump_bpf_asm(prog) == "4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0,"
    with pytest.raises(AsmError) as info:
        parse_ddd("3\n40 0 0 12\n6 0 0 0\n")
    assert info.value.line == 3
    with pytest.raises(AsmError) as info:
        parse_ddd("1\n40 0 zero 12\n")
    assert (info.value.line, info.value.column) == (2, 6)
    with pytest.raises(AsmError) as info:
        parse_dd("{ 0x28, 0, 0 },")
    assert info.value.line == 1
    with pytest.raises(AsmError):
        parse_dd("{ 0x28, 0, 300, 1 },")

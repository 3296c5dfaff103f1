"""Classic BPF as text: tcpdump's ``-d``/``-dd``/``-ddd`` formats and bpf_asm's syntax.

* :func:`disassemble` prints ``tcpdump -d`` lines exactly (libpcap's ``bpf_image``: padded
  mnemonic and operand, absolute jump targets, ``unimp`` for opcodes it has no name for,
  Linux ancillary offsets by name), or bpf_asm source (``style="asm"``) with labels.
* :func:`dump_c` / :func:`dump_decimal` are ``-dd`` / ``-ddd``; :func:`dump_bpf_asm` is
  ``bpf_asm``'s one-line ``count,code jt jf k,...`` (what ``xt_bpf`` takes).
* :func:`parse_dd`, :func:`parse_ddd` read those back; :func:`assemble` reads both
  ``tcpdump -d`` listings and bpf_asm source (labels, ``jeq #k, Lt, Lf``, ``jne``/``jlt``/
  ``jle`` with their operands swapped, ``#len``, ``#proto``..., ``4*([k]&0xf)``, ``;`` and
  ``/* */`` comments), raising :class:`AsmError` with line and column.
"""

from __future__ import annotations

import re
from typing import Sequence

from pybpf.cbpf.insn import (
    A, ABS, ADD, ALU, AND, ANCILLARY_NAMES, ASM_ANCILLARY, B, BPF_CLASS, BPF_MODE, BPF_OP,
    BPF_SIZE, BPF_SRC, DIV, H, IMM, IND, JA, JEQ, JGE, JGT, JMP, JSET, K, LD, LDX, LEN, LSH,
    MEM, MISC, MOD, MSH, MUL, NEG, OR, RET, RSH, SKF_AD_MAX, SKF_AD_OFF, ST, STX, SUB, TAX, TXA,
    W, X, XOR, CInsn, as_program, is_conditional_jump,
)
from pybpf.errors import AsmError, BpfError

_M32 = 0xFFFFFFFF
_ALU_NAMES = {ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", MOD: "mod", AND: "and",
              OR: "or", XOR: "xor", LSH: "lsh", RSH: "rsh"}
_JMP_NAMES = {JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}
_SIZE_NAMES = {W: "ld", H: "ldh", B: "ldb"}
# bpf_image prints these ALU immediates signed (%d), the others as hex (#0x%x).
_SIGNED_ALU = (ADD, SUB, MUL, DIV, MOD, LSH, RSH)


def _s32(k: int) -> int:
    k &= _M32
    return k - (1 << 32) if k & 0x80000000 else k


def _abs_operand(k: int) -> str:
    off = (k & _M32) - (SKF_AD_OFF & _M32)
    if 0 <= off < SKF_AD_MAX and off in ANCILLARY_NAMES:
        return f"[{ANCILLARY_NAMES[off]}]"
    return f"[{_s32(k)}]"


def image(insn: CInsn, n: int) -> str:
    """One line of ``tcpdump -d`` for instruction ``n`` (libpcap's ``bpf_image``)."""
    code, k = insn.code, insn.k & _M32
    cls, op = BPF_CLASS(code), BPF_OP(code)
    name, operand = "unimp", f"0x{code:x}"
    if code > 0xFF:
        pass                         # bpf_image switches on the whole 16-bit code
    elif code == RET | K:
        name, operand = "ret", f"#{_s32(k)}"
    elif code == RET | A:
        name, operand = "ret", ""
    elif cls == LD and BPF_MODE(code) == ABS and BPF_SIZE(code) in _SIZE_NAMES:
        name, operand = _SIZE_NAMES[BPF_SIZE(code)], _abs_operand(k)
    elif cls == LD and BPF_MODE(code) == IND and BPF_SIZE(code) in _SIZE_NAMES:
        name, operand = _SIZE_NAMES[BPF_SIZE(code)], f"[x + {_s32(k)}]"
    elif code == LD | W | LEN:
        name, operand = "ld", "#pktlen"
    elif code in (LD | IMM, LDX | IMM):
        name, operand = ("ld" if cls == LD else "ldx"), f"#0x{k:x}"
    elif code == LDX | MSH | B:
        name, operand = "ldxb", f"4*([{_s32(k)}]&0xf)"
    elif code in (LD | MEM, LDX | MEM, ST, STX):
        name = {LD | MEM: "ld", LDX | MEM: "ldx", ST: "st", STX: "stx"}[code]
        operand = f"M[{_s32(k)}]"
    elif code == JMP | JA:
        name, operand = "ja", str(_s32(n + 1 + _s32(k)))
    elif cls == JMP and op in _JMP_NAMES:
        name, operand = _JMP_NAMES[op], ("x" if BPF_SRC(code) == X else f"#0x{k:x}")
    elif cls == ALU and op in _ALU_NAMES:
        name = _ALU_NAMES[op]
        if BPF_SRC(code) == X:
            operand = "x"
        else:
            operand = f"#{_s32(k)}" if op in _SIGNED_ALU else f"#0x{k:x}"
    elif code == ALU | NEG:
        name, operand = "neg", ""
    elif code == MISC | TAX:
        name, operand = "tax", ""
    elif code == MISC | TXA:
        name, operand = "txa", ""
    if cls == JMP and op != JA:
        return f"({n:03d}) {name:<8} {operand:<16} jt {n + 1 + insn.jt}\tjf {n + 1 + insn.jf}"
    return f"({n:03d}) {name:<8} {operand}"


def disassemble(program: Sequence[CInsn] | bytes, *, style: str = "tcpdump") -> list[str]:
    """The program as text: ``tcpdump -d`` lines, or bpf_asm source (``style="asm"``)."""
    insns = as_program(program)
    if style == "tcpdump":
        return [image(insn, n) for n, insn in enumerate(insns)]
    if style == "asm":
        return _asm_lines(insns)
    raise BpfError(f"unknown disassembly style {style!r}: 'tcpdump' or 'asm'")


def _asm_lines(insns: list[CInsn]) -> list[str]:
    targets: set[int] = set()
    for n, insn in enumerate(insns):
        if insn.code == JMP | JA:
            targets.add(n + 1 + _s32(insn.k))
        elif is_conditional_jump(insn.code):
            targets.update((n + 1 + insn.jt, n + 1 + insn.jf))
    lines = []
    for n, insn in enumerate(insns):
        text = _asm_text(insn, n)
        lines.append(f"L{n}: {text}" if n in targets else text)
    return lines


def _asm_text(insn: CInsn, n: int) -> str:
    code, k = insn.code, insn.k & _M32
    cls, op = BPF_CLASS(code), BPF_OP(code)
    if code == LDX | W | LEN:
        return "ldx #len"
    if code == LD | W | LEN:
        return "ld #len"
    if code == RET | A:
        return "ret a"
    if code == RET | X:
        return "ret x"
    if code == RET | K:
        return f"ret #{k:#x}" if k > 0xFFFF else f"ret #{k}"
    if code == ALU | NEG:
        return "neg"
    if code == JMP | JA:
        return f"ja L{n + 1 + _s32(k)}"
    if code <= 0xFF and cls == JMP and op in _JMP_NAMES:
        src = "x" if BPF_SRC(code) == X else f"#{k:#x}"
        return f"{_JMP_NAMES[op]} {src}, L{n + 1 + insn.jt}, L{n + 1 + insn.jf}"
    if code <= 0xFF and cls == LD and BPF_MODE(code) == ABS and BPF_SIZE(code) in _SIZE_NAMES:
        off = k - (SKF_AD_OFF & _M32)
        name = _SIZE_NAMES[BPF_SIZE(code)]
        if off in ANCILLARY_NAMES:
            spelling = next(s for s, v in ASM_ANCILLARY.items() if v == off)
            return f"{name} #{spelling}"
        return f"{name} [{k}]"
    line = image(insn, n)[6:].split()
    if line and line[0] != "unimp":
        return " ".join(line)
    raise BpfError(f"instruction {n}: opcode {code:#x} has no bpf_asm spelling")


def dump_c(program: Sequence[CInsn] | bytes) -> list[str]:
    """``tcpdump -dd``: ``{ 0x28, 0, 0, 0x0000000c },`` per instruction."""
    return [f"{{ 0x{i.code:x}, {i.jt}, {i.jf}, 0x{i.k & _M32:08x} }}," for i in as_program(program)]


def dump_decimal(program: Sequence[CInsn] | bytes) -> list[str]:
    """``tcpdump -ddd``: the count, then ``code jt jf k`` per instruction."""
    insns = as_program(program)
    return [str(len(insns))] + [f"{i.code} {i.jt} {i.jf} {i.k & _M32}" for i in insns]


def dump_bpf_asm(program: Sequence[CInsn] | bytes) -> str:
    """bpf_asm's default output: ``4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0,``."""
    insns = as_program(program)
    return f"{len(insns)}," + "".join(f"{i.code} {i.jt} {i.jf} {i.k & _M32}," for i in insns)


# -- readers -------------------------------------------------------------------------------

_NUMBER = r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)"
_DD_ENTRY = re.compile(r"\{\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER
                       + r")\s*,\s*(" + _NUMBER + r")\s*\}")


def _c_number(text: str) -> int:
    t = text.lower().lstrip("+")
    neg = t.startswith("-")
    t = t.lstrip("-")
    if t.startswith("0x"):
        v = int(t, 16)
    elif t.startswith("0b"):
        v = int(t[2:], 2)
    elif len(t) > 1 and t.startswith("0"):
        v = int(t, 8)
    else:
        v = int(t)
    return -v if neg else v


def _make(code: int, jt: int, jf: int, k: int, line: int, column: int, src: str,
          filename: str | None) -> CInsn:
    if not 0 <= code <= 0xFFFF:
        raise AsmError(f"code {code:#x} does not fit in 16 bits", line, column, src, filename)
    for what, v in (("jt", jt), ("jf", jf)):
        if not 0 <= v <= 255:
            raise AsmError(f"{what} {v} does not fit in 8 bits", line, column, src, filename)
    if not -(1 << 31) <= k <= _M32:
        raise AsmError(f"k {k} does not fit in 32 bits", line, column, src, filename)
    return CInsn(code, jt, jf, k & _M32)


def parse_dd(text: str, *, filename: str | None = None) -> list[CInsn]:
    """Instructions from ``tcpdump -dd`` / ``bpf_asm -c`` output (C initializers)."""
    out: list[CInsn] = []
    for no, src in enumerate(text.splitlines(), 1):
        body = re.sub(r"/\*.*?\*/|//.*$", "", src)
        pos = 0
        for m in _DD_ENTRY.finditer(body):
            code, jt, jf, k = (_c_number(g) for g in m.groups())
            out.append(_make(code, jt, jf, k, no, m.start() + 1, src, filename))
            pos = m.end()
        stray = body.find("{", pos)
        if stray >= 0 and _DD_ENTRY.match(body, stray) is None and body[stray + 1:].strip():
            raise AsmError("expected { code, jt, jf, k }", no, stray + 1, src, filename)
    if not out:
        raise AsmError("no { code, jt, jf, k } entries", 1, 1, None, filename)
    return out


def parse_ddd(text: str, *, filename: str | None = None) -> list[CInsn]:
    """Instructions from ``tcpdump -ddd`` output or bpf_asm's ``N,c jt jf k,...`` line."""
    tokens = [(m.group(), *_where(text, m.start())) for m in re.finditer(r"[^\s,]+", text)]
    if not tokens:
        raise AsmError("empty input: expected an instruction count", 1, 1, None, filename)
    values = []
    for tok, line, col in tokens:
        if not re.fullmatch(_NUMBER, tok):
            raise AsmError(f"expected a number, found {tok!r}", line, col,
                           text.splitlines()[line - 1], filename)
        values.append((_c_number(tok), line, col))
    count = values[0][0]
    rest = values[1:]
    if len(rest) != 4 * count:
        line, col = (rest[-1][1], rest[-1][2]) if rest else (values[0][1], values[0][2])
        raise AsmError(f"count says {count} instructions, found {len(rest) / 4:g}", line, col,
                       text.splitlines()[line - 1], filename)
    out = []
    for i in range(count):
        (code, line, col), (jt, _, _), (jf, _, _), (k, _, _) = rest[4 * i:4 * i + 4]
        out.append(_make(code, jt, jf, k, line, col, text.splitlines()[line - 1], filename))
    return out


def _where(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


from pybpf.cbpf.asm import assemble  # noqa: E402  (the assembler lives in asm.py)

__all__ = ["assemble", "disassemble", "dump_bpf_asm", "dump_c", "dump_decimal", "image",
           "parse_dd", "parse_ddd"]

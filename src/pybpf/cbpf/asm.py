"""The classic BPF assembler: ``tcpdump -d`` listings and bpf_asm source, line by line.

A line is either a ``tcpdump -d`` line (``(004) jeq #0x800 jt 5 jf 9``: targets are
absolute instruction numbers) or bpf_asm source (``l1: jeq #0x800, accept, drop``: targets
are labels; ``jne``/``jneq``, ``jlt``, ``jle`` are ``jeq``, ``jge``, ``jgt`` with the
targets swapped, and a missing false target falls through). Mnemonics and keywords are
case-insensitive, labels are not. Every error names the line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pybpf.cbpf.insn import (
    A, ABS, ADD, ALU, AND, ASM_ANCILLARY, ANCILLARY_NAMES, B, DIV, H, IMM, IND, JA, JEQ, JGE,
    JGT, JMP, JSET, K, LD, LDX, LEN, LSH, MEM, MISC, MOD, MSH, MUL, NEG, OR, RET, RSH,
    SKF_AD_OFF, ST, STX, SUB, TAX, TXA, W, X, XOR, CInsn,
)
from pybpf.errors import AsmError

_M32 = 0xFFFFFFFF
_TOKEN = re.compile(r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<p>[#%\[\]()+*&,:-]))")
_ALU = {"add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "mod": MOD, "and": AND, "or": OR,
        "xor": XOR, "lsh": LSH, "rsh": RSH}
# mnemonic -> (jump op, swap targets)
_JUMPS = {"jeq": (JEQ, False), "jgt": (JGT, False), "jge": (JGE, False), "jset": (JSET, False),
          "jne": (JEQ, True), "jneq": (JEQ, True), "jlt": (JGE, True), "jle": (JGT, True)}
_LOADS = {"ld": W, "ldh": H, "ldb": B}
_EXTENSIONS = {**ASM_ANCILLARY, **{name: off for off, name in ANCILLARY_NAMES.items()}}


@dataclass
class _Pending:
    """An instruction whose jump targets may still be labels."""

    insn: CInsn
    line: int
    column: int
    source: str
    jt: object = None          # label (str) or absolute target (int) or None
    jf: object = None
    ja: object = None


class _Line:
    def __init__(self, text: str, no: int, filename: str | None):
        self.text, self.no, self.filename = text, no, filename
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = _TOKEN.match(text, pos)
            if m is None:
                col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
                raise AsmError(f"unexpected character {text[col - 1]!r}", no, col, text, filename)
            kind = m.lastgroup or "p"
            self.tokens.append((kind, m.group(kind), m.start(kind) + 1))
            pos = m.end()
        self.i = 0

    def error(self, message: str, column: int | None = None) -> AsmError:
        if column is None:
            column = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text) + 1
        return AsmError(message, self.no, column, self.text, self.filename)

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[1].lower() == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> None:
        if not self.accept(text):
            raise self.error(f"expected {what or repr(text)}")

    def number(self, decimal: bool = False) -> int:
        sign = -1 if self.accept("-") else 1
        if sign == 1:
            self.accept("+")
        tok = self.peek()
        if tok is None or tok[0] != "num":
            raise self.error("expected a number")
        self.i += 1
        t = tok[1].lower()
        if t.startswith("0x"):
            v = int(t, 16)
        elif t.startswith("0b"):
            v = int(t[2:], 2)
        elif len(t) > 1 and t.startswith("0") and not decimal:
            if not set(t) <= set("01234567"):
                raise self.error(f"{tok[1]} is not an octal number", tok[2])
            v = int(t, 8)
        else:
            v = int(t)
        v *= sign
        if not -(1 << 31) <= v <= _M32:
            raise self.error(f"{tok[1]} does not fit in 32 bits", tok[2])
        return v & _M32

    def ident(self) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "id":
            self.i += 1
            return tok[1]
        return None

    def done(self) -> bool:
        return self.i >= len(self.tokens)


def assemble(text: str, *, filename: str | None = None) -> list[CInsn]:
    """Instructions from bpf_asm source or a ``tcpdump -d`` listing (or a mix)."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    pending: list[_Pending] = []
    labels: dict[str, int] = {}
    label_at: dict[str, tuple[int, int, str]] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        src = raw.split(";", 1)[0]
        if src.lstrip().startswith("#"):
            continue
        line = _Line(src, no, filename)
        tcpdump = False
        tok = line.peek()
        if tok is not None and tok[1] == "(" and line.peek(1) and line.peek(1)[0] == "num" \
                and line.peek(2) and line.peek(2)[1] == ")":
            line.i += 1
            column = line.peek()[2]
            index = line.number(decimal=True)
            line.expect(")")
            if index != len(pending):
                raise line.error(f"instruction ({index:03d}) is number {len(pending)}", column)
            tcpdump = True
        while (tok := line.peek()) is not None and tok[0] == "id" and line.peek(1) \
                and line.peek(1)[1] == ":":
            if tok[1] in labels:
                raise line.error(f"label {tok[1]!r} defined twice (first on line "
                                 f"{label_at[tok[1]][0]})", tok[2])
            labels[tok[1]] = len(pending)
            label_at[tok[1]] = (no, tok[2], src)
            line.i += 2
        if line.done():
            if tcpdump:
                raise line.error("expected an instruction")
            continue
        pending.append(_instruction(line, tcpdump))
    return _resolve(pending, labels, filename)


def _instruction(line: _Line, tcpdump: bool) -> _Pending:
    tok = line.peek()
    mnemonic = (line.ident() or "").lower()
    if not mnemonic:
        raise line.error("expected an instruction mnemonic")
    p = _Pending(CInsn(0), line.no, tok[2], line.text)
    code, k = _operands(line, mnemonic, tok[2])
    if mnemonic in ("ja", "jmp"):
        p.ja = _target(line, tcpdump)
    elif mnemonic in _JUMPS or (tcpdump and mnemonic == "unimp" and code & 7 == JMP
                                and code & 0xF0 != JA):
        if tcpdump:
            line.expect("jt")
            p.jt = _target(line, True)
            line.expect("jf")
            p.jf = _target(line, True)
        else:
            line.expect(",", "',' and a label")
            first = _target(line, False)
            second = _target(line, False) if line.accept(",") else None
            if _JUMPS.get(mnemonic, (0, False))[1]:
                p.jf, p.jt = first, second
            else:
                p.jt, p.jf = first, second
    if not line.done():
        raise line.error(f"unexpected {line.peek()[1]!r} after the instruction")
    p.insn = CInsn(code, 0, 0, k)
    return p


def _target(line: _Line, absolute: bool) -> object:
    tok = line.peek()
    if tok is None:
        raise line.error("expected a jump target")
    if tok[0] == "num":
        return (line.number(decimal=absolute), tok[2])
    name = line.ident()
    if name is None or absolute:
        raise line.error("expected a jump target (a label)" if not absolute
                         else "expected an instruction number")
    return (name, tok[2])


def _operands(line: _Line, m: str, column: int) -> tuple[int, int]:
    """(code, k) of the instruction whose operands start at the line's cursor."""
    if m in _LOADS:
        return _load(line, m, _LOADS[m])
    if m == "ldi":
        line.accept("#")
        return LD | IMM, line.number()
    if m == "ldxi":
        line.accept("#")
        return LDX | IMM, line.number()
    if m in ("ldx", "ldxb"):
        if line.accept("#"):
            if _is_len(line):
                return LDX | W | LEN, 0
            return LDX | IMM, line.number()
        if _is_len(line):
            return LDX | W | LEN, 0
        if line.accept("m"):
            return LDX | MEM, _bracketed(line)
        return LDX | B | MSH, _msh(line)
    if m in ("st", "stx"):
        line.expect("m", "M[k]")
        return (ST if m == "st" else STX), _bracketed(line)
    if m in _ALU:
        if _reg(line) == "x":
            return ALU | _ALU[m] | X, 0
        line.expect("#", "'#k' or 'x'")
        return ALU | _ALU[m] | K, line.number()
    if m == "neg":
        return ALU | NEG, 0
    if m in ("tax", "txa"):
        return MISC | (TAX if m == "tax" else TXA), 0
    if m == "ret":
        if line.done():
            return RET | A, 0
        reg = _reg(line)
        if reg is not None:
            return RET | (A if reg == "a" else X), 0
        line.expect("#", "'#k', 'a' or 'x'")
        return RET | K, line.number()
    if m in ("ja", "jmp"):
        return JMP | JA, 0
    if m in _JUMPS:
        op = _JUMPS[m][0]
        if _reg(line) == "x":
            return JMP | op | X, 0
        line.expect("#", "'#k' or 'x'")
        return JMP | op | K, line.number()
    if m == "unimp":
        code = line.number()
        if code > 0xFFFF:
            raise line.error(f"opcode {code:#x} does not fit in 16 bits")
        return code, 0
    raise line.error(f"unknown instruction {m!r}", column)


def _reg(line: _Line) -> str | None:
    start = line.i
    line.accept("%")
    name = (line.ident() or "").lower()
    if name in ("x", "a"):
        return name
    line.i = start
    return None


def _is_len(line: _Line) -> bool:
    return any(line.accept(word) for word in ("len", "pktlen"))


def _extension(line: _Line) -> int | None:
    tok = line.peek()
    if tok is not None and tok[0] == "id" and tok[1].lower() in _EXTENSIONS:
        line.i += 1
        return (SKF_AD_OFF + _EXTENSIONS[tok[1].lower()]) & _M32
    return None


def _load(line: _Line, m: str, size: int) -> tuple[int, int]:
    if line.accept("#"):
        if m == "ld" and _is_len(line):
            return LD | W | LEN, 0
        ext = _extension(line)
        if ext is not None:
            return LD | size | ABS, ext
        if m != "ld":
            raise line.error("expected '[k]', '[x + k]' or an extension")
        return LD | IMM, line.number()
    if m == "ld" and _is_len(line):
        return LD | W | LEN, 0
    ext = _extension(line)
    if ext is not None:
        return LD | size | ABS, ext
    if m == "ld" and line.accept("m"):
        return LD | MEM, _bracketed(line)
    line.expect("[", "'[k]', '[x + k]', 'M[k]' or '#k'")
    if _reg(line) == "x":
        line.expect("+", "'+'")
        k = line.number()
        line.expect("]")
        return LD | size | IND, k
    ext = _extension(line)
    k = ext if ext is not None else line.number()
    line.expect("]")
    return LD | size | ABS, k


def _bracketed(line: _Line) -> int:
    line.expect("[")
    k = line.number()
    line.expect("]")
    return k


def _msh(line: _Line) -> int:
    """``4*([k]&0xf)``."""
    tok = line.peek()
    if line.number() != 4:
        raise line.error("only 4*([k]&0xf) exists", tok[2] if tok else None)
    line.expect("*")
    line.expect("(")
    k = _bracketed(line)
    line.expect("&")
    tok = line.peek()
    if line.number() != 0xF:
        raise line.error("only 4*([k]&0xf) exists", tok[2] if tok else None)
    line.expect(")")
    return k


def _resolve(pending: list[_Pending], labels: dict[str, int],
             filename: str | None) -> list[CInsn]:
    out = []
    for n, p in enumerate(pending):
        def where(ref: tuple[object, int], small: bool) -> int:
            value, column = ref
            if isinstance(value, str):
                if value not in labels:
                    raise AsmError(f"undefined label {value!r}", p.line, column, p.source, filename)
                target = labels[value]
            else:
                target = value        # tcpdump's absolute instruction number
            delta = target - n - 1
            if small and not 0 <= delta <= 255:
                raise AsmError(f"instruction {n} cannot reach instruction {target} "
                               f"(jt/jf are 0..255 forward)", p.line, column, p.source, filename)
            return delta
        insn = p.insn
        jt = where(p.jt, True) if p.jt is not None else 0
        jf = where(p.jf, True) if p.jf is not None else 0
        k = where(p.ja, False) & _M32 if p.ja is not None else insn.k
        out.append(CInsn(insn.code, jt, jf, k))
    return out


__all__ = ["assemble"]

"""LLVM BPF assembly syntax, as LLVM 19 prints and accepts it.

One table, :func:`_syntax_table`, gives the text of every instruction form of
:data:`pybpf.isa.opcodes.FORMS` as a template such as
``"{dst:w} = *(u32 *)({src:r}{off})"``. The same template drives both directions:

* printing fills the placeholders the way ``llvm-objdump-19 -d --mcpu=v4`` does
  (hex immediates, ``+0x5`` branch targets, `` - 0x8`` memory offsets);
* parsing turns the template into a token signature and a list of field setters.
  Source lines are tokenized the way LLVM's BPF asm parser does it (operators split
  into single characters, commas ignored, ``+N``/``-N`` and constant expressions as
  immediates) and looked up in a trie of all signatures; a mismatch reports the
  token where the trie ran out, with what it expected there.

Forms LLVM 19 cannot write get the spelling later LLVM versions (or the kernel's
own printer) use: ``load_acquire``/``store_release``, ``call pc+0x5`` (local call
by offset), ``call kfunc(0x1234)``, ``r0 = *(u8 *)skb[r1 + 0x4]`` (ld_ind with an
immediate) and a fourth ``ld_pseudo`` operand for the upper half of its immediate.

Source text follows llvm-mc: ``;`` separates statements (it is not a comment), comments
are ``#``, ``//`` and ``/* */``, labels are ``name:`` (and GNU ``1:`` with ``1b``/``1f``),
and ``call label`` makes a local call. Where llvm-mc is silently lossy this module is
strict: an immediate that does not fit its field is an error (llvm-mc truncates it), and
a symbol that is not a label in the same text is an error (llvm-mc emits a relocation).
Keywords and registers are case-insensitive everywhere (llvm-mc: first token only).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from pybpf.asm._common import (S32_MIN, S64_MIN, U32_MAX, U64_MAX, asm_error,
                               blank_block_comments, hex_imm, parse_int, to_signed)
from pybpf.isa.instruction import Instruction, check
from pybpf.isa.opcodes import (ALU, CALL_LOCAL, FORMS, FORMS_BY_NAME, JMP32, LDDW_SRC_NAMES,
                               OPCODE_LDDW, Form, Kind)

__all__ = ["assemble", "disassemble", "format_instruction"]

# ---------------------------------------------------------------------------------------
# The syntax table
# ---------------------------------------------------------------------------------------

_ALU_OPS = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "or": "|=", "and": "&=",
            "lsh": "<<=", "rsh": ">>=", "mod": "%=", "xor": "^=", "mov": "=", "arsh": "s>>=",
            "sdiv": "s/=", "smod": "s%="}
_JMP_OPS = {"jeq": "==", "jgt": ">", "jge": ">=", "jset": "&", "jne": "!=", "jsgt": "s>",
            "jsge": "s>=", "jlt": "<", "jle": "<=", "jslt": "s<", "jsle": "s<="}
_ATOMIC_OPS = {"add": "+=", "or": "|=", "and": "&=", "xor": "^="}


def _syntax_table() -> list[tuple]:
    """Every spelling: (forms printed with it, form it parses to, template, print condition
    or None, parse it?). Printing takes the first entry of a form whose condition holds;
    entries with no forms to print are extra spellings the assembler also takes."""
    out: list[tuple] = []

    def add(form: str, text: str, when=None, parse: bool = True,
            printable: bool = True) -> None:
        out.append(((form,) if printable else (), form, text, when, parse))

    for f in FORMS:
        r = "w" if f.width == 32 and f.cls in (ALU, JMP32) else "r"  # 32-bit ALU and jumps
        ubits = f"u{f.width}"
        k = f.kind
        if k is Kind.ALU:
            operand = "{src:%s}" % r if f.source_is_reg else "{imm}"
            add(f.name, "{dst:%s} %s %s" % (r, _ALU_OPS[f.op], operand))
        elif k is Kind.NEG:
            add(f.name, "{dst:%s} = -{dst:%s}" % (r, r))
        elif k is Kind.MOVSX:
            add(f.name, "{dst:%s} = (s%d){src:%s}" % (r, f.off, r))
        elif k is Kind.ADDR_SPACE_CAST:
            add(f.name, "{dst:r} = addr_space_cast({src:r}, {as_dst}, {as_src})")
        elif k is Kind.END:
            add(f.name, "{dst:r} = %s%d {dst:r}" % (f.op, f.width))
        elif k is Kind.JUMP:
            operand = "{src:%s}" % r if f.source_is_reg else "{imm}"
            add(f.name, "if {dst:%s} %s %s goto {joff}" % (r, _JMP_OPS[f.op], operand))
        elif k is Kind.JA:
            add(f.name, "goto {joff}")
        elif k is Kind.GOTOL:
            add(f.name, "gotol {jimm}")
        elif k is Kind.MAY_GOTO:
            add(f.name, "may_goto {joff}")
        elif k is Kind.CALL:
            if f.op == "helper":
                add(f.name, "call {call}")
            elif f.op == "local":
                add(f.name, "call pc{pcrel}")
            else:
                add(f.name, "call kfunc({imm})", lambda i: i.off == 0)
                add(f.name, "call kfunc({imm}, {koff})")
        elif k is Kind.CALLX:
            add(f.name, "callx {dst:r}")
        elif k is Kind.EXIT:
            add(f.name, "exit")
        elif k is Kind.LDDW:
            if f.src == 0:
                add(f.name, "{dst:r} = {imm64} ll")
            else:
                add(f.name, "ld_pseudo\t{dst:r}, {psrc}, {plo}", lambda i: i.imm >> 32 == 0,
                    parse=f.name == "lddw_map_fd")
                add(f.name, "ld_pseudo\t{dst:r}, {psrc}, {plo}, {phi}",
                    parse=f.name == "lddw_map_fd")
        elif k is Kind.LD_ABS:
            add(f.name, "{r0} = *(%s *)skb[{imm}]" % ubits)
        elif k is Kind.LD_IND:
            add(f.name, "{r0} = *(%s *)skb[{src:r}]" % ubits, lambda i: i.imm == 0)
            add(f.name, "{r0} = *(%s *)skb[{src:r}{skboff}]" % ubits)
        elif k in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ):
            sign = "s" if k is Kind.LOADSX else "u"
            mem = "(%s%d *)({src:r}{off})" % (sign, f.width)
            text = ("{dst:%s} = load_acquire(" + mem + ")") if k is Kind.LOAD_ACQ \
                else ("{dst:%s} = *" + mem)
            narrow = f.width < 64 and k is not Kind.LOADSX
            add(f.name, text % ("w" if narrow else "r"))
            if narrow:  # llvm-mc also takes an rN destination (printed as wN)
                add(f.name, text % "r", printable=False)
        elif k is Kind.STORE_IMM:
            add(f.name, "*(%s *)({dst:r}{off}) = {imm}" % ubits)
        elif k in (Kind.STORE, Kind.STORE_REL):
            mem = "(%s *)({dst:r}{off})" % ubits
            text = ("store_release(" + mem + ", {src:%s})") if k is Kind.STORE_REL \
                else ("*" + mem + " = {src:%s}")
            add(f.name, text % ("w" if f.width < 64 else "r"))
            if f.width < 64:
                add(f.name, text % "r", printable=False)
        elif k is Kind.ATOMIC:
            reg = "w" if f.width == 32 else "r"
            mem = "({dst:r}{off})"
            if f.op == "xchg":
                xname = "xchg32_32" if f.width == 32 else "xchg_64"
                add(f.name, "{src:%s} = %s({dst:r}{off}, {src:%s})" % (reg, xname, reg))
            elif f.op == "cmpxchg":
                xname = "cmpxchg32_32" if f.width == 32 else "cmpxchg_64"
                add(f.name, "{%s0} = %s({dst:r}{off}, {%s0}, {src:%s})" % (reg, xname, reg, reg))
            elif f.fetch:
                add(f.name, "{src:%s} = atomic_fetch_%s((%s *)%s, {src:%s})"
                    % (reg, f.op, ubits, mem, reg))
            else:
                text = "lock *(%s *)%s %s {src:%%s}" % (ubits, mem, _ATOMIC_OPS[f.op])
                add(f.name, text % reg)
                if f.width == 32 and f.op == "add":  # the legacy XADDW spelling
                    add(f.name, text % "r", printable=False)
        else:  # pragma: no cover - a new Kind without a spelling
            raise AssertionError(f"no LLVM syntax for form {f.name}")
    return out


# ---------------------------------------------------------------------------------------
# Placeholders: how each one prints and how a parsed operand sets the fields
# ---------------------------------------------------------------------------------------

REG64, REG32, IMM, BADREG, END = "\0r", "\0w", "\0i", "\0bad", "\0end"
_DST, _SRC, _OFF, _IMM = 0, 1, 2, 3


class _Sym:
    """A label reference inside an operand."""

    __slots__ = ("name", "col", "seq")

    def __init__(self, name: str, col: int, seq: int):
        self.name, self.col, self.seq = name, col, seq


def _branch(v: int) -> str:
    return f"+{v:#x}" if v >= 0 else hex_imm(v)


def _plus_minus(v: int) -> str:
    return f" + {v:#x}" if v >= 0 else f" - {-v:#x}"


# name -> (signature marker, printer)
_PRINTERS: dict[str, tuple[str, Callable[[Instruction], str]]] = {
    "dst:r": (REG64, lambda i: f"r{i.dst}"),
    "dst:w": (REG32, lambda i: f"w{i.dst}"),
    "src:r": (REG64, lambda i: f"r{i.src}"),
    "src:w": (REG32, lambda i: f"w{i.src}"),
    "r0": (REG64, lambda i: "r0"),
    "w0": (REG32, lambda i: "w0"),
    "imm": (IMM, lambda i: hex_imm(i.imm)),
    "imm64": (IMM, lambda i: hex_imm(to_signed(i.imm, 64))),
    "off": (IMM, lambda i: _plus_minus(i.off)),
    "joff": (IMM, lambda i: _branch(i.off)),
    "jimm": (IMM, lambda i: _branch(i.imm)),
    "call": (IMM, lambda i: hex_imm(i.imm)),
    "pcrel": (IMM, lambda i: _branch(i.imm)),
    "koff": (IMM, lambda i: hex_imm(i.off)),
    "as_dst": (IMM, lambda i: hex_imm((i.imm >> 16) & 0xFFFF)),
    "as_src": (IMM, lambda i: hex_imm(i.imm & 0xFFFF)),
    "psrc": (IMM, lambda i: hex_imm(i.src)),
    "plo": (IMM, lambda i: f"{i.imm & U32_MAX:#x}"),
    "phi": (IMM, lambda i: f"{i.imm >> 32:#x}"),
    "skboff": (IMM, lambda i: _plus_minus(i.imm)),
}


class _Operand:
    """One operand of a source statement: its value and where it was written."""

    __slots__ = ("value", "col", "text")

    def __init__(self, value, col: int, text: str):
        self.value, self.col, self.text = value, col, text


class _Statement:
    """Everything one statement needs for error messages and label fixups."""

    __slots__ = ("lineno", "source", "fields", "opcode", "fixups", "slot", "labels")

    def __init__(self, lineno: int, source: str):
        self.lineno, self.source = lineno, source
        self.fixups: list = []
        self.labels: list[str] = []


class _Error(Exception):
    """Raised inside the assembler with a column; turned into AsmError with the line."""

    def __init__(self, message: str, col: int):
        super().__init__(message)
        self.message, self.col = message, col


def _range_error(what: str, op: _Operand, lo: int, hi: int) -> _Error:
    return _Error(f"{what} {hex_imm(op.value)} out of range ({hex_imm(lo)} to {hex_imm(hi)})",
                  op.col)


def _const(op: _Operand) -> int:
    if isinstance(op.value, _Sym):
        raise _Error(f"expected constant immediate, got symbol '{op.value.name}'", op.col)
    return op.value


def _s32_field(field: int, what: str = "immediate") -> Callable:
    def setter(st: _Statement, f: list, op: _Operand) -> None:
        v = _const(op)
        if not S32_MIN <= v <= U32_MAX:
            raise _range_error(what, op, S32_MIN, U32_MAX)
        f[field] = to_signed(v, 32)
    return setter


def _signed_field(field: int, bits: int, what: str) -> Callable:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def setter(st: _Statement, f: list, op: _Operand) -> None:
        v = _const(op)
        if not lo <= v <= hi:
            raise _range_error(what, op, lo, hi)
        f[field] = v
    return setter


def _target_field(field: int, bits: int, local_call: bool = False) -> Callable:
    """A jump or call target: a constant offset, or a label resolved later."""
    const = _signed_field(field, bits, "jump offset") if not local_call else _s32_field(field)

    def setter(st: _Statement, f: list, op: _Operand) -> None:
        if isinstance(op.value, _Sym):
            st.fixups.append((field, bits, op))
            if local_call:
                f[_SRC] = CALL_LOCAL
        else:
            const(st, f, op)
    return setter


def _imm64(st: _Statement, f: list, op: _Operand) -> None:
    v = _const(op)
    if not S64_MIN <= v <= U64_MAX:
        raise _range_error("immediate", op, S64_MIN, U64_MAX)
    f[_IMM] = v & U64_MAX


def _half(shift: int, bits: int) -> Callable:
    mask = (1 << bits) - 1
    lo = -(1 << (bits - 1)) if bits == 32 else 0

    def setter(st: _Statement, f: list, op: _Operand) -> None:
        v = _const(op)
        if not lo <= v <= mask:
            raise _range_error("immediate", op, lo, mask)
        f[_IMM] = (f[_IMM] & ~(mask << shift)) | ((v & mask) << shift)
    return setter


def _pseudo_src(st: _Statement, f: list, op: _Operand) -> None:
    v = _const(op)
    if v not in LDDW_SRC_NAMES:
        raise _Error(f"ld_pseudo source {hex_imm(v)} out of range (0x0 to "
                     f"{max(LDDW_SRC_NAMES):#x})", op.col)
    f[_SRC] = v


def _finish_as(f: list) -> None:
    f[_IMM] = to_signed(f[_IMM], 32)


def _reg_setter(field: int | None, fixed: int | None, repeat: bool, prefix: str) -> Callable:
    def setter(st: _Statement, f: list, op: _Operand) -> None:
        v = op.value
        if fixed is not None:
            if v != fixed:
                raise _Error(f"expected {prefix}{fixed}, got '{op.text}'", op.col)
        elif repeat:
            if v != f[field]:
                raise _Error(f"expected {prefix}{f[field]}, got '{op.text}' (both operands "
                             f"must be the same register)", op.col)
        else:
            f[field] = v
    return setter


_VALUE_SETTERS: dict[str, Callable] = {
    "imm": _s32_field(_IMM),
    "imm64": _imm64,
    "off": _signed_field(_OFF, 16, "offset"),
    "joff": _target_field(_OFF, 16),
    "jimm": _target_field(_IMM, 32),
    "call": _target_field(_IMM, 32, local_call=True),
    "pcrel": _signed_field(_IMM, 32, "call offset"),
    "koff": _signed_field(_OFF, 16, "offset"),
    "as_dst": _half(16, 16),
    "as_src": _half(0, 16),
    "psrc": _pseudo_src,
    "plo": _half(0, 32),
    "phi": _half(32, 32),
    "skboff": _s32_field(_IMM, "offset"),
}

# ---------------------------------------------------------------------------------------
# The lexer (LLVM's tokens) and the operand conversion (LLVM's BPF ParseInstruction)
# ---------------------------------------------------------------------------------------

_LEX = re.compile(r"""[ \t\r\f\v]*(?:
     (?P<id>[A-Za-z_.$][A-Za-z0-9_.$@]*)
    |(?P<num>[0-9]+[bf](?![A-Za-z0-9_.$@])
        |(?:0[xX][0-9A-Fa-f]+|0[bB][01]+|[0-9]+)(?:[uU]?[lL]{0,2}))
    |(?P<end>(?:\#|//).*|$)
    |(?P<op><<|>>|==|!=|<=|>=|&&|\|\||[-+*/%&|^~!<>=()\[\],;:])
    |(?P<chr>'(?:\\.|[^\\'])')
    |(?P<bad>.)
)""", re.X)
_REG_RE = re.compile(r"([rw])([0-9]+)\Z")
_DIRECTIONAL = re.compile(r"([0-9]+)([bf])\Z")
_IGNORED_DIRECTIVES = frozenset({".text", ".globl", ".global", ".type", ".size", ".p2align",
                                 ".align", ".file", ".ident", ".addrsig", ".addrsig_sym",
                                 ".local", ".weak", ".hidden"})
_BINARY = {"+": 4, "-": 4, "|": 5, "^": 5, "&": 5, "*": 6, "/": 6, "%": 6, "<<": 6, ">>": 6}
_REGS: dict[str, tuple[str, int]] = {}
for _n in range(11):
    _REGS[f"r{_n}"] = (REG64, _n)
    _REGS[f"w{_n}"] = (REG32, _n)


def _lex_line(line: str) -> list[tuple[str, str, int]]:
    toks = []
    pos = 0
    match = _LEX.match
    while True:
        m = match(line, pos)
        kind = m.lastgroup
        if kind == "end":
            return toks
        text = m.group(kind)
        if kind == "bad":
            raise _Error(f"unexpected character '{text}'", m.start(kind) + 1)
        toks.append((kind, text, m.start(kind) + 1))
        pos = m.end()


class _Parser:
    """Turns one statement's tokens into a signature and operand values."""

    __slots__ = ("toks", "keywords", "seq", "line")

    def __init__(self, toks: list, keywords: frozenset[str], seq: list[int], line: str):
        self.toks, self.keywords, self.seq, self.line = toks, keywords, seq, line

    def number(self, text: str, col: int):
        if _DIRECTIONAL.match(text):
            self.seq[0] += 1
            return _Sym(text, col, self.seq[0])
        value = parse_int(text.rstrip("uUlL"))  # LLVM ignores C integer suffixes: 5ull
        if value is None:
            raise _Error(f"invalid integer '{text}'", col)
        if value > U64_MAX:
            raise _Error(f"integer '{text}' too large", col)
        return value

    def unary(self, i: int):
        toks = self.toks
        if i >= len(toks):
            last = toks[-1]
            raise _Error("expected immediate, got end of line", last[2] + len(last[1]))
        kind, text, col = toks[i]
        if kind == "num":
            return self.number(text, col), i + 1
        if kind == "chr":
            body = text[1:-1]
            if len(body) != 1:
                body = body.encode().decode("unicode_escape")
            return ord(body), i + 1
        if kind == "id":
            low = text.lower()
            if low in _REGS or _REG_RE.match(low) or low in self.keywords:
                raise _Error(f"expected immediate, got '{text}'", col)
            self.seq[0] += 1
            return _Sym(text, col, self.seq[0]), i + 1
        if text in ("-", "+", "~"):
            v, j = self.unary(i + 1)
            if isinstance(v, _Sym):
                raise _Error("expected constant expression", col)
            return (-v if text == "-" else ~v if text == "~" else v), j
        if text == "(":
            v, j = self.binary(*self.unary(i + 1), 0)
            if j >= len(toks) or toks[j][1] != ")":
                raise _Error("expected ')' in expression", toks[j][2] if j < len(toks) else col)
            return v, j + 1
        raise _Error(f"expected immediate, got '{text}'", col)

    def binary(self, lhs, i: int, min_prec: int):
        toks = self.toks
        n = len(toks)
        while i < n:
            kind, op, col = toks[i]
            prec = _BINARY.get(op, -1) if kind == "op" else -1
            if prec < min_prec:
                break
            rhs, i = self.unary(i + 1)
            while i < n and toks[i][0] == "op" and _BINARY.get(toks[i][1], -1) > prec:
                rhs, i = self.binary(rhs, i, prec + 1)
            if isinstance(lhs, _Sym) or isinstance(rhs, _Sym):
                raise _Error("expected constant expression", col)
            lhs = _apply(op, lhs, rhs, col)
        return lhs, i

    def convert(self) -> tuple[list[str], list[_Operand], list[int], list[str]]:
        """LLVM's operand loop: operators, registers, commas (skipped), immediates.

        Returns the signature, the operands (registers and immediates, in order), and
        the column and source text of each signature element.
        """
        toks, keywords = self.toks, self.keywords
        sig: list[str] = []
        ops: list[_Operand] = []
        cols: list[int] = []
        texts: list[str] = []
        i, n = 0, len(toks)
        while i < n:
            kind, text, col = toks[i]
            if kind == "id":
                low = text.lower()
                reg = _REGS.get(low)
                if reg is not None:
                    sig.append(reg[0])
                    ops.append(_Operand(reg[1], col, text))
                elif low in keywords:
                    sig.append(low)
                elif _REG_RE.match(low):
                    sig.append(BADREG)
                    ops.append(_Operand(None, col, text))
                elif i == 0:
                    raise _Error(f"unknown instruction '{text}'", col)
                else:
                    kind = "expr"
                if kind == "id":
                    cols.append(col)
                    texts.append(text)
                    i += 1
                    continue
            elif kind == "op":
                if text == ",":
                    i += 1
                    continue
                if not (text in "+-" and i + 1 < n and toks[i + 1][0] == "num"):
                    if text in "~:":
                        raise _Error(f"unexpected '{text}'", col)
                    for k, ch in enumerate(text):
                        sig.append(ch)
                        cols.append(col + k)
                        texts.append(ch)
                    i += 1
                    continue
            if i == 0:
                raise _Error(f"unknown instruction '{text}'", col)
            value, j = self.binary(*self.unary(i), 0)
            last = toks[j - 1]
            source = self.line[col - 1:last[2] + len(last[1]) - 1]
            sig.append(IMM)
            ops.append(_Operand(value, col, source))
            cols.append(col)
            texts.append(source)
            i = j
        return sig, ops, cols, texts


def _apply(op: str, a: int, b: int, col: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in ("/", "%"):
        if b == 0:
            raise _Error("division by zero in expression", col)
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        return q if op == "/" else a - q * b
    if op in ("<<", ">>"):
        if b < 0 or b > 127:
            raise _Error(f"shift count {b} out of range", col)
        return a << b if op == "<<" else a >> b
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    return a ^ b


# ---------------------------------------------------------------------------------------
# Templates compiled for printing and for parsing
# ---------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([a-z0-9_:]+)\}")


class _Template:
    __slots__ = ("form", "text", "sig", "setters", "finish")

    def __init__(self, form: Form, text: str, sig: tuple, setters: list, finish):
        self.form, self.text, self.sig, self.setters, self.finish = form, text, sig, setters, finish


def _literal_sig(text: str) -> list[str]:
    sig = []
    for kind, tok, _col in _lex_line(text):
        if kind == "id":
            sig.append(tok.lower())
        elif tok != ",":
            sig.extend(tok)
    return sig


def _compile() -> tuple[dict, dict, frozenset[str]]:
    printers: dict[str, list] = {}
    trie: dict = {}
    keywords: set[str] = set()
    parse_entries = []
    for forms, parse_form, text, when, parse in _syntax_table():
        pieces: list = []
        sig: list[str] = []
        setters: list = []
        seen: set[str] = set()
        pos = 0
        for m in _PLACEHOLDER.finditer(text):
            literal = text[pos:m.start()]
            pos = m.end()
            if literal:
                pieces.append(literal)
                sig.extend(_literal_sig(literal))
            name = m.group(1)
            marker, printer = _PRINTERS[name]
            pieces.append(printer)
            sig.append(marker)
            if marker in (REG64, REG32):
                prefix = "w" if marker == REG32 else "r"
                if name in ("r0", "w0"):
                    setters.append(_reg_setter(None, 0, False, prefix))
                else:
                    field = _DST if name.startswith("dst") else _SRC
                    setters.append(_reg_setter(field, None, name in seen, prefix))
                    seen.add(name)
            else:
                setters.append(_VALUE_SETTERS[name])
        if text[pos:]:
            pieces.append(text[pos:])
            sig.extend(_literal_sig(text[pos:]))
        keywords.update(s for s in sig if s[0].isalpha())
        for name in forms:
            printers.setdefault(name, []).append((when, pieces))
        if parse:
            form = FORMS_BY_NAME[parse_form]
            finish = _finish_as if form.kind is Kind.ADDR_SPACE_CAST else None
            parse_entries.append(_Template(form, text, tuple(sig), setters, finish))
    for tmpl in parse_entries:
        node = trie
        for s in tmpl.sig:
            node = node.setdefault(s, {})
        if END in node:  # pragma: no cover - a table bug
            raise AssertionError(f"ambiguous syntax {tmpl.text!r} and {node[END].text!r}")
        node[END] = tmpl
    return printers, trie, frozenset(keywords)


_PRINT, _TRIE, _KEYWORDS = _compile()
_START_KEYWORDS = frozenset(k for k in _TRIE if k[0].isalpha())

# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def format_instruction(insn: Instruction) -> str:
    """The text llvm-objdump-19 prints for ``insn`` (or this module's spelling for forms
    LLVM 19 cannot print). Raises BpfDecodeError for an invalid instruction."""
    form = check(insn)
    for when, pieces in _PRINT[form.name]:
        if when is None or when(insn):
            return "".join(p if isinstance(p, str) else p(insn) for p in pieces)
    raise AssertionError(f"no printable variant for {form.name}")  # pragma: no cover


def disassemble(insns: Iterable[Instruction]) -> list[str]:
    """One line of text per instruction (lddw is one line), without indexes."""
    return [format_instruction(insn) for insn in insns]


def _describe(key: str) -> str:
    return {REG64: "register", REG32: "32-bit register", IMM: "immediate",
            END: "end of line"}.get(key, f"'{key}'")


def _mismatch(node: dict, sig: list[str], texts: list[str], cols: list[int], i: int,
              toks: list) -> _Error:
    """The error for a statement whose signature leaves the trie at element ``i``."""
    last = toks[-1]
    end_col = last[2] + len(last[1])
    keys = set(node)
    got = sig[i] if i < len(sig) else END
    col = cols[i] if i < len(sig) else end_col
    got_text = "end of line" if got is END else f"'{texts[i]}'"
    if got in (REG64, REG32, BADREG) and keys & {REG64, REG32}:
        if got is BADREG:
            return _Error(f"expected register, got {got_text}", col)
        want = "64-bit register" if REG64 in keys else "32-bit register"
        return _Error(f"expected {want}, got {got_text}", col)
    regs = [k for k in (REG64, REG32) if k in keys]
    if len(regs) == 2:
        regs = [REG64]
    order = regs + [k for k in (IMM,) if k in keys] + sorted(
        k for k in keys if k not in (REG64, REG32, IMM, END)) + ([END] if END in keys else [])
    names = [_describe(k) for k in order]
    if len(names) > 6:
        names = names[:6] + ["..."]
    want = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return _Error(f"expected {want}, got {got_text}", col)


def assemble(text: str, filename: str | None = None) -> list[Instruction]:
    """Assemble LLVM-syntax BPF text into instructions.

    Accepts what ``llvm-mc-19 -triple bpf -mcpu=v4`` accepts on instruction lines, plus
    the spellings this module prints for forms LLVM 19 lacks. Raises AsmError with the
    1-based line and column of the offending token.
    """
    raw_lines = text.split("\n")
    lines = blank_block_comments(text).split("\n")
    statements: list[_Statement] = []
    labels: dict[str, tuple[int, int]] = {}           # name -> (slot, line)
    numeric: dict[str, list[tuple[int, int]]] = {}    # digits -> [(seq, slot)]
    pending: list[str] = []
    seq = [0]
    slot = 0
    trie, keywords = _TRIE, _KEYWORDS
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):
            if not line or line.isspace():
                continue
            toks = _lex_line(line)
            if not toks:
                continue
            start = 0
            ntoks = len(toks)
            while start < ntoks:
                stop = start
                while stop < ntoks and toks[stop][1] != ";":
                    stop += 1
                stmt_toks = toks[start:stop]
                start = stop + 1
                # Label definitions: "name:" (or "1:") at the start of a statement.
                k = 0
                while k + 1 < len(stmt_toks) and stmt_toks[k + 1][1] == ":" and \
                        stmt_toks[k][0] in ("id", "num"):
                    kind, name, col = stmt_toks[k]
                    if kind == "num":
                        if not name.isdigit():
                            raise _Error(f"invalid label name '{name}'", col)
                        seq[0] += 1
                        numeric.setdefault(str(int(name)), []).append((seq[0], slot))
                    else:
                        if name.lower() in _REGS or name.lower() in _START_KEYWORDS:
                            raise _Error(f"invalid label name '{name}'", col)
                        if name in labels:
                            raise _Error(f"label '{name}' already defined on line "
                                         f"{labels[name][1]}", col)
                        labels[name] = (slot, lineno)
                        pending.append(name)
                    k += 2
                stmt_toks = stmt_toks[k:]
                if not stmt_toks:
                    continue
                kind, first, col = stmt_toks[0]
                if kind == "id" and first[0] == "." and first.lower() not in keywords:
                    if first.lower() in _IGNORED_DIRECTIVES:
                        continue
                    raise _Error(f"unsupported directive '{first}'", col)
                sig, ops, cols, texts = _Parser(stmt_toks, keywords, seq, line).convert()
                node = trie
                for i, s in enumerate(sig):
                    nxt = node.get(s)
                    if nxt is None:
                        if i == 0:
                            what = "expected register, got" if s is BADREG \
                                else "unknown instruction"
                            raise _Error(f"{what} '{texts[0]}'", cols[0])
                        raise _mismatch(node, sig, texts, cols, i, stmt_toks)
                    node = nxt
                tmpl = node.get(END)
                if tmpl is None:
                    raise _mismatch(node, sig, texts, cols, len(sig), stmt_toks)
                st = _Statement(lineno, raw_lines[lineno - 1])
                form = tmpl.form
                f = [0, form.src or 0, form.off or 0, form.imm or 0]
                for setter, op in zip(tmpl.setters, ops):
                    setter(st, f, op)
                if tmpl.finish is not None:
                    tmpl.finish(f)
                st.opcode = form.opcode
                st.fields = f
                st.slot = slot
                if pending:
                    st.labels = pending
                    pending = []
                statements.append(st)
                slot += 2 if form.opcode == OPCODE_LDDW else 1
    except _Error as e:
        source = raw_lines[lineno - 1] if lineno else None
        raise asm_error(e.message, lineno, e.col, source, filename) from None

    where = filename or "<asm>"
    out: list[Instruction] = []
    for st in statements:
        f = st.fields
        reference = None
        for field, bits, op in st.fixups:
            sym = op.value
            target = _resolve(sym, labels, numeric)
            if target is None:
                raise asm_error(f"undefined label '{sym.name}'", st.lineno, op.col, st.source,
                                filename)
            delta = target - st.slot - 1
            if not -(1 << (bits - 1)) <= delta < (1 << (bits - 1)):
                raise asm_error(f"jump offset {hex_imm(delta)} to '{sym.name}' out of range "
                                f"({hex_imm(-(1 << (bits - 1)))} to "
                                f"{hex_imm((1 << (bits - 1)) - 1)})",
                                st.lineno, op.col, st.source, filename)
            f[field] = delta
            reference = sym.name
        out.append(Instruction(st.opcode, f[0], f[1], f[2], f[3],
                               symbol=st.labels[0] if st.labels else None,
                               reference=reference, line=f"{where}:{st.lineno}"))
    return out


def _resolve(sym: _Sym, labels: dict, numeric: dict) -> int | None:
    if sym.name in labels:
        return labels[sym.name][0]
    d = _DIRECTIONAL.match(sym.name)
    if d is None:
        return None
    defs = numeric.get(str(int(d.group(1))), [])
    if d.group(2) == "b":
        before = [s for q, s in defs if q < sym.seq]
        return before[-1] if before else None
    after = [s for q, s in defs if q > sym.seq]
    return after[0] if after else None

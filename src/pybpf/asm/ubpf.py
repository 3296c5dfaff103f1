"""The uBPF / bpf_conformance mnemonic syntax: assembler and disassembler.

This is the syntax of the BPF ISA conformance suite's ``.data`` files and of uBPF::

    mov32 %r0, 1                 # ALU: <op>[32] dst, src|imm   (no suffix: 64-bit)
    ldxw %r0, [%r1+4]            # loads ldx{b,h,w,dw}, sign-extending ldxs{b,h,w}
    stxdw [%r10-8], %r1          # stores stx{b,h,w,dw}, st{b,h,w,dw} [dst+off], imm
    jeq %r1, 0x10, +3            # jumps <op>[32] dst, src|imm, +off|-off|label
    lddw %r0, 0x123              # 64-bit immediate
    be16 %r0 / le32 %r0 / swap64 %r0 (also bswap64)
    movsx832 %r0, %r1            # movsx<from bits><to bits>
    lock [fetch] add[32] [%r10-8], %r1 ; lock xchg[32] ... ; lock cmpxchg[32] ...
    call 5 / call local func1 / call %r2 (callx) / call runtime 7 (kfunc)
    ja +1 / ja32 label (gotol) / exit
    label:                       # labels; '#' starts a comment

As in the suite's assembler, the first ``exit`` also defines the label ``exit`` (unless a
label of that name is written out). Forms the suite has no spelling for are spelled:

    ldabsw 0x10 / ldindh %r1, 0x3         legacy packet loads (as uBPF spells them)
    lddw %r1, map_fd 3                    lddw with a pseudo src_reg: a keyword from the
                                          ISA table (map_fd, map_value, btf_id, func,
                                          map_idx, map_idx_value) before the value;
                                          ``func`` takes a label or a signed offset
    call runtime 7, 2                     kfunc call with a module BTF (offset) index
    ldxacqw %r0, [%r1+8]                  load-acquire (b, h, w, dw)
    stxrelw [%r1+8], %r2                  store-release (b, h, w, dw)
    may_goto +3
    addr_space_cast %r0, %r1, 1, 0        dst, src, dst address space, src address space

The mnemonic table is built from :data:`pybpf.isa.opcodes.FORMS`; this module only
decides how each form is spelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NoReturn, Sequence

from pybpf.errors import AsmError, BpfDecodeError
from pybpf.isa.instruction import MAX_REG, Instruction, check, to_signed
from pybpf.isa.opcodes import FORMS, LDDW_SRC_NAMES, PSEUDO_FUNC, PSEUDO_NONE, Form, Kind

__all__ = ["assemble", "disassemble", "format_instruction"]

U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
_SIZE_SUFFIX = {8: "b", 16: "h", 32: "w", 64: "dw"}
_END_NAMES = {"le": "le", "be": "be", "bswap": "swap"}
_LDDW_KEYWORDS = {name: src for src, name in LDDW_SRC_NAMES.items()}
_CALL_MODES = ("helper", "local", "runtime")


# ---------------------------------------------------------------------------------------
# The mnemonic table
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Syntax:
    """How one mnemonic's operands are written; ``imm_form``/``reg_form`` pick the form
    by whether the source operand is an immediate or a register (else ``form``)."""

    shape: str
    form: Form | None = None
    imm_form: Form | None = None
    reg_form: Form | None = None


def _sfx(form: Form) -> str:
    return "32" if form.width == 32 else ""


def spelling(form: Form) -> tuple[str, str]:
    """The mnemonic of a form in this syntax and the shape of its operands.

    Atomic read-modify-write forms are spelled after ``lock`` (and ``fetch``); calls all
    share ``call``.
    """
    k = form.kind
    size = _SIZE_SUFFIX.get(form.width, "")
    if k is Kind.ALU:
        return form.op + _sfx(form), "alu"
    if k is Kind.NEG:
        return "neg" + _sfx(form), "unary"
    if k is Kind.MOVSX:
        return f"movsx{form.off}{form.width}", "movsx"
    if k is Kind.ADDR_SPACE_CAST:
        return "addr_space_cast", "cast"
    if k is Kind.END:
        return f"{_END_NAMES[form.op]}{form.width}", "unary"
    if k is Kind.JUMP:
        return form.op + _sfx(form), "jump"
    if k is Kind.JA:
        return "ja", "ja"
    if k is Kind.GOTOL:
        return "ja32", "ja32"
    if k is Kind.MAY_GOTO:
        return "may_goto", "ja"
    if k in (Kind.CALL, Kind.CALLX):
        return "call", "call"
    if k is Kind.EXIT:
        return "exit", "exit"
    if k is Kind.LDDW:
        return "lddw", "lddw"
    if k is Kind.LD_ABS:
        return "ldabs" + size, "ldabs"
    if k is Kind.LD_IND:
        return "ldind" + size, "ldind"
    if k is Kind.LOAD:
        return "ldx" + size, "load"
    if k is Kind.LOADSX:
        return "ldxs" + size, "load"
    if k is Kind.LOAD_ACQ:
        return "ldxacq" + size, "load"
    if k is Kind.STORE_IMM:
        return "st" + size, "store_imm"
    if k is Kind.STORE:
        return "stx" + size, "store"
    if k is Kind.STORE_REL:
        return "stxrel" + size, "store"
    if k is Kind.ATOMIC:
        return form.op + _sfx(form), "store"
    raise AssertionError(f"no spelling for {form.name}")  # pragma: no cover - table is closed


def _build_tables() -> tuple[dict[str, _Syntax], dict[tuple[str, bool], Form], dict[int, Form]]:
    plain: dict[str, _Syntax] = {}
    locked: dict[tuple[str, bool], Form] = {}
    lddw: dict[int, Form] = {}
    for form in FORMS:
        name, shape = spelling(form)
        if form.kind is Kind.ATOMIC:
            locked[(name, form.fetch)] = form
        elif form.kind is Kind.LDDW:
            assert form.src is not None
            lddw[form.src] = form
            plain[name] = _Syntax(shape)
        elif shape in ("alu", "jump"):
            old = plain.get(name, _Syntax(shape))
            if form.source_is_reg:
                plain[name] = _Syntax(shape, imm_form=old.imm_form, reg_form=form)
            else:
                plain[name] = _Syntax(shape, imm_form=form, reg_form=old.reg_form)
        elif shape == "call":
            plain[name] = _Syntax(shape)
        else:
            assert name not in plain, name
            plain[name] = _Syntax(shape, form=form)
    # bpf_conformance also accepts bswap16/32/64 for swap16/32/64.
    for bits in (16, 32, 64):
        plain[f"bswap{bits}"] = plain[f"swap{bits}"]
    return plain, locked, lddw


_MNEMONICS, _LOCKED, _LDDW_FORMS = _build_tables()
_ALWAYS_FETCH = frozenset(name for name, _ in _LOCKED if (name, False) not in _LOCKED)
_CALLX = next(f for f in FORMS if f.kind is Kind.CALLX)
_EXIT_OPCODE = next(f.opcode for f in FORMS if f.kind is Kind.EXIT)
_CALL_FORMS = {f.op: f for f in FORMS if f.kind is Kind.CALL}   # helper, local, kfunc


# ---------------------------------------------------------------------------------------
# Lexing
# ---------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<reg>%[A-Za-z0-9_]+)
  | (?P<num>[0-9][A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_.][A-Za-z0-9_.]*)
  | (?P<punct>[,\[\]:+\-])
""", re.VERBOSE)
_NUMBER_RE = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+")


@dataclass(frozen=True)
class _Token:
    kind: str        # reg, num, ident, punct, end
    text: str
    col: int         # 1-based

    def is_punct(self, chars: str) -> bool:
        return self.kind == "punct" and self.text in chars


def _describe(tok: _Token) -> str:
    return "end of line" if tok.kind == "end" else repr(tok.text)


class _Line:
    """A cursor over the tokens of one source line, raising AsmError with positions.

    A jump target written as a label is left in ``label`` (name, token, field it fills)
    for the assembler to resolve once every label is known.
    """

    def __init__(self, text: str, lineno: int, filename: str | None):
        self.text = text
        self.lineno = lineno
        self.filename = filename
        code = text.split("#", 1)[0]
        self.tokens: list[_Token] = []
        pos = 0
        while pos < len(code):
            m = _TOKEN_RE.match(code, pos)
            if m is None:
                self.error(f"unexpected character {code[pos]!r}", pos + 1)
            if m.lastgroup != "ws":
                self.tokens.append(_Token(m.lastgroup or "", m.group(), pos + 1))
            pos = m.end()
        self.end = _Token("end", "", len(code.rstrip()) + 1)
        self.i = 0
        self.label: tuple[str, _Token, str] | None = None

    def error(self, message: str, col: int | None = None) -> NoReturn:
        raise AsmError(message, self.lineno, col, self.text, self.filename)

    def peek(self, ahead: int = 0) -> _Token:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else self.end

    def next(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def punct(self, char: str, what: str) -> None:
        tok = self.next()
        if not tok.is_punct(char):
            self.error(f"expected {char!r} {what}, found {_describe(tok)}", tok.col)

    def accept(self, char: str) -> bool:
        if self.peek().is_punct(char):
            self.i += 1
            return True
        return False

    def finish(self) -> None:
        if not self.at_end():
            tok = self.peek()
            self.error(f"unexpected {_describe(tok)} after the operands", tok.col)

    # Operands -----------------------------------------------------------------------

    def register(self, what: str = "register") -> int:
        tok = self.next()
        if tok.kind != "reg":
            self.error(f"expected {what} (%r0 to %r10), found {_describe(tok)}", tok.col)
        m = re.fullmatch(r"%[rR]([0-9]+)", tok.text)
        if m is None or int(m.group(1)) > MAX_REG:
            self.error(f"invalid register {tok.text!r} (expected %r0 to %r10)", tok.col)
        return int(m.group(1))

    def number(self, what: str) -> tuple[int, _Token, bool]:
        """An optionally signed number: (value, first token, whether hex)."""
        first = self.peek()
        sign = 1
        if first.is_punct("+-"):
            self.i += 1
            sign = -1 if first.text == "-" else 1
        tok = self.next()
        if tok.kind != "num":
            self.error(f"expected {what}, found {_describe(tok)}", tok.col)
        if not _NUMBER_RE.fullmatch(tok.text):
            self.error(f"invalid number {tok.text!r}", tok.col)
        is_hex = tok.text[:2].lower() == "0x"
        return sign * int(tok.text, 16 if is_hex else 10), first, is_hex

    def imm32(self, what: str = "immediate") -> int:
        value, tok, _ = self.number(what)
        return _fit32(self, value, tok)

    def imm64(self) -> int:
        value, tok, _ = self.number("64-bit immediate")
        if not -(1 << 63) <= value <= U64:
            self.error(f"immediate {value} out of 64-bit range", tok.col)
        return value & U64

    def offset(self, what: str) -> int:
        value, tok, is_hex = self.number(what)
        return _fit16(self, value, tok, is_hex)

    def memory(self) -> tuple[int, int]:
        """``[%rN]``, ``[%rN+off]`` or ``[%rN-off]``: (register, offset)."""
        self.punct("[", "to open a memory operand")
        reg = self.register("base register")
        off = 0
        tok = self.peek()
        if tok.is_punct("+-"):
            off = self.offset("memory offset")
        elif not tok.is_punct("]"):
            self.error(f"expected '+', '-' or ']' after the base register, found {_describe(tok)}",
                       tok.col)
        self.punct("]", "to close the memory operand")
        return reg, off

    def source(self) -> tuple[bool, int]:
        """A register or an immediate: (is_register, value)."""
        tok = self.peek()
        if tok.kind == "reg":
            return True, self.register()
        if tok.kind == "num" or tok.is_punct("+-"):
            return False, self.imm32()
        self.error(f"expected register or immediate, found {_describe(tok)}", tok.col)

    def target(self, field: str) -> int:
        """A jump target for ``field`` ("off", "imm" or "func"): a signed offset, or a
        label, recorded in ``self.label`` (the value is then 0 until it is resolved)."""
        tok = self.peek()
        if tok.kind == "ident":
            self.i += 1
            self.label = (tok.text, tok, field)
            return 0
        if tok.kind == "num" or tok.is_punct("+-"):
            return self.offset("jump offset") if field == "off" else self.imm32("jump offset")
        self.error(f"expected jump offset (+N, -N) or label, found {_describe(tok)}", tok.col)


def _fit32(line: _Line, value: int, tok: _Token) -> int:
    if not -(1 << 31) <= value <= U32:
        line.error(f"immediate {value} out of 32-bit range "
                   f"(expected -2147483648 to 4294967295)", tok.col)
    return to_signed(value, 32)


def _fit16(line: _Line, value: int, tok: _Token, is_hex: bool = False) -> int:
    # Like the suite: a hex offset may be written as its unsigned 16-bit encoding.
    if is_hex and 0x8000 <= value <= 0xFFFF:
        value -= 0x10000
    if not -(1 << 15) <= value < (1 << 15):
        line.error(f"offset {value} out of 16-bit range (expected -32768 to 32767)", tok.col)
    return value


# ---------------------------------------------------------------------------------------
# Assembler
# ---------------------------------------------------------------------------------------

@dataclass
class _Fixup:
    index: int          # into the instruction list
    slot: int           # slot index of the instruction
    label: str
    field: str          # "off", "imm" or "func" (lddw imm, low 32 bits)
    line: _Line
    tok: _Token


def assemble(text: str, filename: str | None = None) -> list[Instruction]:
    """Assemble uBPF-syntax text into instructions; raises AsmError with line and column."""
    insns: list[Instruction] = []
    labels: dict[str, tuple[int, int]] = {}       # name -> (slot, defining line)
    fixups: list[_Fixup] = []
    exit_slot: int | None = None
    pending: list[str] = []                       # labels waiting for their instruction
    slot = 0
    where = filename or "<asm>"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _Line(raw, lineno, filename)
        while line.peek().kind == "ident" and line.peek(1).is_punct(":"):
            tok = line.next()
            line.next()
            if tok.text in labels:
                line.error(f"duplicate label {tok.text!r} (first defined on line "
                           f"{labels[tok.text][1]})", tok.col)
            labels[tok.text] = (slot, lineno)
            pending.append(tok.text)
        if line.at_end():
            continue
        insn = _instruction(line)
        label_ref = None
        if line.label is not None:
            label_ref, tok, field = line.label
            fixups.append(_Fixup(len(insns), slot, label_ref, field, line, tok))
        if exit_slot is None and insn.opcode == _EXIT_OPCODE:
            exit_slot = slot
        insn = insn.with_meta(symbol=pending[0] if pending else None, reference=label_ref,
                              line=f"{where}:{lineno}")
        pending.clear()
        insns.append(insn)
        slot += insn.slots
    if exit_slot is not None and "exit" not in labels:
        labels["exit"] = (exit_slot, 0)
    for fx in fixups:
        if fx.label not in labels:
            fx.line.error(f"undefined label {fx.label!r}", fx.tok.col)
        rel = labels[fx.label][0] - fx.slot - 1
        insn = insns[fx.index]
        if fx.field == "off":
            if not -(1 << 15) <= rel < (1 << 15):
                fx.line.error(f"label {fx.label!r} is {rel} slots away: out of 16-bit offset range",
                              fx.tok.col)
            insns[fx.index] = replace(insn, off=rel)
        elif fx.field == "imm":
            insns[fx.index] = replace(insn, imm=rel)
        else:
            insns[fx.index] = replace(insn, imm=rel & U32)
    return insns


def _instruction(line: _Line) -> Instruction:
    """Parse the instruction on ``line`` (a label target is left in ``line.label``)."""
    head = line.next()
    if head.kind != "ident":
        line.error(f"expected a mnemonic or label, found {_describe(head)}", head.col)
    mnemonic = head.text.lower()
    dst = src = off = imm = 0
    if mnemonic == "lock":
        form = _lock_form(line)
        dst, off = line.memory()
        line.punct(",", "after the memory operand")
        src = line.register()
    elif mnemonic == "call":
        form, dst, imm, off = _call(line)
    else:
        syntax = _MNEMONICS.get(mnemonic)
        if syntax is None:
            line.error(f"unknown mnemonic {head.text!r}", head.col)
        shape = syntax.shape
        form = syntax.form  # type: ignore[assignment]
        if shape in ("alu", "jump"):
            dst = line.register()
            line.punct(",", "after the destination register")
            src_tok = line.peek()
            is_reg, value = line.source()
            form = syntax.reg_form if is_reg else syntax.imm_form  # type: ignore[assignment]
            if form is None:
                line.error(f"{mnemonic} takes no {'register' if is_reg else 'immediate'} operand",
                           src_tok.col)
            if is_reg:
                src = value
            else:
                imm = value
            if shape == "jump":
                line.punct(",", "before the jump target")
                off = line.target("off")
        elif shape == "unary":
            dst = line.register()
        elif shape == "movsx":
            dst = line.register()
            line.punct(",", "after the destination register")
            src = line.register("source register")
        elif shape == "cast":
            dst = line.register()
            line.punct(",", "after the destination register")
            src = line.register("source register")
            line.punct(",", "before the destination address space")
            dst_as = _address_space(line)
            line.punct(",", "before the source address space")
            imm = _fit32(line, (dst_as << 16) | _address_space(line), head)
        elif shape == "ja":
            off = line.target("off")
        elif shape == "ja32":
            imm = line.target("imm")
        elif shape == "exit":
            pass
        elif shape == "lddw":
            dst = line.register()
            line.punct(",", "after the destination register")
            form, imm = _lddw_value(line)
        elif shape == "ldabs":
            imm = line.imm32()
        elif shape == "ldind":
            src = line.register("source register")
            line.punct(",", "after the source register")
            imm = line.imm32()
        elif shape == "load":
            dst = line.register()
            line.punct(",", "after the destination register")
            src, off = line.memory()
        elif shape == "store_imm":
            dst, off = line.memory()
            line.punct(",", "after the memory operand")
            imm = line.imm32()
        else:  # store
            dst, off = line.memory()
            line.punct(",", "after the memory operand")
            src = line.register("source register")
    line.finish()
    insn = Instruction(form.opcode, dst,
                       form.src if form.src is not None else src,
                       form.off if form.off is not None else off,
                       form.imm if form.imm is not None else imm)
    try:
        check(insn)
    except BpfDecodeError as e:  # pragma: no cover - the grammar only builds valid forms
        line.error(f"invalid instruction: {e.reason}", head.col)
    return insn


def _lock_form(line: _Line) -> Form:
    tok = line.next()
    fetch = False
    if tok.kind == "ident" and tok.text.lower() == "fetch":
        fetch = True
        tok = line.next()
    if tok.kind != "ident":
        line.error(f"expected an atomic operation after 'lock', found {_describe(tok)}", tok.col)
    op = tok.text.lower()
    # xchg and cmpxchg always fetch: they are written with or without 'fetch'.
    form = _LOCKED.get((op, True) if op in _ALWAYS_FETCH else (op, fetch))
    if form is None:
        ops = sorted({name for name, _ in _LOCKED})
        line.error(f"unknown atomic operation {tok.text!r} (expected one of {', '.join(ops)})",
                   tok.col)
    return form


def _call(line: _Line) -> tuple[Form, int, int, int]:
    """``call N``, ``call %rN``, ``call local T``, ``call runtime N[, off]``,
    optionally ``call helper N|%rN``: (form, dst, imm, off)."""
    tok = line.peek()
    mode = "helper"
    if tok.kind == "ident" and tok.text.lower() in _CALL_MODES:
        mode = tok.text.lower()
        line.i += 1
        tok = line.peek()
    if mode == "helper":
        if tok.kind == "reg":
            return _CALLX, line.register(), 0, 0
        if tok.kind == "ident":
            line.error(f"expected helper number, register, 'local' or 'runtime' after 'call', "
                       f"found {_describe(tok)}", tok.col)
        return _CALL_FORMS["helper"], 0, line.imm32("helper number"), 0
    if mode == "local":
        return _CALL_FORMS["local"], 0, line.target("imm"), 0
    imm = line.imm32("kfunc id")
    off = line.offset("module BTF index") if line.accept(",") else 0
    return _CALL_FORMS["kfunc"], 0, imm, off


def _lddw_value(line: _Line) -> tuple[Form, int]:
    tok = line.peek()
    src = PSEUDO_NONE
    if tok.kind == "ident" and tok.text.lower() in _LDDW_KEYWORDS:
        src = _LDDW_KEYWORDS[tok.text.lower()]
        line.i += 1
    form = _LDDW_FORMS[src]
    if src != PSEUDO_FUNC:
        return form, line.imm64()
    # A function address: a label or a signed 32-bit offset in the low half; an
    # unsigned number stands for the whole raw 64-bit value.
    tok = line.peek()
    if tok.kind == "num":
        return form, line.imm64()
    return form, line.target("func") & U32


def _address_space(line: _Line) -> int:
    value, tok, _ = line.number("address space number")
    if not 0 <= value <= 0xFFFF:
        line.error(f"address space {value} out of range (expected 0 to 65535)", tok.col)
    return value


# ---------------------------------------------------------------------------------------
# Disassembler
# ---------------------------------------------------------------------------------------

def _reg(n: int) -> str:
    return f"%r{n}"


def _imm(value: int) -> str:
    """Small and negative immediates in decimal, others in hex (as 32-bit values)."""
    if 0 <= value < 10 or -(1 << 31) < value < 0:
        return str(value)
    return f"{value & U32:#x}"


def _rel(value: int) -> str:
    return f"+{value}" if value >= 0 else str(value)


def _mem(reg: int, off: int) -> str:
    return f"[{_reg(reg)}]" if off == 0 else f"[{_reg(reg)}{_rel(off)}]"


def format_instruction(insn: Instruction) -> str:
    """The uBPF-syntax text of one instruction (raises BpfDecodeError if it is invalid)."""
    form = insn.form
    name, shape = spelling(form)
    k = form.kind
    if k is Kind.ATOMIC:
        fetch = "fetch " if form.fetch and name not in _ALWAYS_FETCH else ""
        return f"lock {fetch}{name} {_mem(insn.dst, insn.off)}, {_reg(insn.src)}"
    if k is Kind.CALLX:
        return f"call {_reg(insn.dst)}"
    if k is Kind.CALL:
        if form.op == "helper":
            return f"call {insn.imm}"
        if form.op == "local":
            return f"call local {_rel(insn.imm)}"
        extra = f", {insn.off}" if insn.off else ""
        return f"call runtime {insn.imm}{extra}"
    if k is Kind.LDDW:
        if form.src == PSEUDO_NONE:
            return f"lddw {_reg(insn.dst)}, {insn.imm:#x}"
        if form.src == PSEUDO_FUNC and insn.imm <= U32:
            value = _rel(to_signed(insn.imm, 32))
        else:
            value = f"{insn.imm:#x}"
        return f"lddw {_reg(insn.dst)}, {form.op} {value}"
    if shape in ("alu", "jump"):
        source = _reg(insn.src) if form.source_is_reg else _imm(insn.imm)
        text = f"{name} {_reg(insn.dst)}, {source}"
        return f"{text}, {_rel(insn.off)}" if shape == "jump" else text
    if shape == "unary":
        return f"{name} {_reg(insn.dst)}"
    if shape == "movsx":
        return f"{name} {_reg(insn.dst)}, {_reg(insn.src)}"
    if shape == "cast":
        imm = insn.imm & U32
        return f"{name} {_reg(insn.dst)}, {_reg(insn.src)}, {imm >> 16}, {imm & 0xFFFF}"
    if shape == "ja":
        return f"{name} {_rel(insn.off)}"
    if shape == "ja32":
        return f"{name} {_rel(insn.imm)}"
    if shape == "exit":
        return name
    if shape == "ldabs":
        return f"{name} {_imm(insn.imm)}"
    if shape == "ldind":
        return f"{name} {_reg(insn.src)}, {_imm(insn.imm)}"
    if shape == "load":
        return f"{name} {_reg(insn.dst)}, {_mem(insn.src, insn.off)}"
    if shape == "store_imm":
        return f"{name} {_mem(insn.dst, insn.off)}, {_imm(insn.imm)}"
    return f"{name} {_mem(insn.dst, insn.off)}, {_reg(insn.src)}"


def disassemble(insns: Sequence[Instruction]) -> list[str]:
    """One line per instruction (lddw is one line); jump targets as relative offsets."""
    return [format_instruction(insn) for insn in insns]

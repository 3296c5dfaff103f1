"""The Instruction value type and the bytecode encoder/decoder.

An encoded instruction is 8 bytes, little endian: opcode, registers (dst low nibble,
src high nibble), a signed 16-bit offset and a signed 32-bit immediate. ``lddw`` takes
two slots; here it is one :class:`Instruction` whose ``imm`` holds the whole 64-bit value.
Indexes and jump offsets count slots, as the kernel and llvm-objdump do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from pybpf.errors import BpfDecodeError
from pybpf.isa.opcodes import FORMS_BY_NAME, OPCODE_LDDW, Form, Kind, form_for

_SLOT = struct.Struct("<BBhi")
MAX_REG = 10
U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Instruction:
    """One eBPF instruction.

    ``imm`` is signed 32-bit for every instruction but ``lddw``, where it is the
    unsigned 64-bit value of both slots. ``symbol`` (a function or label starting here),
    ``reference`` (what a call or lddw refers to, e.g. a map name) and ``line`` (source
    position) are metadata: they do not take part in equality or encoding.
    """

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    symbol: str | None = field(default=None, compare=False)
    reference: str | None = field(default=None, compare=False)
    line: str | None = field(default=None, compare=False)

    @property
    def form(self) -> Form:
        """The ISA table row of this instruction (raises for an invalid one)."""
        form = form_for(self.opcode, self.src, self.off, self.imm)
        if form is None:
            raise BpfDecodeError(_unknown_reason(self.opcode, self.src, self.off, self.imm))
        return form

    @property
    def slots(self) -> int:
        return 2 if self.opcode == OPCODE_LDDW else 1

    def with_meta(self, **changes: object) -> "Instruction":
        return replace(self, **changes)

    def encode(self) -> bytes:
        return encode([self])

    @classmethod
    def make(cls, form_name: str, dst: int = 0, src: int | None = None, off: int | None = None,
             imm: int | None = None, **meta: object) -> "Instruction":
        """Build an instruction from its form name, filling the form's fixed fields."""
        form = FORMS_BY_NAME[form_name]
        return cls(form.opcode, dst,
                   form.src if form.src is not None else (src or 0),
                   form.off if form.off is not None else (off or 0),
                   form.imm if form.imm is not None else (imm or 0), **meta)  # type: ignore[arg-type]


def _unknown_reason(opcode: int, src: int, off: int, imm: int) -> str:
    from pybpf.isa.opcodes import FORMS_BY_OPCODE

    forms = FORMS_BY_OPCODE.get(opcode)
    if not forms:
        return f"unknown opcode {opcode:#04x}"
    if any(f.off is not None for f in forms) and all(f.off != off for f in forms if f.off is not None):
        return f"opcode {opcode:#04x}: invalid offset {off} (reserved field set)"
    if any(f.imm is not None for f in forms):
        return f"opcode {opcode:#04x}: invalid immediate {imm:#x}"
    return f"opcode {opcode:#04x}: invalid src_reg {src}"


def check(insn: Instruction, index: int | None = None) -> Form:
    """Validate one instruction's fields against the ISA table; return its form."""
    form = form_for(insn.opcode, insn.src, insn.off, insn.imm)
    if form is None:
        raise BpfDecodeError(_unknown_reason(insn.opcode, insn.src, insn.off, insn.imm), index)
    ops = form.operands
    for name, value in (("dst", insn.dst), ("src", insn.src)):
        if name in ops:
            if not 0 <= value <= MAX_REG:
                raise BpfDecodeError(f"bad register r{value} in {name}_reg", index)
        elif value != 0 and not (name == "src" and form.src is not None):
            raise BpfDecodeError(f"reserved field set: {name}_reg is {value} in {form.name}", index)
    if "off" not in ops and form.off is None and insn.off != 0:
        raise BpfDecodeError(f"reserved field set: offset is {insn.off} in {form.name}", index)
    if form.kind is Kind.LDDW:
        if not 0 <= insn.imm <= U64:
            raise BpfDecodeError(f"lddw immediate {insn.imm:#x} out of 64-bit range", index)
    elif "imm" not in ops and form.imm is None and insn.imm != 0:
        raise BpfDecodeError(f"reserved field set: immediate is {insn.imm:#x} in {form.name}", index)
    elif not -(1 << 31) <= insn.imm < (1 << 31):
        raise BpfDecodeError(f"immediate {insn.imm:#x} out of signed 32-bit range", index)
    if not -(1 << 15) <= insn.off < (1 << 15):
        raise BpfDecodeError(f"offset {insn.off} out of signed 16-bit range", index)
    return form


def encode(insns: Iterable[Instruction]) -> bytes:
    """Encode instructions to bytecode, validating each one."""
    out = bytearray()
    index = 0
    for insn in insns:
        check(insn, index)
        regs = (insn.src << 4) | insn.dst
        if insn.opcode == OPCODE_LDDW:
            lo = insn.imm & 0xFFFFFFFF
            hi = insn.imm >> 32
            out += _SLOT.pack(insn.opcode, regs, insn.off, to_signed(lo, 32))
            out += _SLOT.pack(0, 0, 0, to_signed(hi, 32))
            index += 2
        else:
            out += _SLOT.pack(insn.opcode, regs, insn.off, insn.imm)
            index += 1
    return bytes(out)


def decode(data: bytes | bytearray | memoryview) -> list[Instruction]:
    """Decode bytecode into instructions, rejecting anything the ISA does not define."""
    data = bytes(data)
    if len(data) % 8:
        raise BpfDecodeError(f"length {len(data)} is not a multiple of 8 (instruction size)",
                             len(data) // 8)
    count = len(data) // 8
    insns: list[Instruction] = []
    i = 0
    while i < count:
        opcode, regs, off, imm = _SLOT.unpack_from(data, i * 8)
        insn = Instruction(opcode, regs & 0x0F, regs >> 4, off, imm)
        if opcode == OPCODE_LDDW:
            if i + 1 >= count:
                raise BpfDecodeError("truncated lddw: second half missing", i)
            op2, regs2, off2, imm2 = _SLOT.unpack_from(data, (i + 1) * 8)
            if op2 != 0 or regs2 != 0 or off2 != 0:
                raise BpfDecodeError("invalid second half of lddw: opcode, registers and offset "
                                     "must be zero", i + 1)
            insn = Instruction(opcode, regs & 0x0F, regs >> 4, off,
                               (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32))
        check(insn, i)
        insns.append(insn)
        i += insn.slots
    return insns


def slot_indexes(insns: Sequence[Instruction]) -> list[int]:
    """The slot index of each instruction (lddw takes two slots)."""
    out = []
    pc = 0
    for insn in insns:
        out.append(pc)
        pc += insn.slots
    return out


def to_signed(value: int, bits: int) -> int:
    """Reinterpret the low ``bits`` bits of ``value`` as a two's complement number."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value

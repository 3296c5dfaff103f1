"""Linking programs: bpf-to-bpf calls, callbacks, and map / global-data references.

Every executable section is decoded once and cut into functions at its ``STT_FUNC``
symbols. A program is its entry function followed by every function it reaches, in
the order they are first reached (libbpf appends subprograms the same way), with:

- ``call`` (src ``BPF_PSEUDO_CALL``) imm rewritten to the callee's new pc-relative
  offset. The callee comes from an ``R_BPF_64_32`` relocation (symbol value / 8 + imm +
  1, which covers both function symbols with imm -1 and section symbols with imm =
  slot - 1) or, without a relocation, from the same section (pc + imm + 1);
- ``lddw rX, func`` (``R_BPF_64_64`` against an executable section) turned into
  ``BPF_PSEUDO_FUNC`` with imm the callee's offset relative to the next slot;
- ``lddw`` of a map (``R_BPF_64_64`` against ``.maps``/``maps``) → ``BPF_PSEUDO_MAP_FD``
  with ``reference`` the map name, imm 0; of global data → ``BPF_PSEUDO_MAP_VALUE`` with
  ``reference`` the section name and the offset in the high 32 bits of imm.

Section offsets are bytes; a linked program's instruction positions are *slots*
(lddw takes two), the unit of jump offsets, of the kernel's func_info/line_info and of
``CoreRelo.insn``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pybpf.elf.elffile import R_BPF_64_32, R_BPF_64_64, ElfFile, Reloc, Section
from pybpf.elf.maps import MapTable
from pybpf.errors import BpfDecodeError, ElfError
from pybpf.isa import Instruction, decode, to_signed
from pybpf.isa.opcodes import OPCODE_CALL, OPCODE_LDDW
from pybpf.isa.uapi import (BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL,
                            BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE)


@dataclass
class Function:
    """One function of an executable section: slots ``[start, end)`` of the section."""

    name: str
    section: Section
    start: int
    end: int
    is_global: bool
    insns: list[Instruction] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)     # section slot of each insn

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class LinkedFunction:
    function: Function
    base: int          # slot of its first instruction in the linked program


@dataclass
class Linked:
    insns: list[Instruction]
    functions: list[LinkedFunction]


class CodeSections:
    """All functions of all executable sections, decoded, with their relocations."""

    def __init__(self, elf: ElfFile, maps: MapTable):
        self.elf = elf
        self.maps = maps
        self.functions: dict[tuple[int, int], Function] = {}   # (shndx, start slot)
        self.by_section: dict[int, list[Function]] = {}
        for section in elf.sections:
            if section.executable and section.type == "SHT_PROGBITS" and section.size:
                self._cut(section)

    def _cut(self, section: Section) -> None:
        name = section.name
        if section.size % 8:
            raise ElfError(f"section {name}: size {section.size:#x} is not a multiple of 8")
        try:
            insns = decode(section.data)
        except BpfDecodeError as e:
            raise ElfError(f"section {name} offset {(e.index or 0) * 8:#x}: {e.reason}") from e
        slot_of: list[int] = []
        pc = 0
        for insn in insns:
            slot_of.append(pc)
            pc += insn.slots
        index_of = {slot: i for i, slot in enumerate(slot_of)}
        total = section.size // 8
        for offset in self.elf.relocs_for(section.index):
            if offset % 8 or offset // 8 not in index_of:
                raise ElfError(f"section {name} offset {offset:#x}: relocation does not point "
                               f"at the start of an instruction")
        symbols = sorted((s for s in self.elf.symbols_in(section.index) if s.type == "FUNC"),
                         key=lambda s: s.value)
        functions: list[Function] = []
        for n, sym in enumerate(symbols):
            where = f"section {name} offset {sym.value:#x}"
            if sym.value % 8 or sym.size % 8 or sym.value + sym.size > section.size:
                raise ElfError(f"{where}: function {sym.name!r} ({sym.size} bytes) is not "
                               f"within whole instructions of the section")
            start = sym.value // 8
            end = start + sym.size // 8 if sym.size else (
                symbols[n + 1].value // 8 if n + 1 < len(symbols) else total)
            if functions and start < functions[-1].end:
                raise ElfError(f"{where}: function {sym.name!r} overlaps "
                               f"{functions[-1].name!r}")
            if start not in index_of or (end < total and end not in index_of) or end <= start:
                raise ElfError(f"{where}: function {sym.name!r} starts or ends inside an "
                               f"instruction")
            first, last = index_of[start], index_of.get(end, len(insns))
            fn = Function(sym.name, section, start, end, sym.is_global, insns[first:last],
                          slot_of[first:last])
            functions.append(fn)
            self.functions[(section.index, start)] = fn
        self.by_section[section.index] = functions

    def programs(self) -> list[Function]:
        """Entry functions: global functions of executable sections other than ``.text``."""
        out = []
        for fns in self.by_section.values():
            for fn in fns:
                if fn.section.name == ".text":
                    continue
                if not fn.is_global:
                    raise ElfError(f"section {fn.section.name} offset {fn.start * 8:#x}: "
                                   f"program {fn.name!r} is static; programs must be global")
                out.append(fn)
        return out

    # -- linking ----------------------------------------------------------------------------
    def _target(self, where: str, shndx: int, slot: int, what: str) -> Function:
        fn = self.functions.get((shndx, slot))
        if fn is None:
            sec = self.elf.sections[shndx].name
            raise ElfError(f"{where}: {what} targets {sec} offset {slot * 8:#x}, which is not "
                           f"the start of a function")
        return fn

    def link(self, entry: Function) -> Linked:
        order = [entry]
        seen = {id(entry)}
        # per function: list of (insn index, action, payload)
        patches: list[list[tuple[int, str, object]]] = []
        i = 0
        while i < len(order):
            fn = order[i]
            fn_patches = []
            relocs = self.elf.relocs_for(fn.section.index)
            for k, insn in enumerate(fn.insns):
                slot = fn.slots[k]
                reloc = relocs.get(slot * 8)
                action = self._classify(fn, insn, slot, reloc)
                if action is None:
                    continue
                kind, payload = action
                if kind in ("call", "func"):
                    target = payload
                    if id(target) not in seen:
                        seen.add(id(target))
                        order.append(target)
                fn_patches.append((k, kind, payload))
            patches.append(fn_patches)
            i += 1
        bases: dict[int, int] = {}
        pc = 0
        for fn in order:
            bases[id(fn)] = pc
            pc += fn.length
        out: list[Instruction] = []
        for fn, fn_patches in zip(order, patches):
            insns = list(fn.insns)
            base = bases[id(fn)]
            for k, kind, payload in fn_patches:
                insn = insns[k]
                here = base + fn.slots[k] - fn.start
                if kind == "call":
                    rel = bases[id(payload)] - here - 1
                    insns[k] = insn.with_meta(imm=rel, reference=payload.name)
                elif kind == "func":
                    rel = bases[id(payload)] - here - 1
                    insns[k] = insn.with_meta(src=BPF_PSEUDO_FUNC, imm=rel & 0xFFFFFFFF,
                                              reference=payload.name)
                elif kind == "map":
                    insns[k] = insn.with_meta(src=BPF_PSEUDO_MAP_FD, imm=0, reference=payload)
                elif kind == "value":
                    name, offset = payload
                    insns[k] = insn.with_meta(src=BPF_PSEUDO_MAP_VALUE, imm=offset << 32,
                                              reference=name)
            if insns:
                insns[0] = insns[0].with_meta(symbol=fn.name)
            out.extend(insns)
        return Linked(out, [LinkedFunction(fn, bases[id(fn)]) for fn in order])

    def _classify(self, fn: Function, insn: Instruction, slot: int,
                  reloc: Reloc | None) -> tuple[str, object] | None:
        where = f"section {fn.section.name} offset {slot * 8:#x}"
        if insn.opcode == OPCODE_CALL:
            if reloc is not None:
                sym = reloc.symbol
                if reloc.type != R_BPF_64_32:
                    raise ElfError(f"{where}: relocation type {reloc.type} on a call")
                if not sym.defined:
                    kind = "kfunc" if insn.src == BPF_PSEUDO_KFUNC_CALL else "extern function"
                    raise ElfError(f"{where}: call to {kind} {sym.name!r} is not supported")
                if insn.src != BPF_PSEUDO_CALL:
                    raise ElfError(f"{where}: relocated call with src_reg {insn.src}")
                target_section = self.elf.sections[sym.shndx]
                if not target_section.executable:
                    raise ElfError(f"{where}: call to {sym.name!r} in non-code section "
                                   f"{target_section.name}")
                if sym.value % 8:
                    raise ElfError(f"{where}: call target {sym.name!r} is not aligned")
                target = sym.value // 8 + insn.imm + 1
                return "call", self._target(where, sym.shndx, target, "call")
            if insn.src == BPF_PSEUDO_CALL:
                target = slot + insn.imm + 1
                return "call", self._target(where, fn.section.index, target, "call")
            return None
        if reloc is None:
            return None
        sym = reloc.symbol
        if insn.opcode != OPCODE_LDDW or reloc.type != R_BPF_64_64:
            raise ElfError(f"{where}: relocation type {reloc.type} against {sym.name!r} on an "
                           f"instruction that is not lddw (opcode {insn.opcode:#04x})")
        if not sym.defined:
            raise ElfError(f"{where}: reference to extern {sym.name!r} (.kconfig / .ksyms "
                           f"externs) is not supported")
        target_section = self.elf.sections[sym.shndx]
        addend = to_signed(insn.imm & 0xFFFFFFFF, 32)
        offset = sym.value + addend
        if target_section.executable:
            if offset % 8 or offset < 0:
                raise ElfError(f"{where}: callback address {offset:#x} in "
                               f"{target_section.name} is not an instruction")
            return "func", self._target(where, sym.shndx, offset // 8, "callback lddw")
        if target_section.name in (".maps", "maps"):
            name = None
            if sym.type != "SECTION" and sym.name in self.maps.maps:
                name = sym.name
            else:
                name = self.maps.name_at(sym.shndx, offset)
            if name is None:
                raise ElfError(f"{where}: lddw of {target_section.name} offset {offset:#x} "
                               f"({sym.name!r}), which is not a map")
            return "map", name
        spec = self.maps.maps.get(target_section.name)
        if spec is not None and spec.data is not None:
            if not 0 <= offset <= spec.value_size:
                raise ElfError(f"{where}: lddw of {target_section.name} offset {offset:#x}, "
                               f"outside the section ({spec.value_size:#x} bytes)")
            return "value", (target_section.name, offset)
        raise ElfError(f"{where}: lddw of {sym.name!r} in section {target_section.name!r}, "
                       f"which is neither a map nor global data")

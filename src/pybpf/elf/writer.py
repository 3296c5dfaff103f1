"""Write an :class:`~pybpf.elf.spec.ObjectSpec` as a relocatable BPF ELF that libbpf loads.

The object has the shape clang gives one (``clang -target bpf -c``), because that is the
shape libbpf (1.x) and bpftool understand:

* each program in its section (``socket``, ``xdp``, ...) under a global ``STT_FUNC``
  symbol; the subprograms a program reaches (targets of ``call_local`` and of
  ``BPF_PSEUDO_FUNC`` lddws, already linked into ``ProgramSpec.insns``) are split off into
  ``.text`` under local ``STT_FUNC`` symbols, since libbpf only links calls into ``.text``;
  calls and callback addresses are relocations against the ``.text`` section symbol
  (``R_BPF_64_32`` / ``R_BPF_64_64``), as clang emits them for static functions;
* maps as BTF-defined ``.maps`` (libbpf 1.0 dropped the legacy ``maps`` section): a
  ``struct { int (*type)[T]; int (*max_entries)[N]; ... }`` variable per map, described
  by a small ``.BTF`` generated here, with ``key_size``/``value_size`` fields (sizes,
  not types); map-in-map and prog-array ``contents`` become ``values`` relocations;
* global-data maps (``.data``, ``.rodata``, ``.bss``, ``.data.*``...) as data sections with
  a ``DATASEC`` and one global symbol per variable;
* an ``lddw`` with ``reference`` set becomes a zero ``lddw`` plus an ``R_BPF_64_64``
  relocation: against the map's symbol for ``BPF_PSEUDO_MAP_FD``, against the variable (or
  section) for ``BPF_PSEUDO_MAP_VALUE`` into a data section, offset in the instruction.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from pybpf.elf.btf_build import BTF_FUNC_GLOBAL, BTF_FUNC_STATIC, BtfBuilder
from pybpf.elf.spec import MapSpec, ObjectSpec, ProgramSpec
from pybpf.errors import ElfError
from pybpf.isa import Instruction, encode, slot_indexes
from pybpf.isa.opcodes import OPCODE_CALL, OPCODE_LDDW
from pybpf.isa.uapi import (
    BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, MapType,
)

EM_BPF = 247
R_BPF_64_64 = 1
R_BPF_64_32 = 10
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_REL = 1, 2, 3, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_INFO_LINK = 0x1, 0x2, 0x4, 0x40
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3

SUBPROG_ARGS = 5   # a subprogram's prototype: long long f(u64 a1, ..., u64 a5)

# .maps struct fields written when they differ from 0, in libbpf's order.
_MAP_FIELDS = ("type", "key_size", "value_size", "max_entries", "map_flags", "numa_node",
               "pinning", "map_extra")
DATA_PREFIXES = (".data", ".rodata", ".bss")


# ----------------------------------------------------------------------------- programs


@dataclass
class _Code:
    """Instructions bound for one section, with relocations (slot index, symbol key, type)."""

    insns: list[Instruction] = field(default_factory=list)
    relocs: list[tuple[int, str, int]] = field(default_factory=list)
    symbols: list[tuple[str, int, int, int]] = field(default_factory=list)  # name, slot, slots, bind

    @property
    def slots(self) -> int:
        return sum(i.slots for i in self.insns)


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _is_local_call(insn: Instruction) -> bool:
    return insn.opcode == OPCODE_CALL and insn.src == BPF_PSEUDO_CALL


def _is_func_addr(insn: Instruction) -> bool:
    return insn.opcode == OPCODE_LDDW and insn.src == BPF_PSEUDO_FUNC


def _split(prog: ProgramSpec) -> list[tuple[int, int]]:
    """(first slot, end slot) of the entry function, then of each subprogram it reaches."""
    slots = slot_indexes(prog.insns)
    total = sum(i.slots for i in prog.insns)
    starts = {0}
    for at, insn in zip(slots, prog.insns):
        if _is_local_call(insn) or _is_func_addr(insn):
            target = at + _signed32(insn.imm) + 1
            if not 0 < target < total:
                raise ElfError(f"program {prog.name}: instruction at slot {at} calls slot "
                               f"{target}, outside the program")
            starts.add(target)
    if not set(slots) >= starts:
        raise ElfError(f"program {prog.name}: a call targets the middle of an lddw")
    edges = sorted(starts) + [total]
    return list(zip(edges, edges[1:]))


class _Writer:
    def __init__(self, spec: ObjectSpec):
        self.spec = spec
        self.code: dict[str, _Code] = {}
        self.text = _Code()
        self.btf = BtfBuilder()
        self.maps_data = bytearray()
        self.map_offsets: dict[str, int] = {}
        self.map_sizes: dict[str, int] = {}
        self.maps_relocs: list[tuple[int, str, int]] = []   # byte offset, symbol key, type
        self.data_maps = {n: m for n, m in spec.maps.items() if m.data is not None}
        self.btf_maps = {n: m for n, m in spec.maps.items() if m.data is None}

    # -- programs

    def add_program(self, prog: ProgramSpec) -> None:
        ranges = _split(prog)
        slots = slot_indexes(prog.insns)
        by_slot = dict(zip(slots, prog.insns))
        code = self.code.setdefault(prog.section, _Code())
        # subprograms go to .text one after another: where each one starts there
        text_slot: dict[int, int] = {}
        base = self.text.slots
        for lo, hi in ranges[1:]:
            text_slot[lo] = base
            base += hi - lo
        for n, (lo, hi) in enumerate(ranges):
            target = code if n == 0 else self.text
            start = target.slots
            if n == 0:
                name = prog.name
            else:
                name = self._unique_text_name(by_slot[lo].symbol or f"{prog.name}__sub{n}")
            target.symbols.append((name, start, hi - lo, STB_GLOBAL if n == 0 else STB_LOCAL))
            for at in (s for s in slots if lo <= s < hi):
                target.insns.append(self._relocate(prog, by_slot[at], at, start + at - lo,
                                                   target, text_slot))

    def _unique_text_name(self, name: str) -> str:
        """A C identifier (BTF FUNC names must be) not yet used in ``.text``."""
        name = re.sub(r"\W", "_", name)
        if not name or name[0].isdigit():
            name = "_" + name
        taken = {s[0] for s in self.text.symbols}
        out, n = name, 1
        while out in taken:
            n += 1
            out = f"{name}_{n}"
        return out

    def _relocate(self, prog: ProgramSpec, insn: Instruction, at: int, here: int,
                  code: _Code, text_slot: dict[int, int]) -> Instruction:
        """The instruction as the ELF holds it, recording its relocation in ``code``."""
        if _is_local_call(insn) or _is_func_addr(insn):
            sub = text_slot[at + _signed32(insn.imm) + 1]
            if _is_local_call(insn):   # clang's static call: imm + 1 = slot in .text
                code.relocs.append((here, ".text", R_BPF_64_32))
                return Instruction(insn.opcode, insn.dst, BPF_PSEUDO_CALL, insn.off, sub - 1)
            code.relocs.append((here, ".text", R_BPF_64_64))   # byte offset in .text
            return Instruction(OPCODE_LDDW, insn.dst, 0, 0, sub * 8)
        if insn.opcode == OPCODE_LDDW and insn.reference is not None:
            return self._data_reference(prog, insn, here, code)
        if insn.opcode == OPCODE_LDDW and insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
            raise ElfError(f"program {prog.name}: lddw at slot {at} loads a map but names none "
                           "(set Instruction.reference to the map's name)")
        return Instruction(insn.opcode, insn.dst, insn.src, insn.off, insn.imm)

    def _data_reference(self, prog: ProgramSpec, insn: Instruction, here: int,
                        code: _Code) -> Instruction:
        name = insn.reference
        assert name is not None
        mapspec = self.spec.maps.get(name)
        if mapspec is None:
            raise ElfError(f"program {prog.name}: lddw refers to {name!r}, which is not a map "
                           f"of the object")
        if insn.src == BPF_PSEUDO_MAP_FD and mapspec.data is None:
            code.relocs.append((here, f"map:{name}", R_BPF_64_64))
            return Instruction(OPCODE_LDDW, insn.dst, 0, 0, 0)
        if insn.src == BPF_PSEUDO_MAP_VALUE and mapspec.data is not None:
            offset = insn.imm >> 32
            var = next((v for v in mapspec.variables.values() if v.offset == offset), None)
            if var is not None:
                code.relocs.append((here, f"var:{name}:{var.name}", R_BPF_64_64))
                return Instruction(OPCODE_LDDW, insn.dst, 0, 0, 0)
            code.relocs.append((here, f"sec:{_data_section(mapspec)}", R_BPF_64_64))
            return Instruction(OPCODE_LDDW, insn.dst, 0, 0, offset)
        raise ElfError(f"program {prog.name}: lddw of {name!r} with src_reg {insn.src}: "
                       "an ELF object can express map fds of .maps maps and values of "
                       "global-data sections only")

    # -- maps

    def add_btf_map(self, m: MapSpec, *, inner: bool = False) -> tuple[int, int]:
        """The BTF struct of one map definition; returns (type id, allocated byte size).

        ``values`` (prog-array and map-in-map initial values) is a zero-sized array, as
        libbpf requires; the variable's storage extends past the struct to hold the values.
        """
        b = self.btf
        values = {"type": m.type, "key_size": m.key_size, "value_size": m.value_size,
                  "max_entries": m.max_entries, "map_flags": m.flags, "numa_node": m.numa_node,
                  "pinning": m.pinning, "map_extra": m.map_extra}
        fields = [f for f in _MAP_FIELDS if values[f] or f == "type"]
        members = [(f, b.ptr(b.array(b.int_(), values[f])), 8 * i) for i, f in enumerate(fields)]
        size = 8 * len(members)
        elem = None
        if m.inner is not None:
            if inner:
                raise ElfError(f"map {m.name}: an inner map cannot itself hold maps")
            elem, _ = self.add_btf_map(m.inner, inner=True)
        elif m.contents and _is_prog_array(m):
            elem = b.func_proto([])   # libbpf wants an array of pointers to functions
        if elem is not None:
            members.append(("values", b.array(b.ptr(elem), 0), size))
        tid = b.struct("" if inner else f"__{m.name}_def", members, size)
        return tid, size + (0 if inner or elem is None else 8 * _values_count(m))

    def layout_maps(self) -> list[tuple[int, int, int]]:
        entries = []
        for name, m in self.btf_maps.items():
            if m.contents and not (m.inner is not None or _is_prog_array(m)):
                raise ElfError(f"map {name}: initial contents of a {m.type} map cannot be "
                               "written to an ELF object (only prog_array and map-in-map "
                               "values)")
            tid, size = self.add_btf_map(m)
            off = len(self.maps_data)
            self.map_offsets[name] = off
            self.map_sizes[name] = size
            self.maps_data += bytes(size)
            var = self.btf.var(name, tid)
            entries.append((var, off, size))
            if m.contents:
                base = off + size - 8 * _values_count(m)
                for key, target in m.contents:
                    if not isinstance(target, str) or not isinstance(key, int):
                        raise ElfError(f"map {name}: contents must be (index, name) pairs in "
                                       f"an ELF object, got {key!r}: {target!r}")
                    kind = "prog" if _is_prog_array(m) else "map"
                    self.maps_relocs.append((base + 8 * key, f"{kind}:{target}", R_BPF_64_64))
        return entries

    def layout_data(self) -> dict[str, list[tuple[int, int, int]]]:
        out: dict[str, list[tuple[int, int, int]]] = {}
        for m in self.data_maps.values():
            sec = _data_section(m)
            if not sec.startswith(DATA_PREFIXES):
                raise ElfError(f"map {m.name}: global data must live in a .data*, .rodata* or "
                               f".bss* section, not {sec!r}")
            rows = []
            for v in sorted(m.variables.values(), key=lambda v: v.offset):
                rows.append((self.btf.var(v.name, self.btf.data_type(v.size)), v.offset, v.size))
            out[sec] = rows
        return out


def _data_section(m: MapSpec) -> str:
    return m.section if m.section not in ("", ".maps") else m.name


def _is_prog_array(m: MapSpec) -> bool:
    return m.type == MapType.PROG_ARRAY


def _values_count(m: MapSpec) -> int:
    keys = [k for k, _ in m.contents if isinstance(k, int)]
    return max(keys) + 1 if keys else 0


# ----------------------------------------------------------------------------- ELF


@dataclass
class _Section:
    name: str
    type: int
    flags: int = 0
    data: bytes = b""
    size: int | None = None      # for SHT_NOBITS
    link: int = 0
    info: int = 0
    align: int = 1
    entsize: int = 0


class _Strtab:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self._index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self._index:
            self._index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self._index[s]


def write_object(spec: ObjectSpec) -> bytes:
    """A relocatable BPF ELF object (EM_BPF, ELF64, little endian) holding ``spec``."""
    w = _Writer(spec)
    for prog in spec.programs.values():
        w.add_program(prog)
    map_entries = w.layout_maps()
    data_entries = w.layout_data()
    if map_entries:
        w.btf.datasec(".maps", map_entries, len(w.maps_data))
    for m in w.data_maps.values():
        sec = _data_section(m)
        w.btf.datasec(sec, data_entries[sec], _data_size(m))

    sections: list[_Section] = [_Section("", 0)]
    strtab = _Strtab()
    sections.append(_Section(".strtab", SHT_STRTAB))
    index: dict[str, int] = {}

    def add(sec: _Section) -> int:
        sections.append(sec)
        index[sec.name] = len(sections) - 1
        return index[sec.name]

    code_sections: list[tuple[str, _Code]] = []
    if w.text.insns:
        code_sections.append((".text", w.text))
    code_sections += list(w.code.items())
    for name, code in code_sections:
        add(_Section(name, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, encode(code.insns), align=8))
    license = spec.license.encode() + b"\0"
    add(_Section("license", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, license))
    if spec.kern_version:
        add(_Section("version", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE,
                     struct.pack("<I", spec.kern_version), align=4))
    if w.btf_maps:
        add(_Section(".maps", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, bytes(w.maps_data), align=8))
    for m in w.data_maps.values():
        sec = _data_section(m)
        if sec.startswith(".bss"):
            if any(m.data or b""):
                raise ElfError(f"map {m.name}: a .bss section holds zeros only")
            add(_Section(sec, SHT_NOBITS, SHF_ALLOC | SHF_WRITE, size=_data_size(m), align=8))
        else:
            flags = SHF_ALLOC | (0 if sec.startswith(".rodata") else SHF_WRITE)
            add(_Section(sec, SHT_PROGBITS, flags, bytes(m.data or b""), align=8))
    func_info = _func_info(w.btf, code_sections)
    if map_entries or w.data_maps or func_info:
        add(_Section(".BTF", SHT_PROGBITS, 0, w.btf.encode(), align=4))
    if func_info:
        add(_Section(".BTF.ext", SHT_PROGBITS, 0, w.btf.encode_ext(func_info), align=4))

    # symbols: locals (sections, subprograms) first, then globals
    symbols: list[tuple[str, int, int, int, int, int]] = [("", 0, 0, 0, 0, 0)]
    sym_index: dict[str, int] = {}

    def sym(key: str | None, name: str, typ: int, bind: int, shndx: int, value: int,
            size: int) -> None:
        if key is not None:
            sym_index[key] = len(symbols)
        symbols.append((name, (bind << 4) | typ, shndx, value, size, bind))

    if w.text.insns:
        sym(".text", "", STT_SECTION, STB_LOCAL, index[".text"], 0, 0)
    for m in w.data_maps.values():
        sec = _data_section(m)
        sym(f"sec:{sec}", "", STT_SECTION, STB_LOCAL, index[sec], 0, 0)
    for name, code in code_sections:
        for sname, start, slots, bind in code.symbols:
            if bind == STB_LOCAL:
                sym(None, sname, STT_FUNC, STB_LOCAL, index[name], start * 8, slots * 8)
    first_global = len(symbols)
    for name, code in code_sections:
        for sname, start, slots, bind in code.symbols:
            if bind == STB_GLOBAL:
                sym(f"prog:{sname}", sname, STT_FUNC, STB_GLOBAL, index[name], start * 8,
                    slots * 8)
    for name in w.btf_maps:
        sym(f"map:{name}", name, STT_OBJECT, STB_GLOBAL, index[".maps"], w.map_offsets[name],
            w.map_sizes[name])
    for m in w.data_maps.values():
        for v in m.variables.values():
            sym(f"var:{m.name}:{v.name}", v.name, STT_OBJECT, STB_GLOBAL,
                index[_data_section(m)], v.offset, v.size)
    sym(None, "LICENSE", STT_OBJECT, STB_GLOBAL, index["license"], 0, len(license))

    symtab_index = len(sections) + sum(1 for _, c in code_sections if c.relocs) + (
        1 if w.maps_relocs else 0)

    def rel_section(target: str, relocs: Iterable[tuple[int, str, int]], unit: int) -> None:
        data = bytearray()
        for where, key, rtype in relocs:
            if key not in sym_index:
                what, _, rest = key.partition(":")
                raise ElfError(f"section {target}: relocation against unknown {what} {rest!r}")
            data += struct.pack("<QQ", where * unit, (sym_index[key] << 32) | rtype)
        add(_Section(".rel" + target, SHT_REL, SHF_INFO_LINK, bytes(data), link=symtab_index,
                     info=index[target], align=8, entsize=16))

    for name, code in code_sections:
        if code.relocs:
            rel_section(name, code.relocs, 8)
    if w.maps_relocs:
        rel_section(".maps", w.maps_relocs, 1)
    assert len(sections) == symtab_index

    symdata = bytearray()
    for name, info, shndx, value, size, _ in symbols:
        symdata += struct.pack("<IBBHQQ", strtab.add(name), info, 0, shndx, value, size)
    sections.append(_Section(".symtab", SHT_SYMTAB, 0, bytes(symdata), link=1,
                             info=first_global, align=8, entsize=24))
    for sec in sections[1:]:
        strtab.add(sec.name)
    sections[1].data = bytes(strtab.data)
    return _serialize(sections, strtab)


def _func_info(btf: BtfBuilder, code_sections: list[tuple[str, _Code]]
               ) -> list[tuple[str, list[tuple[int, int]]]]:
    """A BTF FUNC per function (the kernel needs them once a program has callbacks)."""
    void_ptr = btf.ptr(0)
    entry_proto = btf.func_proto([("ctx", void_ptr)])
    u64 = btf.int_("unsigned long long", 8, signed=False)
    sub_proto = btf.func_proto([(f"a{i}", u64) for i in range(1, SUBPROG_ARGS + 1)],
                               btf.int_("long long", 8))
    out = []
    for name, code in code_sections:
        records = []
        for sym, start, _, bind in code.symbols:
            if bind == STB_GLOBAL:
                tid = btf.func(sym, entry_proto, BTF_FUNC_GLOBAL)
            else:
                tid = btf.func(sym, sub_proto, BTF_FUNC_STATIC)
            records.append((start * 8, tid))
        if records:
            btf.s(name)   # the section name must be in .BTF's strings, encoded before .BTF.ext
            out.append((name, records))
    return out


def _data_size(m: MapSpec) -> int:
    return max(len(m.data or b""), m.value_size)


def _serialize(sections: list[_Section], strtab: _Strtab) -> bytes:
    out = bytearray(64)
    offsets = []
    for sec in sections:
        if sec.type in (0, SHT_NOBITS):
            offsets.append(len(out) if sec.type else 0)
            continue
        out += bytes(-len(out) % max(sec.align, 1))
        offsets.append(len(out))
        out += sec.data
    out += bytes(-len(out) % 8)
    shoff = len(out)
    for sec, off in zip(sections, offsets):
        size = sec.size if sec.size is not None else len(sec.data)
        name = strtab.add(sec.name) if sec.name else 0
        out += struct.pack("<IIQQQQIIQQ", name, sec.type, sec.flags, 0, off, size, sec.link,
                           sec.info, sec.align if sec.type else 0, sec.entsize)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    out[:64] = ident + struct.pack("<HHIQQQIHHHHHH", 1, EM_BPF, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                                   len(sections), 1)
    return bytes(out)


def write_program(insns: Sequence[Instruction], *, section: str = "socket", name: str = "prog",
                  license: str = "GPL", maps: Iterable[MapSpec] = ()) -> bytes:
    """An object with one program ``name`` in ``section`` and the given maps.

    ``lddw`` instructions of maps carry the map's name in ``Instruction.reference`` (as the
    assembler sets it) and ``src_reg`` ``BPF_PSEUDO_MAP_FD`` (or ``BPF_PSEUDO_MAP_VALUE``
    for a global-data map, offset in the high 32 bits of ``imm``).
    """
    prog = ProgramSpec(name=name, section=section, type=0, insns=list(insns), license=license)
    spec = ObjectSpec(programs={name: prog}, maps={m.name: m for m in maps}, license=license)
    return write_object(spec)


__all__ = ["write_object", "write_program"]

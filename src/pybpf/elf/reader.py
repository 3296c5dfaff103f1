"""``open_object``: an ELF object as clang emits it → :class:`~pybpf.elf.spec.ObjectSpec`.

The stages, each in its own module: ELF structures (:mod:`.elffile`), BTF and
``.BTF.ext`` (:mod:`.btf`, :mod:`.btf_ext`), maps (:mod:`.maps`), program sections
(:mod:`.sections`) and linking (:mod:`.relocations`). Every stage reports bad input as
:class:`~pybpf.errors.ElfError` naming the section and offset.
"""

from __future__ import annotations

import os
import struct

from pybpf.elf.btf import Btf
from pybpf.elf.btf_ext import BtfExt, parse_btf_ext
from pybpf.elf.elffile import ElfFile, read_elf
from pybpf.elf.maps import read_maps
from pybpf.elf.relocations import CodeSections, Linked
from pybpf.elf.sections import classify
from pybpf.elf.spec import CoreRelo, ObjectSpec, ProgramSpec, SourceLine
from pybpf.errors import ElfError


def open_object(source: str | os.PathLike | bytes | bytearray | memoryview, *,
                path: str | None = None) -> ObjectSpec:
    """Read a BPF ELF object (a path or its bytes) into an :class:`ObjectSpec`.

    ``path`` names bytes in errors and in the spec (e.g. the .c file they came from).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ElfError(f"{path}: cannot read: {e.strerror}") from e
    try:
        return _read(data, path)
    except ElfError as e:
        if path is not None and not str(e).startswith(path):
            raise ElfError(f"{path}: {e}") from e
        raise
    except RecursionError as e:
        raise ElfError(f"{path or 'object'}: types nest too deeply") from e


def _read(data: bytes, path: str | None) -> ObjectSpec:
    elf = read_elf(data)
    spec = ObjectSpec(path=path, license=_license(elf), kern_version=_version(elf))
    btf, ext = _btf(elf)
    spec.btf = btf
    table = read_maps(elf, btf)
    spec.maps = table.maps
    code = CodeSections(elf, table)
    for entry in code.programs():
        info = classify(entry.section.name)
        linked = code.link(entry)
        prog = ProgramSpec(name=entry.name, section=entry.section.name, type=int(info.prog_type),
                           insns=linked.insns, license=spec.license,
                           attach_type=None if info.attach_type is None else int(info.attach_type),
                           attach_to=info.attach_to, flags=info.prog_flags)
        if ext is not None:
            _attach_ext(prog, linked, ext)
        if entry.name in spec.programs:
            raise ElfError(f"section {entry.section.name}: program {entry.name!r} defined twice")
        spec.programs[entry.name] = prog
    for m in spec.maps.values():
        if m.type == 3:  # prog_array: .values must name programs of this object
            for index, name in m.contents:
                if name not in spec.programs:
                    raise ElfError(f"section .maps: prog_array {m.name!r}: .values[{index}] "
                                   f"is {name!r}, which is not a program")
    return spec


def _license(elf: ElfFile) -> str:
    section = elf.section("license")
    if section is None:
        return ""
    raw = section.data.split(b"\0", 1)[0]
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise ElfError(f"section license offset {e.start:#x}: license is not ASCII") from e


def _version(elf: ElfFile) -> int:
    section = elf.section("version")
    if section is None:
        return 0
    if section.size != 4 or len(section.data) != 4:
        raise ElfError(f"section version: size {section.size} is not 4")
    return struct.unpack("<I", section.data)[0]


def _btf(elf: ElfFile) -> tuple[Btf | None, BtfExt | None]:
    section = elf.section(".BTF")
    if section is None:
        return None, None
    btf = Btf(section.data, section=".BTF")
    sizes = {s.name: s.size for s in elf.sections if s.name}
    offsets = {}
    for sym in elf.symbols:
        if sym.type == "OBJECT" and sym.defined:
            offsets[(elf.sections[sym.shndx].name, sym.name)] = sym.value
    btf = btf.with_datasec_fixups(sizes, offsets)
    ext_section = elf.section(".BTF.ext")
    ext = parse_btf_ext(ext_section.data, btf) if ext_section is not None else None
    return btf, ext


def _attach_ext(prog: ProgramSpec, linked: Linked, ext: BtfExt) -> None:
    """Map the section-relative BTF.ext records onto the linked program's slots."""
    func_info: list[tuple[int, int]] = []
    line_info: list[tuple[int, SourceLine]] = []
    core: list[CoreRelo] = []
    for lf in linked.functions:
        fn = lf.function
        lo, hi = fn.start * 8, fn.end * 8
        section = fn.section.name

        def moved(insn_off: int, what: str) -> int | None:
            if not lo <= insn_off < hi:
                return None
            if insn_off % 8:
                raise ElfError(f".BTF.ext: {what} for section {section} offset {insn_off:#x} "
                               f"is not at an instruction")
            return lf.base + insn_off // 8 - fn.start

        for rec in ext.func_info.get(section, ()):
            slot = moved(rec.insn_off, "func_info")
            if slot is not None:
                func_info.append((slot, rec.type_id))
        for lrec in ext.line_info.get(section, ()):
            slot = moved(lrec.insn_off, "line_info")
            if slot is not None:
                line_info.append((slot, lrec.line))
        for crec in ext.core_relos.get(section, ()):
            slot = moved(crec.insn_off, "core_relo")
            if slot is not None:
                core.append(CoreRelo(slot, crec.type_id, crec.access, crec.kind))
    func_info.sort(key=lambda item: item[0])
    line_info.sort(key=lambda item: item[0])
    core.sort(key=lambda relo: relo.insn)
    prog.func_info = func_info
    prog.line_info = line_info
    prog.core_relos = core

    # One SourceLine per instruction: each line_info record covers the instructions from
    # its own up to the next record of the same function; before a function's first
    # record there is none.
    by_slot = dict(line_info)
    starts = {lf.base for lf in linked.functions}
    lines: list[SourceLine | None] = []
    insns = prog.insns
    current: SourceLine | None = None
    slot = 0
    for i, insn in enumerate(insns):
        if slot in starts:
            current = None
        current = by_slot.get(slot, current)
        lines.append(current)
        if current is not None:
            insns[i] = insn.with_meta(line=str(current))
        slot += insn.slots
    prog.source_lines = lines

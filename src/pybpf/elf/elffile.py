"""The ELF layer: sections, symbols and relocations of a BPF object, read with pyelftools.

Everything pyelftools reads is checked here (offsets inside the file, symbol and
section indexes in range, relocation offsets inside their section) and copied into
plain values, so the layers above work on validated data. Any failure while reading
the ELF structures becomes one :class:`~pybpf.errors.ElfError` naming the section and
offset; nothing from pyelftools or ``struct`` escapes.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from pybpf.errors import ElfError

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4

R_BPF_NONE = 0
R_BPF_64_64 = 1          # lddw imm64 (maps, global data, callbacks)
R_BPF_64_ABS64 = 2       # 64-bit data (.maps .values initialisers, DWARF)
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4    # .BTF / .BTF.ext, ignored
R_BPF_64_32 = 10         # call imm (bpf-to-bpf calls)

SHN_UNDEF = 0


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: str       # "FUNC", "OBJECT", "SECTION", "NOTYPE", "FILE", ...
    bind: str       # "LOCAL", "GLOBAL", "WEAK"
    shndx: int      # section index; 0 undefined; >= 0xff00 special (ABS, COMMON)

    @property
    def is_global(self) -> bool:
        return self.bind in ("GLOBAL", "WEAK")

    @property
    def defined(self) -> bool:
        return 0 < self.shndx < 0xFF00


@dataclass(frozen=True)
class Reloc:
    offset: int
    type: int
    symbol: Symbol


@dataclass
class Section:
    index: int
    name: str
    type: str
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes = b""

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    @property
    def nobits(self) -> bool:
        return self.type == "SHT_NOBITS"


@dataclass
class ElfFile:
    """A validated relocatable BPF ELF: sections, symbols, relocations by target section."""

    sections: list[Section] = field(default_factory=list)
    symbols: list[Symbol] = field(default_factory=list)
    relocs: dict[int, dict[int, Reloc]] = field(default_factory=dict)

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def symbols_in(self, shndx: int) -> list[Symbol]:
        return [s for s in self.symbols if s.shndx == shndx]

    def relocs_for(self, shndx: int) -> dict[int, Reloc]:
        return self.relocs.get(shndx, {})


def _strip(prefix: str, value: str) -> str:
    return value[len(prefix):] if value.startswith(prefix) else value


def read_elf(data: bytes) -> ElfFile:
    """Parse and validate the ELF structures of a BPF relocatable object."""
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF object (bad magic)")
    where = "ELF header"
    try:
        from elftools.elf.elffile import ELFFile

        elf = ELFFile(io.BytesIO(data))
        header = elf.header
        if elf.elfclass != 64:
            raise ElfError("ELF header: not a 64-bit object")
        if not elf.little_endian:
            raise ElfError("ELF header: big-endian objects (bpfeb) are not supported")
        if header["e_machine"] not in ("EM_BPF", 247):
            raise ElfError(f"ELF header: machine {header['e_machine']} is not EM_BPF")
        if header["e_type"] != "ET_REL":
            raise ElfError(f"ELF header: type {header['e_type']} is not ET_REL (relocatable)")
        count = elf.num_sections()
        if count > 0xFF00:
            raise ElfError(f"ELF header: {count} sections is too many")
        out = ElfFile()
        for index in range(count):
            where = f"section header {index}"
            sec = elf.get_section(index)
            h = sec.header
            name = sec.name
            where = f"section {name or index}"
            section = Section(index, name, h["sh_type"], h["sh_flags"], h["sh_offset"],
                              h["sh_size"], h["sh_link"], h["sh_info"], h["sh_entsize"])
            if not section.nobits and section.type != "SHT_NULL":
                end = section.offset + section.size
                if end > len(data):
                    raise ElfError(f"section {name or index} offset {section.offset:#x}: "
                                   f"{section.size:#x} bytes run past the end of the file "
                                   f"({len(data):#x})")
                section.data = data[section.offset:end]
            out.sections.append(section)
        symtab = [s for s in out.sections if s.type == "SHT_SYMTAB"]
        if len(symtab) > 1:
            raise ElfError("ELF: more than one symbol table")
        if symtab:
            out.symbols = _read_symbols(out.sections, symtab[0], count)
        for section in out.sections:
            if section.type == "SHT_REL" and _relocations_used(out, section):
                where = f"section {section.name}"
                _read_relocs(section, out)
            elif section.type == "SHT_RELA":
                raise ElfError(f"section {section.name}: RELA relocations are not used by BPF")
        return out
    except ElfError:
        raise
    except Exception as e:  # pyelftools/construct/struct failures on malformed input
        raise ElfError(f"{where}: malformed ELF ({type(e).__name__}: {e})") from e


_SYM_TYPES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON",
              6: "TLS"}
_SYM_BINDS = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK"}
_SHN_KEEP = (0, 0xFFF1, 0xFFF2)        # SHN_UNDEF, SHN_ABS, SHN_COMMON


def _read_symbols(sections: list[Section], section: Section, count: int) -> list[Symbol]:
    """Elf64_Sym records, unpacked directly (pyelftools' per-field parsing is the slowest
    part of opening an object)."""
    if section.entsize != 24:
        raise ElfError(f"section {section.name}: symbol entry size {section.entsize} is not 24")
    if section.size % 24:
        raise ElfError(f"section {section.name}: size {section.size:#x} is not a multiple of 24")
    if not 0 < section.link < count:
        raise ElfError(f"section {section.name}: bad string table index {section.link}")
    strings = sections[section.link].data
    symbols = []
    for i, (name_off, info, _, shndx, value, size) in enumerate(
            struct.iter_unpack("<IBBHQQ", section.data)):
        if name_off >= max(len(strings), 1) and name_off:
            raise ElfError(f"section {section.name} offset {i * 24:#x}: symbol name offset "
                           f"{name_off:#x} is outside the string table")
        end = strings.find(b"\0", name_off)
        name = strings[name_off:end if end >= 0 else len(strings)].decode("utf-8", "replace")
        if shndx >= 0xFF00 and shndx not in _SHN_KEEP:
            shndx = 0xFFFF
        elif shndx >= count and shndx not in _SHN_KEEP:
            raise ElfError(f"section {section.name} offset {i * 24:#x}: symbol {name!r} "
                           f"has section index {shndx} (only {count} sections)")
        symbols.append(Symbol(i, name, value, size, _SYM_TYPES.get(info & 0xF, str(info & 0xF)),
                              _SYM_BINDS.get(info >> 4, str(info >> 4)), shndx))
    return symbols


def _relocations_used(out: ElfFile, section: Section) -> bool:
    """Whether a relocation section applies to something a loader reads: code, map
    definitions or data. Those against .BTF, .BTF.ext and DWARF (many, and resolved by
    clang already) are skipped, as libbpf skips them."""
    if 0 < section.info < len(out.sections):
        target = out.sections[section.info]
        return not (target.name.startswith((".BTF", ".debug_")) or target.name == ".eh_frame")
    return True


def _read_relocs(section: Section, out: ElfFile) -> None:
    target_index = section.info
    if not 0 < target_index < len(out.sections):
        raise ElfError(f"section {section.name}: relocates section index {target_index}, "
                       f"which does not exist")
    target = out.sections[target_index]
    if section.entsize != 16 or section.size % 16:
        raise ElfError(f"section {section.name}: entry size {section.entsize} / size "
                       f"{section.size:#x} do not fit Elf64_Rel")
    relocs: dict[int, Reloc] = {}
    for i, (offset, info) in enumerate(struct.iter_unpack("<QQ", section.data)):
        sym_index, rtype = info >> 32, info & 0xFFFFFFFF
        where = f"section {section.name} offset {i * 16:#x}"
        if not 0 <= sym_index < len(out.symbols):
            raise ElfError(f"{where}: bad symbol index {sym_index} "
                           f"({len(out.symbols)} symbols)")
        if offset >= target.size:
            raise ElfError(f"{where}: relocation at {target.name} offset {offset:#x} is "
                           f"outside the section ({target.size:#x} bytes)")
        relocs[offset] = Reloc(offset, rtype, out.symbols[sym_index])
    out.relocs.setdefault(target_index, {}).update(relocs)

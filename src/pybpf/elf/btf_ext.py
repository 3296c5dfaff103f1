"""``.BTF.ext``: per-section func_info, line_info and CO-RE relocation records.

Layout: a header (magic ``0xeB9F``, version 1, flags, hdr_len, then offset/length pairs
for func_info, line_info and, when hdr_len allows, core_relo; offsets relative to the
end of the header). Each info block starts with a u32 record size, followed by
``{u32 section name offset (in .BTF strings), u32 count, count records}`` groups.
Records address instructions by *byte* offset within their ELF section; the reader maps
them onto linked programs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pybpf.elf.btf import MAGIC, Btf
from pybpf.elf.spec import SourceLine
from pybpf.errors import ElfError

SECTION = ".BTF.ext"


@dataclass(frozen=True)
class FuncInfo:
    insn_off: int      # bytes into the section
    type_id: int       # BTF FUNC


@dataclass(frozen=True)
class LineInfo:
    insn_off: int
    line: SourceLine


@dataclass(frozen=True)
class CoreReloRecord:
    insn_off: int
    type_id: int
    access: str
    kind: int


@dataclass
class BtfExt:
    """Records grouped by ELF section name."""

    func_info: dict[str, list[FuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[LineInfo]] = field(default_factory=dict)
    core_relos: dict[str, list[CoreReloRecord]] = field(default_factory=dict)
    raw: bytes = b""


def _fail(offset: int, message: str) -> ElfError:
    return ElfError(f"{SECTION} offset {offset:#x}: {message}")


def _blocks(data: bytes, start: int, length: int, min_rec: int, btf: Btf, what: str):
    """Yield ``(section, record offset, record size)`` for each record of one info block."""
    if length == 0:
        return
    if length < 4:
        raise _fail(start, f"{what}: block of {length} bytes")
    end = start + length
    if end > len(data):
        raise _fail(start, f"{what}: block ({length:#x} bytes) runs past the end")
    rec_size = struct.unpack_from("<I", data, start)[0]
    if rec_size < min_rec or rec_size % 4:
        raise _fail(start, f"{what}: bad record size {rec_size}")
    pos = start + 4
    while pos < end:
        if pos + 8 > end:
            raise _fail(pos, f"{what}: truncated section header")
        name_off, count = struct.unpack_from("<II", data, pos)
        section = btf.string(name_off)
        pos += 8
        if count == 0 or pos + count * rec_size > end:
            raise _fail(pos - 8, f"{what}: section {section!r} has {count} records of "
                        f"{rec_size} bytes, more than the block holds")
        for i in range(count):
            yield section, pos + i * rec_size
        pos += count * rec_size


def parse_btf_ext(data: bytes, btf: Btf) -> BtfExt:
    """Parse ``.BTF.ext`` against the object's BTF (its string table names everything)."""
    data = bytes(data)
    if len(data) < 24:
        raise _fail(0, f"truncated header ({len(data)} bytes)")
    magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
    if magic != MAGIC:
        raise _fail(0, f"bad magic {magic:#06x}")
    if version != 1:
        raise _fail(2, f"unsupported version {version}")
    if hdr_len < 24 or hdr_len > len(data):
        raise _fail(4, f"bad header length {hdr_len}")
    fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= 32:
        cr_off, cr_len = struct.unpack_from("<II", data, 24)
    out = BtfExt(raw=data)
    try:
        for section, pos in _blocks(data, hdr_len + fi_off, fi_len, 8, btf, "func_info"):
            insn_off, type_id = struct.unpack_from("<II", data, pos)
            out.func_info.setdefault(section, []).append(FuncInfo(insn_off, type_id))
        for section, pos in _blocks(data, hdr_len + li_off, li_len, 16, btf, "line_info"):
            insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", data, pos)
            line = SourceLine(btf.string(file_off), line_col >> 10, line_col & 0x3FF,
                              btf.string(line_off))
            out.line_info.setdefault(section, []).append(LineInfo(insn_off, line))
        for section, pos in _blocks(data, hdr_len + cr_off, cr_len, 16, btf, "core_relo"):
            insn_off, type_id, access_off, kind = struct.unpack_from("<IIII", data, pos)
            out.core_relos.setdefault(section, []).append(
                CoreReloRecord(insn_off, type_id, btf.string(access_off), kind))
    except ElfError as e:
        if str(e).startswith(SECTION):
            raise
        raise ElfError(f"{SECTION}: {e}") from e
    return out

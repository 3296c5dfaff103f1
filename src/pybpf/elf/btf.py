"""BTF, the BPF Type Format: parse ``.BTF`` sections and raw BTF files (``/sys/kernel/btf/vmlinux``).

Layout (``include/uapi/linux/btf.h``): a header (magic ``0xeB9F``, version 1, flags,
hdr_len, then offsets and lengths of the type and string areas, relative to the end of
the header), a type area of variable-length records and a string table. Type ids start
at 1; id 0 is ``void``.

Parsing is two-stage so that vmlinux (~150k types) loads quickly: the constructor walks
the type area once, recording each record's offset and header words; :class:`Type`
objects, their names and members are built on first use and cached.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

from pybpf.errors import ElfError

MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_U32x3 = struct.Struct("<III")


class Kind(enum.IntEnum):
    """BTF type kinds (``BTF_KIND_*``)."""

    VOID = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
VAR_STATIC, VAR_GLOBAL, VAR_EXTERN = 0, 1, 2

# Bytes of extra data after the 12-byte header: fixed per kind, plus vlen * per-item.
_EXTRA_FIXED = {Kind.INT: 4, Kind.ARRAY: 12, Kind.VAR: 4, Kind.DECL_TAG: 4}
_EXTRA_PER_ITEM = {Kind.STRUCT: 12, Kind.UNION: 12, Kind.ENUM: 8, Kind.FUNC_PROTO: 8,
                   Kind.DATASEC: 12, Kind.ENUM64: 12}
# Kinds whose third word is a size (the others: a type id).
_SIZED = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC, Kind.FLOAT,
                    Kind.ENUM64})
_MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
_QUALIFIERS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})


@dataclass(frozen=True)
class Member:
    """A struct/union member: byte-aligned or bitfield; ``offset`` is in bits."""

    name: str
    type_id: int
    offset: int
    bitfield_size: int
    btf: "Btf" = field(repr=False, compare=False)

    @property
    def type(self) -> "Type":
        return self.btf[self.type_id]

    @property
    def byte_offset(self) -> int:
        return self.offset // 8


@dataclass(frozen=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True)
class Param:
    name: str
    type_id: int
    btf: "Btf" = field(repr=False, compare=False)

    @property
    def type(self) -> "Type":
        return self.btf[self.type_id]


@dataclass(frozen=True)
class VarSecInfo:
    """One variable of a DATASEC: the VAR's type id, offset and size in the section."""

    type_id: int
    offset: int
    size: int
    btf: "Btf" = field(repr=False, compare=False)

    @property
    def type(self) -> "Type":
        return self.btf[self.type_id]

    @property
    def name(self) -> str:
        return self.type.name


class Type:
    """One BTF type. Kind-specific facts are properties that raise for other kinds."""

    __slots__ = ("btf", "id", "kind", "name", "info", "word", "_off", "_items")

    def __init__(self, btf: "Btf", type_id: int, kind: Kind, name: str, info: int, word: int,
                 off: int):
        self.btf = btf
        self.id = type_id
        self.kind = kind
        self.name = name
        self.info = info
        self.word = word       # size or type id, depending on kind
        self._off = off        # offset of the record's extra data in the type area
        self._items: Any = None

    def __repr__(self) -> str:
        return f"<btf [{self.id}] {self.kind.name} {self.name or '(anon)'}>"

    # -- header fields --------------------------------------------------------------------
    @property
    def vlen(self) -> int:
        return self.info & 0xFFFF

    @property
    def kind_flag(self) -> bool:
        return bool(self.info >> 31)

    @property
    def size(self) -> int:
        """The byte size for INT/STRUCT/UNION/ENUM/ENUM64/FLOAT/DATASEC; see :meth:`size_of`."""
        if self.kind in _SIZED:
            return self.word
        return self.btf.size_of(self.id)

    @property
    def type_id(self) -> int:
        """The referenced type of PTR, TYPEDEF, qualifiers, FUNC, VAR, DECL_TAG, FUNC_PROTO
        (return type), ARRAY (element type)."""
        if self.kind is Kind.ARRAY:
            return self._u32(0)
        if self.kind in _SIZED:
            raise ElfError(f"BTF type [{self.id}] {self.kind.name} has no referenced type")
        return self.word

    @property
    def type(self) -> "Type":
        return self.btf[self.type_id]

    # -- INT --------------------------------------------------------------------------------
    @property
    def encoding(self) -> int:
        return (self._u32(0) >> 24) & 0x0F if self.kind is Kind.INT else 0

    @property
    def bits(self) -> int:
        if self.kind is Kind.INT:
            return self._u32(0) & 0xFF
        return self.size * 8

    @property
    def bit_offset(self) -> int:
        return (self._u32(0) >> 16) & 0xFF if self.kind is Kind.INT else 0

    @property
    def is_int(self) -> bool:
        """An integer-like scalar: INT (incl. bool and char) or an enum."""
        return self.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64)

    @property
    def signed(self) -> bool:
        if self.kind is Kind.INT:
            return bool(self.encoding & INT_SIGNED)
        if self.kind in (Kind.ENUM, Kind.ENUM64):
            return self.kind_flag
        return False

    @property
    def is_bool(self) -> bool:
        return self.kind is Kind.INT and bool(self.encoding & INT_BOOL)

    @property
    def is_char(self) -> bool:
        return self.kind is Kind.INT and (bool(self.encoding & INT_CHAR) or
                                          (self.word == 1 and "char" in self.name))

    # -- ARRAY ------------------------------------------------------------------------------
    @property
    def index_type_id(self) -> int:
        return self._u32(1)

    @property
    def nelems(self) -> int:
        self._require(Kind.ARRAY)
        return self._u32(2)

    # -- STRUCT / UNION / ENUM / FUNC_PROTO / DATASEC ---------------------------------------
    @property
    def members(self) -> list[Member]:
        self._require(Kind.STRUCT, Kind.UNION)
        if self._items is None:
            bitfields = self.kind_flag
            out = []
            for i in range(self.vlen):
                name_off, type_id, offset = _U32x3.unpack_from(self.btf._types, self._off + 12 * i)
                size = 0
                if bitfields:
                    size, offset = offset >> 24, offset & 0xFFFFFF
                out.append(Member(self.btf.string(name_off), type_id, offset, size, self.btf))
            self._items = out
        return self._items

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"{self.name or '(anon)'} has no member {name!r}")

    @property
    def values(self) -> list[EnumValue]:
        self._require(Kind.ENUM, Kind.ENUM64)
        if self._items is None:
            data, signed, out = self.btf._types, self.kind_flag, []
            for i in range(self.vlen):
                if self.kind is Kind.ENUM:
                    name_off, value = struct.unpack_from("<Ii" if signed else "<II", data,
                                                         self._off + 8 * i)
                else:
                    name_off, lo, hi = _U32x3.unpack_from(data, self._off + 12 * i)
                    value = lo | (hi << 32)
                    if signed and value >> 63:
                        value -= 1 << 64
                out.append(EnumValue(self.btf.string(name_off), value))
            self._items = out
        return self._items

    @property
    def params(self) -> list[Param]:
        self._require(Kind.FUNC_PROTO)
        if self._items is None:
            self._items = [Param(self.btf.string(n), t, self.btf) for n, t in
                           (struct.unpack_from("<II", self.btf._types, self._off + 8 * i)
                            for i in range(self.vlen))]
        return self._items

    @property
    def vars(self) -> list[VarSecInfo]:
        self._require(Kind.DATASEC)
        if self._items is None:
            self._items = [VarSecInfo(*_U32x3.unpack_from(self.btf._types, self._off + 12 * i),
                                      btf=self.btf) for i in range(self.vlen)]
        return self._items

    # -- VAR / FUNC / DECL_TAG --------------------------------------------------------------
    @property
    def linkage(self) -> int:
        if self.kind is Kind.FUNC:
            return self.vlen
        self._require(Kind.VAR)
        return self._u32(0)

    @property
    def component_idx(self) -> int:
        self._require(Kind.DECL_TAG)
        return struct.unpack_from("<i", self.btf._types, self._off)[0]

    # -- helpers ----------------------------------------------------------------------------
    def resolve(self) -> "Type":
        """This type with typedefs and qualifiers (const, volatile, restrict, type tags)
        stripped."""
        return self.btf.resolve(self.id)

    def strip_qualifiers(self) -> "Type":
        """This type with only const/volatile/restrict/type tags stripped."""
        return self.btf.strip_qualifiers(self.id)

    def size_of(self) -> int:
        return self.btf.size_of(self.id)

    def _u32(self, index: int) -> int:
        return struct.unpack_from("<I", self.btf._types, self._off + 4 * index)[0]

    def _require(self, *kinds: Kind) -> None:
        if self.kind not in kinds:
            raise ElfError(f"BTF type [{self.id}] is {self.kind.name}, not "
                           f"{' or '.join(k.name for k in kinds)}")


class Btf:
    """Parsed BTF: ``btf[id]`` gives a :class:`Type`; ``raw`` keeps the bytes for loading.

    ``base`` (for split BTF such as kernel modules) supplies ids below ``start_id``.
    """

    def __init__(self, raw: bytes, *, section: str = ".BTF", base: "Btf | None" = None):
        self.raw = bytes(raw)
        self.section = section
        self.base = base
        self._parse()

    @classmethod
    def from_file(cls, path: str | os.PathLike, base: "Btf | None" = None) -> "Btf":
        """Load a raw BTF file (``/sys/kernel/btf/vmlinux``) or an ELF object's ``.BTF``."""
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] == b"\x7fELF":
            from pybpf.elf.reader import open_object

            spec = open_object(data)
            if spec.btf is None:
                raise ElfError(f"{path}: no .BTF section")
            return spec.btf
        return cls(data, section=os.fspath(path), base=base)

    # -- parsing ----------------------------------------------------------------------------
    def _fail(self, offset: int, message: str) -> ElfError:
        return ElfError(f"{self.section} offset {offset:#x}: {message}")

    def _parse(self) -> None:
        raw = self.raw
        if len(raw) < _HEADER.size:
            raise self._fail(0, f"truncated header ({len(raw)} bytes)")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            _HEADER.unpack_from(raw, 0)
        if magic != MAGIC:
            raise self._fail(0, f"bad magic {magic:#06x} (big-endian BTF is not supported)"
                             if magic == 0x9FEB else f"bad magic {magic:#06x}")
        if version != 1:
            raise self._fail(2, f"unsupported BTF version {version}")
        if hdr_len < _HEADER.size or hdr_len > len(raw):
            raise self._fail(4, f"bad header length {hdr_len}")
        for name, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
            if off % 4 and name == "type" or hdr_len + off + length > len(raw):
                raise self._fail(hdr_len, f"{name} section ({off:#x}+{length:#x}) outside "
                                 f"the data ({len(raw) - hdr_len:#x} bytes)")
        if type_off < str_off < type_off + type_len or str_off < type_off < str_off + str_len:
            raise self._fail(hdr_len, "type and string sections overlap")
        self._types = memoryview(raw)[hdr_len + type_off:hdr_len + type_off + type_len]
        self._strings = raw[hdr_len + str_off:hdr_len + str_off + str_len]
        self._types_base = hdr_len + type_off
        if self.base is None and str_len and self._strings[0] != 0:
            raise self._fail(hdr_len + str_off, "string table does not start with NUL")
        self.start_id = self.base.count if self.base else 1
        self.str_base = len(self.base._strings) if self.base else 0

        offsets: list[int] = []
        heads: list[tuple[int, int, int]] = []
        data, pos, end = self._types, 0, type_len
        unpack = _U32x3.unpack_from
        extra_fixed, extra_item = _EXTRA_FIXED, _EXTRA_PER_ITEM
        while pos < end:
            if pos + 12 > end:
                raise self._fail(self._types_base + pos, "truncated type record")
            head = unpack(data, pos)
            kind = (head[1] >> 24) & 0x1F
            if kind > 19 or kind == 0:
                raise self._fail(self._types_base + pos,
                                 f"type [{self.start_id + len(offsets)}]: unknown kind {kind}")
            pos += 12
            offsets.append(pos)
            heads.append(head)
            pos += extra_fixed.get(kind, 0) + extra_item.get(kind, 0) * (head[1] & 0xFFFF)
        if pos != end:
            raise self._fail(self._types_base + end, "truncated type record")
        self._offsets = offsets
        self._heads = heads
        self._cache: dict[int, Type] = {}
        self._names: dict[str, list[int]] | None = None
        self._strcache: dict[int, str] = {}

    @property
    def count(self) -> int:
        """One more than the largest type id (ids run 0..count-1)."""
        return self.start_id + len(self._offsets)

    def __len__(self) -> int:
        return self.count

    def string(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of the string table."""
        if offset < self.str_base:
            return self.base.string(offset)  # type: ignore[union-attr]
        cached = self._strcache.get(offset)
        if cached is not None:
            return cached
        local = offset - self.str_base
        if local >= len(self._strings) and offset:
            raise ElfError(f"{self.section}: string offset {offset:#x} outside the string "
                           f"table ({len(self._strings)} bytes)")
        end = self._strings.find(b"\0", local)
        if end < 0:
            end = len(self._strings)
        text = self._strings[local:end].decode("utf-8", "replace")
        self._strcache[offset] = text
        return text

    def __getitem__(self, type_id: int) -> Type:
        cached = self._cache.get(type_id)
        if cached is not None:
            return cached
        if type_id < self.start_id:
            if type_id == 0:
                t = Type(self, 0, Kind.VOID, "", 0, 0, 0)
                self._cache[0] = t
                return t
            if self.base is not None and type_id > 0:
                return self.base[type_id]
        index = type_id - self.start_id
        if not 0 <= index < len(self._offsets):
            raise ElfError(f"{self.section}: type id {type_id} out of range (0..{self.count - 1})")
        name_off, info, word = self._heads[index]
        t = Type(self, type_id, Kind((info >> 24) & 0x1F), self.string(name_off), info, word,
                 self._offsets[index])
        self._cache[type_id] = t
        return t

    def get(self, type_id: int) -> Type | None:
        try:
            return self[type_id]
        except ElfError:
            return None

    def __iter__(self) -> Iterator[Type]:
        for type_id in range(self.start_id, self.count):
            yield self[type_id]

    def ids_by_name(self, name: str) -> list[int]:
        """All type ids named ``name`` (any kind)."""
        if self._names is None:
            names: dict[str, list[int]] = {}
            string = self.string
            for index, (name_off, _, _) in enumerate(self._heads):
                if name_off:
                    names.setdefault(string(name_off), []).append(self.start_id + index)
            self._names = names
        found = self._names.get(name, [])
        if self.base is not None:
            found = self.base.ids_by_name(name) + found
        return found

    def find(self, name: str, kind: Kind | None = None) -> Type:
        """The first type named ``name`` (of ``kind``, if given); KeyError if none."""
        for type_id in self.ids_by_name(name):
            t = self[type_id]
            if kind is None or t.kind is kind:
                return t
        raise KeyError(f"no BTF type {name!r}" + (f" of kind {kind.name}" if kind else ""))

    def kind_of(self, type_id: int) -> Kind:
        if type_id == 0:
            return Kind.VOID
        return self[type_id].kind

    # -- type arithmetic --------------------------------------------------------------------
    def resolve(self, type_id: int) -> Type:
        """Follow typedefs and qualifiers to the underlying type."""
        t = self[type_id]
        for _ in range(64):
            if t.kind not in _MODIFIERS:
                return t
            t = self[t.word]
        raise ElfError(f"{self.section}: type [{type_id}]: typedef/qualifier loop")

    def strip_qualifiers(self, type_id: int) -> Type:
        t = self[type_id]
        for _ in range(64):
            if t.kind not in _QUALIFIERS:
                return t
            t = self[t.word]
        raise ElfError(f"{self.section}: type [{type_id}]: qualifier loop")

    def size_of(self, type_id: int) -> int:
        """The byte size of a type, as ``sizeof`` would give it."""
        t = self.resolve(type_id)
        nelems = 1
        for _ in range(64):
            kind = t.kind
            if kind in _SIZED:
                return nelems * t.word
            if kind is Kind.PTR:
                return nelems * 8
            if kind is Kind.ARRAY:
                nelems *= t.nelems
                t = self.resolve(t.type_id)
                continue
            if kind is Kind.VAR:
                t = self.resolve(t.word)
                continue
            raise ElfError(f"{self.section}: type [{type_id}] {kind.name} has no size")
        raise ElfError(f"{self.section}: type [{type_id}]: array nesting too deep")

    def with_datasec_fixups(self, section_sizes: dict[str, int],
                            symbol_offsets: dict[tuple[str, str], int]) -> "Btf":
        """Fill in what clang leaves zero, as libbpf does before loading: each DATASEC's
        size (the ELF section's) and its non-static variables' offsets (the ELF symbols'),
        with the variables sorted by offset. Returns a new Btf; ``self`` is unchanged."""
        raw = bytearray(self.raw)
        base = self._types_base
        changed = False
        for index, (name_off, info, word) in enumerate(self._heads):
            if (info >> 24) & 0x1F != Kind.DATASEC:
                continue
            name = self.string(name_off)
            head = base + self._offsets[index] - 12
            size = section_sizes.get(name)
            if size is not None and size > 0xFFFFFFFF:
                raise ElfError(f"section {name}: size {size:#x} does not fit BTF's 32 bits")
            if size is not None and word != size:
                struct.pack_into("<I", raw, head + 8, size)
                changed = True
            items = []
            for i in range(info & 0xFFFF):
                pos = base + self._offsets[index] + 12 * i
                var_id, offset, vsize = _U32x3.unpack_from(raw, pos)
                var = self.get(var_id)
                if var is not None and var.kind is Kind.VAR and var.linkage != VAR_STATIC:
                    offset = symbol_offsets.get((name, var.name), offset)
                    if offset > 0xFFFFFFFF:
                        raise ElfError(f"section {name}: symbol {var.name!r} offset "
                                       f"{offset:#x} does not fit BTF's 32 bits")
                items.append((var_id, offset, vsize))
            items.sort(key=lambda item: item[1])
            for i, item in enumerate(items):
                pos = base + self._offsets[index] + 12 * i
                if _U32x3.unpack_from(raw, pos) != item:
                    _U32x3.pack_into(raw, pos, *item)
                    changed = True
        return Btf(bytes(raw), section=self.section, base=self.base) if changed else self


def describe(t: Type) -> str:
    """A short C-like spelling of a type, for messages."""
    if t.kind is Kind.VOID:
        return "void"
    if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
        word = {Kind.ENUM64: "enum"}.get(t.kind, t.kind.name.lower())
        return f"{word} {t.name or '(anon)'}"
    if t.kind is Kind.PTR:
        return describe(t.type) + " *"
    if t.kind is Kind.ARRAY:
        return f"{describe(t.type)}[{t.nelems}]"
    if t.kind in _QUALIFIERS:
        return f"{t.kind.name.lower()} {describe(t.type)}"
    return t.name or t.kind.name.lower()

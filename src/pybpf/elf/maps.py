"""Map definitions: BTF-defined maps in ``.maps``, legacy ``maps``, global data sections.

BTF-defined maps are read from the ``.maps`` DATASEC the way libbpf reads them: each
variable is a struct whose members encode the definition in their *types*, as
``bpf_helpers.h`` spells them:

- ``__uint(name, N)`` is ``int (*name)[N]``: a pointer to an array of N elements, N the value
  (``__ulong`` in newer headers is an enum with one enumerator whose value is N);
- ``__type(name, T)`` is ``typeof(T) *name``: the pointee gives key/value size and type;
- ``__array(values, T)`` is ``typeof(T) *values[]``: a map-in-map's inner map template
  (T a struct definition) or a prog_array (T a function prototype), whose initial
  entries are ``R_BPF_64_ABS64`` relocations inside the variable.

Global data (``.data``, ``.rodata``, ``.bss`` and their ``.name`` variants) becomes a
one-element array named after its section, as libbpf does.
"""

from __future__ import annotations

import struct

from pybpf.elf.btf import Btf, Kind, Type
from pybpf.elf.elffile import R_BPF_64_ABS32, R_BPF_64_ABS64, ElfFile, Section
from pybpf.elf.spec import MapSpec, Variable
from pybpf.errors import ElfError
from pybpf.isa.uapi import MapType

BPF_F_RDONLY_PROG = 1 << 7
PIN_NONE, PIN_BY_NAME = 0, 1
MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)
_INT_FIELDS = {"type": "type", "max_entries": "max_entries", "map_flags": "flags",
               "numa_node": "numa_node", "key_size": "key_size", "value_size": "value_size",
               "pinning": "pinning", "map_extra": "map_extra"}


def is_data_section(name: str) -> bool:
    return any(name == base or name.startswith(base + ".") for base in (".data", ".rodata", ".bss"))


class MapTable:
    """The maps of one object plus where each one is defined (for relocations)."""

    def __init__(self) -> None:
        self.maps: dict[str, MapSpec] = {}
        self.at: dict[tuple[int, int], str] = {}      # (section index, offset) -> map name

    def add(self, spec: MapSpec, where: tuple[int, int] | None = None) -> None:
        if spec.name in self.maps:
            raise ElfError(f"section {spec.section}: map {spec.name!r} defined twice")
        self.maps[spec.name] = spec
        if where is not None:
            self.at[where] = spec.name

    def name_at(self, shndx: int, offset: int) -> str | None:
        return self.at.get((shndx, offset))


def read_maps(elf: ElfFile, btf: Btf | None) -> MapTable:
    table = MapTable()
    for section in elf.sections:
        if section.name == ".maps":
            _btf_maps(elf, section, btf, table)
        elif section.name == "maps":
            _legacy_maps(elf, section, table)
        elif is_data_section(section.name) and not section.executable and section.size and \
                section.type in ("SHT_PROGBITS", "SHT_NOBITS"):
            _data_map(elf, section, btf, table)
    return table


# -- BTF-defined maps ---------------------------------------------------------------------

def _btf_maps(elf: ElfFile, section: Section, btf: Btf | None, table: MapTable) -> None:
    if btf is None:
        raise ElfError("section .maps: BTF-defined maps need a .BTF section (compile with -g)")
    try:
        datasec = btf.find(".maps", Kind.DATASEC)
    except KeyError:
        raise ElfError("section .maps: no DATASEC '.maps' in .BTF") from None
    relocs = elf.relocs_for(section.index)
    for vsi in datasec.vars:
        var = btf[vsi.type_id]
        if var.kind is not Kind.VAR:
            raise ElfError(f"section .maps: DATASEC entry [{var.id}] is {var.kind.name}, not VAR")
        name = var.name
        if vsi.offset + vsi.size > section.size:
            raise ElfError(f"section .maps offset {vsi.offset:#x}: map {name!r} "
                           f"({vsi.size} bytes) runs past the section ({section.size:#x})")
        definition = btf.resolve(var.type_id)
        if definition.kind is not Kind.STRUCT:
            raise ElfError(f"section .maps offset {vsi.offset:#x}: map {name!r} is a "
                           f"{definition.kind.name}, not a struct")
        spec, values = _map_def(btf, name, definition, inner=False)
        if values is not None:
            spec.contents = _initial_values(elf, section, relocs, spec, vsi.offset, vsi.size,
                                            values)
        elif any(vsi.offset <= off < vsi.offset + vsi.size for off in relocs):
            raise ElfError(f"section .maps offset {vsi.offset:#x}: map {name!r} has "
                           f"relocations but no .values member")
        table.add(spec, (section.index, vsi.offset))


def _int_field(btf: Btf, map_name: str, member) -> int:
    t = btf.resolve(member.type_id)
    if t.kind is Kind.PTR:
        arr = btf.resolve(t.type_id)
        if arr.kind is Kind.ARRAY:
            return arr.nelems
    elif t.kind in (Kind.ENUM, Kind.ENUM64) and t.vlen == 1:
        return t.values[0].value
    raise ElfError(f"section .maps: map {map_name!r}: field {member.name!r} is not an "
                   f"__uint()/__ulong() (pointer to array or one-value enum)")


def _map_def(btf: Btf, name: str, definition: Type, *, inner: bool) -> tuple[MapSpec, object]:
    """One map definition; returns the spec and the ``values`` member (or None)."""
    fields: dict[str, int] = {}
    key_type = value_type = None
    values = None
    inner_spec = None
    for member in definition.members:
        mname = member.name
        if mname in _INT_FIELDS:
            fields[_INT_FIELDS[mname]] = _int_field(btf, name, member)
        elif mname in ("key", "value"):
            ptr = btf.resolve(member.type_id)
            if ptr.kind is not Kind.PTR:
                raise ElfError(f"section .maps: map {name!r}: {mname} must be __type() "
                               f"(a pointer), not {ptr.kind.name}")
            size = btf.size_of(ptr.type_id)
            explicit = fields.get(f"{mname}_size")
            if explicit is not None and explicit != size:
                raise ElfError(f"section .maps: map {name!r}: {mname}_size {explicit} "
                               f"conflicts with sizeof({mname}) {size}")
            fields[f"{mname}_size"] = size
            if mname == "key":
                key_type = btf[ptr.type_id]
            else:
                value_type = btf[ptr.type_id]
        elif mname == "values":
            if inner:
                raise ElfError(f"section .maps: inner map {name!r} cannot have .values")
            values = member
        else:
            raise ElfError(f"section .maps: map {name!r}: unknown field {mname!r}")
    for key in ("key_size", "value_size"):
        explicit = fields.get(key)
        typed = key_type if key == "key_size" else value_type
        if typed is not None and explicit is not None and btf.size_of(typed.id) != explicit:
            raise ElfError(f"section .maps: map {name!r}: {key} {explicit} conflicts with "
                           f"the type's size {btf.size_of(typed.id)}")
    map_type = fields.get("type", 0)
    if values is not None:
        arr = btf.resolve(values.type_id)
        ptr = btf.resolve(arr.type_id) if arr.kind is Kind.ARRAY else arr
        if arr.kind is not Kind.ARRAY or ptr.kind is not Kind.PTR:
            raise ElfError(f"section .maps: map {name!r}: .values must be __array() "
                           f"(an array of pointers)")
        target = btf.resolve(ptr.type_id)
        if target.kind is Kind.STRUCT:
            if map_type not in MAP_IN_MAP:
                raise ElfError(f"section .maps: map {name!r}: inner map template on a map "
                               f"of type {map_type}, not a map-in-map")
            inner_spec, _ = _map_def(btf, f"{name}.inner", target, inner=True)
        elif target.kind is Kind.FUNC_PROTO:
            if map_type != MapType.PROG_ARRAY:
                raise ElfError(f"section .maps: map {name!r}: program .values on a map of "
                               f"type {map_type}, not a prog_array")
        else:
            raise ElfError(f"section .maps: map {name!r}: .values of {target.kind.name}")
        if fields.get("value_size", 4) != 4:
            raise ElfError(f"section .maps: map {name!r}: value_size must be 4 with .values")
        fields["value_size"] = 4
    pinning = fields.get("pinning", 0)
    if pinning not in (PIN_NONE, PIN_BY_NAME):
        raise ElfError(f"section .maps: map {name!r}: unsupported pinning {pinning}")
    spec = MapSpec(name=name, type=map_type, key_size=fields.get("key_size", 0),
                   value_size=fields.get("value_size", 0),
                   max_entries=fields.get("max_entries", 0), flags=fields.get("flags", 0),
                   pinning=pinning, numa_node=fields.get("numa_node", 0),
                   map_extra=fields.get("map_extra", 0), inner=inner_spec, section=".maps",
                   key_type=key_type, value_type=value_type)
    return spec, values


def _initial_values(elf: ElfFile, section: Section, relocs, spec: MapSpec, var_off: int,
                    var_size: int, values) -> list[tuple[int, str]]:
    """``.values = {[i] = &map_or_prog}``: one ABS64 relocation per initialised slot."""
    base = var_off + values.offset // 8
    found: dict[int, str] = {}
    for offset in sorted(o for o in relocs if var_off <= o < var_off + var_size):
        reloc = relocs[offset]
        where = f"section .maps offset {offset:#x}"
        if reloc.type not in (R_BPF_64_ABS64, R_BPF_64_ABS32):
            raise ElfError(f"{where}: relocation type {reloc.type} in map {spec.name!r}")
        if offset < base or (offset - base) % 8:
            raise ElfError(f"{where}: relocation in map {spec.name!r} outside .values")
        index = (offset - base) // 8
        if index >= spec.max_entries:
            raise ElfError(f"{where}: map {spec.name!r}: .values[{index}] beyond max_entries "
                           f"{spec.max_entries}")
        sym = reloc.symbol
        if not sym.defined or sym.shndx >= len(elf.sections):
            raise ElfError(f"{where}: map {spec.name!r}: .values[{index}] refers to "
                           f"undefined symbol {sym.name!r}")
        target = elf.sections[sym.shndx]
        if spec.type == MapType.PROG_ARRAY:
            if not target.executable or sym.type != "FUNC":
                raise ElfError(f"{where}: prog_array {spec.name!r}: .values[{index}] is "
                               f"{sym.name!r}, not a program")
        elif target.name != ".maps" or sym.type == "SECTION":
            raise ElfError(f"{where}: map {spec.name!r}: .values[{index}] is {sym.name!r}, "
                           f"not a map in .maps")
        found[index] = sym.name
    return sorted(found.items())


# -- legacy maps --------------------------------------------------------------------------

_LEGACY_FIELDS = ("type", "key_size", "value_size", "max_entries", "flags")


def _legacy_maps(elf: ElfFile, section: Section, table: MapTable) -> None:
    """``SEC("maps") struct bpf_map_def``: five u32s (more bytes must be zero)."""
    symbols = sorted((s for s in elf.symbols_in(section.index)
                      if s.type in ("OBJECT", "NOTYPE") and s.name and s.bind != "FILE"),
                     key=lambda s: s.value)
    if not symbols:
        return
    default_size = section.size // len(symbols)
    for sym in symbols:
        size = sym.size or default_size
        where = f"section maps offset {sym.value:#x}"
        if size < 16 or sym.value + size > section.size:
            raise ElfError(f"{where}: map {sym.name!r}: definition of {size} bytes does not "
                           f"fit (need 16..{section.size - sym.value})")
        raw = section.data[sym.value:sym.value + size] if section.data else bytes(size)
        words = struct.unpack_from(f"<{min(size, 20) // 4}I", raw)
        if any(raw[20:]):
            raise ElfError(f"{where}: map {sym.name!r}: fields past map_flags are not "
                           f"supported")
        fields = dict(zip(_LEGACY_FIELDS, words))
        table.add(MapSpec(name=sym.name, type=fields["type"], key_size=fields["key_size"],
                          value_size=fields["value_size"], max_entries=fields["max_entries"],
                          flags=fields.get("flags", 0), section="maps"),
                  (section.index, sym.value))


# -- global data --------------------------------------------------------------------------

def _data_map(elf: ElfFile, section: Section, btf: Btf | None, table: MapTable) -> None:
    name = section.name
    data = bytes(section.size) if section.nobits else section.data
    variables: dict[str, Variable] = {}
    value_type = None
    datasec = None
    if btf is not None:
        try:
            datasec = btf.find(name, Kind.DATASEC)
        except KeyError:
            datasec = None
    if datasec is not None:
        value_type = datasec
        for vsi in datasec.vars:
            var = btf[vsi.type_id]
            if var.kind is not Kind.VAR:
                continue
            if vsi.offset + vsi.size > section.size:
                raise ElfError(f"section {name} offset {vsi.offset:#x}: variable {var.name!r} "
                               f"({vsi.size} bytes) runs past the section ({section.size:#x})")
            variables[var.name] = Variable(var.name, vsi.offset, vsi.size,
                                           btf.resolve(var.type_id))
    else:
        for sym in elf.symbols_in(section.index):
            if sym.type == "OBJECT" and sym.name and sym.value + sym.size <= section.size:
                variables[sym.name] = Variable(sym.name, sym.value, sym.size)
    flags = BPF_F_RDONLY_PROG if name == ".rodata" or name.startswith(".rodata.") else 0
    table.add(MapSpec(name=name, type=MapType.ARRAY, key_size=4, value_size=section.size,
                      max_entries=1, flags=flags, data=data, section=name, variables=variables,
                      value_type=value_type), (section.index, 0))

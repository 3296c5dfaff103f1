"""What an object says, before anything is live: ObjectSpec, ProgramSpec, MapSpec.

A spec is plain data read from an ELF object (or built by hand, or by the assembler).
Loading it into an engine gives live programs and maps (:mod:`pybpf.engine`); the same
spec loads into every engine, so their results can be compared. Specs may be adjusted
before load, as libbpf allows between open and load (``spec.maps["m"].max_entries =
...``, ``spec.rodata["PORT"] = 53``); loading never changes the spec.

How instructions refer to what the loader must supply:
- an ``lddw`` of a map has ``reference`` set to the map's name and src_reg
  ``BPF_PSEUDO_MAP_FD`` (imm 0), or ``BPF_PSEUDO_MAP_VALUE`` with the offset into the
  value in the high 32 bits of ``imm`` (the kernel's second-slot imm), low 32 bits 0;
- bpf-to-bpf calls and ``BPF_PSEUDO_FUNC`` lddws are already linked: ``insns`` holds
  the entry function followed by every subprogram it reaches, with pc-relative offsets
  fixed up, so the instruction list is self-contained;
- CO-RE relocations are listed in ``core_relos`` and resolved at load against a target
  BTF; ``insns`` holds the values clang compiled in (the local type's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, MutableMapping

from pybpf.errors import BpfError, BpfTypeError, BpfValueError
from pybpf.isa import Instruction

if TYPE_CHECKING:
    from pybpf.engine import Object


@dataclass(frozen=True)
class SourceLine:
    """Where an instruction came from in C: file, 1-based line and column, the line's text."""

    file: str
    line: int
    column: int = 0
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")


@dataclass(frozen=True)
class Variable:
    """A global variable in a data section: offset and size in the section, its BTF type."""

    name: str
    offset: int
    size: int
    type: Any = None     # a pybpf.elf.btf type, when the object has BTF


@dataclass
class MapSpec:
    """A map an object defines: in ``.maps`` (BTF), legacy ``maps``, or a data section.

    ``contents`` are initial entries: ``(key, value)`` with ``value`` bytes, or for a
    prog_array / map-in-map the *name* of a program / map (libbpf's ``.values = {...}``).
    ``data`` is the initial value of a global-data map's single entry (``.data``,
    ``.rodata``, ``.bss``, ``.data.*``), whose ``variables`` it holds. ``key_type`` and
    ``value_type`` are BTF types when the object has them (for typed views).
    """

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: int = 0
    numa_node: int = 0
    map_extra: int = 0
    inner: "MapSpec | None" = None
    contents: list[tuple[Any, Any]] = field(default_factory=list)
    data: bytes | None = None
    section: str = ".maps"
    variables: dict[str, Variable] = field(default_factory=dict)
    key_type: Any = None
    value_type: Any = None

    @property
    def is_global_data(self) -> bool:
        return self.data is not None


@dataclass
class CoreRelo:
    """One CO-RE relocation: instruction index (in slots), local BTF type id, access
    string (``"0:1:2"``), kind (``BPF_CORE_*``, see :mod:`pybpf.elf.core`)."""

    insn: int
    type_id: int
    access: str
    kind: int


@dataclass
class ProgramSpec:
    """One program: an entry function, its section, program type and linked instructions.

    ``source_lines`` has one entry per instruction of ``insns`` (None where BTF.ext has no
    line info). ``func_info`` and ``line_info`` keep the BTF.ext records (instruction
    index, BTF type id / SourceLine) for the kernel engine.

    Instruction indexes in ``func_info``, ``line_info`` and ``core_relos`` count *slots*
    (an lddw takes two), as the kernel and jump offsets do; ``source_lines`` is indexed
    like ``insns``. A line_info record covers its instruction and the following ones up
    to the next record of the same function.
    """

    name: str
    section: str
    type: int
    insns: list[Instruction]
    license: str = "GPL"
    attach_type: int | None = None
    attach_to: str = ""
    flags: int = 0
    source_lines: list[SourceLine | None] = field(default_factory=list)
    func_info: list[tuple[int, int]] = field(default_factory=list)
    line_info: list[tuple[int, SourceLine]] = field(default_factory=list)
    core_relos: list[CoreRelo] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.source_lines:
            self.source_lines = [None] * len(self.insns)


class GlobalVariables(MutableMapping[str, Any]):
    """``spec.rodata``: the variables of one global-data section, set by name before load.

    An int is stored little-endian in the variable's size; bytes must have exactly that
    size. Reading returns the variable's current bytes, decoded as an int when it is an
    integer of 1, 2, 4 or 8 bytes.
    """

    def __init__(self, spec: MapSpec):
        self._spec = spec

    def _variable(self, name: str) -> Variable:
        try:
            return self._spec.variables[name]
        except KeyError:
            known = ", ".join(sorted(self._spec.variables)) or "none"
            raise KeyError(f"{self._spec.name} has no variable {name!r} (it has: {known})") \
                from None

    def __getitem__(self, name: str) -> Any:
        var = self._variable(name)
        raw = (self._spec.data or b"")[var.offset:var.offset + var.size]
        if _is_int_type(var):
            return int.from_bytes(raw, "little", signed=_is_signed(var))
        return raw

    def __setitem__(self, name: str, value: Any) -> None:
        var = self._variable(name)
        if isinstance(value, bool) or isinstance(value, int):
            try:
                raw = int(value).to_bytes(var.size, "little", signed=value < 0)
            except OverflowError:
                raise BpfValueError(f"{self._spec.name}: {value} does not fit {name} "
                                    f"({var.size} bytes)") from None
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if len(raw) != var.size:
                raise BpfValueError(f"{self._spec.name}: {name} is {var.size} bytes, "
                                    f"not {len(raw)}")
        else:
            raise BpfTypeError(f"{self._spec.name}: {name} takes an int or bytes, "
                               f"not {type(value).__name__}")
        data = bytearray(self._spec.data or bytes(self._spec.value_size))
        data[var.offset:var.offset + var.size] = raw
        self._spec.data = bytes(data)

    def __delitem__(self, name: str) -> None:
        raise TypeError("global variables cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._spec.variables)

    def __len__(self) -> int:
        return len(self._spec.variables)


def _is_int_type(var: Variable) -> bool:
    if var.type is None:
        return var.size in (1, 2, 4, 8)
    return getattr(var.type, "is_int", False) and var.size in (1, 2, 4, 8)


def _is_signed(var: Variable) -> bool:
    return bool(getattr(var.type, "signed", False))


@dataclass
class ObjectSpec:
    """Everything an object file says: its programs by function name, its maps by name."""

    programs: dict[str, ProgramSpec] = field(default_factory=dict)
    maps: dict[str, MapSpec] = field(default_factory=dict)
    license: str = "GPL"
    kern_version: int = 0
    btf: Any = None            # pybpf.elf.btf.Btf of the object, when it has BTF
    path: str | None = None

    def _section_variables(self, section: str) -> GlobalVariables:
        spec = self.maps.get(section)
        if spec is None or spec.data is None:
            raise BpfError(f"{self.path or 'object'} has no {section} section")
        return GlobalVariables(spec)

    @property
    def rodata(self) -> GlobalVariables:
        """``const volatile`` globals, settable before load."""
        return self._section_variables(".rodata")

    @property
    def data(self) -> GlobalVariables:
        return self._section_variables(".data")

    @property
    def bss(self) -> GlobalVariables:
        return self._section_variables(".bss")

    def load(self, engine: str = "interp", **options: Any) -> "Object":
        """Create the maps and load the programs into ``engine``; see :func:`pybpf.engine.load`."""
        from pybpf.engine import load_spec

        return load_spec(self, engine=engine, **options)

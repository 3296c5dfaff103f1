"""What a BPF object says, read with the reference tools, for comparing two compilers' output.

Not a test module: helpers shared by tests/cc (imported by file name from the test modules).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

READELF = shutil.which("llvm-readelf-19")
OBJDUMP = shutil.which("llvm-objdump-19")
BPFTOOL = shutil.which("bpftool", path="/usr/sbin:/usr/bin:/sbin:/bin")

_TYPE_RE = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
_ATTR_RE = re.compile(r"(\w+)=(\S+?),?(?=\s|$)")


@dataclass
class ObjInfo:
    sections: set[str]            # program, map, data, license and BTF sections
    programs: dict[str, str]      # global function -> section
    objects: set[str]             # global data symbols (maps, variables, LICENSE)
    maps: dict[str, dict[str, object]]   # map -> field -> value (ints, or a type name)


def _run(argv: list[str], data: bytes | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}"
    assert "warning" not in proc.stderr.lower(), proc.stderr
    return proc.stdout


def btf_types(path: str) -> dict[int, tuple[str, str, dict[str, str], list[dict[str, str]]]]:
    """bpftool's raw BTF dump: id -> (kind, name, attributes, member lines' attributes)."""
    types: dict[int, tuple[str, str, dict[str, str], list[dict[str, str]]]] = {}
    current = None
    for line in _run([BPFTOOL, "btf", "dump", "file", path]).splitlines():
        m = _TYPE_RE.match(line)
        if m:
            current = int(m.group(1))
            types[current] = (m.group(2), m.group(3), dict(_ATTR_RE.findall(m.group(4))), [])
        elif current is not None and line.startswith("\t"):
            member = dict(_ATTR_RE.findall(line))
            name = re.match(r"\t'([^']*)'", line)
            member["name"] = name.group(1) if name else ""
            types[current][3].append(member)
    return types


def map_definitions(path: str) -> dict[str, dict[str, object]]:
    """Each .maps variable's fields: __uint values as ints, __type pointees by type name."""
    types = btf_types(path)

    def resolve(tid: int) -> tuple[str, str, dict[str, str], list[dict[str, str]]]:
        t = types[tid]
        while t[0] in ("TYPEDEF", "CONST", "VOLATILE") and int(t[2]["type_id"]) in types:
            t = types[int(t[2]["type_id"])]
        return t

    out: dict[str, dict[str, object]] = {}
    for kind, name, _, members in types.values():
        if kind != "DATASEC" or name != ".maps":
            continue
        for entry in members:
            var = types[int(entry["type_id"])]
            struct = resolve(int(var[2]["type_id"]))
            fields: dict[str, object] = {}
            for m in struct[3]:
                target = types[int(m["type_id"])]
                if target[0] == "PTR":
                    pointee = types[int(target[2]["type_id"])]
                    if pointee[0] == "ARRAY":
                        fields[m["name"]] = int(pointee[2]["nr_elems"])
                    else:
                        fields[m["name"]] = pointee[1] or pointee[0]
                else:
                    fields[m["name"]] = target[0]
            out[var[1]] = fields
    return out


def obj_info(path: str) -> ObjInfo:
    data = open(path, "rb").read()
    _run([READELF, "-S", "-s", "-r", path])      # the reference parser accepts it
    _run([OBJDUMP, "-d", path])
    elf = ELFFile(io.BytesIO(data))
    assert elf["e_machine"] == "EM_BPF" and elf["e_type"] == "ET_REL"
    sections = set()
    for sec in elf.iter_sections():
        executable = sec["sh_flags"] & 0x4 and sec["sh_size"]
        if executable or sec.name in ("license", ".maps", ".BTF", ".BTF.ext") or \
                sec.name.startswith((".data", ".rodata", ".bss")):
            sections.add(sec.name)
    programs, objects = {}, set()
    for sym in elf.get_section_by_name(".symtab").iter_symbols():
        if sym["st_info"]["bind"] != "STB_GLOBAL":
            continue
        if sym["st_info"]["type"] == "STT_FUNC":
            programs[sym.name] = elf.get_section(sym["st_shndx"]).name
        elif sym["st_info"]["type"] == "STT_OBJECT":
            objects.add(sym.name)
    return ObjInfo(sections, programs, objects, map_definitions(path))

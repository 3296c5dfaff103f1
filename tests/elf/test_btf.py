"""BTF and .BTF.ext: kinds, bitfields, vmlinux, func/line info against llvm-objdump."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from pybpf.elf import Btf, open_object
from pybpf.elf.btf import Kind
from pybpf.elf.core import target_btf
from pybpf.errors import ElfError
from pybpf.isa import slot_indexes

DATA = Path(__file__).parent / "data"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
OBJDUMP = shutil.which("llvm-objdump-19")
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")


def build_btf(types: list[bytes], strings: bytes) -> bytes:
    body = b"".join(types)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings))
    return header + body + strings


def rec(name_off: int, kind: int, vlen: int, word: int, kflag: int = 0) -> bytes:
    return struct.pack("<III", name_off, (kflag << 31) | (kind << 24) | vlen, word)


def test_every_kind_from_hand_built_btf():
    strings = b"\0int\0s\0a\0b\0E\0X\0Y\0f\0v\0.data\0tag\0F\0E64\0Z\0fl\0"
    off = {name: strings.index(b"\0" + name.encode() + b"\0") + 1
           for name in ("int", "s", "a", "b", "E", "X", "Y", "f", "v", ".data", "tag", "F",
                        "E64", "Z", "fl")}
    types = [
        rec(off["int"], 1, 0, 4) + struct.pack("<I", (1 << 24) | 32),           # 1 int
        rec(0, 2, 0, 1),                                                          # 2 int *
        rec(0, 3, 0, 0) + struct.pack("<III", 1, 1, 5),                           # 3 int[5]
        rec(off["s"], 4, 2, 8, kflag=1)                                           # 4 struct s
        + struct.pack("<III", off["a"], 1, (3 << 24) | 0)                        #   a:3
        + struct.pack("<III", off["b"], 1, 32),                                   #   b
        rec(0, 5, 1, 4) + struct.pack("<III", off["a"], 1, 0),                    # 5 union
        rec(off["E"], 6, 2, 4, kflag=1) + struct.pack("<Ii", off["X"], -1)
        + struct.pack("<Ii", off["Y"], 7),                                        # 6 enum E
        rec(off["F"], 7, 0, 0, kflag=1),                                          # 7 fwd union
        rec(off["s"], 8, 0, 4),                                                   # 8 typedef
        rec(0, 9, 0, 8), rec(0, 10, 0, 9), rec(0, 11, 0, 2),                      # 9,10,11
        rec(0, 13, 1, 1) + struct.pack("<II", off["a"], 2),                       # 12 proto
        rec(off["f"], 12, 1, 12),                                                 # 13 func
        rec(off["v"], 14, 0, 1) + struct.pack("<I", 1),                           # 14 var
        rec(off[".data"], 15, 1, 4) + struct.pack("<III", 14, 0, 4),              # 15 datasec
        rec(off["fl"], 16, 0, 8),                                                 # 16 float
        rec(off["tag"], 17, 0, 4) + struct.pack("<i", 1),                         # 17 decl tag
        rec(off["tag"], 18, 0, 1),                                                # 18 type tag
        rec(off["E64"], 19, 1, 8) + struct.pack("<III", off["Z"], 1, 2),          # 19 enum64
    ]
    btf = Btf(build_btf(types, strings))
    assert btf.count == 20
    assert [btf[i].kind for i in range(1, 20)] == [Kind(k) for k in (
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 12, 14, 15, 16, 17, 18, 19)]
    assert btf[1].signed and btf[1].bits == 32 and btf[1].is_int
    assert btf[2].type.name == "int" and btf.size_of(2) == 8
    assert btf[3].nelems == 5 and btf.size_of(3) == 20
    a, b = btf[4].members
    assert (a.name, a.offset, a.bitfield_size, b.offset) == ("a", 0, 3, 32)
    assert [(v.name, v.value) for v in btf[6].values] == [("X", -1), ("Y", 7)]
    assert btf[7].kind_flag
    assert btf[8].resolve() is btf[4]
    assert btf[10].resolve().name == "s" and btf[10].strip_qualifiers() is btf[8]
    assert btf[12].params[0].name == "a" and btf[13].type is btf[12]
    assert btf[14].linkage == 1 and btf[15].vars[0].name == "v"
    assert btf.size_of(16) == 8 and btf[17].component_idx == 1
    assert btf[19].values[0].value == (2 << 32) | 1
    assert btf.find("s", Kind.TYPEDEF).id == 8
    assert btf[0].kind is Kind.VOID


@pytest.mark.parametrize("cut", [0, 5, 23, 30, 60])
def test_truncated_btf_raises_elf_error(cut):
    raw = (DATA / "maps.o").read_bytes()
    spec = open_object(raw)
    with pytest.raises(ElfError, match=r"offset 0x"):
        Btf(spec.btf.raw[:cut])


def test_bad_kind_names_offset():
    raw = build_btf([rec(0, 25, 0, 0)], b"\0")
    with pytest.raises(ElfError, match=r"\.BTF offset 0x18: type \[1\]: unknown kind 25"):
        Btf(raw)


@needs_vmlinux
def test_vmlinux_parses_fast():
    start = time.perf_counter()
    btf = Btf.from_file(VMLINUX)
    ts = btf.find("task_struct", Kind.STRUCT)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    assert btf.count > 10000
    assert ts.member("pid").type.resolve().name == "int"
    # bitfields carry their sizes
    assert any(m.bitfield_size == 1 for m in ts.members)
    assert btf.size_of(ts.id) == ts.size
    assert target_btf() is target_btf()


@needs_vmlinux
def test_every_vmlinux_type_is_readable():
    btf = target_btf()
    kinds = set()
    for t in btf:
        kinds.add(t.kind)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            t.members
        elif t.kind in (Kind.ENUM, Kind.ENUM64):
            t.values
        elif t.kind is Kind.FUNC_PROTO:
            t.params
    assert {Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FUNC, Kind.FUNC_PROTO,
            Kind.PTR, Kind.ARRAY, Kind.TYPEDEF} <= kinds


def test_object_btf_keeps_raw_bytes():
    spec = open_object(DATA / "maps.o")
    assert spec.btf.raw[:2] == b"\x9f\xeb"
    assert Btf(spec.btf.raw).count == spec.btf.count


# -- .BTF.ext ---------------------------------------------------------------------------

def test_func_info_marks_every_function():
    spec = open_object(DATA / "progs.o")
    for prog in spec.programs.values():
        starts = [slot for insn, slot in zip(prog.insns, slot_indexes(prog.insns))
                  if insn.symbol]
        assert [slot for slot, _ in prog.func_info] == starts
        names = [spec.btf[type_id].name for _, type_id in prog.func_info]
        assert names == [insn.symbol for insn in prog.insns if insn.symbol]
        assert all(spec.btf[t].kind is Kind.FUNC for _, t in prog.func_info)


def test_line_info_text_and_inheritance():
    spec = open_object(DATA / "progs.o")
    prog = spec.programs["xdp_loop"]
    source = (DATA / "progs.c").read_text().splitlines()
    for slot, line in prog.line_info:
        assert line.file.endswith("progs.c")
        assert line.text == source[line.line - 1]
    assert all(line is not None for line in prog.source_lines)
    assert prog.insns[0].line == str(prog.source_lines[0])
    call = next(i for i, insn in enumerate(prog.insns) if insn.imm == 181)   # bpf_loop
    assert "bpf_loop" in prog.source_lines[call].text


@pytest.mark.skipif(OBJDUMP is None, reason="llvm-objdump-19 not installed")
def test_source_lines_agree_with_llvm_objdump():
    """Where llvm-objdump -l (DWARF) names a line for an instruction, BTF line info names
    the same line. (Not at a function's first instruction: there BTF gives the line of
    the declaration, column 0, and DWARF the line of the opening brace.)"""
    for obj in ("progs", "maps"):
        text = subprocess.run([OBJDUMP, "-d", "-l", str(DATA / f"{obj}.o")],
                              capture_output=True, text=True, check=True).stdout
        lines: dict[str, dict[int, int]] = {}
        current_fn = None
        current_line = None
        for row in text.splitlines():
            m = re.match(r"^[0-9a-f]+ <(\w+)>:$", row)
            if m:
                current_fn, current_line = m.group(1), None
                lines[current_fn] = {}
                base = None
                continue
            m = re.match(r"^; .*:(\d+)$", row)
            if m:
                current_line = int(m.group(1))
                continue
            m = re.match(r"^\s+(\d+):\t", row)
            if m and current_fn is not None:
                slot = int(m.group(1))
                base = slot if base is None else base
                lines[current_fn][slot - base] = current_line
        checked = 0
        for prog in open_object(DATA / f"{obj}.o").programs.values():
            fn, start = None, 0
            for insn, slot, src in zip(prog.insns, slot_indexes(prog.insns), prog.source_lines):
                if insn.symbol:
                    fn, start = insn.symbol, slot
                want = lines[fn].get(slot - start)
                if want is not None and src is not None and want != 0 and src.column:
                    assert src.line == want, (obj, prog.name, fn, slot - start)
                    checked += 1
        assert checked > 20

"""open_object on the committed fixtures: programs, linking, relocations, maps, globals."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pybpf.elf import ObjectSpec, open_object
from pybpf.elf.btf import Kind
from pybpf.errors import BpfError, ElfError
from pybpf.isa import encode, slot_indexes
from pybpf.isa.opcodes import OPCODE_CALL, OPCODE_LDDW
from pybpf.isa.uapi import (BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD,
                            BPF_PSEUDO_MAP_VALUE, AttachType, MapType, ProgType)

DATA = Path(__file__).parent / "data"
OBJDUMP = shutil.which("llvm-objdump-19")


def load(name: str) -> ObjectSpec:
    return open_object(DATA / f"{name}.o")


def function_starts(prog) -> dict[str, int]:
    """Function name -> slot of its first instruction in the linked program."""
    return {insn.symbol: slot for insn, slot in zip(prog.insns, slot_indexes(prog.insns))
            if insn.symbol}


def target_of(prog, index: int) -> str:
    """The function a call / PSEUDO_FUNC lddw at list index ``index`` lands on."""
    slots = slot_indexes(prog.insns)
    imm = prog.insns[index].imm
    if imm >= 1 << 31:
        imm -= 1 << 32
    dest = slots[index] + imm + 1
    names = {slot: name for name, slot in function_starts(prog).items()}
    return names[dest]


# -- programs and linking ---------------------------------------------------------------

def test_programs_sections_and_types():
    spec = load("progs")
    assert list(spec.programs) == ["xdp_first", "xdp_second", "xdp_loop", "tc_plain"]
    for name in ("xdp_first", "xdp_second", "xdp_loop"):
        p = spec.programs[name]
        assert (p.section, p.type, p.attach_type) == ("xdp", ProgType.XDP, AttachType.XDP)
    tc = spec.programs["tc_plain"]
    assert (tc.type, tc.attach_type, tc.license) == (ProgType.SCHED_CLS, None, "GPL")
    assert spec.license == "GPL" and spec.kern_version == 0


def test_subprograms_are_appended_and_calls_fixed():
    spec = load("progs")
    first = spec.programs["xdp_first"]
    # xdp_first -> global_helper -> middle -> leaf (static, same-section call without
    # relocation), each appended once, in the order first reached
    assert list(function_starts(first)) == ["xdp_first", "global_helper", "middle", "leaf"]
    calls = [i for i, insn in enumerate(first.insns)
             if insn.opcode == OPCODE_CALL and insn.src == BPF_PSEUDO_CALL]
    assert [first.insns[i].reference for i in calls] == ["global_helper", "middle", "leaf",
                                                         "leaf"]
    assert [target_of(first, i) for i in calls] == ["global_helper", "middle", "leaf", "leaf"]
    second = spec.programs["xdp_second"]
    assert list(function_starts(second)) == ["xdp_second", "middle", "leaf"]
    # programs do not drag in functions they never reach
    assert "loop_cb" not in function_starts(first)


def test_bpf_loop_callback_becomes_pseudo_func():
    prog = load("progs").programs["xdp_loop"]
    (i,) = [i for i, insn in enumerate(prog.insns) if insn.src == BPF_PSEUDO_FUNC]
    insn = prog.insns[i]
    assert insn.opcode == OPCODE_LDDW and insn.reference == "loop_cb"
    assert target_of(prog, i) == "loop_cb"
    assert list(function_starts(prog)) == ["xdp_loop", "loop_cb"]


def test_linked_programs_encode():
    for name in ("progs", "maps", "legacy", "core", "sections"):
        for prog in load(name).programs.values():
            assert len(encode(prog.insns)) % 8 == 0
            assert len(prog.source_lines) == len(prog.insns)


@pytest.mark.skipif(OBJDUMP is None, reason="llvm-objdump-19 not installed")
def test_unrelocated_instructions_match_llvm_objdump():
    """Every instruction the linker did not touch has the bytes llvm-objdump shows."""
    for obj in ("progs", "maps", "core"):
        text = subprocess.run([OBJDUMP, "-d", str(DATA / f"{obj}.o")], capture_output=True,
                              text=True, check=True).stdout
        functions: dict[str, list[bytes]] = {}
        current = None
        for line in text.splitlines():
            m = re.match(r"^[0-9a-f]+ <(\w+)>:$", line)
            if m:
                current = functions.setdefault(m.group(1), [])
                continue
            m = re.match(r"^\s+\d+:\t([0-9a-f ]+?)\t", line)
            if m and current is not None:
                current.append(bytes.fromhex(m.group(1).replace(" ", "")))
        for prog in load(obj).programs.values():
            name = None
            slot = 0
            for insn in prog.insns:
                if insn.symbol:
                    name, slot = insn.symbol, 0
                want = functions[name][slot]
                if insn.reference is None:
                    assert encode([insn]) == want, (obj, prog.name, name, slot)
                slot += 1  # objdump prints an lddw as one 16-byte line
            assert name is not None


# -- map and data relocations -----------------------------------------------------------

def test_map_relocations():
    prog = load("maps").programs["use_maps"]
    refs = [(insn.src, insn.reference, insn.imm) for insn in prog.insns
            if insn.opcode == OPCODE_LDDW]
    assert (BPF_PSEUDO_MAP_FD, "hash_map", 0) in refs
    assert (BPF_PSEUDO_MAP_FD, "outer_hash", 0) in refs
    assert (BPF_PSEUDO_MAP_FD, "jmp_table", 0) in refs
    values = {(ref, imm >> 32) for src, ref, imm in refs if src == BPF_PSEUDO_MAP_VALUE}
    spec = load("maps")
    rodata = spec.maps[".rodata"].variables
    assert (".rodata", rodata["ro_port"].offset) in values
    assert (".rodata", rodata["ro_neg"].offset) in values
    assert (".rodata", rodata["ro_name"].offset) in values
    assert (".rodata", rodata["message"].offset) in values       # static: section symbol
    assert (".data", spec.maps[".data"].variables["data_arr"].offset) in values
    assert (".data.foo", 0) in values
    assert (".bss", spec.maps[".bss"].variables["bss_zero"].offset) in values
    assert all(imm & 0xFFFFFFFF == 0 for src, _, imm in refs if src == BPF_PSEUDO_MAP_VALUE)


# -- maps -------------------------------------------------------------------------------

def test_btf_maps():
    maps = load("maps").maps
    h = maps["hash_map"]
    assert (h.type, h.key_size, h.value_size, h.max_entries, h.flags) == \
        (MapType.HASH, 4, 16, 128, 1)
    assert h.key_type.resolve().name == "unsigned int"
    assert h.value_type.name == "pair" and h.value_type.kind is Kind.STRUCT
    a = maps["array_map"]
    assert (a.type, a.key_size, a.value_size, a.max_entries, a.pinning) == \
        (MapType.ARRAY, 4, 16, 4, 1)
    assert a.key_type is None
    assert (maps["percpu_map"].type, maps["percpu_map"].value_size) == (MapType.PERCPU_ARRAY, 8)
    assert (maps["lru_map"].key_size, maps["lru_map"].value_size) == (8, 8)
    rb = maps["ringbuf"]
    assert (rb.type, rb.key_size, rb.value_size, rb.max_entries) == (MapType.RINGBUF, 0, 0, 4096)
    ev = maps["events"]
    assert (ev.type, ev.key_size, ev.value_size, ev.max_entries) == \
        (MapType.PERF_EVENT_ARRAY, 4, 4, 0)
    bloom = maps["bloom"]
    assert (bloom.type, bloom.key_size, bloom.value_size, bloom.map_extra) == \
        (MapType.BLOOM_FILTER, 0, 4, 3)
    assert all(m.section == ".maps" for m in maps.values() if not m.is_global_data)


def test_map_in_map_and_prog_array():
    maps = load("maps").maps
    outer = maps["outer_hash"]
    assert (outer.type, outer.key_size, outer.value_size, outer.max_entries) == \
        (MapType.HASH_OF_MAPS, 4, 4, 8)
    assert outer.contents == [(0, "inner_a"), (2, "inner_b")]
    inner = outer.inner
    assert (inner.name, inner.type, inner.key_size, inner.value_size, inner.max_entries) == \
        ("outer_hash.inner", MapType.ARRAY, 4, 4, 2)
    arr = maps["outer_array"]
    assert arr.type == MapType.ARRAY_OF_MAPS and arr.contents == []
    assert (arr.inner.type, arr.inner.key_size, arr.inner.value_size, arr.inner.max_entries) \
        == (MapType.HASH, 2, 1, 5)
    jmp = maps["jmp_table"]
    assert (jmp.type, jmp.key_size, jmp.value_size, jmp.max_entries) == \
        (MapType.PROG_ARRAY, 4, 4, 4)
    assert jmp.contents == [(1, "tail_a"), (3, "tail_b")]


def test_legacy_maps_and_version():
    spec = load("legacy")
    assert spec.kern_version == 0x060C00 and spec.license == "GPL"
    h, a = spec.maps["legacy_hash"], spec.maps["legacy_array"]
    assert (h.type, h.key_size, h.value_size, h.max_entries, h.section) == \
        (MapType.HASH, 4, 8, 32, "maps")
    assert (a.type, a.key_size, a.value_size, a.max_entries) == (MapType.ARRAY, 4, 4, 2)
    prog = spec.programs["sock_prog"]
    assert prog.type == ProgType.SOCKET_FILTER
    assert {i.reference for i in prog.insns if i.opcode == OPCODE_LDDW} == \
        {"legacy_hash", "legacy_array"}


def test_global_data_maps():
    maps = load("maps").maps
    for name in (".data", ".rodata", ".bss", ".data.foo"):
        m = maps[name]
        assert (m.type, m.key_size, m.max_entries, m.section) == (MapType.ARRAY, 4, 1, name)
        assert m.value_size == len(m.data) and m.is_global_data
    assert maps[".rodata"].flags == 0x80 and maps[".data"].flags == 0
    assert maps[".bss"].data == bytes(16)
    assert set(maps[".bss"].variables) == {"bss_small", "bss_zero"}
    assert maps[".data.foo"].data == (0x1234).to_bytes(4, "little")


def test_rodata_variables_read_and_write():
    spec = load("maps")
    assert spec.rodata["ro_port"] == 53
    assert spec.rodata["ro_neg"] == -5
    assert spec.rodata["ro_name"] == b"abc\0\0\0\0\0"
    assert spec.data["data_var"] == 7
    assert spec.maps[".data"].variables["data_arr"].type.kind is Kind.ARRAY
    assert spec.maps[".rodata"].variables["ro_port"].type.is_int
    spec.rodata["ro_port"] = 5353
    assert spec.rodata["ro_port"] == 5353
    assert open_object(DATA / "maps.o").rodata["ro_port"] == 53
    assert spec.bss["bss_zero"] == 0


def test_btf_datasec_fixed_up():
    spec = load("maps")
    datasec = spec.btf.find(".rodata", Kind.DATASEC)
    assert datasec.size == spec.maps[".rodata"].value_size
    offsets = [v.offset for v in datasec.vars]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)


# -- errors -----------------------------------------------------------------------------

def test_unknown_section_is_named(tmp_path):
    src = tmp_path / "bad.c"
    src.write_text('__attribute__((section("bogus/thing"), used)) int f(void *c) { return 0; }\n')
    if shutil.which("clang-19") is None:
        pytest.skip("clang-19 not installed")
    obj = tmp_path / "bad.o"
    subprocess.run(["clang-19", "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)],
                   check=True)
    with pytest.raises(ElfError, match="bogus/thing"):
        open_object(obj)


def test_not_elf_and_missing_file(tmp_path):
    with pytest.raises(ElfError):
        open_object(b"not an elf at all")
    with pytest.raises(ElfError, match="cannot read"):
        open_object(tmp_path / "nope.o")
    err = ElfError("x")
    assert isinstance(err, BpfError) and isinstance(err, ValueError)


def test_open_from_bytes_equals_path():
    raw = (DATA / "progs.o").read_bytes()
    a, b = open_object(raw), load("progs")
    assert a.path is None and b.path == str(DATA / "progs.o")
    assert [p.insns for p in a.programs.values()] == [p.insns for p in b.programs.values()]

"""pybpf.elf.writer: objects that LLVM's tools parse and that libbpf (bpftool) loads.

Reference tools: llvm-readelf-19 / llvm-objdump-19 (parse and disassemble), bpftool (the
machine's libbpf 1.x: BTF dump, ``prog loadall`` into the kernel, ``prog run``), clang-19
(the round trip: clang's instructions written back by pybpf disassemble identically).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from pybpf.asm import assemble
from pybpf.elf.spec import MapSpec, ObjectSpec, ProgramSpec, Variable
from pybpf.elf.writer import write_object, write_program
from pybpf.errors import ElfError
from pybpf.isa import Instruction, decode
from pybpf.isa.uapi import BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, MapType

READELF = shutil.which("llvm-readelf-19")
OBJDUMP = shutil.which("llvm-objdump-19")
CLANG = shutil.which("clang-19")
BPFTOOL = shutil.which("bpftool", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
DATA = Path(__file__).resolve().parent.parent / "cc" / "data"

needs_readelf = pytest.mark.skipif(READELF is None or OBJDUMP is None,
                                   reason="llvm-readelf-19/llvm-objdump-19 not installed (llvm-19)")
needs_bpftool = pytest.mark.skipif(BPFTOOL is None, reason="bpftool not installed")


def lddw_map(dst: int, name: str) -> Instruction:
    return Instruction(0x18, dst, BPF_PSEUDO_MAP_FD, 0, 0, reference=name)


def lddw_value(dst: int, name: str, offset: int) -> Instruction:
    return Instruction(0x18, dst, BPF_PSEUDO_MAP_VALUE, 0, offset << 32, reference=name)


def counter_program(map_name: str = "counts") -> list[Instruction]:
    """counts[0] += 1; return 1"""
    return (assemble("r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\n")
            + [lddw_map(1, map_name)]
            + assemble("call 1\nif r0 == 0 goto +2\nr1 = 1\nlock *(u64 *)(r0 + 0) += r1\n"
                       "r0 = 1\nexit\n"))


def run_tool(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def obj_path(tmp_path):
    def write(data: bytes, name: str = "out.o") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return write


@pytest.fixture
def bpffs():
    """A fresh directory on bpffs; removed (unpinning everything) afterwards."""
    if BPFTOOL is None:
        pytest.skip("bpftool not installed")
    root = Path("/sys/fs/bpf")
    if subprocess.run(["stat", "-f", "-c", "%T", str(root)], capture_output=True,
                      text=True).stdout.strip() != "bpf_fs":
        root.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["mount", "-t", "bpf", "bpf", str(root)]).returncode != 0:
            pytest.skip("cannot mount bpffs at /sys/fs/bpf")
    path = root / f"pybpf-elfwriter-{uuid.uuid4().hex[:12]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def loadall(obj: Path, pins: Path) -> dict[str, Path]:
    """bpftool prog loadall; returns the pinned programs by name (maps under pins/maps)."""
    pins.mkdir()
    (pins / "maps").mkdir()
    proc = subprocess.run([BPFTOOL, "prog", "loadall", str(obj), str(pins / "progs"),
                           "pinmaps", str(pins / "maps")], capture_output=True, text=True)
    assert proc.returncode == 0, f"bpftool prog loadall failed:\n{proc.stderr[-3000:]}"
    return {p.name: p for p in (pins / "progs").iterdir()}


def prog_run(pin: Path, data: bytes, tmp: Path) -> int:
    data_in = tmp / "data_in"
    data_in.write_bytes(data)
    out = run_tool(BPFTOOL, "-j", "prog", "run", "pinned", str(pin), "data_in", str(data_in))
    return json.loads(out)["retval"]


def map_lookup(pin: Path, key: bytes) -> bytes:
    out = run_tool(BPFTOOL, "-j", "map", "lookup", "pinned", str(pin), "key",
                   *[str(b) for b in key])
    return bytes(int(b, 16) for b in json.loads(out)["value"])


# --------------------------------------------------------------------------- structure

def test_elf_header_and_sections():
    data = write_program(counter_program(), maps=[MapSpec("counts", MapType.HASH, 4, 8, 16)])
    elf = ELFFile(io.BytesIO(data))
    assert (elf.elfclass, elf.little_endian) == (64, True)
    assert elf["e_machine"] == "EM_BPF" and elf["e_type"] == "ET_REL"
    names = [s.name for s in elf.iter_sections()]
    assert {"socket", "license", ".maps", ".BTF", ".relsocket", ".symtab", ".strtab"} <= set(names)
    assert "maps" not in names  # libbpf >= 1.0 refuses legacy map sections
    assert elf.get_section_by_name("license").data() == b"GPL\0"
    syms = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
    assert syms["prog"]["st_info"]["type"] == "STT_FUNC"
    assert syms["prog"]["st_info"]["bind"] == "STB_GLOBAL"
    assert syms["prog"]["st_size"] == 12 * 8
    assert syms["counts"]["st_info"]["type"] == "STT_OBJECT"
    rel = elf.get_section_by_name(".relsocket")
    assert isinstance(rel, RelocationSection)
    (r,) = list(rel.iter_relocations())
    assert r["r_offset"] == 4 * 8 and r["r_info_type"] == 1  # R_BPF_64_64
    insns = decode(elf.get_section_by_name("socket").data())
    assert (insns[4].src, insns[4].imm) == (0, 0)  # as clang leaves it: libbpf fills it in


@needs_readelf
def test_llvm_tools_parse(obj_path):
    path = obj_path(write_program(counter_program(), section="xdp", name="count",
                                  maps=[MapSpec("counts", MapType.ARRAY, 4, 8, 1)]))
    out = run_tool(READELF, "-S", "-s", "-r", str(path))
    assert "warning" not in out.lower()
    assert re.search(r"R_BPF_64_64\s+0+\s+counts", out)
    dis = run_tool(OBJDUMP, "-dr", str(path))
    assert "<count>:" in dis and "R_BPF_64_64\tcounts" in dis
    assert "lock *(u64 *)(r0 + 0x0) += r1" in dis


@needs_bpftool
def test_btf_map_definition(obj_path):
    spec = MapSpec("events", MapType.RINGBUF, 0, 0, 4096)
    flows = MapSpec("flows", MapType.LRU_HASH, 16, 24, 1024, flags=0)
    path = obj_path(write_program(counter_program("flows"), maps=[flows, spec]))
    btf = run_tool(BPFTOOL, "btf", "dump", "file", str(path))
    assert "DATASEC '.maps' size=" in btf
    assert "VAR 'flows' type_id=" in btf and "VAR 'events' type_id=" in btf
    assert re.search(r"'key_size' type_id=\d+ bits_offset=64", btf)
    assert "nr_elems=4096" in btf


def test_errors():
    with pytest.raises(ElfError, match="not a map"):
        write_program(counter_program("nosuch"))
    with pytest.raises(ElfError, match="names none"):
        write_program([Instruction(0x18, 1, BPF_PSEUDO_MAP_FD, 0, 0)] + assemble("exit"))
    hashmap = MapSpec("h", MapType.HASH, 4, 4, 1, contents=[(b"k", b"v")])
    with pytest.raises(ElfError, match="initial contents"):
        write_program(assemble("r0 = 0\nexit"), maps=[hashmap])
    with pytest.raises(ElfError, match="outside the program"):
        write_program([Instruction(0x85, 0, 1, 0, 5)] + assemble("exit"))


# --------------------------------------------------------------------------- the kernel

@pytest.mark.kernel
def test_load_and_run_hash_map(obj_path, bpffs, tmp_path):
    path = obj_path(write_program(counter_program(),
                                  maps=[MapSpec("counts", MapType.HASH, 4, 8, 16)]))
    progs = loadall(path, bpffs)
    assert set(progs) == {"prog"}
    run_tool(BPFTOOL, "map", "update", "pinned", str(bpffs / "maps" / "counts"),
             "key", *"0 0 0 0".split(), "value", *"0 0 0 0 0 0 0 0".split())
    for _ in range(3):
        assert prog_run(progs["prog"], bytes(64), tmp_path) == 1
    value = map_lookup(bpffs / "maps" / "counts", bytes(4))
    assert int.from_bytes(value, "little") == 3


def global_data_spec() -> ObjectSpec:
    """out (.data) = limit (.rodata) + 2 + bss counter; returns the sum."""
    rodata = MapSpec(".rodata", MapType.ARRAY, 4, 8, 1, data=(40).to_bytes(4, "little") + bytes(4),
                     section=".rodata",
                     variables={"limit": Variable("limit", 0, 4), "pad": Variable("pad", 4, 4)})
    data = MapSpec(".data", MapType.ARRAY, 4, 8, 1, data=bytes(8), section=".data",
                   variables={"out": Variable("out", 0, 8)})
    bss = MapSpec(".bss", MapType.ARRAY, 4, 16, 1, data=bytes(16), section=".bss",
                  variables={"hits": Variable("hits", 8, 8)})
    insns = ([lddw_value(1, ".rodata", 0)] + assemble("r2 = *(u32 *)(r1 + 0)\nr2 += 2\n")
             + [lddw_value(3, ".bss", 8)]
             + assemble("r4 = 1\nlock *(u64 *)(r3 + 0) += r4\nr4 = *(u64 *)(r3 + 0)\n"
                        "r2 += r4\n")
             + [lddw_value(1, ".data", 0)]
             + assemble("*(u64 *)(r1 + 0) = r2\nr0 = r2\nexit\n"))
    prog = ProgramSpec("globals", "socket", 1, insns)
    return ObjectSpec(programs={"globals": prog},
                      maps={m.name: m for m in (rodata, data, bss)})


@needs_bpftool
def test_global_data_sections(obj_path):
    path = obj_path(write_object(global_data_spec()))
    elf = ELFFile(open(path, "rb"))
    assert elf.get_section_by_name(".bss")["sh_type"] == "SHT_NOBITS"
    assert elf.get_section_by_name(".rodata")["sh_flags"] & 1 == 0  # not writable
    btf = run_tool(BPFTOOL, "btf", "dump", "file", str(path))
    assert "DATASEC '.rodata' size=8 vlen=2" in btf


@pytest.mark.kernel
def test_load_global_data(obj_path, bpffs, tmp_path):
    progs = loadall(obj_path(write_object(global_data_spec())), bpffs)
    assert prog_run(progs["globals"], bytes(64), tmp_path) == 43
    assert prog_run(progs["globals"], bytes(64), tmp_path) == 44


def subprogram_spec() -> ProgramSpec:
    """A main program calling a static subprogram and passing a callback to bpf_loop.

    0: r6 = 5 ; 1: r1 = r6 ; 2: call +N (triple) ; 3: r7 = r0 ; 4-5: r2 = callback ll ;
    bpf_loop(3, callback, 0, 0) ; r0 = r7 + loops ; exit
    triple: r0 = r1 * 3 ; exit
    callback: r0 = 0 ; exit
    """
    main = assemble("r6 = 5\nr1 = r6\n")
    after_call = assemble("r7 = r0\n")
    loop = assemble("r1 = 3\nr3 = 0\nr4 = 0\ncall 181\nr0 += r7\nexit\n")
    triple = assemble("r0 = r1\nr0 *= 3\nexit\n")
    callback = assemble("r0 = 0\nexit\n")
    # slots: main 0-1, call 2, after_call 3, lddw 4-5, loop 6-11, triple 12-14, callback 15-16
    call = Instruction(0x85, 0, 1, 0, 12 - 2 - 1)
    func = Instruction(0x18, 2, BPF_PSEUDO_FUNC, 0, 15 - 4 - 1)
    insns = (main + [call] + after_call + [func] + loop
             + [triple[0].with_meta(symbol="triple")] + triple[1:]
             + [callback[0].with_meta(symbol="callback")] + callback[1:])
    return ProgramSpec("caller", "socket", 1, insns)


@needs_readelf
def test_subprograms_go_to_text(obj_path):
    path = obj_path(write_object(ObjectSpec(programs={"caller": subprogram_spec()})))
    dis = run_tool(OBJDUMP, "-dr", str(path))
    assert "<triple>:" in dis and "<callback>:" in dis
    assert re.search(r"R_BPF_64_32\s+\.text", dis)  # the call, against .text like clang's
    assert re.search(r"R_BPF_64_64\s+\.text", dis)  # the callback address
    syms = run_tool(READELF, "-s", str(path))
    assert re.search(r"FUNC\s+LOCAL\s+DEFAULT\s+\d+ triple", syms)


@pytest.mark.kernel
def test_load_subprograms(obj_path, bpffs, tmp_path):
    progs = loadall(obj_path(write_object(ObjectSpec(programs={"caller": subprogram_spec()}))),
                    bpffs)
    assert set(progs) == {"caller"}
    assert prog_run(progs["caller"], bytes(64), tmp_path) == 15 + 3


@pytest.mark.kernel
def test_load_prog_array_contents(obj_path, bpffs, tmp_path):
    jump = MapSpec("jumps", MapType.PROG_ARRAY, 4, 4, 4, contents=[(1, "target")])
    entry = ([Instruction(0x18, 2, BPF_PSEUDO_MAP_FD, 0, 0, reference="jumps")]
             + assemble("r3 = 1\ncall 12\nr0 = 7\nexit\n"))
    target = assemble("r0 = 42\nexit\n")
    spec = ObjectSpec(programs={"entry": ProgramSpec("entry", "socket", 1, entry),
                                "target": ProgramSpec("target", "socket", 1, target)},
                      maps={"jumps": jump})
    progs = loadall(obj_path(write_object(spec)), bpffs)
    assert prog_run(progs["entry"], bytes(64), tmp_path) == 42


# --------------------------------------------------------------------------- clang round trip

def _clang_program(obj: bytes, section: str) -> list[Instruction]:
    """Instructions of ``section`` with map references taken from its relocations."""
    elf = ELFFile(io.BytesIO(obj))
    insns = decode(elf.get_section_by_name(section).data())
    symtab = elf.get_section_by_name(".symtab")
    refs = {}
    for r in elf.get_section_by_name(".rel" + section).iter_relocations():
        refs[r["r_offset"] // 8] = symtab.get_symbol(r["r_info_sym"]).name
    out, slot = [], 0
    for insn in insns:
        if slot in refs:
            insn = Instruction(insn.opcode, insn.dst, BPF_PSEUDO_MAP_FD, insn.off, insn.imm,
                               reference=refs[slot])
        out.append(insn)
        slot += insn.slots
    return out


def _section_disassembly(path: Path, section: str) -> list[str]:
    out = run_tool(OBJDUMP, "-dr", "--no-show-raw-insn", "-j", section, str(path))
    return [line.strip() for line in out.splitlines()[3:] if line.strip()]


@pytest.mark.skipif(CLANG is None or OBJDUMP is None, reason="clang-19/llvm-objdump-19 missing")
def test_clang_round_trip(obj_path):
    from pybpf import cc

    obj = cc.compile(DATA / "xdp_udp_count.c", compiler=CLANG, cache=False)
    clang_path = obj_path(obj, "clang.o")
    insns = _clang_program(obj, "xdp")
    ours = obj_path(write_program(insns, section="xdp", name="xdp_udp_count",
                                  maps=[MapSpec("udp_counts", MapType.HASH, 2, 8, 1024)]),
                    "ours.o")
    assert _section_disassembly(ours, "xdp") == _section_disassembly(clang_path, "xdp")


@pytest.mark.kernel
def test_load_map_in_map(obj_path, bpffs):
    inner = MapSpec("inner", MapType.ARRAY, 4, 8, 1)
    outer = MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2,
                    inner=MapSpec("outer.inner", MapType.ARRAY, 4, 8, 1), contents=[(1, "inner")])
    prog = ProgramSpec("p", "socket", 1, [lddw_map(1, "outer")] + assemble("r0 = 0\nexit"))
    loadall(obj_path(write_object(ObjectSpec(programs={"p": prog},
                                             maps={"inner": inner, "outer": outer}))), bpffs)
    out = json.loads(run_tool(BPFTOOL, "-j", "map", "dump", "pinned",
                              str(bpffs / "maps" / "outer")))
    assert [int(e["key"][0], 16) for e in out] == [1]   # slot 1 holds the inner map

"""prog/map/btf info, ids and xlated/jited code against bpftool's view of the same ids."""

from __future__ import annotations

from .introspect_names import MAP_NAME, PROG_NAME

import pytest

from pybpf.errors import BpfSyscallError
from pybpf.kernel import introspect as ki

from .conftest import bpftool

pytestmark = pytest.mark.kernel

# Fields whose values may legitimately differ between two reads.
_MOVING = {"loaded_at", "run_time_ns", "run_cnt"}


def _same(ours: dict, theirs: dict) -> None:
    common = (set(ours) & set(theirs)) - _MOVING
    assert common >= {"id", "type", "name"}
    assert {k: ours[k] for k in common} == {k: theirs[k] for k in common}
    if "loaded_at" in theirs:
        assert abs(ours["loaded_at"] - theirs["loaded_at"]) <= 1


def test_prog_info_matches_bpftool(asm_prog):
    prog, m = asm_prog
    info = ki.prog_info(prog.fd)
    assert info.name == PROG_NAME and info.type_name == "socket_filter"
    assert info.id in set(ki.prog_ids())
    assert info.map_ids == (ki.map_info(m.fd).id,)
    theirs = bpftool("prog", "show", "id", info.id)
    _same(info.to_json(), theirs)
    assert set(theirs) - set(info.to_json()) <= {"pids"}


def test_map_info_matches_bpftool(asm_prog):
    _, m = asm_prog
    info = ki.map_info(m.fd)
    assert (info.type_name, info.key_size, info.value_size, info.max_entries) == \
        ("hash", 4, 8, 16)
    assert info.id in set(ki.map_ids())
    theirs = bpftool("map", "show", "id", info.id)
    _same(info.to_json(), theirs)
    assert set(theirs) - set(info.to_json()) <= {"pids"}


def test_open_by_id_round_trip(asm_prog):
    prog, m = asm_prog
    pid = ki.prog_info(prog.fd).id
    with ki.open_prog(pid) as fd:
        assert ki.prog_info(fd).id == pid
        assert ki.object_kind(fd) == "prog"
    km = ki.open_map(ki.map_info(m.fd).id)
    with km:
        assert (km.key_size, km.value_size, km.name) == (4, 8, MAP_NAME)
        assert ki.object_kind(km.fd) == "map"


def test_missing_id_is_enoent():
    with pytest.raises(BpfSyscallError) as e:
        ki.open_prog(0x7FFFFFF0)
    assert e.value.errno == 2 and "no program with id" in str(e.value)


def test_xlated_count_equals_bpftool(asm_prog):
    prog, m = asm_prog
    pid, mid = ki.prog_info(prog.fd).id, ki.map_info(m.fd).id
    insns = ki.prog_xlated(prog.fd)
    theirs = bpftool("prog", "dump", "xlated", "id", pid)
    assert len(insns) == len(theirs)
    lines = ki.prog_listing(prog.fd)
    assert lines[4].text == f"r1 = map[id:{mid}] ll"
    assert lines[4].insn.reference == f"map[id:{mid}]"
    # the helper call resolves to the same kernel function bpftool names
    call = next(line for line in lines if line.text.startswith("call "))
    assert call.text in {t["disasm"].split(" ", 1)[1] for t in theirs}


def test_c_program_source_lines_and_protos_match_bpftool(c_object):
    prog = c_object.programs["count_lens"]
    info = ki.prog_info(prog.fd)
    assert info.btf_id and info.nr_line_info and info.nr_func_info == 2
    lines = ki.prog_listing(prog.fd)
    theirs = bpftool("prog", "dump", "xlated", "id", info.id)
    assert len(lines) == len(theirs)
    assert [line.proto for line in lines] == [t.get("proto") for t in theirs]
    assert [line.source.text.strip() if line.source else None for line in lines] == \
        [t.get("src") for t in theirs]
    assert "int count_lens(struct __sk_buff * skb)" in [line.proto for line in lines]
    # bpf-to-bpf call: pc-relative again, to where the callee's prototype starts
    call = next(line for line in lines if line.text.startswith("call pc"))
    target = call.index + 1 + call.insn.imm
    assert next(line for line in lines if line.index == target).proto == "int bucket(int len)"
    with_meta = ki.prog_xlated(prog.fd)
    assert with_meta[0].symbol == "count_lens"
    assert "count_lens.c:" in with_meta[0].line


def test_btf_of_program(c_object):
    prog = c_object.programs["count_lens"]
    info = ki.prog_info(prog.fd)
    assert info.btf_id in set(ki.btf_ids())
    with ki.open_btf(info.btf_id) as fd:
        binfo = ki.btf_info(fd)
        assert binfo.id == info.btf_id and not binfo.kernel_btf
        assert len(ki.btf_raw(fd)) == binfo.size
    btf = ki.btf_by_id(info.btf_id)
    assert btf.find("count_lens").name == "count_lens"


def test_jited_image(asm_prog):
    prog, _ = asm_prog
    info = ki.prog_info(prog.fd)
    code = ki.prog_jited(prog.fd)
    assert len(code) == info.jited_prog_len > 0
    native = ki.disassemble_native(code)
    if native is not None:
        assert native[0].split(":")[0].strip() == "0"
        assert "".join(n.split(": ", 1)[1].split("  ")[0].replace(" ", "")
                       for n in native) == code.hex()      # every byte disassembled


def test_fdinfo_memlock(asm_prog):
    prog, _ = asm_prog
    assert int(ki.fdinfo(prog.fd)["memlock"]) == ki.prog_info(prog.fd).memlock

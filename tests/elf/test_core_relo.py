"""CO-RE relocations against vmlinux BTF (and against BTFs lacking the types)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.elf import apply_core, open_object, target_btf
from pybpf.elf.btf import Kind
from pybpf.elf.core import (ENUMVAL_EXISTS, ENUMVAL_VALUE, FIELD_BYTE_OFFSET, FIELD_EXISTS,
                            POISON_IMM, TYPE_EXISTS, TYPE_ID_TARGET, TYPE_SIZE,
                            essential_name, resolve_relo)
from pybpf.isa import encode, slot_indexes
from pybpf.isa.opcodes import OPCODE_CALL

DATA = Path(__file__).parent / "data"
needs_vmlinux = pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(),
                                   reason="no /sys/kernel/btf/vmlinux")


def core_prog():
    spec = open_object(DATA / "core.o")
    return spec, spec.programs["core_prog"]


def at_slot(insns, slot):
    return insns[slot_indexes(insns).index(slot)]


def test_relocations_recorded():
    spec, prog = core_prog()
    kinds = {r.kind for r in prog.core_relos}
    assert set(range(13)) - kinds <= {6}        # every kind but local type id is present
    for r in prog.core_relos:
        assert spec.btf[r.type_id].name
    assert essential_name("task_struct___old") == "task_struct"
    assert essential_name("___x") == "___x"


@needs_vmlinux
def test_field_offsets_match_vmlinux():
    spec, prog = core_prog()
    vm = target_btf()
    task = vm.find("task_struct", Kind.STRUCT)
    patched = apply_core(prog, spec.btf, vm)
    assert patched is not prog.insns and len(encode(patched)) == len(encode(prog.insns))
    by_access = {}
    for r in prog.core_relos:
        if r.kind == FIELD_BYTE_OFFSET:
            by_access.setdefault(r.access, []).append(at_slot(patched, r.insn))
    assert by_access["0:0"][0].imm == task.member("pid").offset // 8
    assert by_access["0:1"][0].imm == task.member("tgid").offset // 8
    assert by_access["0:2"][0].imm == task.member("real_parent").offset // 8
    # the spec keeps what clang compiled in
    assert at_slot(prog.insns, next(r.insn for r in prog.core_relos
                                    if r.access == "0:0" and r.kind == 0)).imm == 0


@needs_vmlinux
def test_type_enum_and_exists_relocations():
    spec, prog = core_prog()
    vm = target_btf()
    results = {(r.kind, r.access, spec.btf[r.type_id].name): resolve_relo(r, spec.btf, vm).new
               for r in prog.core_relos}
    assert results[(FIELD_EXISTS, "0:3", "task_struct")] == 1
    assert results[(FIELD_EXISTS, "0:4", "task_struct")] == 0       # no_such_field___x
    assert results[(TYPE_EXISTS, "0", "task_struct___old")] == 1     # flavor stripped
    assert results[(TYPE_SIZE, "0", "sk_buff")] == vm.find("sk_buff", Kind.STRUCT).size
    assert results[(TYPE_ID_TARGET, "0", "task_struct")] == vm.find("task_struct",
                                                                    Kind.STRUCT).id
    assert results[(ENUMVAL_EXISTS, "0", "bpf_map_type___local")] == 1
    assert results[(ENUMVAL_EXISTS, "1", "bpf_map_type___local")] == 0
    assert results[(ENUMVAL_VALUE, "0", "bpf_map_type___local")] == 27


@needs_vmlinux
def test_bitfield_relocations_match_vmlinux():
    spec, prog = core_prog()
    vm = target_btf()
    task = vm.find("task_struct", Kind.STRUCT)
    member = task.member("sched_contributes_to_load")
    assert member.bitfield_size == 1
    relos = {r.kind: resolve_relo(r, spec.btf, vm).new for r in prog.core_relos
             if r.access == "0:6"}
    byte_off, byte_sz = relos[0], relos[1]
    assert byte_off * 8 <= member.offset < (byte_off + byte_sz) * 8
    lshift, rshift = relos[4], relos[5]
    assert rshift == 63 and lshift == 64 - (member.offset + 1 - byte_off * 8)


def test_identity_target_changes_nothing_but_bitfield_sizes():
    """Relocating against the object's own BTF reproduces what clang compiled, except a
    bitfield's load size, where (like libbpf) the smallest covering load is chosen."""
    spec, prog = core_prog()
    patched = apply_core(prog, spec.btf, spec.btf)
    bitfield_slots = {r.insn for r in prog.core_relos if r.access == "0:6"}
    for slot, old, new in zip(slot_indexes(prog.insns), prog.insns, patched):
        if slot not in bitfield_slots:
            assert old == new, slot


def test_missing_types_poison_or_zero():
    spec, prog = core_prog()
    other = open_object(DATA / "maps.o").btf          # no task_struct, no sk_buff
    patched = apply_core(prog, spec.btf, other)
    assert sum(i.slots for i in patched) == sum(i.slots for i in prog.insns)
    poisoned = [insn for insn in patched if insn.opcode == OPCODE_CALL and insn.imm == POISON_IMM]
    n_offsets = sum(1 for r in prog.core_relos if r.kind == FIELD_BYTE_OFFSET)
    assert len(poisoned) >= n_offsets
    for r in prog.core_relos:
        if r.kind in (FIELD_EXISTS, TYPE_EXISTS, TYPE_SIZE):
            assert at_slot(patched, r.insn).imm == 0

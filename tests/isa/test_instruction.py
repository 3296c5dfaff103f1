"""Instruction encoding and decoding, and the errors bad bytecode gets."""

import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pybpf.errors import BpfDecodeError, BpfError
from pybpf.isa import FORMS, Instruction, decode, encode
from pybpf.isa.opcodes import CONFORMANCE_GROUPS, Kind


def raw(opcode, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, imm)


def test_known_encodings():
    # Bytes as the RFC's examples and llvm-mc give them.
    assert encode([Instruction.make("mov64_imm", dst=0, imm=1)]) == bytes.fromhex("b700000001000000")
    assert encode([Instruction.make("exit")]) == bytes.fromhex("9500000000000000")
    assert encode([Instruction.make("lddw", dst=0, imm=0x1122334455667788)]) == \
        bytes.fromhex("1800000088776655" "0000000044332211")
    assert encode([Instruction.make("ldx32", dst=0, src=1, off=4)]) == bytes.fromhex("6110040000000000")
    assert encode([Instruction.make("sdiv64_imm", dst=1, imm=3)]) == bytes.fromhex("3701010003000000")
    assert encode([Instruction.make("movsx64_16", dst=0, src=1)]) == bytes.fromhex("bf10100000000000")
    assert encode([Instruction.make("atomic64_fetch_add", dst=10, src=1, off=-8)]) == \
        bytes.fromhex("db1af8ff01000000")
    assert encode([Instruction.make("gotol", imm=70000)]) == bytes.fromhex("0600000070110100")
    assert encode([Instruction.make("bswap16", dst=3)]) == bytes.fromhex("d703000010000000")


def example(form):
    """A valid instruction of the form with non-trivial operands."""
    ops = form.operands
    return Instruction(form.opcode,
                       dst=3 if "dst" in ops else 0,
                       src=form.src if form.src is not None else (7 if "src" in ops else 0),
                       off=form.off if form.off is not None else (-12 if "off" in ops else 0),
                       imm=form.imm if form.imm is not None else
                       ((0x1122334455667788 if form.kind is Kind.LDDW else -5) if "imm" in ops else 0))


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_every_form_round_trips(form):
    insn = example(form)
    code = encode([insn])
    assert len(code) == 8 * form.slots
    assert decode(code) == [insn]
    assert decode(code)[0].form is form


def test_table_covers_every_conformance_group():
    assert {f.group for f in FORMS} >= set(CONFORMANCE_GROUPS)


@pytest.mark.parametrize("data,index,reason", [
    (b"\x95" + bytes(6), 0, "not a multiple of 8"),
    (raw(0x95) + b"\x00", 1, "not a multiple of 8"),
    (raw(0xFF), 0, "unknown opcode 0xff"),
    (raw(0x95) + raw(0x8e), 1, "unknown opcode 0x8e"),
    (raw(0xB7, dst=11), 0, "bad register r11"),
    (raw(0xBF, dst=1, src=12), 0, "bad register r12"),
    (raw(0xB7, dst=1, src=2), 0, "reserved field set: src_reg"),
    (raw(0xBF, dst=1, src=2, imm=1), 0, "reserved field set: immediate"),
    (raw(0x95, dst=1), 0, "reserved field set: dst_reg"),
    (raw(0x07, off=1), 0, "invalid offset 1"),
    (raw(0xBF, dst=1, src=2, off=7), 0, "invalid offset 7"),
    (raw(0xD4, dst=1, imm=24), 0, "invalid immediate"),
    (raw(0xDB, dst=1, src=2, imm=0x02), 0, "invalid immediate"),
    (raw(0x85, src=3, imm=1), 0, "invalid src_reg 3"),
    (raw(0x18, dst=1), 0, "truncated lddw"),
    (raw(0x18, dst=1, src=7) + raw(0), 0, "invalid src_reg 7"),
    (raw(0x18, dst=1) + raw(0x95), 1, "second half of lddw"),
    (raw(0x87, dst=1, src=1), 0, "reserved field set: src_reg"),
])
def test_bad_bytecode_names_index_and_reason(data, index, reason):
    with pytest.raises(BpfDecodeError) as info:
        decode(data)
    assert info.value.index == index
    assert reason in str(info.value)
    assert f"instruction {index}" in str(info.value)


def test_decode_errors_are_value_errors():
    with pytest.raises(ValueError):
        decode(b"\x00" * 3)


def test_encode_rejects_out_of_range_fields():
    with pytest.raises(BpfDecodeError, match="signed 32-bit"):
        encode([Instruction.make("mov64_imm", dst=0, imm=1 << 31)])
    with pytest.raises(BpfDecodeError, match="16-bit"):
        encode([Instruction.make("ja", off=1 << 15)])


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=256))
def test_random_bytes_decode_or_raise_only_decode_errors(data):
    try:
        insns = decode(data)
    except BpfDecodeError:
        return
    assert encode(insns) == data


def test_mutated_programs_never_raise_anything_else():
    rng = random.Random(1)
    base = encode([example(f) for f in FORMS])
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            insns = decode(bytes(data))
        except BpfError:
            continue
        assert encode(insns) == bytes(data)

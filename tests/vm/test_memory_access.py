"""Loads, stores and atomics against the stack and caller memory; faults name what and where."""

import pytest

from vm_support import I, lddw, run_prog
from pybpf.errors import BpfMemoryError, BpfRuntimeError
from pybpf.vm import Machine, Memory, Region

M64 = (1 << 64) - 1


@pytest.mark.parametrize("size,load,expected", [
    (8, "ldx8", 0x88), (16, "ldx16", 0x7788), (32, "ldx32", 0x55667788),
    (64, "ldx64", 0x1122334455667788),
    (8, "ldxs8", 0xFFFFFFFFFFFFFF88), (16, "ldxs16", 0x7788), (32, "ldxs32", 0x55667788),
])
def test_loads_little_endian_and_sign_extension(size, load, expected):
    mem = (0x1122334455667788).to_bytes(8, "little")
    assert run_prog(I(load, dst=0, src=1, off=0), I("exit"), mem=mem).r0 == expected


def test_sign_extending_loads_negative():
    mem = bytes.fromhex("00 80 00 00 00 80 ff ff".replace(" ", ""))
    r = run_prog(I("ldxs16", dst=0, src=1, off=0), I("exit"), mem=mem)
    assert r.r0 == 0xFFFFFFFFFFFF8000
    r = run_prog(I("ldxs32", dst=0, src=1, off=4), I("exit"), mem=mem)
    assert r.r0 == 0xFFFFFFFFFFFF8000


def test_stores_every_size_and_memory_comes_back():
    prog = [lddw(2, 0x1122334455667788),
            I("stx8", dst=1, src=2, off=0), I("stx16", dst=1, src=2, off=2),
            I("stx32", dst=1, src=2, off=4), I("stx64", dst=1, src=2, off=8),
            I("st8", dst=1, off=16, imm=-1), I("st16", dst=1, off=18, imm=0x1234),
            I("st32", dst=1, off=20, imm=-2), I("st64", dst=1, off=24, imm=-3),
            I("mov64_imm", dst=0, imm=0), I("exit")]
    out = run_prog(*prog, mem=bytes(32)).mem
    assert out[0:1] == b"\x88"
    assert out[2:4] == bytes.fromhex("8877")
    assert out[4:8] == bytes.fromhex("88776655")
    assert out[8:16] == (0x1122334455667788).to_bytes(8, "little")
    assert out[16:17] == b"\xff"
    assert out[18:20] == bytes.fromhex("3412")
    assert out[20:24] == ((-2) & 0xFFFFFFFF).to_bytes(4, "little")
    assert out[24:32] == ((-3) & M64).to_bytes(8, "little")       # imm sign-extended for DW


def stack_atomic(form: str, initial: int, src: int, r0: int = 0, size: int = 8):
    store = "stx64" if size == 8 else "stx32"
    load = "ldx64" if size == 8 else "ldx32"
    prog = [lddw(1, initial), I(store, dst=10, src=1, off=-8), lddw(2, src), lddw(0, r0),
            I(form, dst=10, src=2, off=-8),
            I(load, dst=3, src=10, off=-8), I("exit")]
    regs = run_prog(*prog).regs
    return regs[0], regs[2], regs[3]     # r0, src after, memory after


@pytest.mark.parametrize("form,initial,src,mem_after,src_after", [
    ("atomic64_add", 5, 3, 8, 3),
    ("atomic64_fetch_add", 5, 3, 8, 5),
    ("atomic64_or", 0b1100, 0b0011, 0b1111, 0b0011),
    ("atomic64_fetch_and", 0b1100, 0b0110, 0b0100, 0b1100),
    ("atomic64_fetch_xor", M64, 1, M64 - 1, M64),
    ("atomic64_xchg", 7, 9, 9, 7),
])
def test_atomics64(form, initial, src, mem_after, src_after):
    _, s, m = stack_atomic(form, initial, src)
    assert (m, s) == (mem_after, src_after)


@pytest.mark.parametrize("form,initial,src,mem_after,src_after", [
    ("atomic32_add", 0xFFFFFFFF, 0x1_00000001, 0, 0x1_00000001),    # wraps in 32 bits
    ("atomic32_fetch_add", 0xFFFFFFFF, 1, 0, 0xFFFFFFFF),            # old value zero-extended
    ("atomic32_fetch_or", 0xF0, 0xFFFFFFFF_0000000F, 0xFF, 0xF0),
    ("atomic32_and", 0xFF, 0x0F, 0x0F, 0x0F),
    ("atomic32_xor", 0xFF, 0xFF, 0, 0xFF),
    ("atomic32_xchg", 1, 0xAAAAAAAA_BBBBBBBB, 0xBBBBBBBB, 1),
])
def test_atomics32(form, initial, src, mem_after, src_after):
    _, s, m = stack_atomic(form, initial, src, size=4)
    assert (m, s) == (mem_after, src_after)


def test_cmpxchg64_success_and_failure():
    r0, _, m = stack_atomic("atomic64_cmpxchg", 10, 99, r0=10)
    assert (r0, m) == (10, 99)
    r0, _, m = stack_atomic("atomic64_cmpxchg", 10, 99, r0=11)
    assert (r0, m) == (10, 10)


def test_cmpxchg32_compares_low_half_and_zero_extends_r0():
    r0, _, m = stack_atomic("atomic32_cmpxchg", 10, 99, r0=0xFFFFFFFF_0000000A, size=4)
    assert (r0, m) == (10, 99)
    r0, _, m = stack_atomic("atomic32_cmpxchg", 10, 99, r0=11, size=4)
    assert (r0, m) == (10, 10)


def test_out_of_bounds_load_names_instruction_address_and_region():
    with pytest.raises(BpfMemoryError) as info:
        run_prog(I("mov64_imm", dst=0, imm=0), I("ldx32", dst=0, src=1, off=6), I("exit"),
                 mem=bytes(8))
    err = info.value
    assert err.pc == 1 and err.size == 4 and err.region == "mem"
    assert "instruction 1" in str(err) and "partially outside region mem" in str(err)


def test_null_and_wild_pointers_fault():
    with pytest.raises(BpfMemoryError, match="null pointer read of 8 bytes"):
        run_prog(I("mov64_imm", dst=1, imm=0), I("ldx64", dst=0, src=1), I("exit"))
    with pytest.raises(BpfMemoryError, match="out-of-bounds write of 4 bytes.*nearest region"):
        run_prog(lddw(1, 0xDEAD0000BEEF0000), I("st32", dst=1, imm=1), I("mov64_imm", dst=0), I("exit"))


def test_stack_below_frame_faults():
    with pytest.raises(BpfMemoryError, match="stack"):
        run_prog(I("ldx64", dst=0, src=10, off=-520), I("exit"))
    with pytest.raises(BpfMemoryError):
        run_prog(I("stx8", dst=10, src=1, off=0), I("exit"))      # r10 points past the frame


def test_read_only_region_rejects_stores():
    memory = Memory()
    ro = memory.add(Region(".rodata", b"\x01\x02\x03\x04", writable=False))
    m = Machine([I("ldx8", dst=0, src=1), I("st8", dst=1, imm=9), I("exit")], memory=memory)
    with pytest.raises(BpfMemoryError, match="read-only region .rodata") as info:
        m.run(ro.address)
    assert info.value.pc == 1
    assert ro.read() == b"\x01\x02\x03\x04"


def test_frame_pointer_is_read_only():
    with pytest.raises(BpfRuntimeError, match="r10"):
        run_prog(I("mov64_imm", dst=10, imm=0), I("exit"))


def test_legacy_packet_loads_big_endian_and_out_of_bounds_exit_zero():
    m = Machine([I("ldabs16", imm=2), I("mov64_reg", dst=6, src=0), I("ldind8", src=7, imm=1),
                 I("add64_reg", dst=0, src=6), I("exit")])
    pkt = bytes([0, 1, 0x12, 0x34, 0x56])
    assert m.run(0, 0, 0, 0, 0, packet=pkt).r0 == 0x1234 + 0x01    # r7 = 0 -> offset 1
    m2 = Machine([I("ldabs32", imm=3), I("mov64_imm", dst=0, imm=7), I("exit")])
    assert m2.run(packet=pkt).r0 == 0                                  # 3 + 4 > 5: ends with 0

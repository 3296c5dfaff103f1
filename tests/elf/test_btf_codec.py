"""codec_for: Python values <-> bytes by BTF type."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.elf import Btf, codec_for, open_object
from pybpf.elf.btf import Kind
from pybpf.elf.core import target_btf
from pybpf.errors import BpfTypeError, BpfValueError

DATA = Path(__file__).parent / "data"
VMLINUX = Path("/sys/kernel/btf/vmlinux")


def maps_btf():
    return open_object(DATA / "maps.o").btf


def test_struct_with_padding_round_trip():
    spec = open_object(DATA / "maps.o")
    pair = spec.maps["hash_map"].value_type
    codec = codec_for(pair)
    assert codec.size == 16
    raw = codec.encode({"a": 7, "b": 2 ** 40})
    assert raw == struct.pack("<I4xQ", 7, 2 ** 40)
    assert codec.decode(raw) == {"a": 7, "b": 2 ** 40}
    assert codec.encode({"b": 1}) == struct.pack("<I4xQ", 0, 1)      # zero-filled
    with pytest.raises(BpfValueError, match="no member 'c'"):
        codec.encode({"c": 1})
    with pytest.raises(BpfValueError):
        codec.decode(b"\0" * 3)


def test_ints_and_typedefs():
    spec = open_object(DATA / "maps.o")
    key = codec_for(spec.maps["hash_map"].key_type)          # __u32 typedef
    assert key.size == 4 and key.encode(5) == b"\5\0\0\0" and key.decode(b"\xff" * 4) == 2 ** 32 - 1
    with pytest.raises(BpfValueError):
        key.encode(2 ** 32)
    with pytest.raises(BpfTypeError):
        key.encode("x")
    neg = codec_for(spec.maps[".rodata"].variables["ro_neg"].type)
    assert neg.decode(neg.encode(-5)) == -5


def test_char_arrays_are_bytes_and_arrays_lists():
    spec = open_object(DATA / "maps.o")
    name = codec_for(spec.maps[".rodata"].variables["ro_name"].type)
    assert name.encode(b"hi") == b"hi" + bytes(6) and name.decode(b"abcdefgh") == b"abcdefgh"
    arr = codec_for(spec.maps[".data"].variables["data_arr"].type)
    assert arr.decode(arr.encode([1, -2, 3])) == [1, -2, 3]
    assert arr.encode([1]) == struct.pack("<qqq", 1, 0, 0)


def test_datasec_codec_reads_whole_section():
    spec = open_object(DATA / "maps.o")
    rodata = spec.maps[".rodata"]
    values = codec_for(rodata.value_type).decode(rodata.data)
    assert values["ro_port"] == 53 and values["ro_neg"] == -5


def test_bitfields_enums_floats_pointers_unions():
    # struct s { int a:3; int b; }; union { int a; }; enum E {X=-1, Y=7}; double
    strings = b"\0int\0s\0a\0b\0E\0X\0Y\0d\0u\0c\0"
    o = {n: strings.index(b"\0" + n.encode() + b"\0") + 1 for n in "int s a b E X Y d u c".split()}
    types = [
        struct.pack("<III", o["int"], 1 << 24, 4) + struct.pack("<I", (1 << 24) | 32),
        struct.pack("<III", o["s"], (1 << 31) | (4 << 24) | 3, 12)
        + struct.pack("<III", o["a"], 1, (3 << 24) | 0)
        + struct.pack("<III", o["c"], 1, (5 << 24) | 3)
        + struct.pack("<III", o["b"], 1, 32),
        struct.pack("<III", o["E"], (1 << 31) | (6 << 24) | 2, 4)
        + struct.pack("<Ii", o["X"], -1) + struct.pack("<Ii", o["Y"], 7),
        struct.pack("<III", o["d"], 16 << 24, 8),
        struct.pack("<III", 0, 2 << 24, 1),
        struct.pack("<III", o["u"], (5 << 24) | 2, 8)
        + struct.pack("<III", o["a"], 1, 0) + struct.pack("<III", o["d"], 4, 0),
    ]
    body = b"".join(types)
    raw = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings)) \
        + body + strings
    btf = Btf(raw)
    s = codec_for(btf[2])
    data = s.encode({"a": -2, "c": 9, "b": 100})
    assert s.decode(data) == {"a": -2, "c": 9, "b": 100}
    assert int.from_bytes(data[:4], "little") == (0b110 | (9 << 3))
    with pytest.raises(BpfValueError, match="bitfield a"):
        s.encode({"a": 4})
    e = codec_for(btf[3])
    assert e.decode(e.encode(-1)) == -1
    f = codec_for(btf[4])
    assert f.decode(f.encode(1.5)) == 1.5
    p = codec_for(btf[5])
    assert p.size == 8 and p.decode(p.encode(0xFFFF0000)) == 0xFFFF0000
    u = codec_for(btf[6])
    assert u.decode(u.encode({"d": 2.0}))["d"] == 2.0


@pytest.mark.skipif(not VMLINUX.exists(), reason="no vmlinux BTF")
def test_vmlinux_iphdr_bitfields():
    btf = target_btf()
    iphdr = btf.find("iphdr", Kind.STRUCT)
    codec = codec_for(iphdr)
    assert codec.size == 20
    raw = codec.encode({"ihl": 5, "version": 4, "ttl": 64, "protocol": 6})
    assert raw[0] == 0x45 and raw[8] == 64 and raw[9] == 6
    assert codec.decode(raw)["ihl"] == 5


def test_no_codec_for_functions():
    spec = open_object(DATA / "progs.o")
    func = next(t for t in spec.btf if t.kind is Kind.FUNC)
    with pytest.raises(BpfValueError):
        codec_for(func)

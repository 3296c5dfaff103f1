"""TypedMap: codecs (a BTF codec, or the int/bytes fallback) over any map."""

from __future__ import annotations

import struct

import pytest

import pybpf.elf.btf_codec as btf_codec
from pybpf.errors import BpfMapError, BpfTypeError, BpfValueError
from pybpf.maps import (ArrayMap, ArrayOfMaps, HashMap, PercpuArrayMap, ProgArray, QueueMap,
                        create_map)
from pybpf.maps.typed import TypedMap
from pybpf.elf.spec import MapSpec


class StatsCodec:
    """A stub of the BTF codec protocol: struct { u64 packets; u64 bytes; }."""

    size = 16

    def encode(self, value: dict) -> bytes:
        return struct.pack("<QQ", value["packets"], value["bytes"])

    def decode(self, raw: bytes) -> dict:
        packets, nbytes = struct.unpack("<QQ", raw)
        return {"packets": packets, "bytes": nbytes}


def test_fallback_codecs() -> None:
    t = HashMap(2, 8, 8).typed()
    t[53] = 7
    t[80] = b"\1" + bytes(7)                       # right-sized bytes pass through
    assert t[53] == 7 and t[80] == 1 and 53 in t and 54 not in t
    assert sorted(t) == [53, 80] and len(t) == 2
    assert dict(t.items()) == {53: 7, 80: 1}
    assert t.get(99) is None and t.pop(80) == 1 and len(t) == 2 - 1
    with pytest.raises(KeyError):
        t[99]
    with pytest.raises(KeyError):
        del t[99]
    with pytest.raises(BpfValueError):
        t[1 << 16] = 1
    with pytest.raises(BpfTypeError):
        t["x"] = 1
    t.set(53, 8, 2)
    with pytest.raises(BpfMapError):
        t.set(53, 9, 1)
    t[-1] = -1                                     # negative ints wrap
    assert t[0xFFFF] == (1 << 64) - 1
    odd = HashMap(3, 5, 2).typed()
    odd[b"abc"] = b"hello"
    assert odd[b"abc"] == b"hello"


def test_struct_values_via_a_codec() -> None:
    m = HashMap(4, 16, 8)
    t = TypedMap(m, value_codec=StatsCodec())
    t[53] = {"packets": 0, "bytes": 0}
    stats = t[53]
    stats["packets"] += 1
    t[53] = stats
    assert t[53] == {"packets": 1, "bytes": 0}


def test_btf_types_use_codec_for(monkeypatch) -> None:
    seen = []

    def fake_codec_for(btf_type):
        seen.append(btf_type)
        return StatsCodec()

    monkeypatch.setattr(btf_codec, "codec_for", fake_codec_for)
    m = create_map(MapSpec("stats", 1, 4, 16, 4, value_type="struct stats"))
    t = m.typed()
    t[1] = {"packets": 2, "bytes": 3}
    assert t[1] == {"packets": 2, "bytes": 3} and seen == ["struct stats"]


def test_percpu_lists() -> None:
    t = PercpuArrayMap(4, 8, 2, cpus=3).typed()
    t[0] = 5
    assert t[0] == [5, 5, 5]
    t[1] = [1, 2, 3]
    assert t[1] == [1, 2, 3]


def test_queue_and_object_maps() -> None:
    q = QueueMap(0, 4, 4).typed()
    q.push(1)
    q.push(2)
    assert q.peek() == 1 and q.pop() == 1 and q.pop() == 2 and q.pop() is None

    class Prog:
        id = 77

    jmp = ProgArray(4, 4, 2).typed()
    jmp[1] = Prog()
    assert jmp[1] == 77 and list(jmp.items()) == [(1, 77)]
    aom = ArrayOfMaps(4, 4, 1, inner=ArrayMap(4, 4, 1)).typed()
    inner = ArrayMap(4, 4, 1)
    aom[0] = inner
    assert aom[0] == inner.id
    assert ArrayMap(4, 4, 3).typed()[2] == 0

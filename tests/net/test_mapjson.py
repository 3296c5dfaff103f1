"""Maps from and to JSON: hex entries, typed entries through a typed view, errors."""

from __future__ import annotations

import json

import pytest

from pybpf.errors import BpfError
from pybpf.isa.uapi import MapType
from pybpf.net.mapjson import dump_maps, fill_map, load_json, map_entries


class DictMap:
    """A map stand-in: bytes keys and values in a dict; ``typed()`` when given types."""

    def __init__(self, key_size=4, value_size=8, typed=False, type=MapType.HASH):
        self.key_size, self.value_size, self.type = key_size, value_size, type
        self.data: dict[bytes, bytes] = {}
        self.key_type = self.value_type = "u32" if typed else None

    def update(self, key, value, flags=0):
        assert len(key) == self.key_size and len(value) == self.value_size
        self.data[bytes(key)] = bytes(value)

    def items(self):
        return iter(self.data.items())

    def typed(self):
        outer = self

        class View:
            def __setitem__(self, key, value):
                if not isinstance(value, dict):
                    raise TypeError("value must be an object with 'packets'")
                outer.update(int(key).to_bytes(4, "little"),
                             int(value["packets"]).to_bytes(8, "little"))

            def items(self):
                return [(int.from_bytes(k, "little"),
                         {"packets": int.from_bytes(v, "little")})
                        for k, v in outer.data.items()]
        return View()


def test_hex_entries_with_whitespace():
    m = DictMap()
    assert fill_map(m, {"0a 42 00 01": "01000000 00000000", "0x00000000": "ff" * 8}) == 2
    assert m.data == {bytes.fromhex("0a420001"): (1).to_bytes(8, "little"),
                      bytes(4): b"\xff" * 8}
    assert map_entries(m) == {"0a420001": "0100000000000000", "00000000": "ff" * 8}


def test_typed_entries_and_typed_dump():
    m = DictMap(typed=True)
    fill_map(m, {"53": {"packets": 0}, "0x10": {"packets": 7}})
    assert map_entries(m) == {"53": {"packets": 0}, "16": {"packets": 7}}
    assert map_entries(m, typed=False)["35000000"] == "0000000000000000"


def test_errors_name_the_entry():
    with pytest.raises(BpfError, match="has no BTF types"):
        fill_map(DictMap(), {"53": {"packets": 0}}, "--map m=f.json")
    with pytest.raises(BpfError, match=r"--map m=f.json: entry '53': value must be"):
        fill_map(DictMap(typed=True), {"53": 5}, "--map m=f.json")
    with pytest.raises(BpfError, match="expected a JSON object"):
        fill_map(DictMap(), [1, 2])


def test_dump_skips_ring_buffers():
    maps = {"a": DictMap(), "events": DictMap(type=MapType.RINGBUF)}
    assert list(dump_maps(maps)) == ["a"]


def test_load_json_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(BpfError, match=r"--map x: .*bad.json: not JSON: .*line 1"):
        load_json(str(bad), "--map x")
    with pytest.raises(BpfError, match="cannot read"):
        load_json(str(tmp_path / "missing.json"), "--map x")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"00": "11"}))
    assert load_json(str(good), "--map x") == {"00": "11"}

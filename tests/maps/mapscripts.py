"""Fixed operation scripts per map type; their kernel answers are recorded in
test_maps_scripts.py. ``SCRIPTS[name] = (map_type, key_size, value_size, max_entries, flags,
extra kwargs, ops)``."""

from __future__ import annotations

import struct

from pybpf.isa.uapi import MapType

from mapops import k32


def lpm(plen: int, *data: int) -> bytes:
    return struct.pack("<I", plen) + bytes(data)


V = [bytes([i]) * 8 for i in range(16)]
v4 = [k32(i) for i in range(16)]

SCRIPTS: dict[str, tuple] = {
    "hash": (MapType.HASH, 4, 8, 3, 0, {}, [
        ("lookup", k32(1)), ("delete", k32(1)), ("next", None), ("next", k32(5)),
        ("update", k32(1), V[1], 0), ("lookup", k32(1)), ("next", None), ("next", k32(1)),
        ("next", k32(7)), ("update", k32(1), V[2], 1), ("update", k32(2), V[2], 2),
        ("update", k32(1), V[3], 2), ("lookup", k32(1)), ("update", k32(2), V[2], 1),
        ("update", k32(3), V[3], 0), ("update", k32(4), V[4], 0), ("update", k32(3), V[5], 0),
        ("update", k32(4), V[4], 4), ("update", k32(4), V[4], 3), ("update", k32(1), V[4], 8),
        ("keyset",), ("lookup_and_delete", k32(2)), ("lookup_and_delete", k32(2)),
        ("update", k32(4), V[4], 0), ("keyset",), ("delete", k32(4)), ("delete", k32(4)),
        ("lookup", k32(4)), ("lookup", k32(3)),
    ]),
    "percpu_hash": (MapType.PERCPU_HASH, 4, 4, 2, 0, {}, [
        ("lookup", k32(1)), ("update", k32(1), [v4[1], v4[2]], 0), ("lookup", k32(1)),
        ("update", k32(1), v4[7], 2), ("lookup", k32(1)), ("update", k32(2), v4[3], 1),
        ("update", k32(3), v4[3], 0), ("update", k32(2), v4[3], 1),
        ("lookup_and_delete", k32(2)), ("keyset",), ("delete", k32(1)), ("delete", k32(1)),
    ]),
    "lru_hash": (MapType.LRU_HASH, 4, 8, 64, 0, {}, [
        ("update", k32(1), V[1], 0), ("update", k32(1), V[1], 1), ("update", k32(9), V[1], 2),
        ("update", k32(2), V[2], 0), ("lookup", k32(2)), ("keyset",), ("delete", k32(2)),
        ("delete", k32(2)), ("update", k32(1), V[1], 4), ("keyset",),
    ]),
    "array": (MapType.ARRAY, 4, 6, 3, 0, {}, [
        ("lookup", k32(0)), ("lookup", k32(3)), ("update", k32(1), V[1][:6], 0),
        ("lookup", k32(1)), ("update", k32(3), V[1][:6], 0), ("update", k32(3), V[1][:6], 1),
        ("update", k32(0), V[1][:6], 1), ("update", k32(0), V[2][:6], 2),
        ("update", k32(3), V[1][:6], 3), ("update", k32(0), V[1][:6], 4),
        ("delete", k32(0)), ("delete", k32(5)), ("next", None), ("next", k32(0)),
        ("next", k32(2)), ("next", k32(99)), ("keys",), ("lookup_and_delete", k32(0)),
    ]),
    "percpu_array": (MapType.PERCPU_ARRAY, 4, 4, 2, 0, {}, [
        ("lookup", k32(0)), ("update", k32(0), [v4[1], v4[2]], 0), ("lookup", k32(0)),
        ("update", k32(1), v4[5], 0), ("lookup", k32(1)), ("update", k32(2), v4[5], 0),
        ("update", k32(1), v4[5], 1), ("delete", k32(1)), ("keys",),
    ]),
    "lpm": (MapType.LPM_TRIE, 8, 4, 6, 1, {}, [
        ("next", None), ("lookup", lpm(32, 10, 1, 2, 3)),
        ("update", lpm(8, 10, 0, 0, 0), v4[1], 0), ("update", lpm(16, 10, 1, 0, 0), v4[2], 0),
        ("update", lpm(24, 10, 1, 2, 0), v4[3], 0), ("update", lpm(16, 10, 2, 9, 9), v4[4], 0),
        ("update", lpm(0, 0, 0, 0, 0), v4[5], 0), ("update", lpm(32, 192, 168, 1, 1), v4[6], 0),
        ("update", lpm(12, 10, 0, 0, 0), v4[7], 0),
        ("update", lpm(12, 10, 0, 0, 0), v4[7], 2), ("update", lpm(33, 10, 0, 0, 0), v4[7], 0),
        ("update", lpm(8, 10, 0, 0, 0), v4[8], 1), ("update", lpm(8, 10, 0, 0, 0), v4[8], 2),
        ("update", lpm(8, 10, 0, 0, 0), v4[8], 3), ("update", lpm(9, 10, 0, 0, 0), v4[8], 2),
        ("lookup", lpm(32, 10, 1, 2, 3)), ("lookup", lpm(32, 10, 1, 3, 3)),
        ("lookup", lpm(32, 10, 9, 3, 3)), ("lookup", lpm(32, 11, 9, 3, 3)),
        ("lookup", lpm(32, 10, 2, 0, 0)), ("lookup", lpm(15, 10, 1, 2, 3)),
        ("lookup", lpm(33, 10, 1, 2, 3)), ("lookup", lpm(32, 192, 168, 1, 1)),
        ("keys",), ("next", lpm(16, 10, 1, 0, 0)), ("next", lpm(16, 10, 1, 7, 7)),
        ("next", lpm(0, 0, 0, 0, 0)), ("next", lpm(33, 0, 0, 0, 0)), ("next", lpm(4, 0, 0, 0, 0)),
        ("delete", lpm(8, 10, 9, 9, 9)), ("keys",), ("delete", lpm(8, 10, 0, 0, 0)),
        ("delete", lpm(12, 10, 0, 0, 0)), ("delete", lpm(33, 10, 0, 0, 0)),
        ("lookup", lpm(32, 10, 1, 2, 3)), ("lookup", lpm(32, 10, 7, 2, 3)),
        ("update", lpm(1, 128, 0, 0, 0), v4[9], 0), ("update", lpm(1, 0, 0, 0, 0), v4[10], 0),
        ("keys",), ("delete", lpm(16, 10, 1, 0, 0)), ("delete", lpm(24, 10, 1, 2, 0)),
        ("keys",), ("delete", lpm(0, 0, 0, 0, 0)), ("keys",),
    ]),
    "queue": (MapType.QUEUE, 0, 4, 3, 0, {}, [
        ("peek",), ("pop",), ("push", v4[1], 0), ("push", v4[2], 1), ("push", v4[2], 2),
        ("push", v4[3], 0), ("push", v4[4], 0), ("push", v4[4], 3), ("push", v4[5], 2),
        ("peek",), ("pop",), ("pop",), ("pop",), ("pop",), ("delete", None), ("next", None),
    ]),
    "stack": (MapType.STACK, 0, 4, 3, 0, {}, [
        ("peek",), ("pop",), ("push", v4[1], 0), ("push", v4[2], 0), ("push", v4[3], 0),
        ("push", v4[4], 0), ("push", v4[5], 2), ("peek",), ("pop",), ("pop",), ("pop",),
        ("pop",), ("delete", None),
    ]),
    "bloom": (MapType.BLOOM_FILTER, 0, 4, 100, 0x40, {"map_extra": 3}, [
        ("contains", v4[1]), ("push", v4[1], 0), ("push", v4[2], 1), ("push", v4[2], 2),
        ("contains", v4[1]), ("contains", v4[2]), ("contains", v4[3]), ("pop",),
        ("delete", None), ("next", None),
    ]),
    "devmap": (MapType.DEVMAP, 4, 4, 4, 0, {}, [
        ("lookup", k32(0)), ("update", k32(0), k32(1), 0), ("lookup", k32(0)),
        ("update", k32(0), k32(1), 1), ("update", k32(1), k32(1), 1), ("update", k32(2), k32(1), 2),
        ("update", k32(0), k32(0), 0), ("lookup", k32(0)), ("update", k32(9), k32(1), 0),
        ("delete", k32(3)), ("delete", k32(2)), ("delete", k32(9)), ("next", None),
        ("update", k32(0), k32(1), 4),
    ]),
    "cpumap": (MapType.CPUMAP, 4, 4, 4, 0, {}, [
        ("lookup", k32(0)), ("update", k32(0), k32(192), 0), ("lookup", k32(0)),
        ("update", k32(1), k32(0), 0), ("lookup", k32(1)), ("update", k32(5), k32(192), 0),
        ("update", k32(0), k32(16385), 0), ("update", k32(0), k32(16384), 0),
        ("update", k32(0), k32(100), 1), ("delete", k32(0)), ("delete", k32(0)),
        ("delete", k32(6)), ("next", None), ("next", k32(1)),
    ]),
    "stack_trace": (MapType.STACK_TRACE, 4, 16, 4, 0, {}, [
        ("lookup", k32(0)), ("update", k32(0), bytes(16), 0), ("delete", k32(0)),
        ("next", None), ("next", k32(9)),
    ]),
}

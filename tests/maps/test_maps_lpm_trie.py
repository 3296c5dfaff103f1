"""LPM trie against a plain Python model of the kernel's rules: longest prefix wins, only
the first prefixlen bits count, get_next_key in postorder (longer prefixes first, the 0 branch
before the 1 branch)."""

from __future__ import annotations

import ctypes
import errno
import random
import struct

import pytest

from pybpf.errors import BpfMapError
from pybpf.maps import BPF_F_NO_PREALLOC, LpmTrieMap


def key(plen: int, data: int, size: int = 4) -> bytes:
    return struct.pack("<I", plen) + data.to_bytes(size, "big")


class Model:
    def __init__(self, size: int, max_entries: int):
        self.bits = 8 * size
        self.size = size
        self.max_entries = max_entries
        self.entries: dict[tuple[int, int], tuple[bytes, bytes]] = {}   # (plen, prefix) -> (data, value)

    def _prefix(self, plen: int, data: int) -> int:
        return data >> (self.bits - plen) if plen else 0

    def update(self, plen: int, data: int, value: bytes, flags: int) -> str:
        if flags > 2 or plen > self.bits:
            return "EINVAL"
        k = (plen, self._prefix(plen, data))
        if k in self.entries:
            if flags == 1:
                return "EEXIST"
        else:
            if flags == 2:
                return "ENOENT"
            if len(self.entries) >= self.max_entries:
                return "ENOSPC"
        self.entries[k] = (data.to_bytes(self.size, "big"), value)
        return "ok"

    def delete(self, plen: int, data: int) -> str:
        if plen > self.bits:
            return "EINVAL"
        return "ok" if self.entries.pop((plen, self._prefix(plen, data)), None) else "ENOENT"

    def lookup(self, plen: int, data: int) -> bytes | None:
        if plen > self.bits:
            return None
        for p in range(plen, -1, -1):
            hit = self.entries.get((p, self._prefix(p, data)))
            if hit:
                return hit[1]
        return None

    def order(self) -> list[bytes]:
        def sort_key(k: tuple[int, int]) -> tuple:
            plen, prefix = k
            return tuple((prefix >> (plen - 1 - i)) & 1 for i in range(plen)) + (2,)
        return [struct.pack("<I", plen) + self.entries[(plen, prefix)][0]
                for plen, prefix in sorted(self.entries, key=sort_key)]


def _call(f, *args):
    try:
        r = f(*args)
        return "ok" if r is None else r
    except BpfMapError as e:
        return errno.errorcode[e.errno]


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_follow_the_model(seed: int) -> None:
    rnd = random.Random(seed)
    size = rnd.choice([1, 2, 4])
    bits = 8 * size
    m = LpmTrieMap(4 + size, 4, 24, BPF_F_NO_PREALLOC)
    model = Model(size, 24)
    for step in range(600):
        plen = rnd.choice([0, 1, 2, bits // 2, bits, rnd.randint(0, bits + 1)])
        data = rnd.choice([0, (1 << bits) - 1, rnd.getrandbits(bits), 0x5A5A5A5A & ((1 << bits) - 1)])
        r = rnd.random()
        if r < 0.45:
            value = struct.pack("<I", step)
            flags = rnd.choice([0, 0, 1, 2, 3])
            assert _call(m.update, key(plen, data, size), value, flags) == \
                model.update(plen, data, value, flags)
        elif r < 0.7:
            assert _call(m.delete, key(plen, data, size)) == model.delete(plen, data)
        else:
            got = m.lookup(key(plen, data, size))
            assert got == model.lookup(plen, data)
            if got is not None:
                assert ctypes.string_at(m.prog_lookup(key(plen, data, size)), 4) == got
        assert len(m) == len(model.entries)
        if step % 25 == 0:
            assert list(m.keys()) == model.order()
    assert list(m.keys()) == model.order()


def test_node_storage_is_recycled() -> None:
    m = LpmTrieMap(8, 4, 16, BPF_F_NO_PREALLOC)
    rnd = random.Random(3)
    for _ in range(50):
        keys = set()
        while len(keys) < 16:
            plen = rnd.randint(0, 32)
            keys.add(key(plen, rnd.getrandbits(32) >> (32 - plen) << (32 - plen) if plen else 0))
        for k in keys:
            m.update(k, b"\1\2\3\4")
        assert len(m) == len(keys)
        for k in keys:
            m.delete(k)
        assert len(m) == 0 and m.next_key() is None


def test_creation_requires_no_prealloc() -> None:
    with pytest.raises(BpfMapError) as e:
        LpmTrieMap(8, 4, 16)
    assert e.value.errno == errno.EINVAL

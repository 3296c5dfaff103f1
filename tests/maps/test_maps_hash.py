"""Hash maps: flat storage seen by programs and Python alike, per-CPU and LRU rules,
argument checking, and the program (helper) view."""

from __future__ import annotations

import ctypes
import errno
import time

import pytest

from pybpf.errors import BpfMapError, BpfTypeError, BpfValueError
from pybpf.maps import (BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_F_RDONLY, BPF_F_WRONLY, BPF_NOEXIST,
                        HashMap, LruHashMap, LruPercpuHashMap, PercpuHashMap, map_at)
from pybpf.vm.memory import Memory

from mapops import k32


def test_a_value_written_through_its_address_is_seen_by_lookup() -> None:
    m = HashMap(4, 12, 8, name="flat")
    m.update(k32(7), b"a" * 12)
    address = m.prog_lookup(k32(7), 0)
    ctypes.memmove(address + 4, b"XYZW", 4)
    assert m.lookup(k32(7)) == b"aaaaXYZWaaaa"
    m.update(k32(7), b"b" * 12)                   # updates write in place
    assert m.prog_lookup(k32(7), 0) == address
    assert ctypes.string_at(address, 12) == b"b" * 12
    assert m.prog_lookup(k32(8), 0) == 0


def test_values_are_addressable_through_memory() -> None:
    m = HashMap(4, 8, 4, name="counts")
    mem = Memory()
    m.attach(mem)
    m.attach(mem)                                  # idempotent
    assert len(mem.regions) == len(m.regions) == 2
    m.update(k32(1), bytes(8))
    address = m.prog_lookup(k32(1))
    mem.store(address, 8, 0x1122334455667788)
    assert m.lookup(k32(1)) == (0x1122334455667788).to_bytes(8, "little")
    handle = mem.find(m.address)
    assert handle is m.handle and handle.kind == "map" and not handle.writable
    assert map_at(m.address) is m and map_at(12345) is None


def test_handle_describes_the_map() -> None:
    m = HashMap(4, 8, 4, name="h")
    words = [int.from_bytes(m.handle.read(4 * i, 4), "little") for i in range(6)]
    assert words == [m.type, 4, 8, 4, 0, m.id]


def test_full_map_and_replacement() -> None:
    m = HashMap(4, 4, 2)
    m.update(k32(1), k32(1))
    m.update(k32(2), k32(2))
    with pytest.raises(BpfMapError) as e:
        m.update(k32(3), k32(3))
    assert e.value.errno == errno.E2BIG and "full" in str(e.value)
    m.update(k32(2), k32(9))                      # replacing works when full
    assert m.prog_update(k32(3), k32(3), 0, 0) == -errno.E2BIG
    assert m.prog_update(k32(1), k32(3), BPF_NOEXIST, 0) == -errno.EEXIST
    assert m.prog_update(k32(5), k32(3), BPF_EXIST, 0) == -errno.ENOENT
    assert m.prog_update(k32(1), k32(3), 9, 0) == -errno.EINVAL
    assert m.prog_delete(k32(5)) == -errno.ENOENT
    assert m.prog_delete(k32(1)) == 0
    assert len(m) == 1 and dict(m.items()) == {k32(2): k32(9)}
    m.clear()
    assert len(m) == 0 and list(m.keys()) == []


def test_deleted_slots_are_reused_and_chains_stay_correct() -> None:
    m = HashMap(4, 4, 64)
    for round_ in range(5):
        for i in range(64):
            m.update(k32(i * 7 + round_), k32(i))
        assert len(m) == 64
        assert sorted(m.keys()) == sorted(k32(i * 7 + round_) for i in range(64))
        for i in range(0, 64):
            m.delete(k32(i * 7 + round_))
        assert len(m) == 0


def test_key_and_value_checks() -> None:
    m = HashMap(4, 8, 4)
    with pytest.raises(BpfValueError) as e:
        m.update(b"\0" * 3, bytes(8))
    assert isinstance(e.value, OSError) and e.value.errno == errno.EINVAL  # as bpf(2) says
    with pytest.raises(BpfValueError):
        m.update(k32(1), bytes(7))
    with pytest.raises(BpfTypeError):
        m.lookup(1)                                # ints are not keys
    with pytest.raises(BpfTypeError):
        m.update("abcd", bytes(8))
    assert len(m) == 0                             # nothing half-written
    m.update(bytearray(k32(1)), memoryview(bytes(8)))
    assert m.lookup(memoryview(k32(1))) == bytes(8)


def test_access_flags() -> None:
    ro = HashMap(4, 4, 4, BPF_F_RDONLY)
    with pytest.raises(BpfMapError) as e:
        ro.update(k32(1), k32(1))
    assert e.value.errno == errno.EPERM
    assert ro.prog_update(k32(1), k32(1), 0, 0) == 0   # programs may still write
    assert ro.lookup(k32(1)) == k32(1)
    wo = HashMap(4, 4, 4, BPF_F_WRONLY)
    wo.update(k32(1), k32(1))
    with pytest.raises(BpfMapError) as e:
        wo.lookup(k32(1))
    assert e.value.errno == errno.EPERM


def test_percpu_values_one_per_cpu() -> None:
    m = PercpuHashMap(4, 4, 4, cpus=3)
    m.update(k32(1), k32(5))                       # one value: every CPU
    assert m.lookup(k32(1)) == [k32(5)] * 3
    m.update(k32(1), [k32(1), k32(2), k32(3)])
    assert m.lookup(k32(1)) == [k32(1), k32(2), k32(3)]
    with pytest.raises(BpfValueError):
        m.update(k32(1), [k32(1)])
    a0, a2 = m.prog_lookup(k32(1), 0), m.prog_lookup(k32(1), 2)
    assert a2 - a0 == 16                           # stride round_up(4, 8) per CPU
    ctypes.memmove(a2, k32(9), 4)
    assert m.lookup(k32(1))[2] == k32(9)
    # A program's update of an existing key touches only its CPU ...
    assert m.prog_update(k32(1), k32(7), 0, 1) == 0
    assert m.lookup(k32(1)) == [k32(1), k32(7), k32(9)]
    # ... and of a new key zeroes the other CPUs.
    assert m.prog_update(k32(2), k32(4), 0, 2) == 0
    assert m.lookup(k32(2)) == [k32(0), k32(0), k32(4)]


def test_lru_evicts_the_least_recently_used() -> None:
    m = LruHashMap(4, 4, 4)
    for i in range(4):
        m.update(k32(i), k32(i))
    assert m.prog_lookup(k32(0), 0)                # a program uses key 0
    m.update(k32(10), k32(10))                     # full: evicts key 1, the oldest unused
    assert sorted(m.keys()) == [k32(0), k32(2), k32(3), k32(10)]
    m.lookup(k32(2))                               # syscall lookups do not count as use
    m.update(k32(11), k32(11))
    assert k32(2) not in m and k32(0) in m
    assert m.prog_update(k32(12), k32(12), 0, 0) == 0
    assert len(m) == 4 and k32(12) in m
    with pytest.raises(BpfMapError) as e:
        m.update(k32(13), k32(13), BPF_EXIST)
    assert e.value.errno == errno.ENOENT


def test_recently_used_entries_survive_a_flood() -> None:
    m = LruHashMap(4, 8, 64)
    hot = [k32(1000 + i) for i in range(8)]
    for k in hot:
        m.update(k, bytes(8))
    for i in range(1000):
        m.update(k32(i), bytes(8))
        if i % 16 == 0:
            for k in hot:
                assert m.prog_lookup(k, 0)
    assert all(k in m for k in hot)


def test_lru_no_common_lru_rounds_max_entries_to_the_cpus() -> None:
    assert LruHashMap(4, 4, 5, BPF_F_NO_COMMON_LRU, cpus=4).max_entries == 8
    m = LruPercpuHashMap(4, 4, 3, cpus=2)
    m.update(k32(1), [k32(1), k32(2)])
    assert m.lookup(k32(1)) == [k32(1), k32(2)]
    assert m.prog_lookup(k32(1), 1) - m.prog_lookup(k32(1), 0) == 8


def test_lookup_and_delete() -> None:
    m = HashMap(4, 4, 4)
    m.update(k32(1), k32(2))
    assert m.lookup_and_delete(k32(1)) == k32(2)
    with pytest.raises(BpfMapError) as e:
        m.lookup_and_delete(k32(1))
    assert e.value.errno == errno.ENOENT


def test_big_maps_cost_only_what_they_touch() -> None:
    start = time.perf_counter()
    m = HashMap(8, 256, 1 << 20, name="big")
    m.update(bytes(8), bytes(256))
    assert time.perf_counter() - start < 1.0
    assert m.lookup(bytes(8)) == bytes(256)


def test_next_key_walks_everything_and_restarts_on_unknown_keys() -> None:
    m = HashMap(4, 4, 32)
    assert m.next_key() is None
    for i in range(20):
        m.update(k32(i * 3), k32(i))
    seen = list(m.keys())
    assert sorted(seen) == sorted(k32(i * 3) for i in range(20))
    assert m.next_key(k32(1)) == seen[0]
    assert m.next_key(seen[-1]) is None

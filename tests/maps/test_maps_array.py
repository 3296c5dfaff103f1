"""Array maps: layout (stride round_up(value_size, 8)), per-CPU slots, global data."""

from __future__ import annotations

import ctypes
import errno

import pytest

from pybpf.errors import BpfMapError
from pybpf.maps import BPF_F_RDONLY_PROG, BPF_NOEXIST, ArrayMap, PercpuArrayMap
from pybpf.vm.memory import Memory

from mapops import k32


def test_elements_are_preallocated_and_strided_by_8() -> None:
    m = ArrayMap(4, 5, 4)
    assert m.lookup(k32(3)) == bytes(5)
    assert m.prog_lookup(k32(1)) - m.prog_lookup(k32(0)) == 8
    assert m.prog_lookup(k32(4)) == 0 and m.lookup(k32(4)) is None
    ctypes.memmove(m.prog_lookup(k32(2)), b"hello", 5)
    assert m.lookup(k32(2)) == b"hello"
    assert len(m) == 4 and list(m.keys()) == [k32(i) for i in range(4)]
    assert dict(m.items())[k32(2)] == b"hello"


def test_program_view_errnos() -> None:
    m = ArrayMap(4, 4, 2)
    assert m.prog_update(k32(1), k32(9), 0, 0) == 0
    assert m.lookup(k32(1)) == k32(9)
    assert m.prog_update(k32(2), k32(9), 0, 0) == -errno.E2BIG
    assert m.prog_update(k32(0), k32(9), BPF_NOEXIST, 0) == -errno.EEXIST
    assert m.prog_update(k32(0), k32(9), 7, 0) == -errno.EINVAL
    assert m.prog_delete(k32(0)) == -errno.EINVAL
    with pytest.raises(BpfMapError) as e:
        m.delete(k32(0))
    assert e.value.errno == errno.EINVAL


def test_percpu_slots() -> None:
    m = PercpuArrayMap(4, 4, 3, cpus=2)
    assert m.lookup(k32(0)) == [bytes(4), bytes(4)]
    assert m.prog_update(k32(1), k32(5), 0, 1) == 0
    assert m.lookup(k32(1)) == [bytes(4), k32(5)]
    ctypes.memmove(m.prog_lookup(k32(1), 0), k32(3), 4)
    assert m.lookup(k32(1)) == [k32(3), k32(5)]
    m.update(k32(2), [k32(1), k32(2)])
    assert m.lookup(k32(2)) == [k32(1), k32(2)]


def test_global_data_region() -> None:
    m = ArrayMap(4, 16, 1, BPF_F_RDONLY_PROG, name=".rodata")
    m.set_data(b"config")
    assert m.lookup(k32(0)) == b"config" + bytes(10)
    mem = Memory()
    m.attach(mem)
    address = m.prog_lookup(k32(0))
    assert mem.load(address, 4) == int.from_bytes(b"conf", "little")
    with pytest.raises(Exception):
        mem.store(address, 4, 0)                   # read-only to programs
    with pytest.raises(BpfMapError):
        m.set_data(bytes(17))

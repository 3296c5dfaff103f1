"""prog_array, array_of_maps / hash_of_maps (inner maps reach a program's memory), the
redirect target maps and the stack trace map."""

from __future__ import annotations

import ctypes
import errno
from dataclasses import dataclass

import pytest

from pybpf.errors import BpfMapError, BpfTypeError
from pybpf.maps import (BPF_F_INNER_MAP, ArrayMap, ArrayOfMaps, CpuMap, DevMap, DevMapHash,
                        HashMap, HashOfMaps, ProgArray, StackTraceMap, XskMap, map_at)
from pybpf.maps.stackmap import BPF_F_FAST_STACK_CMP, BPF_F_REUSE_STACKID
from pybpf.elf.spec import MapSpec
from pybpf.vm.memory import Memory

from mapops import k32


@dataclass
class Prog:
    id: int


def test_prog_array() -> None:
    m = ProgArray(4, 4, 4, name="jmp")
    p = Prog(42)
    m.update(1, p)                                 # an int index is accepted
    m.update(k32(2), Prog(43))
    assert m.program_at(1) is p and m.program_at(0) is None and m.program_at(9) is None
    assert m.lookup(1) == k32(42) and m.lookup(k32(0)) is None
    assert list(m.keys()) == [k32(i) for i in range(4)]
    assert dict(m.items()) == {k32(1): k32(42), k32(2): k32(43)}
    for bad, err in ((lambda: m.update(1, p, 1), errno.EINVAL),
                     (lambda: m.update(4, p), errno.E2BIG),
                     (lambda: m.delete(0), errno.ENOENT),
                     (lambda: m.delete(7), errno.E2BIG)):
        with pytest.raises(BpfMapError) as e:
            bad()
        assert e.value.errno == err
    with pytest.raises(BpfTypeError):
        m.update(0, object())
    m.delete(1)
    assert m.program_at(1) is None
    assert m.prog_lookup(k32(2), 0) == 0           # programs cannot read a prog_array


def test_array_of_maps_attaches_inner_maps_to_memory() -> None:
    template = MapSpec("inner", 2, 4, 8, 1)          # ARRAY, key 4, value 8, 1 entry
    outer = ArrayOfMaps(4, 4, 2, inner=template, name="outer")
    first = ArrayMap(4, 8, 1)
    outer.update(0, first)
    mem = Memory()
    outer.attach(mem)
    assert first.handle in mem.regions             # present at attach time
    second = ArrayMap(4, 8, 1)
    outer.update(k32(1), second)                   # inserted later: attached too
    assert second.handle in mem.regions and second.regions[1] in mem.regions
    assert outer.prog_lookup(k32(1), 0) == second.address
    assert map_at(outer.prog_lookup(k32(0), 0)) is first
    assert outer.lookup(1) == k32(second.id)
    assert outer.map_at_index(1) is second
    with pytest.raises(BpfMapError) as e:
        outer.update(0, ArrayMap(4, 8, 2))         # max_entries differs from the template
    assert e.value.errno == errno.EINVAL
    with pytest.raises(BpfMapError):
        outer.update(0, HashMap(4, 8, 1))
    with pytest.raises(BpfTypeError):
        outer.update(0, b"\1\0\0\0")
    loose = ArrayOfMaps(4, 4, 1, inner=ArrayMap(4, 8, 1, BPF_F_INNER_MAP))
    loose.update(0, ArrayMap(4, 8, 100, BPF_F_INNER_MAP))   # any size with BPF_F_INNER_MAP
    outer.delete(1)
    assert outer.prog_lookup(k32(1), 0) == 0 and outer.lookup(1) is None


def test_hash_of_maps() -> None:
    outer = HashOfMaps(8, 4, 2, inner=HashMap(4, 4, 8))
    a, b, c = HashMap(4, 4, 8), HashMap(4, 4, 8), HashMap(4, 4, 8)
    mem = Memory()
    outer.attach(mem)
    outer.update(b"tenant-a", a)
    assert a.handle in mem.regions
    assert outer.prog_lookup(b"tenant-a", 0) == a.address
    assert outer.lookup(b"tenant-a") == k32(a.id) and outer.map_for(b"tenant-a") is a
    with pytest.raises(BpfMapError) as e:
        outer.update(b"tenant-a", b, 1)
    assert e.value.errno == errno.EEXIST
    outer.update(b"tenant-b", b)
    with pytest.raises(BpfMapError) as e:
        outer.update(b"tenant-c", c)
    assert e.value.errno == errno.E2BIG
    outer.delete(b"tenant-a")
    assert outer.prog_lookup(b"tenant-a", 0) == 0
    assert dict(outer.items()) == {b"tenant-b": k32(b.id)}


def test_redirect_targets_store_the_kernel_layouts() -> None:
    dev = DevMap(4, 8, 4)
    dev.update(k32(2), k32(7) + k32(0))
    assert ctypes.string_at(dev.prog_lookup(k32(2), 0), 8) == k32(7) + k32(0)
    assert dev.prog_lookup(k32(1), 0) == 0
    assert not dev.regions[1].writable
    dev.update(k32(2), k32(0) + k32(0))            # ifindex 0 empties the slot
    assert dev.lookup(k32(2)) is None
    dh = DevMapHash(4, 4, 4)
    dh.update(k32(100), k32(3))
    assert ctypes.string_at(dh.prog_lookup(k32(100), 0), 4) == k32(3)
    with pytest.raises(BpfMapError):
        dh.update(k32(1), k32(0))
    cpus = CpuMap(4, 4, 8, cpus=4)
    cpus.update(k32(3), k32(64))
    with pytest.raises(BpfMapError) as e:
        cpus.update(k32(4), k32(64))
    assert e.value.errno == errno.ENODEV
    xsk = XskMap(4, 4, 2)
    xsk.update(k32(0), k32(9))
    assert ctypes.string_at(xsk.prog_lookup(k32(0), 0), 4) == k32(9)
    with pytest.raises(BpfMapError) as e:
        xsk.lookup(k32(0))
    assert e.value.errno == errno.EOPNOTSUPP


def test_stack_trace_ids() -> None:
    m = StackTraceMap(4, 32, 8)
    stack = [0xFFFF0001, 0xFFFF0002, 0xFFFF0003]
    sid = m.prog_get_stackid(stack, 0)
    assert 0 <= sid < 8
    assert m.prog_get_stackid(stack, 0) == sid     # same stack, same id
    assert m.lookup(k32(sid)) == b"".join(x.to_bytes(8, "little") for x in stack) + bytes(8)
    assert m.prog_get_stackid([], 0) == -errno.EFAULT
    assert m.prog_get_stackid(stack, 1 << 20) == -errno.EINVAL
    assert list(m.keys()) and m.next_key(k32(99)) == list(m.keys())[0]
    m.delete(k32(sid))
    with pytest.raises(BpfMapError) as e:
        m.delete(k32(sid))
    assert e.value.errno == errno.ENOENT
    with pytest.raises(BpfMapError) as e:
        m.update(k32(0), bytes(32))
    assert e.value.errno == errno.EINVAL


def test_stack_trace_collisions() -> None:
    m = StackTraceMap(4, 8, 1)                     # one bucket: every stack collides
    assert m.prog_get_stackid([1], 0) == 0
    assert m.prog_get_stackid([2], 0) == -errno.EEXIST
    assert m.prog_get_stackid([2], BPF_F_REUSE_STACKID) == 0
    assert m.lookup(k32(0)) == (2).to_bytes(8, "little")
    assert m.prog_get_stackid([2, 3], 0) == 0      # depth is value_size / 8 = 1: the stack [2]
    assert m.prog_get_stackid([5, 2], 1) == 0      # skip 1 frame: [2] again
    assert m.prog_get_stackid([7], BPF_F_FAST_STACK_CMP) == -errno.EEXIST

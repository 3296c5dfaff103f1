"""Queue, stack and bloom filter: the Python API and the helper return conventions."""

from __future__ import annotations

import errno

import pytest

from pybpf.errors import BpfMapError, BpfValueError
from pybpf.maps import BPF_EXIST, ENOTSUPP, BloomFilterMap, QueueMap, StackMap

from mapops import k32


def test_queue_python_api() -> None:
    q = QueueMap(0, 4, 3)
    assert q.pop() is None and q.peek() is None and len(q) == 0
    for i in range(3):
        q.push(k32(i))
    with pytest.raises(BpfMapError) as e:
        q.push(k32(3))
    assert e.value.errno == errno.E2BIG
    q.push(k32(3), BPF_EXIST)                      # drops the oldest
    assert list(q.values()) == [k32(1), k32(2), k32(3)]
    assert q.peek() == k32(1) and q.pop() == k32(1) and len(q) == 2
    assert q.lookup_and_delete() == k32(2)
    with pytest.raises(BpfMapError):
        q.lookup_and_delete(None, 1)
    with pytest.raises(BpfValueError):
        q.push(b"12345")
    q.update(None, k32(8))                         # bpf(2) update with no key: push
    assert q.lookup(None) == k32(3)


def test_stack_program_view() -> None:
    s = StackMap(0, 4, 2)
    assert s.prog_pop(0) == (-errno.ENOENT, None)
    assert s.prog_push(k32(1), 0) == 0
    assert s.prog_push(k32(2), 0) == 0
    assert s.prog_push(k32(3), 0) == -errno.E2BIG
    assert s.prog_push(k32(3), 1) == -errno.EINVAL
    assert s.prog_push(k32(3), BPF_EXIST) == 0     # drops the oldest (1)
    assert s.prog_peek(0) == (0, k32(3))
    assert [s.prog_pop(0), s.prog_pop(0), s.prog_pop(0)] == [
        (0, k32(3)), (0, k32(2)), (-errno.ENOENT, None)]
    assert s.prog_lookup(b"", 0) == 0
    with pytest.raises(BpfMapError):
        list(s.keys())


def test_bloom_filter() -> None:
    b = BloomFilterMap(0, 8, 100, map_extra=3)
    assert b.nr_hash_funcs == 3 and b.bitset_mask == 511
    assert not b.peek(b"a" * 8)
    b.push(b"a" * 8)
    assert b.peek(b"a" * 8) and b"a" * 8 in b
    assert b.prog_peek(b"a" * 8) == (0, None)
    assert b.prog_peek(1, b"a" * 8) == (0, None)       # (cpu, value), as helpers call it
    assert b.prog_peek(0, b"z" * 8) == (-errno.ENOENT, None)
    assert b.prog_push(b"b" * 8, 1) == -errno.EINVAL
    assert b.prog_pop(0) == (-ENOTSUPP, None)
    with pytest.raises(BpfMapError) as e:
        b.pop()
    assert e.value.errno == ENOTSUPP
    with pytest.raises(BpfMapError) as e:
        b.delete(None)
    assert e.value.errno == errno.EOPNOTSUPP
    assert BloomFilterMap(0, 4, 1).bitset_mask == 63     # at least 64 bits
    assert BloomFilterMap(0, 4, 1 << 31).bitset_mask == 0xFFFFFFFF


def test_jhash_known_values() -> None:
    from pybpf.maps._jhash import jhash, jhash2

    # lookup3's published self-test values (hashlittle of "" and "Four score...")
    assert jhash(b"", 0) == 0xDEADBEEF
    assert jhash(b"Four score and seven years ago", 0) == 0x17770551
    assert jhash(b"Four score and seven years ago", 1) == 0xCD628161
    assert jhash2([], 0) == 0xDEADBEEF
    assert jhash2([1, 2, 3, 4], 7) == jhash(b"".join(k32(i) for i in (1, 2, 3, 4)), 7)

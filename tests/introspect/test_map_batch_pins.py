"""Batched map operations against single-element ones; freeze; pin / open_pinned."""

from __future__ import annotations

import errno
import os
import uuid

import pytest

from pybpf.errors import BpfMapError, BpfSyscallError
from pybpf.kernel import KernelMap, MapType
from pybpf.kernel import introspect as ki
from pybpf.kernel.maps import possible_cpus

pytestmark = pytest.mark.kernel


def _k(i: int) -> bytes:
    return i.to_bytes(4, "little")


def _v(i: int) -> bytes:
    return (i * 1000).to_bytes(8, "little")


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.LRU_HASH])
def test_hash_batches_agree_with_single_ops(map_type):
    with KernelMap(map_type, 4, 8, 512, name="batch") as m:
        items = {_k(i): _v(i) for i in range(300)}
        assert ki.update_batch(m, items) == 300
        assert {k: m.lookup(k) for k in m.keys()} == items
        got = ki.lookup_batch(m, count=7)          # many small batches, whole buckets each
        assert len(got) == 300 and dict(got) == items
        assert ki.delete_batch(m, [_k(i) for i in range(100)]) == 100
        assert m.get(_k(5)) is None and m.lookup(_k(150)) == _v(150)
        taken = ki.lookup_and_delete_batch(m, count=64)
        assert dict(taken) == {_k(i): _v(i) for i in range(100, 300)}
        assert list(m.keys()) == []


def test_array_and_percpu_lookup_batch():
    with KernelMap(MapType.ARRAY, 4, 8, 10) as a:
        for i in range(10):
            a.update(_k(i), _v(i))
        assert ki.lookup_batch(a, count=3) == [(_k(i), _v(i)) for i in range(10)]
    with KernelMap(MapType.PERCPU_HASH, 4, 4, 8) as p:
        value = b"".join(i.to_bytes(4, "little") + b"\0" * 4 for i in range(possible_cpus()))
        p.update(_k(1), value)
        assert ki.lookup_batch(p) == [(_k(1), value)]


def test_delete_batch_of_absent_key_reports_progress():
    with KernelMap(MapType.HASH, 4, 8, 8) as m:
        m.update(_k(1), _v(1))
        with pytest.raises(BpfMapError) as e:
            ki.delete_batch(m, [_k(1), _k(2)])
        assert e.value.errno == errno.ENOENT and e.value.done == 1


def test_freeze_makes_map_read_only_for_user_space():
    with KernelMap(MapType.ARRAY, 4, 4, 1) as m:
        m.update(_k(0), _k(7))
        ki.freeze(m)
        assert ki.map_info(m.fd).frozen
        with pytest.raises(BpfMapError) as e:
            m.update(_k(0), _k(8))
        assert e.value.errno == errno.EPERM
        assert m.lookup(_k(0)) == _k(7)


def test_pin_and_open_pinned_round_trip(asm_prog):
    prog, m = asm_prog
    base = os.path.join(ki.ensure_bpffs(), f"pybpf-test-{uuid.uuid4().hex[:8]}")
    try:
        ki.pin(prog.fd, base + "-prog")
        ki.pin(m.fd, base + "-map")
        with ki.open_pinned(base + "-prog") as fd:
            assert ki.object_kind(fd) == "prog"
            assert ki.prog_info(fd).id == ki.prog_info(prog.fd).id
        with ki.open_pinned(base + "-map") as fd:
            assert ki.map_info(fd).id == ki.map_info(m.fd).id
        with pytest.raises(BpfSyscallError) as e:
            ki.pin(m.fd, base + "-map")          # already pinned there
        assert e.value.errno == errno.EEXIST
    finally:
        for suffix in ("-prog", "-map"):
            if os.path.exists(base + suffix):
                os.unlink(base + suffix)
    with pytest.raises(BpfSyscallError) as e:
        ki.open_pinned(base + "-prog")
    assert e.value.errno == errno.ENOENT

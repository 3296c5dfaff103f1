"""KernelMap as the maps' oracle: the same size and type errors as the userspace maps,
key-less operations (queue/stack/bloom), lookup_and_delete, per-CPU lookups, map-in-map."""

from __future__ import annotations

import errno

import pytest

from pybpf.errors import BpfMapError, BpfTypeError, BpfValueError
from pybpf.isa.uapi import MapType
from pybpf.kernel.maps import KernelMap, possible_cpus

from mapops import k32

pytestmark = pytest.mark.kernel


def test_size_and_type_errors_match_the_userspace_maps() -> None:
    with KernelMap(MapType.HASH, 4, 8, 2) as m:
        with pytest.raises(BpfValueError) as e:
            m.lookup(b"\0\0\0")
        assert isinstance(e.value, BpfMapError) and e.value.errno == errno.EINVAL
        with pytest.raises(BpfTypeError):
            m.update(1, bytes(8))                  # type: ignore[arg-type]


def test_keyless_operations() -> None:
    with KernelMap(MapType.QUEUE, 0, 4, 2) as q:
        q.push(k32(1))
        q.push(k32(2))
        assert q.peek() == k32(1)
        assert q.lookup_and_delete() == k32(1)
        with pytest.raises(BpfMapError) as e:
            q.push(k32(3), 1)
        assert e.value.errno == errno.EINVAL
    with KernelMap(MapType.BLOOM_FILTER, 0, 4, 10, map_extra=2) as b:
        b.push(k32(5))
        assert b.peek(k32(5)) == k32(5)


def test_percpu_lookup_and_lookup_and_delete() -> None:
    with KernelMap(MapType.PERCPU_HASH, 4, 4, 2) as m:
        n = possible_cpus()
        m.update(k32(1), b"".join(k32(i).ljust(8, b"\0") for i in range(n)))
        assert m.lookup_percpu(k32(1)) == [k32(i) for i in range(n)]
        assert len(m.lookup_and_delete(k32(1))) == 8 * n
        assert m.get(k32(1)) is None


def test_map_in_map_creation() -> None:
    with KernelMap(MapType.ARRAY, 4, 8, 1) as inner, \
            KernelMap(MapType.ARRAY_OF_MAPS, 4, 4, 1, inner_map=inner) as outer:
        outer.update(k32(0), k32(inner.fd.fileno()))
        assert outer.lookup(k32(0)) != k32(0)      # the kernel answers with the map's id

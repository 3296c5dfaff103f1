"""Map creation: which parameters each type refuses, with the kernel's errno.

The table was recorded from Linux 6.18 (x86-64): (type, key_size, value_size, max_entries,
map_flags, map_extra, result). The userspace maps are checked against it everywhere; the
``kernel`` test checks that the running kernel still says the same.
"""

from __future__ import annotations

import errno

import pytest

from pybpf.errors import BpfError, BpfMapError, BpfTypeError
from pybpf.isa.uapi import MapType
from pybpf.maps import MAP_CLASSES, ArrayMap, HashMap, create_map
from pybpf.elf.spec import MapSpec

from mapops import errname

(HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH, ARRAY, PERCPU_ARRAY, PROG_ARRAY,
 PERF_EVENT_ARRAY, LPM_TRIE, QUEUE, STACK, BLOOM_FILTER, RINGBUF, STACK_TRACE, DEVMAP,
 DEVMAP_HASH, CPUMAP, XSKMAP, ARRAY_OF_MAPS, HASH_OF_MAPS) = (
    MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
    MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
    MapType.LPM_TRIE, MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER, MapType.RINGBUF,
    MapType.STACK_TRACE, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP,
    MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)

CREATE_CASES = [
    (HASH, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (HASH, 0, 8, 1, 0x0, 0, 'EINVAL'),
    (HASH, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (HASH, 513, 8, 1, 0x0, 0, 'ok'),
    (HASH, 4, 4194251, 1, 0x0, 0, 'ok'),
    (HASH, 4, 4194252, 1, 0x0, 0, 'E2BIG'),
    (HASH, 4, 32768, 1, 0x0, 0, 'ok'),
    (HASH, 4, 32769, 1, 0x0, 0, 'ok'),
    (HASH, 4, 8, 1, 0x1, 0, 'ok'),
    (HASH, 4, 8, 1, 0x2, 0, 'EINVAL'),
    (HASH, 4, 8, 1, 0x40, 0, 'ok'),
    (HASH, 4, 8, 1, 0x400, 0, 'EINVAL'),
    (HASH, 4, 8, 1, 0x1000, 0, 'EINVAL'),
    (HASH, 4, 8, 1, 0x18, 0, 'EINVAL'),
    (HASH, 4, 8, 1, 0x180, 0, 'EINVAL'),
    (HASH, 4, 8, 1, 0x0, 1, 'EINVAL'),
    (HASH, 4, 8, 1, 0x800, 0, 'EINVAL'),
    (HASH, 4, 8, 1, 0x4, 0, 'ok'),
    (HASH, 4, 8, 134217729, 0x1, 0, 'E2BIG'),
    (PERCPU_HASH, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (PERCPU_HASH, 0, 8, 1, 0x0, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (PERCPU_HASH, 513, 8, 1, 0x0, 0, 'ok'),
    (PERCPU_HASH, 4, 4194251, 1, 0x0, 0, 'E2BIG'),
    (PERCPU_HASH, 4, 4194252, 1, 0x0, 0, 'E2BIG'),
    (PERCPU_HASH, 4, 32768, 1, 0x0, 0, 'ok'),
    (PERCPU_HASH, 4, 32769, 1, 0x0, 0, 'E2BIG'),
    (PERCPU_HASH, 4, 8, 1, 0x1, 0, 'ok'),
    (PERCPU_HASH, 4, 8, 1, 0x2, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x40, 0, 'ok'),
    (PERCPU_HASH, 4, 8, 1, 0x400, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x1000, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x18, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x180, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x0, 1, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x800, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 1, 0x4, 0, 'EINVAL'),
    (PERCPU_HASH, 4, 8, 134217729, 0x1, 0, 'E2BIG'),
    (LRU_HASH, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (LRU_HASH, 0, 8, 1, 0x0, 0, 'EINVAL'),
    (LRU_HASH, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (LRU_HASH, 513, 8, 1, 0x0, 0, 'ok'),
    (LRU_HASH, 4, 4194251, 1, 0x0, 0, 'ok'),
    (LRU_HASH, 4, 4194252, 1, 0x0, 0, 'E2BIG'),
    (LRU_HASH, 4, 32768, 1, 0x0, 0, 'ok'),
    (LRU_HASH, 4, 32769, 1, 0x0, 0, 'ok'),
    (LRU_HASH, 4, 8, 1, 0x1, 0, 'ENOTSUPP'),
    (LRU_HASH, 4, 8, 1, 0x2, 0, 'ok'),
    (LRU_HASH, 4, 8, 1, 0x40, 0, 'ok'),
    (LRU_HASH, 4, 8, 1, 0x400, 0, 'EINVAL'),
    (LRU_HASH, 4, 8, 1, 0x1000, 0, 'EINVAL'),
    (LRU_HASH, 4, 8, 1, 0x18, 0, 'EINVAL'),
    (LRU_HASH, 4, 8, 1, 0x180, 0, 'EINVAL'),
    (LRU_HASH, 4, 8, 1, 0x0, 1, 'EINVAL'),
    (LRU_HASH, 4, 8, 1, 0x800, 0, 'EINVAL'),
    (LRU_HASH, 4, 8, 1, 0x4, 0, 'ok'),
    (LRU_HASH, 4, 8, 134217729, 0x1, 0, 'ENOTSUPP'),
    (LRU_PERCPU_HASH, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 0, 8, 1, 0x0, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 513, 8, 1, 0x0, 0, 'ok'),
    (LRU_PERCPU_HASH, 4, 4194251, 1, 0x0, 0, 'E2BIG'),
    (LRU_PERCPU_HASH, 4, 4194252, 1, 0x0, 0, 'E2BIG'),
    (LRU_PERCPU_HASH, 4, 32768, 1, 0x0, 0, 'ok'),
    (LRU_PERCPU_HASH, 4, 32769, 1, 0x0, 0, 'E2BIG'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x1, 0, 'ENOTSUPP'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x2, 0, 'ok'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x40, 0, 'ok'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x400, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x1000, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x18, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x180, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x0, 1, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x800, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 1, 0x4, 0, 'EINVAL'),
    (LRU_PERCPU_HASH, 4, 8, 134217729, 0x1, 0, 'ENOTSUPP'),
    (ARRAY, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (ARRAY, 8, 8, 1, 0x0, 0, 'EINVAL'),
    (ARRAY, 0, 8, 1, 0x0, 0, 'EINVAL'),
    (ARRAY, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (ARRAY, 4, 2147483648, 1, 0x0, 0, 'E2BIG'),
    (ARRAY, 4, 32768, 1, 0x0, 0, 'ok'),
    (ARRAY, 4, 32769, 1, 0x0, 0, 'ok'),
    (ARRAY, 4, 8, 1, 0x1, 0, 'EINVAL'),
    (ARRAY, 4, 8, 1, 0x400, 0, 'ok'),
    (ARRAY, 4, 8, 1, 0x1000, 0, 'ok'),
    (ARRAY, 4, 8, 1, 0x800, 0, 'EINVAL'),
    (ARRAY, 4, 8, 1, 0x80, 0, 'ok'),
    (ARRAY, 4, 8, 1, 0x4, 0, 'ok'),
    (ARRAY, 4, 8, 1, 0x0, 1, 'EINVAL'),
    (PERCPU_ARRAY, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (PERCPU_ARRAY, 8, 8, 1, 0x0, 0, 'EINVAL'),
    (PERCPU_ARRAY, 0, 8, 1, 0x0, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 2147483648, 1, 0x0, 0, 'E2BIG'),
    (PERCPU_ARRAY, 4, 32768, 1, 0x0, 0, 'ok'),
    (PERCPU_ARRAY, 4, 32769, 1, 0x0, 0, 'E2BIG'),
    (PERCPU_ARRAY, 4, 8, 1, 0x1, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 8, 1, 0x400, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 8, 1, 0x1000, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 8, 1, 0x800, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 8, 1, 0x80, 0, 'ok'),
    (PERCPU_ARRAY, 4, 8, 1, 0x4, 0, 'EINVAL'),
    (PERCPU_ARRAY, 4, 8, 1, 0x0, 1, 'EINVAL'),
    (PROG_ARRAY, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (PROG_ARRAY, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (PROG_ARRAY, 8, 4, 1, 0x0, 0, 'EINVAL'),
    (PROG_ARRAY, 4, 4, 1, 0x80, 0, 'EINVAL'),
    (PROG_ARRAY, 4, 4, 1, 0x800, 0, 'EINVAL'),
    (PROG_ARRAY, 4, 4, 1, 0x1, 0, 'EINVAL'),
    (PROG_ARRAY, 4, 4, 1, 0x400, 0, 'EINVAL'),
    (PERF_EVENT_ARRAY, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (PERF_EVENT_ARRAY, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (PERF_EVENT_ARRAY, 8, 4, 1, 0x0, 0, 'EINVAL'),
    (PERF_EVENT_ARRAY, 4, 4, 1, 0x80, 0, 'EINVAL'),
    (PERF_EVENT_ARRAY, 4, 4, 1, 0x800, 0, 'ok'),
    (PERF_EVENT_ARRAY, 4, 4, 1, 0x1, 0, 'EINVAL'),
    (PERF_EVENT_ARRAY, 4, 4, 1, 0x400, 0, 'EINVAL'),
    (LPM_TRIE, 8, 8, 1, 0x0, 0, 'EINVAL'),
    (LPM_TRIE, 8, 8, 1, 0x1, 0, 'ok'),
    (LPM_TRIE, 4, 8, 1, 0x1, 0, 'EINVAL'),
    (LPM_TRIE, 5, 8, 1, 0x1, 0, 'ok'),
    (LPM_TRIE, 260, 8, 1, 0x1, 0, 'ok'),
    (LPM_TRIE, 261, 8, 1, 0x1, 0, 'EINVAL'),
    (LPM_TRIE, 8, 0, 1, 0x1, 0, 'EINVAL'),
    (LPM_TRIE, 8, 8, 0, 0x1, 0, 'EINVAL'),
    (LPM_TRIE, 8, 8, 1, 0x3, 0, 'EINVAL'),
    (LPM_TRIE, 8, 4194024, 1, 0x1, 0, 'ok'),
    (LPM_TRIE, 8, 4194025, 1, 0x1, 0, 'EINVAL'),
    (QUEUE, 0, 8, 1, 0x0, 0, 'ok'),
    (QUEUE, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (QUEUE, 0, 0, 1, 0x0, 0, 'EINVAL'),
    (QUEUE, 0, 8, 0, 0x0, 0, 'EINVAL'),
    (QUEUE, 0, 8, 1, 0x1, 0, 'EINVAL'),
    (QUEUE, 0, 4194304, 1, 0x0, 0, 'ok'),
    (QUEUE, 0, 4194305, 1, 0x0, 0, 'E2BIG'),
    (QUEUE, 0, 8, 1, 0x0, 1, 'EINVAL'),
    (STACK, 0, 8, 1, 0x0, 0, 'ok'),
    (STACK, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (STACK, 0, 0, 1, 0x0, 0, 'EINVAL'),
    (STACK, 0, 8, 0, 0x0, 0, 'EINVAL'),
    (STACK, 0, 8, 1, 0x1, 0, 'EINVAL'),
    (STACK, 0, 4194304, 1, 0x0, 0, 'ok'),
    (STACK, 0, 4194305, 1, 0x0, 0, 'E2BIG'),
    (STACK, 0, 8, 1, 0x0, 1, 'EINVAL'),
    (BLOOM_FILTER, 0, 8, 1, 0x0, 0, 'ok'),
    (BLOOM_FILTER, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (BLOOM_FILTER, 0, 0, 1, 0x0, 0, 'EINVAL'),
    (BLOOM_FILTER, 0, 8, 0, 0x0, 0, 'EINVAL'),
    (BLOOM_FILTER, 0, 8, 1, 0x0, 16, 'EINVAL'),
    (BLOOM_FILTER, 0, 8, 1, 0x0, 15, 'ok'),
    (BLOOM_FILTER, 0, 8, 1, 0x40, 0, 'ok'),
    (BLOOM_FILTER, 0, 8, 1, 0x1, 0, 'EINVAL'),
    (BLOOM_FILTER, 0, 3, 1, 0x0, 0, 'ok'),
    (RINGBUF, 0, 0, 4096, 0x0, 0, 'ok'),
    (RINGBUF, 0, 0, 8192, 0x0, 0, 'ok'),
    (RINGBUF, 0, 0, 12288, 0x0, 0, 'EINVAL'),
    (RINGBUF, 0, 0, 2048, 0x0, 0, 'EINVAL'),
    (RINGBUF, 4, 0, 4096, 0x0, 0, 'EINVAL'),
    (RINGBUF, 0, 4, 4096, 0x0, 0, 'EINVAL'),
    (RINGBUF, 0, 0, 4096, 0x1, 0, 'EINVAL'),
    (RINGBUF, 0, 0, 4096, 0x4, 0, 'ok'),
    (RINGBUF, 0, 0, 0, 0x0, 0, 'EINVAL'),
    (STACK_TRACE, 4, 8, 1, 0x0, 0, 'ok'),
    (STACK_TRACE, 4, 12, 1, 0x0, 0, 'EINVAL'),
    (STACK_TRACE, 4, 0, 1, 0x0, 0, 'EINVAL'),
    (STACK_TRACE, 8, 8, 1, 0x0, 0, 'EINVAL'),
    (STACK_TRACE, 4, 8, 0, 0x0, 0, 'EINVAL'),
    (STACK_TRACE, 4, 1016, 1, 0x0, 0, 'ok'),
    (STACK_TRACE, 4, 1024, 1, 0x0, 0, 'EINVAL'),
    (STACK_TRACE, 4, 8, 1, 0x1, 0, 'EINVAL'),
    (STACK_TRACE, 4, 32, 1, 0x20, 0, 'ok'),
    (STACK_TRACE, 4, 36, 1, 0x20, 0, 'EINVAL'),
    (DEVMAP, 4, 4, 1, 0x0, 0, 'ok'),
    (DEVMAP, 4, 8, 1, 0x0, 0, 'ok'),
    (DEVMAP, 4, 6, 1, 0x0, 0, 'EINVAL'),
    (DEVMAP, 4, 12, 1, 0x0, 0, 'EINVAL'),
    (DEVMAP, 8, 4, 1, 0x0, 0, 'EINVAL'),
    (DEVMAP, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (DEVMAP, 4, 4, 1, 0x1, 0, 'EINVAL'),
    (DEVMAP_HASH, 4, 4, 1, 0x0, 0, 'ok'),
    (DEVMAP_HASH, 4, 8, 1, 0x0, 0, 'ok'),
    (DEVMAP_HASH, 4, 6, 1, 0x0, 0, 'EINVAL'),
    (DEVMAP_HASH, 4, 12, 1, 0x0, 0, 'EINVAL'),
    (DEVMAP_HASH, 8, 4, 1, 0x0, 0, 'EINVAL'),
    (DEVMAP_HASH, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (DEVMAP_HASH, 4, 4, 1, 0x1, 0, 'EINVAL'),
    (CPUMAP, 4, 4, 1, 0x0, 0, 'ok'),
    (CPUMAP, 4, 8, 1, 0x0, 0, 'ok'),
    (CPUMAP, 4, 12, 1, 0x0, 0, 'EINVAL'),
    (CPUMAP, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (CPUMAP, 4, 4, 256, 0x0, 0, 'ok'),
    (CPUMAP, 4, 4, 257, 0x0, 0, 'E2BIG'),
    (XSKMAP, 4, 4, 1, 0x0, 0, 'ok'),
    (XSKMAP, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (XSKMAP, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (XSKMAP, 8, 4, 1, 0x0, 0, 'EINVAL'),
    (ARRAY_OF_MAPS, 4, 4, 1, 0x0, 0, 'ok'),
    (ARRAY_OF_MAPS, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (ARRAY_OF_MAPS, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (ARRAY_OF_MAPS, 8, 4, 1, 0x0, 0, 'EINVAL'),
    (ARRAY_OF_MAPS, 4, 4, 1, 0x1, 0, 'EINVAL'),
    (HASH_OF_MAPS, 4, 4, 1, 0x0, 0, 'ok'),
    (HASH_OF_MAPS, 4, 8, 1, 0x0, 0, 'EINVAL'),
    (HASH_OF_MAPS, 4, 4, 0, 0x0, 0, 'EINVAL'),
    (HASH_OF_MAPS, 8, 4, 1, 0x0, 0, 'ok'),
    (HASH_OF_MAPS, 4, 4, 1, 0x1, 0, 'ok'),
]


def _user(t: MapType, ks: int, vs: int, me: int, flags: int, extra: int) -> str:
    kw = {"inner": ArrayMap(4, 8, 1)} if t in (ARRAY_OF_MAPS, HASH_OF_MAPS) else {}
    try:
        MAP_CLASSES[t](ks, vs, me, flags, cpus=2, map_extra=extra, **kw)
    except BpfMapError as e:
        return errname(e)
    return "ok"


def _ids(case: tuple) -> str:
    t, ks, vs, me, flags, extra, _ = case
    return f"{t.name}-k{ks}-v{vs}-n{me}-f{flags:#x}-x{extra}"


@pytest.mark.parametrize("case", CREATE_CASES, ids=_ids)
def test_userspace_creation_matches_the_recorded_kernel(case: tuple) -> None:
    *params, expected = case
    assert _user(*params) == expected


@pytest.mark.kernel
def test_the_kernel_still_answers_as_recorded() -> None:
    from pybpf.kernel.maps import KernelMap

    inner = KernelMap(MapType.ARRAY, 4, 8, 1)
    mismatches = []
    for case in CREATE_CASES:
        t, ks, vs, me, flags, extra, expected = case
        try:
            KernelMap(t, ks, vs, me, flags, map_extra=extra,
                      inner_map=inner if t in (ARRAY_OF_MAPS, HASH_OF_MAPS) else None).close()
            got = "ok"
        except OSError as e:
            got = errname(e)
        if got != expected:
            mismatches.append((_ids(case), expected, got))
    assert not mismatches


def test_map_in_map_needs_an_inner_template() -> None:
    for t in (ARRAY_OF_MAPS, HASH_OF_MAPS):
        with pytest.raises(BpfMapError) as e:
            MAP_CLASSES[t](4, 4, 1)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(BpfMapError):
        MAP_CLASSES[ARRAY_OF_MAPS](4, 4, 1, inner=MAP_CLASSES[ARRAY_OF_MAPS](
            4, 4, 1, inner=ArrayMap(4, 4, 1)))


def test_unsupported_types_name_themselves() -> None:
    spec = MapSpec("socks", MapType.SOCKMAP, 4, 4, 4)
    with pytest.raises(BpfError, match="SOCKMAP"):
        create_map(spec)
    with pytest.raises(BpfError, match="unknown map type 999"):
        create_map(MapSpec("x", 999, 4, 4, 4))


def test_parameters_must_be_ints() -> None:
    with pytest.raises(BpfTypeError):
        HashMap(4, "8", 1)  # type: ignore[arg-type]
    with pytest.raises(BpfMapError):
        HashMap(4, 8, 1 << 32)


def test_ids_are_unique_and_increasing() -> None:
    a, b = HashMap(4, 4, 1), ArrayMap(4, 4, 1)
    assert 0 < a.id < b.id
    with pytest.raises(BpfMapError):
        HashMap(4, 4, 0)
    c = HashMap(4, 4, 1)
    assert c.id == b.id + 1       # a refused creation takes no id


def test_create_map_applies_libbpf_adjustments() -> None:
    perf = create_map(MapSpec("events", MapType.PERF_EVENT_ARRAY, 4, 4, 0), cpus=3)
    assert perf.max_entries == 3
    rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 5000))
    assert rb.max_entries == 8192
    ro = create_map(MapSpec(".rodata", MapType.ARRAY, 4, 8, 1, flags=0x80, data=b"\x01\x02"))
    assert ro.lookup(b"\0" * 4) == b"\x01\x02" + bytes(6)
    with pytest.raises(BpfMapError) as e:          # frozen, as libbpf freezes .rodata
        ro.update(b"\0" * 4, bytes(8))
    assert e.value.errno == errno.EPERM
    assert not ro.regions[1].writable              # BPF_F_RDONLY_PROG: programs cannot write
    h = create_map(MapSpec("h", MapType.HASH, 4, 4, 4, contents=[(b"\1\0\0\0", b"abcd")]))
    assert h.lookup(b"\1\0\0\0") == b"abcd"

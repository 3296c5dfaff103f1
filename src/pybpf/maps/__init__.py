"""Userspace BPF maps: the kernel's map types over flat memory, for the interpreter and JIT.

``create_map(spec, cpus=...)`` makes a live map from a :class:`pybpf.elf.spec.MapSpec`;
each family's class can also be constructed directly as
``Cls(key_size, value_size, max_entries, flags=0, name="", *, cpus=1, map_extra=0,
key_type=None, value_type=None)`` (map-in-map classes also take ``inner=``).
One module per family, like the kernel's ``kernel/bpf/*.c``; each module's docstring lists
the errno rules it follows. ``map_at(address)`` finds a map from its handle address (a
program's map pointer). ``RingBuffer`` and ``PerfBuffer`` consume ringbuf and
perf_event_array output.
"""

from __future__ import annotations

from typing import Any

from pybpf.errors import BpfError
from pybpf.isa.uapi import MapType
from pybpf.maps._base import HANDLE_SIZE, Map, map_at
from pybpf.maps._common import (BPF_ANY, BPF_EXIST, BPF_F_INNER_MAP, BPF_F_LOCK,
                                BPF_F_MMAPABLE, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC,
                                BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_RDONLY_PROG,
                                BPF_F_WRONLY, BPF_F_WRONLY_PROG, BPF_F_ZERO_SEED, BPF_NOEXIST,
                                ENOTSUPP, PAGE_SIZE, MapSizeError)
from pybpf.maps.arraymap import ArrayMap, FdArray, PercpuArrayMap, ProgArray
from pybpf.maps.bloom_filter import BloomFilterMap
from pybpf.maps.devmap import CpuMap, DevMap, DevMapHash, XskMap
from pybpf.maps.hashtab import HashMap, LruHashMap, LruPercpuHashMap, PercpuHashMap
from pybpf.maps.lpm_trie import LpmTrieMap
from pybpf.maps.map_in_map import ArrayOfMaps, HashOfMaps
from pybpf.maps.perf_event import BPF_F_CURRENT_CPU, PerfBuffer, PerfEventArray
from pybpf.maps.queue_stack import QueueMap, StackMap
from pybpf.maps.ringbuf import RingBuffer, RingBufMap
from pybpf.maps.stackmap import StackTraceMap
from pybpf.maps.typed import TypedMap

MAP_CLASSES: dict[MapType, type[Map]] = {cls.map_type: cls for cls in (
    HashMap, ArrayMap, ProgArray, PerfEventArray, PercpuHashMap, PercpuArrayMap, StackTraceMap,
    LruHashMap, LruPercpuHashMap, LpmTrieMap, ArrayOfMaps, HashOfMaps, DevMap, CpuMap, XskMap,
    QueueMap, StackMap, DevMapHash, RingBufMap, BloomFilterMap)}


# The kernel's struct behind each map type (its ops' map_btf_id): what a program's map
# pointer points at to the kernel's verifier (check_ptr_to_map_access names it).
KERNEL_STRUCTS: dict[MapType, str] = {
    **dict.fromkeys((MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY,
                     MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS),
                    "bpf_array"),
    **dict.fromkeys((MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                     MapType.LRU_PERCPU_HASH, MapType.HASH_OF_MAPS), "bpf_htab"),
    MapType.LPM_TRIE: "lpm_trie", MapType.STACK_TRACE: "bpf_stack_map",
    MapType.RINGBUF: "bpf_ringbuf_map", MapType.USER_RINGBUF: "bpf_ringbuf_map",
    MapType.QUEUE: "bpf_queue_stack", MapType.STACK: "bpf_queue_stack",
    MapType.DEVMAP: "bpf_dtab", MapType.DEVMAP_HASH: "bpf_dtab", MapType.CPUMAP: "bpf_cpu_map",
    MapType.XSKMAP: "xsk_map", MapType.SOCKMAP: "bpf_stab", MapType.SOCKHASH: "bpf_shtab",
    MapType.REUSEPORT_SOCKARRAY: "reuseport_array", MapType.BLOOM_FILTER: "bpf_bloom_filter",
    MapType.CGROUP_STORAGE: "bpf_cgroup_storage_map",
    MapType.PERCPU_CGROUP_STORAGE: "bpf_cgroup_storage_map",
    **dict.fromkeys((MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE,
                     MapType.CGRP_STORAGE), "bpf_local_storage_map"),
    MapType.STRUCT_OPS: "bpf_struct_ops_map", MapType.ARENA: "bpf_arena",
}


def _ringbuf_size(n: int) -> int:
    """libbpf's adjust_ringbuf_sz: a power of two, at least a page."""
    size = PAGE_SIZE
    while size < n:
        size <<= 1
    return size


def create_map(spec: Any, cpus: int = 1) -> Map:
    """A live userspace map for ``spec`` (a MapSpec, or anything with its fields).

    Applies what libbpf applies between the object file and bpf(2): a perf_event_array
    with max_entries 0 gets one slot per CPU, a ringbuf's size is rounded up to a power of
    two pages, a global-data map (``spec.data``) starts with that data and is frozen when
    read-only to programs (``.rodata``). Initial ``contents`` given as bytes are stored;
    entries naming programs or maps are left to the loader, which has them.
    """
    try:
        map_type = MapType(spec.type)
    except ValueError:
        raise BpfError(f"map {spec.name!r}: unknown map type {spec.type}") from None
    cls = MAP_CLASSES.get(map_type)
    if cls is None:
        raise BpfError(f"map {spec.name!r}: map type {map_type.name} "
                       f"(BPF_MAP_TYPE_{map_type.name}) is not supported by the userspace maps")
    max_entries = spec.max_entries
    if map_type == MapType.PERF_EVENT_ARRAY and max_entries == 0:
        max_entries = cpus
    if map_type == MapType.RINGBUF and max_entries:
        max_entries = _ringbuf_size(max_entries)
    kwargs: dict[str, Any] = dict(cpus=cpus, map_extra=getattr(spec, "map_extra", 0),
                                  key_type=getattr(spec, "key_type", None),
                                  value_type=getattr(spec, "value_type", None))
    if map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
        kwargs["inner"] = spec.inner
    m = cls(spec.key_size, spec.value_size, max_entries, spec.flags, spec.name, **kwargs)
    data = getattr(spec, "data", None)
    if data is not None and isinstance(m, ArrayMap):
        m.set_data(data)
    for key, value in getattr(spec, "contents", None) or ():
        if isinstance(key, (bytes, bytearray)) and isinstance(value, (bytes, bytearray)):
            m.update(key, value)
    if data is not None and spec.flags & BPF_F_RDONLY_PROG:
        m.freeze()
    return m


__all__ = [
    "create_map", "map_at", "Map", "TypedMap", "RingBuffer", "PerfBuffer", "MAP_CLASSES",
    "HashMap", "PercpuHashMap", "LruHashMap", "LruPercpuHashMap", "ArrayMap", "PercpuArrayMap",
    "FdArray", "ProgArray", "PerfEventArray", "StackTraceMap", "LpmTrieMap", "ArrayOfMaps",
    "HashOfMaps", "DevMap", "DevMapHash", "CpuMap", "XskMap", "QueueMap", "StackMap",
    "RingBufMap", "BloomFilterMap", "MapSizeError", "HANDLE_SIZE", "BPF_ANY", "BPF_NOEXIST",
    "BPF_EXIST", "BPF_F_LOCK", "BPF_F_NO_PREALLOC", "BPF_F_NO_COMMON_LRU", "BPF_F_NUMA_NODE",
    "BPF_F_RDONLY", "BPF_F_WRONLY", "BPF_F_RDONLY_PROG", "BPF_F_WRONLY_PROG", "BPF_F_ZERO_SEED",
    "BPF_F_MMAPABLE", "BPF_F_INNER_MAP", "BPF_F_CURRENT_CPU", "ENOTSUPP",
]

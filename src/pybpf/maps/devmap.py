"""Redirect targets: devmap, devmap_hash (``devmap.c``), cpumap (``cpumap.c``), xskmap
(``xskmap.c``). Plain storage of the kernel's value layouts; a program's lookup gets the
value's address (read-only to programs, as the verifier makes them).

- devmap / devmap_hash value: ``struct bpf_devmap_val { u32 ifindex; u32 prog_fd_or_id; }``
  (value_size 4 or 8). Interfaces are not checked (there are none to check here); an
  ifindex of 0 empties a devmap slot and is EINVAL in a devmap_hash.
- cpumap value: ``struct bpf_cpumap_val { u32 qsize; u32 prog_fd_or_id; }`` (4 or 8);
  qsize 0 empties the slot, above 16384 is EOVERFLOW, a CPU this map's machine does not
  have is ENODEV; max_entries above NR_CPUS (256 on the reference kernel) is E2BIG.
- xskmap value: an AF_XDP socket fd (u32), stored as given; bpf(2) lookup is EOPNOTSUPP.
Array-shaped ones: NOEXIST is EEXIST (devmap, cpumap: always), index past the end E2BIG on
update and EINVAL on delete; delete of an empty slot succeeds.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any

from pybpf.isa.uapi import MapType
from pybpf.maps._base import NATIVE_SLOTS
from pybpf.maps._common import (BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE, BPF_NOEXIST,
                                access_flags_ok, allocate, fail, index_of, round8)
from pybpf.maps.arraymap import _ArrayBase
from pybpf.maps.hashtab import HashMap
from pybpf.vm.memory import Region

DEV_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK
NR_CPUS = 256
CPUMAP_MAX_QSIZE = 16384


def _check_target(m: Any, sizes: tuple[int, ...]) -> None:
    f = m.flags
    if (not m.max_entries or m.key_size != 4 or m.value_size not in sizes
            or f & ~DEV_CREATE_FLAG_MASK or not access_flags_ok(f)):
        raise fail(errno.EINVAL, f"{m._where}: key_size 4, value_size in {sizes}, "
                                 f"max_entries > 0 and flags NUMA/access only (got {f:#x})")


class _SlotArray(_ArrayBase):
    """Index-keyed slots of ``value_size`` bytes that may be empty."""

    value_sizes: tuple[int, ...] = (4, 8)

    def _check_create(self) -> None:
        _check_target(self, self.value_sizes)

    def _allocate(self) -> tuple:
        self.stride = round8(self.value_size)
        self.values = allocate(self.max_entries * self.stride, self._where)
        self.values_address = ctypes.addressof(self.values)
        self.present = allocate(self.max_entries, self._where)
        return (Region(f"map:{self.name or self.id}:values", self.values, writable=False,
                       kind="map_value"),)

    def _native(self) -> tuple[int, ...]:
        """Slots that may be empty: not an array to native map helpers (they go to Python),
        but native ``bpf_redirect_map`` reads them (the ``present`` bytes tell)."""
        return (NATIVE_SLOTS, self.stride, 0, self.values_address, ctypes.addressof(self.present))

    def _lookup(self, key: bytes) -> Any:
        i = index_of(key)
        if i >= self.max_entries or not self.present[i]:
            return None
        return ctypes.string_at(self.values_address + i * self.stride, self.value_size)

    def _store(self, i: int, value: bytes | None) -> None:
        at = self.values_address + i * self.stride
        if value is None:
            self.present[i] = 0
            ctypes.memset(at, 0, self.stride)
        else:
            ctypes.memmove(at, value, self.value_size)
            self.present[i] = 1

    def _check_flags(self, i: int, flags: int) -> None:
        if flags > BPF_EXIST:
            raise fail(errno.EINVAL, f"{self._where}: invalid update flags {flags:#x}")
        if i >= self.max_entries:
            raise fail(errno.E2BIG, f"{self._where}: index {i} >= max_entries")
        if flags == BPF_NOEXIST:
            raise fail(errno.EEXIST, f"{self._where}: slots always exist (BPF_NOEXIST)")

    def _delete(self, key: bytes) -> None:
        i = index_of(key)
        if i >= self.max_entries:
            raise fail(errno.EINVAL, f"{self._where}: index {i} >= max_entries")
        self._store(i, None)

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        i = index_of(bytes(key)[:4])
        if i >= self.max_entries or not self.present[i]:
            return 0
        return self.values_address + i * self.stride

    def items(self):  # type: ignore[override]
        for i in range(self.max_entries):
            if self.present[i]:
                yield i.to_bytes(4, "little"), self._lookup(i.to_bytes(4, "little"))


class DevMap(_SlotArray):
    """BPF_MAP_TYPE_DEVMAP."""

    map_type = MapType.DEVMAP

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        i = index_of(key)
        self._check_flags(i, flags)
        ifindex = int.from_bytes(value[:4], "little")
        if not ifindex and value[4:8].strip(b"\0"):
            raise fail(errno.EINVAL, f"{self._where}: a program needs an interface")
        self._store(i, value if ifindex else None)


class CpuMap(_SlotArray):
    """BPF_MAP_TYPE_CPUMAP."""

    map_type = MapType.CPUMAP

    def _check_create(self) -> None:
        super()._check_create()
        if self.max_entries > NR_CPUS:
            raise fail(errno.E2BIG, f"{self._where}: max_entries above NR_CPUS ({NR_CPUS})")

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        i = index_of(key)
        self._check_flags(i, flags)
        qsize = int.from_bytes(value[:4], "little")
        if qsize > CPUMAP_MAX_QSIZE:
            raise fail(errno.EOVERFLOW, f"{self._where}: qsize {qsize} > {CPUMAP_MAX_QSIZE}")
        if i >= self.cpus:
            raise fail(errno.ENODEV, f"{self._where}: there is no CPU {i} "
                                     f"({self.cpus} simulated)")
        self._store(i, value if qsize else None)


class XskMap(_SlotArray):
    """BPF_MAP_TYPE_XSKMAP."""

    map_type = MapType.XSKMAP
    value_sizes = (4,)

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        i = index_of(key)
        if flags > BPF_EXIST:
            raise fail(errno.EINVAL, f"{self._where}: invalid update flags {flags:#x}")
        if i >= self.max_entries:
            raise fail(errno.E2BIG, f"{self._where}: index {i} >= max_entries")
        if self.present[i] and flags == BPF_NOEXIST:
            raise fail(errno.EEXIST, f"{self._where}: slot {i} is set (BPF_NOEXIST)")
        if not self.present[i] and flags == BPF_EXIST:
            raise fail(errno.ENOENT, f"{self._where}: slot {i} is empty (BPF_EXIST)")
        self._store(i, value)

    def lookup(self, key: object) -> Any:
        self._key(key)
        raise fail(errno.EOPNOTSUPP, f"{self._where}: AF_XDP sockets cannot be read back")


class DevMapHash(HashMap):
    """BPF_MAP_TYPE_DEVMAP_HASH: devmap values under arbitrary u32 keys."""

    map_type = MapType.DEVMAP_HASH

    def _check_create(self) -> None:
        _check_target(self, (4, 8))

    def _allocate(self) -> tuple:
        regions = super()._allocate()
        for r in regions:
            r.writable = False
        return regions

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        if not int.from_bytes(value[:4], "little"):
            raise fail(errno.EINVAL, f"{self._where}: ifindex 0")
        super()._update(key, value, flags)

    def prog_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -errno.EOPNOTSUPP


__all__ = ["DevMap", "DevMapHash", "CpuMap", "XskMap"]

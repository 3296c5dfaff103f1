"""Hash maps: hash, percpu_hash, lru_hash, lru_percpu_hash (the kernel's ``hashtab.c``).

Storage is the flat :class:`~pybpf.maps._table.HashTable`. Rules, as the 6.18 kernel
applies them (checked against it by tests/maps):

- creation: flags limited to NO_PREALLOC, NO_COMMON_LRU (LRU only), NUMA_NODE (not per-CPU),
  ZERO_SEED and the access flags; LRU with NO_PREALLOC is ENOTSUPP; zero key size, value
  size or max_entries is EINVAL; ``key_size + value_size`` near kmalloc's limit is E2BIG,
  as is a per-CPU value over 32 KiB or more than 2**27 buckets.
- update: flags other than ANY/NOEXIST/EXIST are EINVAL (BPF_F_LOCK too: no spin lock
  without BTF); NOEXIST on a present key is EEXIST, EXIST on an absent one ENOENT; a new key
  in a full map is E2BIG, except that LRU maps evict their least recently used element.
- LRU recency: program lookups and updates mark an element used; syscall lookups do not
  (the kernel's ``lookup_elem_sys_only``). The kernel's LRU is approximate (per-CPU free
  lists, a reference bit); this one is exact, so "recently used elements survive" holds
  here at least as well as there.
- per-CPU: a program update of a new key sets its CPU's slot and zeroes the others.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.isa.uapi import MapType
from pybpf.maps._base import NATIVE_HASH, Map
from pybpf.maps._common import (BPF_ANY, BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_LOCK,
                                BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE,
                                BPF_F_ZERO_SEED, BPF_NOEXIST, ENOTSUPP, KMALLOC_MAX_SIZE,
                                PCPU_MIN_UNIT_SIZE, access_flags_ok, fail, round8)
from pybpf.maps._table import HashTable

HTAB_CREATE_FLAG_MASK = (BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE
                         | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED)
_HTAB_ELEM_SIZE = 48          # sizeof(struct htab_elem) on x86-64
_MAX_BUCKETS = 1 << 27        # U32_MAX / sizeof(struct bucket), rounded to a power of 2


def check_update_flags(flags: int, where: str) -> None:
    if flags & ~BPF_F_LOCK > BPF_EXIST:
        raise fail(errno.EINVAL, f"{where}: invalid update flags {flags:#x}")
    if flags & BPF_F_LOCK:
        raise fail(errno.EINVAL, f"{where}: BPF_F_LOCK needs a bpf_spin_lock in the value")


class HashMap(Map):
    """BPF_MAP_TYPE_HASH."""

    map_type = MapType.HASH
    lru = False

    def _check_create(self) -> None:
        f, w = self.flags, self._where
        if f & ~HTAB_CREATE_FLAG_MASK or not access_flags_ok(f):
            raise fail(errno.EINVAL, f"{w}: invalid map flags {f:#x}")
        if f & BPF_F_NO_COMMON_LRU and not self.lru:
            raise fail(errno.EINVAL, f"{w}: BPF_F_NO_COMMON_LRU is for LRU maps only")
        if self.lru and f & BPF_F_NO_PREALLOC:
            raise fail(ENOTSUPP, f"{w}: LRU maps are always preallocated (BPF_F_NO_PREALLOC)")
        if f & BPF_F_NUMA_NODE and self.percpu:
            raise fail(errno.EINVAL, f"{w}: per-CPU maps take no NUMA node")
        if not (self.max_entries and self.key_size and self.value_size):
            raise fail(errno.EINVAL, f"{w}: key_size, value_size and max_entries must be > 0")
        if self.key_size + self.value_size >= KMALLOC_MAX_SIZE - _HTAB_ELEM_SIZE:
            raise fail(errno.E2BIG, f"{w}: key_size + value_size too big")
        if self.percpu and round8(self.value_size) > PCPU_MIN_UNIT_SIZE:
            raise fail(errno.E2BIG, f"{w}: per-CPU value over {PCPU_MIN_UNIT_SIZE} bytes")
        if self.lru and f & BPF_F_NO_COMMON_LRU:
            # Per-CPU LRU lists: the kernel rounds max_entries to a multiple of the CPUs.
            n = -(-self.max_entries // self.cpus) * self.cpus
            self.max_entries = n if n <= 0xFFFFFFFF else self.max_entries // self.cpus * self.cpus
        if _pow2(self.max_entries) > _MAX_BUCKETS:
            raise fail(errno.E2BIG, f"{w}: max_entries {self.max_entries} needs too many buckets")

    @property
    def _stride(self) -> int:
        return round8(self.value_size)

    def _allocate(self) -> tuple:
        per_elem = self._stride * (self.cpus if self.percpu else 1)
        self.table = HashTable(self.key_size, per_elem, self.max_entries, self._where)
        return (self._value_region(self.table.values),)

    def _native(self) -> tuple[int, ...]:
        t = self.table
        return (NATIVE_HASH, self._stride, int(self.lru), t.values_address, t.elems_address,
                t.ctl_address)

    def __len__(self) -> int:
        return self.table.count

    def clear(self) -> None:
        self.table.clear()

    # --- syscall view -------------------------------------------------------------------

    def _lookup(self, key: bytes) -> Any:
        i = self.table.find(key)
        if not i:
            return None
        raw = self.table.value_at(i)
        if self.percpu:
            s = self._stride
            return [raw[c * s:c * s + self.value_size] for c in range(self.cpus)]
        return raw[:self.value_size]

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        """``value``: bytes; for per-CPU maps a list (every CPU) or ``(cpu, bytes)``."""
        check_update_flags(flags, self._where)
        t = self.table
        i = t.find(key)
        if i and flags == BPF_NOEXIST:
            raise fail(errno.EEXIST, f"{self._where}: key exists (BPF_NOEXIST)")
        if not i:
            if flags == BPF_EXIST:
                raise fail(errno.ENOENT, f"{self._where}: no such key (BPF_EXIST)")
            if t.full:
                if not self.lru:
                    raise fail(errno.E2BIG, f"{self._where} is full ({self.max_entries} "
                                            "entries)")
                t.remove(t.least_recent())
            i = t.insert(key)
        else:
            t.touch(i)
        self._write(i, value)

    def _write(self, i: int, value: Any) -> None:
        t = self.table
        if not self.percpu:
            t.write_value(i, 0, value)
        elif isinstance(value, tuple):
            cpu, data = value
            t.write_value(i, cpu * self._stride, data)
        else:
            for cpu, data in enumerate(value):
                t.write_value(i, cpu * self._stride, data)

    def _delete(self, key: bytes) -> None:
        i = self.table.find(key)
        if not i:
            raise fail(errno.ENOENT, f"{self._where}: no such key")
        self.table.remove(i)

    def _next_key(self, key: bytes | None) -> bytes | None:
        i = self.table.next_index(key)
        return self.table.key_at(i) if i else None

    def lookup_and_delete(self, key: object) -> Any:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM: the value, removed; BpfMapError ENOENT if absent."""
        k = self._key(key)
        self._may_read()
        self._may_write()
        value = self._lookup(k)
        if value is None:
            raise fail(errno.ENOENT, f"{self._where}: no such key")
        self._delete(k)
        return value

    # --- program view -------------------------------------------------------------------

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        i = self.table.find(bytes(key))
        if not i:
            return 0
        if self.lru:
            self.table.touch(i)
        return self.table.value_address(i) + (cpu * self._stride if self.percpu else 0)

    def _prog_value(self, value: bytes, cpu: int, key: bytes) -> Any:
        return (cpu, value) if self.percpu else value

    def prog_update(self, key: bytes, value: bytes, flags: int = BPF_ANY, cpu: int = 0) -> int:
        return super().prog_update(bytes(key)[:self.key_size], bytes(value)[:self.value_size],
                                   flags, cpu)


def _pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


class PercpuHashMap(HashMap):
    """BPF_MAP_TYPE_PERCPU_HASH: one value slot per CPU, stride round_up(value_size, 8)."""

    map_type = MapType.PERCPU_HASH
    percpu = True


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH: a full map evicts its least recently used element."""

    map_type = MapType.LRU_HASH
    lru = True


class LruPercpuHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH."""

    map_type = MapType.LRU_PERCPU_HASH
    lru = True
    percpu = True


__all__ = ["HashMap", "PercpuHashMap", "LruHashMap", "LruPercpuHashMap", "check_update_flags"]

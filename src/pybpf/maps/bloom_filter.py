"""Bloom filter map (``bloom_filter.c``): push values, peek says "maybe" or "no".

Sizing and hashing are the kernel's, so a filter created with ``BPF_F_ZERO_SEED`` sets
the same bits (and gives the same false positives) as the kernel's: ``k = map_extra & 0xF``
hash functions (0 means 5), ``max_entries * k * 7 / 5`` bits rounded up to a power of two
(at least 64; 2**32 on overflow), hash ``i`` = ``jhash2`` of the value's u32 words (``jhash``
of its bytes when value_size is not a multiple of 4) with seed ``seed + i``. Without
ZERO_SEED the kernel picks a random seed; this map uses 0 too, so runs repeat.

Errnos (6.18): key_size must be 0, value_size and max_entries non-zero, map_extra only the
low 4 bits, flags ZERO_SEED/NUMA_NODE/access only (else EINVAL); push takes BPF_ANY only
(EINVAL); pop is ENOTSUPP; delete and get_next_key are EOPNOTSUPP.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from typing import Any

from pybpf.isa.uapi import MapType
from pybpf.maps._base import Map
from pybpf.maps._common import (BPF_ANY, BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE, BPF_F_ZERO_SEED,
                                ENOTSUPP, access_flags_ok, allocate, as_bytes, fail)
from pybpf.maps._jhash import jhash, jhash2
from pybpf.maps.queue_stack import _KeylessMixin

BLOOM_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK
_U32_MAX = 0xFFFFFFFF


class BloomFilterMap(_KeylessMixin, Map):
    """BPF_MAP_TYPE_BLOOM_FILTER."""

    map_type = MapType.BLOOM_FILTER

    def _check_create(self) -> None:
        f = self.flags
        if (self.key_size != 0 or not self.value_size or not self.max_entries
                or f & ~BLOOM_CREATE_FLAG_MASK or not access_flags_ok(f)
                or self.map_extra & ~0xF):
            raise fail(errno.EINVAL, f"{self._where}: bloom filters need key_size 0, "
                                     "value_size > 0, max_entries > 0, map_extra < 16 "
                                     f"(flags {f:#x}, map_extra {self.map_extra:#x})")

    def _allocate(self) -> tuple:
        self.nr_hash_funcs = self.map_extra & 0xF or 5
        nr_bits = self.max_entries * self.nr_hash_funcs
        if nr_bits <= _U32_MAX:
            nr_bits = nr_bits // 5 * 7
        if nr_bits > _U32_MAX or nr_bits > 1 << 31:
            nbytes, self.bitset_mask = (_U32_MAX + 8) // 8, _U32_MAX
        else:
            nr_bits = 64 if nr_bits <= 64 else 1 << (nr_bits - 1).bit_length()
            nbytes, self.bitset_mask = nr_bits // 8, nr_bits - 1
        nbytes = (nbytes + 7) // 8 * 8
        self.bits = allocate(nbytes, self._where)
        self.bits_address = ctypes.addressof(self.bits)
        self.seed = 0
        self._words = (struct.Struct(f"<{self.value_size // 4}I")
                       if self.value_size % 4 == 0 else None)
        return ()

    def _hashes(self, value: bytes) -> list[int]:
        if self._words is not None:
            words = self._words.unpack(value)
            return [jhash2(words, self.seed + i) & self.bitset_mask
                    for i in range(self.nr_hash_funcs)]
        return [jhash(value, self.seed + i) & self.bitset_mask for i in range(self.nr_hash_funcs)]

    def prog_push(self, value: bytes, flags: int = BPF_ANY) -> int:
        if flags != BPF_ANY:
            return -errno.EINVAL
        bits = self.bits
        for h in self._hashes(bytes(value)[:self.value_size]):
            bits[h >> 3] |= 1 << (h & 7)
        return 0

    def prog_peek(self, cpu: int | bytes = 0, value: bytes | None = None  # type: ignore[override]
                  ) -> tuple[int, bytes | None]:
        """bpf_map_peek_elem: ``(0, None)`` if ``value`` may be present, ``(-ENOENT, None)``
        if not. Called as ``prog_peek(cpu, value)`` like the other maps' peek, or
        ``prog_peek(value)``."""
        if value is None:
            if not isinstance(cpu, (bytes, bytearray, memoryview)):
                raise TypeError("bloom filter peek needs the value to test")
            value = cpu
        bits = self.bits
        for h in self._hashes(bytes(value)[:self.value_size]):
            if not bits[h >> 3] >> (h & 7) & 1:
                return -errno.ENOENT, None
        return 0, None

    def prog_pop(self, cpu: int = 0) -> tuple[int, bytes | None]:
        return -ENOTSUPP, None

    # --- Python API ----------------------------------------------------------------------

    def push(self, value: object, flags: int = BPF_ANY) -> None:
        raw = as_bytes(value, self.value_size, "value", self._where)
        self._may_write()
        if self.prog_push(raw, flags):
            raise fail(errno.EINVAL, f"{self._where}: push takes only BPF_ANY")

    def peek(self, value: object) -> bool:  # type: ignore[override]
        """True if ``value`` may have been pushed, False if it certainly was not."""
        raw = as_bytes(value, self.value_size, "value", self._where)
        self._may_read()
        return self.prog_peek(0, raw)[0] == 0

    def __contains__(self, value: object) -> bool:
        return self.peek(value)

    def pop(self) -> bytes | None:
        raise fail(ENOTSUPP, f"{self._where}: bloom filters cannot pop")

    def _lookup(self, key: bytes) -> Any:
        raise fail(errno.EINVAL, f"{self._where}: use peek(value) to test membership")

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        if self.prog_push(value, flags):
            raise fail(errno.EINVAL, f"{self._where}: push takes only BPF_ANY")

    def _delete(self, key: bytes) -> None:
        raise fail(errno.EOPNOTSUPP, f"{self._where}: bloom filters cannot delete")

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise fail(errno.EOPNOTSUPP, f"{self._where}: bloom filters have no keys")


__all__ = ["BloomFilterMap"]

"""The flat hash table behind hash, LRU, hash-of-maps and devmap_hash maps.

Layout (all little-endian u32 unless said; element indexes are 1-based, 0 is "none"):

``ctl``      u32[8]: count, free-list head, LRU head (most recent), LRU tail (least recent),
             next never-used element, n_buckets, capacity, element stride
``buckets``  u32[n_buckets], right after ``ctl`` in the same buffer: index of the first
             element of each bucket's chain
``elems``    stride = 24 + round8(key_size) per element:
             +0 next (chain, or free list), +4 hash, +8 in_use, +12 lru_prev, +16 lru_next,
             +20 pad, +24 key bytes
``values``   separate buffer (the region programs address): element ``i`` owns
             ``[(i - 1) * value_stride, i * value_stride)``

The hash of a key (what a native probe must compute): interpret the key bytes as one
little-endian unsigned integer ``K`` and take ``h = K mod (2**61 - 1)`` (Horner over the
64-bit limbs from the most significant, using ``2**64 = 8 mod 2**61 - 1``); then
``hash = (h * 0x9E3779B97F4A7C15 mod 2**64) >> 32`` and ``bucket = hash & (n_buckets-1)``.
A lookup walks the chain comparing ``hash`` then the key bytes.

Values keep their address for as long as the element exists: an update of an existing
key writes in place, which is what a program holding the pointer sees in the kernel too
for per-CPU maps (and is indistinguishable for the others).
"""

from __future__ import annotations

import ctypes
from typing import Iterator

from pybpf.maps._common import allocate, round8

MERSENNE61 = (1 << 61) - 1
GOLDEN64 = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
# The layout (see the module docstring), also what the JIT's native helpers probe.
HDR = 24
NEXT, HASH, USED, PREV, LNEXT = 0, 1, 2, 3, 4          # element fields (u32 words)
CTL_COUNT, CTL_FREE, CTL_HEAD, CTL_TAIL, CTL_FRESH, CTL_NBUCKETS, CTL_CAPACITY, \
    CTL_STRIDE = range(8)                              # ctl words
CTL_WORDS = 8
CTL_BYTES = 4 * CTL_WORDS


def key_hash(key: bytes) -> int:
    """The u32 hash the table uses (see the module docstring)."""
    return (((int.from_bytes(key, "little") % MERSENNE61) * GOLDEN64) & _MASK64) >> 32


def _pow2_at_least(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


class HashTable:
    """Chained hash table over flat buffers with a free list and an optional LRU list."""

    def __init__(self, key_size: int, value_stride: int, max_entries: int, where: str):
        self.key_size = key_size
        self.value_stride = value_stride
        self.capacity = max_entries
        self.n_buckets = _pow2_at_least(max_entries)
        self.stride = HDR + round8(key_size)
        head = allocate(CTL_BYTES + 4 * self.n_buckets, where)
        self.ctl_address = ctypes.addressof(head)
        self.ctl = (ctypes.c_uint32 * CTL_WORDS).from_buffer(head)
        self.buckets = (ctypes.c_uint32 * self.n_buckets).from_buffer(head, CTL_BYTES)
        elems = allocate(self.stride * max_entries, where)
        self.elems = elems
        self._e32 = (ctypes.c_uint32 * (self.stride * max_entries // 4)).from_buffer(elems)
        self.elems_address = ctypes.addressof(elems)
        self.values = allocate(value_stride * max_entries, where)
        self.values_address = ctypes.addressof(self.values)
        self._w = self.stride // 4
        self.ctl[CTL_FRESH] = 1          # elements never used yet: fresh .. capacity
        ctl = self.ctl
        ctl[CTL_NBUCKETS], ctl[CTL_CAPACITY], ctl[CTL_STRIDE] = self.n_buckets, max_entries, self.stride

    # --- element fields -----------------------------------------------------------------

    def _f(self, i: int, field: int) -> int:
        return self._e32[(i - 1) * self._w + field]

    def _set(self, i: int, field: int, value: int) -> None:
        self._e32[(i - 1) * self._w + field] = value

    def key_at(self, i: int) -> bytes:
        return ctypes.string_at(self.elems_address + (i - 1) * self.stride + HDR, self.key_size)

    def value_address(self, i: int) -> int:
        return self.values_address + (i - 1) * self.value_stride

    def value_at(self, i: int) -> bytes:
        return ctypes.string_at(self.value_address(i), self.value_stride)

    def write_value(self, i: int, offset: int, data: bytes) -> None:
        ctypes.memmove(self.value_address(i) + offset, data, len(data))

    @property
    def count(self) -> int:
        return self.ctl[CTL_COUNT]

    @property
    def full(self) -> bool:
        return self.ctl[CTL_COUNT] >= self.capacity

    # --- operations ---------------------------------------------------------------------

    def find(self, key: bytes) -> int:
        h = key_hash(key)
        i = self.buckets[h & (self.n_buckets - 1)]
        while i:
            if self._f(i, HASH) == h and self.key_at(i) == key:
                return i
            i = self._f(i, NEXT)
        return 0

    def insert(self, key: bytes) -> int:
        """Add ``key`` (absent; the table not full) with a zeroed value; its index."""
        i = self.ctl[CTL_FREE]
        if i:
            self.ctl[CTL_FREE] = self._f(i, NEXT)
        else:
            i = self.ctl[CTL_FRESH]
            self.ctl[CTL_FRESH] = i + 1
        h = key_hash(key)
        b = h & (self.n_buckets - 1)
        base = (i - 1) * self._w
        e = self._e32
        e[base + NEXT] = self.buckets[b]
        e[base + HASH] = h
        e[base + USED] = 1
        ctypes.memmove(self.elems_address + (i - 1) * self.stride + HDR, key, self.key_size)
        ctypes.memset(self.value_address(i), 0, self.value_stride)
        self.buckets[b] = i
        self.ctl[CTL_COUNT] += 1
        self._lru_push_head(i)
        return i

    def remove(self, i: int) -> None:
        b = self._f(i, HASH) & (self.n_buckets - 1)
        j = self.buckets[b]
        if j == i:
            self.buckets[b] = self._f(i, NEXT)
        else:
            while self._f(j, NEXT) != i:
                j = self._f(j, NEXT)
            self._set(j, NEXT, self._f(i, NEXT))
        self._lru_unlink(i)
        self._set(i, USED, 0)
        self._set(i, NEXT, self.ctl[CTL_FREE])
        self.ctl[CTL_FREE] = i
        self.ctl[CTL_COUNT] -= 1

    def clear(self) -> None:
        for i in list(self.indexes()):
            self.remove(i)

    # --- LRU list (head = most recently used) ------------------------------------------

    def _lru_push_head(self, i: int) -> None:
        head = self.ctl[CTL_HEAD]
        self._set(i, PREV, 0)
        self._set(i, LNEXT, head)
        if head:
            self._set(head, PREV, i)
        else:
            self.ctl[CTL_TAIL] = i
        self.ctl[CTL_HEAD] = i

    def _lru_unlink(self, i: int) -> None:
        prev, nxt = self._f(i, PREV), self._f(i, LNEXT)
        if prev:
            self._set(prev, LNEXT, nxt)
        else:
            self.ctl[CTL_HEAD] = nxt
        if nxt:
            self._set(nxt, PREV, prev)
        else:
            self.ctl[CTL_TAIL] = prev

    def touch(self, i: int) -> None:
        """Mark element ``i`` most recently used."""
        if self.ctl[CTL_HEAD] != i:
            self._lru_unlink(i)
            self._lru_push_head(i)

    def least_recent(self) -> int:
        return self.ctl[CTL_TAIL]

    # --- iteration in get_next_key order: bucket by bucket, chain order -----------------

    def indexes(self) -> Iterator[int]:
        for b in range(self.n_buckets):
            i = self.buckets[b]
            while i:
                nxt = self._f(i, NEXT)
                yield i
                i = nxt

    def next_index(self, key: bytes | None) -> int:
        """The element after ``key`` (the first one when ``key`` is None or absent), or 0."""
        i = self.find(key) if key is not None else 0
        if i:
            nxt = self._f(i, NEXT)
            if nxt:
                return nxt
            b = (self._f(i, HASH) & (self.n_buckets - 1)) + 1
        else:
            b = 0
        buckets = self.buckets
        for b in range(b, self.n_buckets):
            if buckets[b]:
                return buckets[b]
        return 0

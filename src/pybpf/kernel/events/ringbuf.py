"""Consume BPF ring buffers (BPF_MAP_TYPE_RINGBUF) the kernel's producers write.

A ring buffer map's file offers three things at fixed mmap offsets (``kernel/bpf/ringbuf.c``):

* offset 0, one page, read-write: ``consumer_pos`` (u64), which only the consumer writes;
* offset ``PAGE_SIZE``, read-only: one page holding ``producer_pos`` (u64), then the data
  area of ``max_entries`` bytes mapped twice back to back, so a record that runs past
  the end is contiguous at its start address.

Positions grow without wrapping; a position's offset in the data is ``pos & (size - 1)``.
Each record is an 8-byte header (``u32 len`` with bit 31 BUSY while reserved and bit 30
DISCARD once discarded, ``u32 pg_off``) followed by ``len`` bytes, the whole padded to
8 bytes. The consumer walks from ``consumer_pos`` to ``producer_pos``: a BUSY record ends
the walk (records behind it may be committed but must wait their turn), a DISCARD record
is skipped, and ``consumer_pos`` is advanced after each record so the producer can reuse
the space. The map file is pollable: readable while ``producer_pos != consumer_pos``.

Callback rule (libbpf's): ``callback(data)`` returning a negative int stops consuming and
that value is returned by :meth:`KernelRingBuffer.poll`/:meth:`~KernelRingBuffer.consume`;
the record it was given counts as consumed. Any other return (None, 0, positive) goes on.
If the callback raises, its record is consumed and the exception propagates.
"""

from __future__ import annotations

import ctypes
import os
import select
import time
from typing import Any, Callable

from pybpf.errors import BpfTypeError, BpfValueError
from pybpf.isa.uapi import MapType
from pybpf.kernel.events._mem import PAGE_SIZE, Mapping, load_acquire, load_u32, store_release
from pybpf.kernel.fd import Closing, Fd
from pybpf.kernel.maps import KernelMap

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SZ = 8

RecordCallback = Callable[[bytes], Any]


def stops(result: Any) -> bool:
    """Whether a callback's return value stops consuming: a negative int (not a bool)."""
    return isinstance(result, int) and not isinstance(result, bool) and result < 0


class _Ring:
    """One mapped ring buffer map and the callback for its records."""

    __slots__ = ("fd", "callback", "mask", "consumer", "producer", "consumer_pos_at",
                 "producer_pos_at", "data_at", "name")

    def __init__(self, kmap: KernelMap, callback: RecordCallback):
        if kmap.map_type != MapType.RINGBUF:
            raise BpfTypeError(f"RingBuffer needs a RINGBUF map, not {kmap!r}")
        size = kmap.max_entries
        if size < PAGE_SIZE or size & (size - 1):
            raise BpfValueError(f"ring buffer size {size} is not a power-of-2 multiple of "
                                f"the page size {PAGE_SIZE}")
        self.name = kmap.name or f"fd {kmap.fileno()}"
        self.callback = callback
        self.mask = size - 1
        # Our own reference to the map file: epoll and close stay right whatever the
        # caller does with its descriptor.
        self.fd = Fd(os.dup(kmap.fileno()))
        self.consumer = self.producer = None
        try:
            self.consumer = Mapping(self.fd.fileno(), PAGE_SIZE, 0, writable=True,
                                    what=f"ring buffer {self.name} consumer page")
            self.producer = Mapping(self.fd.fileno(), PAGE_SIZE + 2 * size, PAGE_SIZE,
                                    what=f"ring buffer {self.name} producer page and data")
        except BaseException:
            self.close()
            raise
        self.consumer_pos_at = self.consumer.address
        self.producer_pos_at = self.producer.address
        self.data_at = self.producer.address + PAGE_SIZE

    def available(self) -> int:
        """Bytes between the consumer and producer positions (records, busy ones too)."""
        return load_acquire(self.producer_pos_at) - load_acquire(self.consumer_pos_at)

    def process(self, limit: int | None = None) -> tuple[int, Any]:
        """Hand committed records to the callback in order: ``(records, stop_value)``."""
        count = 0
        cons = load_acquire(self.consumer_pos_at)
        callback, mask, data_at, cons_at = self.callback, self.mask, self.data_at, \
            self.consumer_pos_at
        while True:
            prod = load_acquire(self.producer_pos_at)
            if cons >= prod:
                return count, 0
            while cons < prod:
                header = data_at + (cons & mask)
                length = load_u32(header)
                if length & BUSY_BIT:          # reserved, not yet committed: wait for it
                    return count, 0
                size = length & ~(BUSY_BIT | DISCARD_BIT)
                cons += (size + HDR_SZ + 7) & ~7
                if length & DISCARD_BIT:
                    store_release(cons_at, cons)
                    continue
                record = ctypes.string_at(header + HDR_SZ, size)
                count += 1
                try:
                    result = callback(record)
                finally:
                    store_release(cons_at, cons)
                if stops(result):
                    return count, result
                if limit is not None and count >= limit:
                    return count, 0

    def close(self) -> None:
        for mapping in (self.producer, self.consumer):
            if mapping is not None:
                mapping.close()
        self.fd.close()


class KernelRingBuffer(Closing):
    """Consume records of one or more kernel ring buffer maps (libbpf's ``ring_buffer``).

    ``add(map, callback)`` maps a ring; :meth:`poll` waits (epoll) up to ``timeout_ms``
    for records and consumes them, :meth:`consume` consumes without waiting. Both return
    the number of records handed to callbacks, or a callback's negative stop value.
    """

    def __init__(self, map: KernelMap | None = None, callback: RecordCallback | None = None):
        self._rings: list[_Ring] = []
        self._epoll: select.epoll | None = select.epoll()
        if map is not None:
            if callback is None:
                raise TypeError("KernelRingBuffer(map, callback): a callback is needed")
            self.add(map, callback)

    @property
    def closed(self) -> bool:
        return self._epoll is None

    def _poller(self) -> select.epoll:
        if self._epoll is None:
            raise ValueError("operation on a closed ring buffer consumer")
        return self._epoll

    def add(self, map: KernelMap, callback: RecordCallback) -> "KernelRingBuffer":
        """Also consume ring buffer ``map``, handing its records to ``callback(bytes)``."""
        epoll = self._poller()
        ring = _Ring(map, callback)
        try:
            epoll.register(ring.fd.fileno(), select.EPOLLIN)
        except BaseException:
            ring.close()
            raise
        self._rings.append(ring)
        return self

    def __len__(self) -> int:
        return len(self._rings)

    def available(self) -> int:
        """Bytes waiting (committed or not) over all rings."""
        return sum(ring.available() for ring in self._rings)

    def consume(self, limit: int | None = None) -> int:
        """Consume what is there now, ring by ring in the order added (at most ``limit``
        records in all); the number of records, or a callback's negative stop value."""
        self._poller()
        total = 0
        for ring in self._rings:
            left = None if limit is None else limit - total
            if left is not None and left <= 0:
                break
            count, stop = ring.process(left)
            total += count
            if stop:
                return stop
        return total

    def poll(self, timeout_ms: int = 0) -> int:
        """Wait up to ``timeout_ms`` (negative: for ever; 0: not at all) until some record
        is consumed; the number consumed (0 on timeout) or a callback's stop value."""
        epoll = self._poller()
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while True:
            n = self.consume()
            if n or timeout_ms == 0 or not self._rings:
                return n
            if deadline is None:
                epoll.poll(-1, len(self._rings))
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return 0
            epoll.poll(remaining, len(self._rings))

    def close(self) -> None:
        """Unmap every ring and close the descriptors; closing again does nothing."""
        rings, self._rings = self._rings, []
        for ring in rings:
            ring.close()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None



__all__ = ["BUSY_BIT", "DISCARD_BIT", "HDR_SZ", "KernelRingBuffer", "stops"]

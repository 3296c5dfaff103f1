"""perf_event_array and :class:`PerfBuffer` (libbpf's ``perf_buffer``).

In the kernel each slot of a perf_event_array holds a perf event (one per CPU, opened by
the consumer); ``bpf_perf_event_output`` writes a sample into the event of the chosen slot.
Here a :class:`PerfBuffer` opens the slots 0..cpus-1 (as ``perf_buffer__new`` does), each a
queue of samples with a byte budget (``page_cnt`` pages, as the mmapped ring would have);
samples that do not fit are counted as lost and reported to ``lost_callback``.

Samples are what perf delivers for ``PERF_SAMPLE_RAW``: the data padded with zeros so that
``4 + len`` is a multiple of 8. Output rules: slot out of range -E2BIG, a slot with no open
event -ENOENT (as in the kernel, output before a consumer exists fails).
"""

from __future__ import annotations

import errno
from collections import deque
from typing import Any, Callable

from pybpf.isa.uapi import MapType
from pybpf.maps._common import ENOTSUPP, PAGE_SIZE, fail
from pybpf.maps.arraymap import FdArray

BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
_SAMPLE_OVERHEAD = 16           # perf_event_header + u32 size, rounded


class _CpuRing:
    """One CPU's perf ring: samples waiting, bytes used, samples lost since last poll."""

    __slots__ = ("cpu", "samples", "used", "capacity", "lost")

    def __init__(self, cpu: int, capacity: int):
        self.cpu = cpu
        self.samples: deque[bytes] = deque()
        self.used = 0
        self.capacity = capacity
        self.lost = 0

    @property
    def id(self) -> int:           # what the slot's "fd" reads back as
        return self.cpu + 1


class PerfEventArray(FdArray):
    """BPF_MAP_TYPE_PERF_EVENT_ARRAY."""

    map_type = MapType.PERF_EVENT_ARRAY

    def _check_object(self, obj: Any) -> int:
        if not isinstance(obj, _CpuRing):
            raise fail(errno.EBADF, f"{self._where}: values are perf events (open a "
                                    f"PerfBuffer), not {type(obj).__name__}")
        return obj.id

    def lookup(self, key: object) -> Any:
        self._index(key)
        raise fail(ENOTSUPP, f"{self._where}: perf event arrays cannot be read")

    def output(self, index: int, data: bytes) -> int:
        """bpf_perf_event_output into slot ``index`` (the helper resolves
        BPF_F_CURRENT_CPU to the running CPU): 0, -E2BIG, -ENOENT, or -ENOSPC when full."""
        if not 0 <= index < self.max_entries:
            return -errno.E2BIG
        ring = self._get(index)
        if ring is None:
            return -errno.ENOENT
        raw = bytes(data)
        raw += bytes((-(len(raw) + 4)) % 8)
        cost = len(raw) + _SAMPLE_OVERHEAD
        if ring.used + cost > ring.capacity:
            ring.lost += 1
            return -errno.ENOSPC
        ring.samples.append(raw)
        ring.used += cost
        return 0


class PerfBuffer:
    """Consume the samples of a perf_event_array: a userspace :class:`PerfEventArray`, or a
    kernel map (a ``pybpf.kernel.maps.KernelMap``, or an object whose ``kernel_map`` is one),
    for which an event is opened and mapped per online CPU as libbpf's ``perf_buffer`` does.

    ``callback(cpu, data)`` per sample: ``data`` padded so ``4 + len`` is a multiple of 8,
    as perf delivers it (with zeros here, with stale ring bytes from the kernel), or the
    decoded record when ``codec`` (a BTF type or a codec) or ``typed=True`` (the map's
    record type) is given. ``lost_callback(cpu, count)`` for samples dropped because a
    CPU's buffer was full, totalled in :attr:`lost`.
    """

    def __init__(self, map: Any, callback: Callable[[int, Any], Any],
                 lost_callback: Callable[[int, int], Any] | None = None, page_cnt: int = 8,
                 codec: Any = None, *, typed: bool = False):
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise ValueError(f"page_cnt must be a power of 2, not {page_cnt}")
        if codec is not None or typed:
            from pybpf.maps.ringbuf import _typed_callback

            plain = callback
            decode = _typed_callback(map, lambda value: value, codec, typed)
            callback = lambda cpu, data: plain(cpu, decode(data))  # noqa: E731
        self.callback = callback
        self.lost_callback = lost_callback
        self._lost = 0
        self._kernel: Any = None
        self.rings: list[_CpuRing] = []
        if not isinstance(map, PerfEventArray):
            from pybpf.kernel.maps import KernelMap

            kmap = getattr(map, "kernel_map", map)
            if not isinstance(kmap, KernelMap):
                from pybpf.errors import BpfTypeError

                raise BpfTypeError(f"PerfBuffer needs a perf_event_array map, not {map!r}")
            from pybpf.kernel.events import KernelPerfBuffer

            self.map = kmap
            self._kernel = KernelPerfBuffer(kmap, callback, lost_callback, page_cnt)
            return
        self.map = map
        for cpu in range(min(map.cpus, map.max_entries)):
            ring = _CpuRing(cpu, page_cnt * PAGE_SIZE)
            map.update(cpu, ring)
            self.rings.append(ring)

    @property
    def lost(self) -> int:
        """Samples lost so far (reported to ``lost_callback`` by the polls)."""
        return self._kernel.lost if self._kernel is not None else self._lost

    def poll(self, timeout_ms: int = 0) -> int:
        """Hand every waiting sample to the callbacks, CPU by CPU; the number of samples.
        For a kernel map, if none is waiting, first wait up to ``timeout_ms`` (negative:
        for ever) for some; userspace samples come only from programs run in this
        process, so nothing arrives while waiting and this returns at once."""
        if self._kernel is not None:
            return self._kernel.poll(timeout_ms)
        count = 0
        for ring in self.rings:
            if ring.lost:
                self._lost += ring.lost
                if self.lost_callback is not None:
                    self.lost_callback(ring.cpu, ring.lost)
            ring.lost = 0
            while ring.samples:
                raw = ring.samples.popleft()
                ring.used -= len(raw) + _SAMPLE_OVERHEAD
                self.callback(ring.cpu, raw)
                count += 1
        return count

    def consume(self) -> int:
        """Hand every waiting sample to the callbacks without waiting."""
        if self._kernel is not None:
            return self._kernel.consume()
        return self.poll(0)

    def close(self) -> None:
        """Close the events: their slots become empty (kernel rings are also unmapped)."""
        if self._kernel is not None:
            self._kernel.close()
            return
        for ring in self.rings:
            if self.map._get(ring.cpu) is ring:
                self.map.delete(ring.cpu)
        self.rings = []

    def __enter__(self) -> "PerfBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["PerfEventArray", "PerfBuffer", "BPF_F_CURRENT_CPU", "BPF_F_INDEX_MASK"]

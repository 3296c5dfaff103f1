"""Consume perf event buffers that BPF programs fill with ``bpf_perf_event_output``.

A BPF_MAP_TYPE_PERF_EVENT_ARRAY slot holds a perf event; the helper writes a sample into
the event in the slot of the current (or given) CPU. The consumer, as libbpf's
``perf_buffer`` does, opens on every online CPU a software event
(``PERF_TYPE_SOFTWARE``/``PERF_COUNT_SW_BPF_OUTPUT``, ``sample_type=PERF_SAMPLE_RAW``,
``wakeup_events=1``), maps its ring (one header page then ``page_cnt`` data pages), stores
the event's descriptor in the slot of that CPU and enables it.

The ring protocol (``include/uapi/linux/perf_event.h``, ``struct perf_event_mmap_page``):
the kernel writes records and then advances ``data_head`` (header page offset 1024); the
consumer reads records from ``data_tail`` (offset 1032) up to the head and then stores the
new tail, which frees the space. Positions grow without wrapping; records (8-byte aligned,
starting with ``perf_event_header {u32 type; u16 misc; u16 size}``) may wrap past the end
of the data area and are then read in two pieces. Record types used here:

* ``PERF_RECORD_SAMPLE`` with ``PERF_SAMPLE_RAW``: ``u32 size`` then ``size`` bytes, the
  program's data padded so ``4 + size`` is a multiple of 8. The kernel skips over the
  padding rather than writing it, so those bytes are whatever the ring held before;
* ``PERF_RECORD_LOST``: ``u64 id, u64 lost``, written before the next sample that fits
  after the ring overflowed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import select
import struct
import time
from typing import Any, Callable

from pybpf.errors import BpfError, BpfSyscallError, BpfTypeError
from pybpf.isa.uapi import MapType
from pybpf.kernel.events._mem import PAGE_SIZE, Mapping, libc, load_acquire, online_cpus, \
    store_release
from pybpf.kernel.fd import Closing, Fd
from pybpf.kernel.maps import KernelMap

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400          # _IO('$', 0)
PERF_EVENT_IOC_DISABLE = 0x2401         # _IO('$', 1)
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
_DATA_HEAD, _DATA_TAIL, _DATA_OFFSET, _DATA_SIZE = 1024, 1032, 1040, 1048
_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
_HEADER = struct.Struct("<IHH")
_LOST = struct.Struct("<QQ")

SampleCallback = Callable[[int, bytes], Any]
LostCallback = Callable[[int, int], Any]


class PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` up to ``config2`` (PERF_ATTR_SIZE_VER1, 72 bytes);
    ``flags`` is the bitfield word (``disabled``, ``inherit``, ...), left 0."""

    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("config", ctypes.c_uint64), ("sample_period", ctypes.c_uint64),
                ("sample_type", ctypes.c_uint64), ("read_format", ctypes.c_uint64),
                ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
                ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64),
                ("config2", ctypes.c_uint64)]


def open_bpf_output_event(cpu: int) -> Fd:
    """perf_event_open a PERF_COUNT_SW_BPF_OUTPUT event on ``cpu`` (any process)."""
    number = _PERF_EVENT_OPEN.get(platform.machine())
    if number is None:
        raise BpfSyscallError(errno.ENOSYS, f"perf_event_open is not wired up for "
                                            f"{platform.machine()}")
    attr = PerfEventAttr(type=PERF_TYPE_SOFTWARE, size=ctypes.sizeof(PerfEventAttr),
                         config=PERF_COUNT_SW_BPF_OUTPUT, sample_period=1,
                         sample_type=PERF_SAMPLE_RAW, wakeup_events=1)
    fd = libc().syscall(ctypes.c_long(number), ctypes.byref(attr), ctypes.c_int(-1),
                        ctypes.c_int(cpu), ctypes.c_int(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        hint = (" (needs root or CAP_PERFMON; see /proc/sys/kernel/perf_event_paranoid)"
                if err in (errno.EPERM, errno.EACCES) else "")
        raise BpfSyscallError(err, f"perf_event_open of a BPF output event on CPU {cpu} "
                                   f"failed{hint}")
    return Fd(fd)


def _ioctl(fd: Fd, request: int, what: str) -> None:
    if libc().ioctl(fd.fileno(), request, 0) < 0:
        raise BpfSyscallError(ctypes.get_errno(), what)


class _CpuBuffer:
    """One CPU's event and its mapped ring."""

    __slots__ = ("cpu", "fd", "mapping", "head_at", "tail_at", "data_at", "data_size")

    def __init__(self, cpu: int, page_cnt: int):
        self.cpu = cpu
        self.mapping = None
        self.fd = open_bpf_output_event(cpu)
        try:
            self.mapping = Mapping(self.fd.fileno(), (page_cnt + 1) * PAGE_SIZE, 0,
                                   writable=True, what=f"perf buffer of CPU {cpu}")
        except BaseException:
            self.fd.close()
            raise
        base = self.mapping.address
        self.head_at, self.tail_at = base + _DATA_HEAD, base + _DATA_TAIL
        # data_offset/data_size are 0 on kernels before 4.1: the data follows the page.
        self.data_at = base + (load_acquire(base + _DATA_OFFSET) or PAGE_SIZE)
        self.data_size = load_acquire(base + _DATA_SIZE) or page_cnt * PAGE_SIZE

    def available(self) -> int:
        return load_acquire(self.head_at) - load_acquire(self.tail_at)

    def _read(self, offset: int, size: int) -> bytes:
        end = offset + size
        if end <= self.data_size:
            return ctypes.string_at(self.data_at + offset, size)
        first = self.data_size - offset
        return (ctypes.string_at(self.data_at + offset, first)
                + ctypes.string_at(self.data_at, size - first))

    def process(self, on_sample: SampleCallback, on_lost: LostCallback) -> int:
        """Read every record from tail to head; the number of samples."""
        head = load_acquire(self.head_at)
        tail = load_acquire(self.tail_at)
        mask = self.data_size - 1
        count = 0
        try:
            while tail < head:
                offset = tail & mask
                kind, _misc, size = _HEADER.unpack(ctypes.string_at(self.data_at + offset, 8))
                if size < _HEADER.size:
                    raise BpfError(f"perf buffer of CPU {self.cpu}: corrupt record of "
                                   f"{size} bytes at position {tail}")
                record = self._read(offset, size)
                tail += size
                if kind == PERF_RECORD_SAMPLE:
                    (raw_size,) = struct.unpack_from("<I", record, 8)
                    count += 1
                    on_sample(self.cpu, record[12:12 + raw_size])
                elif kind == PERF_RECORD_LOST:
                    _id, lost = _LOST.unpack_from(record, 8)
                    on_lost(self.cpu, lost)
                # other record types (throttling...) carry nothing for the consumer
        finally:
            store_release(self.tail_at, tail)
        return count

    def close(self) -> None:
        if self.mapping is not None:
            self.mapping.close()
        self.fd.close()


class KernelPerfBuffer(Closing):
    """libbpf's ``perf_buffer`` over a kernel perf_event_array map.

    ``callback(cpu, data)`` gets each sample's raw bytes, padded as perf pads them (so
    ``4 + len`` is a multiple of 8; the padding bytes are stale, not zeros);
    ``lost_callback(cpu, count)`` each report of samples dropped because that CPU's ring
    was full, and :attr:`lost` totals them. ``page_cnt`` data pages per CPU (a power of 2).
    Only CPUs below the map's ``max_entries`` get an event, as libbpf does.
    """

    def __init__(self, map: KernelMap, callback: SampleCallback,
                 lost_callback: LostCallback | None = None, page_cnt: int = 8):
        if map.map_type != MapType.PERF_EVENT_ARRAY:
            raise BpfTypeError(f"PerfBuffer needs a PERF_EVENT_ARRAY map, not {map!r}")
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise ValueError(f"page_cnt must be a power of 2, not {page_cnt}")
        self.callback = callback
        self.lost_callback = lost_callback
        self.lost = 0
        self.buffers: list[_CpuBuffer] = []
        self._epoll: select.epoll | None = select.epoll()
        # A map of our own over a duplicate descriptor, so the slots can be cleared on
        # close whatever the caller did with its map.
        self._map = KernelMap.borrow(os.dup(map.fileno()), map.map_type, map.key_size,
                                     map.value_size, map.max_entries, map.flags, map.name)
        try:
            for cpu in online_cpus():
                if cpu >= map.max_entries:
                    continue
                buf = _CpuBuffer(cpu, page_cnt)
                self.buffers.append(buf)
                self._map.update(cpu.to_bytes(4, "little"),
                                 buf.fd.fileno().to_bytes(4, "little"))
                _ioctl(buf.fd, PERF_EVENT_IOC_ENABLE, f"enabling the perf event of CPU {cpu}")
                self._epoll.register(buf.fd.fileno(), select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    @property
    def cpus(self) -> list[int]:
        return [buf.cpu for buf in self.buffers]

    @property
    def closed(self) -> bool:
        return self._epoll is None

    def _on_lost(self, cpu: int, count: int) -> None:
        self.lost += count
        if self.lost_callback is not None:
            self.lost_callback(cpu, count)

    def consume(self) -> int:
        """Read every CPU's ring now, CPU by CPU; the number of samples."""
        if self._epoll is None:
            raise ValueError("operation on a closed perf buffer")
        return sum(buf.process(self.callback, self._on_lost) for buf in self.buffers)

    def poll(self, timeout_ms: int = 0) -> int:
        """Wait up to ``timeout_ms`` (negative: for ever; 0: not at all) until some ring has
        records, then read them; the number of samples (0 on timeout)."""
        if self._epoll is None:
            raise ValueError("operation on a closed perf buffer")
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        lost_before = self.lost
        while True:
            n = self.consume()
            if n or self.lost != lost_before or timeout_ms == 0 or not self.buffers:
                return n
            remaining = -1.0 if deadline is None else deadline - time.monotonic()
            if deadline is not None and remaining <= 0:
                return 0
            self._epoll.poll(remaining, len(self.buffers))

    def close(self) -> None:
        """Clear the map slots, unmap the rings, close the events; again does nothing."""
        buffers, self.buffers = self.buffers, []
        for buf in buffers:
            try:
                self._map.delete(buf.cpu.to_bytes(4, "little"))
            except (BpfError, OSError, ValueError):
                pass                                  # slot never set, or already cleared
            buf.close()
        if getattr(self, "_map", None) is not None:
            self._map.close()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None



__all__ = ["KernelPerfBuffer", "PerfEventAttr", "open_bpf_output_event",
           "PERF_COUNT_SW_BPF_OUTPUT", "PERF_RECORD_LOST", "PERF_RECORD_SAMPLE",
           "PERF_SAMPLE_RAW", "PERF_TYPE_SOFTWARE"]

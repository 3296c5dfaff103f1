"""Ring buffer (kernel record layout, reserve/submit/discard/output/query, the libbpf-style
consumer) and perf event arrays with PerfBuffer."""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

from pybpf.errors import BpfHelperError, BpfMapError
from pybpf.maps import ENOTSUPP, PerfBuffer, PerfEventArray, RingBuffer, RingBufMap, create_map
from pybpf.maps import ringbuf as rbmod
from pybpf.maps.ringbuf import (BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_PROD_POS,
                                BPF_RB_RING_SIZE, BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT)
from pybpf.vm.memory import Memory


@pytest.fixture(params=[True, False], ids=["double-mapped", "copied"])
def rb(request, monkeypatch) -> RingBufMap:
    if not request.param:
        monkeypatch.setattr(rbmod, "_double_mapping", lambda size: None)
    m = RingBufMap(0, 0, 4096, name="events")
    assert m.double_mapped == request.param
    return m


def test_record_layout_and_positions(rb: RingBufMap) -> None:
    a = rb.reserve(5)
    assert a == rb.data_address + 8
    hdr = ctypes.string_at(rb.data_address, 8)
    assert struct.unpack("<II", hdr) == (5 | BPF_RINGBUF_BUSY_BIT, 0)
    assert rb.query(BPF_RB_PROD_POS) == 16 and rb.query(BPF_RB_CONS_POS) == 0
    assert rb.query(BPF_RB_AVAIL_DATA) == 16 and rb.query(BPF_RB_RING_SIZE) == 4096
    assert rb.query(99) == 0
    got: list[bytes] = []
    consumer = RingBuffer(rb, got.append)
    assert consumer.poll() == 0                    # still reserved: the consumer waits
    ctypes.memmove(a, b"hello", 5)
    rb.submit(a, 0)
    assert struct.unpack("<I", ctypes.string_at(rb.data_address, 4))[0] == 5
    b = rb.reserve(3)
    rb.discard(b, 0)
    assert struct.unpack("<I", ctypes.string_at(b - 8, 4))[0] == 3 | BPF_RINGBUF_DISCARD_BIT
    assert consumer.poll(100) == 1 and got == [b"hello"]
    assert rb.query(BPF_RB_CONS_POS) == 32 == rb.query(BPF_RB_PROD_POS)
    with pytest.raises(BpfHelperError):
        rb.submit(a, 0)                            # already submitted


def test_full_ring_and_wraparound(rb: RingBufMap) -> None:
    got: list[bytes] = []
    consumer = RingBuffer(rb, got.append)
    assert rb.reserve(4096) == 0                   # larger than the ring
    assert rb.reserve(8, 1) == 0                   # flags must be 0
    n = 0
    while rb.output(bytes([n]) * 100, 0) == 0:
        n += 1
    assert n == 36 and rb.output(bytes(100), 0) == -errno.EAGAIN
    assert rb.output(b"x", 0) == 0                 # 16 more bytes still fit (4048 < 4096)
    assert rb.output(b"x", 4) == -errno.EINVAL
    assert consumer.consume() == 37
    assert got == [bytes([i]) * 100 for i in range(36)] + [b"x"]
    # The next records cross the end of the data area: still contiguous at their address.
    for i in range(3):
        a = rb.reserve(300)
        ctypes.memmove(a, bytes(range(i, i + 250)) + bytes(50), 300)
        rb.submit(a, 0)
    got.clear()
    assert consumer.poll() == 3
    assert got == [bytes(range(i, i + 250)) + bytes(50) for i in range(3)]


def test_consumer_stops_on_a_negative_callback_return() -> None:
    a, b = RingBufMap(0, 0, 4096), RingBufMap(0, 0, 8192)
    for i in range(3):
        a.output(bytes([i]), 0)
        b.output(bytes([10 + i]), 0)
    seen: list[bytes] = []
    consumer = RingBuffer(a, lambda d: seen.append(d) or (-7 if d == b"\x01" else 0))
    consumer.add(b, seen.append)
    assert consumer.poll() == -7
    assert seen == [b"\x00", b"\x01"]
    assert consumer.poll() == 4 and seen[2:] == [b"\x02", b"\x0a", b"\x0b", b"\x0c"]
    # As libbpf: only a negative return stops; a positive one (or True) goes on.
    for i in range(3):
        a.output(bytes([i]), 0)
    assert RingBuffer(a, lambda d: seen.append(d) or 1).poll() == 3
    a.output(b"t", 0)
    assert RingBuffer(a, lambda d: True).consume() == 1


def test_programs_write_reserved_samples_through_memory(rb: RingBufMap) -> None:
    mem = Memory()
    rb.attach(mem)
    a = rb.reserve(8)
    mem.store(a, 8, 0x0102030405060708)
    rb.submit(a, 0)
    got: list[bytes] = []
    RingBuffer(rb, got.append).poll()
    assert got == [(0x0102030405060708).to_bytes(8, "little")]


def test_ringbuf_has_no_elements() -> None:
    rb = RingBufMap(0, 0, 4096)
    for call in (lambda: rb.lookup(None), lambda: rb.update(None, b""),
                 lambda: rb.delete(None), lambda: rb.next_key(None)):
        with pytest.raises(BpfMapError) as e:
            call()
        assert e.value.errno == ENOTSUPP


def test_perf_buffer() -> None:
    events = PerfEventArray(4, 4, 2, cpus=2, name="events")
    assert events.output(0, b"early") == -errno.ENOENT   # no consumer yet: no event open
    assert events.output(5, b"x") == -errno.E2BIG
    got: list[tuple[int, bytes]] = []
    lost: list[tuple[int, int]] = []
    with PerfBuffer(events, lambda cpu, data: got.append((cpu, data)),
                    lambda cpu, n: lost.append((cpu, n)), page_cnt=1) as pb:
        assert events.output(1, b"hello") == 0
        assert events.output(0, b"1234") == 0
        assert pb.poll(10) == 2
        assert got == [(0, b"1234"), (1, b"hello" + bytes(7))]   # padded: 4 + len = 0 mod 8
        while events.output(0, bytes(1000)) == 0:
            pass
        assert events.output(0, b"x") == -errno.ENOSPC
        pb.poll()
        assert lost == [(0, 2)]
    assert events.output(0, b"x") == -errno.ENOENT        # closed
    with pytest.raises(BpfMapError) as e:
        events.lookup(0)
    assert e.value.errno == ENOTSUPP


def test_create_map_sizes_perf_arrays_by_cpus() -> None:
    from pybpf.elf.spec import MapSpec
    from pybpf.isa.uapi import MapType

    m = create_map(MapSpec("events", MapType.PERF_EVENT_ARRAY, 4, 4, 0), cpus=4)
    got: list[int] = []
    pb = PerfBuffer(m, lambda cpu, data: got.append(cpu))
    for cpu in range(4):
        assert m.output(cpu, b"abcd") == 0
    assert pb.poll() == 4 and got == [0, 1, 2, 3]

"""Kernel ring buffers through pybpf.RingBuffer: order, bytes, wrap-around, discards, the
stop rule, typed records, epoll waits and releasing everything on close."""

from __future__ import annotations

import random
import threading
import time

import pytest

from events_support import (RINGBUF_DISCARD, RINGBUF_EVENT, RINGBUF_OUTPUT, XDP_PASS, emit,
                            mapping_count, open_fds, payload)
from pybpf.errors import BpfTypeError
from pybpf.maps import RingBuffer, RingBufMap

pytestmark = pytest.mark.kernel


def test_records_arrive_in_order_with_their_bytes(obj) -> None:
    sizes = [0, 1, 7, 8, 9, 100, 255, 3]
    for i, size in enumerate(sizes):
        assert emit(obj, RINGBUF_OUTPUT, payload(i, size)) == XDP_PASS
    got: list[bytes] = []
    with RingBuffer(obj.maps["rb"], got.append) as rb:
        assert rb.poll(100) == len(sizes)
        assert got == [payload(i, size) for i, size in enumerate(sizes)]
        assert rb.poll(0) == 0 and rb.consume() == 0


def test_wraparound_over_several_polls(obj) -> None:
    rng = random.Random(7)
    expected: list[bytes] = []
    got: list[bytes] = []
    rb = RingBuffer(obj.maps["rb"], got.append)
    written = 0
    for batch in range(12):                 # ~12 x 1.3 KiB through a 4 KiB ring
        sent = []
        for _ in range(10):
            data = payload(len(expected) + len(sent), rng.randrange(0, 256))
            assert emit(obj, RINGBUF_OUTPUT, data) == XDP_PASS
            sent.append(data)
            written += (len(data) + 8 + 7) & ~7
        assert rb.poll(100) == len(sent)
        expected += sent
    assert written > 3 * 4096
    assert got == expected
    rb.close()


def test_a_full_ring_refuses_until_consumed(obj) -> None:
    n = 0
    while emit(obj, RINGBUF_OUTPUT, payload(n, 200)) == XDP_PASS:
        n += 1
    assert n == 4096 // 208                 # 200 bytes + 8 header, 8-aligned
    got: list[bytes] = []
    rb = RingBuffer(obj.maps["rb"], got.append)
    assert rb.consume() == n
    assert emit(obj, RINGBUF_OUTPUT, b"again") == XDP_PASS
    assert rb.poll(100) == 1 and got[-1] == b"again"
    rb.close()


def test_discarded_records_are_skipped(obj) -> None:
    emit(obj, RINGBUF_OUTPUT, b"first")
    assert emit(obj, RINGBUF_DISCARD) == XDP_PASS
    assert emit(obj, RINGBUF_DISCARD) == XDP_PASS
    emit(obj, RINGBUF_OUTPUT, b"second")
    got: list[bytes] = []
    with RingBuffer(obj.maps["rb"], got.append) as rb:
        assert rb.poll(0) == 2
        assert got == [b"first", b"second"]
        assert rb._kernel.available() == 0          # the discards were stepped over too


def test_negative_return_stops_and_is_returned(obj, events_elf) -> None:
    from pybpf.kernel.libbpf import LibbpfObject

    for i in range(4):
        emit(obj, RINGBUF_OUTPUT, bytes([i]))
    with LibbpfObject(events_elf) as other:
        for i in range(2):
            emit(other, RINGBUF_OUTPUT, bytes([10 + i]))
        seen: list[bytes] = []

        def first(data: bytes) -> int:
            seen.append(data)
            return {b"\x01": -5, b"\x02": 3}.get(data, 0)   # positive: goes on

        rb = RingBuffer(obj.maps["rb"], first).add(other.maps["rb"], seen.append)
        assert rb.poll(100) == -5
        assert seen == [b"\x00", b"\x01"]                # the stopping record is consumed
        assert rb.poll(100) == 4
        assert seen[2:] == [b"\x02", b"\x03", b"\x0a", b"\x0b"]
        rb.close()


def test_userspace_and_kernel_rings_in_one_consumer(obj) -> None:
    user = RingBufMap(0, 0, 4096, name="user")
    user.output(b"from userspace", 0)
    emit(obj, RINGBUF_OUTPUT, b"from the kernel")
    got: list[bytes] = []
    with RingBuffer(user, got.append) as rb:
        rb.add(obj.maps["rb"], got.append)
        assert rb.poll(100) == 2
        assert got == [b"from userspace", b"from the kernel"]


def test_typed_records(obj, events_elf) -> None:
    import pybpf

    event = pybpf.open(events_elf).btf.find("event")
    emit(obj, RINGBUF_EVENT, b"\x2a" + bytes(9), tag=0xDEADBEEF)
    emit(obj, RINGBUF_EVENT, b"\x07", tag=5)
    got: list[dict] = []
    with RingBuffer(obj.maps["rb"], got.append, event) as rb:
        assert rb.poll(0) == 2
    assert got == [{"tag": 0xDEADBEEF, "len": 10, "first": 0x2A, "kind": RINGBUF_EVENT},
                   {"tag": 5, "len": 1, "first": 7, "kind": RINGBUF_EVENT}]

    class Adapter:                    # what an engine's map adapter offers
        kernel_map = obj.maps["rb"]
        record_type = event

    emit(obj, RINGBUF_EVENT, b"\x01", tag=9)
    got.clear()
    with RingBuffer(Adapter(), got.append, typed=True) as rb:
        assert rb.poll(0) == 1 and got[0]["tag"] == 9
    with pytest.raises(BpfTypeError):
        RingBuffer(obj.maps["rb"], got.append, typed=True)   # a bare map has no type


def test_poll_times_out_quickly_when_empty(obj) -> None:
    with RingBuffer(obj.maps["rb"], lambda data: None) as rb:
        start = time.monotonic()
        assert rb.poll(0) == 0
        assert time.monotonic() - start < 0.05
        start = time.monotonic()
        assert rb.poll(100) == 0
        assert 0.09 <= time.monotonic() - start < 1.0


def test_poll_wakes_when_a_record_arrives(obj) -> None:
    got: list[bytes] = []
    with RingBuffer(obj.maps["rb"], got.append) as rb:
        timer = threading.Timer(0.05, lambda: emit(obj, RINGBUF_OUTPUT, b"late"))
        start = time.monotonic()
        timer.start()
        try:
            assert rb.poll(5000) == 1
        finally:
            timer.join()
        assert got == [b"late"] and time.monotonic() - start < 2.0


def test_close_releases_descriptors_and_mappings(obj) -> None:
    m = obj.maps["rb"]
    RingBuffer(m, lambda d: None).close()             # warm up lazy imports
    fds, maps = open_fds(), mapping_count()
    for _ in range(200):
        rb = RingBuffer(m, lambda d: None)
        rb.poll(0)
        rb.close()
    assert open_fds() == fds and mapping_count() == maps
    rb = RingBuffer(m, lambda d: None)
    rb.close()
    rb.close()                                          # twice is fine
    assert rb.poll(0) == 0                              # nothing left to consume


def test_refuses_maps_that_are_not_ring_buffers(obj) -> None:
    with pytest.raises(BpfTypeError):
        RingBuffer(obj.maps["pb"], lambda d: None)
    with pytest.raises(BpfTypeError):
        RingBuffer(object(), lambda d: None)


def test_the_consumer_holds_its_own_reference_to_the_map(obj) -> None:
    from pybpf.isa.uapi import MapType
    from pybpf.kernel.maps import KernelMap

    got: list[bytes] = []
    rb = RingBuffer(obj.maps["rb"], got.append)
    emit(obj, RINGBUF_OUTPUT, b"kept")
    obj.maps["rb"].close()                  # the caller lets go of its descriptor
    assert rb.poll(100) == 1 and got == [b"kept"]
    rb.close()
    with KernelMap(MapType.RINGBUF, 0, 0, 8192, name="own") as m:
        with RingBuffer(m, got.append) as own:   # a map made with bpf(2) directly
            assert own.poll(0) == 0

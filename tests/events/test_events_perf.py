"""Kernel perf event buffers through pybpf.PerfBuffer: per-CPU samples in order, padding,
wrap-around, lost samples, epoll waits and releasing everything on close."""

from __future__ import annotations

import os
import random
import time

import pytest

from events_support import (PERF_OUTPUT, XDP_DROP, XDP_PASS, emit, mapping_count, open_fds,
                            payload)
from pybpf.errors import BpfTypeError
from pybpf.kernel.events import online_cpus
from pybpf.maps import PerfBuffer

pytestmark = pytest.mark.kernel


def _cpu() -> int:
    """A CPU this process may run on that has a slot (the last one: not always 0)."""
    usable = sorted(set(online_cpus()) & os.sched_getaffinity(0))
    return usable[-1]


def _padded_size(data: bytes) -> int:
    return len(data) + (-(len(data) + 4)) % 8


def _unpad(samples: list[bytes], expected: list[bytes]) -> list[bytes]:
    """The samples cut to the expected lengths, after checking perf padded each so that
    4 + size is a multiple of 8 (the padding bytes are stale ring contents: the kernel
    skips over them)."""
    assert [len(s) for s in samples] == [_padded_size(e) for e in expected]
    return [s[:len(e)] for s, e in zip(samples, expected)]


def test_samples_arrive_in_order_on_their_cpu(obj) -> None:
    cpu = _cpu()
    got: list[tuple[int, bytes]] = []
    with PerfBuffer(obj.maps["pb"], lambda c, data: got.append((c, data))) as pb:
        assert cpu in pb._kernel.cpus
        sizes = [0, 1, 4, 5, 12, 100, 255]
        for i, size in enumerate(sizes):
            assert emit(obj, PERF_OUTPUT, payload(i, size), cpu=cpu) == XDP_PASS
        assert pb.poll(100) == len(sizes)
        sent = [payload(i, size) for i, size in enumerate(sizes)]
        assert [c for c, _ in got] == [cpu] * len(sizes)
        assert _unpad([data for _, data in got], sent) == sent
        assert pb.poll(0) == 0 and pb.lost == 0


def test_wraparound_over_several_polls(obj) -> None:
    cpu, rng = _cpu(), random.Random(3)
    got: list[bytes] = []
    expected: list[bytes] = []
    written = 0
    with PerfBuffer(obj.maps["pb"], lambda c, data: got.append(data), page_cnt=1) as pb:
        for _ in range(12):                      # ~12 x 1.5 KiB through a 4 KiB ring
            for _ in range(10):
                data = payload(len(expected), rng.randrange(0, 256))
                assert emit(obj, PERF_OUTPUT, data, cpu=cpu) == XDP_PASS
                expected.append(data)
                written += 8 + 4 + _padded_size(data)
            assert pb.poll(100) == 10
        assert written > 3 * 4096
        assert _unpad(got, expected) == expected and pb.lost == 0


def test_lost_samples_are_counted(obj) -> None:
    cpu = _cpu()
    got: list[bytes] = []
    lost: list[tuple[int, int]] = []
    with PerfBuffer(obj.maps["pb"], lambda c, data: got.append(data),
                    lambda c, n: lost.append((c, n)), page_cnt=1) as pb:
        results = [emit(obj, PERF_OUTPUT, payload(i, 250), cpu=cpu) for i in range(40)]
        dropped = results.count(XDP_DROP)
        kept = results.count(XDP_PASS)
        assert dropped > 0 and kept == 4096 // (8 + 4 + 252)
        assert pb.poll(100) == kept
        # The kernel reports the loss with the next sample that fits.
        assert emit(obj, PERF_OUTPUT, b"after", cpu=cpu) == XDP_PASS
        assert pb.poll(100) == 1
        assert lost == [(cpu, dropped)] and pb.lost == dropped
        sent = [payload(i, 250) for i in range(kept)] + [b"after"]
        assert _unpad(got, sent) == sent


def test_poll_times_out_quickly_when_empty(obj) -> None:
    with PerfBuffer(obj.maps["pb"], lambda c, d: None) as pb:
        start = time.monotonic()
        assert pb.poll(0) == 0
        assert time.monotonic() - start < 0.05
        start = time.monotonic()
        assert pb.poll(100) == 0
        assert 0.09 <= time.monotonic() - start < 1.0


def test_typed_samples(obj, events_elf) -> None:
    import pybpf

    event = pybpf.open(events_elf).btf.find("event")
    cpu = _cpu()
    got: list[dict] = []
    with PerfBuffer(obj.maps["pb"], lambda c, value: got.append(value), codec=event) as pb:
        record = (7).to_bytes(4, "little") + (3).to_bytes(2, "little") + b"\x09\x02"
        emit(obj, PERF_OUTPUT, record, cpu=cpu)
        assert pb.poll(100) == 1
    assert got == [{"tag": 7, "len": 3, "first": 9, "kind": 2}]


def test_close_releases_everything_and_empties_the_slots(obj) -> None:
    m, cpu = obj.maps["pb"], _cpu()
    PerfBuffer(m, lambda c, d: None).close()           # warm up lazy imports
    fds, maps = open_fds(), mapping_count()
    for _ in range(200):
        pb = PerfBuffer(m, lambda c, d: None, page_cnt=1)
        pb.poll(0)
        pb.close()
    assert open_fds() == fds and mapping_count() == maps
    assert emit(obj, PERF_OUTPUT, b"nobody listens", cpu=cpu) == XDP_DROP   # -ENOENT
    pb.close()                                          # twice is fine


def test_refuses_bad_arguments(obj) -> None:
    with pytest.raises(BpfTypeError):
        PerfBuffer(obj.maps["rb"], lambda c, d: None)
    with pytest.raises(ValueError):
        PerfBuffer(obj.maps["pb"], lambda c, d: None, page_cnt=3)

"""Shared by tests/events: the event-producing XDP program and packets that drive it."""

from __future__ import annotations

import os
from pathlib import Path

SOURCE = Path(__file__).parent / "data" / "events.c"
MAXLEN = 256
RINGBUF_OUTPUT, RINGBUF_DISCARD, PERF_OUTPUT, RINGBUF_EVENT, PRINTK = range(5)
XDP_DROP, XDP_PASS = 1, 2


def packet(command: int, payload: bytes = b"", tag: int = 0) -> bytes:
    """The input events.c reads: command, payload length, u32 tag, payload (padded)."""
    assert len(payload) < 256
    return (bytes([command, len(payload), 0, 0]) + tag.to_bytes(4, "little")
            + payload.ljust(MAXLEN, b"\0"))


def payload(i: int, size: int) -> bytes:
    """A distinct, recognisable payload for record ``i``."""
    return bytes((i * 7 + j) & 0xFF for j in range(size))


def emit(obj, command: int, data: bytes = b"", tag: int = 0, cpu: int = 0) -> int:
    """Run the program once on ``cpu``; XDP_PASS when the event was written."""
    return obj.test_run("emit", packet(command, data, tag), cpu=cpu).retval


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def mapping_count() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)

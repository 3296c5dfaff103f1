"""examples/syn_ringbuf.c: one ring-buffer event per connection attempt, in order."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from pybpf.net.pcap import read_packets
from pybpf.net.runner import run_capture

DATA = Path(__file__).resolve().parents[1] / "data"

ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]
EXPECTED = [("10.0.0.1", "10.0.0.2", 40000, 443, 64),
            ("10.0.0.3", "10.0.0.2", 40001, 22, 64),
            ("192.168.0.9", "10.0.0.2", 5555, 80, 128)]


def decode(event: bytes) -> tuple:
    saddr, daddr, sport, dport, ttl = struct.unpack("<4s4sHHB3x", bytes(event))
    return socket.inet_ntoa(saddr), socket.inet_ntoa(daddr), sport, dport, ttl


def events_of(obj) -> list[bytes]:
    import pybpf

    got: list[bytes] = []
    pybpf.RingBuffer(obj.maps["events"], lambda data: got.append(bytes(data))).poll()
    return got


@pytest.mark.parametrize("engine", ENGINES)
def test_syn_events(load, engine):
    obj = load("syn_ringbuf", engine)
    s = run_capture(obj.programs["syn_ringbuf"], read_packets(DATA / "syn.pcap"))
    assert s.verdicts == {"XDP_PASS": 9}
    assert [decode(e) for e in events_of(obj)] == EXPECTED
    assert int.from_bytes(bytes(obj.maps["lost"].lookup(bytes(4))), "little") == 0

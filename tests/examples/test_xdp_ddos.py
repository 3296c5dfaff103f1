"""examples/xdp_ddos.c over tests/data/ddos.pcap, in pybpf and in the kernel: the flood
is cut at the threshold, the static blocklist holds, and the maps say why."""

from __future__ import annotations

import socket
import struct
from collections import Counter
from pathlib import Path

import dpkt
import pytest

from pybpf.net.pcap import read_packets
from pybpf.net.runner import run_capture

DATA = Path(__file__).resolve().parents[1] / "data"

ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]
ATTACKER, BLOCKLISTED = "10.66.0.1", "203.0.113.7"
CLIENTS = [f"192.168.1.{i}" for i in range(10, 15)]


def u64(raw: bytes) -> int:
    return int.from_bytes(bytes(raw)[:8], "little")


def sources(path) -> Counter:
    out: Counter = Counter()
    for packet in read_packets(path):
        eth = dpkt.ethernet.Ethernet(packet.data)
        if isinstance(eth.data, dpkt.ip.IP):
            out[socket.inet_ntoa(eth.data.src)] += 1
        else:
            out["other"] += 1
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_flood_is_cut_at_the_threshold(load, engine, tmp_path):
    obj = load("xdp_ddos", engine)
    obj.maps["blocked"].update(socket.inet_aton(BLOCKLISTED), bytes(8))
    out = tmp_path / "passed.pcap"
    s = run_capture(obj.programs["xdp_ddos"], read_packets(DATA / "ddos.pcap"), out=out)

    # 100 of the attacker's 250, 5 x 20 from the clients, 3 ARP pass; the rest drop
    assert s.verdicts == {"XDP_PASS": 203, "XDP_DROP": 161}
    assert (s.packets, s.written, s.dropped) == (364, 203, 161)
    assert sources(out) == Counter({ATTACKER: 100, **{c: 20 for c in CLIENTS}, "other": 3})

    blocked = {socket.inet_ntoa(k): u64(v) for k, v in obj.maps["blocked"].items()}
    assert blocked == {ATTACKER: 150, BLOCKLISTED: 10}   # the 101st and the 149 after it
    stats = [u64(obj.maps["stats"].lookup(struct.pack("<I", i))) for i in range(5)]
    assert stats == [200, 159, 1, 3, 1]   # passed, blocked, over rate, not IPv4, malformed
    rates = {socket.inet_ntoa(k): struct.unpack("<QQQ", bytes(v))[1:]
             for k, v in obj.maps["rates"].items()}
    assert rates == {ATTACKER: (101, 101), **{c: (20, 20) for c in CLIENTS}}


def test_threshold_is_rodata(load, tmp_path):
    obj = load("xdp_ddos", "interp", rodata={"threshold": 10})
    s = run_capture(obj.programs["xdp_ddos"], read_packets(DATA / "ddos.pcap"))
    # every IPv4 source now passes 10: attacker, blocklisted (not on the list here),
    # and the five clients; ARP passes
    assert s.verdicts["XDP_PASS"] == 7 * 10 + 3


def test_a_new_window_forgives(load):
    """With the clock advancing 20 ms per read, one source never has more than 50
    packets in a 1 s window, so 300 packets all pass; with the clock still, 100 do."""
    import pybpf
    from pybpf.net import packets as P

    frames = [P.udp4("10.9.9.9", "10.0.0.1", 1, 2, b"x") for _ in range(300)]
    moving = load("xdp_ddos", "interp", env=pybpf.Env(clock_step_ns=20_000_000))
    assert run_capture(moving.programs["xdp_ddos"], frames).verdicts == {"XDP_PASS": 300}
    still = load("xdp_ddos", "interp", env=pybpf.Env())
    assert run_capture(still.programs["xdp_ddos"], frames).verdicts == {
        "XDP_PASS": 100, "XDP_DROP": 200}

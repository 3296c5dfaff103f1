"""examples/tail_dispatch.c: the prog_array from `.values` sends each protocol to its
handler; ICMP echo requests come back as valid replies (XDP_TX)."""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt
import pytest

from pybpf.net.pcap import read_packets
from pybpf.net.runner import run_capture

DATA = Path(__file__).resolve().parents[1] / "data"

ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]


def checksum_ok(raw: bytes) -> bool:
    return dpkt.in_cksum(raw) == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_dispatch_by_protocol(load, engine, tmp_path):
    obj = load("tail_dispatch", engine)
    packets = list(read_packets(DATA / "protocols.pcap"))
    out = tmp_path / "out.pcap"
    s = run_capture(obj.programs["dispatch"], packets, out=out)

    assert s.verdicts == {"XDP_TX": 2, "XDP_PASS": 4, "XDP_REDIRECT": 1, "XDP_DROP": 1}
    assert [p.data for p in read_packets(out)] == [packets[i].data for i in (1, 2, 5, 6)]
    assert sum(s.interfaces.values()) == 3
    if engine == "interp":
        assert s.interfaces["if3"] == 1                   # udp_ifindex
    counts = {i: int.from_bytes(bytes(v), "little")
              for k, v in obj.maps["by_protocol"].items()
              if (i := int.from_bytes(bytes(k), "little")) and int.from_bytes(bytes(v), "little")}
    assert counts == {1: 3, 6: 1, 17: 1, 47: 1}

    tx_tag = next(tag for tag in s.interfaces if tag not in ("if3", "redirect"))
    replies = list(read_packets(tmp_path / f"out.{tx_tag}.pcap"))
    assert len(replies) == 2
    for packet, request in zip(replies, (packets[0], packets[7])):
        eth, req = dpkt.ethernet.Ethernet(packet.data), dpkt.ethernet.Ethernet(request.data)
        assert (eth.src, eth.dst) == (req.dst, req.src)
        ip = eth.data
        assert (ip.src, ip.dst) == (req.data.dst, req.data.src)
        assert ip.data.type == dpkt.icmp.ICMP_ECHOREPLY
        assert bytes(ip.data.data) == bytes(req.data.data.data)   # id, seq, payload
        ihl = ip.hl * 4
        assert checksum_ok(packet.data[14:14 + ihl])                 # IP header
        assert checksum_ok(packet.data[14 + ihl:14 + ip.len])        # ICMP
        assert socket.inet_ntoa(ip.dst) in ("10.0.0.1", "10.0.0.3")


def test_handlers_come_from_values(load):
    obj = load("tail_dispatch", "interp")
    handlers = obj.maps["handlers"]
    # an array's keys are all its indexes (as in the kernel); the filled slots are:
    filled = [i for i in range(256) if handlers.lookup(i.to_bytes(4, "little")) is not None]
    assert filled == [1, 6, 17]

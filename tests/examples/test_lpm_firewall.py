"""examples/lpm_firewall.c: the longest matching IPv4 prefix decides, in pybpf and the kernel."""

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
XDP_DROP, XDP_PASS = 1, 2
RULES = {("10.0.0.0", 8): XDP_DROP, ("10.1.2.0", 24): XDP_PASS,
         ("198.51.100.0", 24): XDP_DROP, ("198.51.100.128", 25): XDP_PASS}


def prefix_key(addr: str, length: int) -> bytes:
    return struct.pack("<I4s", length, socket.inet_aton(addr))


@pytest.mark.parametrize("engine", ENGINES)
def test_longest_prefix_decides(load, engine, tmp_path):
    obj = load("lpm_firewall", engine)
    rules = obj.maps["rules"]
    for (addr, length), action in RULES.items():
        rules.update(prefix_key(addr, length), struct.pack("<IIQ", action, 0, 0))
    out = tmp_path / "allowed.pcap"
    s = run_capture(obj.programs["lpm_firewall"], read_packets(DATA / "firewall.pcap"), out=out)

    assert s.verdicts == {"XDP_PASS": 14, "XDP_DROP": 9}
    passed = Counter()
    for packet in read_packets(out):
        ip = dpkt.ethernet.Ethernet(packet.data).data
        passed[socket.inet_ntoa(ip.src) if isinstance(ip, dpkt.ip.IP) else "other"] += 1
    assert passed == Counter({"10.1.2.3": 3, "172.16.5.5": 3, "198.51.100.200": 3,
                              "8.8.8.8": 3, "other": 2})
    hits = {}
    for (addr, length) in RULES:
        action, _, count = struct.unpack("<IIQ", bytes(rules.lookup(prefix_key(addr, length))))
        hits[f"{addr}/{length}"] = count
    assert hits == {"10.0.0.0/8": 6, "10.1.2.0/24": 3, "198.51.100.0/24": 3,
                    "198.51.100.128/25": 3}
    assert int.from_bytes(bytes(obj.maps["unmatched"].lookup(bytes(4))), "little") == 6


def test_default_action_is_rodata(load):
    obj = load("lpm_firewall", "interp", rodata={"default_action": XDP_DROP})
    s = run_capture(obj.programs["lpm_firewall"], read_packets(DATA / "firewall.pcap"))
    assert s.verdicts == {"XDP_DROP": 21, "XDP_PASS": 2}   # only IPv6 and ARP pass

"""Deterministic traffic mixes for the examples, the demo and the benchmark."""

from __future__ import annotations

import random

from pybpf.net import packets as P
from pybpf.net.pcap import Packet

ATTACKER = "10.66.0.1"
BLOCKLISTED = "203.0.113.7"
SERVER = "192.0.2.1"


def interleave(flows: list[list[bytes]], seed: int) -> list[bytes]:
    """Merge flows in a shuffled but fixed order, keeping each flow's own order."""
    rng = random.Random(seed)
    order = [i for i, flow in enumerate(flows) for _ in flow]
    rng.shuffle(order)
    cursors = [iter(flow) for flow in flows]
    return [next(cursors[i]) for i in order]


def ddos_mix(attack: int = 250, clients: int = 5, per_client: int = 20,
             blocklisted: int = 10, arp: int = 3, seed: int = 1) -> list[bytes]:
    """A UDP flood from ATTACKER, TCP from ``clients`` sources 192.168.x.y, some UDP from
    BLOCKLISTED (for a static blocklist), ARP requests, and one frame that says IPv4 but
    ends after its Ethernet header."""
    flows: list[list[bytes]] = [
        [P.udp4(ATTACKER, SERVER, 40000 + i % 50, 80, b"\0" * 18, ident=i & 0xFFFF)
         for i in range(attack)],
        [P.udp4(BLOCKLISTED, SERVER, 5000, 53, P.dns_query("bad.example", i & 0xFFFF))
         for i in range(blocklisted)],
        [P.arp_request("192.168.1.1", f"192.168.1.{2 + i % 250}") for i in range(arp)],
        [bytes.fromhex("020000000002020000000001 0800")],
    ]
    for n in range(clients):
        client = f"192.168.{1 + (10 + n) // 250}.{(10 + n) % 250}"
        flows.append([P.tcp4(client, SERVER, 50000 + n % 10000, 443,
                             P.TCP_ACK | (P.TCP_PSH if i % 2 else 0), b"GET /" * (i % 3),
                             seq=1 + 100 * i) for i in range(per_client)])
    return interleave(flows, seed)


def timed(frames: list[bytes], start_ns: int = 1_700_000_000 * 10**9,
          step_ns: int = 1_000_000) -> list[Packet]:
    """Packets with capture times ``start_ns``, then every ``step_ns``."""
    return [Packet(f, start_ns + i * step_ns, index=i) for i, f in enumerate(frames)]

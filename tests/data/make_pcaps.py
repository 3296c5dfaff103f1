"""Generate the example captures in this directory (deterministic: same bytes every run).

    python tests/data/make_pcaps.py [OUTDIR]

Frames are built with dpkt (through :mod:`pybpf.net.packets`) and written with dpkt's own
pcap / pcapng writers, so the captures do not depend on pybpf's capture code that the
tests check. Each capture's docstring below says what the example should do with it;
the tests in tests/examples hold the expected numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dpkt

from pybpf.net import packets as P
from pybpf.net import traffic

START_S = 1_700_000_000          # capture start, seconds since the epoch
STEP_US = 1000                   # 1 ms between packets: every capture lasts < 1 s

DDOS_ATTACKER = traffic.ATTACKER
DDOS_ATTACK_PACKETS = 250
DDOS_CLIENTS = [f"192.168.1.{i}" for i in range(10, 15)]
DDOS_CLIENT_PACKETS = 20
DDOS_BLOCKLISTED = traffic.BLOCKLISTED
DDOS_BLOCKLISTED_PACKETS = 10


def ddos() -> list[bytes]:
    """One source floods UDP (250 packets), five clients talk TCP (20 each), one
    source is meant for the static blocklist (10), three ARP requests and one frame
    that says IPv4 but ends after the Ethernet header. With threshold 100: the
    attacker's first 100 pass."""
    return traffic.ddos_mix(DDOS_ATTACK_PACKETS, len(DDOS_CLIENTS), DDOS_CLIENT_PACKETS,
                            DDOS_BLOCKLISTED_PACKETS, arp=3, seed=1)


def firewall() -> list[bytes]:
    """Sources in and out of the test's prefixes (10.0.0.0/8 drop, 10.1.2.0/24 pass,
    198.51.100.0/24 drop, 198.51.100.128/25 pass); three packets each, plus IPv6 and ARP."""
    sources = ["10.0.0.5", "10.1.2.3", "10.1.3.3", "172.16.5.5", "198.51.100.9",
               "198.51.100.200", "8.8.8.8"]
    frames = [P.udp4(src, "192.0.2.1", 1000 + n, 80, bytes([n]) * 8, ident=k)
              for k in range(3) for n, src in enumerate(sources)]
    frames.append(P.udp6("2001:db8::1", "2001:db8::2", 1000, 80, b"v6"))
    frames.append(P.arp_request("10.0.0.5", "10.0.0.1"))
    return frames


def udp_ports() -> list[bytes]:
    """UDP to 8053 (even and odd payloads, no checksum, IP options), to 53 and 9999,
    TCP to 8053, IPv6 UDP to 8053, ARP. Only the IPv4 UDP 8053 datagrams change."""
    return [
        P.udp4("10.0.0.1", "10.0.0.53", 33000, 8053, P.dns_query("a.example", 1)),
        P.udp4("10.0.0.1", "10.0.0.53", 33001, 8053, b"odd"),
        P.udp4("10.0.0.2", "10.0.0.53", 33002, 8053, b"no checksum", udp_checksum=False),
        P.udp4("10.0.0.3", "10.0.0.53", 33003, 8053, b"with options",
               options=b"\x94\x04\x00\x00"),      # router alert
        P.udp4("10.0.0.1", "10.0.0.53", 33004, 53, b"already 53"),
        P.udp4("10.0.0.1", "10.0.0.53", 33005, 9999, b"other port"),
        P.tcp4("10.0.0.1", "10.0.0.53", 33006, 8053, P.TCP_SYN),
        P.udp6("2001:db8::1", "2001:db8::53", 33007, 8053, b"v6"),
        P.arp_request("10.0.0.1", "10.0.0.53"),
        P.udp4("10.0.0.4", "10.0.0.53", 0xFFFF, 8053, b"\xff" * 32),
    ]


def dns_mix() -> list[bytes]:
    """DNS over UDP both ways (kept), NTP, DNS over TCP, DNS over IPv6, ICMP, ARP (dropped)."""
    response = bytes(dpkt.dns.DNS(id=7, qr=dpkt.dns.DNS_R, qd=[dpkt.dns.DNS.Q(
        name="example.org")]))
    return [
        P.udp4("10.0.0.1", "9.9.9.9", 40000, 53, P.dns_query("example.org", 7)),
        P.udp4("9.9.9.9", "10.0.0.1", 53, 40000, response),
        P.udp4("10.0.0.1", "10.0.0.123", 123, 123, b"\x1b" + b"\0" * 47),
        P.tcp4("10.0.0.1", "9.9.9.9", 40001, 53, P.TCP_SYN),
        P.udp6("2001:db8::1", "2001:db8::53", 40002, 53, P.dns_query("example.org", 8)),
        P.icmp4_echo("10.0.0.1", "9.9.9.9", 1, 1, b"ping"),
        P.arp_request("10.0.0.1", "10.0.0.254"),
        P.udp4("10.0.0.2", "9.9.9.9", 40003, 53, P.dns_query("pybpf.example", 9)),
    ]


SYN_EXPECTED = [   # (saddr, daddr, sport, dport, ttl) of each SYN without ACK, in order
    ("10.0.0.1", "10.0.0.2", 40000, 443, 64),
    ("10.0.0.3", "10.0.0.2", 40001, 22, 64),
    ("192.168.0.9", "10.0.0.2", 5555, 80, 128),
]


def syn() -> list[bytes]:
    """A TCP handshake and data, two more connection attempts, a RST, UDP and ARP."""
    return [
        P.tcp4("10.0.0.1", "10.0.0.2", 40000, 443, P.TCP_SYN, seq=100),
        P.tcp4("10.0.0.2", "10.0.0.1", 443, 40000, P.TCP_SYN | P.TCP_ACK, seq=900, ack=101),
        P.tcp4("10.0.0.1", "10.0.0.2", 40000, 443, P.TCP_ACK, seq=101, ack=901),
        P.tcp4("10.0.0.1", "10.0.0.2", 40000, 443, P.TCP_ACK | P.TCP_PSH, b"hello", seq=101),
        P.tcp4("10.0.0.3", "10.0.0.2", 40001, 22, P.TCP_SYN),
        P.udp4("10.0.0.3", "10.0.0.2", 40001, 22, b"not tcp"),
        P.tcp4("10.0.0.2", "10.0.0.3", 22, 40001, P.TCP_RST | P.TCP_ACK),
        P.arp_request("10.0.0.1", "10.0.0.2"),
        P.tcp4("192.168.0.9", "10.0.0.2", 5555, 80, P.TCP_SYN, ttl=128),
    ]


def protocols() -> list[bytes]:
    """One frame per dispatcher branch: ICMP echo request (answered), ICMP echo reply,
    TCP, UDP, GRE (no handler), ARP and IPv6 (not IPv4)."""
    return [
        P.icmp4_echo("10.0.0.1", "10.0.0.2", 0x4242, 1, b"ping payload"),
        P.icmp4_echo("10.0.0.2", "10.0.0.1", 0x4242, 1, b"pong", reply=True),
        P.tcp4("10.0.0.1", "10.0.0.2", 1234, 80, P.TCP_SYN),
        P.udp4("10.0.0.1", "10.0.0.2", 1234, 53, b"udp"),
        P.ipv4_raw("10.0.0.1", "10.0.0.2", 47, b"\0\0\x08\0gre payload"),
        P.arp_request("10.0.0.1", "10.0.0.2"),
        P.udp6("2001:db8::1", "2001:db8::2", 1, 2, b"v6"),
        P.icmp4_echo("10.0.0.3", "10.0.0.2", 7, 2, b"second ping"),
    ]


CAPTURES = {
    "ddos.pcap": ddos, "firewall.pcap": firewall, "udp_ports.pcap": udp_ports,
    "dns_mix.pcap": dns_mix, "dns_mix.pcapng": dns_mix, "syn.pcap": syn,
    "protocols.pcap": protocols,
}


def timestamps(count: int) -> list[float]:
    """START_S, then one packet every STEP_US (exact in a float at microsecond scale)."""
    return [START_S + (i * STEP_US) / 1e6 for i in range(count)]


def write(path: Path, frames: list[bytes]) -> None:
    with open(path, "wb") as f:
        if path.suffix == ".pcapng":
            writer = dpkt.pcapng.Writer(f, snaplen=65535)
        else:
            writer = dpkt.pcap.Writer(f, snaplen=65535)
        for ts, frame in zip(timestamps(len(frames)), frames):
            writer.writepkt(frame, ts=ts)


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    outdir.mkdir(parents=True, exist_ok=True)
    for name, make in CAPTURES.items():
        frames = make()
        write(outdir / name, frames)
        print(f"{outdir / name}: {len(frames)} packets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""What several benchmarks share: a varied capture of synthetic traffic."""

from __future__ import annotations

import random
from pathlib import Path


def frames(seed: int = 1) -> list[bytes]:
    """A varied set of Ethernet frames to cycle through."""
    from pybpf.net import packets as P

    rng = random.Random(seed)
    out = []
    for i in range(200):
        src, dst = f"10.0.{rng.randrange(4)}.{rng.randrange(1, 250)}", \
            f"{rng.choice([10, 192])}.0.0.{rng.randrange(1, 250)}"
        kind = i % 4
        if kind == 0:
            out.append(P.udp4(src, dst, rng.randrange(1024, 65535), rng.choice([53, 123, 5353]),
                              b"q" * rng.randrange(40)))
        elif kind == 1:
            out.append(P.tcp4(src, dst, rng.randrange(1024, 65535), rng.choice([22, 80, 443]),
                              flags=rng.choice([P.TCP_SYN, P.TCP_ACK])))
        elif kind == 2:
            out.append(P.icmp4_echo(src, dst, seq=i))
        else:
            out.append(P.arp_request(src, dst))
    return out


def write_capture(path: Path, count: int) -> None:
    """A pcap of ``count`` packets cycling through :func:`frames`, 1 us apart."""
    from pybpf.net.pcap import CaptureWriter

    base = frames()
    with CaptureWriter(path) as writer:
        for i in range(count):
            writer.write(base[i % len(base)], ts_ns=i * 1000)

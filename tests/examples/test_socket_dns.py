"""examples/socket_dns.c: only DNS over UDP/IPv4 is kept, whole or cut at snaplen."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.net.pcap import read_packets
from pybpf.net.runner import run_capture

DATA = Path(__file__).resolve().parents[1] / "data"

ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]
DNS = [0, 1, 7]   # query, response, another query


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("capture", ["dns_mix.pcap", "dns_mix.pcapng"])
def test_keeps_only_dns(load, engine, capture, tmp_path):
    obj = load("socket_dns", engine)
    packets = list(read_packets(DATA / capture))
    out = tmp_path / "dns.pcap"
    s = run_capture(obj.programs["socket_dns"], packets, out=out)
    assert s.verdicts == {"KEEP": 3, "DROP": 5}
    assert [p.data for p in read_packets(out)] == [packets[i].data for i in DNS]
    counts = [int.from_bytes(bytes(obj.maps["verdicts"].lookup(i.to_bytes(4, "little"))),
                             "little") for i in (0, 1)]
    assert counts == [3, 5]


def test_snaplen_cuts(load, tmp_path):
    obj = load("socket_dns", "interp", rodata={"snaplen": 28})
    packets = list(read_packets(DATA / "dns_mix.pcap"))
    out = tmp_path / "cut.pcap"
    s = run_capture(obj.programs["socket_dns"], packets, out=out)
    assert s.verdicts == {"TRUNCATE": 3, "DROP": 5}
    kept = list(read_packets(out))
    assert [p.data for p in kept] == [packets[i].data[:14 + 28] for i in DNS]
    assert [p.orig_len for p in kept] == [len(packets[i].data) for i in DNS]

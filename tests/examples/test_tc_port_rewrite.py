"""examples/tc_port_rewrite.c: UDP 8053 becomes 53 with a correct UDP checksum, the IP
header untouched, everything else byte for byte the same; in pybpf and the kernel."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from pybpf.net.pcap import read_packets
from pybpf.net.runner import run_capture

DATA = Path(__file__).resolve().parents[1] / "data"

ENGINES = ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)]
REWRITTEN = {0, 1, 2, 3, 9}   # the IPv4 UDP datagrams to 8053


def udp_checksum_ok(ip: dpkt.ip.IP) -> bool:
    """Recompute with dpkt (which fills a zero checksum) and compare."""
    if ip.data.sum == 0:
        return True
    again = dpkt.ip.IP(bytes(ip))
    want = again.data.sum
    again.data.sum = 0
    again.sum = 0
    return dpkt.ip.IP(bytes(again)).data.sum == want


@pytest.mark.parametrize("engine", ENGINES)
def test_port_rewrite(load, engine, tmp_path):
    obj = load("tc_port_rewrite", engine)
    out = tmp_path / "out.pcap"
    before = list(read_packets(DATA / "udp_ports.pcap"))
    s = run_capture(obj.programs["tc_port_rewrite"], before, out=out)
    after = list(read_packets(out))

    assert s.verdicts == {"TC_ACT_OK": 10} and len(after) == 10
    for i, (old, new) in enumerate(zip(before, after)):
        if i not in REWRITTEN:
            assert new.data == old.data, i
            continue
        old_ip = dpkt.ethernet.Ethernet(old.data).data
        new_ip = dpkt.ethernet.Ethernet(new.data).data
        assert (old_ip.data.dport, new_ip.data.dport) == (8053, 53)
        assert new_ip.data.sport == old_ip.data.sport
        assert new.data[:14 + old_ip.hl * 4] == old.data[:14 + old_ip.hl * 4]  # IP header as it was
        assert bytes(new_ip.data.data) == bytes(old_ip.data.data)
        assert udp_checksum_ok(new_ip), i
        if i == 2:                       # no checksum stays no checksum
            assert new_ip.data.sum == 0
        else:
            assert new_ip.data.sum != old_ip.data.sum
    counter = obj.maps["rewritten"].lookup(bytes(4))
    assert int.from_bytes(bytes(counter), "little") == len(REWRITTEN)
